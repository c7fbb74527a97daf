//! The class-incremental experiment of SRC (Tadros et al. 2022, Fig. 2; the released
//! `run_class_task_summary` driver): five tasks of two classes, one 10-way head, each task trained
//! for 2 epochs on the first 5 000 training images of its classes, and a sleep phase after every
//! task. Two controls run in the same experiment: *sequential* (the same training, no sleep — the
//! catastrophic-forgetting floor) and *joint* (the same network, loss and optimiser trained on
//! every training image of the tasks' classes at once — the ceiling). The released driver trains
//! its joint network for the same 2 epochs on all 60 000 images; with this slow recipe (MSE on a
//! ReLU output, SGD η 0.1 from U(±0.01) weights) that reaches ≈ 94 %, short of the ≈ 98 % the
//! paper reports, which about 8 epochs reach (`joint-epochs 8`: 97.6 %).
//!
//! The sleeping and the sequential network share their initial weights and every training draw
//! (shuffles, dropout masks), so the only difference between them is sleep.

mod presets;

pub use presets::Preset;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{sleep, SleepConfig, SleepReport};
use crate::ann::arch::{self, ArchOptions};
use crate::ann::init::Init;
use crate::ann::train::{train, Loss, Optimizer, TrainConfig};
use crate::ann::{Activation, Ann, DropoutMode};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Which training images drive the sleep after task k (its input and, when data-based, its scale
/// factors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SleepData {
    /// Those of every task seen so far (the released code).
    Seen,
    /// Those of task k alone (the PyTorch replication).
    Current,
}

/// The experiment's settings (defaults: the released MNIST driver).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IncrementalConfig {
    /// The classes of each task, in training order.
    pub tasks: Vec<Vec<u8>>,
    /// Training images per task: the first this many of the task's classes.
    pub per_task: usize,
    /// Epochs per task.
    pub epochs: usize,
    /// Epochs of the joint control.
    pub joint_epochs: usize,
    /// Training images of the joint control: the first this many of the tasks' classes
    /// (`None`: all of them).
    pub joint_images: Option<usize>,
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Another network instead of the MLP: an architecture spec of [`crate::ann::arch`] (e.g. a
    /// small CNN, `c16k5s2-relu-c32k3s2-relu-flat-d128-relu-dcls-out`), built without biases;
    /// `hidden` is then unused.
    #[serde(default)]
    pub arch: Option<String>,
    /// Initial weights.
    pub init: Init,
    /// Output activation (ReLU with MSE in the released code, softmax with cross-entropy in the
    /// PyTorch replication).
    pub output: Activation,
    /// The training loss.
    pub loss: Loss,
    /// Dropout rate on the hidden layers.
    pub dropout: f32,
    /// Dropout convention (the released code scales by (1 − p) at test time; PyTorch scales
    /// kept units by 1/(1 − p) in training).
    pub dropout_mode: DropoutMode,
    /// SGD learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Mini-batch size.
    pub batch_size: usize,
    /// The sleep phase.
    pub sleep: SleepConfig,
    /// Which training images drive each sleep.
    pub sleep_data: SleepData,
    /// Steps of the last sleep kept as a raster.
    pub raster_steps: u64,
    /// Whether to run the sequential and joint controls (off for searches over sleep options).
    pub controls: bool,
    /// Sleep phases per task, interleaved with its training (1: train the task, then sleep).
    /// With P phases the task's images are cut into P consecutive parts; each part is trained
    /// for `epochs` and followed by a sleep of 1/P of the task's sleep length on the images seen
    /// so far (replay interleaved with learning, Hayes et al., Neural Computation 33:2908, 2021,
    /// Sec. 5).
    #[serde(default = "one")]
    pub interleave: usize,
}

fn one() -> usize {
    1
}

impl IncrementalConfig {
    /// The keys of [`Self::set`]; every key of [`SleepConfig::set`] is accepted too.
    pub const KEYS: &'static str =
        "per-task (images), epochs, joint-epochs, joint-images (images or \
        all), hidden (A,B,…), arch (mlp, or a spec such as c16k5s2-relu-flat-d64-relu-dcls-out), controls (on, off), init (uniform:A, fan-in-uniform, …), output \
        (relu, softmax), loss (mse, mse-st, ce), dropout, dropout-mode (scale-at-test, inverted), \
        lr, momentum, batch-size, sleep-data (seen, current), interleave (sleeps per task)";

