//! The typed records of a conversion: what a converted file stores about how it was made
//! ([`ConversionRecord`]), and what an evaluation measured ([`Evaluation`], written as
//! `result.json`) with its one-line form for tables ([`RunSummary`], a sweep row or a demo run).
//!
//! The field names are those of the files somnet writes; changing one changes the file format.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::energy::{Energy, LayerEnergy, PJ_PER_MAC, PJ_PER_SOP};
use super::evaluate::LayerActivity;
use super::options::ConvertOptions;
use crate::error::{Error, Result};

/// How a converted network was made: stored under `conversion` in a converted file's provenance
/// (`somnet convert`), so that evaluating the file later uses the same options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionRecord {
    /// The options of the conversion (knobs given at evaluation override the simulation ones).
    pub options: ConvertOptions,
    /// Firing threshold of every converted neuron after normalisation (always 1).
    pub threshold: f64,
    /// λ of every weighted layer: one value, or one per channel (`--norm channel`).
    #[serde(deserialize_with = "scales_any_form")]
    pub layer_scales: Vec<Vec<f32>>,
    /// The data set whose training images calibrated the normalisation, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_dataset: Option<String>,
    /// Calibration images used.
    pub calibration_images: usize,
    /// Whether batch normalisation was folded into the weights (always, by [`super::pipeline`]).
    pub batchnorm_folded: bool,
    /// The bias calibration applied after normalisation, if any
    /// ([`super::bias_calibration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_calibration: Option<BiasCalibration>,
    /// The weight calibration applied after normalisation, if any
    /// ([`super::weight_calibration`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_calibration: Option<WeightCalibration>,
}

/// How a converted network's biases were calibrated (Li et al. 2021, light calibration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasCalibration {
    /// Calibration images simulated.
    pub images: usize,
    /// Steps per image: the latency the biases were calibrated for.
    pub steps: u64,
    /// Per corrected layer, front to back.
    pub layers: Vec<super::bias_calibration::LayerCorrection>,
}

/// How a converted network's weights were calibrated (Li et al. 2021, advanced pipeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightCalibration {
    /// Calibration images simulated.
    pub images: usize,
    /// Steps per image: the latency the weights were calibrated for.
    pub steps: u64,
    /// How the weights were fitted.
    pub settings: super::weight_calibration::WeightSettings,
    /// Per calibrated layer, front to back.
    pub layers: Vec<super::weight_calibration::LayerFit>,
}

/// λ lists as written by older files (one number per layer) or now (one list per layer).
fn scales_any_form<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scales {
        PerLayer(Vec<f32>),
        PerChannel(Vec<Vec<f32>>),
    }
    Ok(match Scales::deserialize(d)? {
        Scales::PerLayer(s) => s.into_iter().map(|s| vec![s]).collect(),
        Scales::PerChannel(s) => s,
    })
}

impl ConversionRecord {
    /// The record under `conversion` in a model file's provenance `record`, if there is one (a
    /// trained, not yet converted model has none). `path` names the file in errors.
    pub fn from_provenance(path: &Path, record: &serde_json::Value) -> Result<Option<Self>> {
        let conv = &record["conversion"];
        if conv.is_null() {
            return Ok(None);
        }
        // Name the first missing field; serde's message would not say where it was looked for.
        for field in ["options", "layer_scales", "calibration_images"] {
            if conv[field].is_null() {
                return Err(Error::file(
                    path,
                    format!("converted model file: provenance field conversion.{field} is missing"),
                ));
            }
        }
        let mut conv = conv.clone();
        // Files written before these fields were recorded.
        let obj = conv.as_object_mut().expect("checked: has fields");
        obj.entry("threshold").or_insert(1.0.into());
        obj.entry("batchnorm_folded").or_insert(true.into());
        serde_json::from_value(conv).map(Some).map_err(|e| {
            Error::file(
                path,
                format!("converted model file: provenance field conversion: {e}"),
            )
        })
    }

