//! Conversion as library calls: a trained [`Ann`] plus calibration images plus
//! [`ConvertOptions`] become a [`Converted`] network ([`convert`]: fold batch norm, normalise,
//! check that the engine can build it), and a converted network plus test images plus a number of
//! steps become an [`Evaluation`] ([`evaluate`]: accuracy after every step, both latency
//! definitions, synaptic operations and spikes per layer, energy, throughput). The CLI, the
//! benchmarks and the Python package call these and nothing below them.
//!
//! ```
//! use somnet::convert::options::ConvertOptions;
//! use somnet::convert::pipeline::{calibration_set, convert, evaluate};
//! use somnet::data::{default_dir, load_named, Split};
//!
//! let ann = somnet::ann::arch::build("mlp:784-32-10", &[1, 28, 28], 10, &Default::default(), 1)?;
//! let train = load_named("mnist", &default_dir(), Split::Train)?;
//! let test = load_named("mnist", &default_dir(), Split::Test)?.head(20);
//! let options = ConvertOptions { percentile: 99.9, ..ConvertOptions::default() };
//! let snn = convert(&ann, &calibration_set(&train, 100), &options)?;
//! let result = evaluate(&snn, &test, 16, &options, |_| std::ops::ControlFlow::Continue(()))?;
//! assert_eq!(result.snn_accuracy_per_step.len(), 16);
//! println!("{:.1} % after 16 steps, {:.0} SOPs per image", 100.0 * result.snn_accuracy,
//!          result.synaptic_ops_per_image);
//! # Ok::<(), somnet::Error>(())
//! ```

use std::ops::ControlFlow;
use std::path::Path;

use super::build::build_with;
use super::energy;
use super::evaluate::{evaluate_with, SnnEvaluation};
use super::fold::fold_batchnorm;
use super::normalize;
use super::options::{AvgPoolChoice, Coding, ConvertOptions, InputCoding};
use super::record::{ConversionRecord, CostAtLatency, EnergyAtLatency, Evaluation, Latency};
use crate::ann::Ann;
use crate::data::Dataset;
use crate::error::Result;

/// Every 10th image of `train`, at most `limit` of them: the reference converter's calibration
/// set (SNN Toolbox normalises on a subset of the training data; Rueckauer et al. 2017, Sec. 2.3).
pub fn calibration_set(train: &Dataset, limit: usize) -> Dataset {
    let every_tenth: Vec<usize> = (0..train.len()).step_by(10).take(limit).collect();
    train.select(&every_tenth)
}

/// A network ready to run as a spiking network.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The network as given, when it differs from [`Self::ann`] (a trained network converted
    /// here; a file converted earlier holds only the normalised one): see [`Self::source`].
    pub original: Option<Ann>,
    /// Batch norm folded, weights normalised for unit thresholds.
    pub ann: Ann,
    /// How it was converted.
    pub record: ConversionRecord,
}

impl Converted {
    /// The network as given: its accuracy and MACs are the ANN figures an evaluation reports.
    pub fn source(&self) -> &Ann {
        self.original.as_ref().unwrap_or(&self.ann)
    }

    /// A network converted earlier (a `somnet convert` file): `ann` is already normalised and
    /// `record` says how. `path` names the file in errors; `None` if the file holds a trained,
    /// not yet converted network.
    pub fn from_file(
        path: &Path,
        file: &crate::io::schema::ModelFile,
    ) -> Result<Option<Converted>> {
        Ok(
            ConversionRecord::from_provenance(path, &file.provenance.record)?.map(|record| {
                Converted {
                    original: None,
                    ann: file.ann.clone(),
                    record,
                }
            }),
        )
    }
}

/// `ann` with batch norm folded and weights normalised at `percentile` (per layer or per channel,
/// [`normalize::NormScope`]) on `calibration`, and the λ of every weighted layer.
pub fn normalised(
    ann: &Ann,
    calibration: &Dataset,
    percentile: f64,
    scope: normalize::NormScope,
) -> Result<(Ann, Vec<Vec<f32>>)> {
    let folded = super::shortcuts::explicit_shortcuts(&fold_batchnorm(ann)?)?;
    let scales = normalize::scales(&folded, calibration, percentile, scope)?;
    Ok((normalize::apply_channel_scales(&folded, &scales)?, scales))
}

