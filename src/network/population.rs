//! Populations: neurons of one model stored as blocks of structure-of-arrays state.
//!
//! A population of n neurons is split into blocks of a fixed size that depends only on n (never on
//! the thread count). A block owns everything its neurons need in a step (state, synaptic
//! variables, delay rings, external current, output spikes), so blocks update in parallel without
//! locks, and random numbers come from a stream per (population, block, step).

use rand_distr::{Distribution, StandardNormal};

use super::delay::Ring;
use crate::neuron::{
    iaf, izhikevich, lif, IafPropagator, IzhikevichPropagator, LifPropagator, SpikeOutput,
};
use crate::rng::{stream, uniform01, Purpose};

/// Smallest block: below this, splitting costs more in scheduling than it gains.
const MIN_BLOCK: usize = 4096;
/// Largest block: keeps a block's state in the per-core caches.
const MAX_BLOCK: usize = 65536;
/// Blocks of a large population: a multiple of common core counts, so 2, 4 or 8 threads get equal
/// shares.
const TARGET_BLOCKS: usize = 8;

/// The block size for a population of `n` neurons: one block up to [`MIN_BLOCK`], then 8 equal
/// blocks (a multiple of 64 neurons) up to [`MAX_BLOCK`] neurons each, then blocks of at most
/// that size. A function of n alone, so results never depend on the thread count.
pub(crate) fn block_size_for(n: usize) -> usize {
    let n_blocks = n
        .div_ceil(MIN_BLOCK)
        .min(TARGET_BLOCKS)
        .max(n.div_ceil(MAX_BLOCK));
    n.div_ceil(n_blocks).next_multiple_of(64)
}

/// The derived dynamics of a population.
#[derive(Debug, Clone)]
pub(crate) enum Dynamics {
    Iaf(IafPropagator),
    Lif(LifPropagator),
    Izhikevich(IzhikevichPropagator),
    /// Independent Bernoulli spikes with probability `p` per step.
    Poisson {
        p: f64,
    },
    /// Each step, `k` neurons drawn uniformly with replacement from the population's `n` fire
    /// (a neuron drawn twice fires once).
    RandomPick {
        k: u32,
        n: u32,
    },
    /// Spikes at given steps.
    SpikeArray,
    /// Spikes handed in from outside before each step ([`super::Network::inject_spikes`]).
    External,
}

/// Per-block state variables.
#[derive(Debug, Clone)]
pub(crate) enum BlockState {
    Integrate {
        v: Vec<f32>,
        refractory_left: Vec<u32>,
    },
    Izhikevich {
        v: Vec<f32>,
        u: Vec<f32>,
        a: Vec<f32>,
        b: Vec<f32>,
        c: Vec<f32>,
        d: Vec<f32>,
    },
    /// A source whose spikes are drawn afresh every step (Poisson, random pick).
    Stateless,
    /// (step, global neuron index), sorted; `next` is the first event not yet emitted.
    SpikeArray {
        events: Vec<(u64, u32)>,
        next: usize,
    },
    /// Population indices to emit at the next step, increasing.
    External { pending: Vec<u32> },
}

/// A Gaussian current drawn anew every step for every neuron: `mean + std·N(0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseCurrent {
    /// Mean.
    pub mean: f32,
    /// Standard deviation.
    pub std: f32,
}

/// A block of neurons and everything they need for a step.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// Index of the first neuron in the population.
    pub start: u32,
    pub len: usize,
    pub state: BlockState,
    /// Exponential-port variables, one array per port.
    pub syn: Vec<Vec<f32>>,
    /// Delay rings: 0 = delta input, 1 + k = k-th exponential port.
    pub rings: Vec<Ring>,
    /// Persistent external current (constant and stepped inputs), if any.
    pub i_ext: Option<Vec<f32>>,
    /// This step's current when noise is added.
    pub i_now: Vec<f32>,
    /// Per-neuron scratch for the model step.
    pub scratch: Vec<f32>,
    pub fired: Vec<u8>,
    /// This step's spikes, population indices, increasing (none when the step leaves only
    /// flags, [`SpikeOutput::Flags`]).
    pub spikes: Vec<u32>,
    /// Neurons that fired this step.
    pub n_fired: usize,
    /// `fired` holds this step's flags (left set for flag delivery), to be cleared before the
    /// next step.
    pub flags_set: bool,
}

/// Everything a block needs to know about its population for a step.
pub(crate) struct StepContext<'a> {
    pub dynamics: &'a Dynamics,
    pub noise: Option<NoiseCurrent>,
    pub seed: u64,
    pub pop: u64,
    pub t: u64,
    /// What the step leaves of the spikes.
    pub output: SpikeOutput,
    /// Whether a projection delivers into the delta input (else IF and LIF skip it).
    pub delta_fed: bool,
    /// Whether a projection delivers into an exponential port through its delay ring (else
    /// IF and LIF neither read nor clear the rings of their ports).
    pub port_rings_fed: bool,
}

