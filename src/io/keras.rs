//! Keras `.h5` model files, read directly: Keras 2 (TensorFlow ≤ 2.15) and Keras 3's legacy HDF5
//! format, Sequential and Functional models that form a chain of layers.
//!
//! ```text
//! /                                   attrs: keras_version, backend, model_config (JSON)
//! /model_weights/<layer>              attr weight_names: paths relative to this group
//! /model_weights/<layer>/<layer>/kernel:0    Keras 2 (Keras 3 writes no ":0" suffix)
//! /optimizer_weights/…                skipped
//! ```
//!
//! Keras is channels-last: images are (H, W, C), kernels (kh, kw, C_in, C_out) and a Dense kernel
//! (inputs, outputs). somnet is NCHW, so kernels are transposed and the first Dense layer after a
//! Flatten has its input rows permuted from H, W, C order to C, H, W order; per-feature layers
//! between the Flatten and that Dense (batch norm) are permuted the same way. Without this the
//! network loads without complaint and predicts garbage.
//!
//! ```no_run
//! let model = somnet::io::keras::load(std::path::Path::new("lenet.h5"))?;
//! println!("Keras {} ({}): {} layers", model.keras_version, model.class_name, model.ann.layers.len());
//! # Ok::<(), somnet::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use hdf5_metno as hdf5;
use ndarray::{Array1, Array2, Array4, ArrayD};
use serde_json::Value;

use super::h5::{self, Ctx};
use crate::ann::{Activation, Ann, BatchNorm, Conv2d, Dense, DropoutMode, Layer, Padding, Pool};
use crate::error::{Error, Result};

/// A Keras model read from its `.h5` file.
#[derive(Debug, Clone)]
pub struct KerasModel {
    /// The network in somnet's layout (NCHW).
    pub ann: Ann,
    /// Root attribute `keras_version` (empty when absent).
    pub keras_version: String,
    /// Root attribute `backend` (empty when absent).
    pub backend: String,
    /// `Sequential`, `Functional` or `Model`.
    pub class_name: String,
    /// The model's own name.
    pub name: String,
}

/// Whether `path` is an HDF5 file with a root attribute `model_config` or `keras_version`.
pub fn is_keras_file(path: &Path) -> bool {
    h5::open(path)
        .map(|f| f.attr("model_config").is_ok() || f.attr("keras_version").is_ok())
        .unwrap_or(false)
}

/// Opens `path` as HDF5, or says why it is not one (missing, a Keras 3 zip archive, another
/// format).
pub(crate) fn open_container(path: &Path) -> Result<hdf5::File> {
    if is_zip(path) {
        return Err(Error::file(
            path,
            "this is a Keras 3 '.keras' zip archive, not an HDF5 file: save the model with \
             model.save(\"model.h5\") or export it with converters/keras_export.py",
        ));
    }
    h5::open(path)
}

/// Reads a Keras `.h5` model file (architecture and weights) into somnet's network.
pub fn load(path: &Path) -> Result<KerasModel> {
    let file = open_container(path)?;
    let root = Ctx::root(path);
    let config_text = h5::read_str_attr(&file, &root, "model_config").map_err(|_| {
        root.err(
            "missing attribute 'model_config': not a Keras model file (files written by \
             save_weights() hold no architecture; save the whole model with model.save(\"x.h5\"))",
        )
    })?;
    let config: Value = serde_json::from_str(&config_text)
        .map_err(|e| root.err(format!("attribute 'model_config' is not valid JSON: {e}")))?;
    let keras_version = h5::read_str_attr(&file, &root, "keras_version").unwrap_or_default();
    let backend = h5::read_str_attr(&file, &root, "backend").unwrap_or_default();
    let class_name = str_field(&config, "class_name")
        .ok_or_else(|| root.err("model_config has no 'class_name'"))?
        .to_string();
    let model_cfg = config
        .get("config")
        .ok_or_else(|| root.err("model_config has no 'config'"))?;
    let name = model_cfg
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("model")
        .to_string();
    let (klayers, input_shape) = match class_name.as_str() {
        "Sequential" => sequential(model_cfg, &root)?,
        "Functional" | "Model" => functional(model_cfg, &root)?,
        other => {
            return Err(root.err(format!(
                "model class '{other}' is not supported (Sequential, Functional)"
            )))
        }
    };
    let weights = file
        .group("model_weights")
        .map_err(|_| root.err("missing group 'model_weights' (the file holds no weights)"))?;
    let wctx = root.child("model_weights");
    let mut builder = Builder::new(input_shape, &klayers, &root)?;
    for kl in &klayers {
        let vars = LayerWeights::read(&weights, &wctx, kl)?;
        builder.add(kl, vars)?;
    }
    let layers = builder.finish();
    let ann = Ann::new(builder.somnet_input_shape(), layers, DropoutMode::Inverted)
        .map_err(|e| root.err(e))?;
    Ok(KerasModel {
        ann,
        keras_version,
        backend,
        class_name,
        name,
    })
}

fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// One layer of the model's chain, as its config describes it.
#[derive(Debug, Clone)]
struct KLayer {
    class: String,
    name: String,
    config: Value,
}

impl KLayer {
    fn parse(v: &Value, ctx: &Ctx, index: usize) -> Result<KLayer> {
        let class = str_field(v, "class_name")
            .ok_or_else(|| ctx.err(format!("model_config: layer {index} has no 'class_name'")))?
            .to_string();
        let config = v.get("config").cloned().unwrap_or(Value::Null);
        let name = str_field(&config, "name")
            .or_else(|| str_field(v, "name"))
            .ok_or_else(|| ctx.err(format!("model_config: layer {index} ({class}) has no name")))?
            .to_string();
        Ok(KLayer {
            class,
            name,
            config,
        })
    }

    fn err(&self, ctx: &Ctx, message: impl std::fmt::Display) -> Error {
        ctx.err(format!("layer '{}' ({}): {message}", self.name, self.class))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    fn usize_pair(&self, ctx: &Ctx, key: &str) -> Result<Option<(usize, usize)>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let as_usize = |v: &Value| v.as_u64().filter(|&x| x >= 1).map(|x| x as usize);
        let pair = match v {
            Value::Array(a) if a.len() == 2 => as_usize(&a[0]).zip(as_usize(&a[1])),
            Value::Array(a) if a.len() == 1 => as_usize(&a[0]).map(|x| (x, x)),
            other => as_usize(other).map(|x| (x, x)),
        };
        pair.map(Some).ok_or_else(|| {
            self.err(
                ctx,
                format!("'{key}' is {v}, expected one or two positive integers"),
            )
        })
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    fn number(&self, ctx: &Ctx, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(ctx, format!("'{key}' is {v}, expected a number"))),
        }
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }
}

/// The layers and the per-sample input shape (Keras order, batch axis removed) of a Sequential.
fn sequential(cfg: &Value, ctx: &Ctx) -> Result<(Vec<KLayer>, Option<Vec<usize>>)> {
    // Keras < 2.2 wrote the layer list itself as the config.
    let list = cfg
        .get("layers")
        .or(Some(cfg))
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("model_config: Sequential without a 'layers' list"))?;
    let mut layers = list
        .iter()
        .enumerate()
        .map(|(i, v)| KLayer::parse(v, ctx, i))
        .collect::<Result<Vec<_>>>()?;
    let mut shape = None;
    if let Some(first) = layers.first() {
        shape = batch_shape(&first.config);
    }
    if shape.is_none() {
        shape = cfg.get("build_input_shape").and_then(shape_without_batch);
    }
    if layers.first().is_some_and(|l| l.class == "InputLayer") {
        layers.remove(0);
    }
    Ok((layers, shape))
}

fn shape_without_batch(v: &Value) -> Option<Vec<usize>> {
    let dims = v.as_array()?;
    dims.iter()
        .skip(1)
        .map(|d| d.as_u64().map(|x| x as usize))
        .collect()
}

fn batch_shape(cfg: &Value) -> Option<Vec<usize>> {
    cfg.get("batch_input_shape")
        .or_else(|| cfg.get("batch_shape"))
        .and_then(shape_without_batch)
}

