//! Identity shortcuts made explicit before a graph is normalised.
//!
//! A residual junction `relu(F(x) + x)` adds a spiking layer's output `x` to a weighted layer's
//! pre-activation `F(x)`. After data-based normalisation the two arrive in different units: `x`
//! divided by its own scale λ_x, `F(x)` by the junction's λ_out. The sum is right again only if
//! the shortcut carries the weight λ_x/λ_out, the shortcut normalisation of Hu et al. ("Spiking
//! deep residual networks", IEEE TNNLS 2021, Sec. III-B). [`explicit_shortcuts`] puts that weight
//! in the network as an ordinary weighted layer — a 1×1 convolution (a dense layer for flat
//! values) whose kernel is the identity — so that normalisation scales it like every other weighted
//! layer and the normalised network stays a plain, saveable [`Ann`]; the spiking build recognises
//! such a diagonal layer ([`diagonal`]) and delivers it one-to-one instead of through a kernel.

use ndarray::{Array2, Array4};

use crate::ann::{Ann, Conv2d, Dense, Layer, Node, Padding};
use crate::error::{Error, Result};

/// `ann` with an identity weighted layer in front of every input of an `Add` that is not a Dense
/// or Conv2d layer read by that `Add` alone (an identity shortcut, a pooled or concatenated
/// value, the network's input). Chains come back unchanged. The new layers are named
/// `<add>.shortcut<k>` (k: the input's position).
///
/// ```
/// use ndarray::array;
/// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer, Node};
/// use somnet::convert::shortcuts::explicit_shortcuts;
/// let dense = Dense { weights: array![[1.0f32, 0.0], [0.0, -1.0]], bias: None };
/// let relu = Layer::Activation(Activation::Relu);
/// let ann = Ann::graph(vec![2], vec![
///     ("fc0".into(), Layer::Dense(dense.clone()), vec![Node::Input]),
///     ("relu0".into(), relu.clone(), vec![Node::Layer(0)]),
///     ("fc1".into(), Layer::Dense(dense), vec![Node::Layer(1)]),
///     ("sum".into(), Layer::Add, vec![Node::Layer(2), Node::Layer(1)]),
///     ("relu1".into(), relu, vec![Node::Layer(3)]),
/// ], DropoutMode::Inverted).unwrap();
/// let explicit = explicit_shortcuts(&ann).unwrap();
/// assert_eq!(explicit.names[3], "sum.shortcut1");
/// let x = array![[2.0f32, 3.0]];
/// assert_eq!(explicit.forward(x.view()).unwrap(), ann.forward(x.view()).unwrap());
/// ```
pub fn explicit_shortcuts(ann: &Ann) -> Result<Ann> {
    if ann.is_chain() {
        return Ok(ann.clone());
    }
    let consumers = ann.consumers();
    let shapes = ann.shapes()?;
    let mut layers: Vec<(String, Layer, Vec<Node>)> = Vec::with_capacity(ann.layers.len());
    // The new index of each old layer.
    let mut moved: Vec<usize> = Vec::with_capacity(ann.layers.len());
    let map = |moved: &[usize], n: Node| match n {
        Node::Input => Node::Input,
        Node::Layer(j) => Node::Layer(moved[j]),
    };
    for (i, layer) in ann.layers.iter().enumerate() {
        let mut inputs: Vec<Node> = ann.inputs[i].iter().map(|&n| map(&moved, n)).collect();
        if matches!(layer, Layer::Add) {
            for (k, &n) in ann.inputs[i].iter().enumerate() {
                let weighted_alone = match n {
                    Node::Layer(j) => {
                        matches!(ann.layers[j], Layer::Dense(_) | Layer::Conv2d(_))
                            && consumers[j] == [i]
                            && ann.inputs[i].iter().filter(|&&m| m == n).count() == 1
                    }
                    Node::Input => false,
                };
                if weighted_alone {
                    continue;
                }
                check_rectified(ann, &consumers, i, n)?;
                let shape = match n {
                    Node::Input => &ann.input_shape,
                    Node::Layer(j) => &shapes[j],
                };
                let name = format!("{}.shortcut{k}", ann.names[i]);
                if ann.names.contains(&name) {
                    return Err(Error::Unsupported(format!(
                        "layer '{name}' exists: the name is needed for the explicit identity \
                         shortcut of Add '{}'",
                        ann.names[i]
                    )));
                }
                layers.push((name, identity(shape), vec![inputs[k]]));
                inputs[k] = Node::Layer(layers.len() - 1);
            }
        }
        moved.push(layers.len());
        layers.push((ann.names[i].clone(), layer.clone(), inputs));
    }
    Ann::graph(ann.input_shape.clone(), layers, ann.dropout_mode)
}

