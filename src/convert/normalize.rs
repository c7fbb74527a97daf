//! Data-based normalisation (Diehl et al. 2015; Rueckauer et al. 2017, Sec. 2.3): each weighted
//! layer l gets a scale λ_l, the p-th percentile of its **non-zero** activations over a calibration
//! set (p = 100 is max-norm), and
//!
//! ```text
//! W_l ← W_l · λ_{l−1} / λ_l        b_l ← b_l / λ_l        λ_input = 1
//! ```
//! so that unit-threshold spiking neurons rarely need to fire more than once per step. For a ReLU
//! network the normalised network's output is the original output divided by the last λ.
//!
//! With [`NormScope::Channel`] every output channel of a convolution (every unit of a hidden dense
//! layer) gets its own λ (channel-wise normalisation, Kim et al., "Spiking-YOLO", AAAI 2020,
//! Sec. 3.1): `W[j, i] ← W[j, i] · λ_{l−1, i} / λ_{l, j}`. A channel whose activations are small
//! next to the layer's largest then fires near the top rate as well, so it carries its value in
//! fewer steps. The output layer keeps one λ: per-class scales would change which class wins.

use ndarray::{ArrayView2, Axis};

use crate::ann::{Activation, Ann, Layer, Node};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per forward pass while collecting activations.
const CHUNK: usize = 500;

/// Which activations share one scale λ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormScope {
    /// One λ per layer (the reference; Rueckauer et al. 2017).
    #[default]
    Layer,
    /// One λ per output channel of a convolution and per unit of a hidden dense layer; the output
    /// layer keeps one λ (Kim et al. 2020).
    Channel,
}

/// The scale λ_l of every Dense/Conv2d layer (in layer order), measured on `calibration`: the
/// `percentile` (in (0, 100]) of the non-zero values of the layer's output after its ReLU (or of
/// the layer itself when no ReLU follows, e.g. the logits before a softmax). A layer that never
/// activates gets λ = 1. A layer followed by a QCFS activation takes that activation's trained
/// threshold instead (θ = λ; Bu et al., ICLR 2022).
pub fn layer_scales(ann: &Ann, calibration: &Dataset, percentile: f64) -> Result<Vec<f32>> {
    Ok(scales(ann, calibration, percentile, NormScope::Layer)?
        .into_iter()
        .map(|s| s[0])
        .collect())
}

