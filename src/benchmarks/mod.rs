//! The classic benchmark networks, built exactly as `somnet bench` runs them.
//!
//! - [`cuba`]: the current-based LIF network of Vogels & Abbott (2005), benchmark 2 of Brette et
//!   al. (2007).
//! - [`coba`]: its conductance-based version, benchmark 1 of Brette et al. (2007), with the
//!   membrane by exponential Euler or (`coba-euler`) by forward Euler.
//! - [`izhikevich`]: the pulse-coupled network of Izhikevich (2003), Fig. 3.
//! - [`polychronization`]: Izhikevich's (2006) network with axonal delays and STDP, the classic
//!   plastic benchmark.
//! - [`pair`]: two LIF neurons, for spike-time comparisons with other simulators.
//!
//! [`run`] builds one, simulates it and returns the record that `somnet bench` prints.

pub mod coba;
pub mod cuba;
pub mod izhikevich;
pub mod pair;
pub mod polychronization;

use std::ops::ControlFlow;
use std::time::Instant;

use crate::error::Result;
use crate::network::{Connection, Connector, Delay, Network, PopulationId, Weights};
use crate::neuron::conductance::ConductanceScheme;

/// Which benchmark network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    /// CUBA (LIF, exponential currents, dt 0.1 ms).
    Cuba,
    /// COBA (LIF, exponential conductances, dt 0.1 ms), membrane by exponential Euler.
    Coba,
    /// COBA with the membrane by forward Euler, the scheme of Brian2's COBA script: the same
    /// computation as that script, for side-by-side timing.
    #[serde(rename = "coba-euler")]
    CobaEuler,
    /// Izhikevich 2003 (dt 1 ms).
    Izhikevich,
    /// Izhikevich 2006, plastic (dt 1 ms).
    Polychronization,
}

impl Benchmark {
    /// Builds the network of `n` neurons.
    pub fn build(self, n: usize, seed: u64) -> Result<Network> {
        match self {
            Benchmark::Cuba => cuba::build(n, seed),
            Benchmark::Coba => coba::build(n, seed),
            Benchmark::CobaEuler => coba::build_with(n, seed, ConductanceScheme::ForwardEuler),
            Benchmark::Izhikevich => izhikevich::build(n, seed),
            Benchmark::Polychronization => polychronization::build(n, seed),
        }
    }
}

/// One benchmark run: what the peers' benchmark scripts report (sizes, times, spikes, rate,
/// synaptic events, memory) plus the spike digest and the vector level.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BenchRecord {
    /// `cuba`, `coba`, `izhikevich` or `polychronization`.
    pub network: Benchmark,
    /// Neurons.
    pub n: usize,
    /// Threads of the pool the run used.
    pub threads: usize,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Biological time simulated (ms).
    pub t_sim_ms: f64,
    /// Seconds to build the network.
    pub construct_s: f64,
    /// Seconds in the simulation loop.
    pub sim_s: f64,
    /// Spikes emitted.
    pub spikes: u64,
    /// Mean firing rate (Hz).
    pub rate_hz: f64,
    /// Synaptic events (Σ spikes × out-degree).
    pub syn_events: u64,
    /// Synaptic events per second of simulation loop.
    pub events_per_s: f64,
    /// Synapses.
    pub synapses: u64,
    /// Peak resident memory of the process (MiB), where the OS reports it.
    pub peak_rss_mib: Option<f64>,
    /// Seed.
    pub seed: u64,
    /// somnet's version.
    pub somnet_version: String,
    /// Hash of the ordered (step, neuron) spike list (hex).
    pub spike_digest: String,
    /// Whether the run was stopped early (Ctrl-C); then `t_sim_ms` is what was simulated.
    pub interrupted: bool,
    /// The vector kernels the run used (`avx512`, `avx2`, `portable`; [`crate::simd`]).
    pub simd: String,
    /// Plastic networks: firing and weights at 1 s, 10 s, 60 s, 600 s, 3 600 s (those within
    /// the run) and at its end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<polychronization::Checkpoint>,
}

/// Builds and runs a benchmark on the current rayon pool; `after_step(done, total)` can stop it.
pub fn run(
    which: Benchmark,
    n: usize,
    t_ms: f64,
    seed: u64,
    mut after_step: impl FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<BenchRecord> {
    let t0 = Instant::now();
    let mut net = which.build(n, seed)?;
    let construct_s = t0.elapsed().as_secs_f64();
    let total = net.dt().steps_covering("t_sim_ms", t_ms)?;
    // A plastic network reports its state at checkpoints; the time spent there is not
    // simulation time.
    let plastic = which == Benchmark::Polychronization;
    let rates = match plastic {
        true => Some(net.monitor_rate(polychronization::neurons(&net))?),
        false => None,
    };
    let steps_per_s = (1000.0 / net.dt().ms()).round() as u64;
    let mut stops: Vec<u64> = match plastic {
        true => [1, 10, 60, 600, 3600]
            .iter()
            .map(|s| s * steps_per_s)
            .filter(|&k| k < total)
            .collect(),
        false => Vec::new(),
    };
    stops.push(total);
    let mut checkpoints = Vec::new();
    let mut sim_s = 0.0;
    let mut done = 0;
    for stop in stops {
        let t1 = Instant::now();
        let base = done;
        done += net.run_with(stop - done, |k| after_step(base + k, total))?;
        sim_s += t1.elapsed().as_secs_f64();
        if let Some(m) = rates {
            checkpoints.push(polychronization::checkpoint(
                &net,
                &net.rate_monitor(m).counts,
                n,
            ));
        }
        if done < stop {
            break;
        }
    }
    let t_sim_ms = done as f64 * net.dt().ms();
    let spikes = net.n_spikes();
    Ok(BenchRecord {
        network: which,
        n,
        threads: rayon::current_num_threads(),
        dt_ms: net.dt().ms(),
        t_sim_ms,
        construct_s,
        sim_s,
        spikes,
        rate_hz: spikes as f64 / (net.n_neurons() as f64 * t_sim_ms.max(f64::MIN_POSITIVE) * 1e-3),
        syn_events: net.n_events(),
        events_per_s: net.n_events() as f64 / sim_s.max(1e-12),
        synapses: net.n_synapses(),
        peak_rss_mib: peak_rss_mib(),
        seed,
        somnet_version: crate::VERSION.to_string(),
        spike_digest: format!("{:016x}", net.spike_digest()),
        interrupted: done < total,
        simd: crate::simd::level().name().to_string(),
        checkpoints,
    })
}

/// The wiring CUBA and COBA share (Brette et al. 2007): the first 80 % of the `n` neurons of `pop`
/// (excitatory) project with weight `w_exc` onto port 0 of every neuron, the rest (inhibitory)
/// with `w_inh` onto port 1, each pair connected with probability 80/n (in-degree about 80 at
/// every size), acting one step later.
fn connect_exc_inh(
    net: &mut Network,
    pop: PopulationId,
    n: usize,
    w_exc: f32,
    w_inh: f32,
) -> Result<()> {
    let n_exc = (n * 4 / 5) as u32;
    let p = (80.0 / n as f64).min(1.0);
    let conn = |w: f32, port: usize, name: &str| {
        Connection::new(Connector::FixedProbability(p), Weights::Constant(w))
            .delay(Delay::Steps(1))
            .port(port)
            .named(name)
    };
    net.connect(pop.range(0..n_exc), pop, conn(w_exc, 0, "exc"))?;
    if n_exc < n as u32 {
        net.connect(pop.range(n_exc..n as u32), pop, conn(w_inh, 1, "inh"))?;
    }
    Ok(())
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), or `None` elsewhere.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
