//! Layer-wise weight calibration of a converted network (the weight calibration of the
//! "advanced" pipeline of Li et al., "A free lunch from ANN: towards efficient, accurate spiking
//! neural networks calibration", ICML 2021, Sec. 4.2).
//!
//! Bias calibration ([`super::bias_calibration`]) moves each channel's mean; this moves the
//! weights, so that a layer's quantised response to the rates it really receives matches the
//! ANN's activation sample by sample. Front to back, for each weighted layer:
//! 1. the converted network (earlier layers already calibrated) is simulated for T steps on the
//!    calibration images, and the rates of the spiking layer feeding this one are taken as its
//!    input x (the image itself for the first layer, under analog input);
//! 2. the layer's output over T steps is modelled as an IF layer fed a constant input:
//!    `q = floor(clamp(z·T + φ, 0, T)) / T` with `z = W·x + b` and φ the initial potential in
//!    thresholds (½ for the θ/2 start, else 0) — at most one spike per step;
//! 3. W is moved by Adam (cosine-annealed step size, minibatches drawn from a seeded stream) to
//!    lower the mean squared error between q and the ANN's activation (clipped to [0, 1]), the
//!    floor passed through by the straight-through estimator and the clamp's gradient zero
//!    outside [0, T], as in the paper. The bias stays.
//!
//! Li et al. report CIFAR-10 VGG-16 at T = 16: 64.52 % without calibration, 93.30 % with light
//! (bias) calibration, 93.65 % with the advanced pipeline (their Table 2; ResNet-20: 67.88 →
//! 93.89 → 94.33 %). Their step sizes (1e-5 to 4e-5) are for weights before normalisation; a
//! converted somnet layer's weights are in thresholds, so the default here is larger
//! ([`WeightSettings::default`]).
//!
//! In a graph, a residual junction's population sums its branches in one membrane: the fitted
//! layer is the junction's first input that is not an identity shortcut, and the other branches'
//! values (as the spiking network delivers their inputs) are added to its output in the model,
//! as Li et al. do for residual blocks.

use std::collections::HashMap;
use std::rc::Rc;

use ndarray::{Array2, ArrayView2};
use rand::{RngExt, SeedableRng};

use super::bias_calibration::{stage_layers, targets};
use super::build::build_with;
use super::options::ResetChoice;
use super::options::{Coding, ConvertOptions, InitialPotential, InputCoding, NeuronChoice};
use crate::ann::Node;
use crate::ann::{conv, Ann, Layer};
use crate::data::Dataset;
use crate::error::{Error, Result};

/// How the weights are fitted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightSettings {
    /// Adam steps per layer.
    pub iterations: usize,
    /// Images per step.
    pub batch: usize,
    /// Adam's first step size (cosine-annealed to 0 over the iterations).
    pub learning_rate: f64,
    /// Seed of the minibatch draws.
    pub seed: u64,
}

impl Default for WeightSettings {
    /// 1 000 steps of 32 images from a step size of 1e-3 (weights in thresholds: a weight moves
    /// by at most about 1e-3 per step).
    fn default() -> Self {
        WeightSettings {
            iterations: 1000,
            batch: 32,
            learning_rate: 1e-3,
            seed: 0,
        }
    }
}

/// What weight calibration did to one layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerFit {
    /// The ANN layer.
    pub name: String,
    /// Mean squared error between the modelled spiking output and the ANN's activation over the
    /// calibration images, before the fit.
    pub error_before: f64,
    /// The same after the fit (the error the layer is left with).
    pub error_after: f64,
    /// Whether the fitted weights were kept: a fit that ends above the error it began with (too
    /// few steps, too large a step size) is undone, so calibration never leaves a layer worse on
    /// the images it saw.
    #[serde(default = "kept_by_default")]
    pub kept: bool,
}

fn kept_by_default() -> bool {
    true
}

