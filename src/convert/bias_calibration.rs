//! Layer-wise bias calibration of a converted network (the "light" calibration of Li et al., "A
//! free lunch from ANN: towards efficient, accurate spiking neural networks calibration", ICML
//! 2021, Sec. 4.1, bias correction).
//!
//! At a short latency T a spiking layer's rates fall short of (or overshoot) the normalised ANN
//! activations it stands for, and the error of one layer feeds the next. Front to back, each
//! weighted layer is simulated on the calibration images for T steps, and every output channel's
//! bias (a constant current per step) is moved by the mean difference between the ANN's
//! activation (clipped to [0, 1], the most an IF neuron fires per step) and the layer's spike
//! rate over the images and positions. The next layer is then measured on the corrected network.
//! Under the membrane readout the output layer integrates its drive without spiking and is left
//! as it is.

use ndarray::{Array1, Axis};

use super::build::build_with;
use super::layers::{stages_with_shapes, Stage};
use super::options::{ConvertOptions, Readout};
use crate::ann::{Ann, Layer};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// What calibration did to one weighted layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerCorrection {
    /// The ANN layer.
    pub name: String,
    /// Mean |ANN activation − SNN rate| per neuron and step over the images, before the
    /// correction.
    pub mean_abs_error: f64,
    /// The bias added to each output channel (in units of the threshold per step).
    pub bias_shift: Vec<f32>,
}

/// `ann` (folded and normalised, as [`super::pipeline::convert`] leaves it) with its biases
/// calibrated for `steps` steps under `options` on `images`, and what changed per layer.
pub fn calibrate_biases(
    ann: &Ann,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
) -> Result<(Ann, Vec<LayerCorrection>)> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    ann.check_data(images, "bias calibration set")?;
    // The targets are the activations of the network as given: a corrected bias changes what
    // the ANN itself would compute downstream, not what the spiking layers should reproduce.
    let reference = ann.forward_all(images.as_matrix())?;
    let mut ann = ann.clone();
    let mut corrections = Vec::new();
    for t in targets(&ann, options)? {
        let channels = if t.shape.len() == 3 {
            t.shape[0]
        } else {
            t.shape[0].max(1)
        };
        let per_channel: usize = t.shape.iter().product::<usize>() / channels;
        let target = channel_sums(reference[t.probe].view(), channels, per_channel);
        let rate = spiking_rates(
            &ann,
            images,
            steps,
            options,
            t.population,
            channels,
            per_channel,
            t.channels_last,
        )?;
        let n = (images.len() * per_channel) as f64;
        let shift: Vec<f32> = (0..channels)
            .map(|c| ((target[c] - rate[c]) / n) as f32)
            .collect();
        let mean_abs_error = target
            .iter()
            .zip(&rate)
            .map(|(t, r)| (t - r).abs())
            .sum::<f64>()
            / (n * channels as f64);
        let bias = match &mut ann.layers[t.layer] {
            Layer::Dense(d) => &mut d.bias,
            Layer::Conv2d(c) => &mut c.bias,
            _ => unreachable!("a bias is carried by a Dense or Conv2d layer"),
        };
        let b = bias.get_or_insert_with(|| Array1::zeros(channels));
        for (b, s) in b.iter_mut().zip(&shift) {
            *b += s;
        }
        corrections.push(LayerCorrection {
            name: ann.names[t.layer].clone(),
            mean_abs_error,
            bias_shift: shift,
        });
    }
    Ok((ann, corrections))
}

/// One spiking layer to calibrate.
pub(super) struct Target {
    /// Its population (an index into the built model's layers).
    pub population: usize,
    /// The weighted layer whose bias carries the correction.
    pub layer: usize,
    /// The layer whose ANN output the population's rates stand for.
    pub probe: usize,
    /// The population's per-sample shape.
    pub shape: Vec<usize>,
    /// Whether its neurons are numbered channels-last on the engine.
    pub channels_last: bool,
}

