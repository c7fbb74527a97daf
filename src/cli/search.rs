//! `somnet search --space inc=log:1e-3..1e-1 --trials 40 --out DIR`: a random search over sleep
//! (or training) settings scored on a validation split of the training data, then the best
//! setting's test accuracy over several seeds, measured once.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::data::Split;
use somnet::sleep::search::{best, run_search, trial_config, Dimension, SearchConfig, TrialLog};

/// Arguments of `somnet search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    // The set-up every trial starts from (`--set` fixes a setting of it).
    #[command(flatten)]
    setup: super::incremental::SetupArgs,
    /// A searched setting (repeatable): KEY=log:LO..HI, KEY=lin:LO..HI, KEY=int:LO..HI or
    /// KEY=choice:A|B|…, with the keys of `--set`.
    #[arg(long = "space", value_name = "KEY=RANGE", required = true)]
    space: Vec<String>,
    /// Trials (random draws).
    #[arg(long, default_value_t = 40)]
    trials: usize,
    /// Seed of the draws and of the validation split.
    #[arg(long, default_value_t = 1)]
    search_seed: u64,
    /// Training seeds per trial (a trial's score is their mean).
    #[arg(long, default_value_t = 1)]
    trial_seeds: u64,
    /// Validation images carved from each task's training images.
    #[arg(long, default_value_t = 1000)]
    validation_per_task: usize,
    /// Seeds of the final test of the best setting, with both controls (0: no final test).
    #[arg(long, default_value_t = 5)]
    final_seeds: u64,
    /// First training seed (trials and final test alike; seeds are consecutive).
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Output folder: search.json, trials.csv, best.json, and the final test in final/.
    #[arg(long, default_value = "search-out")]
    out: PathBuf,
    /// Continue the search kept in the output folder: the same trials are drawn, the finished
    /// ones are read back, and the final test reuses its finished seeds.
    #[arg(long)]
    resume: bool,
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let train = args.setup.data.load(Split::Train)?;
    let mut base = args.setup.preset()?;
    args.setup.apply_settings(&mut base)?;
    let config = SearchConfig {
        base,
        space: args
            .space
            .iter()
            .map(|s| Dimension::parse(s))
            .collect::<Result<_, _>>()?,
        trials: args.trials,
        seed: args.search_seed,
        seeds: (args.first_seed..args.first_seed + args.trial_seeds).collect(),
        validation_per_task: args.validation_per_task,
    };
    config.validate()?;
    let (mut log, kept) = TrialLog::open(&args.out, &config, args.resume)?;
    if !kept.is_empty() {
        eprintln!(
            "resuming: {} trials kept in {}",
            kept.len(),
            args.out.display()
        );
    }

    super::progress::install_interrupt_handler();
    // Ctrl-C raises this flag; trials poll it (a stopped trial is dropped, kept ones stay).
    let stop = super::progress::stop_flag();
    let n = config.trials;
    let mut best_so_far = kept
        .iter()
        .filter(|t| t.status == "ok")
        .map(|t| t.accuracy)
        .fold(f64::NAN, f64::max);
    let trials = super::with_threads(args.threads, || {
        run_search(&train, &config, kept, Some(&mut log), stop, |t| {
            if best_so_far.is_nan() || t.accuracy > best_so_far {
                best_so_far = t.accuracy;
            }
            let set: Vec<String> = t.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            eprintln!(
                "trial {} ({}/{n}): validation {:.2} % ({}){} [{:.1} s; best {:.2} %]",
                t.index,
                t.index + 1,
                100.0 * t.accuracy,
                set.join(" "),
                if t.status == "ok" {
                    String::new()
                } else {
                    format!(" failed: {}", t.status)
                },
                t.seconds,
                100.0 * best_so_far
            );
        })
    })??;
    let interrupted = super::progress::interrupted();
    let Some(top) = best(&trials) else {
        anyhow::bail!("no trial finished successfully: nothing to report");
    };
    let chosen = trial_config(&config.base, &top.settings)?;
    let best_path = args.out.join("best.json");
    let record = serde_json::json!({
        "trial": top.index,
        "settings": top.settings,
        "validation_accuracy": top.accuracy,
        "validation_sd": top.accuracy_sd,
        "trials_finished": trials.len(),
        "config": chosen,
    });
    std::fs::write(&best_path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("writing {}", best_path.display()))?;
    let set: Vec<String> = top
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "best of {} trials: trial {} validation {:.2} % with {} (wrote {})",
        trials.len(),
        top.index,
        100.0 * top.accuracy,
        set.join(" "),
        best_path.display()
    );
    if interrupted || trials.len() < config.trials {
        eprintln!("interrupted: continue with --resume");
        return Ok(());
    }
    if args.final_seeds == 0 {
        return Ok(());
    }
    // The test set is read only now, once the setting is chosen.
    let test = args.setup.data.load(Split::Test)?;
    let mut final_config = chosen;
    final_config.controls = true;
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.final_seeds).collect();
    eprintln!("final test of the best setting on {} seeds", seeds.len());
    super::incremental::SeedsRun {
        dataset: &args.setup.data.dataset,
        out: &args.out.join("final"),
        resume: args.resume,
        threads: args.threads,
    }
    .run(&train, &test, &final_config, &seeds)
}