/// Names of the layers a layer's inbound nodes refer to, one list per node. Keras 2 writes
/// `[[[name, node, tensor, {kwargs}], …], …]`; Keras 3 writes `[{"args": [tensor, …], "kwargs":
/// {…}}, …]` where each tensor carries `config.keras_history = [name, node, tensor]`.
fn inbound(layer: &Value) -> Vec<Vec<String>> {
    fn histories(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(h) = map.get("keras_history").and_then(Value::as_array) {
                    if let Some(name) = h.first().and_then(Value::as_str) {
                        out.push(name.to_string());
                    }
                    return;
                }
                map.values().for_each(|x| histories(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| histories(x, out)),
            _ => {}
        }
    }
    let Some(nodes) = layer.get("inbound_nodes").and_then(Value::as_array) else {
        return Vec::new();
    };
    nodes
        .iter()
        .map(|node| {
            let mut names = Vec::new();
            match node {
                Value::Array(entries) => {
                    for e in entries {
                        if let Some(name) = e.get(0).and_then(Value::as_str) {
                            names.push(name.to_string());
                        }
                    }
                }
                other => histories(other, &mut names),
            }
            names
        })
        .collect()
}

/// `[[name, 0, 0], …]` or (Keras 3, one tensor) `[name, 0, 0]`.
fn endpoint_names(v: Option<&Value>) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) if a.first().is_some_and(Value::is_string) => {
            vec![a[0].as_str().unwrap_or_default().to_string()]
        }
        Some(a) => a
            .iter()
            .filter_map(|e| e.get(0).and_then(Value::as_str).map(str::to_string))
            .collect(),
        None => Vec::new(),
    }
}

/// The chain of a Functional model, from its input to its output.
fn functional(cfg: &Value, ctx: &Ctx) -> Result<(Vec<KLayer>, Option<Vec<usize>>)> {
    let list = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("model_config: Functional model without a 'layers' list"))?;
    let inputs = endpoint_names(cfg.get("input_layers"));
    let outputs = endpoint_names(cfg.get("output_layers"));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(ctx.err(format!(
            "model_config: the model has inputs {inputs:?} and outputs {outputs:?}; only a chain \
             with one input and one output is supported yet"
        )));
    }
    let mut layers = HashMap::new();
    let mut order = Vec::new();
    let mut pred: HashMap<String, String> = HashMap::new();
    let mut consumers: HashMap<String, Vec<String>> = HashMap::new();
    for (i, v) in list.iter().enumerate() {
        let kl = KLayer::parse(v, ctx, i)?;
        let nodes = inbound(v);
        if nodes.len() > 1 {
            return Err(kl.err(
                ctx,
                format!(
                    "the layer is called {} times (a shared layer); only a chain of layers each \
                     used once is supported yet",
                    nodes.len()
                ),
            ));
        }
        if let Some(node) = nodes.first() {
            if node.len() != 1 {
                return Err(kl.err(
                    ctx,
                    format!(
                        "the layer takes {} inputs ({}): branching graphs are not supported yet",
                        node.len(),
                        node.join(", ")
                    ),
                ));
            }
            pred.insert(kl.name.clone(), node[0].clone());
            consumers
                .entry(node[0].clone())
                .or_default()
                .push(kl.name.clone());
        }
        order.push(kl.name.clone());
        layers.insert(kl.name.clone(), kl);
    }
    for name in &order {
        if let Some(c) = consumers.get(name).filter(|c| c.len() > 1) {
            return Err(layers[name].err(
                ctx,
                format!(
                    "its output feeds {} layers ({}): branching graphs are not supported yet",
                    c.len(),
                    c.join(", ")
                ),
            ));
        }
    }
    let mut chain = vec![outputs[0].clone()];
    while chain.last() != Some(&inputs[0]) {
        let last = chain.last().expect("chain starts non-empty");
        let Some(p) = pred.get(last) else {
            return Err(ctx.err(format!(
                "model_config: layer '{last}' is not connected to the input '{}'",
                inputs[0]
            )));
        };
        if chain.contains(p) || chain.len() > order.len() {
            return Err(ctx.err("model_config: the layer graph has a cycle"));
        }
        chain.push(p.clone());
    }
    chain.reverse();
    if let Some(off) = order.iter().find(|n| !chain.contains(n)) {
        return Err(layers[off].err(
            ctx,
            "the layer is not on the path from the input to the output: branching graphs are not \
             supported yet",
        ));
    }
    let input = layers.get(&inputs[0]).ok_or_else(|| {
        ctx.err(format!(
            "model_config: input layer '{}' not found",
            inputs[0]
        ))
    })?;
    let shape = batch_shape(&input.config);
    let chain = chain
        .iter()
        .filter(|n| layers[*n].class != "InputLayer")
        .map(|n| layers[n].clone())
        .collect();
    Ok((chain, shape))
}

