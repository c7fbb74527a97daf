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

use super::delay::Ring;
use super::plasticity::{Plasticity, SynapsesMut};
use super::population::Block;

/// How a projection stores its weights.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// Pre-major dense matrix.
    Dense { weights: Vec<f32> },
    /// CSR by pre.
    Sparse(Csr),
    /// A weight-shared 2-D convolution.
    Conv(ConvKernel),
}

/// How an image's neurons are numbered in a population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageLayout {
    /// (channel, row, column): neuron `c·H·W + y·W + x` (the ANN's NCHW order).
    #[default]
    ChannelsFirst,
    /// (row, column, channel): neuron `(y·W + x)·C + c`; the channels of one position are
    /// neighbours, so a convolution delivers a spike's effect on them as one contiguous run.
    ChannelsLast,
}

impl ImageLayout {
    /// The index of (c, y, x) in an image of `c_n` channels, `w` columns and `hw` positions.
    #[inline]
    fn index(self, c: usize, pos: usize, c_n: usize, hw: usize) -> usize {
        match self {
            ImageLayout::ChannelsFirst => c * hw + pos,
            ImageLayout::ChannelsLast => pos * c_n + c,
        }
    }

    /// (channel, position y·W + x) of neuron `i`.
    #[inline]
    fn split(self, i: usize, c_n: usize, hw: usize) -> (usize, usize) {
        match self {
            ImageLayout::ChannelsFirst => (i / hw, i % hw),
            ImageLayout::ChannelsLast => (i % c_n, i / c_n),
        }
    }
}

/// The geometry of a 2-D convolution between two populations holding images: pre neuron
/// (c, y, x) reaches post neuron (o, y', x') through kernel tap (ky, kx) when
/// `y'·stride.0 + ky − pad.0 = y` and `x'·stride.1 + kx − pad.1 = x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Input (channels, height, width).
    pub input: (usize, usize, usize),
    /// Output channels.
    pub out_channels: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// (vertical, horizontal) stride.
    pub stride: (usize, usize),
    /// Padding before (top, left).
    pub pad: (usize, usize),
    /// Output (height, width).
    pub output: (usize, usize),
    /// Numbering of the pre population's neurons.
    pub input_layout: ImageLayout,
    /// Numbering of the post population's neurons (channels-last delivers fastest).
    pub output_layout: ImageLayout,
}

impl Conv2dGeometry {
    /// Pre neurons (C·H·W).
    pub fn n_pre(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Post neurons (C_out·H'·W').
    pub fn n_post(&self) -> usize {
        self.out_channels * self.output.0 * self.output.1
    }

    /// Kernel weights (C_out·C_in·kh·kw).
    pub fn n_weights(&self) -> usize {
        self.out_channels * self.input.0 * self.kernel.0 * self.kernel.1
    }

    /// The output index along one axis that input position `i` reaches through tap `k`.
    #[inline]
    pub fn tap(i: usize, k: usize, pad: usize, stride: usize, out: usize) -> Option<usize> {
        let v = (i + pad).checked_sub(k)?;
        (v % stride == 0 && v / stride < out).then_some(v / stride)
    }

    /// Calls `f(ky, kx, output position y'·W' + x')` for every tap through which input position
    /// (y, x) reaches the output.
    #[inline]
    fn for_each_tap(&self, y: usize, x: usize, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = self.output;
        for ky in 0..self.kernel.0 {
            let Some(oy) = Self::tap(y, ky, self.pad.0, self.stride.0, oh) else {
                continue;
            };
            for kx in 0..self.kernel.1 {
                if let Some(ox) = Self::tap(x, kx, self.pad.1, self.stride.1, ow) {
                    f(ky, kx, oy * ow + ox);
                }
            }
        }
    }
}

/// A convolution's kernel, stored tap-major for delivery: `taps[((c·kh + ky)·kw + kx)·C_out + o]`,
/// so one spike's contribution through one tap is a contiguous run of C_out weights.
#[derive(Debug, Clone)]
pub(crate) struct ConvKernel {
    pub geometry: Conv2dGeometry,
    pub taps: Vec<f32>,
    /// Per input position p, at `links[link_ptr[p]..link_ptr[p + 1]]`: (tap ky·kw + kx, output
    /// position) for every tap that reaches the output, worked out once so that delivery does no
    /// index arithmetic beyond one division per spike.
    links: Vec<(u32, u32)>,
    /// Per pre neuron: (offset of its channel's kernel in `taps`, its links' range), so that
    /// delivery needs no division.
    pre: Vec<(u32, u32, u32)>,
}

impl ConvKernel {
    /// From a kernel in (C_out, C_in, kh, kw) order.
    pub(crate) fn new(geometry: Conv2dGeometry, kernel: &[f32]) -> ConvKernel {
        let g = geometry;
        let (ci, h, w) = g.input;
        let (co, (kh, kw)) = (g.out_channels, g.kernel);
        let mut taps = vec![0.0; kernel.len()];
        for o in 0..co {
            for c in 0..ci {
                for ky in 0..kh {
                    for kx in 0..kw {
                        taps[((c * kh + ky) * kw + kx) * co + o] =
                            kernel[((o * ci + c) * kh + ky) * kw + kx];
                    }
                }
            }
        }
        let mut links = Vec::new();
        let mut link_ptr = vec![0u32];
        for y in 0..h {
            for x in 0..w {
                g.for_each_tap(y, x, |ky, kx, pos| {
                    links.push(((ky * kw + kx) as u32, pos as u32));
                });
                link_ptr.push(links.len() as u32);
            }
        }
        let pre = (0..g.n_pre())
            .map(|i| {
                let (c, pos) = g.input_layout.split(i, ci, h * w);
                ((c * kh * kw * co) as u32, link_ptr[pos], link_ptr[pos + 1])
            })
            .collect();
        ConvKernel {
            geometry,
            taps,
            links,
            pre,
        }
    }

