//! `somnet evaluate --model FILE --dataset mnist (--ann | --steps T) [--limit N] [--json] [--out DIR]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::convert::normalize::NormScope;
use somnet::data::{self, Split};

/// Arguments of `somnet evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: super::data_args::DataArgs,
    /// Evaluate the ANN itself.
    #[arg(long, conflicts_with = "steps")]
    ann: bool,
    /// Convert to a spiking network (the reference settings unless knobs say otherwise) and run
    /// each image for this many steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Normalisation percentile of non-zero activations, in (0, 100] (100 = max-norm).
    #[arg(long, default_value_t = 99.9)]
    percentile: f64,
    /// Normalisation scale per layer (default) or per channel (Kim et al. 2020).
    #[arg(long, value_enum, default_value_t = super::convert_args::NormArg::Layer)]
    norm: super::convert_args::NormArg,
    #[command(flatten)]
    knobs: super::convert_args::ConvertArgs,
    /// Calibration images: every 10th training image, at most this many.
    #[arg(long, default_value_t = 6000)]
    calibration_limit: usize,
    /// Output folder for result.json and per_step.csv (spiking evaluation).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    if !args.ann && args.steps.is_none() {
        anyhow::bail!(
            "say what to evaluate: --ann (the ANN) or --steps T (the converted spiking network)"
        );
    }
    let file = super::model::load(&args.model)?;
    let dir = args.data.dir();
    let mut test = args.data.load(Split::Test)?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let t0 = std::time::Instant::now();
    let acc = super::with_threads(args.threads, || file.ann.accuracy(&test))??;
    let secs = t0.elapsed().as_secs_f64();
    let Some(steps) = args.steps else {
        if args.json {
            let v = serde_json::json!({ "model": args.model, "dataset": test.name, "images": test.len(), "ann_accuracy": acc, "seconds": secs, "somnet_version": somnet::VERSION });
            println!("{}", serde_json::to_string(&v)?);
        } else {
            println!(
                "ANN accuracy on {} images of {}: {:.2} % ({:.2} s)",
                test.len(),
                test.name,
                100.0 * acc,
                secs
            );
        }
        return Ok(());
    };
    spiking(&args, &file, &test, acc, steps, &dir)
}

/// Every 10th training image, at most `limit` of them (the reference converter's calibration set).
pub fn calibration_set(train: &somnet::data::Dataset, limit: usize) -> somnet::data::Dataset {
    let every_tenth: Vec<usize> = (0..train.len()).step_by(10).take(limit).collect();
    train.select(&every_tenth)
}

/// `ann` with batch norm folded and weights normalised at `percentile` (per layer or per channel)
/// on `calibration`, and the λ of every weighted layer (one, or one per channel).
pub fn normalised(
    ann: &somnet::ann::Ann,
    calibration: &somnet::data::Dataset,
    percentile: f64,
    scope: NormScope,
) -> somnet::Result<(somnet::ann::Ann, Vec<Vec<f32>>)> {
    use somnet::convert::{fold::fold_batchnorm, normalize};
    let folded = fold_batchnorm(ann)?;
    let scales = normalize::scales(&folded, calibration, percentile, scope)?;
    Ok((normalize::apply_channel_scales(&folded, &scales)?, scales))
}

/// The λ recorded in a converted file: one per layer (older files) or one list per layer.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RecordedScales {
    PerLayer(Vec<f32>),
    PerChannel(Vec<Vec<f32>>),
}

/// The ANN layers that become spiking layers (weighted and pooling), with their MACs, in order:
/// aligned with [`somnet::convert::evaluate::SnnEvaluation::layers`].
pub fn converted_layers(ann: &somnet::ann::Ann) -> Vec<(String, u64)> {
    ann.summary()
        .into_iter()
        .filter(|l| matches!(l.kind, "dense" | "conv2d" | "avgpool2d" | "maxpool2d"))
        .map(|l| (l.name, l.macs))
        .collect()
}

/// Energy estimates of an evaluation (analog input charges the first layer its MACs).
pub fn energy_of(
    layers: &[(String, u64)],
    result: &somnet::convert::evaluate::SnnEvaluation,
    options: &somnet::convert::options::ConvertOptions,
) -> somnet::study::energy::Energy {
    somnet::study::energy::estimate(
        &layers
            .iter()
            .zip(&result.layers)
            .map(|((name, m), a)| (name.clone(), *m, a.synaptic_ops_per_image))
            .collect::<Vec<_>>(),
        options.input == somnet::convert::options::InputCoding::Analog,
    )
}

/// What a converted network needs besides its weights: recorded in `somnet convert`'s files.
pub struct Prepared {
    /// Folded, normalised network (thresholds 1).
    pub norm: somnet::ann::Ann,
    /// λ per weighted layer (one, or one per channel).
    pub scales: Vec<Vec<f32>>,
    /// Calibration images used.
    pub calibration_images: usize,
    /// The options recorded, or the reference defaults at the given percentile.
    pub base_options: somnet::convert::options::ConvertOptions,
}

