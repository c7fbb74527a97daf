//! NIR graphs (Neuromorphic Intermediate Representation; Pedersen et al., Nature Communications
//! 15:8122, 2024): the typed graph and its reader for the HDF5 layout of `nir.write`
//! ([`read`]). A NIR file knows no time step, reset rule or spike test: those are options of
//! whoever runs it ([`crate::simulate`]).
//!
//! ```no_run
//! let graph = somnet::io::nir::read(std::path::Path::new("graph.nir")).unwrap();
//! for (name, node) in graph.flatten().unwrap().nodes {
//!     println!("{name}: {}", node.kind());
//! }
//! ```

mod data;
mod read;
mod write;

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayD};

use crate::error::{Error, Result};

pub use data::{write_data, NodeData};
pub use read::read;
pub use write::{write, NIR_VERSION};

/// Whether `path` looks like a NIR file (an HDF5 file with a `/node` group holding a `type`),
/// without reading the graph.
pub fn is_nir(path: &std::path::Path) -> bool {
    let Ok(file) = crate::io::h5::open(path) else {
        return false;
    };
    file.group("node")
        .map(|g| g.dataset("type").is_ok())
        .unwrap_or(false)
}

/// A NIR graph: named nodes and directed edges (source, target). Several edges into one node add
/// up. Nested graphs are nodes of type [`Node::Graph`]; [`Graph::flatten`] inlines them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// The nodes by name (HDF5 keeps groups in alphabetical order; the edges give the order).
    pub nodes: BTreeMap<String, Node>,
    /// Edges, as in the file.
    pub edges: Vec<(String, String)>,
    /// The file's `/version`, when the graph was read from a file (top level only).
    pub version: Option<String>,
    /// The graph's `metadata/` (non-normative: NIR consumers keep it but do not act on it).
    /// somnet writes the facts NIR has no field for here (see
    /// [`crate::convert::to_nir`]); entries other than strings and numbers are not read.
    pub metadata: BTreeMap<String, Meta>,
}

/// A graph somnet made for export and what it cannot say.
#[derive(Debug, Clone)]
pub struct NirExport {
    /// The graph, with somnet's settings in its metadata.
    pub graph: Graph,
    /// What a NIR consumer that ignores somnet's metadata would run differently, and which parts
    /// were written in a larger form than their own.
    pub warnings: Vec<String>,
}

/// One entry of a graph's `metadata/`.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// A string (a scalar variable-length UTF-8 dataset).
    Text(String),
    /// A number (a scalar float64 dataset).
    Number(f64),
    /// Numbers (a 1-D float64 dataset).
    Numbers(Vec<f64>),
}

impl Meta {
    /// The text of a [`Meta::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Meta::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a [`Meta::Number`] (or a one-element [`Meta::Numbers`]).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Meta::Number(x) => Some(*x),
            Meta::Numbers(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }
}

/// Padding of a convolution: explicit per spatial axis, or by name.
#[derive(Debug, Clone, PartialEq)]
pub enum Padding {
    /// Zeros added on both sides of each spatial axis.
    Explicit(Vec<usize>),
    /// `"same"`: the output has the input's size (stride 1).
    Same,
    /// `"valid"`: no padding.
    Valid,
}