/// The weight datasets of one layer, by variable name (`kernel`, `bias`, `gamma`, …).
struct LayerWeights {
    vars: HashMap<String, (ArrayD<f32>, String)>,
}

impl LayerWeights {
    fn read(weights: &hdf5::Group, wctx: &Ctx, kl: &KLayer) -> Result<LayerWeights> {
        let mut vars = HashMap::new();
        let Ok(group) = weights.group(&kl.name) else {
            return Ok(LayerWeights { vars });
        };
        let gctx = wctx.child(&kl.name);
        let names = h5::read_str_list_attr(&group, &gctx, "weight_names")?;
        for wname in names {
            let object = format!("{}/{wname}", gctx.object);
            let ds = group.dataset(&wname).map_err(|_| {
                kl.err(
                    &gctx,
                    format!(
                    "weight '{wname}' is listed in weight_names but the dataset {object} is missing"
                ),
                )
            })?;
            let array = ds.read_dyn::<f32>().map_err(|e| {
                kl.err(
                    &gctx,
                    format!("dataset {object} cannot be read as float32: {e}"),
                )
            })?;
            if let Some(i) = array.iter().position(|x| !x.is_finite()) {
                return Err(kl.err(
                    wctx,
                    format!(
                        "dataset {object} holds a non-finite value ({}) at flat index {i}",
                        array.iter().nth(i).expect("index found")
                    ),
                ));
            }
            let short = wname
                .rsplit('/')
                .next()
                .unwrap_or(&wname)
                .trim_end_matches(":0")
                .to_string();
            vars.insert(short, (array, object));
        }
        Ok(LayerWeights { vars })
    }

    /// The variable `name`, checked against `shape`.
    fn take(&mut self, kl: &KLayer, ctx: &Ctx, name: &str, shape: &[usize]) -> Result<ArrayD<f32>> {
        let (array, object) = self.vars.remove(name).ok_or_else(|| {
            kl.err(
                ctx,
                format!("weight '{name}' (shape {shape:?}) is missing from /model_weights"),
            )
        })?;
        if array.shape() != shape {
            return Err(kl.err(
                ctx,
                format!(
                    "dataset {object} has shape {:?}, expected {shape:?}",
                    array.shape()
                ),
            ));
        }
        Ok(array)
    }

    fn take_vec(&mut self, kl: &KLayer, ctx: &Ctx, name: &str, n: usize) -> Result<Array1<f32>> {
        let a = self.take(kl, ctx, name, &[n])?;
        Ok(a.into_iter().collect())
    }

    fn none_left(&self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        match self.vars.keys().next() {
            None => Ok(()),
            Some(extra) => Err(kl.err(
                ctx,
                format!("unexpected weight '{extra}' for this layer class"),
            )),
        }
    }
}

/// Shape between layers, in Keras' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flat(usize),
    /// (H, W, C).
    Image(usize, usize, usize),
}

/// Turns Keras layers into somnet layers, tracking the shape and the pending Flatten permutation.
struct Builder {
    /// Where errors point: the file's `model_config`.
    ctx: Ctx,
    input: Shape,
    shape: Shape,
    /// After a Flatten of an (H, W, C) image: the order of Keras' features, until a Dense takes it.
    pending: Option<(usize, usize, usize)>,
    layers: Vec<(String, Layer)>,
}

impl Builder {
    fn new(input: Option<Vec<usize>>, layers: &[KLayer], ctx: &Ctx) -> Result<Builder> {
        let dims = input.ok_or_else(|| {
            ctx.err(
                "model_config gives no input shape (no InputLayer, batch_input_shape or \
                 build_input_shape)",
            )
        })?;
        let input = match dims.as_slice() {
            [f] => Shape::Flat(*f),
            // (H, W) images without a channel axis: one channel.
            [h, w] => Shape::Image(*h, *w, 1),
            [h, w, c] => Shape::Image(*h, *w, *c),
            other => {
                let first = layers.first().map_or("input", |l| l.name.as_str());
                return Err(ctx.err(format!(
                    "layer '{first}': input shape {other:?} is not supported (features, \
                     (H, W) or (H, W, C) with known sizes)"
                )));
            }
        };
        if matches!(
            input,
            Shape::Flat(0) | Shape::Image(0, _, _) | Shape::Image(_, 0, _)
        ) || matches!(input, Shape::Image(_, _, 0))
        {
            return Err(ctx.err(format!("input shape {dims:?} has an empty axis")));
        }
        Ok(Builder {
            ctx: ctx.child("model_config"),
            input,
            shape: input,
            pending: None,
            layers: Vec::new(),
        })
    }

