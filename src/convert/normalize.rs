//! Data-based normalisation (Diehl et al. 2015; Rueckauer et al. 2017, Sec. 2.3): each weighted
//! layer l gets a scale λ_l, the p-th percentile of its **non-zero** activations over a calibration
//! set (p = 100 is max-norm), and
//!
//! ```text
//! W_l ← W_l · λ_{l−1} / λ_l        b_l ← b_l / λ_l        λ_input = 1
//! ```
//! so that unit-threshold spiking neurons rarely need to fire more than once per step. For a ReLU
//! network the normalised network's output is the original output divided by the last λ.
//!
//! With [`NormScope::Channel`] every output channel of a convolution (every unit of a hidden dense
//! layer) gets its own λ (channel-wise normalisation, Kim et al., "Spiking-YOLO", AAAI 2020,
//! Sec. 3.1): `W[j, i] ← W[j, i] · λ_{l−1, i} / λ_{l, j}`. A channel whose activations are small
//! next to the layer's largest then fires near the top rate as well, so it carries its value in
//! fewer steps. The output layer keeps one λ: per-class scales would change which class wins.

use ndarray::{ArrayView2, Axis};

use crate::ann::{Activation, Ann, Layer};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per forward pass while collecting activations.
const CHUNK: usize = 500;

/// Which activations share one scale λ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormScope {
    /// One λ per layer (the reference; Rueckauer et al. 2017).
    #[default]
    Layer,
    /// One λ per output channel of a convolution and per unit of a hidden dense layer; the output
    /// layer keeps one λ (Kim et al. 2020).
    Channel,
}

/// The scale λ_l of every Dense/Conv2d layer (in layer order), measured on `calibration`: the
/// `percentile` (in (0, 100]) of the non-zero values of the layer's output after its ReLU (or of
/// the layer itself when no ReLU follows, e.g. the logits before a softmax). A layer that never
/// activates gets λ = 1. A layer followed by a QCFS activation takes that activation's trained
/// threshold instead (θ = λ; Bu et al., ICLR 2022).
pub fn layer_scales(ann: &Ann, calibration: &Dataset, percentile: f64) -> Result<Vec<f32>> {
    Ok(scales(ann, calibration, percentile, NormScope::Layer)?
        .into_iter()
        .map(|s| s[0])
        .collect())
}

/// The scales of every Dense/Conv2d layer (in layer order) for `scope`: one value per layer for
/// [`NormScope::Layer`] (as [`layer_scales`]); for [`NormScope::Channel`] one per output channel
/// (unit) of every hidden layer, each the `percentile` of that channel's non-zero activations
/// (the layer's λ where a channel never activates), and one for the output layer.
///
/// ```
/// use ndarray::array;
/// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
/// use somnet::convert::normalize::{scales, NormScope};
/// use somnet::data::Dataset;
/// // Two hidden units copy the input at gains 1 and 4; the output sums them.
/// let dense = |w| Layer::Dense(Dense { weights: w, bias: None });
/// let ann = Ann::new(
///     vec![1],
///     vec![
///         ("hidden".into(), dense(array![[1.0], [4.0]])),
///         ("relu".into(), Layer::Activation(Activation::Relu)),
///         ("out".into(), dense(array![[1.0, 1.0]])),
///     ],
///     DropoutMode::Inverted,
/// )
/// .unwrap();
/// let data = Dataset::new("x", vec![0.5, 1.0], vec![0, 0], [1, 1, 1], vec!["0".into()]).unwrap();
/// let s = scales(&ann, &data, 100.0, NormScope::Channel).unwrap();
/// assert_eq!(s, vec![vec![1.0, 4.0], vec![5.0]]);
/// ```
pub fn scales(
    ann: &Ann,
    calibration: &Dataset,
    percentile: f64,
    scope: NormScope,
) -> Result<Vec<Vec<f32>>> {
    if !(percentile > 0.0 && percentile <= 100.0) {
        return Err(Error::param("percentile", percentile, "in (0, 100]"));
    }
    ann.check_data(calibration, "calibration set")?;
    ann.require_chain("data-based normalisation")?;
    let shapes = ann.shapes()?;
    let weighted: Vec<usize> = weighted_layers(ann).collect();
    // The layer whose output stands for each weighted layer: the weighted layer itself, or the
    // activation right after it.
    let probes: Vec<usize> = weighted
        .iter()
        .map(|&i| match ann.layers.get(i + 1) {
            // A softmax output is not what the spiking layer computes: its IF neurons integrate the
            // logits, so those are what must fit under the threshold.
            Some(Layer::Activation(Activation::Relu) | Layer::Qcfs(_)) => i + 1,
            _ => i,
        })
        .collect();
    // Channels of each probe and the features per channel (NCHW: channel-major).
    let channels: Vec<(usize, usize)> = weighted
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let s = &shapes[i];
            let per_channel = s[1..].iter().product::<usize>();
            let hidden = k + 1 < weighted.len();
            match scope {
                NormScope::Channel if hidden => (s[0], per_channel),
                _ => (1, s.iter().product()),
            }
        })
        .collect();
    // values[k][c]: the non-zero activations of channel c of weighted layer k.
    let mut values: Vec<Vec<Vec<f32>>> =
        channels.iter().map(|&(c, _)| vec![Vec::new(); c]).collect();
    for start in (0..calibration.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(calibration.len());
        let x: ArrayView2<f32> = calibration
            .as_matrix()
            .slice_move(ndarray::s![start..end, ..]);
        ann.forward_each(x, |i, y| {
            if let Some(k) = probes.iter().position(|&p| p == i) {
                let per_channel = channels[k].1;
                for row in y.axis_iter(Axis(0)) {
                    let row = row.as_slice().expect("standard layout");
                    for (c, chunk) in row.chunks(per_channel).enumerate() {
                        values[k][c].extend(chunk.iter().copied().filter(|&v| v != 0.0));
                    }
                }
            }
        })?;
    }
    Ok(values
        .into_iter()
        .zip(probes.iter().zip(&channels))
        .map(|(mut per_channel, (&probe, &(n_channels, _)))| {
            // A QCFS layer brings its trained threshold: θ = λ (Bu et al. 2022), not a percentile.
            if let Layer::Qcfs(q) = &ann.layers[probe] {
                return vec![q.lambda; n_channels];
            }
            let mut per: Vec<Option<f32>> = per_channel
                .iter_mut()
                .map(|v| percentile_of(v, percentile))
                .collect();
            if per.len() > 1 {
                // A silent channel falls back to the layer's λ (its weights then matter little).
                let mut all: Vec<f32> = per_channel.concat();
                let layer = percentile_of(&mut all, percentile).unwrap_or(1.0);
                per.iter_mut().for_each(|s| *s = Some(s.unwrap_or(layer)));
            }
            per.into_iter().map(|s| s.unwrap_or(1.0)).collect()
        })
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
    let per_layer: Vec<Vec<f32>> = scales.iter().map(|&s| vec![s]).collect();
    apply_channel_scales(ann, &per_layer)
}

