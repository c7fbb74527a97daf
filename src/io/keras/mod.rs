//! Keras `.h5` model files, read directly: Keras 2 (TensorFlow ≤ 2.15) and Keras 3's legacy HDF5
//! format, Sequential models and Functional graphs (residual Add, Concatenate, fan-out) with one
//! input and one output.
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
use ndarray::ArrayD;
use serde_json::Value;

mod builder;
mod config;
mod layout;
mod weights;

use builder::Builder;
use config::{functional, sequential, str_field};
use weights::LayerWeights;

use super::h5::{self, Ctx};
use crate::ann::{Ann, DropoutMode};
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
    let weights = file
        .group("model_weights")
        .map_err(|_| root.err("missing group 'model_weights' (the file holds no weights)"))?;
    let wctx = root.child("model_weights");
    build(&config, keras_version, backend, &root, |kl| {
        LayerWeights::read(&weights, &wctx, kl)
    })
}

/// The weights of a model in memory: for each layer name, its variables as (name, array) in
/// Keras' layout (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`; a path
/// such as `dense/kernel` counts by its last part).
pub type WeightMap = HashMap<String, Vec<(String, ArrayD<f32>)>>;

/// Builds somnet's network from a Keras model held in memory: `config` is what a `.h5` file
/// stores as `model_config` (`{"class_name": …, "config": model.get_config()}`) and `weights`
/// the layers' variables. The same reader as [`load`], so a live model and its saved file give the
/// same network; errors name `source` and the layer.
pub fn from_config(
    config: &Value,
    keras_version: &str,
    backend: &str,
    mut weights: WeightMap,
    source: &str,
) -> Result<KerasModel> {
    let root = Ctx::root(Path::new(source));
    build(
        config,
        keras_version.to_string(),
        backend.to_string(),
        &root,
        |kl| {
            // A nested model's variables are listed under it; each of its layers takes its own.
            let vars = match &kl.nested {
                None => weights.remove(&kl.name).unwrap_or_default(),
                Some((group, _)) => weights
                    .get(group)
                    .map(|v| {
                        v.iter()
                            .filter(|(w, _)| weights::belongs(kl, w))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            LayerWeights::from_memory(&root, kl, vars)
        },
    )
}

/// The network of `config`, each layer's weights from `weights_of`.
fn build(
    config: &Value,
    keras_version: String,
    backend: String,
    root: &Ctx,
    mut weights_of: impl FnMut(&config::KLayer) -> Result<LayerWeights>,
) -> Result<KerasModel> {
    let class_name = str_field(config, "class_name")
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
        "Sequential" => sequential(model_cfg, root)?,
        "Functional" | "Model" => functional(model_cfg, root)?,
        other => {
            return Err(root.err(format!(
                "model class '{other}' is not supported (Sequential, Functional)"
            )))
        }
    };
    let plain: Vec<config::KLayer> = klayers.iter().map(|w| w.layer.clone()).collect();
    let mut builder = Builder::new(input_shape, &plain, root)?;
    for w in &klayers {
        builder.add(w, weights_of(&w.layer)?)?;
    }
    let layers = builder.finish();
    // The model's output must be the last layer built (a graph has one output).
    if let Some(last) = klayers.last() {
        let out = builder.output_node(&last.layer.name);
        if !layers.is_empty() && out != Some(crate::ann::Node::Layer(layers.len() - 1)) {
            return Err(root.err(format!(
                "model_config: the model's output '{}' adds no layer of its own (an identity on \
                 a branch); somnet needs the output to be the last layer",
                last.layer.name
            )));
        }
    }
    let ann = Ann::graph(builder.somnet_input_shape(), layers, DropoutMode::Inverted)
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
