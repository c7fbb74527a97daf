//! Folding batch normalisation into the layer before it (Rueckauer et al. 2017, Eq. 7, the rule
//! SNN Toolbox applies):
//!
//! ```text
//! W' = W·γ/√(σ² + ε)        b' = β + (b − μ)·γ/√(σ² + ε)        (per output channel)
//! ```
//! A missing bias becomes zeros. The folded network computes the same function in inference.

use ndarray::{Array1, Axis};

use crate::ann::{Ann, DropoutMode, Layer, Node, Padding, Pool};
use crate::error::{Error, Result};

/// The network with every BatchNorm folded into the Conv2d or Dense layer before it.
///
/// Inverted dropout (an identity at inference) may stand between the two; anything else there —
/// an activation, pooling, a test-time dropout scale — makes folding wrong, and is refused with the
/// layer named.
///
/// ```
/// use somnet::ann::arch::{build, ArchOptions};
/// let ann = build("bn-cnn", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
/// let folded = somnet::convert::fold::fold_batchnorm(&ann).unwrap();
/// assert!(folded.layers.iter().all(|l| l.kind() != "batchnorm"));
/// ```
pub fn fold_batchnorm(ann: &Ann) -> Result<Ann> {
    let mut out = ann.clone();
    let consumers = ann.consumers();
    let mut folded = vec![false; ann.layers.len()];
    for (i, name) in ann.names.iter().enumerate() {
        let Layer::BatchNorm(bn) = &ann.layers[i] else {
            continue;
        };
        // Walk back over inverted dropouts (identities at inference) to the weighted layer; on
        // the way every layer must feed only this path, or folding would change another reader.
        let mut node = ann.inputs[i][0];
        let mut via = i;
        let target = loop {
            let Node::Layer(t) = node else {
                break Err("the input".to_string());
            };
            let describe = format!("'{}' ({})", ann.names[t], ann.layers[t].kind());
            if consumers[t] != [via] {
                return Err(Error::Unsupported(format!(
                    "BatchNorm '{name}' follows {describe}, which also feeds {}: folding would change what they read",
                    consumers[t]
                        .iter()
                        .filter(|&&c| c != via)
                        .map(|&c| format!("'{}'", ann.names[c]))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            match &ann.layers[t] {
                Layer::Dense(_) | Layer::Conv2d(_) => break Ok(t),
                Layer::Dropout { .. } if ann.dropout_mode == DropoutMode::Inverted => {
                    via = t;
                    node = ann.inputs[t][0];
                }
                _ => break Err(describe),
            }
        }
        .map_err(|before| {
            Error::Unsupported(format!(
                "BatchNorm '{name}' follows {before}, not a Conv2d or Dense layer: it cannot be folded"
            ))
        })?;
        let (scale, shift) = bn.affine();
        match &mut out.layers[target] {
            Layer::Dense(d) => {
                for (mut row, &s) in d.weights.axis_iter_mut(Axis(0)).zip(&scale) {
                    row *= s;
                }
                let b = d.bias.take().unwrap_or_else(|| Array1::zeros(scale.len()));
                d.bias = Some(&b * &scale + &shift);
            }
            Layer::Conv2d(c) => {
                for (mut filter, &s) in c.weights.axis_iter_mut(Axis(0)).zip(&scale) {
                    filter *= s;
                }
                let b = c.bias.take().unwrap_or_else(|| Array1::zeros(scale.len()));
                c.bias = Some(&b * &scale + &shift);
            }
            _ => unreachable!("found above"),
        }
        folded[i] = true;
    }
    out.without(&folded)
}

/// The network with every average pooling that feeds a Conv2d or Dense layer (through Flatten or
/// inverted dropout only) folded into that layer: pooling is linear, so a `p×p` window of stride
/// `s` followed by a `k×k` convolution of stride `t` is one convolution of size `(k − 1)·s + p`
/// and stride `t·s` whose taps are the kernel's spread over the windows (overlapping windows
/// add), each divided by the window's size; a Dense layer after a Flatten takes every image
/// position its windows cover the same way. The spiking network then has no pooling layer, whose
/// neurons would quantise the average once more and add a step of latency. A global average
/// pooling before a Dense layer folds the same way (one window over the whole map; it becomes a
/// Flatten, and the dense layer reads every position at 1/(H·W) of its weight).
///
/// A pooling window that reaches past the image (padding), a convolution that pads the pooled
/// map, or anything else after the pooling leaves that pooling as it is (a spiking layer).
///
/// ```
/// use somnet::ann::arch::{build, ArchOptions};
/// let ann = build("lenet", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
/// let folded = somnet::convert::fold::fold_average_pooling(&ann).unwrap();
/// assert!(folded.layers.iter().all(|l| l.kind() != "avgpool2d"));
/// let x = ndarray::Array2::from_shape_fn((2, 784), |(i, j)| ((i + j) % 7) as f32 / 7.0);
/// let (a, b) = (ann.forward(x.view()).unwrap(), folded.forward(x.view()).unwrap());
/// assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
/// ```
pub fn fold_average_pooling(ann: &Ann) -> Result<Ann> {
    let shapes = ann.input_shapes()?;
    let consumers = ann.consumers();
    let mut out = ann.clone();
    let mut folded = vec![false; ann.layers.len()];
    for i in 0..ann.layers.len() {
        let in_shape = &shapes[i];
        // A global pooling is one window over the whole map.
        let (p, global) = match &ann.layers[i] {
            Layer::AvgPool2d(p) => (*p, false),
            Layer::GlobalAvgPool2d => (
                Pool {
                    size: (in_shape[1], in_shape[2]),
                    stride: (in_shape[1], in_shape[2]),
                    padding: Padding::Valid,
                },
                true,
            ),
            _ => continue,
        };
        let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
        if !(unpadded(p.padding, h, p.size.0, p.stride.0)
            && unpadded(p.padding, w, p.size.1, p.stride.1))
        {
            continue;
        }
        let (oh, ow) = (
            (h - p.size.0) / p.stride.0 + 1,
            (w - p.size.1) / p.stride.1 + 1,
        );
        // Follow the single path to the weighted layer.
        let mut at = i;
        let target = loop {
            let [next] = consumers[at][..] else {
                break None;
            };
            if ann.inputs[next].len() != 1 {
                break None;
            }
            match &ann.layers[next] {
                Layer::Flatten => at = next,
                Layer::Dropout { .. } if ann.dropout_mode == DropoutMode::Inverted => at = next,
                Layer::Conv2d(_) | Layer::Dense(_) => break Some(next),
                _ => break None,
            }
        };
        let Some(t) = target else { continue };
        let area = (p.size.0 * p.size.1) as f32;
        match &mut out.layers[t] {
            Layer::Conv2d(conv) => {
                let (co, ci, kh, kw) = conv.weights.dim();
                if ci != c
                    || !(unpadded(conv.padding, oh, kh, conv.stride.0)
                        && unpadded(conv.padding, ow, kw, conv.stride.1))
                {
                    continue;
                }
                let (nh, nw) = (
                    (kh - 1) * p.stride.0 + p.size.0,
                    (kw - 1) * p.stride.1 + p.size.1,
                );
                let mut k = ndarray::Array4::<f32>::zeros((co, ci, nh, nw));
                for ((o, ch, a, b), &v) in conv.weights.indexed_iter() {
                    for u in 0..p.size.0 {
                        for x in 0..p.size.1 {
                            k[[o, ch, a * p.stride.0 + u, b * p.stride.1 + x]] += v / area;
                        }
                    }
                }
                conv.weights = k;
                conv.stride = (conv.stride.0 * p.stride.0, conv.stride.1 * p.stride.1);
                conv.padding = Padding::Valid;
            }
            Layer::Dense(d) => {
                if d.weights.ncols() != c * oh * ow {
                    continue;
                }
                let mut wide = ndarray::Array2::<f32>::zeros((d.weights.nrows(), c * h * w));
                for (j, row) in d.weights.rows().into_iter().enumerate() {
                    for (f, &v) in row.iter().enumerate() {
                        let (ch, py, px) = (f / (oh * ow), f / ow % oh, f % ow);
                        for u in 0..p.size.0 {
                            for x in 0..p.size.1 {
                                let (y, xx) = (py * p.stride.0 + u, px * p.stride.1 + x);
                                wide[[j, (ch * h + y) * w + xx]] += v / area;
                            }
                        }
                    }
                }
                d.weights = wide;
            }
            _ => unreachable!("found above"),
        }
        if global {
            // The dense layer now reads the whole map, flattened.
            out.layers[i] = Layer::Flatten;
        } else {
            folded[i] = true;
        }
    }
    out.without(&folded)
}

/// Whether windows of size `k` and stride `s` on `extent` pixels under `padding` all lie inside
/// (then 'same' and 'valid' agree).
fn unpadded(padding: Padding, extent: usize, k: usize, s: usize) -> bool {
    extent >= k
        && match padding {
            Padding::Valid => true,
            Padding::Same => (extent.div_ceil(s) - 1) * s + k <= extent,
        }
}
