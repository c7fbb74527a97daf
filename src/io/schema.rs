//! somnet's HDF5 model files, format version 1 (the spec is `converters/SCHEMA.md`).
//!
//! ```text
//! /                      attrs: format = "somnet-model", format_version = 1, somnet_version,
//!                               input_shape (int64[]), dropout_mode, provenance (JSON)
//! /layers/000, 001, …    one group per layer, in order; attrs: name, kind, and the kind's
//!                        hyper-parameters; datasets: the kind's weights (float32);
//!                        `inputs` (int64[], graphs only: −1 the network input, k layer k)
//! ```
//!
//! A chain (every layer reading the one before) has no `inputs` attributes, so its files are
//! those of somnet versions before graphs.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5_metno as hdf5;
use ndarray::{Array1, Array2, Array4, ArrayD, Ix1, Ix2, Ix4};

use super::h5::{self, Ctx};
use crate::ann::{
    Activation, Ann, BatchNorm, Conv2d, Dense, DropoutMode, Layer, Node, Pad, Padding, Pool,
};
use crate::error::{Error, Result};

/// The value of the root attribute `format`.
pub const FORMAT: &str = "somnet-model";
/// The format version this somnet writes and the newest it reads.
pub const FORMAT_VERSION: i64 = 1;

/// Where a model came from (stored as JSON in the root attribute `provenance`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// somnet version that wrote the file.
    pub somnet_version: String,
    /// Free-form record of how the model was made (command, data set, training settings, results).
    pub record: serde_json::Value,
}

/// A model file's content.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// The network.
    pub ann: Ann,
    /// Its provenance.
    pub provenance: Provenance,
}

/// Writes `ann` to `path` (replacing it atomically: a failed write leaves the earlier file),
/// creating its folder if missing.
pub fn save(path: &Path, ann: &Ann, record: serde_json::Value) -> Result<()> {
    ann.validate()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::report::ensure_dir(dir)?;
    }
    super::report::write_atomic(path, |tmp| {
        // The HDF5 file is closed (dropped) inside, before the rename.
        write_model(tmp, path, ann, record)
    })
}

/// Writes the model file to `tmp`; errors name `path`, the file the user asked for.
fn write_model(tmp: &Path, path: &Path, ann: &Ann, record: serde_json::Value) -> Result<()> {
    let file = hdf5::File::create(tmp)
        .map_err(|e| Error::file(path, format!("cannot create HDF5 file ({e})")))?;
    let root = Ctx::root(path);
    h5::write_str_attr(&file, &root, "format", FORMAT)?;
    h5::write_int_attr(&file, &root, "format_version", &[FORMAT_VERSION])?;
    h5::write_str_attr(&file, &root, "somnet_version", crate::VERSION)?;
    h5::write_int_attr(
        &file,
        &root,
        "input_shape",
        &ann.input_shape
            .iter()
            .map(|&v| v as i64)
            .collect::<Vec<_>>(),
    )?;
    h5::write_str_attr(&file, &root, "dropout_mode", dropout_name(ann.dropout_mode))?;
    let prov = Provenance {
        somnet_version: crate::VERSION.to_string(),
        record,
    };
    h5::write_str_attr(
        &file,
        &root,
        "provenance",
        &serde_json::to_string(&prov).expect("JSON values serialise"),
    )?;
    let layers = file
        .create_group("layers")
        .map_err(|e| root.err(format!("creating /layers: {e}")))?;
    let lctx = root.child("layers");
    let chain = ann.is_chain();
    for (i, (layer, name)) in ann.layers.iter().zip(&ann.names).enumerate() {
        let key = format!("{i:03}");
        let g = layers
            .create_group(&key)
            .map_err(|e| lctx.err(format!("creating {key}: {e}")))?;
        let ctx = lctx.child(&key);
        h5::write_str_attr(&g, &ctx, "name", name)?;
        h5::write_str_attr(&g, &ctx, "kind", layer.kind())?;
        if !chain {
            h5::write_int_attr(&g, &ctx, "inputs", &node_numbers(&ann.inputs[i]))?;
        }
        write_layer(&g, &ctx, layer)?;
    }
    drop(layers);
    drop(file); // closing writes HDF5's buffers; then the bytes go to disk before the rename
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn dropout_name(m: DropoutMode) -> &'static str {
    match m {
        DropoutMode::Inverted => "inverted",
        DropoutMode::ScaleAtTest => "scale-at-test",
    }
}