    /// Sets `key` to `value` (see [`Self::KEYS`]; sleep settings go to [`SleepConfig::set`]): one
    /// text form for the CLI's flags and the Python keyword arguments. Not validated here.
    ///
    /// ```
    /// let mut c = somnet::sleep::incremental::IncrementalConfig::released("mnist");
    /// c.set("hidden", "100,50").unwrap();
    /// c.set("inc", "0.001").unwrap();
    /// assert_eq!(c.hidden, vec![100, 50]);
    /// assert!(c.set("epochs", "many").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |expected: &str| Error::param(key, value, expected);
        let whole = || super::config::parse_whole::<usize>(key, value);
        let number = || super::config::parse_finite(key, value);
        match key {
            "per-task" => self.per_task = whole()?,
            "epochs" => self.epochs = whole()?,
            "joint-epochs" => self.joint_epochs = whole()?,
            "joint-images" => {
                self.joint_images = match value {
                    "all" | "none" => None,
                    _ => Some(whole()?),
                }
            }
            "hidden" => {
                self.hidden = value
                    .split(',')
                    .map(|h| h.trim().parse().ok())
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("layer sizes separated by commas"))?
            }
            "arch" => {
                self.arch = match value.trim() {
                    "mlp" | "" => None,
                    spec => Some(spec.to_string()),
                }
            }
            "controls" => {
                self.controls = match value {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    _ => return Err(bad("on or off")),
                }
            }
            "init" => self.init = Init::parse(value)?,
            "output" => {
                self.output = match value {
                    "relu" => Activation::Relu,
                    "softmax" => Activation::Softmax,
                    _ => return Err(bad("relu or softmax")),
                }
            }
            "loss" => {
                self.loss = match value {
                    "mse" => Loss::Mse,
                    "mse-st" => Loss::MseStraightThrough,
                    "ce" => Loss::CrossEntropy,
                    _ => return Err(bad("mse, mse-st or ce")),
                }
            }
            "dropout" => self.dropout = number()? as f32,
            "dropout-mode" => {
                self.dropout_mode = match value {
                    "scale-at-test" => DropoutMode::ScaleAtTest,
                    "inverted" => DropoutMode::Inverted,
                    _ => return Err(bad("scale-at-test or inverted")),
                }
            }
            "lr" => self.lr = number()? as f32,
            "momentum" => self.momentum = number()? as f32,
            "batch-size" => self.batch_size = whole()?,
            "interleave" => self.interleave = whole()?,
            "sleep-data" => {
                self.sleep_data = match value {
                    "seen" => SleepData::Seen,
                    "current" => SleepData::Current,
                    _ => return Err(bad("seen or current")),
                }
            }
            _ => {
                return self.sleep.set(key, value).map_err(|e| match e {
                    Error::Param { field, .. } if field == "sleep setting" => Error::param(
                        "incremental setting",
                        key,
                        format!(
                            "one of {}, or a sleep setting: {}",
                            Self::KEYS,
                            SleepConfig::KEYS
                        ),
                    ),
                    other => other,
                })
            }
        }
        Ok(())
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.tasks.is_empty() || self.tasks.iter().any(|t| t.is_empty()) {
            return Err(Error::param(
                "tasks",
                format!("{:?}", self.tasks),
                "at least one task, each with at least one class",
            ));
        }
        for (field, v) in [
            ("per_task", self.per_task),
            ("epochs", self.epochs),
            ("joint_epochs", self.joint_epochs),
            ("batch_size", self.batch_size),
            ("interleave", self.interleave),
        ] {
            if v == 0 {
                return Err(Error::param(field, 0, "at least 1"));
            }
        }
        if self.hidden.contains(&0) {
            return Err(Error::param(
                "hidden",
                format!("{:?}", self.hidden),
                "positive layer sizes",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::param("dropout", self.dropout, "in [0, 1)"));
        }
        crate::error::positive("lr", self.lr as f64)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::param("momentum", self.momentum, "in [0, 1)"));
        }
        match (self.output, self.loss) {
            (Activation::Softmax, Loss::CrossEntropy)
            | (Activation::Relu | Activation::Linear, Loss::Mse | Loss::MseStraightThrough) => {}
            (output, loss) => {
                return Err(Error::param(
                    "loss",
                    format!("{loss:?} with a {output:?} output"),
                    "cross-entropy with a softmax output, or MSE with a ReLU or linear output",
                ))
            }
        }
        // With another architecture the sleep phase checks β against the built network.
        if self.arch.is_none() && self.sleep.beta.len() != self.hidden.len() + 1 {
            return Err(Error::SizeMismatch {
                what: format!(
                    "sleep.beta for a network with {} Dense layers",
                    self.hidden.len() + 1
                ),
                expected: self.hidden.len() + 1,
                got: self.sleep.beta.len(),
            });
        }
        if self.interleave > self.per_task {
            return Err(Error::param(
                "interleave",
                self.interleave,
                format!("at most per-task = {} (one image per phase)", self.per_task),
            ));
        }
        self.sleep.validate()
    }

    /// The untrained network for `data` (input size and class count) and `seed`.
    pub fn network(&self, data: &Dataset, seed: u64) -> Result<Ann> {
        let sizes: Vec<String> = std::iter::once(data.features())
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(data.n_classes()))
            .map(|n| n.to_string())
            .collect();
        let options = ArchOptions {
            bias: false,
            init: self.init,
            dropout: self.dropout,
            output: self.output,
            dropout_mode: self.dropout_mode,
            qcfs: None,
        };
        let spec = match &self.arch {
            Some(spec) => spec.clone(),
            None => format!("mlp:{}", sizes.join("-")),
        };
        arch::build(&spec, &data.shape, data.n_classes(), &options, seed)
    }

    fn train_config(&self, epochs: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: self.batch_size,
            loss: self.loss,
            optimizer: Optimizer::Sgd {
                lr: self.lr,
                momentum: self.momentum,
            },
            seed,
            shuffle: true,
        }
    }
}