    /// Out-degree of pre neuron `i`.
    #[inline]
    fn out_degree(&self, i: usize) -> u64 {
        let (_, first, last) = self.pre[i];
        (last - first) as u64 * self.geometry.out_channels as u64
    }

    /// Every synapse as (pre, post, weight), pre-major with posts increasing.
    fn synapses(&self) -> Vec<(u32, u32, f32)> {
        let g = &self.geometry;
        let (ci, h, w) = g.input;
        let (co, (kh, kw)) = (g.out_channels, g.kernel);
        let plane = g.output.0 * g.output.1;
        let mut out = Vec::new();
        for pre in 0..g.n_pre() {
            let (c, pos_in) = g.input_layout.split(pre, ci, h * w);
            let start = out.len();
            g.for_each_tap(pos_in / w, pos_in % w, |ky, kx, pos| {
                for o in 0..co {
                    let wt = self.taps[((c * kh + ky) * kw + kx) * co + o];
                    let post = g.output_layout.index(o, pos, co, plane);
                    out.push((pre as u32, post as u32, wt));
                }
            });
            out[start..].sort_by_key(|s| s.1);
        }
        out
    }

    /// Adds the spikes' contributions to the posts in `lo..hi` (local post indices), writing
    /// post j at `acc[j + shift]`. Each post receives one addition per spike, in spike order,
    /// exactly as an explicit synapse list would add them.
    #[inline(always)]
    fn deliver<const ISA: u8>(
        &self,
        spikes: &[u32],
        acc: &mut [f32],
        lo: usize,
        hi: usize,
        shift: isize,
    ) {
        let co = self.geometry.out_channels;
        let whole = lo == 0 && hi == self.geometry.n_post();
        if whole && self.geometry.output_layout == ImageLayout::ChannelsLast {
            // The common case, made branch-free per tap: every run lands whole, at a fixed width
            // the compiler unrolls into vector adds.
            let base = shift as usize; // whole post range in this block: shift ≥ 0
            match co {
                8 => self.deliver_runs::<ISA, 8>(spikes, &mut acc[base..]),
                16 => self.deliver_runs::<ISA, 16>(spikes, &mut acc[base..]),
                32 => self.deliver_runs::<ISA, 32>(spikes, &mut acc[base..]),
                64 => self.deliver_runs::<ISA, 64>(spikes, &mut acc[base..]),
                _ => self.for_each_run(spikes, |pos, run| {
                    let dst = &mut acc[base + pos * co..][..co];
                    for (x, wt) in dst.iter_mut().zip(run) {
                        *x += *wt;
                    }
                }),
            }
            return;
        }
        let plane = self.geometry.output.0 * self.geometry.output.1;
        let layout = self.geometry.output_layout;
        self.for_each_run(spikes, |pos, run| match layout {
            ImageLayout::ChannelsLast => {
                // Posts pos·C_out .. pos·C_out + C_out, clipped to this block.
                let first = pos * co;
                let (a, b) = (first.max(lo), (first + co).min(hi));
                if a < b {
                    let dst = (a as isize + shift) as usize;
                    let acc = &mut acc[dst..dst + (b - a)];
                    for (x, wt) in acc.iter_mut().zip(&run[a - first..b - first]) {
                        *x += *wt;
                    }
                }
            }
            ImageLayout::ChannelsFirst => {
                for (o, wt) in run.iter().enumerate() {
                    let j = o * plane + pos;
                    if (lo..hi).contains(&j) {
                        acc[(j as isize + shift) as usize] += *wt;
                    }
                }
            }
        });
    }

