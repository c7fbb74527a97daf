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
//!    refused when they are made. A pooling projection (one synapse per pre neuron, over
//!    channels-last images) from a population that fired densely in its last step reads the
//!    step's firing flags instead of its spike list — the same sums, bit for bit — and a
//!    population read only that way builds no list ([`Network::set_flag_delivery`]).
//! 4. **Plasticity** on every plastic projection whose post-population is p (with this step's post
//!    spikes and the pre-population's latest spikes), then **monitors and counters**.
//!
//! Brian2's default "synapses act on the next step" is delay 1 here.
//!
//! ## Direct delivery
//! A projection with a delay of one step into an exponential or conductance port of an IF or LIF
//! population that comes no later in the schedule than its source (a recurrent projection, or
//! feedback) adds into the port's *variable* at step 3 instead of the ring's slot for t + 1: the
//! target has already taken its input for t, and its next update reads the variable anyway
//! ([`projection::Projection::delivers_direct`]). A population whose ports get no other input
//! through their rings then neither reads nor clears those rings (CUBA at 4 000 neurons
//! simulates 17 % faster: medians of six alternated runs). The input reaches the membrane at the same step as through the
//! ring; what differs is the rounding of several inputs in one step (added into the variable
//! one by one, not summed in a zero slot first), and that a recording of the port variable at
//! step t, in the population that sent the spikes, already holds their input (undecayed), where
//! the ring showed it first at t + 1, decayed by one step — as both do from then on.
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

mod connect;
pub mod connector;
pub mod delay;
mod handles;
mod inputs;
mod lockstep;
pub mod monitor;
pub mod plasticity;
pub mod population;
pub mod projection;
mod schedule;
mod spike_gemm;
mod state;

use std::ops::Range;

pub use connect::Connection;
pub use connector::{Connector, Delay, Weights};
pub use handles::{PopulationId, ProjectionId, Target};
pub use lockstep::{Lockstep, DENSE_CROSSOVER};
pub use monitor::{
    RateMonitor, RateMonitorId, SpikeMonitor, SpikeMonitorId, StateMonitor, StateMonitorId,
    StateVar,
};
pub use plasticity::{Plasticity, StepSpikes, SynapseLayout, SynapsesMut};
pub use population::NoiseCurrent;
pub use projection::Projection;
pub use projection::{Conv2dGeometry, ImageLayout};

use crate::error::{Error, Result};
use crate::neuron::{NeuronModel, Port, SpikeOutput};
use crate::time::Dt;
use delay::Ring;
use inputs::CurrentChange;
use population::{block_size_for, Block, BlockState, Dynamics};
use schedule::DIGEST_START;

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

