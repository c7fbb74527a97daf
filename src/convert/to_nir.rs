//! A converted network as a NIR graph (`somnet export-nir`, `somnet convert --nir`), for
//! neuromorphic hardware and the other frameworks.
//!
//! Each converted layer becomes its linear node and a neuron node of the layer's shape, in the
//! ANN's NCHW order (PyTorch's, which is NIR's): Dense → Affine (Linear without bias), Conv2d →
//! Conv2d (PyTorch kernel layout), each followed by IF (`r = 1`, `v_threshold = 1`, `v_reset = 0`)
//! or LIF; a k×k AvgPool2d → SumPool2d followed by neurons of threshold k² (the same spikes: every
//! membrane is k² times larger; Sinabs and Speck take sum pooling only); a Flatten node wherever an image meets an Affine; a membrane
//! readout ends in an I node. Input coding needs no node: the Input receives the image as a current
//! every step (analog) or the Poisson spikes the user draws.
//!
//! Two layer forms have no exact NIR primitive and are written as an Affine with the layer's
//! explicit weights (exact, larger; named in a warning): a TensorFlow 'same' convolution whose
//! padding is uneven (NIR's padding is the same on both sides), and an average pooling with
//! padding (somnet, like TensorFlow, averages over the inputs inside the image only). NIR has no
//! reshape back to an image, so the image layers after such an Affine go out as Affines too.
//!
//! NIR is continuous-time and cannot say how the network is stepped: the reset by subtraction, the
//! spike test `v ≥ θ`, the time step (1 ms), the initial potential, refractoriness and the
//! normalisation λ go to the graph's `metadata/` (which `nir.read` keeps and ignores), each
//! named in a warning where a consumer that ignores metadata would run a different network.
//! somnet's own reader takes them from there ([`crate::simulate::SimOptions::for_graph`]), so a
//! network exported and simulated again gives the spikes it gave before.
//!
//! Refused by name: max pooling (NIR has no max or gating primitive), Dale's sign split, and the
//! Izhikevich neuron (no NIR primitive).
//!
//! ```
//! use somnet::convert::options::ConvertOptions;
//! use somnet::convert::to_nir::to_nir;
//! let ann = somnet::ann::arch::build("mlp:4-3-2", &[4], 2, &Default::default(), 1)?;
//! let export = to_nir(&ann, &ConvertOptions::default(), &[])?;
//! assert_eq!(export.graph.nodes["dense_1"].kind(), "Affine");
//! assert_eq!(export.graph.nodes["dense_1_neurons"].kind(), "IF");
//! assert!(export.warnings.iter().any(|w| w.contains("subtraction")));
//! # Ok::<(), somnet::Error>(())
//! ```

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayD, IxDyn};

use super::layers::{stages_with_shapes, Stage};
use super::options::ResetChoice;
use super::options::{ConvertOptions, InitialPotential, InputCoding, NeuronChoice, Readout};
use crate::ann::{Ann, Layer};
use crate::error::{Error, Result};
use crate::io::nir::{Graph, Meta, Neuron, NeuronKind, NirExport, Node, Padding};
use crate::network::Conv2dGeometry;

/// The time step a converted network runs at, in seconds (one engine step of 1 ms), as written
/// to the graph's metadata and used for LIF time constants.
pub const STEP_SECONDS: f64 = 1e-3;

