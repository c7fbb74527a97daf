//! Networks: populations connected by projections, run on a clock with event-driven delivery.
//!
//! # The time step
//!
//! This is the one place where the schedule is written down. For every step t, populations are
//! visited in the order they were added (the *schedule*), and for each population p:
//!
//! 1. **Inputs** due at t are applied: stepped currents change, the noise current and Poisson or
//!    spike-array sources draw/emit this step's spikes (from the stream of (seed, p, block, t)).
//! 2. **Integrate, threshold, reset, refractory**: every neuron takes its input for t — its delay
//!    ring's slot for t, which holds spikes sent earlier with delay ≥ 1 *and* spikes sent in this
//!    same step with delay 0 by populations earlier in the schedule — and advances (see
//!    [`crate::neuron`]).
//! 3. **Deliver**: p's spikes go through its outgoing projections. Delay d ≥ 1 adds into slot
//!    t + d of the target; delay 0 adds into slot t of a population *later* in the schedule, which
//!    then sees them in its own step 2 of this step (so a feed-forward chain propagates a spike
//!    through all its layers in one step). Delay-0 projections backwards or onto p itself are
//!    refused when they are made.
//! 4. **Plasticity** on every plastic projection whose post-population is p (with this step's post
//!    spikes and the pre-population's latest spikes), then **monitors and counters**.
//!
//! Brian2's default "synapses act on the next step" is delay 1 here.
//!
//! # Parallelism and determinism
//!
//! Populations are split into blocks whose size depends only on the population size. Updates run
//! block-parallel; delivery runs parallel over the *target's* blocks, and each block adds spikes in
//! increasing pre order, projection by projection, so each neuron sums its input in one fixed order.
//! Random numbers come from streams named by (seed, purpose, population, block, step). The same seed
//! therefore gives bit-identical spikes on any number of threads. Work runs on the current rayon
//! pool; install one with [`rayon::ThreadPool::install`] to choose the thread count.
//!
//! ```
//! use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
//! use somnet::neuron::{LifParams, NeuronModel, Port};
//!
//! let mut net = Network::new(NetworkConfig { dt_ms: 0.1, seed: 1, ..Default::default() }).unwrap();
//! let input = net.add_poisson("input", 100, 20.0).unwrap();
//! let lif = net.add_population("lif", 10, NeuronModel::Lif(LifParams::default()),
//!                              vec![Port::Exponential { tau_ms: 5.0 }]).unwrap();
//! net.connect(input, lif, Connection::new(Connector::FixedProbability(0.5), Weights::Constant(2.0))
//!     .delay(Delay::Ms(1.0))).unwrap();
//! let spikes = net.monitor_spikes(lif, None).unwrap();
//! net.run(1000).unwrap();
//! println!("{} spikes", net.spike_monitor(spikes).events.len());
//! ```

pub mod connector;
pub mod delay;
pub mod monitor;
pub mod plasticity;
pub mod population;
pub mod projection;

use std::ops::{ControlFlow, Range};

use rayon::prelude::*;

pub use connector::{Connector, Delay, Weights};
pub use monitor::{MonitorId, RateMonitor, SpikeMonitor, StateMonitor, StateVar};
pub use plasticity::{Plasticity, StepSpikes, SynapsesMut};
pub use population::NoiseCurrent;
pub use projection::Projection;
pub use projection::{Conv2dGeometry, ImageLayout};

use crate::error::{Error, Result};
use crate::neuron::{NeuronModel, Port};
use crate::rng::{stream, uniform01, Purpose};
use crate::time::Dt;
use delay::Ring;
use population::{block_size_for, Block, BlockState, Dynamics, StepContext};
use projection::{block_offsets, Csr, MaxGate, Storage};

/// A population's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PopulationId(pub u32);

/// A projection's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectionId(pub u32);

impl PopulationId {
    /// The neurons `range` of this population, as a projection end.
    pub fn range(self, range: Range<u32>) -> Target {
        Target {
            pop: self,
            range: Some(range),
        }
    }
}

/// One end of a projection: a population, or a contiguous range of its neurons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The population.
    pub pop: PopulationId,
    /// The neurons; `None` is all of them.
    pub range: Option<Range<u32>>,
}

impl From<PopulationId> for Target {
    fn from(pop: PopulationId) -> Self {
        Target { pop, range: None }
    }
}

/// Simulation-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Time step (ms).
    pub dt_ms: f64,
    /// Seed of every random stream.
    pub seed: u64,
    /// Longest delay a projection may have (ms; at most 65 535 steps); bounds the ring buffers.
    pub max_delay_ms: f64,
}

impl Default for NetworkConfig {
    /// dt 0.1 ms, seed 0, delays up to 100 ms.
    fn default() -> Self {
        NetworkConfig {
            dt_ms: 0.1,
            seed: 0,
            max_delay_ms: 100.0,
        }
    }
}

/// How a projection is made (see [`Network::connect`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Which synapses exist.
    pub connector: Connector,
    /// Their weights.
    pub weights: Weights,
    /// Their delays (default: 1 step).
    pub delay: Delay,
    /// Receptor port of the post population (default 0).
    pub port: usize,
    /// Whether a neuron may connect to itself when the ranges overlap (default true).
    pub autapses: bool,
    /// A name for errors and reports (default `pre->post`).
    pub name: Option<String>,
}