/// Refuses an input `n` of Add `add` that is not a rectified (spiking) value: a pre-activation
/// read by the junction and by other layers (a spiking layer carries its rectified value only),
/// or the output of another junction without an activation between.
fn check_rectified(ann: &Ann, consumers: &[Vec<usize>], add: usize, n: Node) -> Result<()> {
    let mut at = n;
    loop {
        let Node::Layer(j) = at else {
            return Ok(());
        };
        match &ann.layers[j] {
            Layer::Activation(crate::ann::Activation::Relu) | Layer::Qcfs(_) => return Ok(()),
            // Value-preserving layers: look through them (a concatenation: at its first input;
            // each of its inputs is checked where the spiking build reads it).
            Layer::Flatten
            | Layer::Dropout { .. }
            | Layer::AvgPool2d(_)
            | Layer::MaxPool2d(_)
            | Layer::GlobalAvgPool2d
            | Layer::ZeroPad2d(_)
            | Layer::Concatenate => at = ann.inputs[j][0],
            other => {
                let also = consumers[j]
                    .iter()
                    .filter(|&&c| c != add)
                    .map(|&c| format!("'{}'", ann.names[c]))
                    .collect::<Vec<_>>();
                let why = if also.is_empty() {
                    String::new()
                } else {
                    format!(", and also feeds {}", also.join(", "))
                };
                return Err(Error::Unsupported(format!(
                    "Add '{}' reads '{}' ({}), a value before any activation{why}: a spiking \
                     layer carries only rectified values, so a junction can read a pre-activation \
                     only from a weighted layer that feeds it alone",
                    ann.names[add],
                    ann.names[j],
                    other.kind()
                )));
            }
        }
    }
}

/// The identity on values of `shape`: a 1×1 convolution for images, a dense layer otherwise.
fn identity(shape: &[usize]) -> Layer {
    match shape {
        [c, _, _] => {
            let mut k = Array4::zeros((*c, *c, 1, 1));
            for ch in 0..*c {
                k[[ch, ch, 0, 0]] = 1.0;
            }
            Layer::Conv2d(Conv2d {
                weights: k,
                bias: None,
                stride: (1, 1),
                padding: Padding::Valid,
            })
        }
        _ => {
            let n: usize = shape.iter().product();
            Layer::Dense(Dense {
                weights: Array2::eye(n),
                bias: None,
            })
        }
    }
}

/// The per-channel gains of a weighted layer that is diagonal — a 1×1, stride-1 convolution or a
/// square dense layer, without bias, whose only non-zero weights join channel c to channel c —
/// or `None`. Such a layer (an explicit shortcut, [`explicit_shortcuts`]) is delivered one-to-one.
pub fn diagonal(layer: &Layer) -> Option<Vec<f32>> {
    match layer {
        Layer::Conv2d(c) => {
            let (co, ci, kh, kw) = c.weights.dim();
            if co != ci || (kh, kw) != (1, 1) || c.stride != (1, 1) || c.bias.is_some() {
                return None;
            }
            let off = c
                .weights
                .indexed_iter()
                .any(|((o, i, _, _), &w)| o != i && w != 0.0);
            (!off).then(|| (0..co).map(|o| c.weights[[o, o, 0, 0]]).collect())
        }
        Layer::Dense(d) => {
            let (o, i) = d.weights.dim();
            if o != i || d.bias.is_some() {
                return None;
            }
            let off = d
                .weights
                .indexed_iter()
                .any(|((r, c), &w)| r != c && w != 0.0);
            (!off).then(|| d.weights.diag().to_vec())
        }
        _ => None,
    }
}
