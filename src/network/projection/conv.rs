//! Weight-shared 2-D convolution projections: the geometry, how image neurons are numbered, and
//! delivery of a spike as contiguous runs of C_out weights (channels-last targets).

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
    pub fn index(self, c: usize, pos: usize, c_n: usize, hw: usize) -> usize {
        match self {
            ImageLayout::ChannelsFirst => c * hw + pos,
            ImageLayout::ChannelsLast => pos * c_n + c,
        }
    }

    /// (channel, position y·W + x) of neuron `i`.
    #[inline]
    pub fn split(self, i: usize, c_n: usize, hw: usize) -> (usize, usize) {
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
    pub(super) fn out_degree(&self, i: usize) -> u64 {
        self.links_of(i) * self.geometry.out_channels as u64
    }

    /// Output positions pre neuron `i` reaches (its out-degree per output channel).
    #[inline]
    fn links_of(&self, i: usize) -> u64 {
        let (_, first, last) = self.pre[i];
        (last - first) as u64
    }

    /// Synaptic events of `spikes` (the sum of their out-degrees): links counted per spike,
    /// multiplied by C_out once.
    #[inline]
    pub(super) fn events_of(&self, spikes: &[u32]) -> u64 {
        let links: u64 = spikes.iter().map(|&s| self.links_of(s as usize)).sum();
        links * self.geometry.out_channels as u64
    }

    /// Every synapse as (pre, post, weight), pre-major with posts increasing.
    pub(super) fn synapses(&self) -> Vec<(u32, u32, f32)> {
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
    pub(super) fn deliver<const ISA: u8>(
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
    ///
    /// Spikes of one input position (neighbours in a channels-last list) reach the same output
    /// runs through the same taps, so they are taken as a group: each of the group's output runs
    /// is loaded once, receives the group's weight runs one spike after the other, and is stored
    /// once. Each post still adds its inputs in spike order — the bits of one spike at a time —
    /// while the accumulator traffic, which bounds this loop, falls by the group's size (a
    /// converted LeNet's pooled layer fires about two of 16 channels per active position).
    #[inline(always)]
    fn deliver_runs<const ISA: u8, const CO: usize>(&self, spikes: &[u32], acc: &mut [f32]) {
        let positions = self.geometry.output.0 * self.geometry.output.1;
        assert!(acc.len() >= positions * CO, "the target lies whole in acc");
        assert_eq!(
            self.taps.len(),
            self.geometry.n_weights(),
            "taps hold the whole kernel"
        );
        let taps = self.taps.as_ptr();
        let acc = acc.as_mut_ptr();
        // The group's kernel offsets, read once per group rather than once per tap: the loop
        // below is bound by its instruction count, and a per-tap table lookup with its bounds
        // checks was most of it. A group longer than this (more than GROUP channels fired at
        // one position) is taken in parts, one after the other, which keeps spike order.
        const GROUP: usize = 64;
        let mut kernels = [0u32; GROUP];
        let mut rest = spikes;
        while let Some(&s) = rest.first() {
            let (_, first, last) = self.pre[s as usize];
            // The spikes sharing this link range: the same position (an empty range never
            // groups with a non-empty one, whose end differs).
            let mut n = 1;
            while n < rest.len().min(GROUP) {
                let (_, f, l) = self.pre[rest[n] as usize];
                if (f, l) != (first, last) {
                    break;
                }
                n += 1;
            }
            let (group, next) = rest.split_at(n);
            rest = next;
            for (k, &g) in kernels.iter_mut().zip(group) {
                *k = self.pre[g as usize].0;
            }
            let links = &self.links[first as usize..last as usize];
            // Groups of up to 16 spikes get straight-line code with their kernel offsets in
            // registers; a loop over the group at every tap, its trip count and offsets read
            // again each time, doubled the instructions per tap. Most groups are small (a
            // converted LeNet's pooled layer fires about two of 16 channels per active
            // position), but the few large ones carry many of the spikes: with the loop kept
            // for groups of more than four, it had a quarter of this function's time.
            let k = &kernels;
            // SAFETY: every link's position is an output position (< positions, by
            // construction of `links`) and acc holds positions·CO values (asserted above); a
            // kernel offset is c·kh·kw·CO and a tap < kh·kw, so `kernel + tap·CO + CO` ≤
            // ci·kh·kw·CO, the length of `taps` (asserted above).
            unsafe {
                macro_rules! sized {
                    ($($m:literal)*) => {
                        match n {
                            $($m => add_group::<ISA, CO>(
                                links,
                                taps,
                                acc,
                                &<[u32; $m]>::try_from(&k[..$m]).expect("m kernels"),
                            ),)*
                            _ => add_group::<ISA, CO>(links, taps, acc, &k[..n]),
                        }
                    };
                }
                sized!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
            }
        }
    }
}

/// For every link (tap, output position) of one input position, adds the kernel runs of a
/// group of spikes there (their kernel offsets `kernels`, in spike order) to the position's
/// C_out sums: loaded once, the runs added one after the other, stored once. Called with an
/// array of known length, it becomes straight-line code per link.
///
/// # Safety
/// Every link's position is below the number of positions whose C_out sums `acc` holds, and
/// every `kernel + tap·CO + CO` lies within `taps`.
#[inline(always)]
unsafe fn add_group<const ISA: u8, const CO: usize>(
    links: &[(u32, u32)],
    taps: *const f32,
    acc: *mut f32,
    kernels: &[u32],
) {
    for &(tap, pos) in links {
        // SAFETY: the caller's contract.
        unsafe {
            let dst: &mut [f32; CO] = &mut *acc.add(pos as usize * CO).cast();
            let at = taps.add(tap as usize * CO);
            let mut sum = *dst;
            for &kernel in kernels {
                add_run::<ISA, CO>(&mut sum, &*at.add(kernel as usize).cast());
            }
            *dst = sum;
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