impl Connection {
    /// A connection with delay 1 step, port 0, autapses allowed.
    pub fn new(connector: Connector, weights: Weights) -> Self {
        Connection {
            connector,
            weights,
            delay: Delay::Steps(1),
            port: 0,
            autapses: true,
            name: None,
        }
    }
    /// Sets the delay.
    pub fn delay(mut self, delay: Delay) -> Self {
        self.delay = delay;
        self
    }
    /// Sets the receptor port.
    pub fn port(mut self, port: usize) -> Self {
        self.port = port;
        self
    }
    /// Excludes synapses from a neuron onto itself.
    pub fn no_autapses(mut self) -> Self {
        self.autapses = false;
        self
    }
    /// Names the projection.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A population: its dynamics, ports and blocks.
#[derive(Debug)]
pub struct Population {
    name: String,
    n: usize,
    ports: Vec<Port>,
    dynamics: Dynamics,
    block_size: usize,
    blocks: Vec<Block>,
    noise: Option<NoiseCurrent>,
    /// This step's spikes, increasing.
    spikes: Vec<u32>,
    spike_count: u64,
    /// Index of the population's first neuron among all neurons of the network.
    global_offset: u64,
}

impl Population {
    /// The population's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of neurons.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Whether the population is empty (never: zero-sized populations are refused).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Spikes emitted so far.
    pub fn spike_count(&self) -> u64 {
        self.spike_count
    }
    /// Spikes of the last step, increasing.
    pub fn last_spikes(&self) -> &[u32] {
        &self.spikes
    }
    fn is_source(&self) -> bool {
        matches!(
            self.dynamics,
            Dynamics::Poisson { .. } | Dynamics::SpikeArray | Dynamics::External
        )
    }
    fn locate(&self, i: usize) -> (usize, usize) {
        (i / self.block_size, i % self.block_size)
    }
}

/// A change of the external current of some neurons at a step.
#[derive(Debug, Clone)]
struct CurrentChange {
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

/// A spiking network (see the module docs for the schedule).
pub struct Network {
    config: NetworkConfig,
    dt: Dt,
    max_delay_steps: u32,
    pops: Vec<Population>,
    projs: Vec<Projection>,
    /// For each population: its outgoing projections grouped by target population.
    out_by_post: Vec<Vec<(usize, Vec<usize>)>>,
    /// For each population: plastic projections onto it.
    plastic_into: Vec<Vec<usize>>,
    /// Per projection: this step's spikes in local pre indices.
    local_spikes: Vec<Vec<u32>>,
    changes: Vec<CurrentChange>,
    next_change: usize,
    spike_monitors: Vec<SpikeMonitor>,
    state_monitors: Vec<StateMonitor>,
    rate_monitors: Vec<RateMonitor>,
    t: u64,
    digest: u64,
    /// Every block's state as it was when the first step began (see [`Network::reset`]).
    initial: Option<Vec<Vec<BlockState>>>,
    /// Whether a step may split its blocks over the thread pool.
    parallel: bool,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("populations", &self.pops.len())
            .field("projections", &self.projs.len())
            .field("step", &self.t)
            .finish()
    }
}

impl Network {
    /// An empty network.
    pub fn new(config: NetworkConfig) -> Result<Network> {
        let dt = Dt::new(config.dt_ms)?;
        if !(config.max_delay_ms.is_finite() && config.max_delay_ms >= 0.0) {
            return Err(Error::param(
                "max_delay_ms",
                config.max_delay_ms,
                "a finite duration >= 0 ms",
            ));
        }
        // Per-synapse delays are stored in 16 bits.
        let max_delay_steps = (config.max_delay_ms / config.dt_ms + 1e-9)
            .floor()
            .min(u16::MAX as f64) as u32;
        Ok(Network {
            config,
            dt,
            max_delay_steps,
            pops: Vec::new(),
            projs: Vec::new(),
            out_by_post: Vec::new(),
            plastic_into: Vec::new(),
            local_spikes: Vec::new(),
            changes: Vec::new(),
            next_change: 0,
            spike_monitors: Vec::new(),
            state_monitors: Vec::new(),
            rate_monitors: Vec::new(),
            t: 0,
            digest: DIGEST_START,
            initial: None,
            parallel: true,
        })
    }

