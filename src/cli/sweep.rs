//! `somnet sweep --model FILE --grid "input=analog,poisson;neuron=if,lif;reset=subtract,zero"`:
//! evaluates the converted network for every combination of knob values and writes one table and
//! a Pareto plot (accuracy against energy, latency in the labels).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::convert::evaluate::evaluate_with;
use somnet::convert::options::{
    ConvertOptions, InitialPotential, InputCoding, NeuronChoice, NormScope, Readout, ResetChoice,
};
use somnet::data::Split;

/// Arguments of `somnet sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: super::data_args::DataArgs,
    /// Knob values, `key=v1,v2;key=…` with keys input (analog, poisson), neuron (if, lif,
    /// lif:TAU, izhikevich), reset (subtract, zero), initial (zero, half), readout (spikes, membrane), dale
    /// (off, on), refractory (steps), early-exit (none, K), percentile (P), norm (layer, channel).
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
    /// Output folder: sweep.csv, sweep.json, pareto.png.
    #[arg(long, default_value = "sweep-out")]
    out: PathBuf,
}

/// Sets `key` = `value` in `o`.
fn apply(o: &mut ConvertOptions, key: &str, value: &str) -> anyhow::Result<()> {
    let bad = || anyhow::anyhow!("--grid: '{key}={value}' is not a valid setting");
    match (key, value) {
        ("input", "analog") => o.input = InputCoding::Analog,
        ("input", "poisson") => o.input = InputCoding::Poisson,
        ("neuron", "if") => o.neuron = NeuronChoice::If,
        ("neuron", "lif") => o.neuron = NeuronChoice::Lif { tau_mem_ms: 50.0 },
        ("neuron", "izhikevich") => {
            o.neuron = NeuronChoice::Izhikevich;
            o.reset = ResetChoice::Zero; // its own reset
        }
        ("neuron", v) if v.starts_with("lif:") => {
            o.neuron = NeuronChoice::Lif {
                tau_mem_ms: v[4..].parse().map_err(|_| bad())?,
            }
        }
        ("reset", "subtract") => o.reset = ResetChoice::Subtract,
        ("reset", "zero") => o.reset = ResetChoice::Zero,
        ("initial", "zero") => o.initial = InitialPotential::Zero,
        ("initial", "half") => o.initial = InitialPotential::HalfThreshold,
        ("readout", "spikes") => o.readout = Readout::SpikeCount,
        ("readout", "membrane") => o.readout = Readout::Membrane,
        ("dale", "off") => o.dale = false,
        ("dale", "on") => o.dale = true,
        ("refractory", v) => o.refractory_steps = v.parse().map_err(|_| bad())?,
        ("early-exit", "none") => o.early_exit = None,
        ("early-exit", v) => o.early_exit = Some(v.parse().map_err(|_| bad())?),
        ("percentile", v) => o.percentile = v.parse().map_err(|_| bad())?,
        ("norm", "layer") => o.normalization = NormScope::Layer,
        ("norm", "channel") => o.normalization = NormScope::Channel,
        _ => return Err(bad()),
    }
    Ok(())
}

/// Every combination of the grid's values, as (settings, options).
fn combinations(grid: &str, seed: u64) -> anyhow::Result<Vec<(String, ConvertOptions)>> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for part in grid.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, vs) = part
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--grid: '{part}' is not key=v1,v2"))?;
        axes.push((
            k.trim().to_string(),
            vs.split(',').map(|v| v.trim().to_string()).collect(),
        ));
    }
    let mut out = vec![(
        String::new(),
        ConvertOptions {
            seed,
            ..ConvertOptions::default()
        },
    )];
    for (k, vs) in &axes {
        let mut next = Vec::new();
        for (label, o) in &out {
            for v in vs {
                let mut o = o.clone();
                apply(&mut o, k, v)?;
                let sep = if label.is_empty() { "" } else { " " };
                next.push((format!("{label}{sep}{k}={v}"), o));
            }
        }
        out = next;
    }
    Ok(out)
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let combos = combinations(&args.grid, args.seed)?;
    // Refuse contradictions before any work.
    for (label, o) in &combos {
        o.validate()
            .with_context(|| format!("grid point '{label}'"))?;
    }
    let file = super::model::load(&args.model)?;
    let mut test = args.data.load(Split::Test)?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let train = args.data.load(Split::Train)?;
    let calibration = super::evaluate::calibration_set(&train, args.calibration_limit);
    let ann_acc = super::with_threads(args.threads, || file.ann.accuracy(&test))??;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let weighted = super::evaluate::converted_layers(&file.ann);
    let mut rows = Vec::new();
    let mut normalised: Vec<((f64, NormScope), somnet::ann::Ann)> = Vec::new();
    let progress = super::progress::StepProgress::new("grid points", combos.len() as u64);
    for (k, (label, options)) in combos.iter().enumerate() {
        // Normalise once per percentile and scope of the grid.
        let key = (options.percentile, options.normalization);
        if !normalised.iter().any(|(k, _)| *k == key) {
            let (norm, _) = super::with_threads(args.threads, || {
                super::evaluate::normalised(&file.ann, &calibration, key.0, key.1)
            })??;
            normalised.push((key, norm));
        }
        let norm = &normalised
            .iter()
            .find(|(k, _)| *k == key)
            .expect("normalised above")
            .1;
        let t0 = std::time::Instant::now();
        let r = super::with_threads(args.threads, || {
            evaluate_with(norm, &test, args.steps, options, |_| {
                std::ops::ControlFlow::Continue(())
            })
        })??;
        let secs = t0.elapsed().as_secs_f64();
        let energy = super::evaluate::energy_of(&weighted, &r, options);
        let row = serde_json::json!({
            "settings": label,
            "options": options,
            "snn_accuracy": r.snn_accuracy_per_step.last(),
            "latency_steps": super::evaluate::latency_json(&r, ann_acc, false),
            "settled_latency_steps": super::evaluate::latency_json(&r, ann_acc, true),
            "mean_steps": r.mean_steps,
            "synaptic_ops_per_image": r.synaptic_ops_per_image,
            "spikes_per_neuron_per_step": r.spikes_per_neuron_per_step(),
            "energy_pj": { "snn": energy.snn_pj, "ann": energy.ann_pj, "ratio": energy.ratio },
            "images_per_second": test.len() as f64 / secs,
        });
        eprintln!(
            "{label}: {:.2} %, latency 0.1 pp {:?}, {:.3e} pJ",
            100.0 * r.snn_accuracy_per_step.last().copied().unwrap_or(0.0),
            r.latency(ann_acc, 0.1),
            energy.snn_pj
        );
        rows.push(row);
        if progress.tick(k as u64 + 1).is_break() {
            eprintln!(
                "interrupted: keeping the {} finished grid points",
                rows.len()
            );
            break;
        }
    }
    progress.finish();
    write(&args, &rows, ann_acc, &file.ann, test.len())
}

