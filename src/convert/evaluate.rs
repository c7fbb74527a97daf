//! Evaluating a converted network: accuracy after every step, latency, early exit, synaptic
//! operations and spikes per layer.
//!
//! Samples run in fixed chunks in parallel, each chunk on its own copy of the spiking network
//! (reset between samples, Poisson draws named by the sample's index), and results are combined in
//! sample order, so the figures do not depend on the thread count.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::batch::{run_lanes, Sample};
use super::build::{build_with, SampleRun, SpikingModel};
use super::options::ConvertOptions;
use crate::ann::Ann;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per network copy.
const CHUNK: usize = 250;

/// Samples stepped together by [`count`] (lanes, [`super::batch`]); any value gives the same
/// counts. One: on the 2-core Zen 3 machine of the benchmarks, lanes share a dense row between
/// 1.6 / 3.7 / 12 samples per step at B = 16 / 64 / 250 (MLP 784-1200-1200-10, T = 64), yet run
/// at 0.88 / 0.85 / 0.55 of one sample at a time: a lane's 4.8 kB accumulator leaves L1 once
/// several lanes are in flight, and that costs what the shared row saves
/// (`examples/lanes_throughput.rs` measures it on any machine and model).
pub const BATCH: usize = 1;

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
    /// Mean synaptic operations per image up to the end of step 1, 2, …, T (empty when merged
    /// from shards that did not count them).
    #[serde(default)]
    pub synaptic_ops_per_step: Vec<f64>,
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

/// The exact sums behind an evaluation of a contiguous range of samples: whole numbers only, so
/// that the counts of disjoint ranges add up to the counts of their union exactly, in any order
/// (how shards of one evaluation merge into the figures of the whole run, [`super::shard`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Index of the range's first sample in the whole data set (it names the Poisson streams).
    pub first_image: usize,
    /// Samples in the range.
    pub planned_images: usize,
    /// Samples finished (fewer than planned when interrupted).
    pub images: usize,
    /// Correct decisions after each step, summed over the finished samples.
    pub correct_per_step: Vec<u64>,
    /// Neurons of each converted layer.
    pub layer_neurons: Vec<usize>,
    /// Synaptic operations into each converted layer.
    pub layer_synaptic_ops: Vec<u64>,
    /// Spikes of each converted layer.
    pub layer_spikes: Vec<u64>,
    /// Synaptic operations of the whole network.
    pub synaptic_ops: u64,
    /// Spikes of the whole network.
    pub spikes: u64,
    /// Steps simulated (fewer than T per sample after an early exit).
    pub steps_used: u64,
    /// Whether some chunk did not run.
    pub interrupted: bool,
    /// Synaptic operations up to the end of each step, summed over the finished samples (absent
    /// from shard files of somnet versions before it: empty).
    #[serde(default)]
    pub synaptic_ops_per_step: Vec<u64>,
}

impl Counts {
    /// No samples yet, for `steps` steps and layers of `layer_neurons` neurons.
    pub(crate) fn zero(steps: u64, layer_neurons: &[usize]) -> Counts {
        Counts {
            correct_per_step: vec![0; steps as usize],
            layer_neurons: layer_neurons.to_vec(),
            layer_synaptic_ops: vec![0; layer_neurons.len()],
            layer_spikes: vec![0; layer_neurons.len()],
            synaptic_ops_per_step: vec![0; steps as usize],
            ..Counts::default()
        }
    }

    /// Adds the sums of `other` (same steps and layers; checked by the caller).
    pub(crate) fn add(&mut self, other: &Counts) {
        self.images += other.images;
        let add = |a: &mut Vec<u64>, b: &[u64]| a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        add(&mut self.correct_per_step, &other.correct_per_step);
        add(&mut self.layer_synaptic_ops, &other.layer_synaptic_ops);
        add(&mut self.layer_spikes, &other.layer_spikes);
        if other.synaptic_ops_per_step.len() != self.synaptic_ops_per_step.len() {
            // A part without the per-step counts (an older shard file) leaves none for the whole.
            self.synaptic_ops_per_step.clear();
        }
        add(
            &mut self.synaptic_ops_per_step,
            &other.synaptic_ops_per_step,
        );
        self.synaptic_ops += other.synaptic_ops;
        self.spikes += other.spikes;
        self.steps_used += other.steps_used;
        self.interrupted |= other.interrupted;
    }
}

impl SnnEvaluation {
    /// The figures of `counts` (means per finished sample).
    pub fn from_counts(counts: &Counts) -> Result<SnnEvaluation> {
        if counts.images == 0 {
            return Err(Error::Unsupported(
                "evaluation interrupted before any sample finished".into(),
            ));
        }
        let n = counts.images as f64;
        let mean_steps = counts.steps_used as f64 / n;
        Ok(SnnEvaluation {
            images: counts.images,
            interrupted: counts.interrupted,
            snn_accuracy_per_step: counts
                .correct_per_step
                .iter()
                .map(|&c| c as f64 / n)
                .collect(),
            synaptic_ops_per_image: counts.synaptic_ops as f64 / n,
            synaptic_ops_per_step: counts
                .synaptic_ops_per_step
                .iter()
                .map(|&c| c as f64 / n)
                .collect(),
            spikes_per_image: counts.spikes as f64 / n,
            mean_steps,
            layers: counts
                .layer_neurons
                .iter()
                .zip(counts.layer_synaptic_ops.iter().zip(&counts.layer_spikes))
                .map(|(&neurons, (&sops, &spikes))| LayerActivity {
                    neurons,
                    synaptic_ops_per_image: sops as f64 / n,
                    spikes_per_image: spikes as f64 / n,
                    spikes_per_neuron_per_step: spikes as f64 / (n * neurons as f64 * mean_steps),
                })
                .collect(),
        })
    }
}

