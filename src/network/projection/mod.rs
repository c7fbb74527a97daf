//! Projections: synapses from a range of one population to a range of another, and their delivery.
//!
//! Storage is pre-major so that delivering a spike is one pass over a contiguous slice:
//! - dense: `weights[pre * n_post + post]`, one delay for the projection;
//! - sparse: CSR by pre-synaptic neuron (`u32` post index + `f32` weight, 8 bytes a synapse,
//!   plus a `u16` delay when delays differ per synapse), posts sorted within a row.
//!
//! The target population is split into blocks (see [`crate::network`]); each block receives the
//! part of every row that falls in it. For sparse rows, the offsets of those parts are stored once
//! (`block_ptr`), so a block finds its slice of a row without searching. Delivery into a block adds
//! spikes in increasing pre order, so every target sums its input in the same order whatever the
//! thread count.

mod conv;
mod flags;
mod gate;
mod sparse;

pub(crate) use sparse::target_starts;

pub(crate) use conv::ConvKernel;
pub use conv::{Conv2dGeometry, ImageLayout};
pub(crate) use flags::FlagPlan;
pub(crate) use gate::MaxGate;
pub(crate) use sparse::{block_offsets, Csr};

use super::delay::Ring;
use super::plasticity::{Plasticity, SynapsesMut};
use super::population::Block;

/// Ring slots up to which delivery with per-synapse delays looks each delay's slot up in a
/// table on the stack.
const SLOT_TABLE: usize = 64;

/// How a projection stores its weights.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// Pre-major dense matrix, shared by the lane copies of a network
    /// ([`super::Network::lane_copy`]) until one of them changes it.
    Dense { weights: std::sync::Arc<Vec<f32>> },
    /// CSR by pre.
    Sparse(Csr),
    /// A weight-shared 2-D convolution.
    Conv(ConvKernel),
}

/// A projection.
pub struct Projection {
    pub(crate) name: String,
    pub(crate) pre: usize,
    pub(crate) pre_start: u32,
    pub(crate) n_pre: u32,
    pub(crate) post: usize,
    pub(crate) post_start: u32,
    pub(crate) n_post: u32,
    /// Receptor buffer index in the post population (0 = delta, 1 + k = k-th exponential port).
    pub(crate) buffer: usize,
    pub(crate) storage: Storage,
    /// The projection's delay when it is uniform.
    pub(crate) delay_steps: u32,
    /// Delivered straight into the post port's variable instead of a delay ring (see
    /// [`super::Network::delivers_direct`]).
    pub(crate) direct: bool,
    pub(crate) plasticity: Option<Box<dyn Plasticity>>,
    /// Synaptic events delivered so far (spikes × out-degree).
    pub(crate) events: u64,
    /// When set, the projection is a max gate (see [`super::Network::set_max_gate`]).
    pub(crate) gate: Option<MaxGate>,
    /// How to deliver from the pre population's firing flags, for a sparse projection with one
    /// synapse per pre neuron in runs (pooling; see [`FlagPlan`]).
    pub(crate) flag_plan: Option<std::sync::Arc<FlagPlan>>,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("name", &self.name)
            .field("synapses", &self.n_synapses())
            .finish_non_exhaustive()
    }
}

impl Projection {
    /// The receptor it delivers into: 0 for the delta input, `1 + k` for the target's `k`-th
    /// exponential port.
    pub fn receptor(&self) -> usize {
        self.buffer
    }

    /// Whether it is a max gate ([`super::Network::set_max_gate`]).
    pub fn is_max_gate(&self) -> bool {
        self.gate.is_some()
    }

    /// Whether it can be delivered from its pre population's firing flags ([`FlagPlan`]): a
    /// plan exists, and neither a gate nor a plasticity rule needs the spikes one by one.
    #[inline]
    pub(crate) fn reads_flags(&self) -> bool {
        self.flag_plan.is_some() && self.gate.is_none() && self.plasticity.is_none()
    }

