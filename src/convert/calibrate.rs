//! The input gain of converted Izhikevich neurons, calibrated from their simulated f-I curve.
//!
//! A converted layer's drive `a` (the per-step input of a unit-threshold IF neuron, whose rate is
//! `a` spikes per step) must become a current that makes a regular-spiking Izhikevich neuron
//! (Izhikevich 2003, Fig. 2: a = 0.02, b = 0.2, c = −65, d = 8) fire at a rate proportional to a.
//! The neuron is silent up to a current I₀ (just below its rheobase) and cannot follow 1 spike per
//! step, so the map is
//! `I = I₀ + (I_max − I₀)·a`, where I_max is the current at which the simulated neuron reaches
//! [`MAX_RATE`] spikes per step: a = 1 fires at `MAX_RATE`, a ≤ 0 not at all, and the secant
//! between them stands for the curve (which is concave: mid-range drives fire up to ≈ 20 % off
//! proportion, the price of a neuron with a rheobase and adaptation). A spike of weight w then carries `w·(I_max − I₀)/MAX_RATE`
//! of current for one step, so a layer fed at `MAX_RATE·a` per step receives the same current as
//! one fed by the analog drive a.

use std::sync::OnceLock;

use crate::error::Result;
use crate::network::{Network, NetworkConfig};
use crate::neuron::{IzhikevichParams, NeuronModel, Port};

/// The rate (spikes per 1 ms step) a drive of 1 maps to: 100 Hz, well inside the regular-spiking
/// neuron's range at dt = 1 ms.
pub const MAX_RATE: f64 = 0.1;

/// Steps simulated per current when measuring the f-I curve (the first quarter is discarded as
/// the transient).
const MEASURE_STEPS: u64 = 4000;

/// The calibrated map from drive to current.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IzhikevichGain {
    /// I₀: the largest current of the grid (steps of 0.05) that leaves the neuron silent, just
    /// below its rheobase.
    pub rheobase: f32,
    /// I_max − I₀: the current per unit of drive.
    pub current_per_drive: f32,
    /// Rate at drive 1 (spikes per step).
    pub max_rate: f64,
}

impl IzhikevichGain {
    /// The current for drive `a`.
    pub fn current(&self, a: f32) -> f32 {
        self.rheobase + self.current_per_drive * a
    }

    /// The factor applied to synaptic weights (current per spike of weight 1).
    pub fn weight_scale(&self) -> f32 {
        (self.current_per_drive as f64 / self.max_rate) as f32
    }
}

/// The stable resting state (v, u) of the regular-spiking neuron under constant current `i`
/// below its rheobase: the lower root of `0.04v² + (5 − b)v + 140 + i = 0`, with `u = b·v`.
/// Starting there, a neuron with no drive stays silent instead of firing once on its way from
/// the default −65 mV. Above the rheobase there is no rest; the default is returned.
pub fn resting_state(i: f32) -> (f32, f32) {
    let (k2, b) = (0.04f64, 0.2f64);
    let (lin, c) = (5.0 - b, 140.0 + i as f64);
    let disc = lin * lin - 4.0 * k2 * c;
    if disc < 0.0 {
        return (-65.0, (b * -65.0) as f32);
    }
    let v = (-lin - disc.sqrt()) / (2.0 * k2);
    (v as f32, (b * v) as f32)
}

/// The regular-spiking neuron of converted layers.
pub fn regular_spiking() -> IzhikevichParams {
    IzhikevichParams::new(0.02, 0.2, -65.0, 8.0)
}

/// Steady-state rate (spikes per step) of a regular-spiking neuron for each constant current,
/// simulated on the engine at dt = 1 ms.
pub fn f_i_curve(currents: &[f32]) -> Result<Vec<f64>> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        max_delay_ms: 1.0,
    })?;
    let pop = net.add_population(
        "f-I",
        currents.len(),
        NeuronModel::Izhikevich(regular_spiking()),
        vec![Port::Delta],
    )?;
    net.set_constant_currents(pop, currents)?;
    let transient = MEASURE_STEPS / 4;
    let mut counts = vec![0u64; currents.len()];
    for t in 0..MEASURE_STEPS {
        net.step();
        if t >= transient {
            for &i in net.population(pop).last_spikes() {
                counts[i as usize] += 1;
            }
        }
    }
    Ok(counts
        .iter()
        .map(|&c| c as f64 / (MEASURE_STEPS - transient) as f64)
        .collect())
}

/// The calibration (measured once per process; a few milliseconds).
pub fn izhikevich_gain() -> Result<IzhikevichGain> {
    static GAIN: OnceLock<IzhikevichGain> = OnceLock::new();
    if let Some(g) = GAIN.get() {
        return Ok(*g);
    }
    // Currents 0, 0.05, …, 60 (the model's units).
    let currents: Vec<f32> = (0..=1200).map(|k| k as f32 * 0.05).collect();
    let rates = f_i_curve(&currents)?;
    let first = |pred: &dyn Fn(f64) -> bool| rates.iter().position(|&r| pred(r));
    // The largest current that stays silent: drive 0 must not fire.
    let i0 = first(&|r| r > 0.0).expect("a regular-spiking neuron fires for currents up to 60") - 1;
    let i1 = first(&|r| r >= MAX_RATE).expect("a regular-spiking neuron reaches 100 Hz by 60");
    let gain = IzhikevichGain {
        rheobase: currents[i0],
        current_per_drive: currents[i1] - currents[i0],
        max_rate: MAX_RATE,
    };
    Ok(*GAIN.get_or_init(|| gain))
}
