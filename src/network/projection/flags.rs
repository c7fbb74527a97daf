//! Flag delivery: a one-to-one-per-pre projection (pooling windows) read from its pre
//! population's firing flags instead of its spike list.
//!
//! A converted network's pooling layer receives the spikes of a convolution layer that fires a
//! tenth of its neurons every step. Delivered spike by spike, each spike is a scattered
//! read-modify-write, and the spikes must first be packed into a list, a pass over the flags of
//! every neuron; together a fifth of a converted LeNet's step. Read the other way round — for
//! each run of consecutive targets, the flags of the consecutive pre neurons that reach them,
//! window tap after window tap — the same additions are a few vector operations per 16 targets,
//! and a population whose only readers are such projections needs no list at all.
//!
//! Every target still adds its inputs in increasing pre order (taps are taken in the order of
//! their pre neurons), and a target whose pre neuron did not fire keeps its value (a select, not
//! an addition of zero), so the sums have exactly the bits of spike-by-spike delivery.

/// Runs of targets whose synapses come from runs of consecutive pre neurons: target `post + l`
/// (l < len) has one synapse from each pre neuron `taps[k] + l`, its taps in increasing pre
/// order. Channels-last pooling gives one run per output position, of C channels and one tap per
/// window cell.
#[derive(Debug, Clone)]
pub(crate) struct FlagPlan {
    /// (first target, length, range of its taps in `taps`), targets increasing.
    runs: Vec<(u32, u32, u32, u32)>,
    /// Per tap: the pre neuron of the run's first target.
    taps: Vec<u32>,
    /// The runs cut into whole vectors of [`LANES`] targets, for delivery into a target that lies
    /// whole in one block: (first target, range of its run's taps, lane offset in the run).
    chunks: Vec<(u32, u32, u32, u32)>,
    /// What the chunks leave: (first target, length, range of taps, lane offset).
    rests: Vec<(u32, u32, u32, u32, u32)>,
    /// When every chunk's taps lie at the same offsets from its first (a regular pooling: the
    /// window cells of every output position at the same distances): those offsets, and per
    /// chunk (first target, first tap's pre neuron plus the lane offset).
    uniform: Option<Uniform>,
    /// Targets in all.
    n_post: usize,
}

/// Fewest synapses per run for which reading flags pays: below this the runs are too short for
/// vector work (channels-first pooling has runs of one target).
const MIN_RUN_SYNAPSES: usize = 16;

impl FlagPlan {
    /// The plan of a projection where pre neuron i has exactly one synapse, to `post[i]` (local
    /// indices), or `None` when its runs would be too short to pay.
    pub(crate) fn build(n_post: usize, post: &[u32]) -> Option<FlagPlan> {
        // Pre neurons by target, increasing within each (a counting sort over the targets).
        let ptr = super::sparse::target_starts(n_post, post);
        let mut fill = ptr.clone();
        let mut by_post = vec![0u32; post.len()];
        for (i, &j) in post.iter().enumerate() {
            by_post[fill[j as usize]] = i as u32;
            fill[j as usize] += 1;
        }
        let pres = |j: usize| &by_post[ptr[j]..ptr[j + 1]];
        let (mut runs, mut taps) = (Vec::new(), Vec::new());
        let mut j = 0;
        while j < n_post {
            let first = pres(j);
            if first.is_empty() {
                j += 1;
                continue;
            }
            let mut len = 1;
            while j + len < n_post {
                let next = pres(j + len);
                let shifted = next.len() == first.len()
                    && next.iter().zip(first).all(|(&b, &a)| b == a + len as u32);
                if !shifted {
                    break;
                }
                len += 1;
            }
            let at = taps.len() as u32;
            taps.extend_from_slice(first);
            runs.push((j as u32, len as u32, at, taps.len() as u32));
            j += len;
        }
        if runs.is_empty() || post.len() < MIN_RUN_SYNAPSES * runs.len() {
            return None;
        }
        let (mut chunks, mut rests) = (Vec::new(), Vec::new());
        for &(first, len, t0, t1) in &runs {
            let whole = len as usize / LANES * LANES;
            for m in (0..whole).step_by(LANES) {
                chunks.push((first + m as u32, t0, t1, m as u32));
            }
            if whole < len as usize {
                let rest = len - whole as u32;
                rests.push((first + whole as u32, rest, t0, t1, whole as u32));
            }
        }
        let uniform = uniform_taps(&taps, &chunks);
        Some(FlagPlan {
            runs,
            taps,
            chunks,
            rests,
            uniform,
            n_post,
        })
    }