/// The scales of every Dense/Conv2d layer (in layer order) for `scope`: one value per layer for
/// [`NormScope::Layer`] (as [`layer_scales`]); for [`NormScope::Channel`] one per output channel
/// (unit) of every hidden layer, each the `percentile` of that channel's non-zero activations
/// (the layer's λ where a channel never activates), and one for the output layer.
///
/// ```
/// use ndarray::array;
/// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
/// use somnet::convert::normalize::{scales, NormScope};
/// use somnet::data::Dataset;
/// // Two hidden units copy the input at gains 1 and 4; the output sums them.
/// let dense = |w| Layer::Dense(Dense { weights: w, bias: None });
/// let ann = Ann::new(
///     vec![1],
///     vec![
///         ("hidden".into(), dense(array![[1.0], [4.0]])),
///         ("relu".into(), Layer::Activation(Activation::Relu)),
///         ("out".into(), dense(array![[1.0, 1.0]])),
///     ],
///     DropoutMode::Inverted,
/// )
/// .unwrap();
/// let data = Dataset::new("x", vec![0.5, 1.0], vec![0, 0], [1, 1, 1], vec!["0".into()]).unwrap();
/// let s = scales(&ann, &data, 100.0, NormScope::Channel).unwrap();
/// assert_eq!(s, vec![vec![1.0, 4.0], vec![5.0]]);
/// ```
pub fn scales(
    ann: &Ann,
    calibration: &Dataset,
    percentile: f64,
    scope: NormScope,
) -> Result<Vec<Vec<f32>>> {
    if !(percentile > 0.0 && percentile <= 100.0) {
        return Err(Error::param("percentile", percentile, "in (0, 100]"));
    }
    ann.check_data(calibration, "calibration set")?;
    let shapes = ann.shapes()?;
    let weighted: Vec<usize> = weighted_layers(ann).collect();
    let consumers = ann.consumers();
    // The layer whose output stands for each weighted layer: the activation after it, the
    // activation after the residual junction it feeds (every input of a junction shares the
    // junction's λ), or the layer itself (e.g. the logits before a softmax: the IF neurons
    // integrate the logits, so those are what must fit under the threshold).
    let probes: Vec<usize> = weighted
        .iter()
        .map(|&i| probe_of(ann, &consumers, i))
        .collect();
    let last_term = last_terms(ann, &consumers);
    // Each probe measured once, however many weighted layers share it.
    let mut unique: Vec<usize> = probes.clone();
    unique.sort_unstable();
    unique.dedup();
    // Channels of each probe and the features per channel (NCHW: channel-major).
    let channels: Vec<(usize, usize)> = unique
        .iter()
        .map(|&p| {
            let s = &shapes[p];
            let per_channel = s[1..].iter().product::<usize>();
            let hidden = !weighted
                .iter()
                .zip(&probes)
                .any(|(&i, &q)| q == p && last_term[i]);
            match scope {
                NormScope::Channel if hidden => (s[0], per_channel),
                _ => (1, s.iter().product()),
            }
        })
        .collect();
    // values[u][c]: the non-zero activations of channel c of probe u.
    let mut values: Vec<Vec<Vec<f32>>> =
        channels.iter().map(|&(c, _)| vec![Vec::new(); c]).collect();
    for start in (0..calibration.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(calibration.len());
        let x: ArrayView2<f32> = calibration
            .as_matrix()
            .slice_move(ndarray::s![start..end, ..]);
        ann.forward_each(x, |i, y| {
            if let Ok(u) = unique.binary_search(&i) {
                let per_channel = channels[u].1;
                for row in y.axis_iter(Axis(0)) {
                    let row = row.as_slice().expect("standard layout");
                    for (c, chunk) in row.chunks(per_channel).enumerate() {
                        values[u][c].extend(chunk.iter().copied().filter(|&v| v != 0.0));
                    }
                }
            }
        })?;
    }
    let measured: Vec<Vec<f32>> = values
        .into_iter()
        .zip(unique.iter().zip(&channels))
        .map(|(mut per_channel, (&probe, &(n_channels, _)))| {
            // A QCFS layer brings its trained threshold: θ = λ (Bu et al. 2022), not a percentile.
            if let Layer::Qcfs(q) = &ann.layers[probe] {
                return vec![q.lambda; n_channels];
            }
            // A channel whose values are all negative (logits that never come out positive)
            // counts as never active: a scale must be positive.
            let mut per: Vec<Option<f32>> = per_channel
                .iter_mut()
                .map(|v| percentile_of(v, percentile).filter(|&s| s > 0.0))
                .collect();
            if per.len() > 1 {
                // A silent channel falls back to the layer's λ (its weights then matter little).
                let mut all: Vec<f32> = per_channel.concat();
                let layer = percentile_of(&mut all, percentile)
                    .filter(|&s| s > 0.0)
                    .unwrap_or(1.0);
                per.iter_mut().for_each(|s| *s = Some(s.unwrap_or(layer)));
            }
            per.into_iter().map(|s| s.unwrap_or(1.0)).collect()
        })
        .collect();
    Ok(probes
        .iter()
        .map(|p| measured[unique.binary_search(p).expect("listed")].clone())
        .collect())
}

/// Whether `layer` is an activation a spiking neuron computes (ReLU, QCFS).
fn is_rectifier(layer: &Layer) -> bool {
    matches!(layer, Layer::Activation(Activation::Relu) | Layer::Qcfs(_))
}

/// The layer whose output the scale of weighted layer `i` is measured on: the rectifier read by
/// `i` alone; for an input of a residual junction (an `Add` read by `i` alone), the rectifier
/// after the junction, or the junction itself; otherwise `i`.
fn probe_of(ann: &Ann, consumers: &[Vec<usize>], i: usize) -> usize {
    match consumers[i][..] {
        [c] if is_rectifier(&ann.layers[c]) => c,
        [c] if matches!(ann.layers[c], Layer::Add) => match consumers[c][..] {
            [r] if is_rectifier(&ann.layers[r]) => r,
            _ => c,
        },
        _ => i,
    }
}