    /// Calls `f(output position, the C_out weights of the tap)` for every tap of every spike, in
    /// spike order.
    #[inline(always)]
    fn for_each_run(&self, spikes: &[u32], mut f: impl FnMut(usize, &[f32])) {
        let co = self.geometry.out_channels;
        for &s in spikes {
            let (kernel, first, last) = self.pre[s as usize];
            for &(tap, pos) in &self.links[first as usize..last as usize] {
                f(
                    pos as usize,
                    &self.taps[kernel as usize + tap as usize * co..][..co],
                );
            }
        }
    }

    /// [`ConvKernel::for_each_run`] into a channels-last target that lies whole in `acc`, with
    /// C_out = `CO` known at compile time.
    #[inline(always)]
    fn deliver_runs<const ISA: u8, const CO: usize>(&self, spikes: &[u32], acc: &mut [f32]) {
        for &s in spikes {
            let (kernel, first, last) = self.pre[s as usize];
            for &(tap, pos) in &self.links[first as usize..last as usize] {
                let run: &[f32; CO] = self.taps[kernel as usize + tap as usize * CO..][..CO]
                    .try_into()
                    .expect("runs are C_out long");
                let dst: &mut [f32; CO] = (&mut acc[pos as usize * CO..][..CO])
                    .try_into()
                    .expect("runs are C_out long");
                add_run::<ISA, CO>(dst, run);
            }
        }
    }
}

/// `dst += run`, elementwise. With vector instructions stated outright: once this loop sits in a
/// runtime-dispatched kernel, LLVM left the fixed-width form scalar (LeNet conversion ran at 40 %
/// of the speed). The same single-precision adds in every path, so the same bits.
#[inline(always)]
fn add_run<const ISA: u8, const CO: usize>(dst: &mut [f32; CO], run: &[f32; CO]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm256_add_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_loadu_ps,
            _mm512_storeu_ps,
        };
        if ISA == crate::simd::AVX512 && CO.is_multiple_of(16) {
            // SAFETY: ISA = AVX512 only in code entered after the CPU was found to have AVX-512
            // (crate::simd's contract); every load and store covers 16 lanes inside the arrays.
            unsafe {
                for k in (0..CO).step_by(16) {
                    let x = _mm512_add_ps(
                        _mm512_loadu_ps(dst.as_ptr().add(k)),
                        _mm512_loadu_ps(run.as_ptr().add(k)),
                    );
                    _mm512_storeu_ps(dst.as_mut_ptr().add(k), x);
                }
            }
            return;
        }
        if ISA >= crate::simd::AVX2 && CO.is_multiple_of(8) {
            // SAFETY: as above, for AVX2 (also present with AVX-512); 8 lanes per access.
            unsafe {
                for k in (0..CO).step_by(8) {
                    let x = _mm256_add_ps(
                        _mm256_loadu_ps(dst.as_ptr().add(k)),
                        _mm256_loadu_ps(run.as_ptr().add(k)),
                    );
                    _mm256_storeu_ps(dst.as_mut_ptr().add(k), x);
                }
            }
            return;
        }
    }
    for k in 0..CO {
        dst[k] += run[k];
    }
}

/// CSR rows by pre-synaptic neuron, with each row's split into target blocks.
#[derive(Debug, Clone)]
pub(crate) struct Csr {
    pub row_ptr: Vec<u64>,
    /// Local post index of each synapse.
    pub post: Vec<u32>,
    pub weights: Vec<f32>,
    /// Per-synapse delays in steps, if they differ.
    pub delays: Option<Vec<u16>>,
    /// For row i and target block b: offset of the block's first synapse from the row start,
    /// at `block_ptr[i * (n_blocks + 1) + b]`.
    pub block_ptr: Vec<u32>,
    pub n_blocks: usize,
    /// Every row holds exactly one synapse (`row_ptr[i] = i`): delivery indexes the synapse by
    /// the spike itself, without row and block offsets.
    pub one_each: bool,
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
    pub(crate) plasticity: Option<Box<dyn Plasticity>>,
    /// Synaptic events delivered so far (spikes × out-degree).
    pub(crate) events: u64,
    /// When set, the projection is a max gate (see [`super::Network::set_max_gate`]).
    pub(crate) gate: Option<MaxGate>,
}

