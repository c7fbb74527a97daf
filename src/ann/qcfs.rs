//! The quantisation-clip-floor-shift activation (QCFS; Bu et al., "Optimal ANN-SNN conversion for
//! high-accuracy and ultra-low-latency spiking neural networks", ICLR 2022, Eq. 13):
//!
//! ```text
//! h(x) = λ · clip(⌊x·L/λ + ½⌋ / L, 0, 1)
//! ```
//! with L quantisation levels and a trainable threshold λ per layer. It is what an IF neuron with
//! threshold λ, reset by subtraction and membrane starting at λ/2 emits (spikes × λ / T) after
//! T = L steps of constant input, so a network trained with it converts with θ = λ and the
//! half-threshold start, and the paper shows the expected conversion error is zero at any T.
//!
//! Training passes gradients through the floor unchanged (the straight-through estimator) and
//! through the clip where the quantised value lies in [0, 1]:
//! `∂h/∂x = 1[0 ≤ q ≤ 1]`, `∂h/∂λ = clip(q, 0, 1) − 1[0 ≤ q ≤ 1]·x/λ`, `q = ⌊x·L/λ + ½⌋/L`
//! (the floor before the clip, as the authors' code computes it:
//! github.com/putshua/SNN_conversion_QCFS, `modules.py`, `MyFloor`).

use ndarray::Array2;
use rayon::prelude::*;

/// λ before training: the authors' code's default (`MyFloor(up=4.)`).
pub const INITIAL_LAMBDA: f32 = 4.0;

/// The smallest λ training leaves (an optimiser step may overshoot zero).
pub const MIN_LAMBDA: f32 = 1e-3;

/// A QCFS activation's settings and its threshold.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Qcfs {
    /// Quantisation levels L (the paper uses 2–16).
    pub levels: u32,
    /// The threshold λ (trainable, > 0).
    pub lambda: f32,
}

impl Qcfs {
    /// L levels, λ = [`INITIAL_LAMBDA`].
    pub fn new(levels: u32) -> Self {
        Qcfs {
            levels,
            lambda: INITIAL_LAMBDA,
        }
    }

    /// `⌊x·L/λ + ½⌋ / L`, before the clip.
    #[inline]
    fn quantised(&self, x: f32) -> f32 {
        let l = self.levels as f32;
        (x * l / self.lambda + 0.5).floor() / l
    }

    /// h(x).
    ///
    /// ```
    /// let q = somnet::ann::qcfs::Qcfs { levels: 4, lambda: 2.0 };
    /// assert_eq!(q.apply(0.7), 0.5);  // ⌊0.7·4/2 + ½⌋ = 1 level of λ/4
    /// assert_eq!(q.apply(-1.0), 0.0);
    /// assert_eq!(q.apply(9.0), 2.0);  // clipped at λ
    /// ```
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        self.quantised(x).clamp(0.0, 1.0) * self.lambda
    }
}

/// h applied to every value.
pub(crate) fn forward(mut x: Array2<f32>, q: &Qcfs) -> Array2<f32> {
    x.as_slice_mut()
        .expect("standard layout")
        .par_chunks_mut(1 << 14)
        .for_each(|c| c.iter_mut().for_each(|v| *v = q.apply(*v)));
    x
}

/// (∂L/∂x, ∂L/∂λ) from the layer's input `x` and output gradient `dy`.
pub(crate) fn backward(x: &Array2<f32>, mut dy: Array2<f32>, q: &Qcfs) -> (Array2<f32>, f32) {
    let dlambda: f64 = dy
        .as_slice_mut()
        .expect("standard layout")
        .par_chunks_mut(1 << 14)
        .zip(x.as_slice().expect("standard layout").par_chunks(1 << 14))
        .map(|(d, x)| {
            let mut sum = 0.0f64;
            for (d, &x) in d.iter_mut().zip(x) {
                let u = q.quantised(x);
                let inside = (0.0..=1.0).contains(&u);
                let dh_dlambda = u.clamp(0.0, 1.0) - if inside { x / q.lambda } else { 0.0 };
                sum += (*d * dh_dlambda) as f64;
                if !inside {
                    *d = 0.0;
                }
            }
            sum
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    (dy, dlambda as f32)
}
