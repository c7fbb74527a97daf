//! The simulator demo (`somnet demo --cuba`): CUBA (Brette et al. 2007, benchmark 2) simulated
//! with a spike raster and the population rate, and its summary record.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::plot::raster;
use crate::benchmarks::cuba;
use crate::error::Result;
use crate::network::PopulationId;

/// `summary.json` of the CUBA demo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CubaSummary {
    /// Always `cuba`.
    pub network: &'static str,
    /// Neurons.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Biological time simulated (ms).
    pub t_sim_ms: f64,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// Spikes.
    pub spikes: u64,
    /// Mean rate (Hz).
    pub rate_hz: f64,
    /// Synaptic events.
    pub syn_events: u64,
    /// Synapses.
    pub synapses: u64,
    /// Seconds to build the network.
    pub construct_s: f64,
    /// Seconds in the simulation loop.
    pub sim_s: f64,
    /// Hash of the spikes (hex).
    pub spike_digest: String,
    /// The somnet version.
    pub somnet_version: &'static str,
}

/// A finished CUBA run: its record and what its figure shows.
#[derive(Debug, Clone, PartialEq)]
pub struct CubaDemo {
    /// The record.
    pub summary: CubaSummary,
    /// (time ms, neuron) of the first `shown` neurons' spikes.
    pub raster: Vec<(f64, u32)>,
    /// Neurons in the raster.
    pub shown: u32,
    /// Population rate in 1 ms bins: (time ms, Hz).
    pub rate: Vec<(f64, f64)>,
}

/// Simulates CUBA with `n` neurons for `t_ms`; `after_step(done, total)` can stop it.
pub fn run(
    n: usize,
    t_ms: f64,
    seed: u64,
    mut after_step: impl FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<CubaDemo> {
    let t0 = Instant::now();
    let mut net = cuba::build(n, seed)?;
    let pop = PopulationId(0);
    let spikes_id = net.monitor_spikes(pop, None)?;
    let rate_id = net.monitor_rate(pop)?;
    let construct_s = t0.elapsed().as_secs_f64();
    let total = net.dt().steps_covering("t_ms", t_ms)?;
    let t1 = Instant::now();
    let done = net.run_with(total, |k| after_step(k, total))?;
    let sim_s = t1.elapsed().as_secs_f64();
    let dt = net.dt().ms();
    let rates = net.rate_monitor(rate_id);
    // 1 ms bins for the rate trace.
    let per_bin = (1.0 / dt).round().max(1.0) as usize;
    let rate = rates
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
    let shown = n.min(1000) as u32;
    let raster = net
        .spike_monitor(spikes_id)
        .events
        .iter()
        .filter(|e| e.1 < shown)
        .map(|&(s, i)| (s as f64 * dt, i))
        .collect();
    Ok(CubaDemo {
        summary: CubaSummary {
            network: "cuba",
            n,
            seed,
            dt_ms: dt,
            t_sim_ms: done as f64 * dt,
            interrupted: done < total,
            spikes: net.n_spikes(),
            rate_hz: rates.mean_rate_hz(),
            syn_events: net.n_events(),
            synapses: net.n_synapses(),
            construct_s,
            sim_s,
            spike_digest: format!("{:016x}", net.spike_digest()),
            somnet_version: crate::VERSION,
        },
        raster,
        shown,
        rate,
    })
}

/// Writes `summary.json` and `raster.png` into `out`.
pub fn write(out: &Path, d: &CubaDemo) -> Result<()> {
    crate::io::report::ensure_dir(out)?;
    crate::io::report::write_json(&out.join("summary.json"), &d.summary)?;
    raster(
        &out.join("raster.png"),
        &format!(
            "CUBA, N = {} (first {} neurons), seed {}, dt = {} ms",
            d.summary.n, d.shown, d.summary.seed, d.summary.dt_ms
        ),
        &d.raster,
        d.shown,
        d.summary.t_sim_ms,
        &d.rate,
    )
}
