//! Sleep replay consolidation (SRC; Tadros, Krishnan, Ramyaa & Bazhenov, Nature Communications
//! 13:7742, 2022): a trained ReLU network is run as a spiking network on noisy input, a local
//! Hebbian rule changes its weights, and the weights go back to the ANN.
//!
//! One sleep phase, as the authors' released code runs it (the defaults of [`SleepConfig`]):
//!
//! 1. **Scale factors** from the ANN's activations on the data of every task seen so far: for
//!    each Dense layer l, `s_l = max(largest positive weight of W_l, largest activation of
//!    layer l)`; `a_0 = 1`, `a_l = s_l / a_{l−1}`, `f_l = 1 / a_l` (so f₁ = 1/s₁, f₂ = s₁/s₂,
//!    f₃ = s₂/(s₁·s₃)). The stored weights are not rescaled.
//! 2. Per layer an input scale `α_l = alpha_scale·f_l` and a threshold `θ_l = threshold·β_l`.
//! 3. Every step (dt = 1 ms), inside the same step for all layers in order: input spikes from the
//!    masked image ([`MaskedInput`]); `v_l ← decay·v_l + α_l·W_l·s_{l−1}`; `s_l = [v_l ≥ θ_l]`;
//!    spiking neurons reset to 0; then the rule of [`SleepRule`] changes W_l for every neuron of
//!    layer l that fired.
//!
//! Two options of the dynamics, off by default (Hayes et al., Neural Computation 33:2908, 2021,
//! list both among the elements artificial replay lacks): **momentum** μ carries each step's
//! drive over, `m_t = μ·m_{t−1} + α_l·W_l·s_{l−1}` and `v_l ← decay·v_l + m_t` (replay moves
//! faster: temporal compression), and **adaptation** subtracts `A_t = ρ·A_{t−1} + κ·θ_l·s_{t−1}`
//! from each neuron's drive ([`Adaptation`]: a neuron that just fired is pushed away from
//! firing again, so replay explores). On the engine they are exponential ports whose decays are
//! μ and ρ (with weights divided by the port's step integral) and a one-to-one self-projection
//! of delay one step.
//! 4. The changed W go back into the ANN; α and θ never touch them.
//!
//! The spiking network runs on the engine: an external source for the input, one population per
//! Dense layer (LIF with `e^(−dt/τ) = decay`, delta synapses, reset to 0), delay-0 dense
//! projections (a spike crosses every layer in one step) carrying `α_l/decay·W_l` (the LIF update
//! decays the step's input along with the membrane, `v ← decay·(v + δ)`), and the rule as each
//! projection's plasticity. Cost grows with spikes: silent steps touch no weights.

pub mod config;
pub mod incremental;
pub mod input;
pub mod plasticity;
pub mod search;
pub mod summary;

use std::ops::{ControlFlow, Range};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};

pub use config::{
    Adaptation, AlphaMode, FixedLayers, InputSource, Mask, Sigma, SleepConfig, SleepLength,
};
pub use input::MaskedInput;
pub use plasticity::{RuleState, SharedRuleState, SleepRule};