/// The populations calibration corrects, front to back: every spiking population fed by a weighted
/// layer (not a pooling; not the output under the membrane readout, which integrates without
/// spiking). In a graph ([`super::plan`]) a residual junction's correction goes to the bias of the
/// first weighted layer feeding it (the junction's neurons receive every branch's bias).
pub(super) fn targets(ann: &Ann, options: &ConvertOptions) -> Result<Vec<Target>> {
    let rectified = |i: usize| match ann.layers.get(i + 1) {
        Some(Layer::Activation(crate::ann::Activation::Relu) | Layer::Qcfs(_))
            if ann.inputs[i + 1] == [crate::ann::Node::Layer(i)] =>
        {
            i + 1
        }
        _ => i,
    };
    let membrane = options.readout == Readout::Membrane;
    if super::plan::needs_plan(ann) {
        let plan = super::plan::plan(ann)?;
        let shapes = ann.shapes()?;
        let index = |name: &str| ann.names.iter().position(|n| n == name);
        let n = plan.pops.len();
        let mut out = Vec::new();
        for (k, pop) in plan.pops.iter().enumerate() {
            let is_output = k + 1 == n;
            if pop.max_gate || (is_output && membrane) {
                continue;
            }
            let Some(layer) = pop
                .layers
                .iter()
                .filter_map(|l| index(l))
                .find(|&i| matches!(ann.layers[i], Layer::Dense(_) | Layer::Conv2d(_)))
            else {
                continue;
            };
            let node = index(&pop.name).expect("a population stands for a layer");
            out.push(Target {
                population: k,
                layer,
                probe: rectified(node),
                shape: shapes[node].clone(),
                channels_last: shapes[node].len() == 3 && !is_output,
            });
        }
        return Ok(out);
    }
    let staged = stages_with_shapes(ann, false)?;
    let stage_layers = stage_layers(ann);
    let n_stages = staged.len();
    Ok(staged
        .into_iter()
        .enumerate()
        .filter_map(|(k, (stage, shape))| {
            let is_output = k + 1 == n_stages;
            let weighted = matches!(stage, Stage::Dense(_))
                || matches!(
                    stage,
                    Stage::Local {
                        shared: Some(_),
                        ..
                    }
                );
            if !weighted || (is_output && membrane) {
                return None;
            }
            let layer = stage_layers[k];
            Some(Target {
                population: k,
                layer,
                probe: rectified(layer),
                // Hidden image layers are numbered channels-last on the engine.
                channels_last: shape.len() == 3 && !is_output,
                shape,
            })
        })
        .collect())
}

/// The ANN layer behind each stage of a chain (weighted and pooling layers, in order).
pub(super) fn stage_layers(ann: &Ann) -> Vec<usize> {
    ann.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            matches!(
                l,
                Layer::Dense(_) | Layer::Conv2d(_) | Layer::AvgPool2d(_) | Layer::MaxPool2d(_)
            )
        })
        .map(|(i, _)| i)
        .collect()
}

/// Per channel: the sum over samples and positions of the activations in `y` (NCHW rows),
/// clipped to [0, 1] (the most an IF neuron fires per step).
fn channel_sums(y: ndarray::ArrayView2<'_, f32>, channels: usize, per_channel: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; channels];
    for row in y.axis_iter(Axis(0)) {
        for (f, &a) in row.iter().enumerate() {
            sums[f / per_channel] += a.clamp(0.0, 1.0) as f64;
        }
    }
    sums
}

/// Per channel of stage `k`: the sum over images and positions of the spiking layer's rate
/// (spikes / steps).
#[allow(clippy::too_many_arguments)]
fn spiking_rates(
    ann: &Ann,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    k: usize,
    channels: usize,
    per_channel: usize,
    channels_last: bool,
) -> Result<Vec<f64>> {
    let mut model = build_with(ann, options)?;
    model.net.set_parallel(false);
    let pop = model.layers[k];
    let mut counts = vec![0u64; channels * per_channel];
    for s in 0..images.len() {
        model.present(ndarray::ArrayView1::from(images.image(s)))?;
        for t in 0..steps {
            model.step(s as u64, t)?;
            for &i in model.net.population(pop).last_spikes() {
                counts[i as usize] += 1;
            }
        }
    }
    let mut rate = vec![0.0f64; channels];
    for (i, &c) in counts.iter().enumerate() {
        let channel = if channels_last {
            i % channels
        } else {
            i / per_channel
        };
        rate[channel] += c as f64 / steps as f64;
    }
    Ok(rate)
}
