//! Training: mini-batch SGD with momentum or Adam, cross-entropy or mean squared error, dropout.
//!
//! - **SGD with momentum**, in the sleep-replay code's form: `v ← μ·v + η·∇W`, `W ← W − v`.
//! - **Adam** (Kingma & Ba 2015) with bias correction; ε = 10⁻⁷ (Keras' default).
//! - **Cross-entropy** needs a softmax output layer; its gradient at the softmax input is
//!   `(p − t)/N`. **MSE** is `½·Σ(y − t)²/N` (the sleep-replay code), gradient `(y − t)/N`.
//! - **Dropout** masks come from the stream (seed, dropout, epoch·batches + batch, layer, sample);
//!   [`DropoutMode`] says whether kept units are scaled by 1/(1 − p) in training or the layer is
//!   scaled by (1 − p) at test time.
//! - **BatchNorm** trains on batch statistics and updates its running mean and (unbiased) variance
//!   with the layer's momentum.
//!
//! Every random draw is seeded and every sum has a fixed order, so a run gives the same weights on
//! 1 or N threads.

use std::ops::ControlFlow;
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::gemm::{column_sums, gemm};
use super::layer::{Activation, BatchNorm, Layer};
use super::{activate, conv, conv_geom, dense_forward, pool, pool_geom, Ann, DropoutMode};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::{stream, uniform01, Purpose};

/// The loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Softmax cross-entropy (the network must end in a softmax).
    CrossEntropy,
    /// ½·Σ(y − t)²/N against one-hot targets.
    Mse,
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Optimizer {
    /// SGD with momentum: `v ← μ·v + η·g`, `w ← w − v`.
    Sgd {
        /// Learning rate η.
        lr: f32,
        /// Momentum μ.
        momentum: f32,
    },
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f32,
        /// β₁.
        beta1: f32,
        /// β₂.
        beta2: f32,
        /// ε.
        eps: f32,
    },
}

impl Optimizer {
    /// Adam with Keras' defaults (β₁ 0.9, β₂ 0.999, ε 10⁻⁷) and learning rate `lr`.
    pub fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
}

/// What a training run does.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per mini-batch.
    pub batch_size: usize,
    /// Loss.
    pub loss: Loss,
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Seed of the shuffling and dropout streams.
    pub seed: u64,
    /// Whether to shuffle the samples every epoch.
    pub shuffle: bool,
}

impl TrainConfig {
    /// Checks the settings against the network.
    pub fn validate(&self, ann: &Ann) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", 0, "at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", 0, "at least 1"));
        }
        // Each setting is checked on its own, so the error names the one that is wrong.
        let unit = |field: &str, v: f32| -> Result<()> {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::param(field, v, "in [0, 1)"))
            }
        };
        let lr = match self.optimizer {
            Optimizer::Sgd { lr, momentum } => {
                unit("momentum", momentum)?;
                lr
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(Error::param("eps", eps, "a finite number > 0"));
                }
                lr
            }
        };
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::param("learning rate", lr, "a finite number > 0"));
        }
        if self.loss == Loss::CrossEntropy
            && !matches!(
                ann.layers.last(),
                Some(Layer::Activation(Activation::Softmax))
            )
        {
            return Err(Error::Unsupported(
                "cross-entropy loss needs a network that ends in a softmax activation".into(),
            ));
        }
        Ok(())
    }
}

/// One epoch's record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the batches.
    pub loss: f64,
    /// Accuracy on the training batches as they were trained (dropout on).
    pub train_accuracy: f64,
    /// Accuracy on the evaluation set, if one was given.
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds of the epoch's training (evaluation excluded).
    pub seconds: f64,
    /// Samples trained per second.
    pub samples_per_second: f64,
}

/// Where a training run is, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean loss so far in this epoch.
    pub loss: f64,
}

/// What a training run returns.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// One record per finished epoch.
    pub epochs: Vec<EpochLog>,
    /// Whether `on_batch` stopped the run (the weights are those after the last batch).
    pub interrupted: bool,
}

