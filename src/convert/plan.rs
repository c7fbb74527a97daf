//! What a graph of layers becomes on the engine: its populations and the projections into each.
//!
//! A population stands for every value a spiking layer carries: the rectified output of a weighted
//! layer, of a residual junction, of a pooling. Everything between two populations is linear and
//! becomes projections ([`Term`]s):
//!
//! - a weighted layer read by a junction (`Add`) alone is not a population: its projections go
//!   into the junction's population, whose neurons sum the branches in one membrane (their
//!   scales reconciled by normalisation, [`super::shortcuts`]); a diagonal layer (an explicit
//!   identity shortcut) is delivered one-to-one;
//! - a concatenation is its inputs' populations side by side: a layer reading it gets one
//!   projection per part (the kernel's input channels, or the dense matrix's columns, split);
//! - zero padding is folded into the convolution that reads it (its geometry's offsets);
//! - global average pooling is an average pooling over the whole map (a spiking layer, as every
//!   average pooling, Rueckauer et al. 2017);
//! - ReLU, QCFS, inverted dropout and Flatten are what the neurons and the numbering already do; a
//!   test-time dropout scale is carried to the weights that read it.
//!
//! Hidden image populations are numbered channels-last, like the chain's ([`super::layers`]); the
//! input keeps the data's order and the output the classes'. Anything else is refused by name.

use ndarray::{s, Array2};

use super::layers::{channels_last_perm, pool_stage, Stage};
use super::shortcuts::diagonal;
use crate::ann::layer::padded_extent;
use crate::ann::{Activation, Ann, Conv2d, Dense, DropoutMode, Layer, Node, Pad, Padding, Pool};
use crate::error::{Error, Result};
use crate::network::{Conv2dGeometry, ImageLayout};

/// Where a projection's spikes (or an analog drive) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The network's input (an analog current, or Poisson spike sources).
    Input,
    /// The population at this index of [`Plan::pops`].
    Pop(usize),
}

/// One projection into a population: its source and its weights, numbered as the source's and the
/// target's neurons are.
#[derive(Debug, Clone)]
pub struct Term {
    /// Where it comes from.
    pub from: Source,
    /// The weights (and the bias of the layer, carried by one term of it).
    pub stage: Stage,
}

/// One population of the converted graph.
#[derive(Debug, Clone)]
pub struct PopPlan {
    /// The ANN layer it stands for (a weighted layer, a junction, a pooling).
    pub name: String,
    /// Neurons.
    pub n: usize,
    /// The projections into it.
    pub terms: Vec<Term>,
    /// A max pooling: its projections gate by cumulative spike count.
    pub max_gate: bool,
    /// The ANN layers whose work it does (their MACs are the ANN's cost of it).
    pub layers: Vec<String>,
}

/// The populations of a converted graph, in an order where each reads only earlier ones; the last
/// is the output.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The populations.
    pub pops: Vec<PopPlan>,
}

/// A value between layers: parts laid end to end (several after a concatenation).
#[derive(Debug, Clone)]
struct Part {
    from: Source,
    /// Per-sample shape, `[C, H, W]` or `[F]`.
    shape: Vec<usize>,
    /// How an image part's neurons are numbered.
    layout: ImageLayout,
    /// A factor on every value (a test-time dropout scale) for the weights that read it.
    scale: f32,
}

impl Part {
    fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// The neuron carrying feature `f` (in the ANN's channel-major order).
    fn neuron(&self, f: usize, perm: &Option<Vec<u32>>) -> u32 {
        perm.as_ref().map_or(f as u32, |p| p[f])
    }

