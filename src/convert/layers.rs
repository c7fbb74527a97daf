//! The layers of a converted network: what each weighted or pooling layer of the ANN becomes.
//!
//! A Dense layer stays a dense matrix. A convolution keeps its shared kernel: the engine delivers
//! it through [`crate::network::Network::connect_conv`] (its explicit synapses are built only where
//! needed: the analog drive of a first layer, Dale's sign split). An average pooling becomes its
//! explicit synapses. [`stages`] numbers neurons in the ANN's NCHW order; [`engine_stages`]
//! renumbers hidden image layers channels-last for fast delivery.
//! Average pooling is a layer of spiking neurons fed with the mean of its window's input spikes
//! (the reference converter's rule, Rueckauer et al. 2017); windows count only the inputs inside
//! the image, as the ANN does. Max pooling is a layer of neurons each fed, per step, the spike of
//! its window's input with the largest cumulative spike count (a max gate on the engine).

use crate::ann::layer::padded_extent;
use crate::ann::{Activation, Ann, Conv2d, Dense, DropoutMode, Layer, Pool};
use crate::error::{Error, Result};
use crate::network::{Conv2dGeometry, ImageLayout};

/// One converted layer.
#[derive(Debug, Clone)]
pub enum Stage {
    /// A dense layer.
    Dense(Dense),
    /// A layer given by its synapse list (convolution, average pooling).
    Local {
        /// The ANN layer's name.
        name: String,
        /// `(pre, post)` pairs, pre-major.
        pairs: Vec<(u32, u32)>,
        /// Weight of each pair.
        weights: Vec<f32>,
        /// Bias per output neuron.
        bias: Option<Vec<f32>>,
        /// Output neurons.
        n_out: usize,
        /// A max-pooling window set: the synapses form windows (weight 1) and the projection
        /// gates them by cumulative spike count.
        max_gate: bool,
        /// For a convolution: its geometry and (C_out, C_in, kh, kw) kernel, so that the engine
        /// can deliver through the shared kernel instead of the synapse list.
        shared: Option<(Conv2dGeometry, Vec<f32>)>,
    },
}

impl Stage {
    /// Output neurons.
    pub fn n_out(&self) -> usize {
        match self {
            Stage::Dense(d) => d.weights.nrows(),
            Stage::Local { n_out, .. } => *n_out,
        }
    }

    /// Bias per output neuron.
    pub fn bias(&self) -> Option<Vec<f32>> {
        match self {
            Stage::Dense(d) => d.bias.as_ref().map(|b| b.to_vec()),
            Stage::Local { bias, .. } => bias.clone(),
        }
    }

    /// `W·x + b` for an input vector (the analog drive of a first layer).
    pub fn drive(&self, x: &[f32]) -> Vec<f32> {
        crate::simd::dispatch!(ISA => self.drive_at::<ISA>(x))
    }

    /// [`Self::drive`] at the vector level `ISA` ([`crate::simd`]); the sums keep their order.
    #[inline(always)]
    fn drive_at<const ISA: u8>(&self, x: &[f32]) -> Vec<f32> {
        let mut out = self.bias().unwrap_or_else(|| vec![0.0; self.n_out()]);
        match self {
            Stage::Dense(d) => match d.weights.as_slice() {
                Some(w) => dense_drive(w, x, &mut out),
                None => {
                    for (o, row) in out.iter_mut().zip(d.weights.rows()) {
                        *o += row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>();
                    }
                }
            },
            Stage::Local {
                pairs,
                max_gate: true,
                ..
            } => {
                // Max pooling of the input itself.
                let mut best = vec![f32::NEG_INFINITY; out.len()];
                for &(pre, post) in pairs {
                    best[post as usize] = best[post as usize].max(x[pre as usize]);
                }
                out = best;
            }
            Stage::Local {
                shared: Some((g, kernel)),
                ..
            } => conv_drive(g, kernel, x, &mut out),
            Stage::Local { pairs, weights, .. } => {
                // Zero inputs (most of an MNIST digit) add nothing: skip them. The pairs come in
                // runs of one pre neuron, so the branch is predictable.
                for (&(pre, post), w) in pairs.iter().zip(weights) {
                    let v = x[pre as usize];
                    if v != 0.0 {
                        out[post as usize] += w * v;
                    }
                }
            }
        }
        out
    }

