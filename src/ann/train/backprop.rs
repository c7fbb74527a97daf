//! The training-mode forward pass (with what backward needs cached) and the backward pass
//! through every layer kind.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::batchnorm::{batchnorm_train_forward, channel_sums};
use super::{Loss, Optimizer, TrainConfig};
use crate::ann::gemm::{column_sums, gemm};
use crate::ann::graph::{merge_backward, merge_forward, pad_backward, pad_forward, Values};
use crate::ann::layer::{Activation, Layer};
use crate::ann::{
    activate, conv, conv_geom, dense_forward, pool, pool_geom, qcfs, Ann, DropoutMode, Node,
};
use crate::error::{Error, Result};
use crate::rng::{stream, uniform01, Purpose};

/// What the backward pass needs from the forward pass of one layer.
pub(super) enum Cache {
    Dense {
        x: Array2<f32>,
    },
    Conv {
        cols: Array2<f32>,
    },
    MaxPool {
        arg: Vec<u32>,
    },
    AvgPool,
    Flatten,
    BatchNorm {
        xhat: Array2<f32>,
        inv_std: Array1<f32>,
    },
    /// 1 where the unit was active (x > 0).
    Relu {
        active: Vec<u8>,
    },
    Softmax {
        y: Array2<f32>,
    },
    Linear,
    Dropout {
        mask: Array2<f32>,
    },
    /// Global average pooling and zero padding: the input shape is all backward needs.
    Reshape,
    /// Add and Concatenate: backward needs only the input widths.
    Merge,
    /// QCFS: its input.
    Qcfs {
        x: Array2<f32>,
    },
}

/// Gradients of one layer's parameters, in [`params_mut`] order.
pub(super) type Grads = Vec<Vec<f32>>;

/// The training-mode loss of a batch and the gradient of every parameter (low-level API, e.g. for
/// gradient checks). Gradients are per layer, per parameter tensor (weights then bias; BatchNorm γ
/// then β), flattened in storage order. BatchNorm layers use batch statistics and update their
/// running averages; dropout masks come from `(seed, step)`.
pub fn loss_and_gradients(
    ann: &mut Ann,
    x: ArrayView2<'_, f32>,
    labels: &[u8],
    loss: Loss,
    seed: u64,
    step: u64,
) -> Result<(f64, Vec<Vec<Vec<f32>>>)> {
    if x.ncols() != ann.input_features() || x.nrows() != labels.len() {
        return Err(Error::SizeMismatch {
            what: "batch for loss_and_gradients".into(),
            expected: ann.input_features(),
            got: x.ncols(),
        });
    }
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: labels.len().max(1),
        loss,
        optimizer: Optimizer::adam(1e-3),
        seed,
        shuffle: false,
    };
    cfg.validate(ann)?;
    let (l, _, g) = forward_backward(
        ann,
        x.as_standard_layout().into_owned(),
        labels,
        loss,
        (seed, step),
    );
    Ok((l, g))
}