/// A population: its dynamics, ports and blocks.
#[derive(Debug, Clone)]
pub struct Population {
    name: String,
    n: usize,
    ports: Vec<Port>,
    dynamics: Dynamics,
    block_size: usize,
    blocks: Vec<Block>,
    noise: Option<NoiseCurrent>,
    /// This step's spikes, increasing (empty when the step left only flags).
    spikes: Vec<u32>,
    /// Neurons that fired this step.
    n_fired: usize,
    /// This step's firing flags, one byte per neuron, when `output` kept them; else stale.
    flags: Vec<u8>,
    /// What this step left of its spikes: with flags only (no list built, nothing reads one),
    /// `last_spikes` makes the list from `flags` when asked, once per step.
    output: SpikeOutput,
    lazy_spikes: std::sync::OnceLock<Vec<u32>>,
    spike_count: u64,
    /// Index of the population's first neuron among all neurons of the network.
    global_offset: u64,
    /// The neuron model it was built with (`None` for spike sources), for exporters.
    model: Option<NeuronModel>,
    /// Whether a projection delivers into the delta input. Without one the input is always zero
    /// and IF and LIF steps neither read nor clear it (a converted network's first layer, fed
    /// by its analog current alone).
    delta_fed: bool,
    /// Whether a projection delivers into an exponential port through the port's delay ring
    /// (see [`Network::delivers_direct`]); without one IF and LIF skip the rings.
    port_rings_fed: bool,
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
        if self.output != SpikeOutput::Flags {
            return &self.spikes;
        }
        self.lazy_spikes.get_or_init(|| {
            (0..self.n as u32)
                .filter(|&i| self.flags[i as usize] != 0)
                .collect()
        })
    }

    /// Number of spikes of the last step.
    pub(crate) fn n_fired(&self) -> usize {
        self.n_fired
    }
    /// The neuron model and parameters (`None` for spike sources).
    pub fn model(&self) -> Option<&NeuronModel> {
        self.model.as_ref()
    }
    /// The receptor ports projections deliver into.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }
    /// Whether a noise current drives it.
    pub fn has_noise(&self) -> bool {
        self.noise.is_some()
    }
    /// Whether it is a spike source (Poisson, random pick, spike array or external) rather than
    /// neurons.
    pub fn is_spike_source(&self) -> bool {
        self.is_source()
    }
    pub(super) fn is_source(&self) -> bool {
        matches!(
            self.dynamics,
            Dynamics::Poisson { .. }
                | Dynamics::RandomPick { .. }
                | Dynamics::SpikeArray
                | Dynamics::External
        )
    }
    pub(super) fn locate(&self, i: usize) -> (usize, usize) {
        (i / self.block_size, i % self.block_size)
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
    /// A plastic projection's pre and post spikes of the step, in local indices.
    plastic_scratch: (Vec<u32>, Vec<u32>),
    changes: Vec<CurrentChange>,
    next_change: usize,
    spike_monitors: Vec<SpikeMonitor>,
    state_monitors: Vec<StateMonitor>,
    rate_monitors: Vec<RateMonitor>,
    t: u64,
    digest: u64,
    /// Whether steps hash their spikes into `digest` (see [`Network::set_spike_digest`]).
    hash_spikes: bool,
    /// Whether projections may be delivered from firing flags (see
    /// [`Network::set_flag_delivery`]).
    flag_delivery: bool,
    /// (Projection, step) deliveries that read flags since the last reset.
    flag_deliveries: u64,
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
            plastic_scratch: Default::default(),
            changes: Vec::new(),
            next_change: 0,
            spike_monitors: Vec::new(),
            state_monitors: Vec::new(),
            rate_monitors: Vec::new(),
            t: 0,
            digest: DIGEST_START,
            hash_spikes: true,
            flag_delivery: true,
            flag_deliveries: 0,
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

    /// Whether each step hashes its spikes into [`Network::spike_digest`] (on by default). A
    /// run that compares its counts some other way can turn it off: hashing costs a 64-bit
    /// multiply chain per spike, a twentieth of a converted LeNet's step. While off, the digest
    /// keeps the value it had.
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let mut net = Network::new(NetworkConfig::default()).unwrap();
    /// let before = net.spike_digest();
    /// net.set_spike_digest(false);
    /// net.run(10).unwrap();
    /// assert_eq!(net.spike_digest(), before);
    /// ```
    pub fn set_spike_digest(&mut self, on: bool) {
        self.hash_spikes = on;
    }

    /// Whether a projection with one synapse per pre neuron in runs of consecutive targets
    /// (pooling windows over channels-last images) may read its pre population's firing flags
    /// instead of its spike list when that population fires densely (on by default). The sums
    /// are the same bit for bit either way; only the time differs. A population whose every
    /// reader takes flags then builds no list ([`Population::last_spikes`] makes it when asked).
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let mut net = Network::new(NetworkConfig::default()).unwrap();
    /// net.set_flag_delivery(false);
    /// net.run(10).unwrap();
    /// ```
    pub fn set_flag_delivery(&mut self, on: bool) {
        self.flag_delivery = on;
    }

    /// How many (projection, step) deliveries read their pre population's flags since the
    /// last [`Network::reset`] ([`Network::set_flag_delivery`]).
    pub fn flag_deliveries(&self) -> u64 {
        self.flag_deliveries
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
    /// the same spikes. Frozen while [`Network::set_spike_digest`] has turned hashing off.
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

    pub(super) fn check_not_started(&self, what: &str) -> Result<()> {
        if self.t > 0 || self.initial.is_some() {
            return Err(Error::Unsupported(format!(
                "{what}: the network has already run; build it completely first"
            )));
        }
        Ok(())
    }

    pub(super) fn push_population(
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
        let n_exp = ports.iter().filter(|p| p.has_variable()).count();
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
                    n_fired: 0,
                    flags_set: false,
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
            n_fired: 0,
            flags: Vec::new(),
            output: SpikeOutput::List,
            lazy_spikes: std::sync::OnceLock::new(),
            spike_count: 0,
            global_offset,
            model: None,
            delta_fed: false,
            port_rings_fed: false,
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
            NeuronModel::Integrator(p) => Dynamics::Iaf(crate::neuron::IafPropagator::new(
                &p.as_iaf(),
                &ports,
                self.dt,
            )?),
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
        let id = self.push_population(name, n, ports, dynamics, |r| match &model {
            NeuronModel::Iaf(p) => BlockState::Integrate {
                v: vec![p.v_rest_mv; r.len()],
                refractory_left: vec![0; r.len()],
            },
            NeuronModel::Lif(p) => BlockState::Integrate {
                v: vec![p.v_rest_mv; r.len()],
                refractory_left: vec![0; r.len()],
            },
            NeuronModel::Integrator(p) => BlockState::Integrate {
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
        })?;
        self.pops[id.0 as usize].model = Some(model);
        Ok(id)
    }

    pub(super) fn proj_index(&self, id: ProjectionId) -> Result<usize> {
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

    pub(super) fn pop_index(&self, id: PopulationId) -> Result<usize> {
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

    pub(super) fn resolve(&self, t: &Target, what: &str) -> Result<(usize, Range<u32>)> {
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
}

pub(super) fn prefix(name: &str, e: Error) -> Error {
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
