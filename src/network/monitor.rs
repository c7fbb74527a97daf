//! Monitors: what a run records.

use super::PopulationId;

/// A state variable a [`StateMonitor`] can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StateVar {
    /// Membrane potential.
    V,
    /// Izhikevich recovery variable.
    U,
    /// The variable of exponential port k (counting exponential ports only).
    Syn(usize),
}

/// Records every spike of a population (or of chosen neurons).
#[derive(Debug, Clone)]
pub struct SpikeMonitor {
    pub(crate) pop: PopulationId,
    /// Sorted neurons to keep; `None` keeps all.
    pub(crate) only: Option<Vec<u32>>,
    /// (step, neuron) in the order they happened.
    pub events: Vec<(u64, u32)>,
}

/// Samples state variables of chosen neurons every `every` steps (after the update).
#[derive(Debug, Clone)]
pub struct StateMonitor {
    pub(crate) pop: PopulationId,
    /// The variable.
    pub var: StateVar,
    /// The neurons, in sample order.
    pub neurons: Vec<u32>,
    pub(crate) every: u64,
    /// The steps sampled.
    pub steps: Vec<u64>,
    /// Samples, step-major: `values[s * neurons.len() + k]`.
    pub values: Vec<f32>,
}

impl StateMonitor {
    /// The trace of the k-th monitored neuron.
    pub fn trace(&self, k: usize) -> Vec<f32> {
        self.values
            .iter()
            .skip(k)
            .step_by(self.neurons.len().max(1))
            .copied()
            .collect()
    }
}

/// Counts a population's spikes in every step.
#[derive(Debug, Clone)]
pub struct RateMonitor {
    pub(crate) pop: PopulationId,
    pub(crate) n: usize,
    pub(crate) dt_ms: f64,
    /// Spikes per step.
    pub counts: Vec<u32>,
}

impl RateMonitor {
    /// Population rate in Hz per step.
    pub fn rate_hz(&self) -> Vec<f64> {
        self.counts
            .iter()
            .map(|&c| c as f64 / (self.n as f64 * self.dt_ms * 1e-3))
            .collect()
    }

    /// Mean rate over the recorded steps (Hz).
    pub fn mean_rate_hz(&self) -> f64 {
        let total: u64 = self.counts.iter().map(|&c| c as u64).sum();
        total as f64 / (self.n as f64 * self.counts.len().max(1) as f64 * self.dt_ms * 1e-3)
    }
}

/// Handles to monitors, returned when they are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorId {
    /// A [`SpikeMonitor`].
    Spikes(usize),
    /// A [`StateMonitor`].
    State(usize),
    /// A [`RateMonitor`].
    Rate(usize),
}