    /// The synaptic events of a step whose firing is `flags` (the whole pre population's): one
    /// per fired pre neuron, each having one synapse.
    pub(crate) fn events_of_flags(&self, flags: &[u8]) -> u64 {
        let start = self.pre_start as usize;
        let flags = &flags[start..start + self.n_pre as usize];
        crate::simd::dispatch!(ISA => crate::neuron::count_flags::<ISA>(flags)) as u64
    }

    /// [`Self::deliver_into`] from the pre population's firing `flags` instead of its spike
    /// list ([`Self::reads_flags`] must hold): the same sums, bit for bit.
    pub(crate) fn deliver_flags(&self, flags: &[u8], t: u64, block: &mut Block) {
        let (Some(plan), Storage::Sparse(csr)) = (&self.flag_plan, &self.storage) else {
            return;
        };
        let b_start = block.start;
        let lo = self.post_start.max(b_start);
        let hi = (self.post_start + self.n_post).min(b_start + block.len as u32);
        if lo >= hi {
            return;
        }
        let acc = block.input_mut(self.buffer, t, self.delay_steps, self.direct);
        let start = self.pre_start as usize;
        let flags = &flags[start..start + self.n_pre as usize];
        let (lo, hi) = (
            (lo - self.post_start) as usize,
            (hi - self.post_start) as usize,
        );
        let shift = self.post_start as isize - b_start as isize;
        crate::simd::dispatch!(ISA => plan.deliver::<ISA>(flags, &csr.weights, acc, lo, hi, shift))
    }

    /// The index in the pre population of its local pre neuron 0 (a projection from a range).
    pub fn pre_offset(&self) -> u32 {
        self.pre_start
    }

    /// The index in the post population of its local post neuron 0.
    pub fn post_offset(&self) -> u32 {
        self.post_start
    }

    /// Number of synapses.
    pub fn n_synapses(&self) -> u64 {
        match &self.storage {
            Storage::Dense { weights } => weights.len() as u64,
            Storage::Sparse(csr) => csr.post.len() as u64,
            Storage::Conv(k) => (0..self.n_pre as usize).map(|i| k.out_degree(i)).sum(),
        }
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The post-synaptic population.
    pub fn post(&self) -> super::PopulationId {
        super::PopulationId(self.post as u32)
    }

    /// The pre-synaptic population.
    pub fn pre(&self) -> super::PopulationId {
        super::PopulationId(self.pre as u32)
    }

    /// Synaptic events delivered so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether the projection delivers straight into its post port's variable rather than
    /// through the port's delay ring: a one-step delay into an exponential or conductance port
    /// of an IF or LIF population that comes no later in the schedule (the rule, and what it
    /// changes: [`crate::network`], "Direct delivery").
    ///
    /// ```
    /// use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
    /// use somnet::neuron::{LifParams, NeuronModel, Port};
    /// let mut net = Network::new(NetworkConfig::default()).unwrap();
    /// let src = net.add_poisson("input", 10, 20.0).unwrap();
    /// let lif = NeuronModel::Lif(LifParams::default());
    /// let pop = net.add_population("pop", 10, lif, vec![Port::Exponential { tau_ms: 5.0 }]).unwrap();
    /// let dt = NetworkConfig::default().dt_ms;
    /// let ring = Connector::List((0..10).map(|i| (i, (i + 1) % 10)).collect());
    /// let conn = || Connection::new(ring.clone(), Weights::Constant(1.0)).delay(Delay::Ms(dt));
    /// let recurrent = net.connect(pop, pop, conn()).unwrap();
    /// let feedforward = net.connect(src, pop, conn()).unwrap();
    /// assert!(net.projection(recurrent).delivers_direct());
    /// assert!(!net.projection(feedforward).delivers_direct()); // `pop` updates after `src`
    /// ```
    pub fn delivers_direct(&self) -> bool {
        self.direct
    }

    /// Counts this step's spikes (local pre indices, increasing) into a max gate and decides what
    /// passes; returns the synaptic events (one per passed spike). Not a gate: `None`.
    pub(crate) fn gate_step(&mut self, spikes: &[u32]) -> Option<u64> {
        self.gate.as_ref()?;
        crate::simd::dispatch!(ISA => self.gate_step_at::<ISA>(spikes))
    }

    /// Synaptic events of these (local) pre spikes: the sum of their out-degrees, with the storage
    /// looked at once rather than per spike.
    #[inline]
    pub(crate) fn events_of(&self, spikes: &[u32]) -> u64 {
        match &self.storage {
            Storage::Dense { .. } => spikes.len() as u64 * self.n_post as u64,
            Storage::Sparse(csr) if csr.one_each => spikes.len() as u64,
            Storage::Sparse(csr) => spikes
                .iter()
                .map(|&s| csr.row_ptr[s as usize + 1] - csr.row_ptr[s as usize])
                .sum(),
            Storage::Conv(k) => k.events_of(spikes),
        }
    }

    /// The weights, mutable, for plasticity rules and users.
    pub fn synapses_mut(&mut self) -> SynapsesMut<'_> {
        match &mut self.storage {
            Storage::Dense { weights } => SynapsesMut::Dense {
                n_pre: self.n_pre as usize,
                n_post: self.n_post as usize,
                weights: std::sync::Arc::make_mut(weights).as_mut_slice(),
            },
            Storage::Sparse(csr) => {
                // The caller may change them: delivery stops taking them as one weight.
                csr.uniform = None;
                SynapsesMut::Sparse {
                    row_ptr: &csr.row_ptr,
                    post: &csr.post,
                    weights: &mut csr.weights,
                }
            }
            Storage::Conv(k) => SynapsesMut::Shared {
                geometry: k.geometry,
                taps: &mut k.taps,
            },
        }
    }

