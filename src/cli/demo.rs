//! `somnet demo`: CUBA with 4 000 neurons for 1 s; raster plot, JSON summary, rate and timing.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::progress::StepProgress;
use somnet::benchmarks::cuba;

/// Arguments of `somnet demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Neurons.
    #[arg(long, default_value_t = 4000)]
    n: usize,
    /// Biological time (ms).
    #[arg(long, default_value_t = 1000.0)]
    t_ms: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
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
    std::fs::write(&json, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    println!(
        "CUBA N={} simulated {:.0} ms: mean rate {:.2} Hz (expected 5.6-5.7 Hz), {} spikes, {} synaptic events",
        args.n, t_end, mean_rate, net.n_spikes(), net.n_events()
    );
    println!("construction {construct_s:.3} s, simulation {sim_s:.3} s");
    println!("wrote {} and {}", png.display(), json.display());
    Ok(())
}