    fn somnet_input_shape(&self) -> Vec<usize> {
        match self.input {
            Shape::Flat(f) => vec![f],
            Shape::Image(h, w, c) => vec![c, h, w],
        }
    }

    fn push(&mut self, name: &str, layer: Layer) {
        let mut unique = name.to_string();
        let mut k = 1;
        while self.layers.iter().any(|(n, _)| *n == unique) {
            unique = format!("{name}_{k}");
            k += 1;
        }
        self.layers.push((unique, layer));
    }

    /// The activation a Dense/Conv2D/Activation layer's config names.
    fn activation(&mut self, kl: &KLayer, ctx: &Ctx, fused: bool) -> Result<()> {
        let name = match kl.get("activation") {
            None => "linear".to_string(),
            Some(Value::String(s)) => s.clone(),
            // Keras 3 may serialise a built-in activation as an object naming it.
            Some(v) => v
                .get("config")
                .and_then(|c| c.as_str().or_else(|| str_field(c, "name")))
                .or_else(|| str_field(v, "class_name"))
                .unwrap_or("?")
                .to_string(),
        };
        let act = match name.as_str() {
            "linear" | "None" => return Ok(()),
            "relu" => Activation::Relu,
            "softmax" => {
                if matches!(self.shape, Shape::Image(..)) {
                    return Err(kl.err(ctx, "softmax over an image is not supported"));
                }
                Activation::Softmax
            }
            other => {
                return Err(kl.err(
                    ctx,
                    format!("activation '{other}' is not supported (relu, softmax, linear)"),
                ))
            }
        };
        let layer_name = if fused {
            format!("{}_{}", kl.name, name)
        } else {
            kl.name.clone()
        };
        self.push(&layer_name, Layer::Activation(act));
        Ok(())
    }

    fn channels_last(&self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        match kl.string("data_format") {
            None | Some("channels_last") => Ok(()),
            Some(other) => Err(kl.err(
                ctx,
                format!("data_format '{other}' is not supported (channels_last only)"),
            )),
        }
    }

    fn padding(kl: &KLayer, ctx: &Ctx) -> Result<Padding> {
        match kl.string("padding").unwrap_or("valid") {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(kl.err(
                ctx,
                format!("padding '{other}' is not supported (valid, same)"),
            )),
        }
    }

    fn image(&self, kl: &KLayer, ctx: &Ctx) -> Result<(usize, usize, usize)> {
        match self.shape {
            Shape::Image(h, w, c) => Ok((h, w, c)),
            Shape::Flat(f) => Err(kl.err(
                ctx,
                format!("expects an image (H, W, C) input, found {f} features"),
            )),
        }
    }

    fn add(&mut self, kl: &KLayer, mut vars: LayerWeights) -> Result<()> {
        let vars = &mut vars;
        let ctx = &self.ctx.clone();
        match kl.class.as_str() {
            "Dense" => self.dense(kl, ctx, vars)?,
            "Conv2D" | "Convolution2D" => self.conv(kl, ctx, vars)?,
            "AveragePooling2D" | "AvgPool2D" | "MaxPooling2D" | "MaxPool2D" => {
                self.pool(kl, ctx)?
            }
            "Flatten" => {
                self.channels_last(kl, ctx)?;
                if let Shape::Image(h, w, c) = self.shape {
                    self.pending = Some((h, w, c));
                    self.shape = Shape::Flat(h * w * c);
                    self.push(&kl.name, Layer::Flatten);
                }
            }
            "BatchNormalization" => self.batch_norm(kl, ctx, vars)?,
            "Activation" => self.activation(kl, ctx, false)?,
            "ReLU" => {
                let plain = kl.get("max_value").is_none()
                    && kl.number(ctx, "negative_slope", 0.0)? == 0.0
                    && kl.number(ctx, "threshold", 0.0)? == 0.0;
                if !plain {
                    return Err(kl.err(
                        ctx,
                        "ReLU with max_value, negative_slope or threshold is not supported",
                    ));
                }
                self.push(&kl.name, Layer::Activation(Activation::Relu));
            }
            "Softmax" => {
                if matches!(self.shape, Shape::Image(..)) {
                    return Err(kl.err(ctx, "softmax over an image is not supported"));
                }
                self.push(&kl.name, Layer::Activation(Activation::Softmax));
            }
            "Dropout" => {
                let rate = kl.number(ctx, "rate", 0.0)?;
                if !(0.0..1.0).contains(&rate) {
                    return Err(kl.err(ctx, format!("rate {rate} is outside [0, 1)")));
                }
                self.push(&kl.name, Layer::Dropout { rate: rate as f32 });
            }
            "InputLayer" => {}
            other => {
                return Err(kl.err(
                    ctx,
                    format!(
                        "layer class '{other}' is not supported (Dense, Conv2D, \
                         AveragePooling2D, MaxPooling2D, Flatten, BatchNormalization, \
                         Activation, ReLU, Softmax, Dropout, InputLayer)"
                    ),
                ))
            }
        }
        vars.none_left(kl, ctx)
    }