    /// Adds the contributions of the pre neurons flagged in `flags` (from the projection's
    /// first pre neuron on) to the targets in `lo..hi` (local indices), writing target j at
    /// `acc[j + shift]`; `weights[i]` is pre neuron i's synapse. Compiled for each vector level
    /// `ISA` ([`crate::simd`]): the select-and-add loop is left to the compiler to vectorise.
    #[inline(always)]
    pub(crate) fn deliver<const ISA: u8>(
        &self,
        flags: &[u8],
        weights: &[f32],
        acc: &mut [f32],
        lo: usize,
        hi: usize,
        shift: isize,
    ) {
        if lo == 0 && hi == self.n_post {
            return self.deliver_whole::<ISA>(flags, weights, &mut acc[shift as usize..]);
        }
        for &(post, len, t0, t1) in &self.runs {
            let (post, len) = (post as usize, len as usize);
            let (a, b) = (post.max(lo), (post + len).min(hi));
            if a >= b {
                continue;
            }
            let (off, n) = (a - post, b - a);
            let dst = (a as isize + shift) as usize;
            let acc = &mut acc[dst..dst + n];
            let taps = &self.taps[t0 as usize..t1 as usize];
            // Sixteen targets at a time, held in registers over all the taps; then the rest.
            let mut k = 0;
            while k + LANES <= n {
                let sum: &mut [f32; LANES] = (&mut acc[k..k + LANES]).try_into().expect("16");
                add_fired::<ISA, 1>(std::array::from_mut(sum), taps.len(), |_, j| {
                    window(flags, weights, taps[j] as usize + off + k)
                });
                k += LANES;
            }
            for &pre in taps {
                let first = pre as usize + off;
                for l in k..n {
                    if flags[first + l] != 0 {
                        acc[l] += weights[first + l];
                    }
                }
            }
        }
    }
}

/// The chunks of a plan whose taps all lie at the same offsets from their first.
#[derive(Debug, Clone)]
struct Uniform {
    /// The tap offsets shared by every chunk.
    offsets: Vec<u32>,
    /// Per chunk: (first target, pre neuron of its first window).
    bases: Vec<(u32, u32)>,
    /// One past the last pre neuron any window reads.
    reach: usize,
}

/// The common tap offsets of `chunks` ([`FlagPlan::uniform`]), or `None` when they differ.
fn uniform_taps(taps: &[u32], chunks: &[(u32, u32, u32, u32)]) -> Option<Uniform> {
    let offsets = |&(_, t0, t1, _): &(u32, u32, u32, u32)| {
        let taps = &taps[t0 as usize..t1 as usize];
        taps.iter().map(|&t| t - taps[0]).collect::<Vec<u32>>()
    };
    let first = offsets(chunks.first()?);
    if first.is_empty() || !chunks.iter().all(|c| offsets(c) == first) {
        return None;
    }
    let bases: Vec<(u32, u32)> = chunks
        .iter()
        .map(|&(post, t0, _, lane)| (post, taps[t0 as usize] + lane))
        .collect();
    let last = *first.iter().max().expect("taps") as usize;
    let reach = bases
        .iter()
        .map(|&(_, b)| b as usize)
        .max()
        .expect("chunks")
        + last
        + LANES;
    Some(Uniform {
        offsets: first,
        bases,
        reach,
    })
}

impl FlagPlan {
    /// [`FlagPlan::deliver`] into a target whose every neuron is in `acc` (from index 0): the
    /// vectors of four chunks with the same taps are worked together, so that the chains of
    /// dependent additions (one per chunk, tap after tap) overlap.
    #[inline(always)]
    fn deliver_whole<const ISA: u8>(&self, flags: &[u8], weights: &[f32], acc: &mut [f32]) {
        assert!(acc.len() >= self.n_post, "the target lies whole in acc");
        if let Some(uniform) = &self.uniform {
            Self::deliver_uniform::<ISA>(uniform, flags, weights, acc);
        } else {
            self.deliver_chunks::<ISA>(flags, weights, acc);
        }
        self.deliver_rests(flags, weights, acc);
    }