/// The NIR graph of a converted (folded, normalised) network `ann` under `options`;
/// `layer_scales` are the λ of its weighted layers (recorded in the metadata; may be empty).
pub fn to_nir(ann: &Ann, options: &ConvertOptions, layer_scales: &[Vec<f32>]) -> Result<NirExport> {
    options.validate()?;
    if options.coding == super::options::Coding::Ttfs {
        return Err(Error::Unsupported(
            "NIR export: time-to-first-spike coding's windowed single-spike neuron has no NIR \
             primitive; export the rate-coded conversion"
                .into(),
        ));
    }
    if options.dale {
        return Err(Error::Unsupported(
            "NIR export: Dale's principle splits every layer into excitatory and inhibitory \
             copies, which NIR graphs of this converter do not describe; export without --dale"
                .into(),
        ));
    }
    if options.offset_presteps > 0 {
        return Err(Error::Unsupported(
            "NIR export: offset-spike calibration is a per-sample pre-run of somnet's evaluation \
             that sets each neuron's start, not part of the network a NIR graph describes; \
             export without offset-presteps"
                .into(),
        ));
    }
    if options.neuron == NeuronChoice::Izhikevich {
        return Err(Error::Unsupported(
            "NIR export: NIR has no Izhikevich neuron (its neurons are I, IF, LI, LIF, CubaLI, \
             CubaLIF); convert with --neuron if or lif"
                .into(),
        ));
    }
    ann.require_chain("NIR export of a converted network")?;
    let staged = stages_with_shapes(ann, false)?;
    let mut g = Graph::default();
    let mut warnings = Vec::new();
    g.nodes.insert(
        "input".into(),
        Node::Input {
            shape: ann.input_shape.clone(),
        },
    );
    let mut prev = "input".to_string();
    let mut prev_shape = ann.input_shape.clone();
    let n = staged.len();
    // Once an image layer has gone out as an Affine, the layers after it see a flat vector (NIR
    // has no reshape back to an image), so their convolutions and poolings go out as Affines too.
    let mut flat = false;
    for (k, (stage, shape)) in staged.into_iter().enumerate() {
        let name = stage_name(&stage, ann, k);
        let (linear, theta) =
            linear_node(&stage, ann, &prev_shape, &shape, &name, flat, &mut warnings)?;
        let affine = matches!(linear, Node::Affine { .. } | Node::Linear { .. });
        flat |= affine && matches!(stage, Stage::Local { .. });
        let shape = if affine {
            vec![shape.iter().product()]
        } else {
            shape
        };
        if affine && prev_shape.len() > 1 {
            let flatten = format!("{name}_flatten");
            g.nodes.insert(
                flatten.clone(),
                Node::Flatten {
                    start_dim: 0,
                    end_dim: -1,
                    input_type: Some(prev_shape.clone()),
                },
            );
            g.edges.push((prev, flatten.clone()));
            prev = flatten;
        }
        g.nodes.insert(name.clone(), linear);
        g.edges.push((prev, name.clone()));
        let is_output = k + 1 == n;
        let neurons = format!("{name}_neurons");
        let membrane = is_output && options.readout == Readout::Membrane;
        g.nodes.insert(
            neurons.clone(),
            Node::Neuron(Box::new(neuron(options, &shape, membrane, theta))),
        );
        g.edges.push((name, neurons.clone()));
        prev = neurons;
        prev_shape = shape;
    }
    g.nodes.insert(
        "output".into(),
        Node::Output {
            shape: prev_shape.clone(),
        },
    );
    g.edges.push((prev, "output".into()));
    g.metadata = metadata(options, ann, layer_scales);
    warnings.extend(options_warnings(options));
    Ok(NirExport { graph: g, warnings })
}

/// A NIR-safe node name: the ANN layer's name with anything but letters, digits, `_` and `-`
/// replaced (NIR names are HDF5 group names, and somnet reads `.` as nesting).
fn stage_name(stage: &Stage, ann: &Ann, k: usize) -> String {
    let raw = match stage {
        Stage::Local { name, .. } => name.clone(),
        // Dense stages do not carry their name: the k-th weighted or pooling layer's.
        Stage::Dense(_) => ann
            .layers
            .iter()
            .zip(&ann.names)
            .filter(|(l, _)| {
                matches!(
                    l,
                    Layer::Dense(_) | Layer::Conv2d(_) | Layer::AvgPool2d(_) | Layer::MaxPool2d(_)
                )
            })
            .nth(k)
            .map_or_else(|| format!("layer{}", k + 1), |(_, n)| n.clone()),
    };
    let clean = crate::io::identifier(&raw, "-");
    match clean.as_str() {
        "" | "input" | "output" => format!("layer{}_{clean}", k + 1),
        _ => clean,
    }
}

