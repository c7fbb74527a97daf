//! `somnet demo`: the end-to-end default — train a small MNIST network, convert it to a spiking
//! network, evaluate it with the reference settings and with somnet's best options, and report
//! the accuracy after every step, synaptic operations and energy (about a minute on 2 cores).
//! `somnet demo --cuba`: the simulator alone, CUBA with 4 000 neurons for 1 s (raster, summary).

use std::path::PathBuf;

use clap::Args;

use super::progress::StepProgress;

/// Arguments of `somnet demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Run the CUBA simulation demo instead of the conversion demo.
    #[arg(long)]
    cuba: bool,
    /// Conversion demo: training images (the first N of MNIST's 60 000).
    #[arg(long, default_value_t = 60_000)]
    limit: usize,
    /// Conversion demo: test images evaluated.
    #[arg(long, default_value_t = 10_000)]
    test_limit: usize,
    /// Conversion demo: epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Conversion demo: time steps per image.
    #[arg(long, default_value_t = 64)]
    steps: u64,
    /// CUBA demo: neurons.
    #[arg(long, default_value_t = 4000)]
    n: usize,
    /// CUBA demo: biological time (ms).
    #[arg(long, default_value_t = 1000.0)]
    t_ms: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    somnet::io::report::ensure_dir(&args.out)?;
    if args.cuba {
        cuba_demo(&args)
    } else {
        conversion_demo(&args)
    }
}

fn conversion_demo(args: &DemoArgs) -> anyhow::Result<()> {
    use somnet::data::{self, Split};
    use somnet::study::demo::{self, DemoOptions, Stage};
    let dir = data::default_dir();
    let train_set = data::load_named("mnist", &dir, Split::Train)?;
    let test = data::load_named("mnist", &dir, Split::Test)?.head(args.test_limit);
    let options = DemoOptions {
        train_images: args.limit,
        epochs: args.epochs,
        steps: args.steps,
        seed: args.seed,
    };
    let (ann, config, summary) = demo::run(
        &train_set,
        &test,
        &options,
        |stage| {
            match stage {
            Stage::Training(n) => eprintln!(
                "1/3 training {} on {n} MNIST images ({} epochs)",
                demo::ARCH,
                args.epochs
            ),
            Stage::Converting => eprintln!(
                "2/3 converting: fold, normalise at the 99.9th percentile on every 10th training image"
            ),
            Stage::Simulating(n) => eprintln!(
                "3/3 simulating {n} test images for {} steps, twice",
                args.steps
            ),
        }
        },
        |_| {
            if super::progress::interrupted() {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        },
    )?;
    let model = args.out.join("model.h5");
    somnet::io::schema::save(
        &model,
        &ann,
        serde_json::json!({ "arch": demo::ARCH, "config": config, "by": "somnet demo" }),
    )?;
    println!(
        "ANN ({}, {} MACs per image): {:.2} % on {} test images",
        summary.arch,
        summary.macs_per_image,
        100.0 * summary.ann_accuracy,
        summary.test_images
    );
    println!(
        "{:<10} {:>9} {:>22} {:>14} {:>12} {:>10}",
        "settings", "accuracy", "steps to ANN-1/0.5/0.1pp", "SOPs/image", "SNN/ANN pJ", "images/s"
    );
    for r in &summary.runs {
        println!(
            "{:<10} {:>8.2}% {:>22} {:>14.3e} {:>12.3} {:>10.0}",
            r.settings,
            100.0 * r.snn_accuracy,
            r.latency_steps.compact(),
            r.synaptic_ops_per_image,
            r.energy_pj.ratio,
            r.images_per_second
        );
    }
    demo::write(&args.out, &summary)?;
    println!(
        "wrote {}, {} and {} ({:.1} s)",
        model.display(),
        args.out.join("accuracy.png").display(),
        args.out.join("summary.json").display(),
        summary.seconds
    );
    Ok(())
}

fn cuba_demo(args: &DemoArgs) -> anyhow::Result<()> {
    let mut bar: Option<StepProgress> = None;
    let d = somnet::study::cuba_demo::run(args.n, args.t_ms, args.seed, |done, total| {
        bar.get_or_insert_with(|| StepProgress::new("CUBA", total))
            .tick(done)
    })?;
    if let Some(b) = bar {
        b.finish();
    }
    somnet::study::cuba_demo::write(&args.out, &d)?;
    let s = &d.summary;
    println!(
        "CUBA N={} simulated {:.0} ms: mean rate {:.2} Hz (expected 5.6-5.7 Hz), {} spikes, {} synaptic events",
        s.n, s.t_sim_ms, s.rate_hz, s.spikes, s.syn_events
    );
    println!(
        "construction {:.3} s, simulation {:.3} s",
        s.construct_s, s.sim_s
    );
    println!(
        "wrote {} and {}",
        args.out.join("raster.png").display(),
        args.out.join("summary.json").display()
    );
    Ok(())
}