    /// The λ of each layer for a message: the value, or `min–max over N channels`.
    pub fn scales_summary(&self) -> String {
        let parts: Vec<String> = self
            .layer_scales
            .iter()
            .map(|s| match s.as_slice() {
                [one] => format!("{one:.3}"),
                many => {
                    let lo = many.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = many.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    format!("{lo:.3}–{hi:.3} over {} channels", many.len())
                }
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// What a converted file's provenance holds: the conversion and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertedFileRecord {
    /// The somnet version that converted it.
    pub somnet_version: String,
    /// The command line that made it (empty from the library).
    pub command: String,
    /// The trained model file it was converted from.
    pub source_model: String,
    /// That file's own provenance record.
    pub source_provenance: serde_json::Value,
    /// The conversion.
    pub conversion: ConversionRecord,
}

/// Steps to reach the ANN's accuracy minus 1, 0.5 and 0.1 percentage points (`None`: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Within 1 pp.
    #[serde(rename = "1pp")]
    pub pp1: Option<usize>,
    /// Within 0.5 pp.
    #[serde(rename = "0.5pp")]
    pub pp05: Option<usize>,
    /// Within 0.1 pp.
    #[serde(rename = "0.1pp")]
    pub pp01: Option<usize>,
}

impl Latency {
    /// From a curve of accuracy after every step: the first step within each margin of
    /// `reference`, or with `settled` the first from which it stays within (see
    /// [`super::evaluate::SnnEvaluation::latency`] and `settled_latency`).
    pub fn of(result: &super::evaluate::SnnEvaluation, reference: f64, settled: bool) -> Self {
        let at = |pp| {
            if settled {
                result.settled_latency(reference, pp)
            } else {
                result.latency(reference, pp)
            }
        };
        Latency {
            pp1: at(1.0),
            pp05: at(0.5),
            pp01: at(0.1),
        }
    }

    /// `a/b/c` (`-` where never reached).
    pub fn compact(&self) -> String {
        [self.pp1, self.pp05, self.pp01]
            .iter()
            .map(|s| s.map_or("-".into(), |s| s.to_string()))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// What reaching an accuracy cost: the figures at the first step within a margin of the ANN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostAtLatency {
    /// The step (1-based).
    pub steps: usize,
    /// Synaptic operations per image up to the end of that step.
    pub synaptic_ops_per_image: f64,
    /// SNN energy per image up to then (pJ, [`super::energy::snn_pj_at`]).
    pub snn_pj: f64,
    /// `snn_pj` over the ANN's energy per image.
    pub ratio: f64,
}

/// The cost at each latency point: where the accuracy first comes within 1, 0.5 and 0.1 pp of
/// the ANN's (`None`: never within T steps, or the per-step counts are missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyAtLatency {
    /// Within 1 pp.
    #[serde(rename = "1pp")]
    pub pp1: Option<CostAtLatency>,
    /// Within 0.5 pp.
    #[serde(rename = "0.5pp")]
    pub pp05: Option<CostAtLatency>,
    /// Within 0.1 pp.
    #[serde(rename = "0.1pp")]
    pub pp01: Option<CostAtLatency>,
}

/// The energy estimate of an evaluation with the constants it used (`energy_pj` of
/// `result.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyRecord {
    /// ANN total per image (pJ).
    pub ann: f64,
    /// SNN total per image (pJ).
    pub snn: f64,
    /// `snn / ann`.
    pub ratio: f64,
    /// pJ per multiply-accumulate.
    pub pj_per_mac: f64,
    /// pJ per synaptic operation.
    pub pj_per_sop: f64,
    /// Per converted layer.
    pub layers: Vec<LayerEnergy>,
}

impl From<Energy> for EnergyRecord {
    fn from(e: Energy) -> Self {
        EnergyRecord {
            ann: e.ann_pj,
            snn: e.snn_pj,
            ratio: e.ratio,
            pj_per_mac: PJ_PER_MAC,
            pj_per_sop: PJ_PER_SOP,
            layers: e.layers,
        }
    }
}

/// Energy totals of one run in a table (`energy_pj` of a sweep row or demo run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyTotals {
    /// SNN per image (pJ).
    pub snn: f64,
    /// ANN per image (pJ).
    pub ann: f64,
    /// `snn / ann`.
    pub ratio: f64,
}