/// The state of a max gate: each post neuron passes, per step, the spike of one of its pre
/// neurons with the largest cumulative spike count so far (this step's spikes included).
#[derive(Debug, Clone)]
pub(crate) struct MaxGate {
    /// Members of local post j: `pre[start[j]..start[j + 1]]` (increasing), with `weight`s.
    start: Vec<u32>,
    pre: Vec<u32>,
    weight: Vec<f32>,
    /// Per local pre: spikes so far.
    counts: Vec<u32>,
    /// Per local pre: whether it fired this step (scratch).
    fired: Vec<bool>,
    /// This step's passed spikes: (local post, weight), increasing post.
    passed: Vec<(u32, f32)>,
    /// Per local post: whether a member fired this step (scratch, cleared by the scan).
    touched: Vec<u8>,
}

impl MaxGate {
    /// A gate over the windows given by the transpose of CSR rows.
    pub(crate) fn new(csr: &Csr, n_pre: usize, n_post: usize) -> MaxGate {
        // The transpose, flat: a window's members side by side (no per-window allocation to
        // chase), in increasing pre order.
        let mut start = vec![0u32; n_post + 1];
        for &j in &csr.post {
            start[j as usize + 1] += 1;
        }
        for j in 0..n_post {
            start[j + 1] += start[j];
        }
        let mut fill: Vec<u32> = start[..n_post].to_vec();
        let mut pre = vec![0u32; csr.post.len()];
        let mut weight = vec![0f32; csr.post.len()];
        for i in 0..n_pre {
            for k in csr.row_ptr[i] as usize..csr.row_ptr[i + 1] as usize {
                let j = csr.post[k] as usize;
                pre[fill[j] as usize] = i as u32;
                weight[fill[j] as usize] = csr.weights[k];
                fill[j] += 1;
            }
        }
        MaxGate {
            start,
            pre,
            weight,
            counts: vec![0; n_pre],
            fired: vec![false; n_pre],
            passed: Vec::new(),
            touched: vec![0; n_post],
        }
    }