/// `ann` (folded and normalised, as [`super::pipeline::convert`] leaves it) with its weights
/// calibrated for `steps` steps under `options` on `images`, and what changed per layer.
///
/// ```no_run
/// # fn demo(ann: &somnet::ann::Ann, images: &somnet::data::Dataset) -> somnet::error::Result<()> {
/// use somnet::convert::options::ConvertOptions;
/// use somnet::convert::weight_calibration::{calibrate_weights, WeightSettings};
/// let (calibrated, fits) =
///     calibrate_weights(ann, images, 32, &ConvertOptions::default(), &WeightSettings::default())?;
/// for f in &fits {
///     println!("{}: {:.4} -> {:.4}", f.name, f.error_before, f.error_after);
/// }
/// # Ok(()) }
/// ```
pub fn calibrate_weights(
    ann: &Ann,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    settings: &WeightSettings,
) -> Result<(Ann, Vec<LayerFit>)> {
    check(steps, options, settings)?;
    ann.check_data(images, "weight calibration set")?;
    // The targets are the activations of the network as given (as in bias calibration).
    let reference = ann.forward_all(images.as_matrix())?;
    let in_shapes = ann.input_shapes()?;
    let shapes = ann.shapes()?;
    let stands = population_layers(ann)?;
    let phi = match options.initial {
        InitialPotential::HalfThreshold => 0.5,
        InitialPotential::Zero => 0.0,
    };
    let mut ann = ann.clone();
    let mut fits = Vec::new();
    for t in targets(&ann, options)? {
        let node = stands[t.population];
        let layer = fitted_layer(&ann, node, t.layer);
        // What else reaches the population's membrane: the other branches of a junction.
        let others: Vec<Node> = if node == layer {
            Vec::new()
        } else {
            ann.inputs[node]
                .iter()
                .copied()
                .filter(|&n| n != Node::Layer(layer))
                .collect()
        };
        let wanted: Vec<Node> = std::iter::once(ann.inputs[layer][0])
            .chain(others.iter().copied())
            .collect();
        // The values as the spiking network delivers them, in the ANN's order.
        let mut sources = Vec::new();
        for &n in &wanted {
            population_sources(&ann, &stands, n, &mut sources);
        }
        let rates = simulated_rates(&ann, images, steps, options, &sources, &stands, &shapes)?;
        let mut values = SpikingValues {
            ann: &ann,
            stands: &stands,
            in_shapes: &in_shapes,
            images,
            rates: rates.into_iter().map(|(k, r)| (k, Rc::new(r))).collect(),
            memo: HashMap::new(),
        };
        let x = values.of(ann.inputs[layer][0]);
        let mut rest: Option<Array2<f32>> = None;
        for &n in &others {
            let v = values.of(n);
            rest = Some(match rest {
                Some(r) => r + &*v,
                None => Rc::unwrap_or_clone(v),
            });
        }
        let y = reference[t.probe].mapv(|a| a.clamp(0.0, 1.0));
        let name = ann.names[layer].clone();
        let problem = Problem {
            in_shape: &in_shapes[layer],
            x: x.view(),
            rest: rest.as_ref().map(|r| r.view()),
            y: y.view(),
            steps: steps as f32,
            phi,
        };
        let fit = fit_layer(&mut ann.layers[layer], &name, &problem, settings)?;
        fits.push(fit);
    }
    Ok((ann, fits))
}

/// Per population of the built network, the ANN layer it stands for (its rates are that layer's
/// rectified output): the stages of a chain, the populations of a graph's plan.
fn population_layers(ann: &Ann) -> Result<Vec<usize>> {
    if !super::plan::needs_plan(ann) {
        return Ok(stage_layers(ann));
    }
    super::plan::plan(ann)?
        .pops
        .iter()
        .map(|p| {
            ann.names.iter().position(|n| *n == p.name).ok_or_else(|| {
                Error::Unsupported(format!("population '{}' stands for no layer", p.name))
            })
        })
        .collect()
}

/// The weighted layer whose weights a population's fit moves: the population's own layer, or,
/// at a residual junction, the first input that is not an identity shortcut (a shortcut's
/// diagonal is delivered one-to-one and stays so).
fn fitted_layer(ann: &Ann, node: usize, fallback: usize) -> usize {
    if !matches!(ann.layers[node], Layer::Add) {
        return node;
    }
    ann.inputs[node]
        .iter()
        .filter_map(|n| match n {
            Node::Layer(i) => Some(*i),
            Node::Input => None,
        })
        .find(|&i| {
            matches!(ann.layers[i], Layer::Dense(_) | Layer::Conv2d(_))
                && super::shortcuts::diagonal(&ann.layers[i]).is_none()
        })
        .unwrap_or(fallback)
}