/// For every layer, whether it is a weighted layer with no weighted layer after it (an output
/// layer: it keeps one λ, since per-class scales would change which class wins).
fn last_terms(ann: &Ann, consumers: &[Vec<usize>]) -> Vec<bool> {
    let weighted = |l: &Layer| matches!(l, Layer::Dense(_) | Layer::Conv2d(_));
    let n = ann.layers.len();
    // Whether a weighted layer lies downstream of each layer (consumers come later).
    let mut downstream = vec![false; n];
    for i in (0..n).rev() {
        downstream[i] = consumers[i]
            .iter()
            .any(|&c| weighted(&ann.layers[c]) || downstream[c]);
    }
    (0..n)
        .map(|i| weighted(&ann.layers[i]) && !downstream[i])
        .collect()
}

/// Indices of the Dense and Conv2d layers.
pub fn weighted_layers(ann: &Ann) -> impl Iterator<Item = usize> + '_ {
    ann.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Dense(_) | Layer::Conv2d(_)))
        .map(|(i, _)| i)
}

/// The `p`-th percentile of `v` (nearest rank, as numpy's `percentile` with `method='lower'`
/// for p < 100; the maximum for p = 100). `None` for an empty slice.
pub fn percentile_of(v: &mut [f32], p: f64) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (v.len() - 1) as f64).floor() as usize;
    let (_, x, _) = v.select_nth_unstable_by(rank.min(v.len() - 1), |a, b| a.total_cmp(b));
    Some(*x)
}

/// Rescales the weighted layers by `scales` (one per Dense/Conv2d layer, in order).
pub fn apply_scales(ann: &Ann, scales: &[f32]) -> Result<Ann> {
    let per_layer: Vec<Vec<f32>> = scales.iter().map(|&s| vec![s]).collect();
    apply_channel_scales(ann, &per_layer)
}

