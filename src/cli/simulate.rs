//! `somnet simulate --nir graph.nir --input X.npy --out DIR`: a NIR graph run on the engine.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use somnet::simulate::{Framework, SimOptions, SimRecord, Simulation};

/// Arguments of `somnet simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The NIR graph (`nir.write` layout).
    #[arg(long)]
    nir: PathBuf,
    /// Input per step: float32 `.npy` of shape (T, *input_shape) or (B, T, *input_shape),
    /// spikes or currents.
    #[arg(long)]
    input: PathBuf,
    /// Output folder: output.npy (B, T, *output_shape) and result.json.
    #[arg(long)]
    out: PathBuf,
    /// The exporting framework, for its discretisation: nir (NIR's definition: dt 1e-4, reset to
    /// v_reset, v > θ, exact), sinabs, snntorch, norse, spikingjelly, somnet. Default: the
    /// settings a somnet-written file names in its metadata, else nir.
    #[arg(long)]
    from: Option<String>,
    /// Time step in the unit of the file's time constants (overrides the preset's).
    #[arg(long)]
    dt: Option<f64>,
    /// After a spike: zero (to v_reset) or subtract (v − θ) (overrides the preset's).
    #[arg(long)]
    reset: Option<String>,
    /// Spike test: gt (v > θ) or ge (v ≥ θ) (overrides the preset's).
    #[arg(long)]
    threshold: Option<String>,
    /// Integration of leaks and synaptic currents: exact or euler (overrides the preset's).
    #[arg(long)]
    scheme: Option<String>,
    /// How a step of input drives I and IF nodes: dt (v += dt·R·I) or step (v += R·I)
    /// (overrides the preset's).
    #[arg(long)]
    integrator: Option<String>,
    /// Multiply every time constant of the file by this (overrides the preset's).
    #[arg(long)]
    tau_scale: Option<f64>,
    /// Membrane start of spiking neurons as a fraction of θ, e.g. 0.5 (overrides the preset's).
    #[arg(long)]
    initial: Option<f64>,
    /// Also write DIR/recording.h5: every neuron node's spikes (EventData) and membrane per step
    /// (TimeGriddedData) in NIR's data layout (`nir.read_data`).
    #[arg(long)]
    record: bool,
    /// Worker threads (samples run in parallel).
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The preset named by `--from` (or the graph's own, [`SimOptions::for_graph`]) with the given
/// overrides.
fn options(args: &SimulateArgs, graph: &somnet::io::nir::Graph) -> anyhow::Result<SimOptions> {
    let mut o = match &args.from {
        Some(name) => Framework::parse(name)?.options(),
        None => SimOptions::for_graph(graph)
            .with_context(|| format!("{}: its metadata", args.nir.display()))?,
    };
    let given = [
        ("dt", args.dt.map(|v| v.to_string())),
        ("reset", args.reset.clone()),
        ("threshold", args.threshold.clone()),
        ("scheme", args.scheme.clone()),
        ("integrator", args.integrator.clone()),
        ("tau_scale", args.tau_scale.map(|v| v.to_string())),
        ("initial", args.initial.map(|v| v.to_string())),
    ];
    for (key, value) in given {
        if let Some(v) = value {
            o.set(key, &v)
                .with_context(|| format!("--{}", key.replace('_', "-")))?;
        }
    }
    o.validate()?;
    Ok(o)
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let graph = somnet::io::nir::read(&args.nir)?;
    let options = options(&args, &graph)?;
    let sim = Simulation::new(&graph, &options)
        .with_context(|| format!("{}: cannot run this graph", args.nir.display()))?;
    let x = somnet::io::npy::read_f32(&args.input)?;
    let x = somnet::simulate::batch_input(&x, sim.input_shape())
        .with_context(|| format!("{}", args.input.display()))?;
    somnet::io::report::ensure_dir(&args.out)?;
    let (b, t, _) = x.dim();
    let progress = super::progress::StepProgress::new("samples", b as u64);
    let start = Instant::now();
    let result = super::with_threads(args.threads, || {
        let tick = |done: usize| progress.tick(done as u64);
        if args.record {
            sim.run_recorded(x.view(), &tick)
        } else {
            sim.run(x.view(), &tick)
        }
    })??;
    let seconds = start.elapsed().as_secs_f64();
    progress.finish();
    if result.samples_done < b {
        eprintln!(
            "interrupted: keeping the {} of {b} samples that finished",
            result.samples_done
        );
    }
    let record = SimRecord::new(
        &sim,
        &result,
        &args.nir.display().to_string(),
        graph.version.clone(),
        seconds,
    )
    .with_command(std::env::args().collect::<Vec<_>>().join(" "));
    somnet::simulate::write_run(&args.out, &sim, &result, &record)?;
    println!(
        "{} samples × {t} steps in {seconds:.3} s: {} spikes, {} synaptic events; {}",
        result.samples_done,
        result.spikes.iter().map(|(_, s)| s).sum::<u64>(),
        result.events,
        args.out.join("output.npy").display()
    );
    Ok(())
}