    /// Whether a step splits its work over the rayon pool's threads (by neuron block; the default
    /// when the pool has more than one thread). Turn it off where the parallelism lies outside the
    /// network, e.g. one network per thread each running its own samples: fanning each step's
    /// few blocks out again only adds synchronisation. Results are the same either way.
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let mut net = Network::new(NetworkConfig::default()).unwrap();
    /// net.set_parallel(false);
    /// net.run(10).unwrap();
    /// ```
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    /// The time step.
    pub fn dt(&self) -> Dt {
        self.dt
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Steps simulated so far.
    pub fn current_step(&self) -> u64 {
        self.t
    }

    /// A hash of every spike so far — per step and population the set of (step, neuron) pairs,
    /// neurons numbered across the network, steps in order: two runs with equal digests emitted
    /// the same spikes.
    pub fn spike_digest(&self) -> u64 {
        self.digest
    }

    /// The population `id`.
    pub fn population(&self, id: PopulationId) -> &Population {
        &self.pops[id.0 as usize]
    }

    /// All populations, in schedule order.
    pub fn populations(&self) -> &[Population] {
        &self.pops
    }

    /// The projection `id`.
    pub fn projection(&self, id: ProjectionId) -> &Projection {
        &self.projs[id.0 as usize]
    }

    /// The projection `id`, mutable (weights can be read and changed between steps).
    pub fn projection_mut(&mut self, id: ProjectionId) -> &mut Projection {
        &mut self.projs[id.0 as usize]
    }

    /// All projections, in the order they were made.
    pub fn projections(&self) -> &[Projection] {
        &self.projs
    }

    /// Total synapses.
    pub fn n_synapses(&self) -> u64 {
        self.projs.iter().map(Projection::n_synapses).sum()
    }

    /// Total synaptic events delivered (Σ spikes × out-degree).
    pub fn n_events(&self) -> u64 {
        self.projs.iter().map(|p| p.events).sum()
    }

    /// Total spikes of neuron populations (sources excluded).
    pub fn n_spikes(&self) -> u64 {
        self.pops
            .iter()
            .filter(|p| !p.is_source())
            .map(|p| p.spike_count)
            .sum()
    }

    /// Total neurons of neuron populations (sources excluded).
    pub fn n_neurons(&self) -> usize {
        self.pops
            .iter()
            .filter(|p| !p.is_source())
            .map(|p| p.n)
            .sum()
    }

    fn check_not_started(&self, what: &str) -> Result<()> {
        if self.t > 0 || self.initial.is_some() {
            return Err(Error::Unsupported(format!(
                "{what}: the network has already run; build it completely first"
            )));
        }
        Ok(())
    }

    fn push_population(
        &mut self,
        name: &str,
        n: usize,
        ports: Vec<Port>,
        dynamics: Dynamics,
        make_state: impl Fn(Range<usize>) -> BlockState,
    ) -> Result<PopulationId> {
        self.check_not_started(&format!("adding population '{name}'"))?;
        if n == 0 {
            return Err(Error::EmptyPopulation {
                name: name.to_string(),
            });
        }
        if n > u32::MAX as usize / 2 {
            return Err(Error::param(
                format!("population '{name}' size"),
                n,
                "at most 2^31 neurons",
            ));
        }
        let block_size = block_size_for(n);
        let n_exp = ports
            .iter()
            .filter(|p| matches!(p, Port::Exponential { .. }))
            .count();
        let blocks = (0..n.div_ceil(block_size))
            .map(|b| {
                let r = b * block_size..((b + 1) * block_size).min(n);
                let len = r.len();
                Block {
                    start: r.start as u32,
                    len,
                    state: make_state(r),
                    syn: vec![vec![0.0; len]; n_exp],
                    rings: (0..=n_exp).map(|_| Ring::new(len, 1)).collect(),
                    i_ext: None,
                    i_now: Vec::new(),
                    scratch: vec![0.0; len],
                    fired: vec![0; len],
                    spikes: Vec::new(),
                }
            })
            .collect();
        let global_offset = self.pops.iter().map(|p| p.n as u64).sum();
        self.pops.push(Population {
            name: name.to_string(),
            n,
            ports,
            dynamics,
            block_size,
            blocks,
            noise: None,
            spikes: Vec::new(),
            spike_count: 0,
            global_offset,
        });
        self.out_by_post.push(Vec::new());
        self.plastic_into.push(Vec::new());
        Ok(PopulationId(self.pops.len() as u32 - 1))
    }

    /// Adds `n` neurons of `model` with receptor `ports`; membranes start at rest (IF, LIF) or at
    /// v = −65 mV, u = b·v (Izhikevich 2003).
    pub fn add_population(
        &mut self,
        name: &str,
        n: usize,
        model: NeuronModel,
        ports: Vec<Port>,
    ) -> Result<PopulationId> {
        model.validate(&ports).map_err(|e| prefix(name, e))?;
        let dynamics = match &model {
            NeuronModel::Iaf(p) => {
                Dynamics::Iaf(crate::neuron::IafPropagator::new(p, &ports, self.dt)?)
            }
            NeuronModel::Lif(p) => {
                Dynamics::Lif(crate::neuron::LifPropagator::new(p, &ports, self.dt)?)
            }
            NeuronModel::Izhikevich(p) => {
                for (field, values) in [("a", &p.a), ("b", &p.b), ("c", &p.c), ("d", &p.d)] {
                    if values.len() != 1 && values.len() != n {
                        return Err(Error::SizeMismatch {
                            what: format!("population '{name}': izhikevich.{field}"),
                            expected: n,
                            got: values.len(),
                        });
                    }
                }
                Dynamics::Izhikevich(crate::neuron::IzhikevichPropagator::new(
                    p, &ports, self.dt,
                )?)
            }
        };
        let pick = crate::neuron::IzhikevichParams::pick;
        self.push_population(name, n, ports, dynamics, |r| match &model {
            NeuronModel::Iaf(p) => BlockState::Integrate {
                v: vec![p.v_rest_mv; r.len()],
                refractory_left: vec![0; r.len()],
            },
            NeuronModel::Lif(p) => BlockState::Integrate {
                v: vec![p.v_rest_mv; r.len()],
                refractory_left: vec![0; r.len()],
            },
            NeuronModel::Izhikevich(p) => {
                let per = |vals: &Vec<f32>| r.clone().map(|i| pick(vals, i)).collect::<Vec<f32>>();
                let b = per(&p.b);
                BlockState::Izhikevich {
                    v: vec![-65.0; r.len()],
                    u: b.iter().map(|b| b * -65.0).collect(),
                    a: per(&p.a),
                    b,
                    c: per(&p.c),
                    d: per(&p.d),
                }
            }
        })
    }

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
            BlockState::Poisson
        })
    }

    /// Adds one source per entry of `times_ms`, emitting a spike at each listed time (whole steps).
    pub fn add_spike_source(&mut self, name: &str, times_ms: &[Vec<f64>]) -> Result<PopulationId> {
        let mut events = Vec::new();
        for (i, times) in times_ms.iter().enumerate() {
            for &t in times {
                events.push((
                    self.dt
                        .steps_exact(&format!("{name}: spike time of neuron {i}"), t)?
                        as u64,
                    i as u32,
                ));
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

    fn proj_index(&self, id: ProjectionId) -> Result<usize> {
        let j = id.0 as usize;
        if j >= self.projs.len() {
            return Err(Error::IndexOutOfRange {
                what: "projection id".into(),
                index: j,
                len: self.projs.len(),
            });
        }
        Ok(j)
    }

    fn pop_index(&self, id: PopulationId) -> Result<usize> {
        let i = id.0 as usize;
        if i >= self.pops.len() {
            return Err(Error::IndexOutOfRange {
                what: "population id".into(),
                index: i,
                len: self.pops.len(),
            });
        }
        Ok(i)
    }

    fn resolve(&self, t: &Target, what: &str) -> Result<(usize, Range<u32>)> {
        let p = self.pop_index(t.pop)?;
        let n = self.pops[p].n as u32;
        let r = t.range.clone().unwrap_or(0..n);
        if r.start >= r.end || r.end > n {
            return Err(Error::IndexOutOfRange {
                what: format!(
                    "{what}: neuron range {}..{} of population '{}'",
                    r.start, r.end, self.pops[p].name
                ),
                index: r.end as usize,
                len: n as usize,
            });
        }
        Ok((p, r))
    }

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

    /// Reads a state variable of every neuron of `pop`.
    pub fn state(&self, pop: PopulationId, var: StateVar) -> Result<Vec<f32>> {
        let p = self.pop_index(pop)?;
        let pop = &self.pops[p];
        (0..pop.n).map(|i| self.read_var(p, var, i)).collect()
    }

    fn read_var(&self, p: usize, var: StateVar, i: usize) -> Result<f32> {
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

    /// Connects `pre` to `post` (see [`Connection`]); returns the projection's id.
    pub fn connect(
        &mut self,
        pre: impl Into<Target>,
        post: impl Into<Target>,
        conn: Connection,
    ) -> Result<ProjectionId> {
        let (pre, post) = (pre.into(), post.into());
        let (pi, pre_r) = self.resolve(&pre, "projection pre")?;
        let (qi, post_r) = self.resolve(&post, "projection post")?;
        let name = conn
            .name
            .clone()
            .unwrap_or_else(|| format!("{}->{}", self.pops[pi].name, self.pops[qi].name));
        self.check_not_started(&format!("projection {name}"))?;
        let (n_pre, n_post) = (pre_r.len(), post_r.len());
        let qpop = &self.pops[qi];
        if qpop.is_source() {
            return Err(Error::Unsupported(format!(
                "projection {name}: population '{}' is a spike source and cannot receive synapses",
                qpop.name
            )));
        }
        let port = *qpop
            .ports
            .get(conn.port)
            .ok_or_else(|| Error::IndexOutOfRange {
                what: format!("projection {name}: receptor port of '{}'", qpop.name),
                index: conn.port,
                len: qpop.ports.len(),
            })?;
        let buffer = match port {
            Port::Delta => 0,
            Port::Exponential { .. } => {
                1 + qpop.ports[..conn.port]
                    .iter()
                    .filter(|p| matches!(p, Port::Exponential { .. }))
                    .count()
            }
        };
        conn.connector.validate(&name, n_pre, n_post)?;
        let seed = self.config.seed;
        let proj_id = self.projs.len() as u64;
        // Autapses are pairs where the pre and post neuron are the same neuron of the same population.
        let same = pi == qi && !conn.autapses;
        let (ps, qs, qe) = (pre_r.start, post_r.start, post_r.end);
        let self_pair = move |i: u32| -> Option<u32> {
            let g = ps + i;
            (same && g >= qs && g < qe).then(|| g - qs)
        };
        let uniform_delay = match &conn.delay {
            Delay::Ms(ms) => Some(
                self.dt
                    .steps_exact(&format!("projection {name}: delay"), *ms)?,
            ),
            Delay::Steps(s) => Some(*s),
            _ => None,
        };
        let storage_dense =
            conn.connector == Connector::AllToAll && uniform_delay.is_some() && !same;
        let (storage, min_delay, max_delay) = if storage_dense {
            conn.weights.validate(&name, n_pre * n_post)?;
            let rows = connector::Rows {
                row_ptr: (0..=n_pre as u64).map(|i| i * n_post as u64).collect(),
                post: Vec::new(),
                source_order: None,
            };
            let weights = match &conn.weights {
                Weights::Values(v) => v.clone(),
                w => {
                    // Draw in row order from the same per-row streams as sparse storage.
                    let fake = connector::Rows {
                        post: vec![0; n_pre * n_post],
                        ..rows
                    };
                    w.draw(seed, proj_id, &fake)
                }
            };
            let d = uniform_delay.expect("checked above");
            (Storage::Dense { weights }, d, d)
        } else {
            let rows = conn.connector.rows(seed, proj_id, n_pre, n_post, self_pair);
            let n_syn = rows.post.len();
            conn.weights.validate(&name, n_syn)?;
            let weights = conn.weights.draw(seed, proj_id, &rows);
            let (delays, lo, hi) = match (&conn.delay, uniform_delay) {
                (_, Some(d)) => (None, d, d),
                (Delay::UniformMs { low_ms, high_ms }, None) => {
                    let lo = (low_ms / self.dt.ms() - 1e-9).ceil().max(0.0) as u32;
                    let hi = (high_ms / self.dt.ms() + 1e-9).floor().max(0.0) as u32;
                    if !(low_ms.is_finite() && high_ms.is_finite()) || *low_ms < 0.0 || lo > hi {
                        return Err(Error::param(
                            format!("projection {name}: delay range"),
                            format!("[{low_ms}, {high_ms}] ms"),
                            format!(
                                "finite, >= 0 and containing a whole step of {} ms",
                                self.dt.ms()
                            ),
                        ));
                    }
                    if hi > self.max_delay_steps {
                        return Err(Error::DelayTooLong {
                            what: format!("projection {name}"),
                            delay_steps: hi,
                            max_steps: self.max_delay_steps,
                        });
                    }
                    let span = (hi - lo + 1) as u64;
                    let d = connector::draw_per_row(seed, proj_id, Purpose::Delays, &rows, |rng| {
                        lo as u16 + crate::rng::below(rng, span) as u16
                    });
                    (Some(d), lo, hi)
                }
                (Delay::ValuesMs(values), None) => {
                    if values.len() != n_syn {
                        return Err(Error::SizeMismatch {
                            what: format!("projection {name}: delays"),
                            expected: n_syn,
                            got: values.len(),
                        });
                    }
                    let steps = values
                        .iter()
                        .map(|&ms| {
                            self.dt
                                .steps_exact(&format!("projection {name}: delay"), ms)
                        })
                        .collect::<Result<Vec<u32>>>()?;
                    let ordered: Vec<u32> = match &rows.source_order {
                        Some(order) => order.iter().map(|&o| steps[o as usize]).collect(),
                        None => steps,
                    };
                    let (lo, hi) = (
                        ordered.iter().copied().min().unwrap_or(0),
                        ordered.iter().copied().max().unwrap_or(0),
                    );
                    (
                        Some(
                            ordered
                                .iter()
                                .map(|&d| d.min(u16::MAX as u32) as u16)
                                .collect(),
                        ),
                        lo,
                        hi,
                    )
                }
                _ => unreachable!("uniform delays handled above"),
            };
            let qpop = &self.pops[qi];
            let n_blocks = qpop.blocks.len();
            let block_ptr = block_offsets(
                &rows.row_ptr,
                &rows.post,
                post_r.start,
                qpop.block_size,
                n_blocks,
            );
            // Every pre neuron with exactly one synapse (a pooling layer whose windows tile the
            // image, a one-to-one map): row i is synapse i.
            let one_each = rows.post.len() == rows.row_ptr.len() - 1
                && rows.row_ptr.iter().enumerate().all(|(i, &r)| r == i as u64);
            (
                Storage::Sparse(Csr {
                    one_each,
                    row_ptr: rows.row_ptr,
                    post: rows.post,
                    weights,
                    delays,
                    block_ptr,
                    n_blocks,
                }),
                lo,
                hi,
            )
        };
        if max_delay > self.max_delay_steps {
            return Err(Error::DelayTooLong {
                what: format!("projection {name}"),
                delay_steps: max_delay,
                max_steps: self.max_delay_steps,
            });
        }
        if min_delay == 0 && pi >= qi {
            return Err(Error::ZeroDelayBackward {
                what: format!("projection {name}"),
            });
        }
        // Every ring of the target must cover the longest delay into it.
        let needed = max_delay as usize + 1;
        for blk in &mut self.pops[qi].blocks {
            if blk.rings[0].n_slots() < needed {
                for ring in &mut blk.rings {
                    *ring = Ring::new(blk.len, needed);
                }
            }
        }
        self.projs.push(Projection {
            name,
            pre: pi,
            pre_start: pre_r.start,
            n_pre: n_pre as u32,
            post: qi,
            post_start: post_r.start,
            n_post: n_post as u32,
            buffer,
            storage,
            delay_steps: uniform_delay.unwrap_or(0),
            plasticity: None,
            events: 0,
            gate: None,
        });
        self.local_spikes.push(Vec::new());
        let j = self.projs.len() - 1;
        match self.out_by_post[pi].iter_mut().find(|(q, _)| *q == qi) {
            Some((_, list)) => list.push(j),
            None => self.out_by_post[pi].push((qi, vec![j])),
        }
        Ok(ProjectionId(j as u32))
    }

    /// Connects `pre` to `post` by a **weight-shared 2-D convolution**: both ranges hold images
    /// numbered as `geometry` says (channels-first or channels-last), and `kernel` holds the (C_out, C_in, kh, kw)
    /// weights shared by every position. Delivery walks the kernel taps a spike reaches (no
    /// per-synapse list: memory is the kernel, cost is spikes × out-degree), and adds exactly what
    /// the explicit synapse list would, in the same order. `delay_steps` is uniform.
    ///
    /// ```
    /// use somnet::network::{Conv2dGeometry, ImageLayout, Network, NetworkConfig};
    /// use somnet::neuron::{IafParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..NetworkConfig::default() }).unwrap();
    /// let src = net.add_external_source("image", 9).unwrap();
    /// let out = net.add_population("conv", 4, NeuronModel::Iaf(IafParams::default()), vec![Port::Delta]).unwrap();
    /// // 3×3 input, one 2×2 kernel, stride 1, no padding: a 2×2 output.
    /// let g = Conv2dGeometry { input: (1, 3, 3), out_channels: 1, kernel: (2, 2), stride: (1, 1),
    ///                          pad: (0, 0), output: (2, 2), input_layout: ImageLayout::ChannelsFirst,
    ///                          output_layout: ImageLayout::ChannelsLast };
    /// let p = net.connect_conv(src, out, g, &[1.0, 2.0, 3.0, 4.0], 0, "conv").unwrap();
    /// // The centre pixel is under every output, through a different tap each time.
    /// assert_eq!(net.projection(p).synapses().len(), 16);
    /// ```
    pub fn connect_conv(
        &mut self,
        pre: impl Into<Target>,
        post: impl Into<Target>,
        geometry: Conv2dGeometry,
        kernel: &[f32],
        delay_steps: u32,
        name: &str,
    ) -> Result<ProjectionId> {
        let g = geometry;
        let positive = [
            g.input.0,
            g.input.1,
            g.input.2,
            g.out_channels,
            g.kernel.0,
            g.kernel.1,
            g.stride.0,
            g.stride.1,
            g.output.0,
            g.output.1,
        ];
        if positive.contains(&0) {
            return Err(Error::param(
                format!("projection {name}: convolution geometry"),
                format!("{g:?}"),
                "positive sizes and strides",
            ));
        }
        if kernel.len() != g.n_weights() {
            return Err(Error::SizeMismatch {
                what: format!("projection {name}: kernel weights (C_out·C_in·kh·kw)"),
                expected: g.n_weights(),
                got: kernel.len(),
            });
        }
        if let Some(i) = kernel.iter().position(|w| !w.is_finite()) {
            return Err(Error::param(
                format!("projection {name}: kernel[{i}]"),
                kernel[i],
                "a finite number",
            ));
        }
        let (pre, post) = (pre.into(), post.into());
        let (_, pre_r) = self.resolve(&pre, "projection pre")?;
        let (_, post_r) = self.resolve(&post, "projection post")?;
        if pre_r.len() != g.n_pre() || post_r.len() != g.n_post() {
            return Err(Error::Unsupported(format!(
                "projection {name}: the convolution maps {} inputs to {} outputs, but the ranges \
                 hold {} and {} neurons",
                g.n_pre(),
                g.n_post(),
                pre_r.len(),
                post_r.len()
            )));
        }
        // An empty projection goes through every check of `connect` (schedule, delay, port);
        // then it gets the convolution's storage.
        let conn = Connection::new(Connector::List(Vec::new()), Weights::Values(Vec::new()))
            .delay(Delay::Steps(delay_steps))
            .named(name);
        let id = self.connect(pre, post, conn)?;
        let j = id.0 as usize;
        self.projs[j].storage = Storage::Conv(projection::ConvKernel::new(g, kernel));
        Ok(id)
    }

    /// Attaches a plasticity rule to a projection (replacing any earlier one).
    pub fn set_plasticity(&mut self, proj: ProjectionId, rule: Box<dyn Plasticity>) -> Result<()> {
        let j = self.proj_index(proj)?;
        if matches!(self.projs[j].storage, Storage::Conv(_)) {
            return Err(Error::Unsupported(format!(
                "projection {}: a weight-shared convolution has no per-synapse weights for a \
                 plasticity rule",
                self.projs[j].name
            )));
        }
        let post = self.projs[j].post;
        if !self.plastic_into[post].contains(&j) {
            self.plastic_into[post].push(j);
        }
        self.projs[j].plasticity = Some(rule);
        Ok(())
    }

    /// Turns a sparse projection with one delay into a **max gate**: each post neuron's window is
    /// its pre neurons, and per step it receives at most one spike — that of a window member with
    /// the largest cumulative spike count so far (counting this step's spikes; ties to the lowest
    /// index), with that synapse's weight. This is how converted max pooling passes the spikes of
    /// its most active input (Rueckauer et al. 2017, Sec. 2.2.6). Counts restart at
    /// [`Network::reset`]. One synaptic operation is counted per passed spike.
    ///
    /// ```
    /// use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
    /// use somnet::neuron::{IafParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..NetworkConfig::default() }).unwrap();
    /// let src = net.add_external_source("in", 2).unwrap();
    /// let out = net.add_population("pool", 1, NeuronModel::Iaf(IafParams::default()), vec![Port::Delta]).unwrap();
    /// let conn = Connection::new(Connector::List(vec![(0, 0), (1, 0)]), Weights::Constant(1.0))
    ///     .delay(Delay::Steps(0));
    /// let p = net.connect(src, out, conn).unwrap();
    /// net.set_max_gate(p).unwrap();
    /// // Input 0 fires twice, then input 1 once: 1's count (1) is below 0's (2), so it is blocked.
    /// let mut fired = Vec::new();
    /// for spikes in [&[0u32][..], &[0], &[1]] {
    ///     net.inject_spikes(src, spikes).unwrap();
    ///     net.step();
    ///     fired.push(net.population(out).last_spikes().len());
    /// }
    /// assert_eq!(fired, vec![1, 1, 0]);
    /// ```
    pub fn set_max_gate(&mut self, proj: ProjectionId) -> Result<()> {
        let j = self.proj_index(proj)?;
        let p = &mut self.projs[j];
        match &p.storage {
            Storage::Sparse(csr) if csr.delays.is_none() => {
                p.gate = Some(MaxGate::new(csr, p.n_pre as usize, p.n_post as usize));
                Ok(())
            }
            _ => Err(Error::Unsupported(format!(
                "projection {}: a max gate needs sparse storage (a List or probabilistic \
                 connector) and one delay for all synapses",
                p.name
            ))),
        }
    }

    /// Records the spikes of `pop` (all neurons, or the listed ones).
    pub fn monitor_spikes(
        &mut self,
        pop: PopulationId,
        only: Option<Vec<u32>>,
    ) -> Result<MonitorId> {
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
        Ok(MonitorId::Spikes(self.spike_monitors.len() - 1))
    }

    /// Records `var` of the listed neurons of `pop` every `every` steps (after the update).
    pub fn monitor_state(
        &mut self,
        pop: PopulationId,
        var: StateVar,
        neurons: Vec<u32>,
        every: u64,
    ) -> Result<MonitorId> {
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
        Ok(MonitorId::State(self.state_monitors.len() - 1))
    }

    /// Counts the spikes of `pop` in every step.
    pub fn monitor_rate(&mut self, pop: PopulationId) -> Result<MonitorId> {
        let p = self.pop_index(pop)?;
        self.rate_monitors.push(RateMonitor {
            pop,
            n: self.pops[p].n,
            dt_ms: self.dt.ms(),
            counts: Vec::new(),
        });
        Ok(MonitorId::Rate(self.rate_monitors.len() - 1))
    }

    fn check_neurons(&self, p: usize, list: &[u32]) -> Result<()> {
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

    /// The spike monitor `id`. Panics if `id` is not a spike monitor of this network.
    pub fn spike_monitor(&self, id: MonitorId) -> &SpikeMonitor {
        match id {
            MonitorId::Spikes(i) => &self.spike_monitors[i],
            _ => panic!("{id:?} is not a spike monitor"),
        }
    }

    /// The state monitor `id`. Panics if `id` is not a state monitor of this network.
    pub fn state_monitor(&self, id: MonitorId) -> &StateMonitor {
        match id {
            MonitorId::State(i) => &self.state_monitors[i],
            _ => panic!("{id:?} is not a state monitor"),
        }
    }

    /// The rate monitor `id`. Panics if `id` is not a rate monitor of this network.
    pub fn rate_monitor(&self, id: MonitorId) -> &RateMonitor {
        match id {
            MonitorId::Rate(i) => &self.rate_monitors[i],
            _ => panic!("{id:?} is not a rate monitor"),
        }
    }

    /// Returns the network to step 0: state variables as they were when the first step began
    /// (including values set with [`Network::set_state`]), synaptic variables, delay rings and
    /// counters zeroed, monitors emptied, current schedules rewound. Weights — changed by
    /// plasticity or by hand — are kept. A run after a reset repeats the first run exactly (every
    /// random stream is named by its step), which is how one network serves many samples.
    pub fn reset(&mut self) {
        let Some(initial) = &self.initial else { return };
        for (pop, states) in self.pops.iter_mut().zip(initial) {
            for (blk, state) in pop.blocks.iter_mut().zip(states) {
                blk.state = state.clone();
                if let BlockState::External { pending } = &mut blk.state {
                    pending.clear();
                }
                blk.syn.iter_mut().for_each(|x| x.fill(0.0));
                for ring in &mut blk.rings {
                    ring.all_mut().fill(0.0);
                }
                if let Some(ext) = &mut blk.i_ext {
                    ext.fill(0.0);
                }
                blk.fired.fill(0);
                blk.spikes.clear();
            }
            pop.spikes.clear();
            pop.spike_count = 0;
        }
        for proj in &mut self.projs {
            proj.events = 0;
            if let Some(g) = &mut proj.gate {
                g.reset();
            }
        }
        for m in &mut self.spike_monitors {
            m.events.clear();
        }
        for m in &mut self.state_monitors {
            m.steps.clear();
            m.values.clear();
        }
        for m in &mut self.rate_monitors {
            m.counts.clear();
        }
        self.next_change = 0;
        self.t = 0;
        self.digest = DIGEST_START;
    }

    /// Runs `n_steps` steps.
    pub fn run(&mut self, n_steps: u64) -> Result<()> {
        self.run_with(n_steps, |_| ControlFlow::Continue(()))?;
        Ok(())
    }

    /// Runs up to `n_steps` steps, calling `after_step` with the number of steps done after each;
    /// it can stop the run at that step boundary by returning `Break`. Returns the steps run.
    pub fn run_with(
        &mut self,
        n_steps: u64,
        mut after_step: impl FnMut(u64) -> ControlFlow<()>,
    ) -> Result<u64> {
        for k in 0..n_steps {
            self.step();
            if after_step(k + 1).is_break() {
                return Ok(k + 1);
            }
        }
        Ok(n_steps)
    }

    /// Advances the network one step (the schedule is in the module docs).
    pub fn step(&mut self) {
        let t = self.t;
        if t == 0 && self.initial.is_none() {
            self.initial = Some(
                self.pops
                    .iter()
                    .map(|p| p.blocks.iter().map(|b| b.state.clone()).collect())
                    .collect(),
            );
        }
        let seed = self.config.seed;
        let parallel = self.parallel && rayon::current_num_threads() > 1;
        self.apply_current_changes(t);
        for p in 0..self.pops.len() {
            // 1–2: inputs, integrate, threshold, reset.
            let pop = &mut self.pops[p];
            let cx = StepContext {
                dynamics: &pop.dynamics,
                noise: pop.noise,
                seed,
                pop: p as u64,
                t,
            };
            if parallel && pop.blocks.len() > 1 {
                pop.blocks
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(b, blk)| blk.update(b, &cx));
            } else {
                pop.blocks
                    .iter_mut()
                    .enumerate()
                    .for_each(|(b, blk)| blk.update(b, &cx));
            }
            if let [only] = &mut pop.blocks[..] {
                // One block: its list becomes the population's without a copy (the block clears
                // the list it gets back when it next updates).
                std::mem::swap(&mut pop.spikes, &mut only.spikes);
            } else {
                pop.spikes.clear();
                for blk in &pop.blocks {
                    pop.spikes.extend_from_slice(&blk.spikes);
                }
            }
            pop.spike_count += pop.spikes.len() as u64;
            if !pop.spikes.is_empty() {
                // The spikes of a step are hashed independently and summed (no chain from one
                // spike to the next, so the hashing pipelines), then chained step by step.
                let step_hash = step_hash(&pop.spikes, t, pop.global_offset);
                self.digest = crate::rng::mix64(self.digest ^ step_hash);
            }
            // 3: deliver.
            if !self.pops[p].spikes.is_empty() {
                self.deliver(p, t, parallel);
            }
            // 4: plasticity, monitors.
            self.apply_plasticity(p, t);
            self.record(p, t);
        }
        self.t += 1;
    }

    fn apply_current_changes(&mut self, t: u64) {
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

    // Kept out of `step` so that the hot loops of both keep their own code layout (inlined, a
    // small change in either moved CUBA's time by a third).
    #[inline(never)]
    fn deliver(&mut self, p: usize, t: u64, parallel: bool) {
        let spikes = std::mem::take(&mut self.pops[p].spikes);
        let groups = std::mem::take(&mut self.out_by_post[p]);
        let pop_len = self.pops[p].len() as u32;
        for (q, list) in &groups {
            for &j in list {
                let proj = &mut self.projs[j];
                let local = &mut self.local_spikes[j];
                local.clear();
                // A projection from the whole population reads its spikes as they are (below);
                // one from a range gets them shifted to local indices.
                let whole = proj.pre_start == 0 && proj.n_pre == pop_len;
                if !whole {
                    let lo = spikes.partition_point(|&s| s < proj.pre_start);
                    let hi = spikes.partition_point(|&s| s < proj.pre_start + proj.n_pre);
                    local.extend(spikes[lo..hi].iter().map(|&s| s - proj.pre_start));
                }
                let local: &[u32] = if whole { &spikes } else { local };
                proj.events += match proj.gate_step(local) {
                    Some(passed) => passed,
                    None => proj.events_of(local),
                };
            }
            let (projs, locals) = (&self.projs, &self.local_spikes);
            let spikes = &spikes;
            let deliver_block = |(b, blk): (usize, &mut Block)| {
                for &j in list {
                    let proj = &projs[j];
                    let local: &[u32] = if proj.pre_start == 0 && proj.n_pre == pop_len {
                        spikes
                    } else {
                        &locals[j]
                    };
                    if !local.is_empty() {
                        proj.deliver_into(local, t, b, blk);
                    }
                }
            };
            let blocks = &mut self.pops[*q].blocks;
            if parallel && blocks.len() > 1 {
                blocks.par_iter_mut().enumerate().for_each(deliver_block);
            } else {
                blocks.iter_mut().enumerate().for_each(deliver_block);
            }
        }
        self.out_by_post[p] = groups;
        self.pops[p].spikes = spikes;
    }

    fn apply_plasticity(&mut self, p: usize, t: u64) {
        for &j in &self.plastic_into[p] {
            let proj = &mut self.projs[j];
            let Some(mut rule) = proj.plasticity.take() else {
                continue;
            };
            let local = |spikes: &[u32], start: u32, n: u32| -> Vec<u32> {
                spikes
                    .iter()
                    .filter(|&&s| s >= start && s < start + n)
                    .map(|&s| s - start)
                    .collect()
            };
            let pre = local(&self.pops[proj.pre].spikes, proj.pre_start, proj.n_pre);
            let post = local(&self.pops[p].spikes, proj.post_start, proj.n_post);
            rule.on_step(
                StepSpikes {
                    step: t,
                    pre: &pre,
                    post: &post,
                },
                proj.synapses_mut(),
            );
            proj.plasticity = Some(rule);
        }
    }

    fn record(&mut self, p: usize, t: u64) {
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
        for m in self.rate_monitors.iter_mut().filter(|m| m.pop == id) {
            m.counts.push(spikes.len() as u32);
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

/// The hash of one step's spikes: each spike's mix summed (integer sums in any order agree, so
/// the vector paths give the same value; AVX-512 multiplies 64-bit lanes, which the baseline
/// cannot, and the hash ran 3× slower there).
fn step_hash(spikes: &[u32], t: u64, offset: u64) -> u64 {
    crate::simd::dispatch!(ISA => step_hash_at::<ISA>(spikes, t, offset))
}

#[inline(always)]
fn step_hash_at<const ISA: u8>(spikes: &[u32], t: u64, offset: u64) -> u64 {
    spikes.iter().fold(0u64, |h, &i| {
        h.wrapping_add(crate::rng::mix64((t << 32) | (offset + i as u64)))
    })
}

/// Initial value of the spike digest (any constant; this one is FNV's offset basis).
const DIGEST_START: u64 = 0xcbf2_9ce4_8422_2325;

fn prefix(name: &str, e: Error) -> Error {
    match e {
        Error::Param {
            field,
            value,
            expected,
        } => Error::Param {
            field: format!("population '{name}': {field}"),
            value,
            expected,
        },
        other => other,
    }
}
