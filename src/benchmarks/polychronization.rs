//! The polychronization network of Izhikevich, "Polychronization: computation with spikes",
//! Neural Computation 18:245 (2006): the classic plastic benchmark.
//!
//! Per 1 000 neurons, 800 excitatory regular-spiking (a 0.02, d 8) and 200 inhibitory fast-spiking
//! (a 0.1, d 2), b 0.2, c −65, v₀ −65, u₀ = b·v₀; dt 1 ms, v in two 0.5 ms half-steps then u
//! ([`IntegrationScheme::Published2003`]). Every neuron has 100 outgoing synapses to distinct
//! random targets other than itself (inhibitory neurons only onto excitatory ones). Excitatory
//! axonal delays cover 1…20 ms, five synapses of each neuron per delay; inhibitory delays 1 ms.
//! Weights start at +6 (excitatory) and −5 (inhibitory); the excitatory ones are plastic in
//! [0, 10] under [`AccumulatedStdp`] with its defaults (the paper's rule). Input: every ms one
//! neuron per 1 000, drawn at random, receives 20 (a current for that step, as synaptic input
//! is). The paper reports firing settling into a gamma-band rhythm and the weights splitting
//! towards 0 and 10 over minutes to hours of simulated time.

use crate::error::Result;
use crate::network::plasticity::{AccumulatedStdp, AccumulatedStdpParams};
use crate::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, ProjectionId, Weights,
};
use crate::neuron::{IntegrationScheme, IzhikevichParams, NeuronModel, Port};
use crate::rng::{stream, uniform01, Purpose};

/// Outgoing synapses per neuron.
pub const SYNAPSES_PER_NEURON: usize = 100;
/// Longest excitatory delay (ms).
pub const MAX_DELAY_MS: u32 = 20;
/// Name of the plastic excitatory projection.
pub const PLASTIC: &str = "exc";

/// Builds the network of `n` neurons (populations `input`, then `neurons`: excitatory first).
pub fn build(n: usize, seed: u64) -> Result<Network> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed,
        max_delay_ms: MAX_DELAY_MS as f64,
    })?;
    let n_exc = n * 4 / 5;
    let per_kind = |exc: f32, inh: f32| -> Vec<f32> {
        (0..n).map(|i| if i < n_exc { exc } else { inh }).collect()
    };
    let mut params = IzhikevichParams::heterogeneous(
        per_kind(0.02, 0.1),
        vec![0.2],
        vec![-65.0],
        per_kind(8.0, 2.0),
    );
    params.scheme = IntegrationScheme::Published2003;
    let input = net.add_random_pick("input", n, n.div_ceil(1000) as u32)?;
    let pop = net.add_population(
        "neurons",
        n,
        NeuronModel::Izhikevich(params),
        vec![Port::Delta],
    )?;
    let diagonal = (0..n as u32).map(|i| (i, i)).collect();
    net.connect(
        input,
        pop,
        Connection::new(Connector::List(diagonal), Weights::Constant(20.0))
            .delay(Delay::Steps(0))
            .named("input"),
    )?;
    let mut rng = stream(seed, Purpose::Connectivity, 0, 0, 0);
    // Distinct targets in 0..targets, never `i` itself.
    let mut draw = |i: usize, targets: usize| -> Vec<u32> {
        let k = SYNAPSES_PER_NEURON.min(targets - usize::from(i < targets));
        let mut out: Vec<u32> = Vec::with_capacity(k);
        while out.len() < k {
            let r = (uniform01(&mut rng) * targets as f64) as u32;
            if r as usize != i && !out.contains(&r) {
                out.push(r);
            }
        }
        out
    };
    let mut exc_pairs = Vec::with_capacity(n_exc * SYNAPSES_PER_NEURON);
    let mut exc_delays = Vec::with_capacity(n_exc * SYNAPSES_PER_NEURON);
    let per_delay = SYNAPSES_PER_NEURON / MAX_DELAY_MS as usize;
    for i in 0..n_exc {
        for (j, post) in draw(i, n).into_iter().enumerate() {
            exc_pairs.push((i as u32, post));
            exc_delays.push((1 + (j / per_delay) as u32).min(MAX_DELAY_MS) as f64);
        }
    }
    let mut inh_pairs = Vec::with_capacity((n - n_exc) * SYNAPSES_PER_NEURON);
    for i in n_exc..n {
        inh_pairs.extend(
            draw(i, n_exc)
                .into_iter()
                .map(|post| ((i - n_exc) as u32, post)),
        );
    }
    let n_exc_syn = exc_pairs.len();
    let exc = net.connect(
        pop.range(0..n_exc as u32),
        pop,
        Connection::new(Connector::List(exc_pairs), Weights::Constant(6.0))
            .delay(Delay::ValuesMs(exc_delays))
            .named(PLASTIC),
    )?;
    if n_exc < n {
        net.connect(
            pop.range(n_exc as u32..n as u32),
            pop.range(0..n_exc as u32),
            Connection::new(Connector::List(inh_pairs), Weights::Constant(-5.0))
                .delay(Delay::Steps(1))
                .named("inh"),
        )?;
    }
    debug_assert_eq!(net.projection(exc).n_synapses(), n_exc_syn as u64);
    net.set_plasticity(
        exc,
        Box::new(AccumulatedStdp::new(AccumulatedStdpParams::default())?),
    )?;
    Ok(net)
}