/// Adds to `out` the populations (indices) whose rates `node`'s spiking value is computed from.
fn population_sources(ann: &Ann, stands: &[usize], node: Node, out: &mut Vec<usize>) {
    let Node::Layer(i) = node else { return };
    if let Some(k) = stands.iter().position(|&l| l == i) {
        if !out.contains(&k) {
            out.push(k);
        }
        return;
    }
    for &n in &ann.inputs[i] {
        population_sources(ann, stands, n, out);
    }
}

/// The values of nodes as the spiking network carries them, per image in the ANN's order: a
/// population's rates where one stands for the node; the image for the input (analog); else the
/// ANN's own operation (flatten, padding, concatenation, dropout, a junction's branch) on the
/// spiking values of its inputs — activations pass rates through, as a rate is rectified already.
/// Values are shared, not copied: a population's rates and a computed node may be read by several
/// nodes.
struct SpikingValues<'a> {
    ann: &'a Ann,
    /// The layer each population stands for.
    stands: &'a [usize],
    in_shapes: &'a [Vec<usize>],
    images: &'a Dataset,
    /// Per population (index into `stands`): its simulated rates.
    rates: HashMap<usize, Rc<Array2<f32>>>,
    /// The nodes computed so far.
    memo: HashMap<usize, Rc<Array2<f32>>>,
}

impl SpikingValues<'_> {
    /// The value of `node`.
    fn of(&mut self, node: Node) -> Rc<Array2<f32>> {
        let Node::Layer(i) = node else {
            return Rc::new(self.images.as_matrix().to_owned());
        };
        if let Some(k) = self.stands.iter().position(|&l| l == i) {
            return Rc::clone(&self.rates[&k]);
        }
        if let Some(v) = self.memo.get(&i) {
            return Rc::clone(v);
        }
        let ins: Vec<Rc<Array2<f32>>> = self.ann.inputs[i].iter().map(|&n| self.of(n)).collect();
        let layer = &self.ann.layers[i];
        let v = if layer.is_merge() {
            crate::ann::graph::merge_forward(layer, &ins.iter().map(|x| &**x).collect::<Vec<_>>())
        } else if matches!(layer, Layer::Activation(_) | Layer::Qcfs(_)) {
            return Rc::clone(&ins[0]);
        } else {
            let x = Rc::unwrap_or_clone(ins.into_iter().next().expect("one input"));
            crate::ann::infer_layer(layer, x, &self.in_shapes[i], self.ann.dropout_mode)
        };
        let v = Rc::new(v);
        self.memo.insert(i, Rc::clone(&v));
        v
    }
}

/// The settings weight calibration needs, each refused by name.
fn check(steps: u64, options: &ConvertOptions, settings: &WeightSettings) -> Result<()> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    if settings.iterations == 0 || settings.batch == 0 {
        return Err(Error::param(
            "weight calibration iterations and batch",
            format!("{} and {}", settings.iterations, settings.batch),
            "at least 1 each",
        ));
    }
    if !(settings.learning_rate.is_finite() && settings.learning_rate > 0.0) {
        return Err(Error::param(
            "weight calibration learning rate",
            settings.learning_rate,
            "a positive number",
        ));
    }
    let conflict = if options.coding != Coding::Rate {
        Some("time-to-first-spike coding (its layer model is a rate over T steps)")
    } else if options.input != InputCoding::Analog {
        Some("Poisson input (the first layer's input is modelled as the analog image)")
    } else if options.neuron != NeuronChoice::If {
        Some("a leaky or Izhikevich neuron (the layer model is an IF neuron's count)")
    } else if options.reset != ResetChoice::Subtract {
        Some("reset to zero (the layer model keeps the charge above threshold)")
    } else if options.refractory_steps > 0 {
        Some("a refractory period (the layer model fires up to once per step)")
    } else if options.offset_presteps > 0 {
        Some("an offset-spike pre-run (it moves the initial potentials the model assumes)")
    } else {
        None
    };
    match conflict {
        Some(c) => Err(Error::Unsupported(format!(
            "weight calibration does not take {c}"
        ))),
        None => Ok(()),
    }
}

