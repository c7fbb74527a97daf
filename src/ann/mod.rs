//! The framework-neutral ANN: layers, a batched parallel forward pass, counts, and training.
//!
//! An [`Ann`] is an input shape and a list of named [`Layer`]s. Batches are (N, features) matrices
//! in NCHW order. The forward pass is parallel inside every layer (matrix products split in fixed
//! blocks, per-sample loops over samples) and gives bit-identical results on any thread count.
//!
//! ```
//! use ndarray::array;
//! use somnet::ann::{Ann, Dense, DropoutMode, Layer, Activation};
//! let dense = Dense { weights: array![[1.0f32, -1.0], [0.5, 0.5]], bias: Some(array![0.0, 1.0]) };
//! let ann = Ann::new(vec![2], vec![("fc".into(), Layer::Dense(dense)), ("relu".into(), Layer::Activation(Activation::Relu))], DropoutMode::Inverted).unwrap();
//! let y = ann.forward(array![[1.0f32, 3.0]].view()).unwrap();
//! assert_eq!(y, array![[0.0, 3.0]]);
//! ```

pub mod arch;
pub mod conv;
pub mod gemm;
pub mod graph;
pub mod init;
pub mod layer;
pub mod pool;
pub mod qcfs;
pub mod train;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

pub use layer::{Activation, BatchNorm, Conv2d, Dense, Layer, Pad, Padding, Pool};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// What dropout does at test time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropoutMode {
    /// Training scales kept units by 1/(1 − p); inference is the identity (Keras, PyTorch).
    #[default]
    Inverted,
    /// Training keeps units unscaled; inference multiplies by (1 − p) (the sleep-replay code,
    /// Srivastava et al. 2014).
    ScaleAtTest,
}

/// Where a layer reads from: the network's input or an earlier layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// The network's input.
    Input,
    /// The output of layer `i` (an index into [`Ann::layers`]).
    Layer(usize),
}

/// A feed-forward network: a chain of layers, or a directed acyclic graph of them (residual
/// junctions, concatenations, fan-out).
///
/// Layers are stored in an order where each reads only from the input and from layers before it
/// (a topological order); the last layer is the output, and every other layer feeds at least one
/// later layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Ann {
    /// Per-sample input shape, `[C, H, W]` or `[F]`.
    pub input_shape: Vec<usize>,
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// Layer names (unique), for files and messages.
    pub names: Vec<String>,
    /// What each layer reads, in order (a merge layer's inputs in the order they are joined). For a
    /// chain, layer 0 reads the input and layer i the layer i − 1.
    pub inputs: Vec<Vec<Node>>,
    /// Test-time convention of the dropout layers.
    pub dropout_mode: DropoutMode,
}

/// One row of [`Ann::summary`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSummary {
    /// Layer name.
    pub name: String,
    /// Layer kind.
    pub kind: &'static str,
    /// Per-sample output shape.
    pub output_shape: Vec<usize>,
    /// Parameters.
    pub params: usize,
    /// Multiply-accumulates per sample.
    pub macs: u64,
}

/// Samples per chunk when a data set is run through the network.
const EVAL_CHUNK: usize = 1000;

impl Ann {
    /// A network; checks that the shapes chain, the names are unique and every number is finite.
    pub fn new(
        input_shape: Vec<usize>,
        layers: Vec<(String, Layer)>,
        dropout_mode: DropoutMode,
    ) -> Result<Ann> {
        let (names, layers): (Vec<String>, Vec<Layer>) = layers.into_iter().unzip();
        let ann = Ann {
            input_shape,
            inputs: chain_inputs(layers.len()),
            layers,
            names,
            dropout_mode,
        };
        ann.validate()?;
        Ok(ann)
    }