use crate::ann::{Activation, Ann, Layer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::{Connection, Connector, Delay, Network, NetworkConfig, PopulationId, Weights};
use crate::neuron::{IafParams, LifParams, NeuronModel, Port, Reset};

/// Samples per forward pass while measuring activations.
const CHUNK: usize = 1000;

/// What SRC accepts, for error messages.
const SUPPORTED: &str = "sleep replay (SRC) supports chains of Dense and Conv2d layers without \
     bias, ReLU hidden activations (ReLU, softmax or linear output), Dropout and Flatten";

/// The Dense layers of a network SRC can sleep, checked.
///
/// Returns the index of every Dense layer and, for each, the layer whose output is its
/// activation (the input of the next Dense layer, dropout scaling included; for the last one the
/// network's output, or the Dense output itself when a softmax follows).
pub fn sleepable_layers(ann: &Ann) -> Result<Vec<(usize, usize)>> {
    ann.require_chain("sleep")?;
    let dense: Vec<usize> = ann
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| is_weighted(l))
        .map(|(i, _)| i)
        .collect();
    if dense.is_empty() {
        return Err(Error::Unsupported(format!(
            "the network has no Dense or Conv2d layer; {SUPPORTED}"
        )));
    }
    let last = ann.layers.len() - 1;
    for (i, (layer, name)) in ann.layers.iter().zip(&ann.names).enumerate() {
        match layer {
            Layer::Dense(_) | Layer::Conv2d(_) => {
                if weights_and_bias(layer)
                    .1
                    .is_some_and(|b| b.iter().any(|&x| x != 0.0))
                {
                    return Err(Error::Unsupported(format!(
                        "layer '{name}' has a bias; {SUPPORTED}"
                    )));
                }
            }
            Layer::Flatten | Layer::Dropout { .. } | Layer::Activation(Activation::Relu) => {}
            Layer::Activation(_) if i == last => {}
            Layer::Activation(a) => {
                return Err(Error::Unsupported(format!(
                    "layer '{name}' is a hidden {a:?} activation; {SUPPORTED}"
                )))
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "layer '{name}' is a {} layer; {SUPPORTED}",
                    other.kind()
                )))
            }
        }
    }
    let mut out = Vec::with_capacity(dense.len());
    for (k, &i) in dense.iter().enumerate() {
        let end = dense.get(k + 1).copied().unwrap_or(ann.layers.len());
        let hidden = k + 1 < dense.len();
        let has_relu = ann.layers[i + 1..end]
            .iter()
            .any(|l| matches!(l, Layer::Activation(Activation::Relu)));
        if hidden && !has_relu {
            return Err(Error::Unsupported(format!(
                "hidden layer '{}' is not followed by a ReLU; {SUPPORTED}",
                ann.names[i]
            )));
        }
        let probe = if !hidden && matches!(ann.layers[last], Layer::Activation(Activation::Softmax))
        {
            // The spiking output layer integrates the logits, not the softmax.
            last - 1
        } else {
            end - 1
        };
        out.push((i, probe));
    }
    Ok(out)
}

/// Whether SRC sleeps this layer (its weights drive a spiking population).
fn is_weighted(layer: &Layer) -> bool {
    matches!(layer, Layer::Dense(_) | Layer::Conv2d(_))
}

/// The weights (any shape, as a flat iterator source) and bias of a Dense or Conv2d layer.
fn weights_and_bias(layer: &Layer) -> (Vec<f32>, Option<&ndarray::Array1<f32>>) {
    match layer {
        Layer::Dense(d) => (d.weights.iter().copied().collect(), d.bias.as_ref()),
        Layer::Conv2d(c) => (c.weights.iter().copied().collect(), c.bias.as_ref()),
        _ => unreachable!("sleepable_layers returns Dense and Conv2d layers"),
    }
}

/// The per-layer numbers of the scale-factor recursion (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaleFactors {
    /// `s_l`: max of the largest positive weight and the largest activation.
    pub s: Vec<f32>,
    /// `f_l = 1 / a_l` with `a_l = s_l / a_{l−1}`, `a_0 = 1`.
    pub f: Vec<f32>,
}

impl ScaleFactors {
    /// Runs the recursion on given `s_l`.
    ///
    /// ```
    /// use somnet::sleep::ScaleFactors;
    /// let sf = ScaleFactors::from_s(vec![2.0, 3.0, 5.0]);
    /// // f₁ = 1/s₁, f₂ = s₁/s₂, f₃ = s₂/(s₁·s₃)
    /// assert_eq!(sf.f, vec![0.5, 2.0 / 3.0, 3.0 / 10.0]);
    /// ```
    pub fn from_s(s: Vec<f32>) -> ScaleFactors {
        let mut prev = 1.0f64;
        let f = s
            .iter()
            .map(|&s| {
                let a = s as f64 / prev;
                prev = a;
                (1.0 / a) as f32
            })
            .collect();
        ScaleFactors { s, f }
    }
}

