//! `somnet evaluate --model FILE --dataset mnist (--ann | --steps T) [--limit N] [--json] [--out DIR]`.

use std::path::PathBuf;

use clap::Args;

use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::{calibration_set, convert, evaluate, Converted};
use somnet::data::Split;

/// `--split`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    Test,
    Train,
}

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
    /// Average pooling: spiking neurons (the reference) or folded into the next weighted layer
    /// (exact; fewer layers and steps, for low-latency conversion).
    #[arg(long, value_enum, default_value = "spiking")]
    avgpool: super::convert_args::AvgPoolArg,
    #[command(flatten)]
    knobs: super::convert_args::ConvertArgs,
    /// Calibration images: every 10th training image, at most this many.
    #[arg(long, default_value_t = 6000)]
    calibration_limit: usize,
    /// Calibrate the converted network's biases for the latency --steps on this many training
    /// images (every 10th), layer by layer (Li et al., ICML 2021, light calibration; ~1000).
    #[arg(long, value_name = "N")]
    calibrate_biases: Option<usize>,
    /// Calibrate the converted network's weights for the latency --steps on this many training
    /// images (every 10th), layer by layer: each layer's modelled spike count fitted to the ANN
    /// (Li et al., ICML 2021, advanced calibration; ~1000). Not with --calibrate-biases.
    #[arg(long, value_name = "N", conflicts_with = "calibrate_biases")]
    calibrate_weights: Option<usize>,
    /// Weight calibration: Adam steps per layer.
    #[arg(long, default_value_t = 1000, requires = "calibrate_weights")]
    weight_iterations: usize,
    /// Weight calibration: Adam's first step size (annealed to 0), in thresholds.
    #[arg(long, default_value_t = 1e-3, requires = "calibrate_weights")]
    weight_lr: f64,
    /// Output folder for result.json and per_step.csv (spiking evaluation).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The split evaluated: the test images (default), or the training images — to choose a
    /// setting (e.g. --offset-presteps) without looking at the test set.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// The first N images of the split only.
    #[arg(long)]
    limit: Option<usize>,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Evaluate only shard I of N (0-based; contiguous samples) and write `shard.json` into
    /// `--out` for `somnet merge`.
    #[arg(long, value_name = "I/N", requires = "out", requires = "steps")]
    shard: Option<String>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    if !args.ann && args.steps.is_none() {
        anyhow::bail!(
            "say what to evaluate: --ann (the ANN) or --steps T (the converted spiking network)"
        );
    }
    let file = super::model::load(&args.model)?;
    let mut test = args.data.load(match args.split {
        SplitArg::Test => Split::Test,
        SplitArg::Train => Split::Train,
    })?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let Some(steps) = args.steps else {
        let t0 = std::time::Instant::now();
        let acc = super::with_threads(args.threads, || file.ann.accuracy(&test))??;
        let secs = t0.elapsed().as_secs_f64();
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
    let (converted, options) = match Converted::from_file(&args.model, &file)? {
        Some(c) => {
            eprintln!(
                "{}: a converted network (normalised; recorded options: {})",
                args.model.display(),
                c.record.options.label()
            );
            let options = args.knobs.apply(c.record.options.clone())?;
            (c, options)
        }
        None => {
            let options = args.knobs.apply(ConvertOptions {
                percentile: args.percentile,
                normalization: args.norm.into(),
                avg_pool: args.avgpool.into(),
                ..ConvertOptions::default()
            })?;
            let train = args.data.load(Split::Train)?;
            let calibration = calibration_set(&train, args.calibration_limit);
            let c =
                super::with_threads(args.threads, || convert(&file.ann, &calibration, &options))??;
            (c, options)
        }
    };
    let converted = match args.calibrate_biases {
        None => converted,
        Some(n) => {
            let train = args.data.load(Split::Train)?;
            let images = calibration_set(&train, n);
            let c = super::with_threads(args.threads, || {
                somnet::convert::pipeline::calibrate_biases(&converted, &images, steps, &options)
            })??;
            for l in &c
                .record
                .bias_calibration
                .as_ref()
                .expect("just calibrated")
                .layers
            {
                eprintln!(
                    "bias calibration: layer '{}' mean |ANN − SNN| {:.4} per neuron and step",
                    l.name, l.mean_abs_error
                );
            }
            c
        }
    };
    let converted = match args.calibrate_weights {
        None => converted,
        Some(n) => {
            let train = args.data.load(Split::Train)?;
            let images = calibration_set(&train, n);
            let settings = somnet::convert::weight_calibration::WeightSettings {
                iterations: args.weight_iterations,
                learning_rate: args.weight_lr,
                ..Default::default()
            };
            let c = super::with_threads(args.threads, || {
                somnet::convert::pipeline::calibrate_weights(
                    &converted, &images, steps, &options, &settings,
                )
            })??;
            for l in &c
                .record
                .weight_calibration
                .as_ref()
                .expect("just calibrated")
                .layers
            {
                eprintln!(
                    "weight calibration: layer '{}' modelled squared error {:.4e} -> {:.4e}{}",
                    l.name,
                    l.error_before,
                    l.error_after,
                    if l.kept {
                        ""
                    } else {
                        " (the fit ended higher: weights left as converted)"
                    }
                );
            }
            c
        }
    };
    if options.coding == somnet::convert::options::Coding::Ttfs {
        let net = somnet::convert::ttfs::TtfsNetwork::new(&converted.ann, &options)?;
        let needed = net.total_steps();
        eprintln!(
            "time-to-first-spike: {} steps from the first input to the end of the output window \
             ({} per layer window){}",
            needed,
            options.ttfs_steps,
            if steps < needed {
                format!("; --steps {steps} stops before some decisions")
            } else {
                String::new()
            }
        );
    }
    if let Some(text) = &args.shard {
        let (index, count) = somnet::convert::shard::parse(text)?;
        let out = args.out.as_ref().expect("clap requires --out with --shard");
        let mut shard = super::with_threads(args.threads, || {
            somnet::convert::shard::evaluate_shard(
                &converted,
                &test,
                index,
                count,
                steps,
                &options,
                |_| std::ops::ControlFlow::Continue(()),
            )
        })??;
        shard.evaluation.model = Some(args.model.display().to_string());
        somnet::study::report::write_shard(out, &shard)?;
        if args.json {
            println!("{}", serde_json::to_string(&shard.evaluation)?);
        } else {
            println!(
                "shard {index}/{count}: samples {}..{} of {}; SNN {:.2} % on them; wrote {}",
                shard.counts.first_image,
                shard.counts.first_image + shard.counts.planned_images,
                test.len(),
                100.0 * shard.evaluation.snn_accuracy,
                out.join("shard.json").display()
            );
        }
        return Ok(());
    }
    let progress = super::progress::StepProgress::new("images", test.len() as u64);
    let done = std::sync::atomic::AtomicU64::new(0);
    let mut e = super::with_threads(args.threads, || {
        evaluate(&converted, &test, steps, &options, |n| {
            let d = done.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
            progress.tick(d)
        })
    })??;
    progress.finish();
    e.model = Some(args.model.display().to_string());
    if e.interrupted {
        eprintln!(
            "interrupted: the figures cover the {} images that finished",
            e.images
        );
    }
    if let Some(out) = &args.out {
        somnet::study::report::write_evaluation(out, &e)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        let steps = match options.offset_presteps {
            0 => steps.to_string(),
            pre => format!("{pre} pre-run + {steps}"),
        };
        println!(
            "ANN {:.2} %, SNN {:.2} % after {steps} steps ({}) on {} images of {} ({:.0} images/s); latency to ANN − 1/0.5/0.1 pp: {} (settled: {}); {:.2e} synaptic ops vs {} MACs per image; energy SNN/ANN {:.3} ({:.3e} / {:.3e} pJ)",
            100.0 * e.ann_accuracy,
            100.0 * e.snn_accuracy,
            options.label(),
            e.images,
            e.dataset,
            e.images_per_second,
            e.latency_steps.compact(),
            e.settled_latency_steps.compact(),
            e.synaptic_ops_per_image,
            e.macs_per_image,
            e.energy_pj.ratio,
            e.energy_pj.snn,
            e.energy_pj.ann
        );
    }
    Ok(())
}
