//! `somnet incremental --dataset mnist --seeds 5 --out DIR`: the class-incremental experiment of
//! sleep replay consolidation, with its sequential and joint controls.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use somnet::data::Split;
use somnet::sleep::incremental::{Event, IncrementalConfig, Preset, SeedRun};
use somnet::sleep::summary::IncrementalRecord;
use somnet::study::seeds::{run_seeds, Keep};

/// Arguments of `somnet incremental`.
#[derive(Debug, Args)]
pub struct IncrementalArgs {
    #[command(flatten)]
    setup: SetupArgs,
    /// Number of seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// First seed (seeds are consecutive).
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Training images per task.
    #[arg(long)]
    per_task: Option<usize>,
    /// Epochs per task.
    #[arg(long)]
    epochs: Option<usize>,
    /// Epochs of the joint control.
    #[arg(long)]
    joint_epochs: Option<usize>,
    /// Training images of the joint control (default: every image of the tasks' classes).
    #[arg(long)]
    joint_images: Option<usize>,
    /// Hidden layer sizes, comma-separated (released: 1200,1200).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Skip the sequential and joint controls (for searches over sleep options).
    #[arg(long)]
    no_controls: bool,
    #[command(flatten)]
    sleep: super::sleep_args::SleepArgs,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Output folder: result.json, result.csv and plots; every seed is kept in seeds/seed-N.json
    /// as soon as it finishes.
    #[arg(long, default_value = "incremental-out")]
    out: PathBuf,
    /// Reuse the seeds already kept in the output folder (same data and settings required) and
    /// run only the rest: the result equals an uninterrupted run's.
    #[arg(long)]
    resume: bool,
}

pub fn run(args: IncrementalArgs) -> anyhow::Result<()> {
    let train = args.setup.data.load(Split::Train)?;
    let mut test = args.setup.data.load(Split::Test)?;
    if let Some(n) = args.test_limit {
        test = test.head(n);
    }
    let mut config = args.setup.preset()?;
    config.sleep = args.sleep.apply(config.sleep)?;
    if let Some(v) = args.per_task {
        config.per_task = v;
    }
    if let Some(v) = args.epochs {
        config.epochs = v;
    }
    if let Some(v) = args.joint_epochs {
        config.joint_epochs = v;
    }
    if args.joint_images.is_some() {
        config.joint_images = args.joint_images;
    }
    if let Some(v) = &args.hidden {
        config.hidden = v.clone();
    }
    if args.no_controls {
        config.controls = false;
    }
    args.setup.apply_settings(&mut config)?;
    config.validate()?;
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.seeds).collect();
    let run = SeedsRun {
        dataset: &args.setup.data.dataset,
        out: &args.out,
        resume: args.resume,
        threads: args.threads,
    };
    run.run(&train, &test, &config, &seeds)
}

/// `--dataset`, `--data-dir`, `--preset` and `--set`: the set-up of a class-incremental run, as
/// `somnet incremental` and `somnet search` take it.
#[derive(Debug, Args)]
pub(super) struct SetupArgs {
    #[command(flatten)]
    pub data: super::data_args::DataArgs,
    /// The set-up: `released` (the authors' MATLAB driver), `replication` (the independent
    /// PyTorch replication's network, training and sleep) or `best` (the best setting the
    /// honest search found on the paper's network); the other options override it. The data
    /// set selects the preset's sleep values.
    #[arg(long, default_value = "released")]
    pub preset: String,
    /// Any setting as KEY=VALUE (repeatable; applied last), e.g. `--set sleep-data=current
    /// --set mask=pixels:0.25`. Keys: those of the network and training (per-task, epochs,
    /// hidden, arch, init, output, loss, dropout, dropout-mode, lr, momentum, batch-size,
    /// sleep-data, interleave, …) and of sleep (inc, dec, sigma, input, mask, alpha, beta,
    /// adaptation, sleep-momentum, …).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

impl SetupArgs {
    /// The preset's set-up for the data set, before `--set`.
    pub fn preset(&self) -> anyhow::Result<IncrementalConfig> {
        Ok(Preset::parse(&self.preset)?.config(&self.data.dataset))
    }