    /// Forgets the counts (a new sample).
    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
        self.passed.clear();
    }
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

    /// Counts this step's spikes (local pre indices, increasing) into a max gate and decides what
    /// passes; returns the synaptic events (one per passed spike). Not a gate: `None`.
    pub(crate) fn gate_step(&mut self, spikes: &[u32]) -> Option<u64> {
        self.gate.as_ref()?;
        crate::simd::dispatch!(ISA => self.gate_step_at::<ISA>(spikes))
    }

    /// [`Self::gate_step`] at the vector level `ISA` ([`crate::simd`]).
    #[inline(always)]
    fn gate_step_at<const ISA: u8>(&mut self, spikes: &[u32]) -> Option<u64> {
        let Storage::Sparse(csr) = &self.storage else {
            return None;
        };
        let gate = self.gate.as_mut()?;
        gate.passed.clear();
        for &s in spikes {
            gate.counts[s as usize] += 1;
            gate.fired[s as usize] = true;
        }
        // Mark the windows this step's spikes fall in; the scan visits them in increasing order.
        let MaxGate {
            start,
            pre,
            weight,
            counts,
            fired,
            passed,
            touched,
        } = gate;
        if csr.one_each {
            for &s in spikes {
                touched[csr.post[s as usize] as usize] = 1;
            }
        } else {
            for &s in spikes {
                let row = csr.row_ptr[s as usize] as usize..csr.row_ptr[s as usize + 1] as usize;
                for &j in &csr.post[row] {
                    touched[j as usize] = 1;
                }
            }
        }
        crate::neuron::for_each_fired_at::<ISA>(touched, |j| {
            let members = start[j] as usize..start[j + 1] as usize;
            let best = pre[members.clone()]
                .iter()
                .map(|&i| counts[i as usize])
                .max()
                .unwrap_or(0);
            // The first (lowest-index) member at the maximum that fired passes its spike. Every
            // member is looked at, last to first, so the choice is a select, not a branch.
            let mut pass = usize::MAX;
            for k in members.rev() {
                let i = pre[k] as usize;
                pass = if fired[i] & (counts[i] == best) {
                    k
                } else {
                    pass
                };
            }
            if pass != usize::MAX {
                passed.push((j as u32, weight[pass]));
            }
        });
        for &s in spikes {
            gate.fired[s as usize] = false;
        }
        Some(gate.passed.len() as u64)
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
            Storage::Conv(k) => spikes.iter().map(|&s| k.out_degree(s as usize)).sum(),
        }
    }

    /// The weights, mutable, for plasticity rules and users.
    pub fn synapses_mut(&mut self) -> SynapsesMut<'_> {
        match &mut self.storage {
            Storage::Dense { weights } => SynapsesMut::Dense {
                n_pre: self.n_pre as usize,
                n_post: self.n_post as usize,
                weights,
            },
            Storage::Sparse(csr) => SynapsesMut::Sparse {
                row_ptr: &csr.row_ptr,
                post: &csr.post,
                weights: &mut csr.weights,
            },
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
        let ring: &mut Ring = &mut block.rings[self.buffer];
        if let Some(gate) = &self.gate {
            let slot = ring.slot_of(t, self.delay_steps);
            let acc = ring.slot_mut(slot);
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
                let slot = ring.slot_of(t, self.delay_steps);
                let acc =
                    &mut ring.slot_mut(slot)[(lo - b_start) as usize..(hi - b_start) as usize];
                let (c0, c1) = (
                    (lo - self.post_start) as usize,
                    (hi - self.post_start) as usize,
                );
                let n_post = self.n_post as usize;
                for &s in spikes {
                    let row = &weights[s as usize * n_post + c0..s as usize * n_post + c1];
                    for (a, w) in acc.iter_mut().zip(row) {
                        *a += *w;
                    }
                }
            }
            Storage::Conv(k) => {
                let slot = ring.slot_of(t, self.delay_steps);
                let acc = ring.slot_mut(slot);
                k.deliver::<ISA>(
                    spikes,
                    acc,
                    (lo - self.post_start) as usize,
                    (hi - self.post_start) as usize,
                    self.post_start as isize - b_start as isize,
                );
            }
            Storage::Sparse(csr) => {
                let stride = csr.n_blocks + 1;
                // Offset that turns a local post index into an index inside the block.
                let shift = b_start as i64 - self.post_start as i64;
                match &csr.delays {
                    None if csr.one_each => {
                        let slot = ring.slot_of(t, self.delay_steps);
                        let acc = ring.slot_mut(slot);
                        let (lo, hi) = (lo - self.post_start, hi - self.post_start);
                        for &s in spikes {
                            let j = csr.post[s as usize];
                            if (lo..hi).contains(&j) {
                                acc[(j as i64 - shift) as usize] += csr.weights[s as usize];
                            }
                        }
                    }
                    None => {
                        let slot = ring.slot_of(t, self.delay_steps);
                        let acc = ring.slot_mut(slot);
                        for &s in spikes {
                            let s = s as usize;
                            let row = csr.row_ptr[s] as usize;
                            let a = row + csr.block_ptr[s * stride + block_index] as usize;
                            let b = row + csr.block_ptr[s * stride + block_index + 1] as usize;
                            for (j, w) in csr.post[a..b].iter().zip(&csr.weights[a..b]) {
                                acc[(*j as i64 - shift) as usize] += *w;
                            }
                        }
                    }
                    Some(delays) => {
                        let (n_slots, len) = (ring.n_slots(), ring.len());
                        let base = ring.slot_of(t, 0);
                        let all = ring.all_mut();
                        for &s in spikes {
                            let s = s as usize;
                            let row = csr.row_ptr[s] as usize;
                            let a = row + csr.block_ptr[s * stride + block_index] as usize;
                            let b = row + csr.block_ptr[s * stride + block_index + 1] as usize;
                            for k in a..b {
                                let mut slot = base + delays[k] as usize;
                                if slot >= n_slots {
                                    slot -= n_slots;
                                }
                                all[slot * len + (csr.post[k] as i64 - shift) as usize] +=
                                    csr.weights[k];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Computes `block_ptr` for CSR rows given the post population's block size.
pub(crate) fn block_offsets(
    row_ptr: &[u64],
    post: &[u32],
    post_start: u32,
    block_size: usize,
    n_blocks: usize,
) -> Vec<u32> {
    let n_pre = row_ptr.len() - 1;
    let stride = n_blocks + 1;
    let mut out = vec![0u32; n_pre * stride];
    for i in 0..n_pre {
        let row = &post[row_ptr[i] as usize..row_ptr[i + 1] as usize];
        for b in 0..=n_blocks {
            let bound = (b * block_size) as u64;
            // Posts are sorted within the row, so the block boundary is a partition point.
            out[i * stride + b] =
                row.partition_point(|&j| ((post_start + j) as u64) < bound) as u32;
        }
    }
    out
}