/// A NIR primitive with its fields (neuron parameters are arrays of the layer's shape).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// The graph's input, of `shape` (no batch axis).
    Input {
        /// Shape of one time step's input.
        shape: Vec<usize>,
    },
    /// The graph's output.
    Output {
        /// Shape of one time step's output.
        shape: Vec<usize>,
    },
    /// `y = W·x + b`.
    Affine {
        /// (out, in).
        weight: Array2<f32>,
        /// (out,).
        bias: Array1<f32>,
    },
    /// `y = W·x`.
    Linear {
        /// (out, in).
        weight: Array2<f32>,
    },
    /// `y = s ⊙ x`.
    Scale {
        /// Per element.
        scale: ArrayD<f32>,
    },
    /// A 1-D or 2-D convolution in PyTorch's layout.
    Conv {
        /// (C_out, C_in/groups, k…): one kernel axis for Conv1d, two for Conv2d.
        weight: ArrayD<f32>,
        /// Per spatial axis.
        stride: Vec<usize>,
        /// Zero padding.
        padding: Padding,
        /// Per spatial axis.
        dilation: Vec<usize>,
        /// Channel groups.
        groups: usize,
        /// (C_out,).
        bias: Array1<f32>,
        /// The input's spatial size, when the file gives it.
        input_shape: Option<Vec<usize>>,
    },
    /// Sum (`average == false`) or average pooling over 2-D windows.
    Pool2d {
        /// Whether it averages (AvgPool2d) or sums (SumPool2d).
        average: bool,
        /// Window (h, w).
        kernel: Vec<usize>,
        /// Stride (h, w).
        stride: Vec<usize>,
        /// Zero padding (h, w).
        padding: Vec<usize>,
    },
    /// Flattens axes `start_dim..=end_dim` (batch axis excluded; negative counts from the end).
    Flatten {
        /// First axis.
        start_dim: i64,
        /// Last axis.
        end_dim: i64,
        /// The input's shape, when the file gives it.
        input_type: Option<Vec<usize>>,
    },
    /// Delays each element by `delay` (time units).
    Delay {
        /// Per element.
        delay: ArrayD<f64>,
    },
    /// `z = [x > θ]`.
    Threshold {
        /// Per element.
        threshold: ArrayD<f64>,
    },
    /// A neuron layer (I, IF, LI, LIF, CubaLI, CubaLIF).
    Neuron(Box<Neuron>),
    /// A nested graph.
    Graph(Graph),
    /// A nested graph's Input or Output once [`Graph::flatten`] has inlined it: passes its
    /// input on unchanged.
    PassThrough,
    /// Planning only (a neuron node split by parameter set): `out[k] = in[index[k]]`.
    Gather {
        /// The input element of each output element.
        index: Vec<u32>,
    },
    /// Planning only: `out[index[k]] = in[k]`, the other elements 0, output of `shape`.
    Scatter {
        /// The output element of each input element.
        index: Vec<u32>,
        /// The output shape.
        shape: Vec<usize>,
    },
}

/// The neuron primitives. Every parameter is an array of the layer's shape; `None` thresholds
/// mark non-spiking integrators.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    /// Which primitive.
    pub kind: NeuronKind,
    /// Membrane time constant τ (LI, LIF) or τ_mem (Cuba*); `None` for I and IF (no leak).
    pub tau_mem: Option<ArrayD<f64>>,
    /// Synaptic time constant (Cuba*).
    pub tau_syn: Option<ArrayD<f64>>,
    /// Resistance R.
    pub r: ArrayD<f64>,
    /// Leak potential (0 for I and IF).
    pub v_leak: Option<ArrayD<f64>>,
    /// Threshold; `None` for non-spiking primitives.
    pub v_threshold: Option<ArrayD<f64>>,
    /// Reset potential (files before mid-2025 have none: 0).
    pub v_reset: Option<ArrayD<f64>>,
    /// Input weight of the synaptic current (Cuba*).
    pub w_in: Option<ArrayD<f64>>,
}

/// The NIR neuron primitive a [`Neuron`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeuronKind {
    /// `dv/dt = R·I`, never fires.
    I,
    /// `dv/dt = R·I`, fires and resets.
    If,
    /// `τ dv/dt = (v_leak − v) + R·I`, never fires.
    Li,
    /// LI that fires and resets.
    Lif,
    /// LI driven by a synaptic current `τ_syn dI/dt = −I + w_in·S`.
    CubaLi,
    /// CubaLI that fires and resets.
    CubaLif,
}

impl NeuronKind {
    /// The NIR type name.
    pub fn name(self) -> &'static str {
        match self {
            NeuronKind::I => "I",
            NeuronKind::If => "IF",
            NeuronKind::Li => "LI",
            NeuronKind::Lif => "LIF",
            NeuronKind::CubaLi => "CubaLI",
            NeuronKind::CubaLif => "CubaLIF",
        }
    }
}

impl Neuron {
    /// An IF layer of `shape`: `r` 1, threshold `theta`, reset potential `v_reset`.
    pub fn integrate_and_fire(shape: &[usize], theta: f64, v_reset: f64) -> Neuron {
        let full = |v: f64| ArrayD::from_elem(ndarray::IxDyn(shape), v);
        Neuron {
            kind: NeuronKind::If,
            tau_mem: None,
            tau_syn: None,
            r: full(1.0),
            v_leak: None,
            v_threshold: Some(full(theta)),
            v_reset: Some(full(v_reset)),
            w_in: None,
        }
    }

