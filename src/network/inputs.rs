//! Inputs: Poisson and spike-array sources, spikes injected from outside, and external currents
//! (constant, stepped, per neuron, with noise).

use std::ops::Range;

use super::population::{BlockState, Dynamics};
use super::{Network, NoiseCurrent, PopulationId, Target};
use crate::error::{Error, Result};

/// A change of the external current of some neurons at a step.
#[derive(Debug, Clone)]
pub(super) struct CurrentChange {
    step: u64,
    pop: usize,
    neurons: Range<u32>,
    /// One value for every neuron of the range, or one per neuron.
    values: Vec<f32>,
}

impl CurrentChange {
    fn value(&self, k: usize) -> f32 {
        if self.values.len() == 1 {
            self.values[0]
        } else {
            self.values[k]
        }
    }
}

impl Network {
    /// Adds `n` independent Poisson spike sources firing at `rate_hz` (a Bernoulli draw per step
    /// with probability rate·dt).
    pub fn add_poisson(&mut self, name: &str, n: usize, rate_hz: f64) -> Result<PopulationId> {
        crate::error::finite(&format!("{name}: rate_hz"), rate_hz)?;
        let p = rate_hz * self.dt.ms() * 1e-3;
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::param(
                format!("{name}: rate_hz"),
                rate_hz,
                format!(
                    "in [0, {}] Hz for dt = {} ms",
                    1000.0 / self.dt.ms(),
                    self.dt.ms()
                ),
            ));
        }
        self.push_population(name, n, Vec::new(), Dynamics::Poisson { p }, |_| {
            BlockState::Stateless
        })
    }

    /// Adds `n` sources of which, every step, `k` drawn uniformly with replacement fire (one
    /// drawn twice fires once): random input that reaches a fixed number of neurons per step,
    /// such as the one neuron per millisecond that receives 20 mV in Izhikevich's (2006)
    /// polychronization network.
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..Default::default() }).unwrap();
    /// let src = net.add_random_pick("thalamus", 1000, 1).unwrap();
    /// net.run(100).unwrap();
    /// assert_eq!(net.population(src).spike_count(), 100);
    /// ```
    pub fn add_random_pick(&mut self, name: &str, n: usize, k: u32) -> Result<PopulationId> {
        if n > u32::MAX as usize {
            return Err(Error::param(
                format!("{name}: n"),
                n,
                format!("at most {}", u32::MAX),
            ));
        }
        self.push_population(
            name,
            n,
            Vec::new(),
            Dynamics::RandomPick { k, n: n as u32 },
            |_| BlockState::Stateless,
        )
    }

    /// Adds one source per entry of `times_ms`, emitting a spike at each listed time (whole steps).
    pub fn add_spike_source(&mut self, name: &str, times_ms: &[Vec<f64>]) -> Result<PopulationId> {
        let mut events = Vec::new();
        for (i, times) in times_ms.iter().enumerate() {
            // Named once per neuron, not per spike time.
            let what = format!("{name}: spike time of neuron {i}");
            for &t in times {
                events.push((self.dt.steps_exact(&what, t)? as u64, i as u32));
            }
        }
        events.sort_unstable();
        events.dedup();
        self.push_population(
            name,
            times_ms.len(),
            Vec::new(),
            Dynamics::SpikeArray,
            |r| BlockState::SpikeArray {
                events: events
                    .iter()
                    .copied()
                    .filter(|e| r.contains(&(e.1 as usize)))
                    .collect(),
                next: 0,
            },
        )
    }

    /// Adds `n` sources whose spikes are handed in from outside, step by step, with
    /// [`Network::inject_spikes`]: the input of a job that draws its own spike patterns (the
    /// masked, per-step Bernoulli input of sleep replay, for one).
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let mut net = Network::new(NetworkConfig::default()).unwrap();
    /// let src = net.add_external_source("input", 4).unwrap();
    /// net.inject_spikes(src, &[3, 1]).unwrap();
    /// net.step();
    /// assert_eq!(net.population(src).last_spikes(), &[1, 3]);
    /// net.step(); // nothing injected: silent
    /// assert!(net.population(src).last_spikes().is_empty());
    /// ```
    pub fn add_external_source(&mut self, name: &str, n: usize) -> Result<PopulationId> {
        self.push_population(name, n, Vec::new(), Dynamics::External, |_| {
            BlockState::External {
                pending: Vec::new(),
            }
        })
    }

    /// Makes neurons `spikes` (any order, repeats ignored) of the external source `pop` fire at the
    /// next step, replacing what was injected before and not yet emitted. Injected spikes do not
    /// survive [`Network::reset`].
    pub fn inject_spikes(&mut self, pop: PopulationId, spikes: &[u32]) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        if !matches!(pop.dynamics, Dynamics::External) {
            return Err(Error::Unsupported(format!(
                "population '{}' is not an external source (add it with add_external_source)",
                pop.name
            )));
        }
        if let Some(&i) = spikes.iter().find(|&&i| i as usize >= pop.n) {
            return Err(Error::IndexOutOfRange {
                what: format!("injected spike of '{}'", pop.name),
                index: i as usize,
                len: pop.n,
            });
        }
        for blk in &mut pop.blocks {
            if let BlockState::External { pending } = &mut blk.state {
                pending.clear();
            }
        }
        let mut sorted = spikes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        for i in sorted {
            let b = i as usize / pop.block_size;
            if let BlockState::External { pending } = &mut pop.blocks[b].state {
                pending.push(i);
            }
        }
        Ok(())
    }

    /// Sets a constant external current for `target` (a population, or a range of its neurons
    /// from [`PopulationId::range`]) in the units of the model: mV for LIF, mV/ms for IF, the
    /// model's current for Izhikevich.
    pub fn set_current(&mut self, target: impl Into<Target>, value: f32) -> Result<()> {
        self.add_stepped_current(target, &[(0.0, value)])
    }

    /// A current that takes `value` from time `t_ms` on, for each `(t_ms, value)` (whole steps).
    pub fn add_stepped_current(
        &mut self,
        target: impl Into<Target>,
        steps: &[(f64, f32)],
    ) -> Result<()> {
        let (p, r) = self.resolve(&target.into(), "current input")?;
        if self.pops[p].is_source() {
            return Err(Error::Unsupported(format!(
                "population '{}' is a spike source and takes no current",
                self.pops[p].name
            )));
        }
        for &(t_ms, value) in steps {
            crate::error::finite("current value", value as f64)?;
            let step = self.dt.steps_exact("current step time", t_ms)? as u64;
            if step < self.t {
                return Err(Error::param("current step time", t_ms, "not in the past"));
            }
            self.changes.push(CurrentChange {
                step,
                pop: p,
                neurons: r.clone(),
                values: vec![value],
            });
        }
        // Stable: changes at the same step apply in the order they were given.
        self.changes[self.next_change..].sort_by_key(|c| c.step);
        for blk in &mut self.pops[p].blocks {
            blk.i_ext.get_or_insert_with(|| vec![0.0; blk.len]);
        }
        Ok(())
    }

    /// The external current every neuron of `pop` receives from the first step on, when it
    /// never changes during the run (`None`: no current). A current that changes later (stepped
    /// currents) is an error naming the population: exporters that take one constant current
    /// per neuron cannot carry it.
    pub fn constant_currents(&self, pop: PopulationId) -> Result<Option<Vec<f32>>> {
        let p = self.pop_index(pop)?;
        let mine: Vec<&CurrentChange> = self.changes.iter().filter(|c| c.pop == p).collect();
        if mine.is_empty() {
            return Ok(None);
        }
        if let Some(c) = mine.iter().find(|c| c.step != 0) {
            return Err(Error::Unsupported(format!(
                "population '{}': its current changes at step {} (a stepped current), not one \
                 constant current",
                self.pops[p].name, c.step
            )));
        }
        let mut out = vec![0.0; self.pops[p].n];
        for c in mine {
            for (k, i) in c.neurons.clone().enumerate() {
                out[i as usize] = c.value(k);
            }
        }
        Ok(Some(out))
    }

    /// A constant current per neuron of `pop` from step 0 on (one value per neuron), re-applied
    /// after every [`Network::reset`] (a bias).
    pub fn set_constant_currents(&mut self, pop: PopulationId, values: &[f32]) -> Result<()> {
        let p = self.pop_index(pop)?;
        self.check_not_started("constant currents")?;
        let n = self.pops[p].n;
        if values.len() != n {
            return Err(Error::SizeMismatch {
                what: format!("population '{}': constant currents", self.pops[p].name),
                expected: n,
                got: values.len(),
            });
        }
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            return Err(Error::param(
                format!("population '{}': current[{i}]", self.pops[p].name),
                values[i],
                "a finite number",
            ));
        }
        self.add_stepped_current(pop, &[(0.0, 0.0)])?;
        let last = self
            .changes
            .iter_mut()
            .rev()
            .find(|c| c.pop == p && c.step == 0)
            .expect("just added");
        last.values = values.to_vec();
        Ok(())
    }

    /// Sets the external current of every neuron of `pop` now (one value per neuron), replacing
    /// what was there; unlike scheduled currents it is not re-applied after [`Network::reset`]
    /// (a per-sample input is set again for every sample).
    pub fn set_currents(&mut self, pop: PopulationId, values: &[f32]) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        if pop.is_source() {
            return Err(Error::Unsupported(format!(
                "population '{}' is a spike source and takes no current",
                pop.name
            )));
        }
        if values.len() != pop.n {
            return Err(Error::SizeMismatch {
                what: format!("population '{}': currents", pop.name),
                expected: pop.n,
                got: values.len(),
            });
        }
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            return Err(Error::param(
                format!("population '{}': current[{i}]", pop.name),
                values[i],
                "a finite number",
            ));
        }
        for blk in &mut pop.blocks {
            let src = &values[blk.start as usize..blk.start as usize + blk.len];
            blk.i_ext
                .get_or_insert_with(|| vec![0.0; blk.len])
                .copy_from_slice(src);
        }
        Ok(())
    }

    /// Adds a Gaussian noise current `mean + std·N(0,1)`, drawn every step for every neuron of `pop`.
    pub fn set_noise(&mut self, pop: PopulationId, noise: NoiseCurrent) -> Result<()> {
        let p = self.pop_index(pop)?;
        crate::error::finite("noise.mean", noise.mean as f64)?;
        if !(noise.std.is_finite() && noise.std >= 0.0) {
            return Err(Error::param("noise.std", noise.std, "a finite number >= 0"));
        }
        if self.pops[p].is_source() {
            return Err(Error::Unsupported(format!(
                "population '{}' is a spike source and takes no current",
                self.pops[p].name
            )));
        }
        self.pops[p].noise = Some(noise);
        Ok(())
    }

    pub(super) fn apply_current_changes(&mut self, t: u64) {
        while self.next_change < self.changes.len() && self.changes[self.next_change].step <= t {
            let c = &self.changes[self.next_change];
            let pop = &mut self.pops[c.pop];
            for (k, i) in c.neurons.clone().enumerate() {
                let (b, j) = pop.locate(i as usize);
                if let Some(ext) = &mut pop.blocks[b].i_ext {
                    ext[j] = c.value(k);
                }
            }
            self.next_change += 1;
        }
    }
}
