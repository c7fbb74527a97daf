//! `somnet sweep --model FILE --grid "input=analog,poisson;neuron=if,lif;reset=subtract,zero"`:
//! evaluates the converted network for every combination of knob values and writes one table and
//! a Pareto plot (accuracy against energy, latency in the labels).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::calibration_set;
use somnet::data::Split;
use somnet::study::sweep::{self, Grid, Sweep};

/// Arguments of `somnet sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: super::data_args::DataArgs,
    /// Knob values, `key=v1,v2;key=…` with keys coding (rate, ttfs), ttfs-steps (K),
    /// ttfs-clock (continuous, steps), input (analog, poisson, latency), neuron (if, lif,
    /// lif:TAU, izhikevich), tau-mem (ms), reset (subtract, zero), initial (zero, half), readout
    /// (spikes, membrane), dale (off, on), refractory (steps), early-exit (none, K), percentile
    /// (P), norm (layer, channel), seed (S).
    #[arg(
        long,
        default_value = "input=analog,poisson;neuron=if,lif;reset=subtract,zero"
    )]
    grid: String,
    /// Steps per image.
    #[arg(long, default_value_t = 256)]
    steps: u64,
    /// The first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Calibration images: every 10th training image, at most this many.
    #[arg(long, default_value_t = 6000)]
    calibration_limit: usize,
    /// Seed of the Poisson input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Output folder: sweep.csv, sweep.json, pareto.png. sweep.json and sweep.csv are rewritten
    /// after every grid point, so an interrupted run keeps what finished.
    #[arg(long, default_value = "sweep-out")]
    out: PathBuf,
    /// The energy the Pareto plot weighs each point by: of all steps (t, default), or where its
    /// accuracy first comes within 1pp, 0.5pp or 0.1pp of the ANN's (energy at latency).
    #[arg(long, default_value = "t")]
    pareto_energy: String,
    /// Continue the sweep recorded in the output folder: its finished grid points are kept and
    /// only the rest run (the same model, data, steps, grid and seed are required).
    #[arg(long)]
    resume: bool,
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    // Refuse unknown keys and contradictions before any work.
    let basis =
        somnet::study::sweep::EnergyBasis::parse(&args.pareto_energy).context("--pareto-energy")?;
    let points = Grid::parse(&args.grid)
        .and_then(|g| {
            g.points(&ConvertOptions {
                seed: args.seed,
                ..ConvertOptions::default()
            })
        })
        .context("--grid")?;
    let file = super::model::load(&args.model)?;
    let mut test = args.data.load(Split::Test)?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let train = args.data.load(Split::Train)?;
    let calibration = calibration_set(&train, args.calibration_limit);
    somnet::io::report::ensure_dir(&args.out)?;
    let mut record = Sweep {
        somnet_version: somnet::VERSION.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        model: Some(args.model.display().to_string()),
        dataset: args.data.dataset.clone(),
        images: test.len(),
        steps: args.steps,
        grid: args.grid.clone(),
        ann_accuracy: 0.0,
        macs_per_image: file.ann.macs(),
        seed: args.seed,
        calibration_images: calibration.len(),
        points: points.len(),
        rows: Vec::new(),
    };
    if args.resume {
        match somnet::study::report::resume_sweep(&args.out, &mut record)? {
            Some(done) => eprintln!(
                "resuming {}: {done} of {} grid points already finished",
                args.out.join("sweep.json").display(),
                points.len()
            ),
            None => eprintln!(
                "--resume: no {} yet, starting afresh",
                args.out.join("sweep.json").display()
            ),
        }
    }
    let progress = super::progress::StepProgress::new("grid points", points.len() as u64);
    let mut saving = Ok(());
    super::with_threads(args.threads, || {
        sweep::run(
            &file.ann,
            &calibration,
            &test,
            args.steps,
            &points,
            &mut record,
            |so_far| {
                let r = so_far.rows.last().expect("called after a row");
                eprintln!(
                    "{}: {:.2} %, latency 0.1 pp {:?}, {:.3e} pJ",
                    r.settings,
                    100.0 * r.snn_accuracy,
                    r.latency_steps.pp01,
                    r.energy_pj.snn
                );
                // Keep every finished point on disk before the next one starts.
                if let Err(e) = somnet::study::report::write_sweep_rows(&args.out, so_far) {
                    saving = Err(e);
                    return std::ops::ControlFlow::Break(());
                }
                let flow = progress.tick(so_far.rows.len() as u64);
                if flow.is_break() {
                    eprintln!(
                        "interrupted: keeping the {} finished grid points (continue with --resume)",
                        so_far.rows.len()
                    );
                }
                flow
            },
        )
    })??;
    saving?;
    progress.finish();
    somnet::study::report::write_sweep_with(&args.out, &record, basis)?;
    print!("{}", record.csv());
    println!(
        "wrote {} (sweep.csv, sweep.json, pareto.png)",
        args.out.display()
    );
    Ok(())
}