    /// The number of neurons (elements of `r`).
    pub fn len(&self) -> usize {
        self.r.len()
    }
    /// Whether the layer has no neurons.
    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }
    /// The layer's shape (that of `r`).
    pub fn shape(&self) -> Vec<usize> {
        self.r.shape().to_vec()
    }
}

impl Node {
    /// The NIR type name (`"Affine"`, `"LIF"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Input { .. } => "Input",
            Node::Output { .. } => "Output",
            Node::Affine { .. } => "Affine",
            Node::Linear { .. } => "Linear",
            Node::Scale { .. } => "Scale",
            Node::Conv { weight, .. } if weight.ndim() == 3 => "Conv1d",
            Node::Conv { .. } => "Conv2d",
            Node::Pool2d { average: true, .. } => "AvgPool2d",
            Node::Pool2d { .. } => "SumPool2d",
            Node::Flatten { .. } => "Flatten",
            Node::Delay { .. } => "Delay",
            Node::Threshold { .. } => "Threshold",
            Node::Neuron(n) => n.kind.name(),
            Node::Graph(_) => "NIRGraph",
            Node::PassThrough => "PassThrough",
            Node::Gather { .. } => "Gather",
            Node::Scatter { .. } => "Scatter",
        }
    }
}

impl Graph {
    /// The graph with every nested graph inlined: a subgraph `g`'s node `n` becomes `g.n`, edges
    /// into `g` go to its Input node and edges out of `g` leave from its Output node, which stay
    /// as [`Node::PassThrough`] nodes. Names that would collide, edges naming unknown nodes and subgraphs
    /// without exactly one Input and one Output are errors.
    pub fn flatten(&self) -> Result<Graph> {
        let mut out = Graph {
            nodes: BTreeMap::new(),
            edges: Vec::new(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
        };
        self.flatten_into("", &mut out)?;
        Ok(out)
    }

    /// The name of the one node of NIR type `kind` (`"Input"`, `"Output"`); `what` names the
    /// graph in the error when there is none or several.
    pub fn only_node(&self, kind: &str, what: &str) -> Result<String> {
        let found: Vec<&str> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.kind() == kind)
            .map(|(k, _)| k.as_str())
            .collect();
        match found.as_slice() {
            [one] => Ok(one.to_string()),
            _ => Err(Error::Unsupported(format!(
                "NIR {what}: expected exactly one {kind} node, found {} ({})",
                found.len(),
                found.join(", ")
            ))),
        }
    }

    fn flatten_into(&self, prefix: &str, out: &mut Graph) -> Result<()> {
        for (from, to) in &self.edges {
            for end in [from, to] {
                if !self.nodes.contains_key(end) {
                    return Err(Error::Unsupported(format!(
                        "NIR graph{}: edge {from} -> {to} names '{end}', which is not a node",
                        describe(prefix)
                    )));
                }
            }
        }
        // Where edges into / out of each node attach once subgraphs are inlined.
        let mut entry = BTreeMap::new();
        let mut exit = BTreeMap::new();
        for (name, node) in &self.nodes {
            let full = format!("{prefix}{name}");
            match node {
                Node::Graph(sub) => {
                    let io = |want: &str| -> Result<String> {
                        Ok(format!(
                            "{full}.{}",
                            sub.only_node(want, &format!("subgraph '{full}'"))?
                        ))
                    };
                    entry.insert(name.clone(), io("Input")?);
                    exit.insert(name.clone(), io("Output")?);
                    sub.flatten_into(&format!("{full}."), out)?;
                }
                other => {
                    let node = match other {
                        Node::Input { .. } | Node::Output { .. } if !prefix.is_empty() => {
                            Node::PassThrough
                        }
                        _ => other.clone(),
                    };
                    if out.nodes.insert(full.clone(), node).is_some() {
                        return Err(Error::Unsupported(format!(
                            "NIR graph: two nodes are named '{full}' once subgraphs are inlined"
                        )));
                    }
                    entry.insert(name.clone(), full.clone());
                    exit.insert(name.clone(), full);
                }
            }
        }
        for (from, to) in &self.edges {
            out.edges.push((exit[from].clone(), entry[to].clone()));
        }
        Ok(())
    }
}

fn describe(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!(" '{}'", prefix.trim_end_matches('.'))
    }
}