    /// The chunks of [`FlagPlan::deliver_whole`] when their taps share offsets: a chunk's
    /// windows are its base plus the offsets, with no table lookup or bounds check per tap (the
    /// lookups were most of the instructions of this loop, which bounds it).
    #[inline(always)]
    fn deliver_uniform<const ISA: u8>(
        uniform: &Uniform,
        flags: &[u8],
        weights: &[f32],
        acc: &mut [f32],
    ) {
        let Uniform {
            offsets,
            bases,
            reach,
        } = uniform;
        let reach = *reach;
        // Every window lies in the pre neurons that `flags` and `weights` hold.
        assert!(
            flags.len() >= reach && weights.len() >= reach,
            "windows inside the pre neurons"
        );
        let window = |at: usize| -> Window<'_> {
            // SAFETY: every window of a chunk lies in its run, at + LANES ≤ reach ≤ both
            // lengths (asserted above).
            debug_assert!(at + LANES <= reach);
            unsafe {
                (
                    &*flags.as_ptr().add(at).cast::<[u8; LANES]>(),
                    &*weights.as_ptr().add(at).cast::<[f32; LANES]>(),
                )
            }
        };
        let n = offsets.len();
        let mut quads = bases.chunks_exact(4);
        for q in &mut quads {
            let mut sums = [[0f32; LANES]; 4];
            for (sum, c) in sums.iter_mut().zip(q) {
                *sum = acc[c.0 as usize..][..LANES].try_into().expect("16");
            }
            add_fired::<ISA, 4>(&mut sums, n, |i, k| window((q[i].1 + offsets[k]) as usize));
            for (sum, c) in sums.iter().zip(q) {
                acc[c.0 as usize..][..LANES].copy_from_slice(sum);
            }
        }
        for c in quads.remainder() {
            let sum: &mut [f32; LANES] =
                (&mut acc[c.0 as usize..][..LANES]).try_into().expect("16");
            add_fired::<ISA, 1>(std::array::from_mut(sum), n, |_, k| {
                window((c.1 + offsets[k]) as usize)
            });
        }
    }

    /// The chunks of [`FlagPlan::deliver_whole`], each with its own taps.
    #[inline(always)]
    fn deliver_chunks<const ISA: u8>(&self, flags: &[u8], weights: &[f32], acc: &mut [f32]) {
        let taps = &self.taps;
        let mut quads = self.chunks.chunks_exact(4);
        for q in &mut quads {
            let n_taps = q[0].2 - q[0].1;
            if q.iter().all(|c| c.2 - c.1 == n_taps) {
                let mut sums = [[0f32; LANES]; 4];
                for (sum, c) in sums.iter_mut().zip(q) {
                    *sum = acc[c.0 as usize..][..LANES].try_into().expect("16");
                }
                let n = n_taps as usize;
                add_fired::<ISA, 4>(&mut sums, n, |i, k| {
                    let c = &q[i];
                    window(flags, weights, (taps[(c.1 as usize) + k] + c.3) as usize)
                });
                for (sum, c) in sums.iter().zip(q) {
                    acc[c.0 as usize..][..LANES].copy_from_slice(sum);
                }
            } else {
                for c in q {
                    self.chunk::<ISA>(*c, flags, weights, acc);
                }
            }
        }
        for c in quads.remainder() {
            self.chunk::<ISA>(*c, flags, weights, acc);
        }
    }

    /// The targets of [`FlagPlan::deliver_whole`] that fill no whole vector, one by one.
    #[inline(always)]
    fn deliver_rests(&self, flags: &[u8], weights: &[f32], acc: &mut [f32]) {
        let taps = &self.taps;
        for &(first, len, t0, t1, lane) in &self.rests {
            let acc = &mut acc[first as usize..][..len as usize];
            for &pre in &taps[t0 as usize..t1 as usize] {
                let at = (pre + lane) as usize;
                let (f, w) = (
                    &flags[at..at + len as usize],
                    &weights[at..at + len as usize],
                );
                for ((x, &f), &w) in acc.iter_mut().zip(f).zip(w) {
                    if f != 0 {
                        *x += w;
                    }
                }
            }
        }
    }

    /// One chunk of [`FlagPlan::deliver_whole`] on its own.
    #[inline(always)]
    fn chunk<const ISA: u8>(
        &self,
        (first, t0, t1, lane): (u32, u32, u32, u32),
        flags: &[u8],
        weights: &[f32],
        acc: &mut [f32],
    ) {
        let sum: &mut [f32; LANES] = (&mut acc[first as usize..][..LANES])
            .try_into()
            .expect("16");
        let taps = &self.taps[t0 as usize..t1 as usize];
        add_fired::<ISA, 1>(std::array::from_mut(sum), taps.len(), |_, k| {
            window(flags, weights, (taps[k] + lane) as usize)
        });
    }
}

/// Targets per vector of [`FlagPlan::deliver`].
const LANES: usize = 16;

/// The 16 flags and weights of pre neurons `first..first + 16`.
#[inline(always)]
fn window<'a>(flags: &'a [u8], weights: &'a [f32], first: usize) -> Window<'a> {
    let f = flags[first..first + LANES].try_into().expect("16 flags");
    let w = weights[first..first + LANES]
        .try_into()
        .expect("16 weights");
    (f, w)
}

/// The flags and weights of 16 consecutive pre neurons.
type Window<'a> = (&'a [u8; LANES], &'a [f32; LANES]);

