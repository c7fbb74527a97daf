//! Evaluating a converted network: accuracy after every step, latency, early exit, synaptic
//! operations and spikes per layer.
//!
//! Samples run in fixed chunks in parallel, each chunk on its own copy of the spiking network
//! (reset between samples, Poisson draws named by the sample's index), and results are combined in
//! sample order, so the figures do not depend on the thread count.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::build::{build_with, SpikingModel};
use super::options::ConvertOptions;
use crate::ann::Ann;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per network copy.
const CHUNK: usize = 250;

/// Activity of one converted layer, per image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerActivity {
    /// Neurons (one copy; Dale's principle doubles hidden layers).
    pub neurons: usize,
    /// Synaptic operations into the layer (spikes × fan-out of its incoming projections).
    pub synaptic_ops_per_image: f64,
    /// Spikes of the layer (excitatory copy).
    pub spikes_per_image: f64,
    /// Spikes per neuron per simulated step.
    pub spikes_per_neuron_per_step: f64,
}

/// What a spiking evaluation measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnnEvaluation {
    /// Images evaluated.
    pub images: usize,
    /// Fraction correct after step 1, 2, …, T (decisions frozen after an early exit).
    pub snn_accuracy_per_step: Vec<f64>,
    /// Mean synaptic operations (spikes × fan-out) per image over the steps simulated.
    pub synaptic_ops_per_image: f64,
    /// Mean spikes per image over the steps simulated (all populations).
    pub spikes_per_image: f64,
    /// Mean steps simulated per image (T without early exit).
    pub mean_steps: f64,
    /// Per converted layer, in order.
    pub layers: Vec<LayerActivity>,
    /// Whether the run was stopped early; the figures cover the finished samples only.
    pub interrupted: bool,
}

impl SnnEvaluation {
    /// The first step (1-based) at which the accuracy is within `pp` percentage points of
    /// `reference`, if any: the latency of the conversion literature (Rueckauer et al. 2017,
    /// Fig. 4 reads it off the accuracy curve), which the reference figures use.
    pub fn latency(&self, reference: f64, pp: f64) -> Option<usize> {
        self.snn_accuracy_per_step
            .iter()
            .position(|&a| a >= reference - pp / 100.0)
            .map(|i| i + 1)
    }

    /// The first step (1-based) from which the accuracy **stays** within `pp` percentage points
    /// of `reference` up to the last step, if any: stricter than [`Self::latency`] when the
    /// curve wobbles around the ANN's accuracy.
    pub fn settled_latency(&self, reference: f64, pp: f64) -> Option<usize> {
        let ok: Vec<bool> = self
            .snn_accuracy_per_step
            .iter()
            .map(|&a| a >= reference - pp / 100.0)
            .collect();
        let last_bad = ok.iter().rposition(|&o| !o);
        match last_bad {
            None if !ok.is_empty() => Some(1),
            Some(i) if i + 1 < ok.len() => Some(i + 2),
            _ => None,
        }
    }

    /// Spikes per neuron per step over all converted layers.
    pub fn spikes_per_neuron_per_step(&self) -> f64 {
        let neurons: usize = self.layers.iter().map(|l| l.neurons).sum();
        let spikes: f64 = self.layers.iter().map(|l| l.spikes_per_image).sum();
        spikes / (neurons.max(1) as f64 * self.mean_steps.max(1.0))
    }
}

/// Per-chunk sums.
#[derive(Default)]
struct Tally {
    correct: Vec<u64>,
    sops: Vec<u64>,
    spikes: Vec<u64>,
    all_sops: u64,
    all_spikes: u64,
    steps: u64,
    images: usize,
}

fn layer_sums(model: &SpikingModel) -> (Vec<u64>, Vec<u64>) {
    let net = &model.net;
    let sops = model
        .layers
        .iter()
        .zip(&model.inhibitory)
        .map(|(&e, &i)| {
            net.projections()
                .iter()
                .filter(|p| p.post() == e || Some(p.post()) == i)
                .map(|p| p.events())
                .sum()
        })
        .collect();
    let spikes = model
        .layers
        .iter()
        .map(|&p| net.population(p).spike_count())
        .collect();
    (sops, spikes)
}