fn padding_name(p: Padding) -> &'static str {
    match p {
        Padding::Valid => "valid",
        Padding::Same => "same",
    }
}

fn write_layer(g: &hdf5::Group, ctx: &Ctx, layer: &Layer) -> Result<()> {
    let pair = |v: (usize, usize)| [v.0 as i64, v.1 as i64];
    match layer {
        Layer::Dense(d) => {
            h5::write_f32(g, ctx, "weights", d.weights.view())?;
            if let Some(b) = &d.bias {
                h5::write_f32(g, ctx, "bias", b.view())?;
            }
        }
        Layer::Conv2d(c) => {
            h5::write_f32(g, ctx, "weights", c.weights.view())?;
            if let Some(b) = &c.bias {
                h5::write_f32(g, ctx, "bias", b.view())?;
            }
            h5::write_int_attr(g, ctx, "stride", &pair(c.stride))?;
            h5::write_str_attr(g, ctx, "padding", padding_name(c.padding))?;
        }
        Layer::AvgPool2d(p) | Layer::MaxPool2d(p) => {
            h5::write_int_attr(g, ctx, "size", &pair(p.size))?;
            h5::write_int_attr(g, ctx, "stride", &pair(p.stride))?;
            h5::write_str_attr(g, ctx, "padding", padding_name(p.padding))?;
        }
        Layer::Flatten => {}
        Layer::BatchNorm(b) => {
            h5::write_f32(g, ctx, "gamma", b.gamma.view())?;
            h5::write_f32(g, ctx, "beta", b.beta.view())?;
            h5::write_f32(g, ctx, "moving_mean", b.mean.view())?;
            h5::write_f32(g, ctx, "moving_variance", b.var.view())?;
            h5::write_f64_attr(g, ctx, "eps", b.eps as f64)?;
            h5::write_f64_attr(g, ctx, "momentum", b.momentum as f64)?;
        }
        Layer::Activation(a) => h5::write_str_attr(
            g,
            ctx,
            "function",
            match a {
                Activation::Relu => "relu",
                Activation::Softmax => "softmax",
                Activation::Linear => "linear",
            },
        )?,
        Layer::Dropout { rate } => h5::write_f64_attr(g, ctx, "rate", *rate as f64)?,
        Layer::Add | Layer::Concatenate | Layer::GlobalAvgPool2d => {}
        Layer::Qcfs(q) => {
            h5::write_int_attr(g, ctx, "levels", &[q.levels as i64])?;
            h5::write_f32(g, ctx, "lambda", ndarray::arr1(&[q.lambda]).view())?;
        }
        Layer::ZeroPad2d(p) => h5::write_int_attr(
            g,
            ctx,
            "pad",
            &[p.top, p.bottom, p.left, p.right].map(|v| v as i64),
        )?,
    }
    Ok(())
}

/// A layer's inputs as stored: −1 for the network input, k for layer k.
pub fn node_numbers(inputs: &[Node]) -> Vec<i64> {
    inputs
        .iter()
        .map(|n| match n {
            Node::Input => -1,
            Node::Layer(j) => *j as i64,
        })
        .collect()
}

/// The inputs of layer `index` from their stored numbers (absent: the layer before it, as in a
/// chain); `g` labels errors.
fn read_inputs(g: &impl LayerFields, index: usize) -> Result<Vec<Node>> {
    let Some(numbers) = g.opt_num_attr("inputs")? else {
        return Ok(vec![if index == 0 {
            Node::Input
        } else {
            Node::Layer(index - 1)
        }]);
    };
    numbers
        .iter()
        .map(|&v| match v {
            -1.0 => Ok(Node::Input),
            v if v >= 0.0 && v.fract() == 0.0 && (v as usize) < index => Ok(Node::Layer(v as usize)),
            v => Err(g.err(format!(
                "attribute 'inputs' holds {v}: expected −1 (the network input) or the number of an earlier layer (0…{})",
                index as i64 - 1
            ))),
        })
        .collect()
}

/// Whether `path` is a somnet model file (an HDF5 file whose root says `format = somnet-model`).
pub fn is_somnet_file(path: &Path) -> bool {
    h5::open(path)
        .ok()
        .and_then(|f| h5::read_str_attr(&f, &Ctx::root(path), "format").ok())
        .is_some_and(|f| f == FORMAT)
}