    /// A network whose layers read what `layers` says (each entry: name, layer, inputs); the
    /// layers must come in an order where each reads only the input and earlier layers, the last
    /// is the output. Checks what [`Self::new`] checks, and that every layer but the last feeds
    /// another.
    ///
    /// A residual block, `y = relu(x + relu(W·x))`:
    /// ```
    /// use ndarray::array;
    /// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer, Node};
    /// let dense = Dense { weights: array![[1.0f32, 0.0], [0.0, -1.0]], bias: None };
    /// let relu = Layer::Activation(Activation::Relu);
    /// let ann = Ann::graph(vec![2], vec![
    ///     ("fc".into(), Layer::Dense(dense), vec![Node::Input]),
    ///     ("relu1".into(), relu.clone(), vec![Node::Layer(0)]),
    ///     ("sum".into(), Layer::Add, vec![Node::Layer(1), Node::Input]),
    ///     ("relu2".into(), relu, vec![Node::Layer(2)]),
    /// ], DropoutMode::Inverted).unwrap();
    /// let y = ann.forward(array![[2.0f32, 3.0]].view()).unwrap();
    /// assert_eq!(y, array![[4.0, 3.0]]);
    /// ```
    pub fn graph(
        input_shape: Vec<usize>,
        layers: Vec<(String, Layer, Vec<Node>)>,
        dropout_mode: DropoutMode,
    ) -> Result<Ann> {
        let mut ann = Ann {
            input_shape,
            layers: Vec::with_capacity(layers.len()),
            names: Vec::with_capacity(layers.len()),
            inputs: Vec::with_capacity(layers.len()),
            dropout_mode,
        };
        for (name, layer, inputs) in layers {
            ann.names.push(name);
            ann.layers.push(layer);
            ann.inputs.push(inputs);
        }
        ann.validate()?;
        Ok(ann)
    }

    /// Whether every layer reads only the one before it (the first: the input).
    pub fn is_chain(&self) -> bool {
        self.inputs == chain_inputs(self.layers.len())
    }

    /// Refuses a graph that is not a chain for `what` (a part of somnet that handles chains
    /// only), naming the first layer that reads anything but the layer before it.
    pub fn require_chain(&self, what: &str) -> Result<()> {
        let chain = chain_inputs(self.layers.len());
        match (0..self.layers.len()).find(|&i| self.inputs[i] != chain[i]) {
            None => Ok(()),
            Some(i) => Err(Error::Unsupported(format!(
                "layer '{}' ({}) reads {}: {what} handles chains of layers only so far",
                self.names[i],
                self.layers[i].kind(),
                self.describe_inputs(i)
            ))),
        }
    }