    /// The renumbering of the part's features, if its neurons are not in NCHW order.
    fn perm(&self) -> Option<Vec<u32>> {
        match (&self.shape[..], self.layout) {
            ([c, h, w], ImageLayout::ChannelsLast) => Some(channels_last_perm(*c, *h, *w)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Signal {
    /// Values a layer can read: spikes of populations, or the input; a zero padding not yet
    /// applied.
    Values { parts: Vec<Part>, pad: Option<Pad> },
    /// The projections of a weighted layer read by one junction alone (taken by it).
    Terms {
        terms: Vec<Term>,
        layers: Vec<String>,
    },
    /// Terms already taken by their junction.
    Taken,
}

/// Whether `ann` needs the graph build: a graph, or a chain with a layer only it converts (global
/// pooling, zero padding). Other chains keep the chain build ([`super::layers`]).
pub fn needs_plan(ann: &Ann) -> bool {
    !ann.is_chain()
        || ann
            .layers
            .iter()
            .any(|l| matches!(l, Layer::GlobalAvgPool2d | Layer::ZeroPad2d(_)))
}

/// The plan of `ann` (batch norm folded, identity shortcuts explicit, normalised).
///
/// ```
/// use ndarray::array;
/// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer, Node};
/// use somnet::convert::plan::plan;
/// let dense = |w| Layer::Dense(Dense { weights: w, bias: None });
/// let relu = Layer::Activation(Activation::Relu);
/// // relu(B·relu(A·x) + I·relu(A·x)): a residual block behind a first layer.
/// let ann = Ann::graph(vec![2], vec![
///     ("a".into(), dense(array![[1.0f32, 0.0], [0.0, 1.0]]), vec![Node::Input]),
///     ("ra".into(), relu.clone(), vec![Node::Layer(0)]),
///     ("b".into(), dense(array![[0.5f32, 0.5], [0.0, 1.0]]), vec![Node::Layer(1)]),
///     ("skip".into(), dense(array![[1.0f32, 0.0], [0.0, 1.0]]), vec![Node::Layer(1)]),
///     ("sum".into(), Layer::Add, vec![Node::Layer(2), Node::Layer(3)]),
///     ("out".into(), relu, vec![Node::Layer(4)]),
/// ], DropoutMode::Inverted).unwrap();
/// let p = plan(&ann).unwrap();
/// let names: Vec<&str> = p.pops.iter().map(|p| p.name.as_str()).collect();
/// assert_eq!(names, ["a", "sum"]);
/// assert_eq!(p.pops[1].terms.len(), 2);
/// ```
pub fn plan(ann: &Ann) -> Result<Plan> {
    let shapes = ann.shapes()?;
    let consumers = ann.consumers();
    let n = ann.layers.len();
    let output = output_layer(ann)?;
    let layout_of = |i: usize| match shapes[i].len() {
        3 if i != output => ImageLayout::ChannelsLast,
        _ => ImageLayout::ChannelsFirst,
    };
    let input = Signal::Values {
        parts: vec![Part {
            from: Source::Input,
            shape: ann.input_shape.clone(),
            layout: ImageLayout::ChannelsFirst,
            scale: 1.0,
        }],
        pad: None,
    };
    let mut pops: Vec<PopPlan> = Vec::new();
    let mut signals: Vec<Signal> = Vec::with_capacity(n);
    for i in 0..n {
        let name = &ann.names[i];
        let layer = &ann.layers[i];
        let read = |signals: &[Signal], node: Node| -> Result<(Vec<Part>, Option<Pad>)> {
            match node {
                Node::Input => match &input {
                    Signal::Values { parts, pad } => Ok((parts.clone(), *pad)),
                    _ => unreachable!("the input is a value"),
                },
                Node::Layer(j) => match &signals[j] {
                    Signal::Values { parts, pad } => Ok((parts.clone(), *pad)),
                    _ => Err(Error::Unsupported(format!(
                        "layer '{name}' ({}) reads '{}', a pre-activation that only a junction \
                         (Add) can take",
                        layer.kind(),
                        ann.names[j]
                    ))),
                },
            }
        };
        let one = |signals: &[Signal]| read(signals, ann.inputs[i][0]);
        let no_pad = |pad: Option<Pad>| match pad {
            None => Ok(()),
            Some(_) => Err(Error::Unsupported(format!(
                "layer '{name}' ({}) reads a zero padding: only a Conv2d can read one",
                layer.kind()
            ))),
        };
        let signal = match layer {
            Layer::Dense(_) | Layer::Conv2d(_) => {
                let (parts, pad) = one(&signals)?;
                // The population this layer's projections go into: its own, or its junction's.
                let junction = match consumers[i][..] {
                    [c] if matches!(ann.layers[c], Layer::Add) => Some(c),
                    _ => None,
                };
                let target = junction.unwrap_or(i);
                let out_layout = layout_of(target);
                let terms = match layer {
                    Layer::Dense(d) => {
                        no_pad(pad)?;
                        dense_terms(name, d, layer, &parts)?
                    }
                    Layer::Conv2d(c) => conv_terms(name, c, layer, &parts, pad, out_layout)?,
                    _ => unreachable!("weighted"),
                };
                if junction.is_some() {
                    Signal::Terms {
                        terms,
                        layers: vec![name.clone()],
                    }
                } else {
                    population(&mut pops, name, &shapes[i], out_layout, terms, false, name)
                }
            }
            Layer::Add => {
                let mut terms = Vec::new();
                let mut layers = Vec::new();
                for &node in &ann.inputs[i] {
                    let Node::Layer(j) = node else {
                        return Err(unexplicit(ann, i, "the input"));
                    };
                    match std::mem::replace(&mut signals[j], Signal::Taken) {
                        Signal::Terms {
                            terms: t,
                            layers: l,
                        } => {
                            terms.extend(t);
                            layers.extend(l);
                        }
                        _ => return Err(unexplicit(ann, i, &format!("'{}'", ann.names[j]))),
                    }
                }
                let pop = population(
                    &mut pops,
                    name,
                    &shapes[i],
                    layout_of(i),
                    terms,
                    false,
                    name,
                );
                pops.last_mut().expect("just made").layers = layers;
                pop
            }
            Layer::AvgPool2d(p) | Layer::MaxPool2d(p) => {
                let (parts, pad) = one(&signals)?;
                no_pad(pad)?;
                let max = matches!(layer, Layer::MaxPool2d(_));
                let terms = pool_terms(name, p, &parts, max, layout_of(i))?;
                population(&mut pops, name, &shapes[i], layout_of(i), terms, max, name)
            }
            Layer::GlobalAvgPool2d => {
                let (parts, pad) = one(&signals)?;
                no_pad(pad)?;
                let (h, w) = (parts[0].shape[1], parts[0].shape[2]);
                let whole = Pool {
                    size: (h, w),
                    stride: (h, w),
                    padding: Padding::Valid,
                };
                let terms = pool_terms(name, &whole, &parts, false, layout_of(i))?;
                population(
                    &mut pops,
                    name,
                    &shapes[i],
                    layout_of(i),
                    terms,
                    false,
                    name,
                )
            }
            Layer::Concatenate => {
                let mut all = Vec::new();
                for &node in &ann.inputs[i] {
                    let (parts, pad) = read(&signals, node)?;
                    no_pad(pad)?;
                    all.extend(parts);
                }
                Signal::Values {
                    parts: all,
                    pad: None,
                }
            }
            Layer::ZeroPad2d(p) => {
                let (parts, pad) = one(&signals)?;
                no_pad(pad)?;
                Signal::Values {
                    parts,
                    pad: Some(*p),
                }
            }
            Layer::Flatten => {
                let (parts, pad) = one(&signals)?;
                no_pad(pad)?;
                Signal::Values { parts, pad: None }
            }
            Layer::Dropout { rate } => {
                let (mut parts, pad) = one(&signals)?;
                if ann.dropout_mode == DropoutMode::ScaleAtTest {
                    parts.iter_mut().for_each(|p| p.scale *= 1.0 - rate);
                }
                Signal::Values { parts, pad }
            }
            // IF neurons compute ReLU; a QCFS activation's λ became the threshold (θ = λ).
            Layer::Activation(Activation::Relu) | Layer::Qcfs(_) => {
                let (parts, pad) = one(&signals)?;
                if parts.iter().any(|p| p.from == Source::Input) {
                    return Err(Error::Unsupported(format!(
                        "layer '{name}' rectifies the input itself: only the outputs of weighted \
                         layers, junctions and pooling can be rectified by spiking neurons"
                    )));
                }
                Signal::Values { parts, pad }
            }
            // The output activation: the readout replaces it.
            Layer::Activation(_) if i == n - 1 => {
                one(&signals).map(|(parts, pad)| Signal::Values { parts, pad })?
            }
            Layer::Activation(a) => return Err(super::layers::hidden_activation(name, a)),
            other => {
                return Err(Error::Unsupported(format!(
                    "layer '{name}' ({}) is not supported by the converter yet (Dense, Conv2d, \
                     pooling, Add, Concatenate, ZeroPadding2D, Flatten, ReLU, QCFS, Dropout, and \
                     batch norm after a weighted layer are)",
                    other.kind()
                )))
            }
        };
        signals.push(signal);
    }
    if pops.is_empty() {
        return Err(Error::Unsupported(
            "the network has no Dense or Conv2d layer to convert".into(),
        ));
    }
    Ok(Plan { pops })
}

/// The layer whose population is the output: the last layer, or the layer the last reads through
/// activations, dropout and Flatten (which make no population).
fn output_layer(ann: &Ann) -> Result<usize> {
    let mut at = ann.layers.len() - 1;
    loop {
        match &ann.layers[at] {
            Layer::Dense(_)
            | Layer::Conv2d(_)
            | Layer::Add
            | Layer::AvgPool2d(_)
            | Layer::MaxPool2d(_)
            | Layer::GlobalAvgPool2d => return Ok(at),
            Layer::Activation(_) | Layer::Qcfs(_) | Layer::Dropout { .. } | Layer::Flatten => {
                match ann.inputs[at][0] {
                    Node::Layer(j) => at = j,
                    Node::Input => break,
                }
            }
            _ => break,
        }
    }
    Err(Error::Unsupported(format!(
        "the output '{}' ({}) is not one weighted, junction or pooling layer: a converted \
         network reads its classes from one population",
        ann.names[at],
        ann.layers[at].kind()
    )))
}

/// An Add input that is not a weighted layer's pre-activation.
fn unexplicit(ann: &Ann, add: usize, what: &str) -> Error {
    Error::Unsupported(format!(
        "Add '{}' reads {what}, which is not a weighted layer read by the junction alone: make \
         identity shortcuts explicit first (convert::shortcuts::explicit_shortcuts, done by \
         convert::pipeline::convert)",
        ann.names[add]
    ))
}

/// A new population with `terms`; the value it carries.
fn population(
    pops: &mut Vec<PopPlan>,
    name: &str,
    shape: &[usize],
    layout: ImageLayout,
    terms: Vec<Term>,
    max_gate: bool,
    layer: &str,
) -> Signal {
    pops.push(PopPlan {
        name: name.to_string(),
        n: shape.iter().product(),
        terms,
        max_gate,
        layers: vec![layer.to_string()],
    });
    Signal::Values {
        parts: vec![Part {
            from: Source::Pop(pops.len() - 1),
            shape: shape.to_vec(),
            layout,
            scale: 1.0,
        }],
        pad: None,
    }
}

/// The projections of a dense layer from `parts` (its columns split by part, renumbered to the
/// parts' neurons); the bias rides on the first.
fn dense_terms(name: &str, d: &Dense, layer: &Layer, parts: &[Part]) -> Result<Vec<Term>> {
    let n_in: usize = parts.iter().map(Part::features).sum();
    if n_in != d.weights.ncols() {
        return Err(Error::SizeMismatch {
            what: format!("inputs of layer '{name}'"),
            expected: d.weights.ncols(),
            got: n_in,
        });
    }
    let gains = diagonal(layer);
    let mut terms = Vec::with_capacity(parts.len());
    let mut offset = 0;
    for (k, part) in parts.iter().enumerate() {
        let perm = part.perm();
        let m = part.features();
        let stage = match &gains {
            Some(g) => {
                let (pairs, weights) = (0..m)
                    .map(|f| {
                        (
                            (part.neuron(f, &perm), (offset + f) as u32),
                            g[offset + f] * part.scale,
                        )
                    })
                    .unzip::<_, _, Vec<_>, Vec<_>>();
                let mut syn: Vec<((u32, u32), f32)> = pairs.into_iter().zip(weights).collect();
                syn.sort_by_key(|s| s.0);
                let (pairs, weights) = syn.into_iter().unzip();
                Stage::Local {
                    name: name.to_string(),
                    pairs,
                    weights,
                    bias: None,
                    n_out: d.weights.nrows(),
                    max_gate: false,
                    shared: None,
                }
            }
            None => {
                let mut w = Array2::zeros((d.weights.nrows(), m));
                for f in 0..m {
                    let col = d.weights.column(offset + f);
                    w.column_mut(part.neuron(f, &perm) as usize)
                        .assign(&col.mapv(|x| x * part.scale));
                }
                Stage::Dense(Dense {
                    weights: w,
                    bias: if k == 0 { d.bias.clone() } else { None },
                })
            }
        };
        terms.push(Term {
            from: part.from,
            stage,
        });
        offset += m;
    }
    Ok(terms)
}

/// The projections of a convolution from image `parts` (its kernel's input channels split by
/// part), a zero padding folded into the geometry; the bias rides on the first.
fn conv_terms(
    name: &str,
    c: &Conv2d,
    layer: &Layer,
    parts: &[Part],
    pad: Option<Pad>,
    out_layout: ImageLayout,
) -> Result<Vec<Term>> {
    let (co, ci, kh, kw) = c.weights.dim();
    let channels: usize = parts
        .iter()
        .map(|p| p.shape.first().copied().unwrap_or(0))
        .sum();
    if parts.iter().any(|p| p.shape.len() != 3) || channels != ci {
        return Err(Error::Unsupported(format!(
            "layer '{name}' (conv2d) expects images of {ci} channels; it reads parts of shapes {:?}",
            parts.iter().map(|p| p.shape.clone()).collect::<Vec<_>>()
        )));
    }
    let pad = pad.unwrap_or_default();
    let (h, w) = (parts[0].shape[1], parts[0].shape[2]);
    let bad = || Error::Unsupported(format!("layer '{name}': kernel larger than its input"));
    let (oh, pt) =
        padded_extent(h + pad.top + pad.bottom, kh, c.stride.0, c.padding).ok_or_else(bad)?;
    let (ow, pl) =
        padded_extent(w + pad.left + pad.right, kw, c.stride.1, c.padding).ok_or_else(bad)?;
    let n_out = co * oh * ow;
    let out_perm = match out_layout {
        ImageLayout::ChannelsLast => Some(channels_last_perm(co, oh, ow)),
        ImageLayout::ChannelsFirst => None,
    };
    let gains = diagonal(layer).filter(|_| pad == Pad::default());
    let mut terms = Vec::with_capacity(parts.len());
    let mut c0 = 0;
    for (k, part) in parts.iter().enumerate() {
        let cp = part.shape[0];
        let in_perm = part.perm();
        let bias = (k == 0).then_some(()).and(c.bias.as_ref()).map(|b| {
            let mut v = vec![0.0; n_out];
            for j in 0..n_out {
                v[out_perm.as_ref().map_or(j, |p| p[j] as usize)] = b[j / (oh * ow)];
            }
            v
        });
        let stage = match &gains {
            // An identity shortcut: channel c of the part to channel c0 + c, position to position.
            Some(g) => {
                let mut syn: Vec<((u32, u32), f32)> = (0..part.features())
                    .map(|f| {
                        let post = c0 * h * w + f;
                        let post = out_perm.as_ref().map_or(post as u32, |p| p[post]);
                        (
                            (part.neuron(f, &in_perm), post),
                            g[c0 + f / (h * w)] * part.scale,
                        )
                    })
                    .collect();
                syn.sort_by_key(|s| s.0);
                let (pairs, weights) = syn.into_iter().unzip();
                Stage::Local {
                    name: name.to_string(),
                    pairs,
                    weights,
                    bias: None,
                    n_out,
                    max_gate: false,
                    shared: None,
                }
            }
            None => {
                let kernel: Vec<f32> = c
                    .weights
                    .slice(s![.., c0..c0 + cp, .., ..])
                    .iter()
                    .map(|w| w * part.scale)
                    .collect();
                let geometry = Conv2dGeometry {
                    input: (cp, h, w),
                    out_channels: co,
                    kernel: (kh, kw),
                    stride: c.stride,
                    pad: (pt + pad.top, pl + pad.left),
                    output: (oh, ow),
                    input_layout: part.layout,
                    output_layout: out_layout,
                };
                Stage::Local {
                    name: name.to_string(),
                    pairs: Vec::new(),
                    weights: Vec::new(),
                    bias,
                    n_out,
                    max_gate: false,
                    shared: Some((geometry, kernel)),
                }
            }
        };
        terms.push(Term {
            from: part.from,
            stage,
        });
        c0 += cp;
    }
    Ok(terms)
}

/// The projections of a pooling from image `parts` (each part's channels pooled into the target's
/// channels after the parts before it).
fn pool_terms(
    name: &str,
    p: &Pool,
    parts: &[Part],
    max: bool,
    out_layout: ImageLayout,
) -> Result<Vec<Term>> {
    if parts.iter().any(|p| p.shape.len() != 3) {
        return Err(Error::Unsupported(format!(
            "layer '{name}' pools images; it reads flat values"
        )));
    }
    let channels: usize = parts.iter().map(|p| p.shape[0]).sum();
    let mut terms = Vec::with_capacity(parts.len());
    let mut c0 = 0;
    for part in parts {
        let Stage::Local {
            pairs,
            weights,
            n_out,
            ..
        } = pool_stage(name, p, &part.shape, max)?
        else {
            unreachable!("a pooling is a synapse list")
        };
        if max && part.scale != 1.0 {
            return Err(Error::Unsupported(format!(
                "layer '{name}' (max pooling) reads a test-time dropout scale, which a max gate \
                 cannot carry"
            )));
        }
        let per_channel = n_out / part.shape[0];
        let bad = || Error::Unsupported(format!("layer '{name}': window larger than its input"));
        let (oh, _) =
            padded_extent(part.shape[1], p.size.0, p.stride.0, p.padding).ok_or_else(bad)?;
        let (ow, _) =
            padded_extent(part.shape[2], p.size.1, p.stride.1, p.padding).ok_or_else(bad)?;
        let out_perm = match out_layout {
            ImageLayout::ChannelsLast => Some(channels_last_perm(channels, oh, ow)),
            ImageLayout::ChannelsFirst => None,
        };
        let in_perm = part.perm();
        let mut syn: Vec<((u32, u32), f32)> = pairs
            .into_iter()
            .zip(weights)
            .map(|((pre, post), w)| {
                let post = c0 * per_channel + post as usize;
                let post = out_perm.as_ref().map_or(post as u32, |q| q[post]);
                let w = if max { w } else { w * part.scale };
                ((part.neuron(pre as usize, &in_perm), post), w)
            })
            .collect();
        syn.sort_by_key(|s| s.0);
        let (pairs, weights) = syn.into_iter().unzip();
        terms.push(Term {
            from: part.from,
            stage: Stage::Local {
                name: name.to_string(),
                pairs,
                weights,
                bias: None,
                n_out: channels * per_channel,
                max_gate: max,
                shared: None,
            },
        });
        c0 += part.shape[0];
    }
    Ok(terms)
}