    /// Every synapse as (local pre, local post, weight, delay in steps), in storage order.
    pub fn synapses(&self) -> Vec<(u32, u32, f32, u32)> {
        let mut out = Vec::with_capacity(self.n_synapses() as usize);
        match &self.storage {
            Storage::Dense { weights } => {
                for i in 0..self.n_pre {
                    for j in 0..self.n_post {
                        out.push((
                            i,
                            j,
                            weights[(i * self.n_post + j) as usize],
                            self.delay_steps,
                        ));
                    }
                }
            }
            Storage::Conv(k) => {
                out.extend(
                    k.synapses()
                        .into_iter()
                        .map(|(i, j, w)| (i, j, w, self.delay_steps)),
                );
            }
            Storage::Sparse(csr) => {
                for i in 0..self.n_pre as usize {
                    for k in csr.row_ptr[i] as usize..csr.row_ptr[i + 1] as usize {
                        let d = csr
                            .delays
                            .as_ref()
                            .map_or(self.delay_steps, |d| d[k] as u32);
                        out.push((i as u32, csr.post[k], csr.weights[k], d));
                    }
                }
            }
        }
        out
    }

    /// Adds the effect of `spikes` (local pre indices, increasing), sent at step `t`, to one block
    /// of the post population.
    pub(crate) fn deliver_into(
        &self,
        spikes: &[u32],
        t: u64,
        block_index: usize,
        block: &mut Block,
    ) {
        // Target-feature methods with the real signature (not the closure trampoline of
        // `dispatch!`): their `&self` and `&mut Block` keep LLVM's no-alias facts, which let the
        // delivery loops keep the storage pointers in registers (10 % of LeNet conversion).
        match crate::simd::level() {
            #[cfg(target_arch = "x86_64")]
            crate::simd::Level::Avx512 => {
                // SAFETY: level() found AVX-512 on this CPU.
                unsafe { self.deliver_into_avx512(spikes, t, block_index, block) }
            }
            #[cfg(target_arch = "x86_64")]
            crate::simd::Level::Avx2 => {
                // SAFETY: level() found AVX2 on this CPU.
                unsafe { self.deliver_into_avx2(spikes, t, block_index, block) }
            }
            _ => self.deliver_into_at::<{ crate::simd::PORTABLE }>(spikes, t, block_index, block),
        }
    }