    /// What layer `i` reads, in words ("the input, 'conv2'").
    pub fn describe_inputs(&self, i: usize) -> String {
        self.inputs[i]
            .iter()
            .map(|n| match n {
                Node::Input => "the input".to_string(),
                Node::Layer(j) => format!("'{}'", self.names[*j]),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The network without the layers marked in `drop` (each must read one input): whatever read
    /// a dropped layer reads its input instead. Used to remove layers that are identities after
    /// a transformation (a folded batch norm).
    pub fn without(&self, drop: &[bool]) -> Result<Ann> {
        // Where each old node now comes from, and the new index of each kept layer.
        let mut redirect: Vec<Node> = Vec::with_capacity(self.layers.len());
        let mut layers = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let map = |n: &Node| match n {
                Node::Input => Node::Input,
                Node::Layer(j) => redirect[*j],
            };
            if drop.get(i).copied().unwrap_or(false) {
                if self.inputs[i].len() != 1 {
                    return Err(Error::Unsupported(format!(
                        "layer '{}' ({}) joins several inputs and cannot be removed",
                        self.names[i],
                        layer.kind()
                    )));
                }
                redirect.push(map(&self.inputs[i][0]));
            } else {
                let ins = self.inputs[i].iter().map(map).collect();
                redirect.push(Node::Layer(layers.len()));
                layers.push((self.names[i].clone(), layer.clone(), ins));
            }
        }
        Ann::graph(self.input_shape.clone(), layers, self.dropout_mode)
    }

    /// The layers that read each layer's output, in order.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.layers.len()];
        for (i, ins) in self.inputs.iter().enumerate() {
            for n in ins {
                if let Node::Layer(j) = n {
                    if !out[*j].contains(&i) {
                        out[*j].push(i);
                    }
                }
            }
        }
        out
    }

    /// Checks that the inputs name earlier layers only and every layer but the last is read.
    fn check_graph(&self) -> Result<()> {
        if self.inputs.len() != self.layers.len() {
            return Err(Error::SizeMismatch {
                what: "layer input lists".into(),
                expected: self.layers.len(),
                got: self.inputs.len(),
            });
        }
        for (i, ins) in self.inputs.iter().enumerate() {
            if ins.is_empty() {
                return Err(Error::Unsupported(format!(
                    "layer '{}' reads nothing: each layer needs an input",
                    self.names[i]
                )));
            }
            if let Some(Node::Layer(j)) =
                ins.iter().find(|n| matches!(n, Node::Layer(j) if *j >= i))
            {
                let what = match self.names.get(*j) {
                    Some(n) => format!("layer '{n}', which comes after it"),
                    None => format!("layer #{j}, which does not exist"),
                };
                return Err(Error::Unsupported(format!(
                    "layer '{}' reads {what}: layers must be ordered so that each reads only earlier ones (a cycle cannot be run)",
                    self.names[i]
                )));
            }
        }
        let consumers = self.consumers();
        if let Some(i) = (0..self.layers.len().saturating_sub(1)).find(|&i| consumers[i].is_empty())
        {
            return Err(Error::Unsupported(format!(
                "layer '{}' ({}) feeds no other layer and is not the output (the last layer, '{}'): a network has one output",
                self.names[i],
                self.layers[i].kind(),
                self.names[self.layers.len() - 1]
            )));
        }
        Ok(())
    }

    /// Checks shapes, names and values.
    pub fn validate(&self) -> Result<()> {
        if self.input_shape.is_empty()
            || self.input_shape.contains(&0)
            || !(self.input_shape.len() == 1 || self.input_shape.len() == 3)
        {
            return Err(Error::param(
                "input_shape",
                format!("{:?}", self.input_shape),
                "[F] or [C, H, W] with positive sizes",
            ));
        }
        if self.names.len() != self.layers.len() {
            return Err(Error::SizeMismatch {
                what: "layer names".into(),
                expected: self.layers.len(),
                got: self.names.len(),
            });
        }
        for (i, name) in self.names.iter().enumerate() {
            if self.names[..i].contains(name) {
                return Err(Error::Unsupported(format!("two layers are named '{name}'")));
            }
        }
        self.check_graph()?;
        for (layer, name) in self.layers.iter().zip(&self.names) {
            layer.check_finite(name)?;
        }
        // Every activation of one sample must be countable and within the allocation limit
        // before a shape from a file sizes a buffer.
        let per_sample = |what: &str, shape: &[usize]| {
            let n = shape
                .iter()
                .try_fold(1u128, |a, &d| a.checked_mul(d as u128))
                .unwrap_or(u128::MAX);
            crate::limits::check(
                "network",
                &format!("{what} of shape {shape:?} (one sample, float32)"),
                n.saturating_mul(4),
            )
        };
        per_sample("the input", &self.input_shape)?;
        for (shape, name) in self.shapes()?.iter().zip(&self.names) {
            per_sample(&format!("the output of layer '{name}'"), shape)?;
        }
        Ok(())
    }

    /// Per-sample output shape after every layer.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        let mut out: Vec<Vec<usize>> = Vec::with_capacity(self.layers.len());
        for (i, (layer, name)) in self.layers.iter().zip(&self.names).enumerate() {
            let ins = self.inputs[i]
                .iter()
                .map(|n| self.node_shape(&out, *n))
                .collect::<Vec<_>>();
            out.push(layer.merged_shape(name, &ins)?);
        }
        Ok(out)
    }

    /// The per-sample input shape of every layer (a merge layer: its first input's).
    pub fn input_shapes(&self) -> Result<Vec<Vec<usize>>> {
        let shapes = self.shapes()?;
        Ok(self
            .inputs
            .iter()
            .map(|ins| self.node_shape(&shapes, ins[0]).to_vec())
            .collect())
    }

    /// The shape of `node`'s output given the layers' output shapes.
    fn node_shape<'a>(&'a self, shapes: &'a [Vec<usize>], node: Node) -> &'a [usize] {
        match node {
            Node::Input => &self.input_shape,
            Node::Layer(j) => &shapes[j],
        }
    }

    /// Values per input sample.
    pub fn input_features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Values per output sample.
    pub fn output_features(&self) -> usize {
        self.shapes()
            .ok()
            .and_then(|s| s.last().map(|l| l.iter().product()))
            .unwrap_or_else(|| self.input_features())
    }

    /// One row per layer: name, kind, output shape, parameters, MACs.
    pub fn summary(&self) -> Vec<LayerSummary> {
        let shapes = self.shapes().expect("validated at construction");
        self.layers
            .iter()
            .zip(&self.names)
            .zip(shapes)
            .map(|((l, n), s)| LayerSummary {
                name: n.clone(),
                kind: l.kind(),
                macs: l.macs(&s),
                params: l.n_params(),
                output_shape: s,
            })
            .collect()
    }