pub(super) fn forward_backward(
    ann: &mut Ann,
    x: Array2<f32>,
    labels: &[u8],
    loss_kind: Loss,
    seeds: (u64, u64),
) -> (f64, usize, Vec<Grads>) {
    let n = x.nrows();
    let shapes_in = ann.input_shapes().expect("validated");
    let widths: Vec<usize> = ann
        .shapes()
        .expect("validated")
        .iter()
        .map(|s| s.iter().product())
        .collect();
    let inputs = ann.inputs.clone();
    let n_layers = ann.layers.len();
    let mut caches = Vec::with_capacity(n_layers);
    let mut values = Values::new(ann, x);
    let mut output = None;
    for li in 0..n_layers {
        let (y, cache) = if ann.layers[li].is_merge() {
            let ins = values.borrow(&inputs[li]);
            let y = merge_forward(&ann.layers[li], &ins);
            drop(ins);
            values.release(&inputs[li]);
            (y, Cache::Merge)
        } else {
            let x = values.take(inputs[li][0]);
            train_forward(
                &mut ann.layers[li],
                x,
                &shapes_in[li],
                ann.dropout_mode,
                (seeds.0, seeds.1, li as u64),
            )
        };
        caches.push(Some(cache));
        if li + 1 == n_layers {
            output = Some(y);
        } else {
            values.store(li, y);
        }
    }
    let cur = output.expect("a network has at least one layer");
    // Loss and its gradient at the output (at the softmax input for cross-entropy).
    let n_out = cur.ncols();
    let mut grad = Array2::<f32>::zeros((n, n_out));
    let mut loss = 0.0f64;
    let mut hits = 0usize;
    for (i, (row, &l)) in cur.rows().into_iter().zip(labels).enumerate() {
        let row = row.as_slice().expect("standard layout");
        hits += (crate::ann::argmax(row) == l as usize) as usize;
        for (k, &y) in row.iter().enumerate() {
            let t = (k == l as usize) as u8 as f32;
            match loss_kind {
                Loss::CrossEntropy => {
                    if t > 0.0 {
                        loss -= (y.max(1e-12) as f64).ln();
                    }
                    grad[[i, k]] = (y - t) / n as f32;
                }
                Loss::Mse | Loss::MseStraightThrough => {
                    loss += 0.5 * ((y - t) as f64).powi(2);
                    grad[[i, k]] = (y - t) / n as f32;
                }
            }
        }
    }
    // Backward, last layer first: a layer's output gradient is complete once every reader (all
    // later) has added its share. Collect parameter gradients on the way.
    let mut grads: Vec<Grads> = vec![Vec::new(); n_layers];
    let mut dnodes: Vec<Option<Array2<f32>>> = vec![None; n_layers];
    dnodes[n_layers - 1] = Some(grad);
    for li in (0..n_layers).rev() {
        let cache = caches[li].take().expect("one cache per layer");
        let dy = dnodes[li]
            .take()
            .expect("every layer but the output is read by a later one");
        let ins = &inputs[li];
        let dxs = if let Cache::Merge = cache {
            let w: Vec<usize> = ins
                .iter()
                .map(|n| match n {
                    Node::Input => ann.input_features(),
                    Node::Layer(j) => widths[*j],
                })
                .collect();
            merge_backward(&ann.layers[li], dy, &w)
        } else {
            // Cross-entropy's gradient is taken at the softmax input; the straight-through MSE
            // skips the output activation's derivative on purpose.
            let skip_output = li + 1 == n_layers
                && matches!(loss_kind, Loss::CrossEntropy | Loss::MseStraightThrough);
            let (dx, g) = backward(
                &ann.layers[li],
                cache,
                dy,
                &shapes_in[li],
                skip_output,
                ins[0] != Node::Input,
            );
            grads[li] = g;
            vec![dx]
        };
        for (node, dx) in ins.iter().zip(dxs) {
            if let Node::Layer(j) = node {
                match &mut dnodes[*j] {
                    Some(acc) => *acc += &dx,
                    slot => *slot = Some(dx),
                }
            }
        }
    }
    (loss / n as f64, hits, grads)
}