/// For each of `n_taps` taps in order and each of the N chunks, `sum[l] += w[l]` where `f[l]`
/// is set, `(f, w) = window(chunk, tap)`, leaving the others as they are: masked vector adds on
/// sums held in registers with AVX-512 (a masked store between taps would stall the next tap's
/// load; the N chains of dependent adds overlap), a select the compiler vectorises elsewhere.
/// The same single-precision adds in every path, so the same bits.
#[inline(always)]
fn add_fired<'a, const ISA: u8, const N: usize>(
    sums: &mut [[f32; LANES]; N],
    n_taps: usize,
    window: impl Fn(usize, usize) -> Window<'a>,
) {
    #[cfg(target_arch = "x86_64")]
    if ISA == crate::simd::AVX512 {
        use std::arch::x86_64::{
            _mm512_loadu_ps, _mm512_mask_add_ps, _mm512_storeu_ps, _mm_loadu_si128,
            _mm_test_epi8_mask,
        };
        // SAFETY: ISA = AVX512 only in code entered after the CPU was found to have AVX-512
        // (crate::simd's contract: F, BW and VL); every access covers the 16 lanes of an array.
        unsafe {
            let mut x = sums.map(|s| _mm512_loadu_ps(s.as_ptr()));
            for k in 0..n_taps {
                for (i, x) in x.iter_mut().enumerate() {
                    let (f, w) = window(i, k);
                    let bits = _mm_loadu_si128(f.as_ptr().cast());
                    let mask = _mm_test_epi8_mask(bits, bits);
                    *x = _mm512_mask_add_ps(*x, mask, *x, _mm512_loadu_ps(w.as_ptr()));
                }
            }
            for (s, x) in sums.iter_mut().zip(x) {
                _mm512_storeu_ps(s.as_mut_ptr(), x);
            }
        }
        return;
    }
    for k in 0..n_taps {
        for (i, sum) in sums.iter_mut().enumerate() {
            let (f, w) = window(i, k);
            for l in 0..LANES {
                sum[l] = if f[l] != 0 { sum[l] + w[l] } else { sum[l] };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlagPlan;

    /// The targets of a 2×2, stride-2 pooling of a (c, 4, 4) image, pre neuron by pre neuron.
    fn pooling_posts(c: usize, channels_last: bool) -> Vec<u32> {
        (0..c * 16)
            .map(|i| {
                let (ch, y, x) = if channels_last {
                    (i % c, i / c / 4, i / c % 4)
                } else {
                    (i / 16, i % 16 / 4, i % 4)
                };
                let pos = (y / 2) * 2 + x / 2;
                (if channels_last {
                    pos * c + ch
                } else {
                    ch * 4 + pos
                }) as u32
            })
            .collect()
    }

    #[test]
    fn channels_last_pooling_runs_over_the_channels_of_a_position() {
        let plan = FlagPlan::build(16 * 4, &pooling_posts(16, true)).expect("long runs");
        // One run per output position, of 16 channels and one tap per window cell: positions
        // (0, 0), (0, 1), (1, 0), (1, 1) of the window, their channel 0 at 16·(4y + x).
        assert_eq!(plan.runs.len(), 4);
        assert_eq!(plan.runs[0], (0, 16, 0, 4));
        assert_eq!(&plan.taps[..4], &[0, 16, 64, 80]);
        assert_eq!(plan.runs[3], (48, 16, 12, 16));
        assert_eq!(&plan.taps[12..], &[160, 176, 224, 240]);
    }

    #[test]
    fn regular_pooling_has_uniform_taps_and_edge_windows_do_not() {
        // 32 channels: two chunks per position, the second at lane offset 16; the four cells of
        // every window at 0, C, 4C and 5C from its first.
        let plan = FlagPlan::build(32 * 4, &pooling_posts(32, true)).expect("long runs");
        let uniform = plan.uniform.as_ref().expect("uniform");
        assert_eq!(uniform.offsets, &[0, 32, 128, 160]);
        assert_eq!(&uniform.bases[..3], &[(0, 0), (16, 16), (32, 64)]);
        assert_eq!(uniform.reach, 32 * 16);
        // A 3-wide image pooled 2×2: the last column's windows have two cells, not four.
        let (c, w) = (16usize, 3usize);
        let posts: Vec<u32> = (0..c * 4 * w)
            .map(|i| {
                let (ch, y, x) = (i % c, i / c / w, i / c % w);
                ((((y / 2) * 2) + x / 2) * c + ch) as u32
            })
            .collect();
        let plan = FlagPlan::build(c * 4, &posts).expect("long runs");
        assert!(plan.uniform.is_none());
    }

    #[test]
    fn channels_first_pooling_has_runs_too_short_to_pay() {
        assert!(FlagPlan::build(16 * 4, &pooling_posts(16, false)).is_none());
    }
}
