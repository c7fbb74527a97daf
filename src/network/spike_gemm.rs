//! Dense delivery of a batch of lanes' spikes: the product of the 0/1 spike matrix (lanes × pre
//! neurons) with a dense projection's weight matrix, for steps where so many pre neurons fire
//! that reading every row once for a tile of lanes beats fetching the fired rows one by one.
//!
//! The weights are first laid out in strips of 16 target columns, each strip's rows contiguous
//! ([`pack`], once per projection and block), so that a strip streams from memory in order. A
//! tile of accumulators (4 lanes × 16 targets) stays in vector registers while the loop walks
//! every pre neuron in increasing order and adds its strip row into each lane of the tile, masked
//! to zero where the lane's neuron stayed silent. Each target of each lane therefore sums the rows
//! of its fired pre neurons in increasing order, one addition at a time, plus additions of +0 for
//! the silent ones; +0 changes no sum that is not −0, and an accumulator that starts at +0 and
//! only ever receives additions never holds −0 (round to nearest gives +0 to every exact
//! cancellation). Hence the bits of the event-driven delivery, which adds the same rows in spike
//! order. Silent rows cost their reads;
//! [`super::Lockstep`] picks this path only above a firing density it was told
//! ([`super::DENSE_CROSSOVER`] says where it pays on the machine measured).

/// Mask value of a lane's pre neuron that fired (every bit set); a silent one's is 0.
pub(super) const FIRED: u32 = u32::MAX;

/// Target columns per strip of the packed weights.
pub(super) const STRIP: usize = 16;

/// Columns `c0..c0 + 16·k` (the whole strips inside `c0..c1`) of the pre-major matrix `weights`
/// (`n_pre` rows of `n_post`), strip after strip, each strip `n_pre` rows of 16.
pub(super) fn pack(weights: &[f32], n_pre: usize, n_post: usize, c0: usize, c1: usize) -> Vec<f32> {
    let strips = (c1 - c0) / STRIP;
    let mut out = Vec::with_capacity(strips * n_pre * STRIP);
    for s in 0..strips {
        for i in 0..n_pre {
            let at = i * n_post + c0 + s * STRIP;
            out.extend_from_slice(&weights[at..at + STRIP]);
        }
    }
    out
}