    /// Every synapse as (pre, post, weight), pre-major (for sign splits).
    pub fn synapses(&self) -> Vec<(u32, u32, f32)> {
        match self {
            Stage::Dense(d) => d
                .weights
                .t()
                .indexed_iter()
                .map(|((pre, post), &w)| (pre as u32, post as u32, w))
                .collect(),
            Stage::Local { pairs, weights, .. } => pairs
                .iter()
                .zip(weights)
                .map(|(&(a, b), &w)| (a, b, w))
                .collect(),
        }
    }

    fn scale_weights(&mut self, s: f32) {
        match self {
            Stage::Dense(d) => d.weights *= s,
            // A gate relays spikes; a scale before it applies after it (max commutes with s > 0).
            Stage::Local { max_gate: true, .. } => {}
            Stage::Local {
                weights, shared, ..
            } => {
                weights.iter_mut().for_each(|w| *w *= s);
                if let Some((_, kernel)) = shared {
                    kernel.iter_mut().for_each(|w| *w *= s);
                }
            }
        }
    }

    /// Whether this is a max-pooling gate.
    pub fn is_max_gate(&self) -> bool {
        matches!(self, Stage::Local { max_gate: true, .. })
    }
}

/// `out[o] += Σ_k w[o·n_in + k]·x[k]` for row-major `w` (n_out × n_in): each sum runs over k in
/// increasing order exactly as a plain dot product (the same bits), but zero inputs — most of an
/// image — are skipped (they add ±0) and eight rows are summed at a time, so that eight independent
/// chains of additions are in flight instead of one.
#[inline(always)]
fn dense_drive(w: &[f32], x: &[f32], out: &mut [f32]) {
    const ROWS: usize = 8;
    let n_in = x.len();
    let nonzero: Vec<(usize, f32)> = x
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, v)| v != 0.0)
        .collect();
    for (block, outs) in out.chunks_mut(ROWS).enumerate() {
        let first = block * ROWS * n_in;
        let mut acc = [0.0f32; ROWS];
        let rows = outs.len();
        for &(k, v) in &nonzero {
            for (j, a) in acc[..rows].iter_mut().enumerate() {
                *a += w[first + j * n_in + k] * v;
            }
        }
        for (o, a) in outs.iter_mut().zip(acc) {
            *o += a;
        }
    }
}

/// Adds a convolution's `W·x` to `out`, both numbered as `g` says, by scattering every non-zero
/// input through the taps it reaches. Each output receives its terms in increasing input number,
/// the order in which the synapse list adds them, so the two give the same sums bit for bit.
#[inline(always)]
fn conv_drive(g: &Conv2dGeometry, kernel: &[f32], x: &[f32], out: &mut [f32]) {
    let (ci, h, w) = g.input;
    let co = g.out_channels;
    let (kh, kw) = g.kernel;
    let (oh, ow) = g.output;
    // Tap-major copy of the kernel: the C_out weights of (c, ky, kx) side by side.
    let mut taps = vec![0.0f32; kernel.len()];
    for o in 0..co {
        for t in 0..ci * kh * kw {
            taps[t * co + o] = kernel[o * ci * kh * kw + t];
        }
    }
    for (pre, &v) in x.iter().enumerate().take(g.n_pre()) {
        if v == 0.0 {
            continue;
        }
        let (c, y, xx) = match g.input_layout {
            ImageLayout::ChannelsFirst => (pre / (h * w), pre / w % h, pre % w),
            ImageLayout::ChannelsLast => (pre % ci, pre / ci / w, pre / ci % w),
        };
        for ky in 0..kh {
            let Some(oy) = tap(y, ky, g.pad.0, g.stride.0, oh) else {
                continue;
            };
            for kx in 0..kw {
                let Some(ox) = tap(xx, kx, g.pad.1, g.stride.1, ow) else {
                    continue;
                };
                let run = &taps[((c * kh + ky) * kw + kx) * co..][..co];
                match g.output_layout {
                    ImageLayout::ChannelsLast => {
                        let dst = &mut out[(oy * ow + ox) * co..][..co];
                        for (d, wt) in dst.iter_mut().zip(run) {
                            *d += wt * v;
                        }
                    }
                    ImageLayout::ChannelsFirst => {
                        for (o, wt) in run.iter().enumerate() {
                            out[o * oh * ow + oy * ow + ox] += wt * v;
                        }
                    }
                }
            }
        }
    }
}

