//! Turning a block's spike flags into spike lists: the flags of 64 neurons become one bit mask in
//! a few vector instructions, so that a sparse step skips empty chunks and a dense one costs no
//! branch per neuron.

/// What a block's step leaves of its spikes: the list of the neurons that fired, the per-neuron
/// flags, or both. Flags stay set for projections that read the firing pattern as a whole (see
/// `crate::network`'s flag delivery); a list nobody reads is not built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SpikeOutput {
    /// The list; the flags are cleared.
    #[default]
    List,
    /// The list, and the flags left set.
    ListAndFlags,
    /// Only the flags, left set.
    Flags,
}

/// Appends `base + i` to `spikes` for every neuron i flagged in `fired` (increasing) and clears
/// the flags, or does what `output` asks instead; `n_fired` is their number, which it returns.
/// `ISA`: see [`crate::simd`].
#[inline(always)]
pub(crate) fn collect_spikes<const ISA: u8>(
    fired: &mut [u8],
    n_fired: usize,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    if n_fired == 0 {
        return 0;
    }
    match output {
        SpikeOutput::List => collect_at::<ISA, true>(fired, n_fired, base, spikes),
        SpikeOutput::ListAndFlags => collect_at::<ISA, false>(fired, n_fired, base, spikes),
        SpikeOutput::Flags => {}
    }
    n_fired
}

/// The number of non-zero flags, at the vector level `ISA`.
#[inline(always)]
pub(crate) fn count_flags<const ISA: u8>(flags: &[u8]) -> usize {
    // Byte sums in chunks that cannot overflow a u8 lane, widened once per chunk: one vector
    // add per 64 flags.
    flags
        .chunks(255)
        .map(|c| c.iter().fold(0u8, |n, &f| n + (f != 0) as u8) as usize)
        .sum()
}

/// [`collect_spikes`] into the list, clearing the flags if `CLEAR`.
#[inline(always)]
fn collect_at<const ISA: u8, const CLEAR: bool>(
    fired: &mut [u8],
    n_fired: usize,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    #[cfg(target_arch = "x86_64")]
    if ISA == crate::simd::AVX512 {
        // SAFETY: ISA = AVX512 only in code entered after the CPU was found to have AVX-512
        // (crate::simd's contract).
        unsafe { compress_spikes::<CLEAR>(fired, n_fired, base, spikes) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if ISA == crate::simd::AVX2 {
        // SAFETY: ISA = AVX2 only in code entered after the CPU was found to have AVX2
        // (crate::simd's contract).
        unsafe { compress_spikes_avx2::<CLEAR>(fired, n_fired, base, spikes) };
        return;
    }
    spikes.reserve(n_fired);
    for_each_fired_chunk::<ISA, CLEAR>(fired, |c, mut mask| {
        while mask != 0 {
            spikes.push(base + (c * CHUNK + mask.trailing_zeros() as usize) as u32);
            mask &= mask - 1;
        }
    });
}

/// [`collect_spikes`] with AVX-512: each 16-flag group's indices are packed to the front of a
/// vector (`vpcompressd`, register form) and stored whole, advancing by the group's spike count,
/// so a dense spike pattern costs no branch per spike.
///
/// # Safety
/// The CPU must have the features of [`crate::simd::AVX512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt"
)]
#[inline]
unsafe fn compress_spikes<const CLEAR: bool>(
    fired: &mut [u8],
    n_fired: usize,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    use std::arch::x86_64::{
        _mm512_add_epi32, _mm512_maskz_compress_epi32, _mm512_set1_epi32, _mm512_setr_epi32,
        _mm512_storeu_si512,
    };
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // SAFETY: the caller guarantees AVX-512 F; each store writes the 16 lanes `pack_groups`
    // leaves room for.
    unsafe {
        pack_groups::<{ crate::simd::AVX512 }, 16, CLEAR>(
            fired,
            n_fired,
            base,
            spikes,
            |out, first, m| {
                let idx = _mm512_add_epi32(_mm512_set1_epi32(first as i32), lanes);
                let packed = _mm512_maskz_compress_epi32(m as u16, idx);
                _mm512_storeu_si512(out.cast(), packed);
            },
        )
    }
}