/// Rescales the weighted layers by `scales` (one entry per Dense/Conv2d layer, in order; each
/// either one λ for the layer or one per output channel/unit, as [`scales`] gives them).
pub fn apply_channel_scales(ann: &Ann, scales: &[Vec<f32>]) -> Result<Ann> {
    let idx: Vec<usize> = weighted_layers(ann).collect();
    if idx.len() != scales.len() {
        return Err(Error::SizeMismatch {
            what: "layer scales".into(),
            expected: idx.len(),
            got: scales.len(),
        });
    }
    let shapes = ann.shapes()?;
    for (k, s) in scales.iter().enumerate() {
        let name = &ann.names[idx[k]];
        let channels = shapes[idx[k]][0];
        if s.len() != 1 && s.len() != channels {
            return Err(Error::SizeMismatch {
                what: format!("scales of layer '{name}' (one, or one per output channel)"),
                expected: channels,
                got: s.len(),
            });
        }
        if let Some(bad) = s.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::param(
                format!("scale of layer '{name}'"),
                bad,
                "a finite number > 0",
            ));
        }
    }
    let mut out = ann.clone();
    // The λ of each channel of the current tensor and the features per channel (NCHW order, so
    // a flattened feature f belongs to channel f / per_channel).
    let mut previous: Vec<f32> = vec![1.0];
    let mut per_channel: usize = ann.input_shape[1..].iter().product();
    let mut k = 0;
    for (i, shape) in shapes.iter().enumerate() {
        let input_scale = |f: usize| -> f32 {
            if previous.len() == 1 {
                previous[0]
            } else {
                previous[f / per_channel]
            }
        };
        match &mut out.layers[i] {
            Layer::Dense(d) => {
                let lambda = &scales[k];
                for (j, mut row) in d.weights.rows_mut().into_iter().enumerate() {
                    let out_scale = lambda[j % lambda.len()];
                    for (f, w) in row.iter_mut().enumerate() {
                        *w *= input_scale(f) / out_scale;
                    }
                }
                if let Some(b) = &mut d.bias {
                    b.iter_mut()
                        .enumerate()
                        .for_each(|(j, b)| *b /= lambda[j % lambda.len()]);
                }
            }
            Layer::Conv2d(c) => {
                let lambda = &scales[k];
                let channels_in = c.weights.shape()[1];
                for (o, mut kernel) in c.weights.outer_iter_mut().enumerate() {
                    let out_scale = lambda[o % lambda.len()];
                    for (ci, mut plane) in kernel.outer_iter_mut().enumerate() {
                        // A convolution's input features are whole channels.
                        let s = if previous.len() == 1 {
                            previous[0]
                        } else {
                            debug_assert_eq!(previous.len(), channels_in);
                            previous[ci]
                        };
                        plane *= s / out_scale;
                    }
                }
                if let Some(b) = &mut c.bias {
                    b.iter_mut()
                        .enumerate()
                        .for_each(|(j, b)| *b /= lambda[j % lambda.len()]);
                }
            }
            _ => {}
        }
        if matches!(out.layers[i], Layer::Dense(_) | Layer::Conv2d(_)) {
            previous = scales[k].clone();
            k += 1;
        }
        // Pooling, activations and Flatten keep the channels; a dense layer's units are its
        // channels, and a Flatten keeps the image's features per channel.
        per_channel = match (&out.layers[i], shape.len()) {
            (_, 3) => shape[1] * shape[2],
            (Layer::Dense(_), _) => 1,
            _ => per_channel,
        };
    }
    out.validate()?;
    Ok(out)
}