/// The engine geometry of convolution `conv` (layer `name`) on a (C, H, W) `input`, channels
/// first on both sides, padded as the ANN pads (see [`crate::ann::layer::Padding`]). The
/// converter and the sleep phase both build their convolutions from it.
pub(crate) fn conv_geometry(name: &str, conv: &Conv2d, input: &[usize]) -> Result<Conv2dGeometry> {
    let (co, ci, kh, kw) = conv.weights.dim();
    let bad = || Error::Unsupported(format!("layer '{name}': kernel larger than its input"));
    let (oh, pt) = padded_extent(input[1], kh, conv.stride.0, conv.padding).ok_or_else(bad)?;
    let (ow, pl) = padded_extent(input[2], kw, conv.stride.1, conv.padding).ok_or_else(bad)?;
    Ok(Conv2dGeometry {
        input: (ci, input[1], input[2]),
        out_channels: co,
        kernel: (kh, kw),
        stride: conv.stride,
        pad: (pt, pl),
        output: (oh, ow),
        input_layout: ImageLayout::ChannelsFirst,
        output_layout: ImageLayout::ChannelsFirst,
    })
}

/// The synapses of a convolution from input shape (C, H, W); with `lists` false only the shared
/// kernel (the explicit list is left empty: the engine does not need it).
fn conv_stage(name: &str, conv: &Conv2d, input: &[usize], lists: bool) -> Result<Stage> {
    let (co, ci, kh, kw) = conv.weights.dim();
    let (h, w) = (input[1], input[2]);
    let geometry = conv_geometry(name, conv, input)?;
    let ((oh, ow), (pt, pl)) = (geometry.output, geometry.pad);
    if lists {
        // Every input position reaches up to co·kh·kw outputs: a (pre, post) pair and a weight
        // each, bounded before the lists grow.
        crate::limits::check(
            format!("layer '{name}'"),
            "the synapse list of the convolution",
            12 * (ci * h * w) as u128 * (co * kh * kw) as u128,
        )?;
    }
    let mut pairs = Vec::new();
    let mut weights = Vec::new();
    // Pre-major: for each input neuron, every output it reaches.
    for c in 0..ci * usize::from(lists) {
        for y in 0..h {
            for x in 0..w {
                let pre = (c * h * w + y * w + x) as u32;
                for o in 0..co {
                    for ky in 0..kh {
                        // Output row oy reads input row oy·s + ky − pad.
                        let Some(oy) = tap(y, ky, pt, conv.stride.0, oh) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ox) = tap(x, kx, pl, conv.stride.1, ow) else {
                                continue;
                            };
                            pairs.push((pre, (o * oh * ow + oy * ow + ox) as u32));
                            weights.push(conv.weights[[o, c, ky, kx]]);
                        }
                    }
                }
            }
        }
    }
    let bias = conv
        .bias
        .as_ref()
        .map(|b| (0..co * oh * ow).map(|j| b[j / (oh * ow)]).collect());
    let kernel = conv.weights.iter().copied().collect();
    Ok(Stage::Local {
        name: name.to_string(),
        pairs,
        weights,
        bias,
        n_out: co * oh * ow,
        max_gate: false,
        shared: Some((geometry, kernel)),
    })
}

/// The output index along one axis that input position `i` reaches through kernel tap `k`.
fn tap(i: usize, k: usize, pad: usize, stride: usize, out: usize) -> Option<usize> {
    Conv2dGeometry::tap(i, k, pad, stride, out)
}