/// Trains `ann` on `train`; evaluates on `eval` after every epoch if given. `on_batch` is called
/// after each batch and can stop the run at that batch boundary.
pub fn train(
    ann: &mut Ann,
    train: &Dataset,
    eval: Option<&Dataset>,
    config: &TrainConfig,
    mut on_batch: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<TrainOutcome> {
    config.validate(ann)?;
    if train.is_empty() {
        return Err(Error::Unsupported(format!(
            "training set '{}' is empty",
            train.name
        )));
    }
    if train.features() != ann.input_features() {
        return Err(Error::SizeMismatch {
            what: format!(
                "images of '{}' for a network with input {:?}",
                train.name, ann.input_shape
            ),
            expected: ann.input_features(),
            got: train.features(),
        });
    }
    let n_out = ann.output_features();
    if let Some(&l) = train.labels.iter().find(|&&l| l as usize >= n_out) {
        return Err(Error::IndexOutOfRange {
            what: format!(
                "label of '{}' for a network with {n_out} outputs",
                train.name
            ),
            index: l as usize,
            len: n_out,
        });
    }
    let mut state = OptimizerState::new(ann);
    let batches = train.len().div_ceil(config.batch_size);
    let mut outcome = TrainOutcome {
        epochs: Vec::new(),
        interrupted: false,
    };
    for epoch in 1..=config.epochs {
        let order: Vec<usize> = if config.shuffle {
            train.permutation(config.seed, 1000 + epoch as u64)
        } else {
            (0..train.len()).collect()
        };
        let start = Instant::now();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for b in 0..batches {
            let idx = &order[b * config.batch_size..((b + 1) * config.batch_size).min(train.len())];
            let x = gather(train, idx);
            let labels: Vec<u8> = idx.iter().map(|&i| train.labels[i]).collect();
            let step_seed = ((epoch - 1) * batches + b) as u64;
            let (loss, hits) = train_batch(ann, &mut state, x, &labels, config, step_seed);
            loss_sum += loss;
            correct += hits;
            if on_batch(Progress {
                epoch,
                batch: b + 1,
                batches,
                loss: loss_sum / (b + 1) as f64,
            })
            .is_break()
            {
                outcome.interrupted = true;
                return Ok(outcome);
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let test_accuracy = eval.map(|d| ann.accuracy(d)).transpose()?;
        outcome.epochs.push(EpochLog {
            epoch,
            loss: loss_sum / batches as f64,
            train_accuracy: correct as f64 / train.len() as f64,
            test_accuracy,
            seconds,
            samples_per_second: train.len() as f64 / seconds.max(1e-9),
        });
    }
    Ok(outcome)
}

fn gather(data: &Dataset, idx: &[usize]) -> Array2<f32> {
    let f = data.features();
    let mut x = Array2::zeros((idx.len(), f));
    for (mut row, &i) in x.rows_mut().into_iter().zip(idx) {
        row.as_slice_mut()
            .expect("standard layout")
            .copy_from_slice(data.image(i));
    }
    x
}

/// What the backward pass needs from the forward pass of one layer.
enum Cache {
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
}

/// Gradients of one layer's parameters, in [`params_mut`] order.
type Grads = Vec<Vec<f32>>;

/// Forward in training mode, backward, optimiser step. Returns (batch loss, correct predictions).
fn train_batch(
    ann: &mut Ann,
    state: &mut OptimizerState,
    x: Array2<f32>,
    labels: &[u8],
    config: &TrainConfig,
    step_seed: u64,
) -> (f64, usize) {
    let (loss, hits, grads) =
        forward_backward(ann, x, labels, config.loss, (config.seed, step_seed));
    state.step(ann, &grads, &config.optimizer);
    (loss, hits)
}

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

fn forward_backward(
    ann: &mut Ann,
    x: Array2<f32>,
    labels: &[u8],
    loss_kind: Loss,
    seeds: (u64, u64),
) -> (f64, usize, Vec<Grads>) {
    let n = x.nrows();
    let shapes_in: Vec<Vec<usize>> = std::iter::once(ann.input_shape.clone())
        .chain(ann.shapes().expect("validated"))
        .collect();
    let mut caches = Vec::with_capacity(ann.layers.len());
    let mut cur = x;
    for (li, layer) in ann.layers.iter_mut().enumerate() {
        let (y, cache) = train_forward(
            layer,
            cur,
            &shapes_in[li],
            ann.dropout_mode,
            (seeds.0, seeds.1, li as u64),
        );
        caches.push(cache);
        cur = y;
    }
    // Loss and its gradient at the output (at the softmax input for cross-entropy).
    let n_out = cur.ncols();
    let mut grad = Array2::<f32>::zeros((n, n_out));
    let mut loss = 0.0f64;
    let mut hits = 0usize;
    for (i, (row, &l)) in cur.rows().into_iter().zip(labels).enumerate() {
        let row = row.as_slice().expect("standard layout");
        hits += (super::argmax(row) == l as usize) as usize;
        for (k, &y) in row.iter().enumerate() {
            let t = (k == l as usize) as u8 as f32;
            match loss_kind {
                Loss::CrossEntropy => {
                    if t > 0.0 {
                        loss -= (y.max(1e-12) as f64).ln();
                    }
                    grad[[i, k]] = (y - t) / n as f32;
                }
                Loss::Mse => {
                    loss += 0.5 * ((y - t) as f64).powi(2);
                    grad[[i, k]] = (y - t) / n as f32;
                }
            }
        }
    }
    // Backward, last layer first; collect parameter gradients.
    let mut grads: Vec<Grads> = vec![Vec::new(); ann.layers.len()];
    for li in (0..ann.layers.len()).rev() {
        let cache = caches.pop().expect("one cache per layer");
        let skip_softmax = li == ann.layers.len() - 1 && loss_kind == Loss::CrossEntropy;
        let (dx, g) = backward(
            &ann.layers[li],
            cache,
            grad,
            &shapes_in[li],
            skip_softmax,
            li > 0,
        );
        grads[li] = g;
        grad = dx;
    }
    (loss / n as f64, hits, grads)
}

fn train_forward(
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

/// Per-channel `Σ f(a, b)` over samples and positions, channel-parallel: each sample's slice is
/// summed in f32 over 16 lanes (vectorised, fixed order), the per-sample partials in f64 in sample
/// order.
fn channel_sums(
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
fn lane_sum(a: &[f32], b: &[f32], f: &impl Fn(f32, f32) -> f32) -> f32 {
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

fn batchnorm_train_forward(
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

/// Backward through one layer: (dL/dx, parameter gradients).
fn backward(
    layer: &Layer,
    cache: Cache,
    dy: Array2<f32>,
    in_shape: &[usize],
    skip_softmax: bool,
    need_input: bool,
) -> (Array2<f32>, Grads) {
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
            if skip_softmax {
                return (dy, Vec::new());
            }
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
        _ => unreachable!("caches are made by train_forward for the same layer"),
    }
}

/// The trainable parameters of a layer, as mutable slices in a fixed order.
fn params_mut(layer: &mut Layer) -> Vec<&mut [f32]> {
    match layer {
        Layer::Dense(d) => {
            let mut v = vec![d.weights.as_slice_mut().expect("standard layout")];
            if let Some(b) = &mut d.bias {
                v.push(b.as_slice_mut().expect("standard layout"));
            }
            v
        }
        Layer::Conv2d(c) => {
            let mut v = vec![c.weights.as_slice_mut().expect("standard layout")];
            if let Some(b) = &mut c.bias {
                v.push(b.as_slice_mut().expect("standard layout"));
            }
            v
        }
        Layer::BatchNorm(b) => vec![
            b.gamma.as_slice_mut().expect("standard layout"),
            b.beta.as_slice_mut().expect("standard layout"),
        ],
        _ => Vec::new(),
    }
}

/// Momentum / moment buffers, one per parameter tensor.
struct OptimizerState {
    first: Vec<Vec<Vec<f32>>>,
    second: Vec<Vec<Vec<f32>>>,
    t: i32,
}

impl OptimizerState {
    fn new(ann: &mut Ann) -> Self {
        let zeros: Vec<Vec<Vec<f32>>> = ann
            .layers
            .iter_mut()
            .map(|l| params_mut(l).iter().map(|p| vec![0.0; p.len()]).collect())
            .collect();
        OptimizerState {
            first: zeros.clone(),
            second: zeros,
            t: 0,
        }
    }

    fn step(&mut self, ann: &mut Ann, grads: &[Grads], opt: &Optimizer) {
        self.t += 1;
        for (li, layer) in ann.layers.iter_mut().enumerate() {
            for (pi, w) in params_mut(layer).into_iter().enumerate() {
                let g = &grads[li][pi];
                let m = &mut self.first[li][pi];
                match *opt {
                    Optimizer::Sgd { lr, momentum } => {
                        w.par_iter_mut()
                            .zip(m.par_iter_mut())
                            .zip(g.par_iter())
                            .for_each(|((w, v), &g)| {
                                *v = momentum * *v + lr * g;
                                *w -= *v;
                            });
                    }
                    Optimizer::Adam {
                        lr,
                        beta1,
                        beta2,
                        eps,
                    } => {
                        let s = &mut self.second[li][pi];
                        let (c1, c2) = (1.0 - beta1.powi(self.t), 1.0 - beta2.powi(self.t));
                        w.par_iter_mut()
                            .zip(m.par_iter_mut())
                            .zip(s.par_iter_mut())
                            .zip(g.par_iter())
                            .for_each(|(((w, m), s), &g)| {
                                *m = beta1 * *m + (1.0 - beta1) * g;
                                *s = beta2 * *s + (1.0 - beta2) * g * g;
                                *w -= lr * (*m / c1) / ((*s / c2).sqrt() + eps);
                            });
                    }
                }
            }
        }
    }
}