/// Rescales the weighted layers by `scales` (one entry per Dense/Conv2d layer, in order; each
/// either one λ for the layer or one per output channel/unit, as [`scales`] gives them).
pub fn apply_channel_scales(ann: &Ann, scales: &[Vec<f32>]) -> Result<Ann> {
    let idx: Vec<usize> = weighted_layers(ann).collect();
    if idx.len() != scales.len() {
        return Err(Error::SizeMismatch {
            what: "layer scales".into(),
            expected: idx.len(),
            got: scales.len(),
        });
    }
    let shapes = ann.shapes()?;
    for (k, s) in scales.iter().enumerate() {
        let name = &ann.names[idx[k]];
        let channels = shapes[idx[k]][0];
        if s.len() != 1 && s.len() != channels {
            return Err(Error::SizeMismatch {
                what: format!("scales of layer '{name}' (one, or one per output channel)"),
                expected: channels,
                got: s.len(),
            });
        }
        if let Some(bad) = s.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::param(
                format!("scale of layer '{name}'"),
                bad,
                "a finite number > 0",
            ));
        }
    }
    let mut out = ann.clone();
    // Per node: the λ its values are divided by in the normalised network (one for all, or one
    // per channel) and the features per channel (NCHW order, so that a flattened feature f
    // belongs to channel f / per_channel). The input is not scaled.
    let input = NodeScale {
        lambda: vec![1.0],
        per_channel: ann.input_shape[1..].iter().product(),
    };
    let mut nodes: Vec<NodeScale> = Vec::with_capacity(shapes.len());
    let mut k = 0;
    for (i, shape) in shapes.iter().enumerate() {
        let of = |n: Node| match n {
            Node::Input => input.clone(),
            Node::Layer(j) => nodes[j].clone(),
        };
        let first = of(ann.inputs[i][0]);
        let scale = match &mut out.layers[i] {
            Layer::Dense(d) => {
                let lambda = &scales[k];
                for (j, mut row) in d.weights.rows_mut().into_iter().enumerate() {
                    let out_scale = lambda[j % lambda.len()];
                    for (f, w) in row.iter_mut().enumerate() {
                        *w *= first.of_feature(f) / out_scale;
                    }
                }
                if let Some(b) = &mut d.bias {
                    b.iter_mut()
                        .enumerate()
                        .for_each(|(j, b)| *b /= lambda[j % lambda.len()]);
                }
                k += 1;
                NodeScale {
                    lambda: lambda.clone(),
                    per_channel: 1,
                }
            }
            Layer::Conv2d(c) => {
                let lambda = &scales[k];
                for (o, mut kernel) in c.weights.outer_iter_mut().enumerate() {
                    let out_scale = lambda[o % lambda.len()];
                    for (ci, mut plane) in kernel.outer_iter_mut().enumerate() {
                        // A convolution's input features are whole channels.
                        plane *= first.of_channel(ci) / out_scale;
                    }
                }
                if let Some(b) = &mut c.bias {
                    b.iter_mut()
                        .enumerate()
                        .for_each(|(j, b)| *b /= lambda[j % lambda.len()]);
                }
                k += 1;
                NodeScale {
                    lambda: lambda.clone(),
                    per_channel: shape[1] * shape[2],
                }
            }
            Layer::Add => {
                // The inputs of a junction share its λ (see `probe_of`); explicit shortcuts
                // (super::shortcuts) make every input a weighted layer that can take it.
                let ins: Vec<NodeScale> = ann.inputs[i].iter().map(|&n| of(n)).collect();
                let name = |n: Node| match n {
                    Node::Input => "the input".to_string(),
                    Node::Layer(j) => format!("'{}'", ann.names[j]),
                };
                if let Some(k) = (1..ins.len()).find(|&k| ins[k] != ins[0]) {
                    return Err(Error::Unsupported(format!(
                        "Add '{}': its inputs {} and {} arrive with different scales; identity \
                         shortcuts must be explicit weighted layers first \
                         (convert::shortcuts::explicit_shortcuts)",
                        ann.names[i],
                        name(ann.inputs[i][0]),
                        name(ann.inputs[i][k]),
                    )));
                }
                first
            }
            Layer::Concatenate => {
                let ins: Vec<(NodeScale, usize)> = ann.inputs[i]
                    .iter()
                    .map(|&n| {
                        let features = match n {
                            Node::Input => ann.input_features(),
                            Node::Layer(j) => shapes[j].iter().product(),
                        };
                        (of(n), features)
                    })
                    .collect();
                NodeScale::concatenated(&ins)
            }
            Layer::Qcfs(q) => {
                // The activation now reads values divided by their λ: its threshold scales with
                // them (1 where λ came from it), so that the normalised network still computes the
                // quantised activation — the reference of bias calibration.
                if first.lambda.iter().all(|&l| l == first.lambda[0]) {
                    q.lambda /= first.lambda[0];
                }
                first
            }
            _ => NodeScale {
                per_channel: match (shape.len(), &out.layers[i]) {
                    (3, _) => shape[1] * shape[2],
                    (_, Layer::GlobalAvgPool2d) => 1,
                    _ => first.per_channel,
                },
                ..first
            },
        };
        nodes.push(scale);
    }
    out.validate()?;
    Ok(out)
}

/// The scale of one node's values in the normalised network ([`apply_channel_scales`]).
#[derive(Debug, Clone, PartialEq)]
struct NodeScale {
    /// One λ for all values, or one per channel.
    lambda: Vec<f32>,
    /// Features per channel in NCHW order.
    per_channel: usize,
}

impl NodeScale {
    /// The λ of flattened feature `f`.
    fn of_feature(&self, f: usize) -> f32 {
        match self.lambda[..] {
            [one] => one,
            _ => self.lambda[f / self.per_channel],
        }
    }

    /// The λ of channel `c`.
    fn of_channel(&self, c: usize) -> f32 {
        match self.lambda[..] {
            [one] => one,
            _ => self.lambda[c],
        }
    }

    /// The scale of inputs (each with its features) laid end to end: per channel when they agree
    /// on the features per channel (images joined on the channel axis), else per feature.
    fn concatenated(ins: &[(NodeScale, usize)]) -> NodeScale {
        let per_channel = ins[0].0.per_channel;
        if ins
            .iter()
            .all(|(s, _)| s.lambda.len() == 1 && s.lambda == ins[0].0.lambda)
        {
            return ins[0].0.clone();
        }
        let same = ins.iter().all(|(s, _)| s.per_channel == per_channel);
        let step = if same { per_channel } else { 1 };
        let lambda = ins
            .iter()
            .flat_map(|(s, features)| (0..features / step).map(move |u| s.of_feature(u * step)))
            .collect();
        NodeScale {
            lambda,
            per_channel: step,
        }
    }
}