    /// # Safety
    /// The CPU must have the features of [`crate::simd::AVX512`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(
        enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt"
    )]
    unsafe fn deliver_into_avx512(
        &self,
        spikes: &[u32],
        t: u64,
        block_index: usize,
        block: &mut Block,
    ) {
        self.deliver_into_at::<{ crate::simd::AVX512 }>(spikes, t, block_index, block)
    }

    /// # Safety
    /// The CPU must have the features of [`crate::simd::AVX2`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt")]
    unsafe fn deliver_into_avx2(
        &self,
        spikes: &[u32],
        t: u64,
        block_index: usize,
        block: &mut Block,
    ) {
        self.deliver_into_at::<{ crate::simd::AVX2 }>(spikes, t, block_index, block)
    }

    /// [`Self::deliver_into`] at the vector level `ISA` ([`crate::simd`]): every delivery loop is
    /// inlined here, so the row and run additions vectorise at that level.
    #[inline(always)]
    fn deliver_into_at<const ISA: u8>(
        &self,
        spikes: &[u32],
        t: u64,
        block_index: usize,
        block: &mut Block,
    ) {
        let b_start = block.start;
        let b_end = b_start + block.len as u32;
        // The part of the post range that lies in this block, in local post coordinates.
        let lo = self.post_start.max(b_start);
        let hi = (self.post_start + self.n_post).min(b_end);
        if lo >= hi {
            return;
        }
        if let Some(gate) = &self.gate {
            let acc = block.input_mut(self.buffer, t, self.delay_steps, self.direct);
            for &(j, w) in &gate.passed {
                let g = self.post_start + j;
                if (lo..hi).contains(&g) {
                    acc[(g - b_start) as usize] += w;
                }
            }
            return;
        }
        match &self.storage {
            Storage::Dense { weights } => {
                let acc = &mut block.input_mut(self.buffer, t, self.delay_steps, self.direct)
                    [(lo - b_start) as usize..(hi - b_start) as usize];
                let c0 = (lo - self.post_start) as usize;
                let n_post = self.n_post as usize;
                // The rows' part in this block has the accumulator's length, so the indexing
                // below is unchecked.
                let n = acc.len();
                let row = |s: u32| &weights[s as usize * n_post + c0..][..n];
                // Eight rows per pass (then four, then one): each accumulator is loaded and stored
                // once for eight additions, still made one row after the other in spike order, so
                // the sums have the bits of one row at a time. The row reads dominate a dense
                // layer's delivery; the accumulator traffic they no longer wait on was a fifth of
                // it (MLP 784-1200-1200-10: 1.25x the images/s).
                let mut octs = spikes.chunks_exact(8);
                for q in &mut octs {
                    let (r0, r1, r2, r3) = (row(q[0]), row(q[1]), row(q[2]), row(q[3]));
                    let (r4, r5, r6, r7) = (row(q[4]), row(q[5]), row(q[6]), row(q[7]));
                    for i in 0..n {
                        let a = (((acc[i] + r0[i]) + r1[i]) + r2[i]) + r3[i];
                        acc[i] = (((a + r4[i]) + r5[i]) + r6[i]) + r7[i];
                    }
                }
                let mut quads = octs.remainder().chunks_exact(4);
                for q in &mut quads {
                    let (r0, r1, r2, r3) = (row(q[0]), row(q[1]), row(q[2]), row(q[3]));
                    for ((((a, w0), w1), w2), w3) in acc.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3)
                    {
                        *a = (((*a + *w0) + *w1) + *w2) + *w3;
                    }
                }
                for &s in quads.remainder() {
                    for (a, w) in acc.iter_mut().zip(row(s)) {
                        *a += *w;
                    }
                }
            }
            Storage::Conv(k) => {
                let acc = block.input_mut(self.buffer, t, self.delay_steps, self.direct);
                k.deliver::<ISA>(
                    spikes,
                    acc,
                    (lo - self.post_start) as usize,
                    (hi - self.post_start) as usize,
                    self.post_start as isize - b_start as isize,
                );
            }
            Storage::Sparse(csr) => {
                // Offset that turns a local post index into an index inside the block.
                let shift = b_start as i64 - self.post_start as i64;
                match &csr.delays {
                    None if csr.one_each => {
                        let acc = block.input_mut(self.buffer, t, self.delay_steps, self.direct);
                        let (lo, hi) = (lo - self.post_start, hi - self.post_start);
                        // Targets and weights of 16 spikes are read before any is added: when
                        // a target's address waits on its own load, a later load of the same
                        // target (pooling windows: two spikes of one window a few apart) runs
                        // ahead of the store and the core redoes the work.
                        let mut chunks = spikes.chunks_exact(16);
                        if lo == 0 && hi == self.n_post {
                            // Every target lies in this block (one block, as in evaluation):
                            // no range test and no marker for a spike that lands elsewhere.
                            for chunk in &mut chunks {
                                let at: [usize; 16] = std::array::from_fn(|k| {
                                    (csr.post[chunk[k] as usize] as i64 - shift) as usize
                                });
                                let w: [f32; 16] =
                                    std::array::from_fn(|k| csr.weights[chunk[k] as usize]);
                                for (&a, &x) in at.iter().zip(&w) {
                                    acc[a] += x;
                                }
                            }
                        }
                        for chunk in &mut chunks {
                            let mut at = [usize::MAX; 16];
                            let mut w = [0f32; 16];
                            for ((a, x), &s) in at.iter_mut().zip(&mut w).zip(chunk) {
                                let j = csr.post[s as usize];
                                if (lo..hi).contains(&j) {
                                    *a = (j as i64 - shift) as usize;
                                    *x = csr.weights[s as usize];
                                }
                            }
                            for (&a, &x) in at.iter().zip(&w) {
                                if a != usize::MAX {
                                    acc[a] += x;
                                }
                            }
                        }
                        for &s in chunks.remainder() {
                            let j = csr.post[s as usize];
                            if (lo..hi).contains(&j) {
                                acc[(j as i64 - shift) as usize] += csr.weights[s as usize];
                            }
                        }
                    }
                    None => {
                        let acc = block.input_mut(self.buffer, t, self.delay_steps, self.direct);
                        if let Some(w) = csr.uniform {
                            csr.for_each_part(spikes, block_index, false, false, |a, b| {
                                for j in &csr.post[a..b] {
                                    acc[(*j as i64 - shift) as usize] += w;
                                }
                            });
                        } else {
                            csr.for_each_part(spikes, block_index, true, false, |a, b| {
                                for (j, w) in csr.post[a..b].iter().zip(&csr.weights[a..b]) {
                                    acc[(*j as i64 - shift) as usize] += *w;
                                }
                            });
                        }
                    }
                    Some(delays) => {
                        // Per-synapse delays always go through the ring (never `direct`).
                        let ring: &mut Ring = &mut block.rings[self.buffer];
                        let (n_slots, len) = (ring.n_slots(), ring.len());
                        let base = ring.slot_of(t, 0);
                        let all = ring.all_mut();
                        // Where each delay's slot starts, less the block's first neuron: an
                        // event is then one table look-up and one addition from its place.
                        // Rings longer than the table take the slot arithmetic per event.
                        let mut starts = [0i64; SLOT_TABLE];
                        if n_slots <= SLOT_TABLE {
                            for (d, start) in starts[..n_slots].iter_mut().enumerate() {
                                let slot = (base + d) % n_slots;
                                *start = (slot * len) as i64 - shift;
                            }
                        }
                        csr.for_each_part(spikes, block_index, true, true, |a, b| {
                            if n_slots <= SLOT_TABLE {
                                let (posts, ws) = (&csr.post[a..b], &csr.weights[a..b]);
                                for ((&d, &j), &w) in delays[a..b].iter().zip(posts).zip(ws) {
                                    all[(starts[d as usize] + j as i64) as usize] += w;
                                }
                                return;
                            }
                            for k in a..b {
                                let mut slot = base + delays[k] as usize;
                                if slot >= n_slots {
                                    slot -= n_slots;
                                }
                                all[slot * len + (csr.post[k] as i64 - shift) as usize] +=
                                    csr.weights[k];
                            }
                        });
                    }
                }
            }
        }
    }
}