/// The neuron population of a network [`build`] made.
pub fn neurons(net: &Network) -> PopulationId {
    let p = net
        .populations()
        .iter()
        .position(|p| p.name() == "neurons")
        .unwrap_or(0);
    PopulationId(p as u32)
}

/// The plastic projection of a network [`build`] made.
pub fn plastic(net: &Network) -> Option<ProjectionId> {
    (0..net.projections().len())
        .map(|j| ProjectionId(j as u32))
        .find(|&p| net.projection(p).name() == PLASTIC)
}

/// The state of a plastic benchmark at one moment: the last second's firing and the weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Simulated time (s).
    pub t_s: f64,
    /// Mean firing rate over the last second (Hz).
    pub rate_hz: f64,
    /// The frequency (Hz, 5–250) where the population activity of the last second has the most
    /// power: the rhythm.
    pub rhythm_hz: f64,
    /// Mean plastic weight.
    pub w_mean: f64,
    /// Counts of plastic weights in ten equal bins over [0, w_max] (the top bin includes w_max).
    pub w_histogram: Vec<u64>,
}

/// The checkpoint of `net` after its latest step, with `counts` its population's spikes per step
/// (the last second of them is used).
pub fn checkpoint(net: &Network, counts: &[u32], n: usize) -> Checkpoint {
    let steps = (1000.0 / net.dt().ms()).round() as usize;
    let last = &counts[counts.len().saturating_sub(steps)..];
    let spikes: u64 = last.iter().map(|&c| c as u64).sum();
    let seconds = last.len() as f64 * net.dt().ms() * 1e-3;
    let weights: Vec<f32> = plastic(net)
        .map(|p| net.projection(p).synapses().iter().map(|s| s.2).collect())
        .unwrap_or_default();
    let w_max = AccumulatedStdpParams::default().w_max;
    let mut w_histogram = vec![0u64; 10];
    for &w in &weights {
        let bin = ((w as f64 / w_max * 10.0) as usize).min(9);
        w_histogram[bin] += 1;
    }
    Checkpoint {
        t_s: net.current_step() as f64 * net.dt().ms() * 1e-3,
        rate_hz: spikes as f64 / (n as f64 * seconds.max(f64::MIN_POSITIVE)),
        rhythm_hz: peak_frequency(last, net.dt().ms()),
        w_mean: weights.iter().map(|&w| w as f64).sum::<f64>() / weights.len().max(1) as f64,
        w_histogram,
    }
}

/// The frequency in 5–250 Hz with the most power in `counts` (one value per step of `dt_ms`),
/// by a direct Fourier sum at 1 Hz resolution over the de-meaned signal.
pub fn peak_frequency(counts: &[u32], dt_ms: f64) -> f64 {
    if counts.is_empty() {
        return 0.0;
    }
    let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / counts.len() as f64;
    let nyquist = 500.0 / dt_ms;
    let mut best = (0.0, 0.0);
    let mut f = 5.0;
    while f <= 250.0f64.min(nyquist) {
        let w = 2.0 * std::f64::consts::PI * f * dt_ms * 1e-3;
        let (mut re, mut im) = (0.0, 0.0);
        for (k, &c) in counts.iter().enumerate() {
            let x = c as f64 - mean;
            re += x * (w * k as f64).cos();
            im += x * (w * k as f64).sin();
        }
        let power = re * re + im * im;
        if power > best.1 {
            best = (f, power);
        }
        f += 1.0;
    }
    best.0
}