/// For every lane k (`accs[k]`, the target columns `c0..c1` of its accumulator, which holds no
/// −0) and every pre neuron i in increasing order whose mask `masks[k·n_pre + i]` is [`FIRED`]
/// (else 0): adds columns `c0..c1` of row i of the pre-major matrix `weights` (`n_post` columns)
/// into `accs[k]`. `packed` is [`pack`] of the same columns.
#[inline(always)]
pub(super) fn add_masked_rows<const ISA: u8>(
    weights: &[f32],
    packed: &[f32],
    n_post: usize,
    c0: usize,
    c1: usize,
    masks: &[u32],
    accs: &mut [&mut [f32]],
) {
    let width = c1 - c0;
    let n_lanes = accs.len();
    if n_lanes == 0 || width == 0 {
        return;
    }
    let n_pre = masks.len() / n_lanes;
    let strips = width / STRIP;
    assert!(
        masks.len() == n_lanes * n_pre
            && weights.len() >= n_pre * n_post
            && c1 <= n_post
            && packed.len() == strips * n_pre * STRIP
            && accs.iter().all(|a| a.len() == width),
        "spike matrix, weights and accumulators disagree"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if ISA >= crate::simd::AVX2 {
        done = strips * STRIP;
        for s in 0..strips {
            let strip = &packed[s * n_pre * STRIP..(s + 1) * n_pre * STRIP];
            let mut k = 0;
            while k + 4 <= n_lanes {
                // SAFETY: AVX2 is present (ISA ≥ AVX2 only in code entered after the CPU was
                // found to have it); the strip holds n_pre rows of 16, the accumulators of lanes
                // k..k + 4 ≤ n_lanes hold columns s·16 + 16 ≤ width, and the masks n_pre per
                // lane, as the assert above checked.
                unsafe { tile::<4>(strip, s * STRIP, n_pre, masks, accs, k) };
                k += 4;
            }
            while k < n_lanes {
                // SAFETY: as above, for one lane.
                unsafe { tile::<1>(strip, s * STRIP, n_pre, masks, accs, k) };
                k += 1;
            }
        }
    }
    if done < width {
        for (k, acc) in accs.iter_mut().enumerate() {
            let acc = &mut acc[done..];
            for (i, &m) in masks[k * n_pre..(k + 1) * n_pre].iter().enumerate() {
                if m == FIRED {
                    let row = &weights[i * n_post + c0 + done..i * n_post + c1];
                    for (a, w) in acc.iter_mut().zip(row) {
                        *a += *w;
                    }
                }
            }
        }
    }
}

/// Lanes `k..k + LT`, accumulator columns `col..col + 16`, over every pre neuron of one strip.
///
/// # Safety
/// The CPU must have AVX2; `strip` holds `n_pre` rows of 16, `accs[k + l]` holds `col + 16`
/// values and `masks` the `n_pre` masks of each lane `k + l`, for l < LT.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile<const LT: usize>(
    strip: &[f32],
    col: usize,
    n_pre: usize,
    masks: &[u32],
    accs: &mut [&mut [f32]],
    k: usize,
) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_and_ps, _mm256_broadcast_ss, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let mut acc: [[__m256; 2]; LT] = [[_mm256_setzero_ps(); 2]; LT];
    for (l, a) in acc.iter_mut().enumerate() {
        let p = accs[k + l].as_ptr().add(col);
        *a = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
    }
    // The masks read as floats: all ones or zero, only ever combined bitwise.
    let m0 = masks.as_ptr().add(k * n_pre) as *const f32;
    let mut row = strip.as_ptr();
    for i in 0..n_pre {
        let w = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))];
        for (l, a) in acc.iter_mut().enumerate() {
            let m = _mm256_broadcast_ss(&*m0.add(l * n_pre + i));
            a[0] = _mm256_add_ps(a[0], _mm256_and_ps(w[0], m));
            a[1] = _mm256_add_ps(a[1], _mm256_and_ps(w[1], m));
        }
        row = row.add(STRIP);
    }
    for (l, a) in acc.iter().enumerate() {
        let p = accs[k + l].as_mut_ptr().add(col);
        _mm256_storeu_ps(p, a[0]);
        _mm256_storeu_ps(p.add(8), a[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::{add_masked_rows, pack, FIRED};
    use crate::simd::{AVX2, PORTABLE};

    /// Rows added one fired neuron at a time, in order (the event-driven sum).
    fn by_events(
        w: &[f32],
        n_post: usize,
        c0: usize,
        c1: usize,
        fired: &[Vec<usize>],
    ) -> Vec<Vec<f32>> {
        fired
            .iter()
            .map(|list| {
                let mut acc: Vec<f32> = (c0..c1).map(|c| c as f32 * 0.001).collect();
                for &i in list {
                    for (a, c) in acc.iter_mut().zip(c0..c1) {
                        *a += w[i * n_post + c];
                    }
                }
                acc
            })
            .collect()
    }

    #[test]
    fn masked_rows_give_the_bits_of_rows_added_one_by_one() {
        let (n_pre, n_post) = (37, 45);
        let w: Vec<f32> = (0..n_pre * n_post)
            .map(|k| ((k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f32 / 1.7e7 - 0.4)
            .collect();
        // Lanes 0..7 (tiles of 4 and single lanes), each firing its own pattern, one silent.
        let fired: Vec<Vec<usize>> = (0..7)
            .map(|l| {
                (0..n_pre)
                    .filter(|i| l != 3 && (i * 7 + l) % (l + 2) == 0)
                    .collect()
            })
            .collect();
        for (c0, c1) in [(0, 45), (3, 40), (5, 21), (0, 16)] {
            let expected = by_events(&w, n_post, c0, c1, &fired);
            let mut masks = vec![0u32; 7 * n_pre];
            let packed = pack(&w, n_pre, n_post, c0, c1);
            for (l, list) in fired.iter().enumerate() {
                for &i in list {
                    masks[l * n_pre + i] = FIRED;
                }
            }
            for isa in [PORTABLE, AVX2] {
                if isa == AVX2 && !std::arch::is_x86_feature_detected!("avx2") {
                    continue;
                }
                let mut accs: Vec<Vec<f32>> = (0..7)
                    .map(|_| (c0..c1).map(|c| c as f32 * 0.001).collect())
                    .collect();
                let mut views: Vec<&mut [f32]> = accs.iter_mut().map(|a| &mut a[..]).collect();
                match isa {
                    PORTABLE => {
                        add_masked_rows::<PORTABLE>(&w, &packed, n_post, c0, c1, &masks, &mut views)
                    }
                    _ => crate::simd::run::<AVX2, _>(
                        #[inline(always)]
                        || add_masked_rows::<AVX2>(&w, &packed, n_post, c0, c1, &masks, &mut views),
                    ),
                }
                for (l, (got, want)) in accs.iter().zip(&expected).enumerate() {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(got),
                        bits(want),
                        "lane {l}, columns {c0}..{c1}, isa {isa}"
                    );
                }
            }
        }
    }
}
