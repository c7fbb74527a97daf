//! Data-based normalisation (Diehl et al. 2015; Rueckauer et al. 2017, Sec. 2.3): each weighted
//! layer l gets a scale λ_l, the p-th percentile of its **non-zero** activations over a calibration
//! set (p = 100 is max-norm), and
//!
//! ```text
//! W_l ← W_l · λ_{l−1} / λ_l        b_l ← b_l / λ_l        λ_input = 1
//! ```
//! so that unit-threshold spiking neurons rarely need to fire more than once per step. For a ReLU
//! network the normalised network's output is the original output divided by the last λ.

use ndarray::ArrayView2;

use crate::ann::{Activation, Ann, Layer};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per forward pass while collecting activations.
const CHUNK: usize = 500;

/// The scale λ_l of every Dense/Conv2d layer (in layer order), measured on `calibration`: the
/// `percentile` (in (0, 100]) of the non-zero values of the layer's output after its ReLU (or of
/// the layer itself when no ReLU follows, e.g. the logits before a softmax). A layer that never
/// activates gets λ = 1.
pub fn layer_scales(ann: &Ann, calibration: &Dataset, percentile: f64) -> Result<Vec<f32>> {
    if !(percentile > 0.0 && percentile <= 100.0) {
        return Err(Error::param("percentile", percentile, "in (0, 100]"));
    }
    ann.check_data(calibration, "calibration set")?;
    // The layer whose output stands for each weighted layer: the weighted layer itself, or the
    // activation right after it.
    let probes: Vec<usize> = weighted_layers(ann)
        .map(|i| match ann.layers.get(i + 1) {
            // A softmax output is not what the spiking layer computes: its IF neurons integrate the
            // logits, so those are what must fit under the threshold.
            Some(Layer::Activation(Activation::Relu)) => i + 1,
            _ => i,
        })
        .collect();
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); probes.len()];
    for start in (0..calibration.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(calibration.len());
        let x: ArrayView2<f32> = calibration
            .as_matrix()
            .slice_move(ndarray::s![start..end, ..]);
        ann.forward_each(x, |i, y| {
            if let Some(k) = probes.iter().position(|&p| p == i) {
                values[k].extend(y.iter().copied().filter(|&v| v != 0.0));
            }
        })?;
    }
    Ok(values
        .into_iter()
        .map(|mut v| percentile_of(&mut v, percentile).unwrap_or(1.0))
        .collect())
}

/// Indices of the Dense and Conv2d layers.
pub fn weighted_layers(ann: &Ann) -> impl Iterator<Item = usize> + '_ {
    ann.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Dense(_) | Layer::Conv2d(_)))
        .map(|(i, _)| i)
}

/// The `p`-th percentile of `v` (nearest rank, as numpy's `percentile` with `method='lower'`
/// for p < 100; the maximum for p = 100). `None` for an empty slice.
pub fn percentile_of(v: &mut [f32], p: f64) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (v.len() - 1) as f64).floor() as usize;
    let (_, x, _) = v.select_nth_unstable_by(rank.min(v.len() - 1), |a, b| a.total_cmp(b));
    Some(*x)
}

/// Rescales the weighted layers by `scales` (one per Dense/Conv2d layer, in order).
pub fn apply_scales(ann: &Ann, scales: &[f32]) -> Result<Ann> {
    let idx: Vec<usize> = weighted_layers(ann).collect();
    if idx.len() != scales.len() {
        return Err(Error::SizeMismatch {
            what: "layer scales".into(),
            expected: idx.len(),
            got: scales.len(),
        });
    }
    if let Some((k, s)) = scales
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(Error::param(
            format!("scale of layer '{}'", ann.names[idx[k]]),
            s,
            "a finite number > 0",
        ));
    }
    let mut out = ann.clone();
    let mut previous = 1.0f32;
    for (&i, &lambda) in idx.iter().zip(scales) {
        let factor = previous / lambda;
        match &mut out.layers[i] {
            Layer::Dense(d) => {
                d.weights *= factor;
                if let Some(b) = &mut d.bias {
                    *b /= lambda;
                }
            }
            Layer::Conv2d(c) => {
                c.weights *= factor;
                if let Some(b) = &mut c.bias {
                    *b /= lambda;
                }
            }
            _ => unreachable!("weighted layers only"),
        }
        previous = lambda;
    }
    out.validate()?;
    Ok(out)
}