/// The ANN layer called `name`.
fn layer<'a>(ann: &'a Ann, name: &str) -> Option<&'a Layer> {
    ann.names
        .iter()
        .position(|n| n == name)
        .map(|i| &ann.layers[i])
}

/// The linear node of one stage (input shape `input`, output shape `output`).
fn linear_node(
    stage: &Stage,
    ann: &Ann,
    input: &[usize],
    output: &[usize],
    name: &str,
    flat: bool,
    warnings: &mut Vec<String>,
) -> Result<(Node, f64)> {
    let unit = |node: Node| Ok((node, 1.0));
    match stage {
        Stage::Dense(d) => unit(match &d.bias {
            Some(b) => Node::Affine {
                weight: d.weights.clone(),
                bias: b.clone(),
            },
            None => Node::Linear {
                weight: d.weights.clone(),
            },
        }),
        Stage::Local {
            max_gate: true,
            name: layer_name,
            ..
        } => Err(Error::Unsupported(format!(
            "NIR export: layer '{layer_name}' is a max pooling, which NIR cannot express (it has \
             no max or gating primitive); train with average pooling to export"
        ))),
        Stage::Local {
            shared: Some((geom, kernel)),
            bias,
            name: layer_name,
            ..
        } => {
            let (co, ci, kh, kw) = (
                geom.out_channels,
                geom.input.0,
                geom.kernel.0,
                geom.kernel.1,
            );
            let bias_c: Array1<f32> = match bias {
                // The stage's bias is per output neuron; a convolution's is per channel.
                Some(b) => (0..co)
                    .map(|o| b[o * geom.output.0 * geom.output.1])
                    .collect(),
                None => Array1::zeros(co),
            };
            let even = |axis: usize| {
                let (i, k, s, p, o) = match axis {
                    0 => (geom.input.1, kh, geom.stride.0, geom.pad.0, geom.output.0),
                    _ => (geom.input.2, kw, geom.stride.1, geom.pad.1, geom.output.1),
                };
                // PyTorch's output size with `p` zeros on both sides must be the layer's.
                (i + 2 * p >= k) && (i + 2 * p - k) / s + 1 == o
            };
            if even(0) && even(1) && !flat {
                let weight = ArrayD::from_shape_vec(IxDyn(&[co, ci, kh, kw]), kernel.clone())
                    .map_err(|e| Error::Unsupported(format!("layer '{layer_name}': {e}")))?;
                return unit(Node::Conv {
                    weight,
                    stride: vec![geom.stride.0, geom.stride.1],
                    padding: Padding::Explicit(vec![geom.pad.0, geom.pad.1]),
                    dilation: vec![1, 1],
                    groups: 1,
                    bias: bias_c,
                    input_shape: Some(vec![geom.input.1, geom.input.2]),
                });
            }
            let why = if flat {
                "it follows a layer written as an Affine (a flat vector)"
            } else {
                "its 'same' padding is uneven (one more zero after than before, as TensorFlow \
                 pads), which NIR's Conv2d cannot express"
            };
            warnings.push(format!(
                "layer '{layer_name}': {why}; written as an Affine of its {}×{} explicit weights",
                geom.n_post(),
                geom.n_pre()
            ));
            let w = conv_matrix(name, geom, kernel)?;
            let b = (0..geom.n_post())
                .map(|j| bias_c[j / (geom.output.0 * geom.output.1)])
                .collect();
            unit(Node::Affine { weight: w, bias: b })
        }
        Stage::Local {
            pairs,
            weights,
            name: layer_name,
            n_out,
            ..
        } => {
            let pool = match layer(ann, layer_name) {
                Some(Layer::AvgPool2d(p)) => *p,
                _ => {
                    return Err(Error::Unsupported(format!(
                        "NIR export: layer '{layer_name}' has no NIR form"
                    )))
                }
            };
            // Zeros the windows reach beyond the image, per axis.
            let beyond =
                |i: usize, k: usize, s: usize, o: usize| ((o - 1) * s + k).saturating_sub(i);
            let padded = flat
                || beyond(input[1], pool.size.0, pool.stride.0, output[1]) > 0
                || beyond(input[2], pool.size.1, pool.stride.1, output[2]) > 0;
            if !padded {
                // A sum pooling into neurons of threshold k² fires as an average pooling into
                // neurons of threshold 1 (every membrane k² times larger, the reset too): the
                // form neuromorphic toolchains take (Sinabs/Speck have no average pooling).
                let k2 = (pool.size.0 * pool.size.1) as f64;
                return Ok((
                    Node::Pool2d {
                        average: false,
                        kernel: vec![pool.size.0, pool.size.1],
                        stride: vec![pool.stride.0, pool.stride.1],
                        padding: vec![0, 0],
                    },
                    k2,
                ));
            }
            let why = if flat {
                "it follows a layer written as an Affine (a flat vector)"
            } else {
                "an average pooling over padded windows (averaging only the inputs inside the \
                 image) has no NIR primitive"
            };
            warnings.push(format!(
                "layer '{layer_name}': {why}; written as an Affine of its explicit weights"
            ));
            let n_in: usize = input.iter().product();
            check_matrix(name, *n_out, n_in)?;
            let mut w = Array2::zeros((*n_out, n_in));
            for (&(pre, post), &v) in pairs.iter().zip(weights) {
                w[[post as usize, pre as usize]] += v;
            }
            unit(Node::Affine {
                weight: w,
                bias: Array1::zeros(*n_out),
            })
        }
    }
}