/// Per population in `pops`, per image, the rate (spikes / steps) of every neuron, in the ANN's
/// (NCHW) order: hidden image populations are numbered channels-last on the engine.
fn simulated_rates(
    ann: &Ann,
    images: &Dataset,
    steps: u64,
    options: &ConvertOptions,
    pops: &[usize],
    stands: &[usize],
    shapes: &[Vec<usize>],
) -> Result<HashMap<usize, Array2<f32>>> {
    let mut model = build_with(ann, options)?;
    model.net.set_parallel(false);
    let last = model.layers.len() - 1;
    let mut out = HashMap::new();
    let mut counts: Vec<Vec<u32>> = pops
        .iter()
        .map(|&k| vec![0u32; shapes[stands[k]].iter().product()])
        .collect();
    for (p, &k) in pops.iter().enumerate() {
        out.insert(k, Array2::<f32>::zeros((images.len(), counts[p].len())));
    }
    for s in 0..images.len() {
        counts
            .iter_mut()
            .for_each(|c| c.iter_mut().for_each(|c| *c = 0));
        model.present(ndarray::ArrayView1::from(images.image(s)))?;
        for t in 0..steps {
            model.step(s as u64, t)?;
            for (c, &k) in counts.iter_mut().zip(pops) {
                for &i in model.net.population(model.layers[k]).last_spikes() {
                    c[i as usize] += 1;
                }
            }
        }
        for (c, &k) in counts.iter().zip(pops) {
            let shape = &shapes[stands[k]];
            let channels_last = shape.len() == 3 && k != last;
            let mut row = out.get_mut(&k).expect("inserted above").row_mut(s);
            for (i, &n) in c.iter().enumerate() {
                let at = if channels_last {
                    let (ch, hw) = (shape[0], shape[1] * shape[2]);
                    (i % ch) * hw + i / ch
                } else {
                    i
                };
                row[at] = n as f32 / steps as f32;
            }
        }
    }
    Ok(out)
}

/// The layer's forward pass on `x`: its output and, for a convolution, the patches (for the
/// gradient).
fn forward(
    layer: &Layer,
    in_shape: &[usize],
    x: ArrayView2<'_, f32>,
) -> (Array2<f32>, Option<Array2<f32>>) {
    match layer {
        Layer::Dense(d) => (crate::ann::dense_forward(x, d), None),
        Layer::Conv2d(c) => {
            let (y, cols) = conv::forward(x, c, &crate::ann::conv_geom(in_shape, c));
            (y, Some(cols))
        }
        _ => unreachable!("calibration targets are Dense or Conv2d layers"),
    }
}

/// The modelled spiking output `floor(clamp(z·T + φ, 0, T)) / T`, and whether each value lies
/// where the clamp passes the gradient.
fn quantise(z: &Array2<f32>, steps: f32, phi: f32) -> (Array2<f32>, Array2<bool>) {
    let u = z.mapv(|v| v * steps + phi);
    (
        u.mapv(|u| u.clamp(0.0, steps).floor() / steps),
        u.mapv(|u| (0.0..=steps).contains(&u)),
    )
}

/// One layer's fit: its input as the spiking network delivers it, the other branches' values
/// reaching the same membrane, the ANN's activation to match, and the layer model's T and φ.
struct Problem<'a> {
    in_shape: &'a [usize],
    x: ArrayView2<'a, f32>,
    rest: Option<ArrayView2<'a, f32>>,
    y: ArrayView2<'a, f32>,
    steps: f32,
    phi: f32,
}

impl Problem<'_> {
    /// Mean squared error of the modelled output of `layer` against the ANN's activation.
    fn error(&self, layer: &Layer) -> f64 {
        let (mut z, _) = forward(layer, self.in_shape, self.x);
        if let Some(r) = self.rest {
            z += &r;
        }
        let (q, _) = quantise(&z, self.steps, self.phi);
        (&q - &self.y).mapv(|d| (d as f64) * (d as f64)).sum() / q.len().max(1) as f64
    }
}