    /// Total parameters.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Layer::n_params).sum()
    }

    /// Total multiply-accumulates per sample.
    pub fn macs(&self) -> u64 {
        self.summary().iter().map(|s| s.macs).sum()
    }

    /// The inference output for a batch (N, input features).
    pub fn forward(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let mut out = None;
        self.forward_each(x, |_, y| out = Some(y.clone()))?;
        Ok(out.unwrap_or_else(|| x.to_owned()))
    }

    /// The inference output of every layer, in order (for data-based normalization).
    pub fn forward_all(&self, x: ArrayView2<'_, f32>) -> Result<Vec<Array2<f32>>> {
        let mut all = Vec::with_capacity(self.layers.len());
        self.forward_each(x, |_, y| all.push(y.clone()))?;
        Ok(all)
    }

    /// Runs the batch through the layers, calling `visit(layer index, output)` after each.
    pub fn forward_each(
        &self,
        x: ArrayView2<'_, f32>,
        mut visit: impl FnMut(usize, &Array2<f32>),
    ) -> Result<()> {
        if x.ncols() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!("input of the network (shape {:?})", self.input_shape),
                expected: self.input_features(),
                got: x.ncols(),
            });
        }
        let shapes = self.shapes()?;
        let mut values = graph::Values::new(self, x.as_standard_layout().into_owned());
        for (i, layer) in self.layers.iter().enumerate() {
            let in_shape = self.node_shape(&shapes, self.inputs[i][0]).to_vec();
            let y = if layer.is_merge() {
                let ins = values.borrow(&self.inputs[i]);
                let y = graph::merge_forward(layer, &ins);
                drop(ins);
                values.release(&self.inputs[i]);
                y
            } else {
                let x = values.take(self.inputs[i][0]);
                infer_layer(layer, x, &in_shape, self.dropout_mode)
            };
            visit(i, &y);
            values.store(i, y);
        }
        Ok(())
    }

    /// Checks that `data` is non-empty and its images fit the input; `role` names the data in
    /// errors (e.g. "calibration set").
    pub fn check_data(&self, data: &Dataset, role: &str) -> Result<()> {
        if data.is_empty() {
            return Err(Error::Unsupported(format!(
                "{role} '{}' is empty",
                data.name
            )));
        }
        if data.features() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{role} '{}' for a network with input {:?}",
                    data.name, self.input_shape
                ),
                expected: self.input_features(),
                got: data.features(),
            });
        }
        Ok(())
    }

    /// Class predictions (argmax, ties to the lowest index) for a data set, in chunks.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(data.len());
        for start in (0..data.len()).step_by(EVAL_CHUNK) {
            let end = (start + EVAL_CHUNK).min(data.len());
            let x = data.as_matrix().slice_move(ndarray::s![start..end, ..]);
            let y = self.forward(x)?;
            out.extend(
                y.rows()
                    .into_iter()
                    .map(|r| argmax(r.as_slice().expect("standard layout"))),
            );
        }
        Ok(out)
    }

    /// The accuracy on `data` overall and per class (class c: the fraction of c's images
    /// predicted as c; 0 for a class without images).
    ///
    /// ```
    /// let ann = somnet::ann::arch::build("mlp:4-3", &[1, 2, 2], 3, &Default::default(), 1).unwrap();
    /// let data = somnet::data::Dataset::new("d", vec![0.5; 8], vec![0, 2], [1, 2, 2],
    ///     vec!["a".into(), "b".into(), "c".into()]).unwrap();
    /// let (all, per_class) = ann.accuracy_per_class(&data).unwrap();
    /// assert_eq!(per_class.len(), 3);
    /// assert_eq!(per_class[1], 0.0); // no image of class 1
    /// assert_eq!(all, (per_class[0] + per_class[2]) / 2.0);
    /// ```
    pub fn accuracy_per_class(&self, data: &Dataset) -> Result<(f64, Vec<f64>)> {
        let pred = self.predict(data)?;
        let n = data.n_classes();
        let (mut hits, mut counts) = (vec![0usize; n], vec![0usize; n]);
        for (&p, &l) in pred.iter().zip(&data.labels) {
            counts[l as usize] += 1;
            hits[l as usize] += (p == l as usize) as usize;
        }
        let total = hits.iter().sum::<usize>() as f64 / data.len().max(1) as f64;
        let per_class = hits
            .iter()
            .zip(&counts)
            .map(|(&h, &c)| h as f64 / c.max(1) as f64)
            .collect();
        Ok((total, per_class))
    }

    /// Fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        if data.features() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!(
                    "images of '{}' for a network with input {:?}",
                    data.name, self.input_shape
                ),
                expected: self.input_features(),
                got: data.features(),
            });
        }
        let pred = self.predict(data)?;
        let correct = pred
            .iter()
            .zip(&data.labels)
            .filter(|(p, &l)| **p == l as usize)
            .count();
        Ok(correct as f64 / data.len().max(1) as f64)
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// One layer in inference mode.
pub(crate) fn infer_layer(
    layer: &Layer,
    x: Array2<f32>,
    in_shape: &[usize],
    dropout: DropoutMode,
) -> Array2<f32> {
    match layer {
        Layer::Dense(d) => dense_forward(x.view(), d),
        Layer::Conv2d(c) => {
            let g = conv_geom(in_shape, c);
            conv::forward(x.view(), c, &g).0
        }
        Layer::AvgPool2d(p) => pool::avg_forward(x.view(), &pool_geom(in_shape, p)),
        Layer::MaxPool2d(p) => pool::max_forward(x.view(), &pool_geom(in_shape, p)).0,
        Layer::Flatten => x,
        Layer::BatchNorm(b) => {
            let (scale, shift) = b.affine();
            per_channel_affine(x, in_shape, &scale, &shift)
        }
        Layer::Activation(a) => activate(x, *a),
        Layer::Dropout { rate } => match dropout {
            DropoutMode::Inverted => x,
            DropoutMode::ScaleAtTest => x * (1.0 - rate),
        },
        Layer::GlobalAvgPool2d => pool::global_avg_forward(x.view(), in_shape),
        Layer::ZeroPad2d(p) => graph::pad_forward(x.view(), in_shape, p),
        Layer::Qcfs(q) => qcfs::forward(x, q),
        Layer::Add | Layer::Concatenate => unreachable!("merges are run by graph::merge_forward"),
    }
}