pub(super) fn train_forward(
    layer: &mut Layer,
    x: Array2<f32>,
    in_shape: &[usize],
    mode: DropoutMode,
    seeds: (u64, u64, u64),
) -> (Array2<f32>, Cache) {
    match layer {
        Layer::Dense(d) => (dense_forward(x.view(), d), Cache::Dense { x }),
        Layer::Conv2d(c) => {
            let (y, cols) = conv::forward(x.view(), c, &conv_geom(in_shape, c));
            (y, Cache::Conv { cols })
        }
        Layer::AvgPool2d(p) => (
            pool::avg_forward(x.view(), &pool_geom(in_shape, p)),
            Cache::AvgPool,
        ),
        Layer::MaxPool2d(p) => {
            let (y, arg) = pool::max_forward(x.view(), &pool_geom(in_shape, p));
            (y, Cache::MaxPool { arg })
        }
        Layer::Flatten => (x, Cache::Flatten),
        Layer::BatchNorm(b) => batchnorm_train_forward(b, x, in_shape),
        Layer::Activation(Activation::Relu) => {
            // One pass: clamp and remember which units were active.
            let mut x = x;
            let mut active = vec![0u8; x.len()];
            x.as_slice_mut()
                .expect("standard layout")
                .par_chunks_mut(1 << 14)
                .zip(active.par_chunks_mut(1 << 14))
                .for_each(|(v, m)| {
                    for (v, m) in v.iter_mut().zip(m) {
                        *m = (*v > 0.0) as u8;
                        *v = v.max(0.0);
                    }
                });
            (x, Cache::Relu { active })
        }
        Layer::Activation(a) => {
            let y = activate(x, *a);
            let cache = match a {
                Activation::Softmax => Cache::Softmax { y: y.clone() },
                _ => Cache::Linear,
            };
            (y, cache)
        }
        Layer::GlobalAvgPool2d => (pool::global_avg_forward(x.view(), in_shape), Cache::Reshape),
        Layer::ZeroPad2d(p) => (pad_forward(x.view(), in_shape, p), Cache::Reshape),
        Layer::Qcfs(q) => (qcfs::forward(x.clone(), q), Cache::Qcfs { x }),
        Layer::Add | Layer::Concatenate => unreachable!("merges are run by merge_forward"),
        Layer::Dropout { rate } => {
            let keep = 1.0 - *rate;
            let scale = match mode {
                DropoutMode::Inverted => 1.0 / keep,
                DropoutMode::ScaleAtTest => 1.0,
            };
            let (seed, step, layer_index) = seeds;
            let mut mask = Array2::<f32>::zeros(x.dim());
            mask.axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each(|(i, mut row)| {
                    let mut rng = stream(seed, Purpose::Dropout, step, layer_index, i as u64);
                    row.iter_mut().for_each(|m| {
                        *m = if uniform01(&mut rng) < keep as f64 {
                            scale
                        } else {
                            0.0
                        }
                    });
                });
            let mut x = x;
            x *= &mask;
            (x, Cache::Dropout { mask })
        }
    }
}