fn check_matrix(name: &str, rows: usize, cols: usize) -> Result<()> {
    crate::limits::check(
        format!("layer '{name}'"),
        "the explicit weight matrix of its NIR Affine",
        4 * rows as u128 * cols as u128,
    )
}

/// The dense (post, pre) matrix of a convolution, both numbered channels-first.
fn conv_matrix(name: &str, g: &Conv2dGeometry, kernel: &[f32]) -> Result<Array2<f32>> {
    check_matrix(name, g.n_post(), g.n_pre())?;
    let (ci, h, w) = g.input;
    let (oh, ow) = g.output;
    let (kh, kw) = g.kernel;
    let mut m = Array2::zeros((g.n_post(), g.n_pre()));
    for c in 0..ci {
        for y in 0..h {
            for x in 0..w {
                let pre = (c * h + y) * w + x;
                for ky in 0..kh {
                    let Some(oy) = Conv2dGeometry::tap(y, ky, g.pad.0, g.stride.0, oh) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(ox) = Conv2dGeometry::tap(x, kx, g.pad.1, g.stride.1, ow) else {
                            continue;
                        };
                        for o in 0..g.out_channels {
                            m[[(o * oh + oy) * ow + ox, pre]] =
                                kernel[((o * ci + c) * kh + ky) * kw + kx];
                        }
                    }
                }
            }
        }
    }
    Ok(m)
}

/// The neuron node of a layer of `shape`: IF or LIF at threshold `theta` (1 after normalisation,
/// k² after a k×k sum pooling), or a non-spiking I for a membrane readout.
fn neuron(options: &ConvertOptions, shape: &[usize], membrane: bool, theta: f64) -> Neuron {
    let full = |v: f64| ArrayD::from_elem(IxDyn(shape), v);
    if membrane {
        return Neuron {
            kind: NeuronKind::I,
            tau_mem: None,
            tau_syn: None,
            r: full(1.0),
            v_leak: None,
            v_threshold: None,
            v_reset: None,
            w_in: None,
        };
    }
    match options.neuron {
        NeuronChoice::Lif { tau_mem_ms } => {
            // The engine's LIF adds a spike's weight to the membrane before the step's decay p;
            // NIR's input held over a step adds (1 − p)·R·I after it. R = p/(1 − p) makes one
            // unit of input the same jump (and a constant current the converter's p/(1 − p)).
            let p = (-1.0 / tau_mem_ms as f64).exp();
            Neuron {
                kind: NeuronKind::Lif,
                tau_mem: Some(full(tau_mem_ms as f64 * STEP_SECONDS)),
                tau_syn: None,
                r: full(p / (1.0 - p)),
                v_leak: Some(full(0.0)),
                v_threshold: Some(full(theta)),
                v_reset: Some(full(0.0)),
                w_in: None,
            }
        }
        _ => Neuron::integrate_and_fire(shape, theta, 0.0),
    }
}

