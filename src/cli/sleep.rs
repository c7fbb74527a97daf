//! `somnet sleep --model FILE --dataset mnist [--classes 0-3] --steps N --out slept.h5`: one sleep
//! phase on a user's network, with the accuracy per class before and after.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::data::Split;
use somnet::sleep::{sleep, SleepConfig};

/// Arguments of `somnet sleep`.
#[derive(Debug, Args)]
pub struct SleepCmdArgs {
    /// The model file (a ReLU network of Dense layers without bias).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: super::data_args::DataArgs,
    /// Classes whose training images drive sleep, e.g. `0-3` or `0,2,5` (default: all).
    #[arg(long)]
    classes: Option<String>,
    /// Training images of those classes used (the first N).
    #[arg(long, default_value_t = 5000)]
    images: usize,
    /// Sleep steps (default: the preset's length after the first task).
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of the input draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    sleep: super::sleep_args::SleepArgs,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where to write the slept network (somnet HDF5); a JSON report goes beside it.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: SleepCmdArgs) -> anyhow::Result<()> {
    super::with_threads(args.threads, || run_in_pool(args))?
}

fn run_in_pool(args: SleepCmdArgs) -> anyhow::Result<()> {
    let mut file = super::model::load(&args.model)?;
    let train = args.data.load(Split::Train)?;
    let mut test = args.data.load(Split::Test)?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let classes = match &args.classes {
        Some(s) => somnet::data::parse_classes(s).context("--classes")?,
        None => (0..train.n_classes() as u8).collect(),
    };
    let sleep_data = train.first_n_of_classes(&classes, args.images);
    anyhow::ensure!(
        !sleep_data.is_empty(),
        "no training images of classes {classes:?} in {}",
        train.name
    );
    let mut config = args
        .sleep
        .apply(SleepConfig::preset_for(&args.data.dataset))?;
    config.seed = args.seed;
    let steps = args.steps.unwrap_or(config.length.after_task(1));
    let (before_total, before) = file.ann.accuracy_per_class(&test)?;
    let progress = super::progress::StepProgress::new("sleep", steps);
    let report = sleep(&mut file.ann, &sleep_data, steps, &config, 0..0, |d| {
        progress.tick(d)
    })?;
    progress.finish();
    let (after_total, after) = file.ann.accuracy_per_class(&test)?;
    println!("class  before  after");
    for (c, (b, a)) in before.iter().zip(&after).enumerate() {
        println!("{c:>5}  {:>5.1}%  {:>5.1}%", 100.0 * b, 100.0 * a);
    }
    println!(
        "  all  {:>5.1}%  {:>5.1}%   ({} steps, {} hidden/output spikes, {:.2} s)",
        100.0 * before_total,
        100.0 * after_total,
        report.steps,
        report.layer_spikes.iter().sum::<u64>(),
        report.seconds
    );
    let record = serde_json::json!({
        "somnet_version": somnet::VERSION,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "source_model": args.model,
        "dataset": args.data.dataset,
        "classes": classes,
        "sleep_images": sleep_data.len(),
        "config": config,
        "report": report,
        "accuracy_before": before_total,
        "accuracy_after": after_total,
        "per_class_before": before,
        "per_class_after": after,
    });
    somnet::io::schema::save(&args.out, &file.ann, record.clone())?;
    let json = args.out.with_extension("sleep.json");
    somnet::io::report::write_json(&json, &record)?;
    if report.interrupted {
        eprintln!("interrupted: saved the weights after step {}", report.steps);
    }
    println!("wrote {} ({})", args.out.display(), json.display());
    Ok(())
}