/// Converts `ann`: folds batch norm (and average pooling with `options.avg_pool`), normalises on
/// `calibration` at `options.percentile` with `options.normalization`, and checks that the engine can build the spiking network with
/// `options` (so an unsupported layer or knob is refused here, not at evaluation).
pub fn convert(ann: &Ann, calibration: &Dataset, options: &ConvertOptions) -> Result<Converted> {
    options.validate()?;
    let pooled;
    let to_normalise = match options.avg_pool {
        AvgPoolChoice::Spiking => ann,
        AvgPoolChoice::Fold => {
            pooled = super::fold::fold_average_pooling(&fold_batchnorm(ann)?)?;
            &pooled
        }
    };
    let (norm, scales) = normalised(
        to_normalise,
        calibration,
        options.percentile,
        options.normalization,
    )?;
    match options.coding {
        Coding::Rate => drop(build_with(&norm, options)?),
        Coding::Ttfs => drop(super::ttfs::TtfsNetwork::new(&norm, options)?),
    }
    Ok(Converted {
        original: Some(ann.clone()),
        ann: norm,
        record: ConversionRecord {
            options: options.clone(),
            threshold: 1.0,
            layer_scales: scales,
            calibration_dataset: None,
            calibration_images: calibration.len(),
            batchnorm_folded: true,
            bias_calibration: None,
            weight_calibration: None,
        },
    })
}

/// `converted` with its biases calibrated for `steps` steps under `options` on `images`
/// ([`super::bias_calibration`]; Li et al. 2021, light calibration), the correction recorded.
pub fn calibrate_biases(
    converted: &Converted,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
) -> Result<Converted> {
    options.validate()?;
    if options.coding == Coding::Ttfs {
        return Err(crate::error::Error::Unsupported(
            "bias calibration corrects the rate-coding error of a simulation of some steps; \
             time-to-first-spike coding in continuous time is exact (its clocked version rounds \
             to levels, as QCFS does): calibrate a rate-coded conversion"
                .into(),
        ));
    }
    if converted.record.weight_calibration.is_some() {
        return Err(one_calibration());
    }
    let (ann, layers) =
        super::bias_calibration::calibrate_biases(&converted.ann, images, steps, options)?;
    let mut out = converted.clone();
    if out.original.is_none() {
        out.original = Some(converted.ann.clone());
    }
    out.ann = ann;
    out.record.bias_calibration = Some(super::record::BiasCalibration {
        images: images.len(),
        steps,
        layers,
    });
    Ok(out)
}

/// `converted` with its weights calibrated for `steps` steps under `options` on `images`
/// ([`super::weight_calibration`]; Li et al. 2021, the advanced pipeline's weight calibration),
/// the fit recorded. Not after bias calibration (see [`calibrate_biases`]).
pub fn calibrate_weights(
    converted: &Converted,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    settings: &super::weight_calibration::WeightSettings,
) -> Result<Converted> {
    options.validate()?;
    if converted.record.bias_calibration.is_some() {
        return Err(one_calibration());
    }
    let (ann, layers) = super::weight_calibration::calibrate_weights(
        &converted.ann,
        images,
        steps,
        options,
        settings,
    )?;
    let mut out = converted.clone();
    if out.original.is_none() {
        out.original = Some(converted.ann.clone());
    }
    out.ann = ann;
    out.record.weight_calibration = Some(super::record::WeightCalibration {
        images: images.len(),
        steps,
        settings: settings.clone(),
        layers,
    });
    Ok(out)
}

/// Both calibrations take their targets from the network they are given; after the other one,
/// that is no longer the ANN the conversion stands for.
fn one_calibration() -> crate::error::Error {
    crate::error::Error::Unsupported(
        "bias and weight calibration of one network: each takes its targets from the network it \
         is given, which the other has already changed; calibrate either the biases or the weights"
            .into(),
    )
}

/// The ANN layers that become spiking layers (weighted and pooling) with their MACs, in order:
/// aligned with [`SnnEvaluation::layers`]. `converted` is the network as built (batch norm and,
/// if asked, average pooling folded); the MACs are those of the layer of the same name in
/// `source`, the network as given (a folded pooling made its convolution's kernel larger, not
/// the ANN's cost).
pub fn converted_layers(source: &Ann, converted: &Ann) -> Vec<(String, u64)> {
    let source_macs: std::collections::HashMap<String, u64> = source
        .summary()
        .into_iter()
        .map(|l| (l.name, l.macs))
        .collect();
    if super::plan::needs_plan(converted) {
        // A population per spiking value: its cost in the ANN is the MACs of the layers whose
        // work it does (a junction: every branch projecting into it). An explicit identity
        // shortcut is not in the source (the ANN's Add did its additions, which no MAC count
        // includes): 0.
        let Ok(plan) = super::plan::plan(converted) else {
            return Vec::new();
        };
        return plan
            .pops
            .into_iter()
            .map(|p| {
                let macs = p.layers.iter().filter_map(|l| source_macs.get(l)).sum();
                (p.name, macs)
            })
            .collect();
    }
    converted
        .summary()
        .into_iter()
        .filter(|l| matches!(l.kind, "dense" | "conv2d" | "avgpool2d" | "maxpool2d"))
        .map(|l| {
            let macs = source_macs.get(&l.name).copied().unwrap_or(l.macs);
            (l.name, macs)
        })
        .collect()
}

