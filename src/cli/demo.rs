//! `somnet demo`: the end-to-end default — train a small MNIST network, convert it to a spiking
//! network, evaluate it with the reference settings and with somnet's best options, and report
//! the accuracy after every step, synaptic operations and energy (about a minute on 2 cores).
//! `somnet demo --cuba`: the simulator alone, CUBA with 4 000 neurons for 1 s (raster, summary).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::progress::StepProgress;
use somnet::benchmarks::cuba;

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
    use somnet::ann::arch::{build, ArchOptions};
    use somnet::ann::train::{train, Loss, Optimizer, TrainConfig};
    use somnet::convert::options::{ConvertOptions, InitialPotential, Readout};
    use somnet::convert::pipeline::{calibration_set, convert, evaluate_against};
    use somnet::data::{self, Split};
    let start = Instant::now();
    let dir = data::default_dir();
    let full_train = data::load_named("mnist", &dir, Split::Train)?;
    let train_set = full_train.head(args.limit);
    let test = data::load_named("mnist", &dir, Split::Test)?.head(args.test_limit);
    let arch = "mlp:784-400-10";
    let mut ann = build(
        arch,
        &train_set.shape,
        10,
        &ArchOptions::default(),
        args.seed,
    )?;
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: 100,
        loss: Loss::CrossEntropy,
        optimizer: Optimizer::adam(1e-3),
        seed: args.seed,
        shuffle: true,
    };
    eprintln!(
        "1/3 training {arch} on {} MNIST images ({} epochs)",
        train_set.len(),
        args.epochs
    );
    train(&mut ann, &train_set, None, &config, |_| {
        if super::progress::interrupted() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })?;
    let model = args.out.join("model.h5");
    somnet::io::schema::save(
        &model,
        &ann,
        serde_json::json!({ "arch": arch, "config": config, "by": "somnet demo" }),
    )?;
    eprintln!(
        "2/3 converting: fold, normalise at the 99.9th percentile on every 10th training image"
    );
    let converted = convert(
        &ann,
        &calibration_set(&full_train, 6000),
        &ConvertOptions::default(),
    )?;
    let ann_acc = ann.accuracy(&test)?;
    let settings = [
        ("reference", ConvertOptions::default()),
        (
            "best",
            ConvertOptions {
                initial: InitialPotential::HalfThreshold,
                readout: Readout::Membrane,
                ..ConvertOptions::default()
            },
        ),
    ];
    eprintln!(
        "3/3 simulating {} test images for {} steps, twice",
        test.len(),
        args.steps
    );
    let mut series = Vec::new();
    let mut records = Vec::new();
    println!(
        "ANN ({arch}, {} MACs per image): {:.2} % on {} test images",
        ann.macs(),
        100.0 * ann_acc,
        test.len()
    );
    println!(
        "{:<10} {:>9} {:>22} {:>14} {:>12} {:>10}",
        "settings", "accuracy", "steps to ANN-1/0.5/0.1pp", "SOPs/image", "SNN/ANN pJ", "images/s"
    );
    for (k, (name, options)) in settings.iter().enumerate() {
        let e = evaluate_against(&converted, &test, args.steps, options, ann_acc, |_| {
            std::ops::ControlFlow::Continue(())
        })?;
        println!(
            "{name:<10} {:>8.2}% {:>22} {:>14.3e} {:>12.3} {:>10.0}",
            100.0 * e.snn_accuracy,
            e.latency_steps.compact(),
            e.synaptic_ops_per_image,
            e.energy_pj.ratio,
            e.images_per_second
        );
        series.push(somnet::study::plot::Series {
            name: format!("SNN, {name} ({})", options.label()),
            color: somnet::study::plot::PALETTE[k],
            points: e
                .snn_accuracy_per_step
                .iter()
                .enumerate()
                .map(|(t, a)| ((t + 1) as f64, 100.0 * a, 0.0))
                .collect(),
            dashed: false,
            marker: [
                somnet::study::plot::Marker::Circle,
                somnet::study::plot::Marker::Triangle,
            ][k % 2],
        });
        records.push(e.summary(name));
    }
    let t = args.steps.max(2) as f64;
    series.push(somnet::study::plot::Series {
        name: "ANN".into(),
        color: somnet::study::plot::PALETTE[2],
        points: vec![(1.0, 100.0 * ann_acc, 0.0), (t, 100.0 * ann_acc, 0.0)],
        dashed: true,
        marker: somnet::study::plot::Marker::Cross,
    });
    let png = args.out.join("accuracy.png");
    somnet::study::plot::lines(
        &png,
        &format!(
            "MNIST, {arch}: accuracy of the converted network after every step ({} images, T = {})",
            test.len(),
            args.steps
        ),
        ("step", "test accuracy (%)"),
        1.0..t,
        0.0..100.0,
        &series,
    )?;
    let summary = serde_json::json!({
        "somnet_version": somnet::VERSION,
        "arch": arch,
        "train_images": train_set.len(),
        "test_images": test.len(),
        "ann_accuracy": ann_acc,
        "macs_per_image": ann.macs(),
        "steps": args.steps,
        "layer_scales": converted.record.layer_scales,
        "runs": records,
        "seconds": start.elapsed().as_secs_f64(),
    });
    let json = args.out.join("summary.json");
    somnet::io::report::write_json(&json, &summary)?;
    println!(
        "wrote {}, {} and {} ({:.1} s)",
        model.display(),
        png.display(),
        json.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cuba_demo(args: &DemoArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut net = cuba::build(args.n, args.seed)?;
    let pop = somnet::network::PopulationId(0);
    let spikes_id = net.monitor_spikes(pop, None)?;
    let rate_id = net.monitor_rate(pop)?;
    let construct_s = t0.elapsed().as_secs_f64();
    let total = net.dt().steps_covering("t_ms", args.t_ms)?;
    let bar = StepProgress::new("CUBA", total);
    let t1 = Instant::now();
    let done = net.run_with(total, |k| bar.tick(k))?;
    bar.finish();
    let sim_s = t1.elapsed().as_secs_f64();
    let dt = net.dt().ms();
    let t_end = done as f64 * dt;
    let rates = net.rate_monitor(rate_id);
    let mean_rate = rates.mean_rate_hz();
    // 1 ms bins for the rate trace.
    let per_bin = (1.0 / dt).round().max(1.0) as usize;
    let rate_trace: Vec<(f64, f64)> = rates
        .rate_hz()
        .chunks(per_bin)
        .enumerate()
        .map(|(b, c)| {
            (
                b as f64 * per_bin as f64 * dt,
                c.iter().sum::<f64>() / c.len() as f64,
            )
        })
        .collect();
    let events = &net.spike_monitor(spikes_id).events;
    let shown = args.n.min(1000) as u32;
    let raster: Vec<(f64, u32)> = events
        .iter()
        .filter(|e| e.1 < shown)
        .map(|&(s, i)| (s as f64 * dt, i))
        .collect();
    let png = args.out.join("raster.png");
    somnet::study::plot::raster(
        &png,
        &format!("CUBA, N = {} (first {shown} neurons)", args.n),
        &raster,
        shown,
        t_end,
        &rate_trace,
    )?;
    let summary = serde_json::json!({
        "network": "cuba",
        "n": args.n,
        "seed": args.seed,
        "dt_ms": dt,
        "t_sim_ms": t_end,
        "interrupted": done < total,
        "spikes": net.n_spikes(),
        "rate_hz": mean_rate,
        "syn_events": net.n_events(),
        "synapses": net.n_synapses(),
        "construct_s": construct_s,
        "sim_s": sim_s,
        "spike_digest": format!("{:016x}", net.spike_digest()),
        "somnet_version": somnet::VERSION,
    });
    let json = args.out.join("summary.json");
    somnet::io::report::write_json(&json, &summary)?;
    println!(
        "CUBA N={} simulated {:.0} ms: mean rate {:.2} Hz (expected 5.6-5.7 Hz), {} spikes, {} synaptic events",
        args.n, t_end, mean_rate, net.n_spikes(), net.n_events()
    );
    println!("construction {construct_s:.3} s, simulation {sim_s:.3} s");
    println!("wrote {} and {}", png.display(), json.display());
    Ok(())
}
