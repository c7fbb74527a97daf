//! Training: mini-batch SGD with momentum or Adam, cross-entropy or mean squared error, dropout.
//!
//! - **SGD with momentum**, in the sleep-replay code's form: `v ← μ·v + η·∇W`, `W ← W − v`.
//! - **Adam** (Kingma & Ba 2015) with bias correction; ε = 10⁻⁷ (Keras' default).
//! - **Cross-entropy** needs a softmax output layer; its gradient at the softmax input is
//!   `(p − t)/N`. **MSE** is `½·Σ(y − t)²/N` (the sleep-replay code), gradient `(y − t)/N`;
//!   the straight-through variant passes that gradient past the output activation, as
//!   DeepLearnToolbox (the released sleep-replay code's trainer) does.
//! - **Dropout** masks come from the stream (seed, dropout, epoch·batches + batch, layer, sample);
//!   [`DropoutMode`](crate::ann::DropoutMode) says whether kept units are scaled by 1/(1 − p) in training or the layer is
//!   scaled by (1 − p) at test time.
//! - **BatchNorm** trains on batch statistics and updates its running mean and (unbiased) variance
//!   with the layer's momentum.
//!
//! Every random draw is seeded and every sum has a fixed order, so a run gives the same weights on
//! 1 or N threads.

use std::ops::ControlFlow;
use std::time::Instant;

use ndarray::Array2;

mod backprop;
mod batchnorm;
mod optim;

use backprop::forward_backward;
pub use backprop::loss_and_gradients;
use optim::OptimizerState;

use super::layer::{Activation, Layer};
use super::Ann;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// The loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Softmax cross-entropy (the network must end in a softmax).
    CrossEntropy,
    /// ½·Σ(y − t)²/N against one-hot targets.
    Mse,
    /// The same loss with the output gradient `(y − t)/N` passed straight to the last Dense
    /// layer, skipping the output activation's derivative: what DeepLearnToolbox's `nnbp` does
    /// (`d{n} = −e` for a ReLU output), and so what the released sleep-replay code trains with.
    /// A ReLU output unit whose input is negative still learns, where the exact gradient is 0.
    MseStraightThrough,
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

impl TrainOutcome {
    /// The epoch log as CSV (`model.train.csv` of `somnet train`).
    pub fn csv(&self) -> String {
        let mut csv =
            String::from("epoch,loss,train_accuracy,test_accuracy,seconds,samples_per_second\n");
        for e in &self.epochs {
            let test = e.test_accuracy.unwrap_or(f64::NAN);
            csv += &format!(
                "{},{:.6},{:.4},{:.4},{:.3},{:.0}\n",
                e.epoch, e.loss, e.train_accuracy, test, e.seconds, e.samples_per_second
            );
        }
        csv
    }
}

/// How a model was trained: stored in its file's provenance and beside it
/// (`model.train.json` of `somnet train`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainRecord<'a> {
    /// The command line (empty from the library).
    pub command: String,
    /// The architecture spec.
    pub arch: &'a str,
    /// The training set's name.
    pub dataset: &'a str,
    /// Training images.
    pub train_images: usize,
    /// The architecture options.
    pub options: &'a crate::ann::arch::ArchOptions,
    /// The training settings.
    pub config: &'a TrainConfig,
    /// One record per finished epoch.
    pub epochs: &'a [EpochLog],
    /// Whether the run was stopped early.
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
    // A QCFS threshold must stay positive (it divides the input); a step past zero stops at a
    // small floor instead.
    for layer in &mut ann.layers {
        if let crate::ann::Layer::Qcfs(q) = layer {
            q.lambda = q.lambda.max(crate::ann::qcfs::MIN_LAMBDA);
        }
    }
    (loss, hits)
}