/// The recorded conversion of a `somnet convert` file, if `record` is one.
pub fn recorded_conversion(
    ann: &somnet::ann::Ann,
    record: &serde_json::Value,
) -> anyhow::Result<Option<Prepared>> {
    let conv = &record["conversion"];
    if conv.is_null() {
        return Ok(None);
    }
    let parse = |field: &str| -> anyhow::Result<serde_json::Value> {
        anyhow::ensure!(
            !conv[field].is_null(),
            "converted model file: provenance field conversion.{field} is missing"
        );
        Ok(conv[field].clone())
    };
    Ok(Some(Prepared {
        norm: ann.clone(),
        scales: match serde_json::from_value(parse("layer_scales")?)
            .context("converted model file: conversion.layer_scales")?
        {
            RecordedScales::PerLayer(s) => s.into_iter().map(|s| vec![s]).collect(),
            RecordedScales::PerChannel(s) => s,
        },
        calibration_images: serde_json::from_value(parse("calibration_images")?)
            .context("converted model file: conversion.calibration_images")?,
        base_options: serde_json::from_value(parse("options")?)
            .context("converted model file: conversion.options")?,
    }))
}

/// Folds and normalises `ann` on every 10th training image of `dataset`.
pub fn prepare(
    ann: &somnet::ann::Ann,
    dataset: &str,
    dir: &std::path::Path,
    calibration_limit: usize,
    percentile: f64,
    scope: NormScope,
    threads: usize,
) -> anyhow::Result<Prepared> {
    let train = data::load_named(dataset, dir, Split::Train)
        .with_context(|| format!("loading {dataset} (train) for calibration"))?;
    let calibration = calibration_set(&train, calibration_limit);
    let (norm, scales) =
        super::with_threads(threads, || normalised(ann, &calibration, percentile, scope))??;
    Ok(Prepared {
        norm,
        scales,
        calibration_images: calibration.len(),
        base_options: somnet::convert::options::ConvertOptions {
            percentile,
            normalization: scope,
            ..Default::default()
        },
    })
}

