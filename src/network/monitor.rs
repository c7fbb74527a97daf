//! Monitors: what a run records.

use super::{Network, PopulationId};
use crate::error::{Error, Result};

/// A state variable a [`StateMonitor`] can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StateVar {
    /// Membrane potential.
    V,
    /// Izhikevich recovery variable.
    U,
    /// The variable of port k, counting the ports with a variable (exponential and conductance)
    /// only.
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

/// A spike monitor of a network, returned by [`Network::monitor_spikes`]: the kind of monitor is
/// in the type, so asking for the wrong kind does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpikeMonitorId(u32);

/// A state monitor, returned by [`Network::monitor_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateMonitorId(u32);

/// A rate monitor, returned by [`Network::monitor_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateMonitorId(u32);

impl Network {
    /// Records the spikes of `pop` (all neurons, or the listed ones).
    pub fn monitor_spikes(
        &mut self,
        pop: PopulationId,
        only: Option<Vec<u32>>,
    ) -> Result<SpikeMonitorId> {
        let p = self.pop_index(pop)?;
        let only = match only {
            Some(mut list) => {
                self.check_neurons(p, &list)?;
                list.sort_unstable();
                Some(list)
            }
            None => None,
        };
        self.spike_monitors.push(SpikeMonitor {
            pop,
            only,
            events: Vec::new(),
        });
        Ok(SpikeMonitorId(self.spike_monitors.len() as u32 - 1))
    }

    /// Records `var` of the listed neurons of `pop` every `every` steps (after the update).
    pub fn monitor_state(
        &mut self,
        pop: PopulationId,
        var: StateVar,
        neurons: Vec<u32>,
        every: u64,
    ) -> Result<StateMonitorId> {
        let p = self.pop_index(pop)?;
        self.check_neurons(p, &neurons)?;
        if every == 0 {
            return Err(Error::param("state monitor: every", 0, "at least 1 step"));
        }
        if let Some(&i) = neurons.first() {
            self.read_var(p, var, i as usize)?;
        }
        self.state_monitors.push(StateMonitor {
            pop,
            var,
            neurons,
            every,
            steps: Vec::new(),
            values: Vec::new(),
        });
        Ok(StateMonitorId(self.state_monitors.len() as u32 - 1))
    }

    /// Counts the spikes of `pop` in every step.
    pub fn monitor_rate(&mut self, pop: PopulationId) -> Result<RateMonitorId> {
        let p = self.pop_index(pop)?;
        self.rate_monitors.push(RateMonitor {
            pop,
            n: self.pops[p].n,
            dt_ms: self.dt.ms(),
            counts: Vec::new(),
        });
        Ok(RateMonitorId(self.rate_monitors.len() as u32 - 1))
    }

    pub(super) fn check_neurons(&self, p: usize, list: &[u32]) -> Result<()> {
        let n = self.pops[p].n;
        match list.iter().find(|&&i| i as usize >= n) {
            Some(&i) => Err(Error::IndexOutOfRange {
                what: format!("monitored neuron of '{}'", self.pops[p].name),
                index: i as usize,
                len: n,
            }),
            None => Ok(()),
        }
    }

    /// The spike monitor `id` (an id this network returned).
    pub fn spike_monitor(&self, id: SpikeMonitorId) -> &SpikeMonitor {
        &self.spike_monitors[id.0 as usize]
    }

    /// The state monitor `id` (an id this network returned).
    pub fn state_monitor(&self, id: StateMonitorId) -> &StateMonitor {
        &self.state_monitors[id.0 as usize]
    }

    /// The rate monitor `id` (an id this network returned).
    pub fn rate_monitor(&self, id: RateMonitorId) -> &RateMonitor {
        &self.rate_monitors[id.0 as usize]
    }

    /// Number of spike monitors.
    pub fn n_spike_monitors(&self) -> usize {
        self.spike_monitors.len()
    }

    /// The population the k-th spike monitor (in the order they were added) records.
    pub fn spike_monitor_population(&self, k: usize) -> PopulationId {
        self.spike_monitors[k].pop
    }

    /// Number of state monitors.
    pub fn n_state_monitors(&self) -> usize {
        self.state_monitors.len()
    }

    /// The k-th state monitor's population, variable name (`v`, `u`, `syn0`, …), neurons and
    /// sampling interval in steps.
    pub fn state_monitor_layout(&self, k: usize) -> (PopulationId, String, &[u32], u64) {
        let m = &self.state_monitors[k];
        let var = match m.var {
            StateVar::V => "v".to_string(),
            StateVar::U => "u".to_string(),
            StateVar::Syn(j) => format!("syn{j}"),
        };
        (m.pop, var, &m.neurons, m.every)
    }

    /// Every spike monitor, in the order they were added (for writers that drain them).
    pub(crate) fn spike_monitors_mut(&mut self) -> &mut [SpikeMonitor] {
        &mut self.spike_monitors
    }

    /// Every state monitor, in the order they were added.
    pub(crate) fn state_monitors_mut(&mut self) -> &mut [StateMonitor] {
        &mut self.state_monitors
    }

    pub(super) fn record(&mut self, p: usize, t: u64) {
        let id = PopulationId(p as u32);
        let spikes = &self.pops[p].spikes;
        for m in self.spike_monitors.iter_mut().filter(|m| m.pop == id) {
            match &m.only {
                None => m.events.extend(spikes.iter().map(|&i| (t, i))),
                Some(only) => m.events.extend(
                    spikes
                        .iter()
                        .filter(|i| only.binary_search(i).is_ok())
                        .map(|&i| (t, i)),
                ),
            }
        }
        let n_fired = self.pops[p].n_fired() as u32;
        for m in self.rate_monitors.iter_mut().filter(|m| m.pop == id) {
            m.counts.push(n_fired);
        }
        let mut monitors = std::mem::take(&mut self.state_monitors);
        for m in monitors
            .iter_mut()
            .filter(|m| m.pop == id && t.is_multiple_of(m.every))
        {
            m.steps.push(t);
            for &i in &m.neurons {
                m.values.push(
                    self.read_var(p, m.var, i as usize)
                        .expect("variable checked when the monitor was added"),
                );
            }
        }
        self.state_monitors = monitors;
    }
}