/// Fits one layer's weights (see the module docs).
fn fit_layer(
    layer: &mut Layer,
    name: &str,
    problem: &Problem<'_>,
    settings: &WeightSettings,
) -> Result<LayerFit> {
    let error_before = problem.error(layer);
    let original = layer.clone();
    let Problem {
        in_shape,
        x,
        rest,
        y,
        steps,
        phi,
    } = *problem;
    let n = x.nrows();
    let batch = settings.batch.min(n);
    let size = match layer {
        Layer::Dense(d) => d.weights.len(),
        Layer::Conv2d(c) => c.weights.len(),
        _ => unreachable!("calibration targets are Dense or Conv2d layers"),
    };
    let (mut m, mut v) = (vec![0.0f64; size], vec![0.0f64; size]);
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    let mut xb = Array2::<f32>::zeros((batch, x.ncols()));
    let mut yb = Array2::<f32>::zeros((batch, y.ncols()));
    let mut rb = Array2::<f32>::zeros((batch, y.ncols()));
    for it in 0..settings.iterations {
        for r in 0..batch {
            let k = rng.random_range(0..n);
            xb.row_mut(r).assign(&x.row(k));
            yb.row_mut(r).assign(&y.row(k));
            if let Some(rest) = rest {
                rb.row_mut(r).assign(&rest.row(k));
            }
        }
        let (mut z, cols) = forward(layer, in_shape, xb.view());
        if rest.is_some() {
            z += &rb;
        }
        let (q, inside) = quantise(&z, steps, phi);
        // d(mean (q − y)²)/dz: the floor passes the gradient straight through, the clamp only
        // inside [0, T]; dq/du = 1/T and du/dz = T cancel.
        let scale = 2.0 / q.len() as f32;
        let mut dz = &q - &yb;
        dz.zip_mut_with(&inside, |d, &i| *d = if i { *d * scale } else { 0.0 });
        let grad: Vec<f32> = match (&*layer, cols) {
            (Layer::Dense(_), _) => {
                // dW = dzᵀ · x, (outputs, inputs) like the weights.
                let g = crate::ann::gemm::matmul(dz.t(), xb.view());
                g.iter().copied().collect()
            }
            (Layer::Conv2d(c), Some(cols)) => {
                let g = crate::ann::conv_geom(in_shape, c);
                conv::backward(dz.view(), &cols, c, &g, false)
                    .weights
                    .iter()
                    .copied()
                    .collect()
            }
            _ => unreachable!("calibration targets are Dense or Conv2d layers"),
        };
        // Adam with the step size annealed along a half cosine.
        let lr = settings.learning_rate
            * 0.5
            * (1.0 + (std::f64::consts::PI * it as f64 / settings.iterations as f64).cos());
        let t = (it + 1) as i32;
        let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        let weights = match layer {
            Layer::Dense(d) => d.weights.as_slice_mut(),
            Layer::Conv2d(c) => c.weights.as_slice_mut(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Unsupported(format!("layer {name}: weights not in standard layout"))
        })?;
        for (((w, g), m), v) in weights.iter_mut().zip(&grad).zip(&mut m).zip(&mut v) {
            let g = *g as f64;
            *m = beta1 * *m + (1.0 - beta1) * g;
            *v = beta2 * *v + (1.0 - beta2) * g * g;
            *w -= (lr * (*m / c1) / ((*v / c2).sqrt() + eps)) as f32;
        }
    }
    let error_fitted = problem.error(layer);
    if !error_fitted.is_finite() {
        return Err(Error::Unsupported(format!(
            "layer {name}: weight calibration diverged (error {error_fitted}); lower the learning rate"
        )));
    }
    let kept = error_fitted <= error_before;
    if !kept {
        *layer = original;
    }
    Ok(LayerFit {
        name: name.to_string(),
        error_before,
        error_after: if kept { error_fitted } else { error_before },
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_output_counts_spikes_of_a_constant_input() {
        // z = 0.3 for 4 steps from θ/2: v = 0.5 + 0.3t crosses 1 at t = 2 (1.1) and 2 at t = 5
        // (beyond 4): one spike, q = 0.25; z = 2: clamped to one spike per step; z = −1: none.
        let z = Array2::from_shape_vec((1, 3), vec![0.3f32, 2.0, -1.0]).unwrap();
        let (q, inside) = quantise(&z, 4.0, 0.5);
        assert_eq!(q.as_slice().unwrap(), &[0.25, 1.0, 0.0]);
        assert_eq!(inside.as_slice().unwrap(), &[true, false, false]);
    }
}
