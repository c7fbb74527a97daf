//! Batch normalisation in training mode: batch statistics, summed in a fixed order, and the
//! running averages.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::backprop::Cache;
use crate::ann::layer::BatchNorm;

/// Per-channel `Σ f(a, b)` over samples and positions, channel-parallel: each sample's slice is
/// summed in f32 over 16 lanes (vectorised, fixed order), the per-sample partials in f64 in sample
/// order.
pub(super) fn channel_sums(
    a: ArrayView2<'_, f32>,
    b: Option<ArrayView2<'_, f32>>,
    per: usize,
    channels: usize,
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Vec<f64> {
    (0..channels)
        .into_par_iter()
        .map(|c| {
            let mut s = 0.0f64;
            for i in 0..a.nrows() {
                let ra = &a.row(i).to_slice().expect("standard layout")[c * per..(c + 1) * per];
                let part = match &b {
                    Some(b) => lane_sum(
                        ra,
                        &b.row(i).to_slice().expect("standard layout")[c * per..(c + 1) * per],
                        &f,
                    ),
                    None => lane_sum(ra, ra, &|x, _| f(x, 0.0)),
                };
                s += part as f64;
            }
            s
        })
        .collect()
}

/// `Σ f(a_i, b_i)` with 16 independent partial sums (so the loop vectorises), then the lanes in order.
#[inline]
pub(super) fn lane_sum(a: &[f32], b: &[f32], f: &impl Fn(f32, f32) -> f32) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..L {
            acc[k] += f(x[k], y[k]);
        }
    }
    for (k, (&x, &y)) in ar.iter().zip(br).enumerate() {
        acc[k] += f(x, y);
    }
    acc.iter().sum()
}

pub(super) fn batchnorm_train_forward(
    b: &mut BatchNorm,
    x: Array2<f32>,
    in_shape: &[usize],
) -> (Array2<f32>, Cache) {
    let channels = in_shape[0];
    let per: usize = in_shape[1..].iter().product();
    let m = (x.nrows() * per) as f64;
    // One pass for Σx and Σx² per channel (f64 across samples keeps the variance accurate), one
    // pass that writes x̂ and y.
    let sums = channel_sums(x.view(), None, per, channels, |v, _| v);
    let squares = channel_sums(x.view(), None, per, channels, |v, _| v * v);
    let mean: Vec<f64> = sums.iter().map(|s| s / m).collect();
    let var: Vec<f64> = squares
        .iter()
        .zip(&mean)
        .map(|(q, mu)| (q / m - mu * mu).max(0.0))
        .collect();
    let inv_std: Array1<f32> = var
        .iter()
        .map(|v| (1.0 / (v + b.eps as f64).sqrt()) as f32)
        .collect();
    let mean_f: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    let mut xhat = x;
    let mut y = Array2::<f32>::zeros(xhat.dim());
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(xhat.axis_iter_mut(Axis(0)).into_par_iter())
        .for_each(|(mut yr, mut xr)| {
            let (yr, xr) = (
                yr.as_slice_mut().expect("standard layout"),
                xr.as_slice_mut().expect("standard layout"),
            );
            for c in 0..channels {
                let (mu, is, g, be) = (mean_f[c], inv_std[c], b.gamma[c], b.beta[c]);
                for (yv, xv) in yr[c * per..(c + 1) * per]
                    .iter_mut()
                    .zip(&mut xr[c * per..(c + 1) * per])
                {
                    let h = (*xv - mu) * is;
                    *xv = h;
                    *yv = g * h + be;
                }
            }
        });
    let mom = b.momentum;
    let unbiased = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
    for c in 0..channels {
        b.mean[c] = mom * b.mean[c] + (1.0 - mom) * mean[c] as f32;
        b.var[c] = mom * b.var[c] + (1.0 - mom) * (var[c] * unbiased) as f32;
    }
    (y, Cache::BatchNorm { xhat, inv_std })
}