    fn dense(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        let n_in = match self.shape {
            Shape::Flat(f) => f,
            Shape::Image(h, w, c) => {
                return Err(kl.err(
                    ctx,
                    format!(
                        "Dense on an image input ({h}, {w}, {c}) is not supported: add a Flatten"
                    ),
                ))
            }
        };
        let units = kl
            .get("units")
            .and_then(Value::as_u64)
            .filter(|&u| u >= 1)
            .ok_or_else(|| kl.err(ctx, "'units' must be a positive integer"))?
            as usize;
        let kernel = vars.take(kl, ctx, "kernel", &[n_in, units])?;
        let mut weights = Array2::<f32>::zeros((units, n_in));
        let order = self.pending.take().map(hwc_index_of_chw);
        for (j, row) in weights.outer_iter_mut().enumerate() {
            for (f, w) in row.into_iter().enumerate() {
                let src = order.as_ref().map_or(f, |o| o[f]);
                *w = kernel[[src, j]];
            }
        }
        let bias = if kl.flag("use_bias", true) {
            Some(vars.take_vec(kl, ctx, "bias", units)?)
        } else {
            None
        };
        self.push(&kl.name, Layer::Dense(Dense { weights, bias }));
        self.shape = Shape::Flat(units);
        self.activation(kl, ctx, true)
    }

    fn conv(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        self.channels_last(kl, ctx)?;
        let (h, w, c) = self.image(kl, ctx)?;
        if let Some(d) = kl.usize_pair(ctx, "dilation_rate")? {
            if d != (1, 1) {
                return Err(kl.err(
                    ctx,
                    format!("dilation_rate {d:?} is not supported (1, 1 only)"),
                ));
            }
        }
        let groups = kl.number(ctx, "groups", 1.0)?;
        if groups != 1.0 {
            return Err(kl.err(
                ctx,
                format!("groups = {groups} is not supported (grouped convolution; 1 only)"),
            ));
        }
        let filters = kl
            .get("filters")
            .and_then(Value::as_u64)
            .filter(|&u| u >= 1)
            .ok_or_else(|| kl.err(ctx, "'filters' must be a positive integer"))?
            as usize;
        let (kh, kw) = kl
            .usize_pair(ctx, "kernel_size")?
            .ok_or_else(|| kl.err(ctx, "missing 'kernel_size'"))?;
        let stride = kl.usize_pair(ctx, "strides")?.unwrap_or((1, 1));
        let padding = Self::padding(kl, ctx)?;
        let kernel = vars.take(kl, ctx, "kernel", &[kh, kw, c, filters])?;
        let weights =
            Array4::from_shape_fn((filters, c, kh, kw), |(o, i, y, x)| kernel[[y, x, i, o]]);
        let bias = if kl.flag("use_bias", true) {
            Some(vars.take_vec(kl, ctx, "bias", filters)?)
        } else {
            None
        };
        let out = crate::ann::layer::padded_extent(h, kh, stride.0, padding)
            .zip(crate::ann::layer::padded_extent(w, kw, stride.1, padding))
            .ok_or_else(|| {
                kl.err(
                    ctx,
                    format!("a {kh}×{kw} kernel does not fit the {h}×{w} input"),
                )
            })?;
        self.push(
            &kl.name,
            Layer::Conv2d(Conv2d {
                weights,
                bias,
                stride,
                padding,
            }),
        );
        self.shape = Shape::Image(out.0 .0, out.1 .0, filters);
        self.activation(kl, ctx, true)
    }

