//! The seeds of the class-incremental experiment, run one after another with each finished seed
//! kept on disk the moment it finishes (`seeds/seed-N.json`), so that a stopped or killed run
//! resumes where it was: kept seeds are read back instead of run again, and the final record
//! equals an uninterrupted run's (every seed's numbers depend on its seed and settings only).
//!
//! ```no_run
//! use somnet::data::{default_dir, load_named, Split};
//! use somnet::sleep::incremental::IncrementalConfig;
//! use somnet::study::seeds::{run_seeds, Keep};
//! use std::sync::atomic::AtomicBool;
//!
//! let train = load_named("mnist", &default_dir(), Split::Train)?;
//! let test = load_named("mnist", &default_dir(), Split::Test)?;
//! let config = IncrementalConfig::released("mnist");
//! let keep = Keep { out: "incremental-out".as_ref(), resume: true };
//! let stop = AtomicBool::new(false);
//! let runs = run_seeds(&train, &test, "mnist", &config, &[1, 2, 3], Some(keep), &stop,
//!     &|_, _| {}, |_, _| {})?;
//! # Ok::<(), somnet::Error>(())
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::report::{read_seed, seed_path, write_seed};
use crate::data::Dataset;
use crate::error::Result;
use crate::sleep::incremental::{run_seed, Event, IncrementalConfig, SeedRun};
use crate::sleep::summary::SavedSeed;

/// Where finished seeds are kept, and whether seeds kept there earlier are reused.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// The output folder (seeds go to `out/seeds/seed-N.json`).
    pub out: &'a Path,
    /// Reuse the seeds kept there (checked to be of the same data and settings).
    pub resume: bool,
}

/// Runs `seeds` in order on `train`/`test` (named `dataset`) and returns the finished ones. With
/// `keep`, each finished seed is written to its file before the next starts and, when resuming, a
/// seed already kept is read back (after checking its data and settings, an error naming the file
/// and field otherwise) instead of run. `on_event(seed, event)` hears of every finished stage;
/// `on_seed(run, kept)` of every finished or reused seed. The run stops with the finished seeds
/// once `stop` is raised (by either callback or another thread).
#[allow(clippy::too_many_arguments)]
pub fn run_seeds(
    train: &Dataset,
    test: &Dataset,
    dataset: &str,
    config: &IncrementalConfig,
    seeds: &[u64],
    keep: Option<Keep<'_>>,
    stop: &AtomicBool,
    on_event: &(dyn Fn(u64, Event) + Sync),
    mut on_seed: impl FnMut(&SeedRun, bool),
) -> Result<Vec<SeedRun>> {
    config.validate()?;
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        if let Some(k) = keep.filter(|k| k.resume) {
            let path = seed_path(k.out, seed);
            if path.exists() {
                let saved = read_seed(&path)?;
                saved.check_resumable(&path, seed, dataset, train.len(), test.len(), config)?;
                on_seed(&saved.run, true);
                runs.push(saved.run);
                continue;
            }
        }
        let Some(run) = run_seed(train, test, config, seed, stop, &|e| on_event(seed, e))? else {
            break;
        };
        let run = match keep {
            Some(k) => {
                let saved = SavedSeed {
                    somnet_version: crate::VERSION.to_string(),
                    dataset: dataset.to_string(),
                    train_images: train.len(),
                    test_images: test.len(),
                    config: config.clone(),
                    run,
                };
                write_seed(k.out, &saved)?;
                saved.run
            }
            None => run,
        };
        on_seed(&run, false);
        runs.push(run);
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(runs)
}