fn write(
    args: &SweepArgs,
    rows: &[serde_json::Value],
    ann_acc: f64,
    ann: &somnet::ann::Ann,
    images: usize,
) -> anyhow::Result<()> {
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let lat = |v: &serde_json::Value| v.as_u64().map_or(String::new(), |x| x.to_string());
    let mut csv = String::from("settings,snn_accuracy,latency_1pp,latency_0.5pp,latency_0.1pp,settled_latency_0.1pp,mean_steps,synaptic_ops_per_image,spikes_per_neuron_per_step,energy_snn_pj,energy_ratio,images_per_second\n");
    for r in rows {
        csv += &format!(
            "{},{:.4},{},{},{},{},{:.1},{:.0},{:.5},{:.4e},{:.4},{:.0}\n",
            r["settings"].as_str().unwrap_or(""),
            num(&r["snn_accuracy"]),
            lat(&r["latency_steps"]["1pp"]),
            lat(&r["latency_steps"]["0.5pp"]),
            lat(&r["latency_steps"]["0.1pp"]),
            lat(&r["settled_latency_steps"]["0.1pp"]),
            num(&r["mean_steps"]),
            num(&r["synaptic_ops_per_image"]),
            num(&r["spikes_per_neuron_per_step"]),
            num(&r["energy_pj"]["snn"]),
            num(&r["energy_pj"]["ratio"]),
            num(&r["images_per_second"]),
        );
    }
    std::fs::write(args.out.join("sweep.csv"), &csv)
        .with_context(|| format!("writing {}", args.out.join("sweep.csv").display()))?;
    let record = serde_json::json!({
        "somnet_version": somnet::VERSION,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "model": args.model,
        "dataset": args.data.dataset,
        "images": images,
        "steps": args.steps,
        "grid": args.grid,
        "ann_accuracy": ann_acc,
        "macs_per_image": ann.macs(),
        "rows": rows,
    });
    std::fs::write(
        args.out.join("sweep.json"),
        serde_json::to_string_pretty(&record)? + "\n",
    )
    .with_context(|| format!("writing {}", args.out.join("sweep.json").display()))?;
    // Pareto front: no other point is at least as accurate, as cheap and as fast, and better in one.
    let key = |r: &serde_json::Value| {
        (
            num(&r["snn_accuracy"]),
            num(&r["energy_pj"]["snn"]),
            r["latency_steps"]["0.1pp"]
                .as_u64()
                .map_or(f64::INFINITY, |x| x as f64),
        )
    };
    let dominated = |a: (f64, f64, f64)| {
        rows.iter().map(key).any(|b| {
            b.0 >= a.0 && b.1 <= a.1 && b.2 <= a.2 && (b.0 > a.0 || b.1 < a.1 || b.2 < a.2)
        })
    };
    let points: Vec<somnet::study::plot::Point> = rows
        .iter()
        .map(|r| {
            let k = key(r);
            somnet::study::plot::Point {
                x: k.1,
                y: 100.0 * k.0,
                // Values only ("analog/if/zero · 16"): the keys are in the CSV.
                label: format!(
                    "{} · {}",
                    r["settings"]
                        .as_str()
                        .unwrap_or("")
                        .split(' ')
                        .map(|kv| kv.split_once('=').map_or(kv, |x| x.1))
                        .collect::<Vec<_>>()
                        .join("/"),
                    lat(&r["latency_steps"]["0.1pp"])
                ),
                highlight: !dominated(k),
            }
        })
        .collect();
    somnet::study::plot::scatter(
        &args.out.join("pareto.png"),
        &format!(
            "Accuracy vs energy at T = {} (label: settings · steps to ANN − 0.1 pp; red: Pareto front)",
            args.steps
        ),
        ("SNN energy per image (pJ)", "accuracy (%)"),
        &points,
        true,
    )?;
    print!("{csv}");
    println!(
        "wrote {} (sweep.csv, sweep.json, pareto.png)",
        args.out.display()
    );
    Ok(())
}
