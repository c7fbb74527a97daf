//! Folding batch normalisation into the layer before it (Rueckauer et al. 2017, Eq. 7, the rule
//! SNN Toolbox applies):
//!
//! ```text
//! W' = W·γ/√(σ² + ε)        b' = β + (b − μ)·γ/√(σ² + ε)        (per output channel)
//! ```
//! A missing bias becomes zeros. The folded network computes the same function in inference.

use ndarray::{Array1, Axis};

use crate::ann::{Ann, DropoutMode, Layer};
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
    let mut layers: Vec<(String, Layer)> = Vec::with_capacity(ann.layers.len());
    for (layer, name) in ann.layers.iter().zip(&ann.names) {
        let Layer::BatchNorm(bn) = layer else {
            layers.push((name.clone(), layer.clone()));
            continue;
        };
        let target = layers
            .iter()
            .rposition(|(_, l)| !matches!(l, Layer::Dropout { .. }) || ann.dropout_mode == DropoutMode::ScaleAtTest)
            .filter(|&i| matches!(layers[i].1, Layer::Dense(_) | Layer::Conv2d(_)))
            .ok_or_else(|| {
                let before = layers.iter().rev().find(|(_, l)| !matches!(l, Layer::Dropout { .. })).map_or("the input".to_string(), |(n, l)| format!("'{n}' ({})", l.kind()));
                Error::Unsupported(format!("BatchNorm '{name}' follows {before}, not a Conv2d or Dense layer: it cannot be folded"))
            })?;
        let (scale, shift) = bn.affine();
        match &mut layers[target].1 {
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
            _ => unreachable!("filtered above"),
        }
    }
    Ann::new(ann.input_shape.clone(), layers, ann.dropout_mode)
}
