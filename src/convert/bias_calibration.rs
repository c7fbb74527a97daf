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
    ann.require_chain("bias calibration")?;
    // The targets are the activations of the network as given: a corrected bias changes what
    // the ANN itself would compute downstream, not what the spiking layers should reproduce.
    let reference = ann.forward_all(images.as_matrix())?;
    let mut ann = ann.clone();
    let staged = stages_with_shapes(&ann, false)?;
    // The ANN layer behind each stage (weighted and pooling layers, in order), and the layer whose
    // output the stage's rates stand for (its ReLU when one follows).
    let stage_layers: Vec<usize> = ann
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            matches!(
                l,
                Layer::Dense(_) | Layer::Conv2d(_) | Layer::AvgPool2d(_) | Layer::MaxPool2d(_)
            )
        })
        .map(|(i, _)| i)
        .collect();
    let n_stages = staged.len();
    let mut corrections = Vec::new();
    for (k, (stage, shape)) in staged.iter().enumerate() {
        let is_output = k + 1 == n_stages;
        let weighted = matches!(stage, Stage::Dense(_))
            || matches!(
                stage,
                Stage::Local {
                    shared: Some(_),
                    ..
                }
            );
        if !weighted || (is_output && options.readout == Readout::Membrane) {
            continue;
        }
        let li = stage_layers[k];
        let probe = match ann.layers.get(li + 1) {
            Some(Layer::Activation(crate::ann::Activation::Relu) | Layer::Qcfs(_)) => li + 1,
            _ => li,
        };
        let channels = if shape.len() == 3 {
            shape[0]
        } else {
            shape[0].max(1)
        };
        let per_channel: usize = shape.iter().product::<usize>() / channels;
        // Hidden image layers are numbered channels-last on the engine ([`super::layers`]).
        let channels_last = shape.len() == 3 && !is_output;
        let target = channel_sums(reference[probe].view(), channels, per_channel);
        let rate = spiking_rates(
            &ann,
            images,
            steps,
            options,
            k,
            channels,
            per_channel,
            channels_last,
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
        let bias = match &mut ann.layers[li] {
            Layer::Dense(d) => &mut d.bias,
            Layer::Conv2d(c) => &mut c.bias,
            _ => unreachable!("weighted stages are Dense or Conv2d layers"),
        };
        let b = bias.get_or_insert_with(|| Array1::zeros(channels));
        for (b, s) in b.iter_mut().zip(&shift) {
            *b += s;
        }
        corrections.push(LayerCorrection {
            name: ann.names[li].clone(),
            mean_abs_error,
            bias_shift: shift,
        });
    }
    Ok((ann, corrections))
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