/// somnet's settings under the graph's `metadata/`.
fn metadata(options: &ConvertOptions, ann: &Ann, scales: &[Vec<f32>]) -> BTreeMap<String, Meta> {
    let text = |s: &str| Meta::Text(s.to_string());
    let mut m = BTreeMap::new();
    m.insert(
        "source".into(),
        text(&format!(
            "somnet {} (ANN to SNN conversion)",
            env!("CARGO_PKG_VERSION")
        )),
    );
    m.insert("dt".into(), Meta::Number(STEP_SECONDS));
    m.insert("time_unit".into(), text("s"));
    m.insert(
        "reset".into(),
        text(match options.reset {
            ResetChoice::Subtract => "subtract",
            ResetChoice::Zero => "zero",
        }),
    );
    m.insert("threshold".into(), text("ge"));
    m.insert("scheme".into(), text("exact"));
    m.insert("integrator".into(), text("step"));
    m.insert(
        "initial".into(),
        Meta::Number(match options.initial {
            InitialPotential::Zero => 0.0,
            InitialPotential::HalfThreshold => 0.5,
        }),
    );
    m.insert(
        "refractory_steps".into(),
        Meta::Number(options.refractory_steps as f64),
    );
    m.insert(
        "input_coding".into(),
        text(match options.input {
            InputCoding::Analog => "analog: the image as a current every step",
            InputCoding::Poisson => "poisson: spikes with P(spike) = x / max x per step",
            InputCoding::Latency => "latency: one spike per pixel at 1 - x",
        }),
    );
    m.insert(
        "readout".into(),
        text(match options.readout {
            Readout::SpikeCount => "spike count",
            Readout::Membrane => "membrane",
        }),
    );
    if let Some(k) = options.early_exit {
        m.insert("early_exit_steps".into(), Meta::Number(k as f64));
    }
    m.insert("percentile".into(), Meta::Number(options.percentile));
    let weighted = ann
        .layers
        .iter()
        .zip(&ann.names)
        .filter(|(l, _)| matches!(l, Layer::Dense(_) | Layer::Conv2d(_)));
    for ((_, name), lambda) in weighted.zip(scales) {
        m.insert(
            format!("lambda_{name}"),
            Meta::Numbers(lambda.iter().map(|&x| x as f64).collect()),
        );
    }
    m
}

/// What a consumer that ignores the metadata would run differently.
fn options_warnings(options: &ConvertOptions) -> Vec<String> {
    let mut w = Vec::new();
    if options.reset == ResetChoice::Subtract {
        w.push(
            "reset by subtraction: NIR's IF and LIF reset to v_reset, and no NIR field says \
             otherwise; the metadata says reset = subtract (Sinabs and somnet subtract, most \
             others reset to zero)"
                .into(),
        );
    }
    if options.initial == InitialPotential::HalfThreshold {
        w.push(
            "θ/2 start: NIR has no initial membrane potential; the metadata says initial = 0.5"
                .into(),
        );
    }
    if options.refractory_steps > 0 {
        w.push(format!(
            "refractory period of {} steps: NIR neurons have none; recorded in the metadata only",
            options.refractory_steps
        ));
    }
    if matches!(options.neuron, NeuronChoice::Lif { .. }) {
        w.push(
            "LIF: time constants are in seconds at dt = 1 ms per step, integrated exactly \
             (R = p/(1 − p) with p = e^(−dt/τ)); frameworks that step LIF by forward Euler will \
             differ slightly"
                .into(),
        );
    }
    w
}