/// The scale factors of `ann` on `data` (the training data of every task seen so far), the ANN
/// in test mode.
pub fn scale_factors(ann: &Ann, data: &Dataset) -> Result<ScaleFactors> {
    let layers = sleepable_layers(ann)?;
    ann.check_data(data, "sleep data set")?;
    let mut act_max = vec![0.0f32; layers.len()];
    for start in (0..data.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(data.len());
        let x: ArrayView2<f32> = data.as_matrix().slice_move(ndarray::s![start..end, ..]);
        ann.forward_each(x, |i, y| {
            for (k, &(_, probe)) in layers.iter().enumerate() {
                if probe == i {
                    let m = y.iter().copied().fold(0.0f32, f32::max);
                    act_max[k] = act_max[k].max(m);
                }
            }
        })?;
    }
    let mut s = Vec::with_capacity(layers.len());
    for (k, &(i, _)) in layers.iter().enumerate() {
        let w_max = weights_and_bias(&ann.layers[i])
            .0
            .into_iter()
            .fold(0.0f32, f32::max);
        let v = w_max.max(act_max[k]);
        if !(v > 0.0 && v.is_finite()) {
            return Err(Error::Unsupported(format!(
                "layer '{}': scale factor {v} (no positive weight and no activation on '{}'); \
                 the layer cannot drive spikes",
                ann.names[i], data.name
            )));
        }
        s.push(v);
    }
    Ok(ScaleFactors::from_s(s))
}

/// What a sleep phase did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SleepReport {
    /// Steps run.
    pub steps: u64,
    /// Whether `on_step` stopped the phase early (the weights are those of the last step).
    pub interrupted: bool,
    /// The scale factors (empty with fixed input scales, which measure nothing).
    pub scale: ScaleFactors,
    /// Input scale per layer.
    pub alpha: Vec<f32>,
    /// Threshold per layer.
    pub theta: Vec<f32>,
    /// Input spikes over the phase.
    pub input_spikes: u64,
    /// Input neurons (pixels).
    pub input_size: usize,
    /// Spikes per Dense layer.
    pub layer_spikes: Vec<u64>,
    /// Neurons per Dense layer.
    pub layer_sizes: Vec<usize>,
    /// Potentiated synapse updates per layer.
    pub potentiations: Vec<u64>,
    /// Depressed synapse updates per layer.
    pub depressions: Vec<u64>,
    /// Spikes of the recorded stretch: (step, layer (0 = input), neuron).
    pub raster: Vec<(u64, u32, u32)>,
    /// Wall-clock seconds of the simulation.
    pub seconds: f64,
}