/// The synapses of an average pooling (each output neuron receives 1/n from each of the n inputs
/// of its window that lie inside the image) or of a max pooling (weight 1, gated by count).
pub(crate) fn pool_stage(name: &str, pool: &Pool, input: &[usize], max: bool) -> Result<Stage> {
    let (c, h, w) = (input[0], input[1], input[2]);
    let bad = || Error::Unsupported(format!("layer '{name}': window larger than its input"));
    let (oh, pt) = padded_extent(h, pool.size.0, pool.stride.0, pool.padding).ok_or_else(bad)?;
    let (ow, pl) = padded_extent(w, pool.size.1, pool.stride.1, pool.padding).ok_or_else(bad)?;
    crate::limits::check(
        format!("layer '{name}'"),
        "the synapse list of the pooling",
        12 * (c * h * w) as u128 * (pool.size.0 * pool.size.1) as u128,
    )?;
    let count = |o: usize, pad: usize, stride: usize, k: usize, n: usize| {
        let start = (o * stride) as isize - pad as isize;
        (start.max(0)..(start + k as isize).min(n as isize)).len()
    };
    let mut pairs = Vec::new();
    let mut weights = Vec::new();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let pre = (ch * h * w + y * w + x) as u32;
                for ky in 0..pool.size.0 {
                    let Some(oy) = tap(y, ky, pt, pool.stride.0, oh) else {
                        continue;
                    };
                    for kx in 0..pool.size.1 {
                        let Some(ox) = tap(x, kx, pl, pool.stride.1, ow) else {
                            continue;
                        };
                        let n = count(oy, pt, pool.stride.0, pool.size.0, h)
                            * count(ox, pl, pool.stride.1, pool.size.1, w);
                        pairs.push((pre, (ch * oh * ow + oy * ow + ox) as u32));
                        weights.push(if max { 1.0 } else { 1.0 / n as f32 });
                    }
                }
            }
        }
    }
    Ok(Stage::Local {
        name: name.to_string(),
        pairs,
        weights,
        bias: None,
        n_out: c * oh * ow,
        max_gate: max,
        shared: None,
    })
}

/// The refusal of a hidden activation other than ReLU.
pub(crate) fn hidden_activation(name: &str, a: &Activation) -> Error {
    Error::Unsupported(format!(
        "layer '{name}': a hidden {a:?} activation cannot be converted (IF neurons compute ReLU)"
    ))
}

/// The converted layers of `ann` (batch norm already folded), with the scale of an inference-time
/// dropout folded into the weights that follow it.
pub fn stages(ann: &Ann) -> Result<Vec<Stage>> {
    Ok(stages_with_shapes(ann, true)?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// The stages with the ANN's per-sample output shape of each. With `lists` false, convolutions
/// after the first stage carry only their shared kernel.
pub(crate) fn stages_with_shapes(ann: &Ann, lists: bool) -> Result<Vec<(Stage, Vec<usize>)>> {
    ann.require_chain("the converter")?;
    let shapes = ann.shapes()?;
    let mut out: Vec<(Stage, Vec<usize>)> = Vec::new();
    let mut pending_scale = 1.0f32;
    let last_weighted = ann
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense(_) | Layer::Conv2d(_)));
    for (i, (layer, name)) in ann.layers.iter().zip(&ann.names).enumerate() {
        let input: &[usize] = if i == 0 {
            &ann.input_shape
        } else {
            &shapes[i - 1]
        };
        let mut stage = match layer {
            Layer::Dense(d) => Stage::Dense(d.clone()),
            Layer::Conv2d(c) => conv_stage(name, c, input, lists)?,
            Layer::AvgPool2d(p) => pool_stage(name, p, input, false)?,
            Layer::MaxPool2d(p) => pool_stage(name, p, input, true)?,
            Layer::Flatten => continue,
            Layer::Dropout { rate } => {
                if ann.dropout_mode == DropoutMode::ScaleAtTest {
                    pending_scale *= 1.0 - rate;
                }
                continue;
            }
            // IF neurons compute ReLU; a QCFS activation's λ became the layer's threshold in the
            // normalisation (θ = λ, Bu et al. 2022).
            Layer::Activation(Activation::Relu) | Layer::Qcfs(_) => continue,
            // The output activation: the readout replaces it.
            Layer::Activation(_) if Some(i) > last_weighted => continue,
            Layer::Activation(a) => return Err(hidden_activation(name, a)),
            other => {
                return Err(Error::Unsupported(format!(
                    "layer '{name}' ({}) is not supported by the converter yet (Dense, Conv2d, \
                     AvgPool2d, MaxPool2d, Flatten, ReLU, Dropout and batch norm after a weighted \
                     layer are)",
                    other.kind()
                )))
            }
        };
        stage.scale_weights(pending_scale);
        pending_scale = 1.0;
        out.push((stage, shapes[i].clone()));
    }
    if out.is_empty() {
        return Err(Error::Unsupported(
            "the network has no Dense or Conv2d layer to convert".into(),
        ));
    }
    Ok(out)
}