fn spiking(
    args: &EvaluateArgs,
    file: &somnet::io::schema::ModelFile,
    test: &somnet::data::Dataset,
    ann_acc: f64,
    steps: u64,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use somnet::convert::evaluate::evaluate_with;
    let ann = &file.ann;
    let prepared = match recorded_conversion(ann, &file.provenance.record)? {
        Some(p) => {
            eprintln!(
                "{}: a converted network (normalised; recorded options: {})",
                args.model.display(),
                p.base_options.label()
            );
            p
        }
        None => prepare(
            ann,
            &args.data.dataset,
            dir,
            args.calibration_limit,
            args.percentile,
            args.norm.into(),
            args.threads,
        )?,
    };
    let Prepared {
        norm,
        scales,
        calibration_images,
        base_options,
    } = prepared;
    let options = args.knobs.apply(base_options)?;
    let progress = super::progress::StepProgress::new("images", test.len() as u64);
    let done = std::sync::atomic::AtomicU64::new(0);
    let t0 = std::time::Instant::now();
    let result = super::with_threads(args.threads, || {
        evaluate_with(&norm, test, steps, &options, |n| {
            let d = done.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
            progress.tick(d)
        })
    })??;
    progress.finish();
    if result.interrupted {
        eprintln!(
            "interrupted: the figures cover the {} images that finished",
            result.images
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let last = *result.snn_accuracy_per_step.last().expect("steps >= 1");
    let latency = latency_json(&result, ann_acc, false);
    let settled = latency_json(&result, ann_acc, true);
    let macs = ann.macs();
    let weighted = converted_layers(ann);
    let energy = energy_of(&weighted, &result, &options);
    let record = serde_json::json!({
        "model": args.model,
        "dataset": test.name,
        "images": result.images,
        "interrupted": result.interrupted,
        "steps": steps,
        "ann_accuracy": ann_acc,
        "snn_accuracy": last,
        "snn_accuracy_per_step": result.snn_accuracy_per_step,
        "latency_steps": latency,
        "settled_latency_steps": settled,
        "mean_steps": result.mean_steps,
        "macs_per_image": macs,
        "synaptic_ops_per_image": result.synaptic_ops_per_image,
        "spikes_per_image": result.spikes_per_image,
        "spikes_per_neuron_per_step": result.spikes_per_neuron_per_step(),
        "layers": result.layers,
        "energy_pj": { "ann": energy.ann_pj, "snn": energy.snn_pj, "ratio": energy.ratio, "pj_per_mac": somnet::study::energy::PJ_PER_MAC, "pj_per_sop": somnet::study::energy::PJ_PER_SOP, "layers": energy.layers },
        "images_per_second": result.images as f64 / secs,
        "options": options,
        "threshold": 1.0,
        "calibration_images": calibration_images,
        "layer_scales": scales,
        "somnet_version": somnet::VERSION,
    });
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(
            out.join("result.json"),
            serde_json::to_string_pretty(&record)? + "\n",
        )
        .with_context(|| format!("writing {}", out.join("result.json").display()))?;
        let mut csv = String::from("step,snn_accuracy\n");
        for (k, a) in result.snn_accuracy_per_step.iter().enumerate() {
            csv += &format!("{},{a}\n", k + 1);
        }
        std::fs::write(out.join("per_step.csv"), csv)
            .with_context(|| format!("writing {}", out.join("per_step.csv").display()))?;
        plots(out, &result, ann_acc, &weighted)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        println!(
            "ANN {:.2} %, SNN {:.2} % after {steps} steps ({}) on {} images of {} ({:.0} images/s); latency to ANN − 1/0.5/0.1 pp: {} (settled: {}); {:.2e} synaptic ops vs {macs} MACs per image; energy SNN/ANN {:.3} ({:.3e} / {:.3e} pJ)",
            100.0 * ann_acc,
            100.0 * last,
            options.label(),
            result.images,
            test.name,
            result.images as f64 / secs,
            compact(&latency),
            compact(&settled),
            result.synaptic_ops_per_image,
            energy.ratio,
            energy.snn_pj,
            energy.ann_pj
        );
    }
    Ok(())
}

/// `accuracy.png` (accuracy after every step, the ANN as a line) and `layer_rates.png` (spikes per
/// neuron per step of every layer).
fn plots(
    out: &std::path::Path,
    result: &somnet::convert::evaluate::SnnEvaluation,
    ann_acc: f64,
    weighted: &[(String, u64)],
) -> anyhow::Result<()> {
    use somnet::study::plot::{lines, Series, PALETTE};
    let t = result.snn_accuracy_per_step.len() as f64;
    let acc: Vec<(f64, f64, f64)> = result
        .snn_accuracy_per_step
        .iter()
        .enumerate()
        .map(|(k, a)| ((k + 1) as f64, 100.0 * a, 0.0))
        .collect();
    lines(
        &out.join("accuracy.png"),
        "Accuracy of the spiking network after every step",
        ("step", "test accuracy (%)"),
        1.0..t.max(2.0),
        0.0..100.0,
        &[
            Series {
                name: "SNN".into(),
                color: PALETTE[0],
                points: acc,
                dashed: false,
            },
            Series {
                name: "ANN".into(),
                color: PALETTE[1],
                points: vec![
                    (1.0, 100.0 * ann_acc, 0.0),
                    (t.max(2.0), 100.0 * ann_acc, 0.0),
                ],
                dashed: true,
            },
        ],
    )?;
    let rates: Vec<(f64, f64, f64)> = result
        .layers
        .iter()
        .enumerate()
        .map(|(k, l)| ((k + 1) as f64, l.spikes_per_neuron_per_step, 0.0))
        .collect();
    let top = rates.iter().map(|r| r.1).fold(0.01, f64::max) * 1.2;
    let names: Vec<&str> = weighted.iter().map(|w| w.0.as_str()).collect();
    lines(
        &out.join("layer_rates.png"),
        &format!("Spikes per neuron per step by layer ({})", names.join(", ")),
        ("layer", "spikes / neuron / step"),
        0.5..result.layers.len() as f64 + 0.5,
        0.0..top,
        &[Series {
            name: "rate".into(),
            color: PALETTE[2],
            points: rates,
            dashed: false,
        }],
    )?;
    Ok(())
}

/// The λ of each layer for a message: the value, or `min–max over N channels`.
pub fn scales_summary(scales: &[Vec<f32>]) -> String {
    let parts: Vec<String> = scales
        .iter()
        .map(|s| match s.as_slice() {
            [one] => format!("{one:.3}"),
            many => {
                let lo = many.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = many.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                format!("{lo:.3}–{hi:.3} over {} channels", many.len())
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Latency to ANN − 1, 0.5 and 0.1 pp as `{"1pp": …, "0.5pp": …, "0.1pp": …}`: the first step
/// within the margin, or (`settled`) the first from which the accuracy stays within it.
pub fn latency_json(
    result: &somnet::convert::evaluate::SnnEvaluation,
    ann_acc: f64,
    settled: bool,
) -> serde_json::Value {
    [1.0, 0.5, 0.1]
        .iter()
        .map(|&pp| {
            let steps = if settled {
                result.settled_latency(ann_acc, pp)
            } else {
                result.latency(ann_acc, pp)
            };
            (format!("{pp}pp"), serde_json::json!(steps))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `a/b/c` from a [`latency_json`] value (`-` where never reached).
pub fn compact(latency: &serde_json::Value) -> String {
    ["1pp", "0.5pp", "0.1pp"]
        .iter()
        .map(|k| latency[*k].as_u64().map_or("-".into(), |s| s.to_string()))
        .collect::<Vec<_>>()
        .join("/")
}