    fn pool(&mut self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        self.channels_last(kl, ctx)?;
        let (h, w, c) = self.image(kl, ctx)?;
        let size = kl.usize_pair(ctx, "pool_size")?.unwrap_or((2, 2));
        let stride = kl.usize_pair(ctx, "strides")?.unwrap_or(size);
        let padding = Self::padding(kl, ctx)?;
        let out = crate::ann::layer::padded_extent(h, size.0, stride.0, padding)
            .zip(crate::ann::layer::padded_extent(
                w, size.1, stride.1, padding,
            ))
            .ok_or_else(|| {
                kl.err(
                    ctx,
                    format!(
                        "a {}×{} window does not fit the {h}×{w} input",
                        size.0, size.1
                    ),
                )
            })?;
        let pool = Pool {
            size,
            stride,
            padding,
        };
        let layer = if kl.class.starts_with("Max") {
            Layer::MaxPool2d(pool)
        } else {
            Layer::AvgPool2d(pool)
        };
        self.push(&kl.name, layer);
        self.shape = Shape::Image(out.0 .0, out.1 .0, c);
        Ok(())
    }

    fn batch_norm(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        let (n, last_axis) = match self.shape {
            Shape::Flat(f) => (f, 1i64),
            Shape::Image(_, _, c) => (c, 3i64),
        };
        let axes: Vec<i64> = match kl.get("axis") {
            None => vec![-1],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(v) => v.as_i64().into_iter().collect(),
        };
        if axes.len() != 1 || !(axes[0] == -1 || axes[0] == last_axis) {
            return Err(kl.err(
                ctx,
                format!(
                    "axis {axes:?} is not supported: batch normalisation over the channel \
                     (last) axis only"
                ),
            ));
        }
        let mut gamma = if kl.flag("scale", true) {
            vars.take_vec(kl, ctx, "gamma", n)?
        } else {
            Array1::ones(n)
        };
        let mut beta = if kl.flag("center", true) {
            vars.take_vec(kl, ctx, "beta", n)?
        } else {
            Array1::zeros(n)
        };
        let mut mean = vars.take_vec(kl, ctx, "moving_mean", n)?;
        let mut var = vars.take_vec(kl, ctx, "moving_variance", n)?;
        if let Some(dims) = self.pending {
            // Features still in Keras' H, W, C order: put them in C, H, W order.
            let order = hwc_index_of_chw(dims);
            for v in [&mut gamma, &mut beta, &mut mean, &mut var] {
                *v = order.iter().map(|&i| v[i]).collect();
            }
        }
        let eps = kl.number(ctx, "epsilon", 1e-3)? as f32;
        let momentum = kl.number(ctx, "momentum", 0.99)? as f32;
        if eps <= 0.0 || !eps.is_finite() {
            return Err(kl.err(ctx, format!("epsilon {eps} must be positive")));
        }
        self.push(
            &kl.name,
            Layer::BatchNorm(BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
                momentum,
            }),
        );
        Ok(())
    }

    fn finish(&mut self) -> Vec<(String, Layer)> {
        std::mem::take(&mut self.layers)
    }
}

/// For each feature in C, H, W order, its index in Keras' H, W, C flattening.
fn hwc_index_of_chw((h, w, c): (usize, usize, usize)) -> Vec<usize> {
    let mut order = Vec::with_capacity(h * w * c);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                order.push((y * w + x) * c + ch);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_order_maps_chw_to_hwc() {
        // 1×2 image with 3 channels: Keras flattens (y, x, c) as x·3 + c.
        assert_eq!(hwc_index_of_chw((1, 2, 3)), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn inbound_reads_both_keras_generations() {
        let k2: Value =
            serde_json::from_str(r#"{"inbound_nodes": [[["conv", 0, 0, {}]]]}"#).unwrap();
        assert_eq!(inbound(&k2), vec![vec!["conv".to_string()]]);
        let k3: Value = serde_json::from_str(
            r#"{"inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                "config": {"shape": [null, 4], "keras_history": ["dense", 0, 0]}}], "kwargs": {}}]}"#,
        )
        .unwrap();
        assert_eq!(inbound(&k3), vec![vec!["dense".to_string()]]);
    }
}