/// [`collect_spikes`] with AVX2, which has no compress instruction: each 8-flag group's mask
/// byte looks up the positions of its set bits ([`POSITIONS`]), widened to eight indices and
/// stored whole, advancing by the group's spike count. A branch per spike (the bit loop of
/// [`for_each_fired_at`]) mispredicts at the end of every chunk and took a fifth of a converted
/// LeNet's step; this costs the same few instructions whatever the pattern.
///
/// # Safety
/// The CPU must have the features of [`crate::simd::AVX2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt")]
#[inline]
unsafe fn compress_spikes_avx2<const CLEAR: bool>(
    fired: &mut [u8],
    n_fired: usize,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    use std::arch::x86_64::{
        _mm256_add_epi32, _mm256_cvtepu8_epi32, _mm256_set1_epi32, _mm256_storeu_si256,
        _mm_cvtsi64_si128,
    };
    // SAFETY: the caller guarantees AVX2; each store writes the 8 lanes `pack_groups` leaves
    // room for.
    unsafe {
        pack_groups::<{ crate::simd::AVX2 }, 8, CLEAR>(
            fired,
            n_fired,
            base,
            spikes,
            |out, first, m| {
                let at = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(POSITIONS[m as usize] as i64));
                let idx = _mm256_add_epi32(_mm256_set1_epi32(first as i32), at);
                _mm256_storeu_si256(out.cast(), idx);
            },
        )
    }
}

/// The frame of the vector spike collections: every GROUP-flag group of every non-empty chunk
/// calls `store(out, first, m)`, which writes GROUP indices at `out` — those of the group's set
/// bits in `m` (the group's flags, bit k: index `first + k`), packed to the front — and the next
/// group is stored `m.count_ones()` further. Every group is stored, an empty one too (it advances
/// by 0): a skip would be a branch as unpredictable as the spikes.
///
/// # Safety
/// `store` must write at most GROUP values at `out`, which has room for them (checked here
/// before every call); it runs inside the caller's target features (inlined).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_groups<const ISA: u8, const GROUP: usize, const CLEAR: bool>(
    fired: &mut [u8],
    n_fired: usize,
    base: u32,
    spikes: &mut Vec<u32>,
    mut store: impl FnMut(*mut u32, u32, u64),
) {
    // Room for every spike plus one whole vector store past the last.
    spikes.reserve(n_fired + GROUP);
    let start = spikes.len();
    let room = spikes.capacity() - start;
    let mut written = 0usize;
    let group_mask = (1u64 << GROUP) - 1;
    // SAFETY: `out + written` with `written + GROUP <= room` (asserted before each store) lies
    // inside the capacity reserved above; `set_len` covers only the `n_fired` values written.
    unsafe {
        let out = spikes.as_mut_ptr().add(start);
        for_each_fired_chunk::<ISA, CLEAR>(fired, |c, mask| {
            for g in 0..CHUNK / GROUP {
                let m = (mask >> (g * GROUP)) & group_mask;
                assert!(written + GROUP <= room, "more flags than n_fired");
                store(
                    out.add(written),
                    base.wrapping_add((c * CHUNK + g * GROUP) as u32),
                    m,
                );
                written += m.count_ones() as usize;
            }
        });
        assert_eq!(written, n_fired, "n_fired counts the flags");
        spikes.set_len(start + written);
    }
}

/// For each byte m: the positions (0–7) of m's set bits in increasing order, one per byte from
/// the lowest (the rest zero).
const POSITIONS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        let (mut bit, mut k, mut packed) = (0, 0, 0u64);
        while bit < 8 {
            if m & (1 << bit) != 0 {
                packed |= (bit as u64) << (8 * k);
                k += 1;
            }
            bit += 1;
        }
        table[m] = packed;
        m += 1;
    }
    table
};

/// Flags per mask of [`for_each_fired_chunk`].
const CHUNK: usize = 64;