/// Reads a model file written by [`save`] (or by the exporters in `converters/`).
pub fn load(path: &Path) -> Result<ModelFile> {
    let file = h5::open(path)?;
    let root = Ctx::root(path);
    let format = h5::read_str_attr(&file, &root, "format")?;
    if format != FORMAT {
        return Err(root.err(format!(
            "attribute 'format' is '{format}', expected '{FORMAT}'"
        )));
    }
    let version = h5::read_num_attr(&file, &root, "format_version")?;
    match version.as_slice() {
        [v] if *v as i64 == FORMAT_VERSION => {}
        [v] => {
            return Err(root.err(format!(
                "format_version {v} is not supported: this somnet reads version {FORMAT_VERSION}"
            )))
        }
        _ => return Err(root.err("attribute 'format_version' must be one integer")),
    }
    let input_shape: Vec<usize> = h5::read_num_attr(&file, &root, "input_shape")?
        .iter()
        .map(|&v| (v >= 1.0 && v.fract() == 0.0).then_some(v as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| root.err("attribute 'input_shape' must hold positive integers"))?;
    let dropout_mode = match h5::read_str_attr(&file, &root, "dropout_mode")?.as_str() {
        "inverted" => DropoutMode::Inverted,
        "scale-at-test" => DropoutMode::ScaleAtTest,
        other => {
            return Err(root.err(format!(
                "attribute 'dropout_mode' is '{other}', expected 'inverted' or 'scale-at-test'"
            )))
        }
    };
    let provenance = match h5::read_str_attr(&file, &root, "provenance") {
        Ok(s) => serde_json::from_str(&s)
            .map_err(|e| root.err(format!("attribute 'provenance' is not valid JSON: {e}")))?,
        Err(_) => Provenance::default(),
    };
    let layers = file
        .group("layers")
        .map_err(|_| root.err("missing group 'layers'"))?;
    let lctx = root.child("layers");
    let mut keys = layers.member_names().map_err(|e| lctx.err(e))?;
    keys.sort();
    for (i, k) in keys.iter().enumerate() {
        if *k != format!("{i:03}") {
            return Err(lctx.err(format!(
                "layer groups must be 000, 001, … in order; found '{k}' at position {i}"
            )));
        }
    }
    let mut named = Vec::with_capacity(keys.len());
    for key in &keys {
        let g = layers
            .group(key)
            .map_err(|_| lctx.err(format!("'{key}' is not a group")))?;
        let ctx = lctx.child(key);
        let name = h5::read_str_attr(&g, &ctx, "name")?;
        let ctx = Ctx {
            path: ctx.path.clone(),
            object: format!("{} (layer '{name}')", ctx.object),
        };
        let fields = (&g, &ctx);
        named.push((
            name,
            read_layer(&fields)?,
            read_inputs(&fields, named.len())?,
        ));
    }
    let ann = Ann::graph(input_shape, named, dropout_mode)
        .map_err(|e| Error::file(path, e.to_string()))?;
    Ok(ModelFile { ann, provenance })
}

/// What the layer reader needs from where a layer is stored: an HDF5 group of a model file, or
/// a [`LayerRecord`] built in memory (the Python package's PyTorch tracer). One reader for both
/// keeps a traced network and an exported file the same network.
trait LayerFields {
    /// An error about this layer, naming it.
    fn err(&self, message: String) -> Error;
    /// The string attribute `name`.
    fn str_attr(&self, name: &str) -> Result<String>;
    /// The numeric attribute `name`, as numbers.
    fn num_attr(&self, name: &str) -> Result<Vec<f64>>;
    /// The float32 dataset `name`.
    fn array(&self, name: &str) -> Result<ArrayD<f32>>;
    /// Whether the dataset `name` is present.
    fn has_array(&self, name: &str) -> bool;
    /// The numeric attribute `name` if it is present.
    fn opt_num_attr(&self, name: &str) -> Result<Option<Vec<f64>>>;
}

impl LayerFields for (&hdf5::Group, &Ctx) {
    fn err(&self, message: String) -> Error {
        self.1.err(message)
    }
    fn str_attr(&self, name: &str) -> Result<String> {
        h5::read_str_attr(self.0, self.1, name)
    }
    fn num_attr(&self, name: &str) -> Result<Vec<f64>> {
        h5::read_num_attr(self.0, self.1, name)
    }
    fn array(&self, name: &str) -> Result<ArrayD<f32>> {
        h5::read_f32(self.0, self.1, name)
    }
    fn has_array(&self, name: &str) -> bool {
        self.0.link_exists(name)
    }
    fn opt_num_attr(&self, name: &str) -> Result<Option<Vec<f64>>> {
        if self.0.attr(name).is_err() {
            return Ok(None);
        }
        self.num_attr(name).map(Some)
    }
}

/// One layer described in memory exactly as a model file stores it (`converters/SCHEMA.md`):
/// its kind, string attributes (`padding`, `function`), numeric attributes (`stride`, `size`,
/// `eps`, `momentum`, `rate`, `pad`, and `inputs` in a graph) and float32 datasets (`weights`,
/// `bias`, `gamma`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerRecord {
    /// Layer name (unique in the model).
    pub name: String,
    /// Layer kind: dense, conv2d, avgpool2d, maxpool2d, flatten, batchnorm, activation, dropout,
    /// add, concatenate, globalavgpool2d, zeropad2d, qcfs.
    pub kind: String,
    /// String attributes.
    pub strings: BTreeMap<String, String>,
    /// Numeric attributes.
    pub numbers: BTreeMap<String, Vec<f64>>,
    /// Datasets.
    pub arrays: BTreeMap<String, ArrayD<f32>>,
}

