//! Folding batch normalisation into the layer before it (Rueckauer et al. 2017, Eq. 7, the rule
//! SNN Toolbox applies):
//!
//! ```text
//! W' = W·γ/√(σ² + ε)        b' = β + (b − μ)·γ/√(σ² + ε)        (per output channel)
//! ```
//! A missing bias becomes zeros. The folded network computes the same function in inference.

use ndarray::{Array1, Axis};

use crate::ann::{Ann, DropoutMode, Layer, Node};
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