/// The stages as the engine runs them: the neurons of every hidden image layer numbered
/// channels-last, `(y·W + x)·C + c`, so that a convolution delivers a spike through one kernel tap
/// as a contiguous run of output channels (vectorised adds instead of strided ones). The network's
/// input (the data's own order) and the output layer (class order) keep their numbering; the
/// synapses, biases and the Dense weights after a Flatten follow the renumbering.
///
/// `lists` keeps every convolution's explicit synapse list (Dale's principle splits synapses by
/// sign); without it no convolution's list is built (the analog drive of a first convolution
/// comes from its kernel, see [`Stage::drive`]).
pub fn engine_stages(ann: &Ann, lists: bool) -> Result<Vec<Stage>> {
    let staged = stages_with_shapes(ann, lists)?;
    let n = staged.len();
    let mut out = Vec::with_capacity(n);
    // Renumbering of the previous stage's output (None: unchanged).
    let mut in_perm: Option<Vec<u32>> = None;
    for (k, (stage, shape)) in staged.into_iter().enumerate() {
        let out_perm = match shape.as_slice() {
            [c, h, w] if k + 1 < n => Some(channels_last_perm(*c, *h, *w)),
            _ => None,
        };
        let input_layout = if in_perm.is_some() {
            ImageLayout::ChannelsLast
        } else {
            ImageLayout::ChannelsFirst
        };
        let map = |perm: &Option<Vec<u32>>, i: u32| perm.as_ref().map_or(i, |p| p[i as usize]);
        let mut stage = stage;
        match &mut stage {
            Stage::Dense(d) => {
                if let Some(p) = &in_perm {
                    let old = d.weights.clone();
                    for (i, &j) in p.iter().enumerate() {
                        d.weights.column_mut(j as usize).assign(&old.column(i));
                    }
                }
            }
            Stage::Local {
                pairs,
                weights,
                bias,
                shared,
                ..
            } => {
                let mut syn: Vec<((u32, u32), f32)> = pairs
                    .iter()
                    .map(|&(a, b)| (map(&in_perm, a), map(&out_perm, b)))
                    .zip(weights.iter().copied())
                    .collect();
                syn.sort_by_key(|s| s.0);
                (*pairs, *weights) = syn.into_iter().unzip();
                if let Some(b) = bias {
                    let mut renumbered = vec![0.0; b.len()];
                    for (j, &v) in b.iter().enumerate() {
                        renumbered[map(&out_perm, j as u32) as usize] = v;
                    }
                    *b = renumbered;
                }
                if let Some((g, _)) = shared {
                    g.input_layout = input_layout;
                    if out_perm.is_some() {
                        g.output_layout = ImageLayout::ChannelsLast;
                    }
                }
            }
        }
        out.push(stage);
        // A Dense output is a flat vector (no renumbering); an image output is channels-last.
        in_perm = out_perm;
    }
    Ok(out)
}

/// For every neuron of a (C, H, W) image in channels-first order, its channels-last number.
pub(crate) fn channels_last_perm(c: usize, h: usize, w: usize) -> Vec<u32> {
    let mut p = vec![0u32; c * h * w];
    for ch in 0..c {
        for pos in 0..h * w {
            p[ch * h * w + pos] = (pos * c + ch) as u32;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::dense_drive;

    #[test]
    fn dense_drive_gives_the_bits_of_plain_dot_products() {
        // 13 rows (a partial block of 8), 37 inputs of which a third are zero, values whose sums
        // round differently in another order.
        let (n_out, n_in) = (13, 37);
        let hash = |k: u64| {
            ((k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f32 / (1 << 24) as f32 - 0.4) * 3.7
        };
        let w: Vec<f32> = (0..(n_out * n_in) as u64).map(hash).collect();
        let x: Vec<f32> = (0..n_in)
            .map(|k| {
                if k % 3 == 1 {
                    0.0
                } else {
                    hash(1000 + k as u64)
                }
            })
            .collect();
        let bias: Vec<f32> = (0..n_out).map(|o| hash(5000 + o as u64)).collect();
        let mut got = bias.clone();
        dense_drive(&w, &x, &mut got);
        for o in 0..n_out {
            let mut s = 0.0f32;
            for k in 0..n_in {
                s += w[o * n_in + k] * x[k];
            }
            let want = bias[o] + s;
            assert_eq!(
                got[o].to_bits(),
                want.to_bits(),
                "row {o}: {} vs {want}",
                got[o]
            );
        }
    }
}