impl Block {
    /// Where input to receptor buffer `buffer` sent at step `t` with a delay of `delay` steps
    /// goes: the slot of the buffer's ring due at `t + delay`, or, for a projection delivered
    /// straight into its port (`direct`, see [`super::Network::delivers_direct`]), the port's
    /// variable itself.
    #[inline]
    pub(crate) fn input_mut(
        &mut self,
        buffer: usize,
        t: u64,
        delay: u32,
        direct: bool,
    ) -> &mut [f32] {
        if direct {
            &mut self.syn[buffer - 1]
        } else {
            let ring = &mut self.rings[buffer];
            let slot = ring.slot_of(t, delay);
            ring.slot_mut(slot)
        }
    }

    /// Advances the block one step and leaves its spikes in `self.spikes`, in `self.fired`, or
    /// both, as `cx.output` says; `self.n_fired` counts them.
    pub fn update(&mut self, index: usize, cx: &StepContext<'_>) {
        // IF and LIF steps write every neuron's flag and say how many fired; the other models
        // give a list, whose flags are set here when they are to be kept (and cleared before the
        // next step, which starts from cleared flags).
        let flagged = matches!(cx.dynamics, Dynamics::Iaf(_) | Dynamics::Lif(_));
        if self.flags_set && !flagged {
            self.fired.fill(0);
        }
        self.flags_set = cx.output != SpikeOutput::List;
        let counted = self.step_model(index, cx);
        self.n_fired = counted.unwrap_or(self.spikes.len());
        if self.flags_set && counted.is_none() {
            for &s in &self.spikes {
                self.fired[(s - self.start) as usize] = 1;
            }
        }
    }

    /// The model's step for this block.
    /// The model's step for this block: the number that fired when the model counts them (IF,
    /// LIF), else `None` (they are `self.spikes`).
    fn step_model(&mut self, index: usize, cx: &StepContext<'_>) -> Option<usize> {
        self.spikes.clear();
        match cx.dynamics {
            Dynamics::Poisson { p } => {
                self.poisson(*p, cx, index);
                return None;
            }
            &Dynamics::RandomPick { k, n } => {
                self.random_pick(k, n, cx);
                return None;
            }
            Dynamics::SpikeArray => {
                self.spike_array(cx.t);
                return None;
            }
            Dynamics::External => {
                if let BlockState::External { pending } = &mut self.state {
                    std::mem::swap(&mut self.spikes, pending);
                }
                return None;
            }
            _ => {}
        }
        let i_ext: Option<&[f32]> = match cx.noise {
            Some(noise) => {
                let mut rng = stream(cx.seed, Purpose::Noise, cx.pop, index as u64, cx.t);
                self.i_now.resize(self.len, 0.0);
                for (i, x) in self.i_now.iter_mut().enumerate() {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    *x = self.i_ext.as_ref().map_or(0.0, |e| e[i]) + noise.mean + noise.std * z;
                }
                Some(&self.i_now)
            }
            None => self.i_ext.as_deref(),
        };
        let cur = self.rings[0].slot_of(cx.t, 0);
        let n_exp = self.syn.len();
        let parts = Parts {
            state: &mut self.state,
            syn: &mut self.syn,
            rings: &mut self.rings,
            cur,
            i_ext,
            fired: &mut self.fired,
            scratch: &mut self.scratch,
            base: self.start,
            spikes: &mut self.spikes,
            output: cx.output,
            delta_fed: cx.delta_fed,
            port_rings_fed: cx.port_rings_fed,
        };
        match n_exp {
            0 => parts.step::<0>(cx.dynamics),
            1 => parts.step::<1>(cx.dynamics),
            2 => parts.step::<2>(cx.dynamics),
            3 => parts.step::<3>(cx.dynamics),
            _ => parts.step::<4>(cx.dynamics),
        }
    }

    fn poisson(&mut self, p: f64, cx: &StepContext<'_>, index: usize) {
        if p <= 0.0 {
            return;
        }
        let mut rng = stream(cx.seed, Purpose::Poisson, cx.pop, index as u64, cx.t);
        if p >= 1.0 {
            self.spikes.extend(self.start..self.start + self.len as u32);
            return;
        }
        // Geometric skipping: cost grows with the spikes drawn, not with the neurons.
        let log_q = (-p).ln_1p();
        if log_q >= 0.0 {
            return; // p below f64 resolution
        }
        let mut i = -1.0f64;
        loop {
            i += ((1.0 - uniform01(&mut rng)).ln() / log_q).floor() + 1.0;
            if i >= self.len as f64 {
                break;
            }
            self.spikes.push(self.start + i as u32);
        }
    }