/// A whole model described in memory: what [`load`] reads from a file, built by a tracer instead.
///
/// ```
/// use somnet::io::schema::{LayerRecord, ModelRecord};
/// let dense = LayerRecord {
///     name: "fc".into(),
///     kind: "dense".into(),
///     arrays: [("weights".to_string(), ndarray::ArrayD::zeros(vec![3, 4]))].into(),
///     ..Default::default()
/// };
/// let record = ModelRecord { input_shape: vec![4], layers: vec![dense], ..Default::default() };
/// let ann = record.to_ann("example")?;
/// assert_eq!(ann.output_features(), 3);
/// # Ok::<(), somnet::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRecord {
    /// Per-sample input shape, `[C, H, W]` or `[F]`.
    pub input_shape: Vec<usize>,
    /// Test-time convention of the dropout layers.
    pub dropout_mode: DropoutMode,
    /// Layers in order.
    pub layers: Vec<LayerRecord>,
}

impl ModelRecord {
    /// The network, checked as a file's would be; errors name `source` (what the record was
    /// made from, e.g. a PyTorch module) and the layer.
    pub fn to_ann(&self, source: &str) -> Result<Ann> {
        let named = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let fields = (l, source);
                Ok((
                    l.name.clone(),
                    read_layer(&fields)?,
                    read_inputs(&fields, i)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ann::graph(self.input_shape.clone(), named, self.dropout_mode).map_err(|e| Error::Model {
            model: source.to_string(),
            message: e.to_string(),
        })
    }
}

impl LayerFields for (&LayerRecord, &str) {
    fn err(&self, message: String) -> Error {
        Error::Model {
            model: self.1.to_string(),
            message: format!("layer '{}': {message}", self.0.name),
        }
    }
    fn str_attr(&self, name: &str) -> Result<String> {
        if name == "kind" {
            return Ok(self.0.kind.clone());
        }
        self.0
            .strings
            .get(name)
            .cloned()
            .ok_or_else(|| self.err(format!("missing attribute '{name}'")))
    }
    fn num_attr(&self, name: &str) -> Result<Vec<f64>> {
        self.0
            .numbers
            .get(name)
            .cloned()
            .ok_or_else(|| self.err(format!("missing attribute '{name}'")))
    }
    fn array(&self, name: &str) -> Result<ArrayD<f32>> {
        let a = self
            .0
            .arrays
            .get(name)
            .ok_or_else(|| self.err(format!("missing dataset '{name}'")))?;
        if let Some(i) = a.iter().position(|v| !v.is_finite()) {
            return Err(self.err(format!(
                "dataset '{name}' holds a non-finite value at flat index {i}"
            )));
        }
        Ok(a.clone())
    }
    fn has_array(&self, name: &str) -> bool {
        self.0.arrays.contains_key(name)
    }
    fn opt_num_attr(&self, name: &str) -> Result<Option<Vec<f64>>> {
        Ok(self.0.numbers.get(name).cloned())
    }
}

fn read_layer(g: &impl LayerFields) -> Result<Layer> {
    let kind = g.str_attr("kind")?;
    let pair = |name: &str| -> Result<(usize, usize)> {
        match g.num_attr(name)?.as_slice() {
            [a, b] if *a >= 1.0 && *b >= 1.0 && a.fract() == 0.0 && b.fract() == 0.0 => {
                Ok((*a as usize, *b as usize))
            }
            other => Err(g.err(format!(
                "attribute '{name}' is {other:?}, expected two positive integers"
            ))),
        }
    };
    let padding = || -> Result<Padding> {
        match g.str_attr("padding")?.as_str() {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(g.err(format!(
                "padding '{other}' is not supported (expected 'valid' or 'same')"
            ))),
        }
    };
    let vector = |name: &str, len: usize| -> Result<Array1<f32>> {
        let a = g.array(name)?;
        if a.shape() != [len] {
            return Err(g.err(format!(
                "dataset '{name}' has shape {:?}, expected [{len}]",
                a.shape()
            )));
        }
        Ok(a.into_dimensionality::<Ix1>().expect("shape checked"))
    };
    let scalar = |name: &str| -> Result<f32> {
        match g.num_attr(name)?.as_slice() {
            [v] if v.is_finite() => Ok(*v as f32),
            other => Err(g.err(format!(
                "attribute '{name}' is {other:?}, expected one number"
            ))),
        }
    };
    Ok(match kind.as_str() {
        "dense" => {
            let w = g.array("weights")?;
            let w: Array2<f32> = w.into_dimensionality::<Ix2>().map_err(|_| g.err("dataset 'weights' must be 2-D (outputs, inputs)".into()))?;
            let bias = if g.has_array("bias") { Some(vector("bias", w.nrows())?) } else { None };
            Layer::Dense(Dense { weights: w, bias })
        }
        "conv2d" => {
            let w = g.array("weights")?;
            let w: Array4<f32> = w.into_dimensionality::<Ix4>().map_err(|_| g.err("dataset 'weights' must be 4-D (out channels, in channels, kh, kw)".into()))?;
            let bias = if g.has_array("bias") { Some(vector("bias", w.dim().0)?) } else { None };
            Layer::Conv2d(Conv2d { weights: w, bias, stride: pair("stride")?, padding: padding()? })
        }
        "avgpool2d" | "maxpool2d" => {
            let p = Pool { size: pair("size")?, stride: pair("stride")?, padding: padding()? };
            if kind == "avgpool2d" {
                Layer::AvgPool2d(p)
            } else {
                Layer::MaxPool2d(p)
            }
        }
        "flatten" => Layer::Flatten,
        "batchnorm" => {
            let gamma = g.array("gamma")?;
            let n = gamma.len();
            Layer::BatchNorm(BatchNorm {
                gamma: vector("gamma", n)?,
                beta: vector("beta", n)?,
                mean: vector("moving_mean", n)?,
                var: vector("moving_variance", n)?,
                eps: scalar("eps")?,
                momentum: scalar("momentum")?,
            })
        }
        "activation" => Layer::Activation(match g.str_attr("function")?.as_str() {
            "relu" => Activation::Relu,
            "softmax" => Activation::Softmax,
            "linear" => Activation::Linear,
            other => return Err(g.err(format!("activation '{other}' is not supported (relu, softmax, linear)"))),
        }),
        "dropout" => Layer::Dropout { rate: scalar("rate")? },
        "add" => Layer::Add,
        "concatenate" => Layer::Concatenate,
        "globalavgpool2d" => Layer::GlobalAvgPool2d,
        "qcfs" => {
            let lambda = vector("lambda", 1)?[0];
            let levels = match g.num_attr("levels")?.as_slice() {
                [l] if *l >= 1.0 && *l <= 1e6 && l.fract() == 0.0 => *l as u32,
                other => return Err(g.err(format!("attribute 'levels' is {other:?}, expected one integer in 1…10⁶"))),
            };
            Layer::Qcfs(crate::ann::qcfs::Qcfs { levels, lambda })
        }
        "zeropad2d" => match g.num_attr("pad")?.as_slice() {
            [t, b, l, r] if [t, b, l, r].iter().all(|v| **v >= 0.0 && v.fract() == 0.0 && **v <= 1e6) => {
                Layer::ZeroPad2d(Pad { top: *t as usize, bottom: *b as usize, left: *l as usize, right: *r as usize })
            }
            other => return Err(g.err(format!("attribute 'pad' is {other:?}, expected four integers in 0…10⁶ (top, bottom, left, right)"))),
        },
        other => return Err(g.err(format!("layer kind '{other}' is not supported (dense, conv2d, avgpool2d, maxpool2d, flatten, batchnorm, activation, dropout, add, concatenate, globalavgpool2d, zeropad2d, qcfs)"))),
    })
}