/// Simulates `converted` with `options` for `steps` steps on every image of `data` and reports
/// it against the source ANN's accuracy on the same images. `on_chunk(images)` is called as each
/// chunk of samples finishes (progress); once it answers `Break` the evaluation stops and covers
/// the finished images (`interrupted`). Runs on the current rayon pool.
pub fn evaluate(
    converted: &Converted,
    data: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Evaluation> {
    let ann_accuracy = converted.source().accuracy(data)?;
    evaluate_against(converted, data, steps, options, ann_accuracy, on_chunk)
}

/// [`evaluate`] with the source ANN's accuracy on `data` already known (a sweep measures it once
/// for all its grid points).
pub fn evaluate_against(
    converted: &Converted,
    data: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    ann_accuracy: f64,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Evaluation> {
    options.validate()?;
    let t0 = std::time::Instant::now();
    let result = evaluate_with(&converted.ann, data, steps, options, on_chunk)?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(evaluation_record(
        converted,
        data,
        steps,
        options,
        ann_accuracy,
        &result,
        secs,
    ))
}

/// The typed record of a finished simulation that took `secs` seconds.
pub(crate) fn evaluation_record(
    converted: &Converted,
    data: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    ann_accuracy: f64,
    result: &SnnEvaluation,
    secs: f64,
) -> Evaluation {
    let layers = converted_layers(converted.source(), &converted.ann);
    let mut e = Evaluation {
        model: None,
        dataset: data.name.clone(),
        images: 0,
        interrupted: false,
        steps,
        ann_accuracy,
        snn_accuracy: 0.0,
        snn_accuracy_per_step: Vec::new(),
        latency_steps: Latency::default(),
        settled_latency_steps: Latency::default(),
        mean_steps: 0.0,
        macs_per_image: converted.source().macs(),
        synaptic_ops_per_image: 0.0,
        spikes_per_image: 0.0,
        spikes_per_neuron_per_step: 0.0,
        layers: Vec::new(),
        energy_pj: energy::estimate(&[], false).into(),
        synaptic_ops_per_step: Vec::new(),
        energy_at_latency: Default::default(),
        images_per_second: result.images as f64 / secs,
        options: options.clone(),
        threshold: converted.record.threshold,
        calibration_images: converted.record.calibration_images,
        layer_scales: converted.record.layer_scales.clone(),
        somnet_version: crate::VERSION.to_string(),
    };
    set_figures(&mut e, result, ann_accuracy, &layers);
    e
}

/// Sets every figure of `e` that the simulation measured (`result`) or derives from it: accuracy
/// per step, both latencies, synaptic operations, spikes, layers and the energy of `layers`
/// (name, MACs per image, in order). One function for a run and a merge of shards, so the two
/// give the same numbers.
pub(crate) fn set_figures(
    e: &mut Evaluation,
    result: &SnnEvaluation,
    ann_accuracy: f64,
    layers: &[(String, u64)],
) {
    let energy = energy::estimate(
        &layers
            .iter()
            .zip(&result.layers)
            .map(|((name, macs), a)| (name.clone(), *macs, a.synaptic_ops_per_image))
            .collect::<Vec<_>>(),
        e.options.input == InputCoding::Analog,
    );
    e.images = result.images;
    e.interrupted = result.interrupted;
    e.ann_accuracy = ann_accuracy;
    e.snn_accuracy = *result.snn_accuracy_per_step.last().expect("steps >= 1");
    e.snn_accuracy_per_step = result.snn_accuracy_per_step.clone();
    e.latency_steps = Latency::of(result, ann_accuracy, false);
    e.settled_latency_steps = Latency::of(result, ann_accuracy, true);
    e.mean_steps = result.mean_steps;
    e.synaptic_ops_per_image = result.synaptic_ops_per_image;
    e.spikes_per_image = result.spikes_per_image;
    e.spikes_per_neuron_per_step = result.spikes_per_neuron_per_step();
    e.layers = result.layers.clone();
    e.synaptic_ops_per_step = result.synaptic_ops_per_step.clone();
    let analog =
        (e.options.input == InputCoding::Analog).then(|| layers.first().map_or(0, |l| l.1));
    let cost = |steps: Option<usize>| {
        let steps = steps?;
        let ops = *e.synaptic_ops_per_step.get(steps - 1)?;
        let snn_pj = energy::snn_pj_at(ops, analog);
        Some(CostAtLatency {
            steps,
            synaptic_ops_per_image: ops,
            snn_pj,
            ratio: snn_pj / energy.ann_pj.max(f64::MIN_POSITIVE),
        })
    };
    e.energy_at_latency = EnergyAtLatency {
        pp1: cost(e.latency_steps.pp1),
        pp05: cost(e.latency_steps.pp05),
        pp01: cost(e.latency_steps.pp01),
    };
    e.energy_pj = energy.into();
}