    fn random_pick(&mut self, k: u32, n: u32, cx: &StepContext<'_>) {
        // Every block draws the population's k picks from one stream (chunk 0) and keeps those
        // in its range, so the picks do not depend on how the population is split.
        let mut rng = stream(cx.seed, Purpose::Poisson, cx.pop, 0, cx.t);
        let range = self.start..self.start + self.len as u32;
        for _ in 0..k {
            let i = (uniform01(&mut rng) * n as f64) as u32;
            if range.contains(&i) {
                self.spikes.push(i);
            }
        }
        self.spikes.sort_unstable();
        self.spikes.dedup();
    }

    fn spike_array(&mut self, t: u64) {
        if let BlockState::SpikeArray { events, next } = &mut self.state {
            while *next < events.len() && events[*next].0 <= t {
                if events[*next].0 == t {
                    self.spikes.push(events[*next].1);
                }
                *next += 1;
            }
        }
    }
}

/// Disjoint borrows of a block's fields for the model step.
struct Parts<'a> {
    state: &'a mut BlockState,
    syn: &'a mut [Vec<f32>],
    rings: &'a mut [Ring],
    cur: usize,
    i_ext: Option<&'a [f32]>,
    fired: &'a mut [u8],
    scratch: &'a mut [f32],
    base: u32,
    spikes: &'a mut Vec<u32>,
    output: SpikeOutput,
    delta_fed: bool,
    port_rings_fed: bool,
}

impl Parts<'_> {
    fn step<const NP: usize>(self, dynamics: &Dynamics) -> Option<usize> {
        let (delta_ring, exp_rings) = self
            .rings
            .split_first_mut()
            .expect("every block has a delta ring");
        let delta = delta_ring.slot_mut(self.cur);
        let mut rings = exp_rings.iter_mut();
        let arrivals: [&mut [f32]; NP] =
            std::array::from_fn(|_| rings.next().expect("one ring per port").slot_mut(self.cur));
        let mut syn_it = self.syn.iter_mut();
        let syn: [&mut [f32]; NP] =
            std::array::from_fn(|_| syn_it.next().expect("one array per port").as_mut_slice());
        match (dynamics, self.state) {
            (Dynamics::Lif(_) | Dynamics::Iaf(_), BlockState::Integrate { v, refractory_left }) => {
                // Nothing delivers into an unfed delta input, so its slot stays zero: the step
                // is told so by an empty slice and reads zeros without touching memory.
                let delta = if self.delta_fed { delta } else { &mut [] };
                // Likewise the ports' rings when every projection into them delivers straight
                // into the port variables.
                let arrivals = if self.port_rings_fed {
                    arrivals
                } else {
                    std::array::from_fn(|_| &mut [][..])
                };
                let block = crate::neuron::IntegrateBlock {
                    v,
                    refractory_left,
                    syn,
                    arrivals,
                    delta,
                    i_ext: self.i_ext,
                    scratch: &mut *self.scratch,
                    fired: self.fired,
                };
                match dynamics {
                    Dynamics::Lif(p) => Some(lif::step_block_with(
                        p,
                        block,
                        self.base,
                        self.spikes,
                        self.output,
                    )),
                    Dynamics::Iaf(p) => Some(iaf::step_block_with(
                        p,
                        block,
                        self.base,
                        self.spikes,
                        self.output,
                    )),
                    _ => unreachable!("matched above"),
                }
            }
            (Dynamics::Izhikevich(p), BlockState::Izhikevich { v, u, a, b, c, d }) => {
                let block = izhikevich::IzhikevichBlock {
                    v,
                    u,
                    a,
                    b,
                    c,
                    d,
                    syn,
                    arrivals,
                    delta,
                    i_ext: self.i_ext,
                    scratch: &mut *self.scratch,
                    fired: self.fired,
                };
                izhikevich::step_block(p, block, self.base, self.spikes);
                None
            }
            _ => unreachable!("a block's state is created from its population's dynamics"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::block_size_for;

    #[test]
    fn blocks_are_one_then_eight_then_capped() {
        assert_eq!(block_size_for(4000), 4032);
        assert_eq!(40_000usize.div_ceil(block_size_for(40_000)), 8);
        assert_eq!(200_000usize.div_ceil(block_size_for(200_000)), 8);
        assert!(block_size_for(10_000_000) <= 65_536);
        for n in [1, 63, 4096, 4097, 12_345, 1_000_000] {
            assert_eq!(block_size_for(n) % 64, 0);
            assert!(block_size_for(n) * n.div_ceil(block_size_for(n)) >= n);
        }
    }
}