/// Per converted layer: the synaptic operations into it and its spikes for the sample just run,
/// its offset-spike pre-run included.
fn layer_sums(model: &SpikingModel) -> (Vec<u64>, Vec<u64>) {
    let (mut sops, mut spikes) = model.layer_counters();
    let pre = model.pre_run();
    for (a, b) in sops.iter_mut().zip(&pre.layer_synaptic_ops) {
        *a += b;
    }
    for (a, b) in spikes.iter_mut().zip(&pre.layer_spikes) {
        *a += b;
    }
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
    SnnEvaluation::from_counts(&count(ann, data, 0, steps, options, on_chunk)?)
}

/// The [`Counts`] of simulating every sample of `data`, whose first sample is sample
/// `first_image` of the whole data set (its index names the sample's random streams, so a range
/// evaluated alone draws what it draws in the whole run). Samples run [`BATCH`] at a time in
/// lanes ([`super::batch`]).
pub fn count(
    ann: &Ann,
    data: &Dataset,
    first_image: usize,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Counts> {
    count_batched(ann, data, first_image, steps, options, BATCH, on_chunk)
}

/// [`count`] with `batch` samples stepped together (1: one at a time). The counts are the same
/// for every `batch`.
pub fn count_batched(
    ann: &Ann,
    data: &Dataset,
    first_image: usize,
    steps: u64,
    options: &ConvertOptions,
    batch: usize,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Counts> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    if batch == 0 {
        return Err(Error::param("batch", 0, "at least 1 sample per step"));
    }
    if options.coding == super::options::Coding::Ttfs {
        // One spike per neuron: no lanes to step; its own event-driven pass.
        return super::ttfs::count(ann, data, first_image, steps, options, on_chunk);
    }
    ann.check_data(data, "evaluation set")?;
    let probe = build_with(ann, options)?; // refuse unsupported networks before starting the workers
    let sizes: Vec<usize> = probe
        .layers
        .iter()
        .map(|&p| probe.net.population(p).len())
        .collect();
    // An offset-spike pre-run's steps come first in every sample's per-step figures.
    let recorded_steps = steps + u64::from(options.offset_presteps);
    in_chunks(
        data.len(),
        first_image,
        recorded_steps,
        &sizes,
        on_chunk,
        |range, t| {
            let mut model = build_with(ann, options)?;
            // The parallelism is over chunks of samples: each network steps on one thread.
            model.net.set_parallel(false);
            // The counts below are what an evaluation compares; nobody reads a digest.
            model.net.set_spike_digest(false);
            let mut tally = |i: usize, run: &SampleRun, model: &SpikingModel| {
                for (k, d) in run.decisions.iter().enumerate() {
                    t.correct_per_step[k] += (*d == Some(data.labels[i] as usize)) as u64;
                }
                t.steps_used += run.steps_used;
                for (a, b) in t.synaptic_ops_per_step.iter_mut().zip(&run.synaptic_ops) {
                    *a += b;
                }
                t.synaptic_ops += model.net.n_events() + model.pre_run().total_synaptic_ops();
                t.spikes += model.net.n_spikes() + model.pre_run().spikes;
                let (sops, spikes) = layer_sums(model);
                for (a, b) in t.layer_synaptic_ops.iter_mut().zip(sops) {
                    *a += b;
                }
                for (a, b) in t.layer_spikes.iter_mut().zip(spikes) {
                    *a += b;
                }
            };
            if batch == 1 {
                for i in range {
                    let x = ndarray::ArrayView1::from(data.image(i));
                    let run = model.run_sample(x, (first_image + i) as u64, steps)?;
                    tally(i, &run, &model);
                }
            } else {
                let samples: Vec<Sample> = range
                    .clone()
                    .map(|i| {
                        let x = ndarray::ArrayView1::from(data.image(i));
                        ((first_image + i) as u64, x)
                    })
                    .collect();
                run_lanes(&model, batch, &samples, steps, |k, run, lane| {
                    tally(range.start + k, run, lane);
                    Ok(())
                })?;
            }
            Ok(())
        },
    )
}

/// The counts of `n` samples (the first is sample `first_image` of the whole set) run in chunks of
/// [`CHUNK`] in parallel: `run(range, counts)` adds the samples of `range` (indices into the data)
/// to a chunk's counts, which are summed in sample order. `on_chunk(images)` is called as each
/// chunk finishes, and with 0 before each chunk starts; once it answers `Break`, chunks not yet
/// started are skipped and the counts cover the finished ones (marked `interrupted`).
pub(crate) fn in_chunks(
    n: usize,
    first_image: usize,
    steps: u64,
    layer_neurons: &[usize],
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
    run: impl Fn(std::ops::Range<usize>, &mut Counts) -> Result<()> + Sync,
) -> Result<Counts> {
    let stop = AtomicBool::new(false);
    let tallies: Vec<Option<Counts>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| -> Result<Option<Counts>> {
            // Asking before each chunk too means a stop waits only for the chunks already
            // running, not for one more chunk per thread after the request.
            if stop.load(Ordering::Relaxed) || on_chunk(0).is_break() {
                stop.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            let mut t = Counts::zero(steps, layer_neurons);
            let range = c * CHUNK..((c + 1) * CHUNK).min(n);
            run(range.clone(), &mut t)?;
            t.images = range.len();
            if on_chunk(t.images).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(Some(t))
        })
        .collect::<Result<_>>()?;
    let mut total = Counts::zero(steps, layer_neurons);
    total.first_image = first_image;
    total.planned_images = n;
    total.interrupted = tallies.iter().any(Option::is_none);
    for t in tallies.iter().flatten() {
        total.add(t);
    }
    Ok(total)
}