/// Runs every image of `data` for `steps` steps through the spiking version of `ann` (already
/// folded and normalised) built with the reference settings.
pub fn evaluate(
    ann: &Ann,
    data: &Dataset,
    steps: u64,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<SnnEvaluation> {
    evaluate_with(ann, data, steps, &ConvertOptions::default(), on_chunk)
}

/// [`evaluate`] with the given options. `on_chunk(images)` is called as each chunk of samples
/// finishes; once it answers `Break`, chunks not yet started are skipped and the result covers the
/// finished ones (marked `interrupted`).
pub fn evaluate_with(
    ann: &Ann,
    data: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<SnnEvaluation> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    ann.check_data(data, "evaluation set")?;
    let probe = build_with(ann, options)?; // refuse unsupported networks before starting the workers
    let sizes: Vec<usize> = probe
        .layers
        .iter()
        .map(|&p| probe.net.population(p).len())
        .collect();
    let stop = AtomicBool::new(false);
    let tallies: Vec<Option<Tally>> = (0..data.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| -> Result<Option<Tally>> {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let mut model = build_with(ann, options)?;
            // The parallelism is over chunks of samples: each network steps on one thread.
            model.net.set_parallel(false);
            let mut t = Tally {
                correct: vec![0; steps as usize],
                sops: vec![0; sizes.len()],
                spikes: vec![0; sizes.len()],
                ..Tally::default()
            };
            for i in c * CHUNK..((c + 1) * CHUNK).min(data.len()) {
                let x = ndarray::ArrayView1::from(data.image(i));
                let run = model.run_sample(x, i as u64, steps)?;
                for (k, d) in run.decisions.iter().enumerate() {
                    t.correct[k] += (*d == Some(data.labels[i] as usize)) as u64;
                }
                t.steps += run.steps_used;
                t.all_sops += model.net.n_events();
                t.all_spikes += model.net.n_spikes();
                let (sops, spikes) = layer_sums(&model);
                for (a, b) in t.sops.iter_mut().zip(sops) {
                    *a += b;
                }
                for (a, b) in t.spikes.iter_mut().zip(spikes) {
                    *a += b;
                }
            }
            t.images = ((c + 1) * CHUNK).min(data.len()) - c * CHUNK;
            if on_chunk(t.images).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(Some(t))
        })
        .collect::<Result<_>>()?;
    let interrupted = tallies.iter().any(Option::is_none);
    let mut total = Tally {
        correct: vec![0; steps as usize],
        sops: vec![0; sizes.len()],
        spikes: vec![0; sizes.len()],
        ..Tally::default()
    };
    for t in tallies.into_iter().flatten() {
        total.images += t.images;
        for (a, b) in total.correct.iter_mut().zip(t.correct) {
            *a += b;
        }
        for (a, b) in total.sops.iter_mut().zip(t.sops) {
            *a += b;
        }
        for (a, b) in total.spikes.iter_mut().zip(t.spikes) {
            *a += b;
        }
        total.all_sops += t.all_sops;
        total.all_spikes += t.all_spikes;
        total.steps += t.steps;
    }
    if total.images == 0 {
        return Err(Error::Unsupported(
            "evaluation interrupted before any sample finished".into(),
        ));
    }
    let n = total.images as f64;
    let mean_steps = total.steps as f64 / n;
    Ok(SnnEvaluation {
        images: total.images,
        interrupted,
        snn_accuracy_per_step: total.correct.iter().map(|&c| c as f64 / n).collect(),
        synaptic_ops_per_image: total.all_sops as f64 / n,
        spikes_per_image: total.all_spikes as f64 / n,
        mean_steps,
        layers: sizes
            .iter()
            .zip(total.sops.iter().zip(&total.spikes))
            .map(|(&neurons, (&sops, &spikes))| LayerActivity {
                neurons,
                synaptic_ops_per_image: sops as f64 / n,
                spikes_per_image: spikes as f64 / n,
                spikes_per_neuron_per_step: spikes as f64 / (n * neurons as f64 * mean_steps),
            })
            .collect(),
    })
}