    /// Applies the `--set KEY=VALUE` flags through the library's one text form of the settings.
    pub fn apply_settings(&self, config: &mut IncrementalConfig) -> anyhow::Result<()> {
        for kv in &self.settings {
            let (key, value) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
            config.set(key.trim(), value.trim())?;
        }
        Ok(())
    }
}

/// The seeds of one set-up, run with progress, kept as they finish and written as a record.
pub(super) struct SeedsRun<'a> {
    pub dataset: &'a str,
    pub out: &'a std::path::Path,
    pub resume: bool,
    pub threads: usize,
}

impl SeedsRun<'_> {
    pub fn run(
        &self,
        train: &somnet::data::Dataset,
        test: &somnet::data::Dataset,
        config: &IncrementalConfig,
        seeds: &[u64],
    ) -> anyhow::Result<()> {
        somnet::io::report::ensure_dir(self.out)?;

        super::progress::install_interrupt_handler();
        let stop = AtomicBool::new(false);
        let n_tasks = config.tasks.len() as u64;
        // Per seed: the sleeping and sequential trainings, the joint one, and the sleeps.
        let sleeps = n_tasks * config.interleave as u64;
        let per_seed = sleeps
            + if config.controls {
                2 * n_tasks + 1
            } else {
                n_tasks
            };
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let b = ProgressBar::new(seeds.len() as u64 * per_seed);
            b.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} stages ({eta})")
                    .expect("constant template")
                    .progress_chars("=> "),
            );
            b
        });
        let keep = Keep {
            out: self.out,
            resume: self.resume,
        };
        let on_event = |seed: u64, e: Event| {
            if super::progress::interrupted() {
                stop.store(true, Ordering::Relaxed);
            }
            if let Some(b) = &bar {
                b.set_message(format!("seed {seed}"));
                b.inc(1);
            }
            if let Event::Slept { task, steps } = e {
                eprintln!("seed {seed}: slept {steps} steps after task {task}");
            }
        };
        let on_seed = |run: &SeedRun, kept: bool| {
            let seed = run.seed;
            if kept {
                eprintln!("seed {seed}: kept from an earlier run (--resume)");
                if let Some(b) = &bar {
                    b.inc(per_seed);
                }
                return;
            }
            let pct =
                |v: Option<&f64>| v.map_or("-".to_string(), |a| format!("{:.2} %", 100.0 * a));
            eprintln!(
                "seed {seed}: final accuracy sleep {}, sequential {}, joint {} ({:.1} s)",
                pct(run.sleep.accuracy.last()),
                pct(run.sequential.accuracy.last()),
                pct(run.joint.accuracy.first()),
                run.seconds
            );
            if super::progress::interrupted() {
                stop.store(true, Ordering::Relaxed);
            }
        };
        let runs = super::with_threads(self.threads, || {
            run_seeds(
                train,
                test,
                self.dataset,
                config,
                seeds,
                Some(keep),
                &stop,
                &on_event,
                on_seed,
            )
        })??;
        if runs.len() < seeds.len() {
            eprintln!(
                "interrupted: keeping the {} finished seeds (continue with --resume)",
                runs.len()
            );
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        anyhow::ensure!(!runs.is_empty(), "no seed finished: nothing to write");
        write_outputs(self.out, self.dataset, config, &runs)
    }
}

fn write_outputs(
    out: &std::path::Path,
    dataset: &str,
    config: &IncrementalConfig,
    runs: &[SeedRun],
) -> anyhow::Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    somnet::study::report::write_incremental(out, dataset, &command, config, runs)?;
    let record = IncrementalRecord::new(dataset, config, runs);
    let json = out.join("result.json");
    let csv_path = out.join("result.csv");
    let (m, sd) = (record.final_accuracy, record.final_accuracy_sd);
    if config.controls {
        println!(
            "final 10-class accuracy over {} seeds: sleep {:.2} ± {:.2} %, sequential {:.2} ± {:.2} %, joint {:.2} ± {:.2} %",
            runs.len(),
            100.0 * m.sleep,
            100.0 * sd.sleep,
            100.0 * m.sequential,
            100.0 * sd.sequential,
            100.0 * m.joint,
            100.0 * sd.joint
        );
    } else {
        println!(
            "final 10-class accuracy over {} seeds: sleep {:.2} ± {:.2} % (controls not run)",
            runs.len(),
            100.0 * m.sleep,
            100.0 * sd.sleep
        );
    }
    println!(
        "wrote {} ({}, plots); {:.1} s per seed",
        json.display(),
        csv_path.display(),
        record.seconds_per_seed
    );
    Ok(())
}