/// Backward through one layer: (dL/dx, parameter gradients).
pub(super) fn backward(
    layer: &Layer,
    cache: Cache,
    dy: Array2<f32>,
    in_shape: &[usize],
    skip_output: bool,
    need_input: bool,
) -> (Array2<f32>, Grads) {
    if skip_output && matches!(layer, Layer::Activation(_)) {
        return (dy, Vec::new());
    }
    match (layer, cache) {
        (Layer::Dense(d), Cache::Dense { x }) => {
            let mut dw = Array2::zeros(d.weights.dim());
            gemm(1.0, dy.t(), x.view(), 0.0, dw.view_mut());
            let mut g = vec![dw.into_raw_vec_and_offset().0];
            if d.bias.is_some() {
                g.push(column_sums(dy.view()).to_vec());
            }
            let dx = if need_input {
                let mut dx = Array2::zeros(x.dim());
                gemm(1.0, dy.view(), d.weights.view(), 0.0, dx.view_mut());
                dx
            } else {
                Array2::zeros((0, 0))
            };
            (dx, g)
        }
        (Layer::Conv2d(c), Cache::Conv { cols }) => {
            let grads = conv::backward(dy.view(), &cols, c, &conv_geom(in_shape, c), need_input);
            let mut g = vec![grads.weights.into_raw_vec_and_offset().0];
            if let Some(b) = grads.bias {
                g.push(b.to_vec());
            }
            (grads.input, g)
        }
        (Layer::AvgPool2d(p), Cache::AvgPool) => (
            pool::avg_backward(dy.view(), &pool_geom(in_shape, p)),
            Vec::new(),
        ),
        (Layer::MaxPool2d(p), Cache::MaxPool { arg }) => (
            pool::max_backward(dy.view(), &arg, &pool_geom(in_shape, p)),
            Vec::new(),
        ),
        (Layer::Flatten, Cache::Flatten) => (dy, Vec::new()),
        (Layer::BatchNorm(b), Cache::BatchNorm { xhat, inv_std }) => {
            let channels = in_shape[0];
            let per: usize = in_shape[1..].iter().product();
            let m = (dy.nrows() * per) as f64;
            let dbeta = channel_sums(dy.view(), None, per, channels, |v, _| v);
            let dgamma = channel_sums(dy.view(), Some(xhat.view()), per, channels, |d, x| d * x);
            // dx = γ·inv_std/M · (M·dy − Σdy − x̂·Σ(dy·x̂)) = k·dy − a − x̂·b per channel.
            let k: Vec<f32> = (0..channels).map(|c| b.gamma[c] * inv_std[c]).collect();
            let a: Vec<f32> = (0..channels)
                .map(|c| (k[c] as f64 * dbeta[c] / m) as f32)
                .collect();
            let bb: Vec<f32> = (0..channels)
                .map(|c| (k[c] as f64 * dgamma[c] / m) as f32)
                .collect();
            let mut dx = dy;
            dx.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(xhat.axis_iter(Axis(0)).into_par_iter())
                .for_each(|(mut row, xh)| {
                    let row = row.as_slice_mut().expect("standard layout");
                    let xh = xh.to_slice().expect("standard layout");
                    for c in 0..channels {
                        let (kc, ac, bc) = (k[c], a[c], bb[c]);
                        for (v, &x) in row[c * per..(c + 1) * per]
                            .iter_mut()
                            .zip(&xh[c * per..(c + 1) * per])
                        {
                            *v = kc * *v - ac - x * bc;
                        }
                    }
                });
            let g = vec![
                dgamma.iter().map(|&v| v as f32).collect(),
                dbeta.iter().map(|&v| v as f32).collect(),
            ];
            (dx, g)
        }
        (Layer::Activation(_), Cache::Relu { active }) => {
            let mut dx = dy;
            dx.as_slice_mut()
                .expect("standard layout")
                .par_chunks_mut(1 << 14)
                .zip(active.par_chunks(1 << 14))
                .for_each(|(d, m)| {
                    for (d, &m) in d.iter_mut().zip(m) {
                        if m == 0 {
                            *d = 0.0;
                        }
                    }
                });
            (dx, Vec::new())
        }
        (Layer::Activation(_), Cache::Softmax { y }) => {
            // dx = s ⊙ (dy − Σ dy·s)
            let mut dx = dy;
            dx.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(y.axis_iter(Axis(0)).into_par_iter())
                .for_each(|(mut d, s)| {
                    let dot: f32 = d.iter().zip(s.iter()).map(|(a, b)| a * b).sum();
                    d.zip_mut_with(&s, |dv, &sv| *dv = sv * (*dv - dot));
                });
            (dx, Vec::new())
        }
        (Layer::Activation(_), Cache::Linear) => (dy, Vec::new()),
        (Layer::Dropout { .. }, Cache::Dropout { mask }) => (dy * &mask, Vec::new()),
        (Layer::GlobalAvgPool2d, Cache::Reshape) => {
            (pool::global_avg_backward(dy.view(), in_shape), Vec::new())
        }
        (Layer::ZeroPad2d(p), Cache::Reshape) => (pad_backward(dy.view(), in_shape, p), Vec::new()),
        (Layer::Qcfs(q), Cache::Qcfs { x }) => {
            let (dx, dlambda) = qcfs::backward(&x, dy, q);
            (dx, vec![vec![dlambda]])
        }
        _ => unreachable!("caches are made by train_forward for the same layer"),
    }
}