/// Calls `f(i)` for every non-zero `fired[i]`, in increasing i, and zeroes the flags (at the
/// current [`crate::simd::level`]).
#[cfg(test)]
pub(crate) fn for_each_fired(fired: &mut [u8], f: impl FnMut(usize)) {
    crate::simd::dispatch!(ISA => for_each_fired_at::<ISA>(fired, f))
}

/// [`for_each_fired`] inside a kernel running at `ISA`.
#[inline(always)]
pub(crate) fn for_each_fired_at<const ISA: u8>(fired: &mut [u8], mut f: impl FnMut(usize)) {
    for_each_fired_chunk::<ISA, true>(fired, |c, mut mask| {
        while mask != 0 {
            f(c * CHUNK + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    });
}

/// Calls `f(c, mask)` for every chunk c of 64 flags with a non-zero one (bit k of `mask`: flag
/// `64c + k`), in increasing c, and zeroes the flags if `CLEAR`. Each chunk becomes its mask in a
/// few vector instructions, so dense firing (converted convolution layers) costs no mispredicted
/// branch per neuron. The masks of up to [`SPAN`] chunks are taken first, with no branch, into a
/// summary of the non-empty ones, whose set bits then give the calls: a test per chunk
/// mispredicted wherever sparse spikes fell (a tenth of coba-euler-4000's simulation went to
/// collecting its ≈ 8 spikes a step from 63 chunks).
#[inline(always)]
fn for_each_fired_chunk<const ISA: u8, const CLEAR: bool>(
    fired: &mut [u8],
    mut f: impl FnMut(usize, u64),
) {
    let (full, tail) = fired.as_chunks_mut::<CHUNK>();
    let mut masks = [0u64; SPAN];
    for (s, span) in full.chunks_mut(SPAN).enumerate() {
        let mut summary = 0u64;
        for (k, (chunk, mask)) in span.iter().zip(&mut masks).enumerate() {
            *mask = nonzero_mask::<ISA>(chunk);
            summary |= ((*mask != 0) as u64) << k;
        }
        while summary != 0 {
            let k = summary.trailing_zeros() as usize;
            summary &= summary - 1;
            if CLEAR {
                // One vector store (a slice fill is a call to memset).
                span[k] = [0; CHUNK];
            }
            f(s * SPAN + k, masks[k]);
        }
    }
    let mask = tail
        .iter()
        .enumerate()
        .fold(0u64, |m, (k, &flag)| m | (((flag != 0) as u64) << k));
    if CLEAR {
        tail.fill(0);
    }
    if mask != 0 {
        f(full.len(), mask);
    }
}

/// Chunks per summary word of [`for_each_fired_chunk`].
const SPAN: usize = 64;

/// Bit k set for every non-zero `flags[k]`.
#[inline(always)]
fn nonzero_mask<const ISA: u8>(flags: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if ISA >= crate::simd::AVX2 {
        // SAFETY: ISA ≥ AVX2 only in code entered after the CPU was found to have AVX2
        // (crate::simd's contract).
        return unsafe { nonzero_mask_avx2(flags) };
    }
    flags
        .iter()
        .enumerate()
        .fold(0u64, |m, (k, &flag)| m | (((flag != 0) as u64) << k))
}

/// [`nonzero_mask`] with two 32-byte compares and byte masks.
///
/// # Safety
/// The CPU must have the features of [`crate::simd::AVX2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx,fma,bmi1,bmi2,lzcnt,popcnt")]
#[inline]
unsafe fn nonzero_mask_avx2(flags: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_setzero_si256,
    };
    // SAFETY: the two unaligned loads read bytes 0..32 and 32..64 of a 64-byte array; the caller
    // guarantees AVX2.
    unsafe {
        let zero = _mm256_setzero_si256();
        let p = flags.as_ptr();
        let lo = _mm256_loadu_si256(p.cast());
        let hi = _mm256_loadu_si256(p.add(32).cast());
        let z_lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, zero)) as u32 as u64;
        let z_hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, zero)) as u32 as u64;
        !(z_lo | (z_hi << 32))
    }
}
