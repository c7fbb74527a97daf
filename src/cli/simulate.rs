//! `somnet simulate --nir graph.nir --input X.npy --out DIR`: a NIR graph run on the engine.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use ndarray::{Array3, IxDyn};

use somnet::neuron::SpikeTest;
use somnet::simulate::{Framework, IntegratorInput, ResetMode, Scheme, SimOptions, Simulation};

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
    /// v_reset, v > θ, exact), sinabs, snntorch, norse, spikingjelly.
    #[arg(long, default_value = "nir")]
    from: String,
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

/// The preset named by `--from` with the given overrides.
fn options(args: &SimulateArgs) -> anyhow::Result<SimOptions> {
    let mut o = Framework::parse(&args.from)?.options();
    if let Some(dt) = args.dt {
        o.dt = dt;
    }
    if let Some(r) = &args.reset {
        o.reset = match r.as_str() {
            "zero" => ResetMode::Zero,
            "subtract" => ResetMode::Subtract,
            other => anyhow::bail!("--reset {other}: expected zero or subtract"),
        };
    }
    if let Some(t) = &args.threshold {
        o.spike_test = match t.as_str() {
            "gt" => SpikeTest::Above,
            "ge" => SpikeTest::AtLeast,
            other => anyhow::bail!("--threshold {other}: expected gt (v > θ) or ge (v ≥ θ)"),
        };
    }
    if let Some(s) = &args.scheme {
        o.scheme = match s.as_str() {
            "exact" => Scheme::Exact,
            "euler" => Scheme::Euler,
            other => anyhow::bail!("--scheme {other}: expected exact or euler"),
        };
    }
    if let Some(i) = &args.integrator {
        o.integrator = match i.as_str() {
            "dt" => IntegratorInput::Dt,
            "step" => IntegratorInput::Step,
            other => anyhow::bail!("--integrator {other}: expected dt or step"),
        };
    }
    if let Some(s) = args.tau_scale {
        o.tau_scale = s;
    }
    o.validate()?;
    Ok(o)
}

/// The record `result.json` holds.
#[derive(Debug, serde::Serialize)]
struct SimRecord {
    somnet_version: String,
    command: String,
    nir_file: String,
    nir_version: Option<String>,
    options: SimOptions,
    nodes: Vec<somnet::simulate::NodeSummary>,
    populations: Vec<PopulationRecord>,
    delayed_cycles: Vec<String>,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    samples: usize,
    samples_done: usize,
    steps: usize,
    synapses: u64,
    synaptic_events: u64,
    seconds: f64,
    samples_per_second: f64,
}

#[derive(Debug, serde::Serialize)]
struct PopulationRecord {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    neurons: usize,
    spikes: u64,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let options = options(&args)?;
    let graph = somnet::io::nir::read(&args.nir)?;
    let sim = Simulation::new(&graph, &options)
        .with_context(|| format!("{}: cannot run this graph", args.nir.display()))?;
    let x = somnet::io::npy::read_f32(&args.input)?;
    let x = batch_of(&x, sim.input_shape()).with_context(|| format!("{}", args.input.display()))?;
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
    let mut shape = vec![result.samples_done, t];
    shape.extend_from_slice(sim.output_shape());
    let output = result
        .output
        .clone()
        .into_shape_with_order(IxDyn(&shape))
        .context("output shape")?;
    somnet::io::npy::write_f32(&args.out.join("output.npy"), output.view())?;
    let record = SimRecord {
        somnet_version: somnet::VERSION.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        nir_file: args.nir.display().to_string(),
        nir_version: graph.version.clone(),
        options,
        nodes: sim.nodes(),
        populations: sim
            .populations()
            .into_iter()
            .zip(&result.spikes)
            .map(|((name, kind, neurons), (_, spikes))| PopulationRecord {
                kind: kind.to_string(),
                name,
                neurons,
                spikes: *spikes,
            })
            .collect(),
        delayed_cycles: sim.delayed_cycles().to_vec(),
        input_shape: sim.input_shape().to_vec(),
        output_shape: sim.output_shape().to_vec(),
        samples: b,
        samples_done: result.samples_done,
        steps: t,
        synapses: result.synapses,
        synaptic_events: result.events,
        seconds,
        samples_per_second: result.samples_done as f64 / seconds.max(1e-12),
    };
    if let Some(nodes) = &result.recording {
        somnet::io::nir::write_data(&args.out.join("recording.h5"), nodes, t, options.dt)?;
    }
    somnet::io::report::write_json(&args.out.join("result.json"), &record)?;
    println!(
        "{} samples × {t} steps in {seconds:.3} s: {} spikes, {} synaptic events; {}",
        result.samples_done,
        result.spikes.iter().map(|(_, s)| s).sum::<u64>(),
        result.events,
        args.out.join("output.npy").display()
    );
    Ok(())
}

/// The input as (samples, steps, elements): (T, *shape) is one sample, (B, T, *shape) a batch.
/// Leading axes of size 1 in the graph's input shape may be left out (Norse's exporter keeps the
/// batch axis of its sample, writing (1, n)).
fn batch_of(x: &ndarray::ArrayD<f32>, shape: &[usize]) -> anyhow::Result<Array3<f32>> {
    let s = x.shape();
    let n: usize = shape.iter().product();
    let bare: &[usize] = {
        let lead = shape.iter().take_while(|&&d| d == 1).count();
        &shape[lead.min(shape.len().saturating_sub(1))..]
    };
    let fits = |tail: &[usize]| tail == shape || tail == bare;
    let (b, t) = if s.len() >= 2 && fits(&s[1..]) {
        (1, s[0])
    } else if s.len() >= 3 && fits(&s[2..]) {
        (s[0], s[1])
    } else {
        anyhow::bail!(
            "input of shape {s:?}: expected (T, {shape:?}) or (B, T, {shape:?}) for the graph's \
             Input node"
        );
    };
    if t == 0 || b == 0 {
        anyhow::bail!("input of shape {s:?}: no steps or no samples");
    }
    let flat = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((b, t, n))?;
    Ok(flat)
}
