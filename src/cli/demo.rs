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
