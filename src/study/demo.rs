//! The end-to-end default (`somnet demo`): train a small MNIST network, convert it, and evaluate
//! the spiking network with the reference settings and with somnet's best latency options
//! (θ/2 initial potential and membrane readout, Rueckauer et al. 2017, Sec. 2.2.2–2.2.3).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::plot::{lines, Marker, Series, PALETTE};
use crate::ann::arch::{build, ArchOptions};
use crate::ann::train::{train, Loss, Optimizer, TrainConfig};
use crate::ann::Ann;
use crate::convert::options::{ConvertOptions, InitialPotential, Readout};
use crate::convert::pipeline::{calibration_set, convert, evaluate_against};
use crate::convert::record::RunSummary;
use crate::data::Dataset;
use crate::error::Result;
use crate::io::report::write_json;

/// The network the demo trains.
pub const ARCH: &str = "mlp:784-400-10";

/// What the demo varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// Training images (the first N).
    pub train_images: usize,
    /// Epochs of Adam (lr 0.001, batches of 100).
    pub epochs: usize,
    /// Time steps per test image.
    pub steps: u64,
    /// Seed of the weights and the shuffling.
    pub seed: u64,
}

/// The demo's stages, reported as they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Training on this many images.
    Training(usize),
    /// Folding and normalising.
    Converting,
    /// Simulating this many test images, once per setting.
    Simulating(usize),
}

/// `summary.json` of the demo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoSummary {
    /// The somnet version.
    pub somnet_version: &'static str,
    /// The architecture.
    pub arch: &'static str,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// The ANN's test accuracy.
    pub ann_accuracy: f64,
    /// Its MACs per image.
    pub macs_per_image: u64,
    /// Steps per image.
    pub steps: u64,
    /// λ of every layer.
    pub layer_scales: Vec<Vec<f32>>,
    /// The reference run, then the best-options run.
    pub runs: Vec<RunSummary>,
    /// Wall-clock seconds of the whole demo.
    pub seconds: f64,
}

/// Runs the demo on `train` (calibration: every 10th of all its images; training: the first
/// `options.train_images`) and `test`; `on_stage` hears each stage start and `on_batch` can stop
/// the training at a batch. Returns the trained network, its training settings and the summary.
pub fn run(
    train_set: &Dataset,
    test: &Dataset,
    options: &DemoOptions,
    mut on_stage: impl FnMut(Stage),
    on_batch: impl FnMut(crate::ann::train::Progress) -> ControlFlow<()>,
) -> Result<(Ann, TrainConfig, DemoSummary)> {
    let start = Instant::now();
    let images = train_set.head(options.train_images);
    let mut ann = build(
        ARCH,
        &images.shape,
        10,
        &ArchOptions::default(),
        options.seed,
    )?;
    let config = TrainConfig {
        epochs: options.epochs,
        batch_size: 100,
        loss: Loss::CrossEntropy,
        optimizer: Optimizer::adam(1e-3),
        seed: options.seed,
        shuffle: true,
    };
    on_stage(Stage::Training(images.len()));
    train(&mut ann, &images, None, &config, on_batch)?;
    on_stage(Stage::Converting);
    let converted = convert(
        &ann,
        &calibration_set(train_set, 6000),
        &ConvertOptions::default(),
    )?;
    let ann_accuracy = ann.accuracy(test)?;
    let settings = [
        ("reference", ConvertOptions::default()),
        (
            "best",
            ConvertOptions {
                initial: InitialPotential::HalfThreshold,
                readout: Readout::Membrane,
                ..ConvertOptions::default()
            },
        ),
    ];
    on_stage(Stage::Simulating(test.len()));
    let mut runs = Vec::new();
    for (name, o) in &settings {
        let e = evaluate_against(&converted, test, options.steps, o, ann_accuracy, |_| {
            ControlFlow::Continue(())
        })?;
        runs.push(e.summary(name));
    }
    let summary = DemoSummary {
        somnet_version: crate::VERSION,
        arch: ARCH,
        train_images: images.len(),
        test_images: test.len(),
        ann_accuracy,
        macs_per_image: ann.macs(),
        steps: options.steps,
        layer_scales: converted.record.layer_scales,
        runs,
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((ann, config, summary))
}

/// Writes `summary.json` and `accuracy.png` (each run's accuracy after every step, the ANN as a
/// dashed line) into `out`.
pub fn write(out: &Path, s: &DemoSummary) -> Result<()> {
    crate::io::report::ensure_dir(out)?;
    write_json(&out.join("summary.json"), s)?;
    let t = s.steps.max(2) as f64;
    let markers = [Marker::Circle, Marker::Triangle];
    let mut series: Vec<Series> = s
        .runs
        .iter()
        .enumerate()
        .map(|(k, r)| Series {
            name: format!("SNN, {} ({})", r.settings, r.options.label()),
            color: PALETTE[k % PALETTE.len()],
            points: r
                .snn_accuracy_per_step
                .iter()
                .enumerate()
                .map(|(t, a)| ((t + 1) as f64, 100.0 * a, 0.0))
                .collect(),
            dashed: false,
            marker: markers[k % markers.len()],
        })
        .collect();
    series.push(Series {
        name: "ANN".into(),
        color: PALETTE[2],
        points: vec![
            (1.0, 100.0 * s.ann_accuracy, 0.0),
            (t, 100.0 * s.ann_accuracy, 0.0),
        ],
        dashed: true,
        marker: Marker::Cross,
    });
    lines(
        &out.join("accuracy.png"),
        &format!(
            "MNIST, {}: accuracy of the converted network after every step ({} images, T = {})",
            s.arch, s.test_images, s.steps
        ),
        ("step", "test accuracy (%)"),
        1.0..t,
        0.0..100.0,
        &series,
    )
}
