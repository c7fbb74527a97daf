//! Reading and setting neuron state: membrane potentials, Izhikevich's recovery variable and the
//! exponential ports' variables.

use super::monitor::StateVar;
use super::population::{BlockState, Dynamics};
use super::{Network, PopulationId};
use crate::error::{Error, Result};
use crate::neuron::SpikeTest;
use crate::rng::{stream, uniform01, Purpose};
use rand_distr::Distribution;

impl Network {
    /// Sets the membrane potential of every neuron of `pop` (one value per neuron).
    pub fn set_v(&mut self, pop: PopulationId, values: &[f32]) -> Result<()> {
        self.set_state(pop, StateVar::V, values)
    }

    /// Sets a state variable of every neuron of `pop` (one value per neuron).
    pub fn set_state(&mut self, pop: PopulationId, var: StateVar, values: &[f32]) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        if values.len() != pop.n {
            return Err(Error::SizeMismatch {
                what: format!("population '{}': initial {var:?}", pop.name),
                expected: pop.n,
                got: values.len(),
            });
        }
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            return Err(Error::param(
                format!("population '{}': {var:?}[{i}]", pop.name),
                values[i],
                "a finite number",
            ));
        }
        let name = pop.name.clone();
        for blk in &mut pop.blocks {
            let src = &values[blk.start as usize..blk.start as usize + blk.len];
            let dst = match (&mut blk.state, var) {
                (BlockState::Integrate { v, .. }, StateVar::V)
                | (BlockState::Izhikevich { v, .. }, StateVar::V) => v,
                (BlockState::Izhikevich { u, .. }, StateVar::U) => u,
                (_, StateVar::Syn(k)) if k < blk.syn.len() => &mut blk.syn[k],
                _ => {
                    return Err(Error::Unsupported(format!(
                        "population '{name}' has no state variable {var:?}"
                    )))
                }
            };
            dst.copy_from_slice(src);
        }
        Ok(())
    }

    /// The spike test of an IF or LIF population (other models have none: `AtLeast`).
    pub fn spike_test(&self, pop: PopulationId) -> Result<SpikeTest> {
        let p = self.pop_index(pop)?;
        Ok(match &self.pops[p].dynamics {
            Dynamics::Iaf(prop) => prop.spike_test,
            Dynamics::Lif(prop) => prop.spike_test,
            _ => SpikeTest::AtLeast,
        })
    }

    /// Makes the IF neurons of `pop` memoryless: each step their membrane is their rest plus that
    /// step's input alone, then compared with the threshold (a stateless threshold unit, NIR's
    /// Threshold primitive).
    pub fn set_memoryless(&mut self, pop: PopulationId, memoryless: bool) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        match &mut pop.dynamics {
            Dynamics::Iaf(prop) => prop.memoryless = memoryless,
            _ => {
                return Err(Error::Unsupported(format!(
                    "population '{}': only IF neurons can be memoryless",
                    pop.name
                )))
            }
        }
        Ok(())
    }

    /// Sets how the neurons of `pop` compare their membrane with the threshold (IF and LIF
    /// populations; the default is `v ≥ θ`).
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// use somnet::neuron::{IafParams, NeuronModel, Port, SpikeTest};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..Default::default() }).unwrap();
    /// let p = net.add_population("p", 1, NeuronModel::Iaf(IafParams::default()), vec![Port::Delta]).unwrap();
    /// net.set_spike_test(p, SpikeTest::Above).unwrap();
    /// net.set_current(p, 0.5).unwrap();
    /// net.run(2).unwrap(); // v reaches exactly θ = 1 at the second step: not above it
    /// assert_eq!(net.population(p).spike_count(), 0);
    /// ```
    pub fn set_spike_test(&mut self, pop: PopulationId, test: SpikeTest) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        match &mut pop.dynamics {
            Dynamics::Iaf(prop) => prop.spike_test = test,
            Dynamics::Lif(prop) => prop.spike_test = test,
            _ => {
                return Err(Error::Unsupported(format!(
                    "population '{}': only IF and LIF neurons take a spike test",
                    pop.name
                )))
            }
        }
        Ok(())
    }

    /// Sets how the membranes of a LIF population with conductance ports are integrated
    /// (exponential Euler by default; [`crate::neuron::conductance`]).
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// use somnet::neuron::{conductance::ConductanceScheme, LifParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 0.1, ..Default::default() }).unwrap();
    /// let port = Port::Conductance { tau_ms: 5.0, e_rev_mv: 0.0 };
    /// let p = net.add_population("p", 1, NeuronModel::Lif(LifParams::default()), vec![port]).unwrap();
    /// net.set_conductance_scheme(p, ConductanceScheme::ForwardEuler).unwrap();
    /// ```
    pub fn set_conductance_scheme(
        &mut self,
        pop: PopulationId,
        scheme: crate::neuron::conductance::ConductanceScheme,
    ) -> Result<()> {
        let p = self.pop_index(pop)?;
        let pop = &mut self.pops[p];
        match &mut pop.dynamics {
            Dynamics::Lif(crate::neuron::LifPropagator {
                conductance: Some(c),
                ..
            }) => c.scheme = scheme,
            _ => {
                return Err(Error::Unsupported(format!(
                    "population '{}': an integration scheme for conductances needs LIF neurons \
                     with a conductance port",
                    pop.name
                )))
            }
        }
        Ok(())
    }

    /// Draws the membrane potential of every neuron of `pop` uniformly in [low, high), from the
    /// stream (seed, initial state, pop).
    pub fn set_v_uniform(&mut self, pop: PopulationId, low: f32, high: f32) -> Result<()> {
        let p = self.pop_index(pop)?;
        let mut rng = stream(self.config.seed, Purpose::InitialState, p as u64, 0, 0);
        let values: Vec<f32> = (0..self.pops[p].n)
            .map(|_| low + (high - low) * uniform01(&mut rng) as f32)
            .collect();
        self.set_v(pop, &values)
    }

    /// Draws a state variable of every neuron of `pop` from the normal distribution
    /// N(`mean`, `std`²), from the stream (seed, initial state, pop, variable): the membrane's
    /// uniform draw ([`Network::set_v_uniform`]) and each variable's normal draw are independent.
    pub fn set_state_normal(
        &mut self,
        pop: PopulationId,
        var: StateVar,
        mean: f32,
        std: f32,
    ) -> Result<()> {
        let p = self.pop_index(pop)?;
        crate::error::finite("initial state mean", mean as f64)?;
        if !(std >= 0.0 && std.is_finite()) {
            return Err(Error::param("initial state std", std, "finite and >= 0"));
        }
        let chunk = match var {
            StateVar::V => 1,
            StateVar::U => 2,
            StateVar::Syn(k) => 3 + k as u64,
        };
        let mut rng = stream(self.config.seed, Purpose::InitialState, p as u64, chunk, 0);
        let values: Vec<f32> = (0..self.pops[p].n)
            .map(|_| {
                let z: f64 = rand_distr::StandardNormal.sample(&mut rng);
                mean + std * z as f32
            })
            .collect();
        self.set_state(pop, var, &values)
    }

    /// Reads a state variable of every neuron of `pop`.
    pub fn state(&self, pop: PopulationId, var: StateVar) -> Result<Vec<f32>> {
        let p = self.pop_index(pop)?;
        let pop = &self.pops[p];
        (0..pop.n).map(|i| self.read_var(p, var, i)).collect()
    }

    pub(super) fn read_var(&self, p: usize, var: StateVar, i: usize) -> Result<f32> {
        let pop = &self.pops[p];
        let (b, k) = pop.locate(i);
        let blk = &pop.blocks[b];
        match (&blk.state, var) {
            (BlockState::Integrate { v, .. }, StateVar::V)
            | (BlockState::Izhikevich { v, .. }, StateVar::V) => Ok(v[k]),
            (BlockState::Izhikevich { u, .. }, StateVar::U) => Ok(u[k]),
            (_, StateVar::Syn(s)) if s < blk.syn.len() => Ok(blk.syn[s][k]),
            _ => Err(Error::Unsupported(format!(
                "population '{}' has no state variable {var:?}",
                pop.name
            ))),
        }
    }
}