/// Accuracies of one condition over the tasks.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Curve {
    /// Test accuracy on all classes of all tasks after each task.
    pub accuracy: Vec<f64>,
    /// `per_task[k][j]`: accuracy on task j's test images after task k.
    pub per_task: Vec<Vec<f64>>,
}

impl Curve {
    /// Appends the accuracies of `ann` on `test` (one prediction pass; per-task accuracies are
    /// over the test images of each task's classes).
    fn push(&mut self, ann: &Ann, test: &Dataset, tasks: &[Vec<u8>]) -> Result<()> {
        let pred = ann.predict(test)?;
        let accuracy = |keep: &dyn Fn(u8) -> bool| {
            let (mut n, mut hit) = (0usize, 0usize);
            for (&p, &l) in pred.iter().zip(&test.labels) {
                if keep(l) {
                    n += 1;
                    hit += (p == l as usize) as usize;
                }
            }
            hit as f64 / n.max(1) as f64
        };
        self.accuracy.push(accuracy(&|_| true));
        self.per_task.push(
            tasks
                .iter()
                .map(|t| accuracy(&|l| t.contains(&l)))
                .collect(),
        );
        Ok(())
    }
}

/// One seed of the experiment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeedRun {
    /// The seed (initial weights, training draws, sleep input).
    pub seed: u64,
    /// With sleep: after each task's sleep.
    pub sleep: Curve,
    /// With sleep: after each task's training, before its sleep.
    pub before_sleep: Curve,
    /// Without sleep (empty when the controls are off).
    pub sequential: Curve,
    /// Trained on all tasks at once (one entry; empty when the controls are off).
    pub joint: Curve,
    /// The sleep phases (rasters left out).
    pub sleeps: Vec<SleepReport>,
    /// Spikes of the first steps of the last sleep: (step, layer, neuron).
    pub raster: Vec<(u64, u32, u32)>,
    /// Wall-clock seconds of the whole seed.
    pub seconds: f64,
}