/// Layer i reads the layer before it (layer 0: the input).
fn chain_inputs(n: usize) -> Vec<Vec<Node>> {
    (0..n)
        .map(|i| {
            vec![if i == 0 {
                Node::Input
            } else {
                Node::Layer(i - 1)
            }]
        })
        .collect()
}

/// `x·Wᵀ + b`.
pub(crate) fn dense_forward(x: ArrayView2<'_, f32>, d: &Dense) -> Array2<f32> {
    let mut y = Array2::zeros((x.nrows(), d.weights.nrows()));
    gemm::gemm(1.0, x, d.weights.t(), 0.0, y.view_mut());
    if let Some(b) = &d.bias {
        y += b;
    }
    y
}

/// The geometry of a convolution on `in_shape` (validated by the shape check).
pub(crate) fn conv_geom(in_shape: &[usize], c: &Conv2d) -> conv::Geom {
    let (_, _, kh, kw) = c.weights.dim();
    conv::Geom::new(
        [in_shape[0], in_shape[1], in_shape[2]],
        (kh, kw),
        c.stride,
        c.padding,
    )
    .expect("shapes validated")
}

/// The geometry of a pooling window on `in_shape` (validated by the shape check).
pub(crate) fn pool_geom(in_shape: &[usize], p: &Pool) -> conv::Geom {
    conv::Geom::new(
        [in_shape[0], in_shape[1], in_shape[2]],
        p.size,
        p.stride,
        p.padding,
    )
    .expect("shapes validated")
}

/// `y = scale[c]·x + shift[c]` with c the channel (first axis of the per-sample shape).
pub(crate) fn per_channel_affine(
    mut x: Array2<f32>,
    in_shape: &[usize],
    scale: &ndarray::Array1<f32>,
    shift: &ndarray::Array1<f32>,
) -> Array2<f32> {
    let per: usize = in_shape[1..].iter().product();
    x.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            let row = row.as_slice_mut().expect("standard layout");
            for ((chunk, &a), &b) in row.chunks_mut(per).zip(scale).zip(shift) {
                for v in chunk {
                    *v = a * *v + b;
                }
            }
        });
    x
}

/// Applies an activation row by row.
pub(crate) fn activate(mut x: Array2<f32>, a: Activation) -> Array2<f32> {
    match a {
        Activation::Relu => x.mapv_inplace(|v| v.max(0.0)),
        Activation::Linear => {}
        Activation::Softmax => x
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| {
                let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row /= s;
            }),
    }
    x
}
