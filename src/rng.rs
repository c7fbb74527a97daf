//! Random streams and the determinism contract.
//!
//! Every random number in somnet comes from a stream named by
//! `(seed, purpose, object, chunk, step)`: the purpose says what the numbers are for, the object is
//! a population or projection id, the chunk is a fixed block of neurons or synapses, and the step is
//! the time step (or 0 for construction). The split into chunks depends only on sizes, never on the
//! number of threads, so the same seed gives the same numbers on 1, 2 or 8 threads. Streams are
//! Xoshiro256++ generators seeded through a SplitMix64 mix of the five fields; seeding costs a few
//! nanoseconds, so a fresh stream per (block, step) is cheap.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// What a stream's numbers are used for (part of the stream's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Which synapses exist (connectors).
    Connectivity = 1,
    /// Synaptic weights.
    Weights = 2,
    /// Per-synapse delays.
    Delays = 3,
    /// Initial state variables.
    InitialState = 4,
    /// Poisson spike sources.
    Poisson = 5,
    /// Noise currents.
    Noise = 6,
    /// Heterogeneous neuron parameters.
    Parameters = 7,
    /// Free for library users and later modules (conversion input coding, sleep input).
    User = 8,
    /// Dropout masks in training.
    Dropout = 9,
    /// Order of the training samples.
    Shuffle = 10,
    /// The input spikes of sleep replay.
    SleepInput = 11,
    /// The settings drawn for the trials of an option search.
    Search = 12,
}

/// The generator every stream uses.
pub type Stream = Xoshiro256PlusPlus;

/// SplitMix64's finaliser: a bijective mix with full avalanche.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream named by `(seed, purpose, object, chunk, step)`.
///
/// ```
/// use rand::Rng;
/// use somnet::rng::{stream, Purpose};
/// let a = stream(7, Purpose::Noise, 0, 3, 100).next_u64();
/// let b = stream(7, Purpose::Noise, 0, 3, 100).next_u64();
/// assert_eq!(a, b);
/// assert_ne!(a, stream(7, Purpose::Noise, 0, 4, 100).next_u64());
/// ```
pub fn stream(seed: u64, purpose: Purpose, object: u64, chunk: u64, step: u64) -> Stream {
    let mut h = mix64(seed);
    for field in [purpose as u64, object, chunk, step] {
        h = mix64(h ^ field);
    }
    let mut bytes = [0u8; 32];
    for (i, out) in bytes.chunks_exact_mut(8).enumerate() {
        out.copy_from_slice(&mix64(h.wrapping_add(i as u64)).to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(bytes)
}

/// A uniform `f64` in [0, 1) from the top 53 bits.
#[inline]
pub fn uniform01(rng: &mut Stream) -> f64 {
    use rand::Rng;
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in 0..n (Lemire's multiply-shift; the tiny bias for n far below 2^64 is
/// irrelevant for connectivity).
#[inline]
pub fn below(rng: &mut Stream, n: u64) -> u64 {
    use rand::Rng;
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}