/// What the experiment reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A condition finished training task `task` (from 1).
    Trained {
        /// `sleep`, `sequential` or `joint`.
        condition: &'static str,
        /// The task.
        task: usize,
    },
    /// Sleep after task `task` ran `steps` steps.
    Slept {
        /// The task.
        task: usize,
        /// Steps run.
        steps: u64,
    },
}

/// Runs the experiment for one seed: `train` and `test` are the full data sets. Stops early
/// (returning `Ok(None)`) when `stop` is raised; `on_event` hears of every finished stage.
pub fn run_seed(
    train_data: &Dataset,
    test_data: &Dataset,
    config: &IncrementalConfig,
    seed: u64,
    stop: &AtomicBool,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Option<SeedRun>> {
    config.validate()?;
    let start = Instant::now();
    let task_train: Vec<Dataset> = config
        .tasks
        .iter()
        .map(|classes| train_data.first_n_of_classes(classes, config.per_task))
        .collect();
    if let Some((k, t)) = task_train.iter().enumerate().find(|(_, t)| t.is_empty()) {
        return Err(Error::Unsupported(format!(
            "task {} (classes {:?}) has no training images in '{}'",
            k + 1,
            config.tasks[k],
            t.name
        )));
    }
    let all_classes: Vec<u8> = config.tasks.iter().flatten().copied().collect();
    let test_all = test_data.filter_classes(&all_classes);
    let test_tasks = &config.tasks;
    if test_all.is_empty() {
        return Err(Error::Unsupported(format!(
            "test set '{}' has no images of the tasks' classes",
            test_data.name
        )));
    }
    let stopped = || stop.load(Ordering::Relaxed);

    // Task 1 is trained once: the sleeping and the sequential network are identical until the
    // first sleep.
    let initial = config.network(train_data, seed)?;
    let mut first = initial.clone();
    train_task(&mut first, &task_train[0], config, task_seed(seed, 0))?;
    on_event(Event::Trained {
        condition: "sleep",
        task: 1,
    });
    on_event(Event::Trained {
        condition: "sequential",
        task: 1,
    });

    // The sleeping network runs its (single-threaded) spiking phases while the controls train.
    let (slept, (sequential, joint)) = rayon::join(
        || {
            // With interleaved sleeps task 1 is trained in parts too.
            let (start, trained) = if config.interleave > 1 {
                (initial.clone(), false)
            } else {
                (first.clone(), true)
            };
            sleep_condition(
                start,
                trained,
                &task_train,
                &test_all,
                test_tasks,
                config,
                seed,
                stop,
                on_event,
            )
        },
        || {
            if !config.controls {
                return (Ok(Some(Curve::default())), Ok(Some(Curve::default())));
            }
            let sequential = (|| -> Result<Option<Curve>> {
                let mut ann = first.clone();
                let mut curve = Curve::default();
                curve.push(&ann, &test_all, test_tasks)?;
                for (k, task) in task_train.iter().enumerate().skip(1) {
                    if stopped() {
                        return Ok(None);
                    }
                    train_task(&mut ann, task, config, task_seed(seed, k as u64))?;
                    on_event(Event::Trained {
                        condition: "sequential",
                        task: k + 1,
                    });
                    curve.push(&ann, &test_all, test_tasks)?;
                }
                Ok(Some(curve))
            })();
            let joint = (|| -> Result<Option<Curve>> {
                if stopped() {
                    return Ok(None);
                }
                let mut ann = config.network(train_data, seed)?;
                let all = train_data
                    .first_n_of_classes(&all_classes, config.joint_images.unwrap_or(usize::MAX));
                let outcome = train(
                    &mut ann,
                    &all,
                    None,
                    &config.train_config(config.joint_epochs, task_seed(seed, 1000)),
                    |_| {
                        if stopped() {
                            std::ops::ControlFlow::Break(())
                        } else {
                            std::ops::ControlFlow::Continue(())
                        }
                    },
                )?;
                if outcome.interrupted {
                    return Ok(None);
                }
                on_event(Event::Trained {
                    condition: "joint",
                    task: config.tasks.len(),
                });
                let mut curve = Curve::default();
                curve.push(&ann, &test_all, test_tasks)?;
                Ok(Some(curve))
            })();
            (sequential, joint)
        },
    );
    let (Some((sleep, before_sleep, mut sleeps)), Some(sequential), Some(joint)) =
        (slept?, sequential?, joint?)
    else {
        return Ok(None);
    };
    let raster = sleeps
        .last_mut()
        .map(|r| std::mem::take(&mut r.raster))
        .unwrap_or_default();
    Ok(Some(SeedRun {
        seed,
        sleep,
        before_sleep,
        sequential,
        joint,
        sleeps,
        raster,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

type SleepCurves = (Curve, Curve, Vec<SleepReport>);

#[allow(clippy::too_many_arguments)]
fn sleep_condition(
    mut ann: Ann,
    first_trained: bool,
    task_train: &[Dataset],
    test_all: &Dataset,
    test_tasks: &[Vec<u8>],
    config: &IncrementalConfig,
    seed: u64,
    stop: &AtomicBool,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Option<SleepCurves>> {
    let (mut after, mut before, mut reports) = (Curve::default(), Curve::default(), Vec::new());
    let n_tasks = task_train.len();
    let phases = config.interleave;
    for k in 0..n_tasks {
        let parts = split_task(&task_train[k], phases);
        let total = config.sleep.length.after_task(k + 1);
        for (p, part) in parts.iter().enumerate() {
            let phase_seed = phase_seed(seed, k, p);
            if !(k == 0 && first_trained) {
                train_task(&mut ann, part, config, phase_seed)?;
                // (Task 1's event is sent once for both conditions by the caller.)
                if p + 1 == phases && k > 0 {
                    on_event(Event::Trained {
                        condition: "sleep",
                        task: k + 1,
                    });
                }
            }
            if p + 1 == phases {
                before.push(&ann, test_all, test_tasks)?;
            }
            // The images trained so far: earlier tasks (when sleep replays every seen task) and
            // the parts of this one.
            let mut seen: Vec<&Dataset> = match config.sleep_data {
                SleepData::Seen => task_train[..k].iter().collect(),
                SleepData::Current => Vec::new(),
            };
            seen.extend(&parts[..=p]);
            let seen = Dataset::concat(&seen)?;
            // The task's sleep length shared out over its phases.
            let steps = total / phases as u64 + u64::from((p as u64) < total % phases as u64);
            let sleep_config = SleepConfig {
                seed: phase_seed,
                ..config.sleep.clone()
            };
            let record = if k + 1 == n_tasks && p + 1 == phases {
                0..config.raster_steps
            } else {
                0..0
            };
            let report = sleep(&mut ann, &seen, steps, &sleep_config, record, |done| {
                if done % 1000 == 0 && stop.load(Ordering::Relaxed) {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })?;
            if report.interrupted {
                return Ok(None);
            }
            on_event(Event::Slept {
                task: k + 1,
                steps: report.steps,
            });
            reports.push(report);
        }
        after.push(&ann, test_all, test_tasks)?;
    }
    Ok(Some((after, before, reports)))
}

/// The task's images cut into `phases` consecutive parts (the task itself when 1).
fn split_task(task: &Dataset, phases: usize) -> Vec<Dataset> {
    if phases <= 1 {
        return vec![task.clone()];
    }
    let n = task.len();
    (0..phases)
        .map(|p| task.select(&(p * n / phases..(p + 1) * n / phases).collect::<Vec<_>>()))
        .collect()
}

/// The draws of phase `p` of task `k` (phase 0: the task's own, so one phase is the plain run).
fn phase_seed(seed: u64, k: usize, p: usize) -> u64 {
    let t = task_seed(seed, k as u64);
    if p == 0 {
        t
    } else {
        crate::rng::mix64(t ^ crate::rng::mix64(p as u64))
    }
}

/// Trains one task (or part of one) with the draws of `seed`.
fn train_task(ann: &mut Ann, data: &Dataset, config: &IncrementalConfig, seed: u64) -> Result<()> {
    train(
        ann,
        data,
        None,
        &config.train_config(config.epochs, seed),
        |_| std::ops::ControlFlow::Continue(()),
    )?;
    Ok(())
}

fn task_seed(seed: u64, k: u64) -> u64 {
    crate::rng::mix64(seed ^ crate::rng::mix64(k + 1))
}

/// Mean and sample standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}