/// Runs one sleep phase of `steps` steps on `ann`, driven by `data` (the training data of every
/// task seen so far), and writes the changed weights back. Spikes of the steps in `record` are
/// kept in the report's raster. `on_step(done)` is called after every step and may stop the
/// phase at that boundary.
///
/// ```
/// use somnet::ann::{arch::{self, ArchOptions}, Activation};
/// use somnet::data::Dataset;
/// use somnet::sleep::{sleep, SleepConfig};
/// // A 4-pixel "image" set and a bias-free 4-3-2 ReLU net.
/// let data = Dataset::new("toy", vec![1.0; 8], vec![0, 1], [1, 2, 2], vec!["a".into(), "b".into()]).unwrap();
/// let opts = ArchOptions { bias: false, output: Activation::Relu, ..ArchOptions::default() };
/// let mut ann = arch::build("mlp:4-3-2", &[1, 2, 2], 2, &opts, 1).unwrap();
/// let config = SleepConfig { beta: vec![1.0, 1.0], mask: somnet::sleep::Mask::Window { size: 2 }, ..SleepConfig::mnist() };
/// let report = sleep(&mut ann, &data, 100, &config, 0..0, |_| std::ops::ControlFlow::Continue(())).unwrap();
/// assert_eq!(report.steps, 100);
/// assert!(report.input_spikes > 0);
/// ```
pub fn sleep(
    ann: &mut Ann,
    data: &Dataset,
    steps: u64,
    config: &SleepConfig,
    record: Range<u64>,
    mut on_step: impl FnMut(u64) -> ControlFlow<()>,
) -> Result<SleepReport> {
    config.validate()?;
    if let (FixedLayers::Ann, Some(k)) = (config.fixed_layers, config.plastic_layers) {
        return sleep_over_features(ann, data, steps, config, k, record, on_step);
    }
    let layers = sleepable_layers(ann)?;
    check_beta(config, layers.len())?;
    // Layers before `first_plastic` keep their weights (fixed features).
    let first_plastic = match config.plastic_layers {
        None => 0,
        Some(k) if k <= layers.len() => layers.len() - k,
        Some(k) => {
            return Err(Error::param(
                "sleep.plastic",
                format!("last:{k}"),
                format!("at most the network's {} weighted layers", layers.len()),
            ))
        }
    };
    let scale = match &config.alpha {
        AlphaMode::DataBased => scale_factors(ann, data)?,
        AlphaMode::Fixed(_) => ScaleFactors {
            s: Vec::new(),
            f: Vec::new(),
        },
    };
    let input = MaskedInput::new(data, config)?;
    if input.len() != ann.input_features() {
        return Err(Error::SizeMismatch {
            what: format!("sleep input images of '{}'", data.name),
            expected: ann.input_features(),
            got: input.len(),
        });
    }
    let alpha: Vec<f32> = match &config.alpha {
        AlphaMode::DataBased => scale.f.iter().map(|f| config.alpha_scale * f).collect(),
        AlphaMode::Fixed(a) => a.clone(),
    };
    let theta: Vec<f32> = config.beta.iter().map(|b| config.threshold * b).collect();
    for (k, (&a, &(i, _))) in alpha.iter().zip(&layers).enumerate() {
        let gain = a / config.decay;
        if !(gain.is_finite() && gain > 0.0) {
            return Err(Error::Unsupported(format!(
                "layer '{}': input scale α = {a} (scale factor f = {}) is not a finite positive \
                 number: the network's weights or activations overflow (has an earlier sleep \
                 diverged?)",
                ann.names[i],
                scale.f.get(k).copied().unwrap_or(f32::NAN)
            )));
        }
    }

    // The ports of a sleeping population: the feed-forward drive (a delta port, or with momentum
    // an exponential one whose variable carries the drive over), then the adaptation's.
    let dt = crate::time::Dt::new(config.dt_ms)?;
    let decay_tau = |d: f32| (-config.dt_ms / (d as f64).ln()) as f32;
    let mut ports = vec![if config.momentum > 0.0 {
        Port::Exponential {
            tau_ms: decay_tau(config.momentum),
        }
    } else {
        Port::Delta
    }];
    if let Some(a) = &config.adaptation {
        ports.push(Port::Exponential {
            tau_ms: decay_tau(a.decay),
        });
    }
    let mut net = Network::new(NetworkConfig {
        dt_ms: config.dt_ms,
        seed: config.seed,
        // The adaptation feeds a spike back one step later.
        max_delay_ms: if config.adaptation.is_some() {
            config.dt_ms
        } else {
            0.0
        },
    })?;
    let input_pop = net.add_external_source("input", input.len())?;
    let mut pops = Vec::with_capacity(layers.len());
    let mut rules = Vec::with_capacity(layers.len());
    let mut prev = input_pop;
    let shapes = ann.input_shapes()?;
    for (k, &(i, _)) in layers.iter().enumerate() {
        let model = neuron_model(config, theta[k]);
        let port_gain = port_gains(&model, &ports, dt, config.decay)?;
        // The engine weight that makes a spike's first-step drive `α·w` (see `port_gains`).
        let gain = alpha[k] / port_gain[0];
        let name = format!("{} (sleep)", ann.names[i]);
        let (pop, proj, rule_weights, n_pre) = match &ann.layers[i] {
            Layer::Dense(d) => {
                let (n_post, n_pre) = d.weights.dim();
                let pop = net.add_population(&ann.names[i], n_post, model, ports.clone())?;
                // Pre-major, as the engine stores dense projections.
                let w_pre_major: Vec<f32> = d.weights.t().iter().copied().collect();
                let engine: Vec<f32> = w_pre_major.iter().map(|w| gain * w).collect();
                let proj = net.connect(
                    prev,
                    pop,
                    Connection::new(Connector::AllToAll, Weights::Values(engine))
                        .delay(Delay::Steps(0))
                        .named(name),
                )?;
                (pop, proj, w_pre_major, n_pre)
            }
            Layer::Conv2d(c) => {
                let g = crate::convert::layers::conv_geometry(&ann.names[i], c, &shapes[i])?;
                let pop = net.add_population(&ann.names[i], g.n_post(), model, ports.clone())?;
                let engine: Vec<f32> = c.weights.iter().map(|w| gain * w).collect();
                let proj = net.connect_conv(prev, pop, g, &engine, 0, &name)?;
                (pop, proj, kernel_to_taps(&c.weights), g.n_pre())
            }
            _ => unreachable!("sleepable_layers returns Dense and Conv2d layers"),
        };
        let n_post = net.population(pop).len();
        if k >= first_plastic {
            let (rule, state) = SleepRule::new(
                rule_weights,
                n_pre,
                gain,
                config.inc,
                config.dec,
                config.sigma,
            );
            net.set_plasticity(proj, Box::new(rule))?;
            rules.push(Some(state));
        } else {
            rules.push(None);
        }
        if let Some(a) = &config.adaptation {
            // Each neuron's spike jumps its own adaptation variable one step later.
            let self_pairs: Vec<(u32, u32)> = (0..n_post as u32).map(|j| (j, j)).collect();
            net.connect(
                pop,
                pop,
                Connection::new(
                    Connector::List(self_pairs),
                    Weights::Constant(-a.strength * theta[k] / port_gain[1]),
                )
                .delay(Delay::Steps(1))
                .port(1)
                .named(format!("{} (adaptation)", ann.names[i])),
            )?;
        }
        pops.push(pop);
        prev = pop;
    }

    let start = Instant::now();
    let mut spikes = Vec::new();
    let mut raster = Vec::new();
    let mut report_steps = 0;
    let mut interrupted = false;
    let mut input_spikes = 0u64;
    for t in 0..steps {
        spikes.clear();
        input.draw(t, &mut spikes);
        input_spikes += spikes.len() as u64;
        net.inject_spikes(input_pop, &spikes)?;
        net.step();
        report_steps = t + 1;
        if record.contains(&t) {
            record_step(&net, input_pop, &pops, t, &mut raster);
        }
        if on_step(t + 1).is_break() {
            interrupted = report_steps < steps;
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    let mut potentiations = Vec::new();
    let mut depressions = Vec::new();
    for (&(i, _), state) in layers.iter().zip(&rules) {
        let Some(state) = state else {
            potentiations.push(0);
            depressions.push(0);
            continue;
        };
        let state = state.lock();
        let finite = match &mut ann.layers[i] {
            Layer::Dense(d) => {
                let (n_post, n_pre) = d.weights.dim();
                let w = Array2::from_shape_vec((n_pre, n_post), state.weights.clone())
                    .expect("the rule keeps the projection's size");
                d.weights.assign(&w.t());
                d.weights.iter().all(|x| x.is_finite())
            }
            Layer::Conv2d(c) => {
                taps_to_kernel(&state.weights, &mut c.weights);
                c.weights.iter().all(|x| x.is_finite())
            }
            _ => unreachable!("sleepable_layers returns Dense and Conv2d layers"),
        };
        if !finite {
            return Err(Error::Unsupported(format!(
                "sleep diverged: weights of layer '{}' became infinite or NaN within {report_steps} \
                 steps (potentiation outgrows depression; lower inc, raise dec, or use the \
                 decreasing σ)",
                ann.names[i]
            )));
        }
        potentiations.push(state.potentiations);
        depressions.push(state.depressions);
    }
    Ok(SleepReport {
        steps: report_steps,
        interrupted,
        scale,
        alpha,
        theta,
        input_spikes,
        input_size: input.len(),
        layer_spikes: pops
            .iter()
            .map(|&p| net.population(p).spike_count())
            .collect(),
        layer_sizes: pops.iter().map(|&p| net.population(p).len()).collect(),
        potentiations,
        depressions,
        raster,
        seconds,
    })
}

/// One threshold multiplier per weighted (Dense/Conv2d) layer of the network slept.
fn check_beta(config: &SleepConfig, weighted: usize) -> Result<()> {
    if config.beta.len() != weighted {
        return Err(Error::SizeMismatch {
            what: format!("sleep.beta for a network with {weighted} Dense/Conv2d layers"),
            expected: weighted,
            got: config.beta.len(),
        });
    }
    Ok(())
}

/// [`sleep`] of the last `k` weighted layers of `ann` over the ANN output of the layers before
/// them ([`FixedLayers::Ann`]): those layers run once over `data`, their output scaled to [0, 1]
/// by its largest value becomes the sleep images, and the head (the rest of the network) sleeps
/// on them with the last `k` values of β (and of fixed α). The report describes the head.
fn sleep_over_features(
    ann: &mut Ann,
    data: &Dataset,
    steps: u64,
    config: &SleepConfig,
    k: usize,
    record: Range<u64>,
    on_step: impl FnMut(u64) -> ControlFlow<()>,
) -> Result<SleepReport> {
    ann.require_chain("sleep")?;
    ann.check_data(data, "sleep images")?;
    let weighted: Vec<usize> = (0..ann.layers.len())
        .filter(|&i| is_weighted(&ann.layers[i]))
        .collect();
    if k > weighted.len() {
        return Err(Error::param(
            "sleep.plastic",
            format!("last:{k}"),
            format!("at most the network's {} weighted layers", weighted.len()),
        ));
    }
    check_beta(config, weighted.len())?;
    let first = weighted.len() - k;
    let cut = weighted[first];
    let named = |range: Range<usize>| -> Vec<(String, Layer)> {
        range
            .map(|i| (ann.names[i].clone(), ann.layers[i].clone()))
            .collect()
    };
    let feature_shape = ann.input_shapes()?[cut].clone();
    let features = if cut == 0 {
        data.clone()
    } else {
        let fixed = Ann::new(ann.input_shape.clone(), named(0..cut), ann.dropout_mode)?;
        let n = feature_shape.iter().product::<usize>();
        let mut values = Vec::with_capacity(data.len() * n);
        // In chunks: the fixed layers' intermediate maps of the whole set need not fit at once.
        for start in (0..data.len()).step_by(1000) {
            let end = (start + 1000).min(data.len());
            let y = fixed.forward(data.as_matrix().slice(ndarray::s![start..end, ..]))?;
            values.extend(y.iter().copied());
        }
        let top = values.iter().copied().fold(0.0f32, f32::max);
        if !(top.is_finite() && top > 0.0) {
            return Err(Error::Unsupported(format!(
                "sleep over fixed features: the output of layer '{}' is {top} at most over the \
                 sleep images of '{}' (needs positive, finite values to drive the plastic layers)",
                ann.names[cut - 1],
                data.name
            )));
        }
        values.iter_mut().for_each(|v| *v /= top);
        let shape = match feature_shape[..] {
            [c, h, w] => [c, h, w],
            _ => [n, 1, 1],
        };
        Dataset::new(
            format!("{} (features of layer '{}')", data.name, ann.names[cut - 1]),
            values,
            data.labels.clone(),
            shape,
            data.class_names.clone(),
        )?
    };
    let mut head = Ann::new(
        feature_shape,
        named(cut..ann.layers.len()),
        ann.dropout_mode,
    )?;
    let head_config = SleepConfig {
        beta: config.beta[first..].to_vec(),
        alpha: match &config.alpha {
            // As long as β (validated): one per weighted layer.
            AlphaMode::Fixed(a) => AlphaMode::Fixed(a[first..].to_vec()),
            AlphaMode::DataBased => AlphaMode::DataBased,
        },
        plastic_layers: None,
        fixed_layers: FixedLayers::Spiking,
        ..config.clone()
    };
    let report = sleep(&mut head, &features, steps, &head_config, record, on_step)?;
    for (dst, src) in ann.layers[cut..].iter_mut().zip(head.layers) {
        *dst = src;
    }
    Ok(report)
}

/// A (C_out, C_in, kh, kw) kernel in the engine's tap-major order,
/// `taps[((c·kh + ky)·kw + kx)·C_out + o]`.
fn kernel_to_taps(w: &ndarray::Array4<f32>) -> Vec<f32> {
    let (co, ci, kh, kw) = w.dim();
    let mut taps = vec![0.0; w.len()];
    for ((o, c, ky, kx), &v) in w.indexed_iter() {
        taps[((c * kh + ky) * kw + kx) * co + o] = v;
    }
    debug_assert_eq!(taps.len(), co * ci * kh * kw);
    taps
}

/// The inverse of [`kernel_to_taps`], into `w`.
fn taps_to_kernel(taps: &[f32], w: &mut ndarray::Array4<f32>) {
    let (co, _, kh, kw) = w.dim();
    for ((o, c, ky, kx), v) in w.indexed_iter_mut() {
        *v = taps[((c * kh + ky) * kw + kx) * co + o];
    }
}

/// The membrane drive per unit of a port's weight in the step a spike arrives: `decay` for the
/// delta port (the LIF update is `v ← decay·(v + δ)`), the propagator's step integral for an
/// exponential port. Weights divided by it give every port the same first-step drive, so the
/// momentum drive is `m_t = μ·m_{t−1} + α·W·s_t` and `v_t = decay·v_{t−1} + m_t` exactly.
fn port_gains(
    model: &NeuronModel,
    ports: &[Port],
    dt: crate::time::Dt,
    decay: f32,
) -> Result<Vec<f32>> {
    let exp = match model {
        NeuronModel::Lif(p) => crate::neuron::LifPropagator::new(p, ports, dt)?.syn_gain,
        NeuronModel::Iaf(p) => crate::neuron::IafPropagator::new(p, ports, dt)?.syn_gain,
        _ => unreachable!("sleep builds IF or LIF neurons"),
    };
    let mut exp = exp.into_iter();
    Ok(ports
        .iter()
        .map(|p| match p {
            Port::Delta => decay,
            _ => exp.next().expect("one gain per exponential port"),
        })
        .collect())
}

/// The spiking neuron of a sleeping layer: leaky with `e^(−dt/τ) = decay` (non-leaky at
/// decay = 1), rest 0, threshold θ, reset to 0.
fn neuron_model(config: &SleepConfig, theta: f32) -> NeuronModel {
    let reset = Reset::ToValue { v_reset_mv: 0.0 };
    let t_ref_ms = (config.refractory_steps as f64 * config.dt_ms) as f32;
    if config.decay >= 1.0 {
        NeuronModel::Iaf(IafParams {
            v_th_mv: theta,
            v_rest_mv: 0.0,
            reset,
            t_ref_ms,
        })
    } else {
        NeuronModel::Lif(LifParams {
            tau_mem_ms: (-config.dt_ms / (config.decay as f64).ln()) as f32,
            v_rest_mv: 0.0,
            v_th_mv: theta,
            reset,
            t_ref_ms,
        })
    }
}

fn record_step(
    net: &Network,
    input: PopulationId,
    layers: &[PopulationId],
    t: u64,
    raster: &mut Vec<(u64, u32, u32)>,
) {
    for (k, &p) in std::iter::once(&input).chain(layers).enumerate() {
        raster.extend(
            net.population(p)
                .last_spikes()
                .iter()
                .map(|&i| (t, k as u32, i)),
        );
    }
}