/// What an evaluation of a converted network measured: `result.json` of `somnet evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The model file, when the network came from one.
    pub model: Option<String>,
    /// The data set (`mnist/test`).
    pub dataset: String,
    /// Images evaluated.
    pub images: usize,
    /// Whether the run was stopped early (the figures cover the finished images).
    pub interrupted: bool,
    /// Steps per image.
    pub steps: u64,
    /// The ANN's accuracy on the same images.
    pub ann_accuracy: f64,
    /// The spiking network's accuracy after the last step.
    pub snn_accuracy: f64,
    /// Its accuracy after step 1, 2, …, T.
    pub snn_accuracy_per_step: Vec<f64>,
    /// First step within 1 / 0.5 / 0.1 pp of the ANN.
    pub latency_steps: Latency,
    /// First step from which the accuracy stays within each margin.
    pub settled_latency_steps: Latency,
    /// Mean steps simulated per image (fewer than T with early exit).
    pub mean_steps: f64,
    /// The ANN's multiply-accumulates per image.
    pub macs_per_image: u64,
    /// Synaptic operations per image.
    pub synaptic_ops_per_image: f64,
    /// Spikes per image (all populations).
    pub spikes_per_image: f64,
    /// Spikes per neuron per step over the converted layers.
    pub spikes_per_neuron_per_step: f64,
    /// Activity of each converted layer.
    pub layers: Vec<LayerActivity>,
    /// Energy estimate (Horowitz 2014 constants).
    pub energy_pj: EnergyRecord,
    /// Synaptic operations per image up to the end of step 1, 2, …, T (`per_step.csv` also
    /// gives the energy after every step).
    #[serde(default)]
    pub synaptic_ops_per_step: Vec<f64>,
    /// Synaptic operations and energy where the accuracy first comes within 1 / 0.5 / 0.1 pp of
    /// the ANN's: "accuracy X at energy Y" read directly.
    #[serde(default)]
    pub energy_at_latency: EnergyAtLatency,
    /// Throughput of the spiking simulation.
    pub images_per_second: f64,
    /// The options simulated.
    pub options: ConvertOptions,
    /// Firing threshold (1 after normalisation).
    pub threshold: f64,
    /// Calibration images of the normalisation.
    pub calibration_images: usize,
    /// λ of every weighted layer.
    pub layer_scales: Vec<Vec<f32>>,
    /// The somnet version that measured it.
    pub somnet_version: String,
}

impl Evaluation {
    /// The run as one table row named `settings`.
    pub fn summary(&self, settings: &str) -> RunSummary {
        RunSummary {
            settings: settings.to_string(),
            options: self.options.clone(),
            snn_accuracy: self.snn_accuracy,
            snn_accuracy_per_step: self.snn_accuracy_per_step.clone(),
            latency_steps: self.latency_steps,
            settled_latency_steps: self.settled_latency_steps,
            mean_steps: self.mean_steps,
            synaptic_ops_per_image: self.synaptic_ops_per_image,
            spikes_per_neuron_per_step: self.spikes_per_neuron_per_step,
            energy_pj: EnergyTotals {
                snn: self.energy_pj.snn,
                ann: self.energy_pj.ann,
                ratio: self.energy_pj.ratio,
            },
            images_per_second: self.images_per_second,
            energy_at_latency: self.energy_at_latency,
        }
    }
}

/// One evaluation as a row of a table: a sweep's grid point or one of the demo's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// What was set (`input=poisson reset=zero`, or a name).
    pub settings: String,
    /// The options simulated.
    pub options: ConvertOptions,
    /// Accuracy after the last step.
    pub snn_accuracy: f64,
    /// Accuracy after every step.
    pub snn_accuracy_per_step: Vec<f64>,
    /// First step within 1 / 0.5 / 0.1 pp of the ANN.
    pub latency_steps: Latency,
    /// First step from which the accuracy stays within each margin.
    pub settled_latency_steps: Latency,
    /// Mean steps simulated per image.
    pub mean_steps: f64,
    /// Synaptic operations per image.
    pub synaptic_ops_per_image: f64,
    /// Spikes per neuron per step over the converted layers.
    pub spikes_per_neuron_per_step: f64,
    /// Energy totals per image.
    pub energy_pj: EnergyTotals,
    /// Throughput of the spiking simulation.
    pub images_per_second: f64,
    /// Synaptic operations and energy where the accuracy first comes within 1 / 0.5 / 0.1 pp of
    /// the ANN's (absent from sweep records of somnet versions before it).
    #[serde(default)]
    pub energy_at_latency: EnergyAtLatency,
}
