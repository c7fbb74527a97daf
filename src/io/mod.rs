//! Files in and out. Nothing here knows about time steps.
//!
//! - [`schema`]: somnet's own HDF5 model files (spec in `converters/SCHEMA.md`).
//! - [`keras`]: Keras `.h5` model files (Keras 2 and 3), read directly into somnet's layout.
//! - [`nir`]: NIR graphs (Neuromorphic Intermediate Representation): `nir.write` files read and
//!   written, recordings in NIR's data layout.
//! - [`sonata`]: engine networks as SONATA circuits for NEST.
//! - [`npy`]: NumPy `.npy` float32 arrays in and out (`somnet simulate`).
//! - [`recording`]: monitors streamed to NIRData HDF5 or `.npz` while a network runs.
//! - [`report`]: the one writer of JSON records and CSV tables.
//! - [`h5`]: small helpers over HDF5 that turn library errors into errors naming the file and the
//!   object.

mod global_heap;
pub mod h5;
pub mod keras;
pub mod nir;
pub mod npy;
pub mod recording;
pub mod report;
pub mod schema;
pub mod sonata;

use std::path::Path;

use crate::error::{Error, Result};

/// Which kind of file a model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFormat {
    /// somnet's own model file.
    Somnet,
    /// A Keras `.h5` file, with the writer's Keras version and backend and the model's class.
    Keras {
        /// Root attribute `keras_version`.
        version: String,
        /// Root attribute `backend`.
        backend: String,
        /// `Sequential` or `Functional`.
        class_name: String,
    },
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelFormat::Somnet => write!(f, "somnet model file"),
            ModelFormat::Keras {
                version,
                backend,
                class_name,
            } => write!(
                f,
                "Keras model file (Keras {version}, backend {backend}, {class_name})"
            ),
        }
    }
}

/// Reads a model from a somnet model file or a Keras `.h5` file, whichever `path` is.
///
/// ```no_run
/// let (model, format) = somnet::io::load_model(std::path::Path::new("lenet.h5"))?;
/// println!("{format}: {} parameters", model.ann.n_params());
/// # Ok::<(), somnet::Error>(())
/// ```
pub fn load_model(path: &Path) -> Result<(schema::ModelFile, ModelFormat)> {
    if schema::is_somnet_file(path) {
        return Ok((schema::load(path)?, ModelFormat::Somnet));
    }
    if keras::is_keras_file(path) {
        let k = keras::load(path)?;
        let format = ModelFormat::Keras {
            version: k.keras_version.clone(),
            backend: k.backend.clone(),
            class_name: k.class_name.clone(),
        };
        let record = serde_json::json!({
            "imported_from": path.display().to_string(),
            "format": format.to_string(),
            "keras_model_name": k.name,
        });
        let provenance = schema::Provenance {
            somnet_version: String::new(),
            record,
        };
        return Ok((
            schema::ModelFile {
                ann: k.ann,
                provenance,
            },
            format,
        ));
    }
    // Neither: a file that is not HDF5 at all gets the reason (missing, a zip archive, another
    // format); an HDF5 file gets the markers each format needs.
    keras::open_container(path)?;
    Err(Error::file(
        path,
        "neither a somnet model file (root attribute 'format' = 'somnet-model') nor a Keras \
         model file (root attribute 'model_config')",
    ))
}

/// `raw` as an identifier of another format (an HDF5 group, a NIR node, a SONATA population):
/// every character but ASCII letters, digits, `_` and those in `keep` replaced by `_`.
///
/// ```
/// assert_eq!(somnet::io::identifier("layer 1 (exc)", "-"), "layer_1__exc_");
/// ```
pub fn identifier(raw: &str, keep: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || keep.contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One [`identifier`] per name, unique and none of them in `taken`: the `i`-th name becomes
/// `<identifier>_<i>` where cleaning made it empty, taken or equal to an earlier one.
///
/// ```
/// let names = somnet::io::unique_identifiers(["a b", "a_b", "input"], "", &["input"]);
/// assert_eq!(names, ["a_b", "a_b_1", "input_2"]);
/// ```
pub fn unique_identifiers<'a>(
    names: impl IntoIterator<Item = &'a str>,
    keep: &str,
    taken: &[&str],
) -> Vec<String> {
    let mut seen: std::collections::BTreeSet<String> =
        taken.iter().map(|s| s.to_string()).collect();
    names
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let mut name = identifier(raw, keep);
            if name.is_empty() || !seen.insert(name.clone()) {
                name = format!("{name}_{i}");
                seen.insert(name.clone());
            }
            name
        })
        .collect()
}
