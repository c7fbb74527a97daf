//! Trained networks (`Model`) and converted spiking networks (`Converted`): loading, building
//! from a traced PyTorch module or a live Keras model, conversion and evaluation. Each function
//! parses its arguments, calls one library function and returns; records travel as JSON text that
//! `somnet/_records.py` turns into typed objects with NumPy fields.

use std::collections::HashMap;
use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use somnet::ann::{Ann, DropoutMode};
use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::{self, Converted};
use somnet::convert::record::ConvertedFileRecord;
use somnet::io::schema::{LayerRecord, ModelRecord};

use crate::errors::{value, OrPy};
use crate::interrupt;

/// A trained network (an ANN), as loaded or traced.
#[pyclass(name = "Model", module = "somnet._somnet", frozen)]
pub struct PyModel {
    pub ann: Ann,
    /// Where it came from (a file, a traced module), for messages and records.
    #[pyo3(get)]
    pub source: String,
    /// Its provenance record (JSON).
    pub provenance: serde_json::Value,
}

#[pymethods]
impl PyModel {
    /// Per-sample input shape: (C, H, W) or (F,).
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        self.ann.input_shape.clone()
    }

    /// Number of outputs (classes).
    #[getter]
    fn output_features(&self) -> usize {
        self.ann.output_features()
    }

    /// One row per layer (name, kind, output shape, parameters, MACs) as JSON.
    fn summary_json(&self) -> String {
        serde_json::to_string(&self.ann.summary()).expect("summaries serialise")
    }

    /// The provenance record as JSON.
    fn provenance_json(&self) -> String {
        self.provenance.to_string()
    }

    /// The network's outputs for `images` (N, features), float32.
    fn forward<'py>(
        &self,
        py: Python<'py>,
        images: PyReadonlyArray2<'py, f32>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = images.as_array();
        let out = interrupt::run(py, threads, 0, None, |_| self.ann.forward(x))?;
        if let Some(e) = out.stopped_by {
            return Err(e);
        }
        Ok(out.value.or_py()?.into_pyarray(py))
    }

    /// The network as model-file bytes (for pickling).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(
            py,
            &ann_bytes(&self.ann, self.provenance.clone())?,
        ))
    }

    /// Writes the network to `path` as a somnet model file.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        somnet::io::schema::save(&path, &self.ann, self.provenance.clone()).or_py()
    }
}

/// A spiking network converted from a trained one (or read from a converted file).
#[pyclass(name = "Converted", module = "somnet._somnet", frozen)]
pub struct PyConverted {
    pub inner: Converted,
    /// The trained network's source.
    #[pyo3(get)]
    pub source: String,
    /// The trained network's provenance (kept in the converted file).
    pub source_provenance: serde_json::Value,
}

#[pymethods]
impl PyConverted {
    /// How it was converted (options, λ per layer, calibration) as JSON.
    fn record_json(&self) -> String {
        serde_json::to_string(&self.inner.record).expect("records serialise")
    }

    /// The normalised network (weights scaled for unit thresholds) as a `Model`.
    fn normalised(&self) -> PyModel {
        PyModel {
            ann: self.inner.ann.clone(),
            source: format!("{} (normalised)", self.source),
            provenance: serde_json::Value::Null,
        }
    }

    /// The network as given (its ANN accuracy and MACs are what evaluations compare with).
    fn original(&self) -> PyModel {
        PyModel {
            ann: self.inner.source().clone(),
            source: self.source.clone(),
            provenance: self.source_provenance.clone(),
        }
    }

    /// The converted network and the trained one as model-file bytes (for pickling).
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
        let converted = ann_bytes(&self.inner.ann, self.file_record())?;
        let original = match &self.inner.original {
            Some(ann) => Some(PyBytes::new(
                py,
                &ann_bytes(ann, self.source_provenance.clone())?,
            )),
            None => None,
        };
        Ok((PyBytes::new(py, &converted), original))
    }

    /// Evaluates the samples of shard `index` of `count` given as `images`/`labels`, the first of
    /// which is sample `first_image` of the whole set, and returns the shard record (JSON); an
    /// interruption raises (a shard is merged whole or not at all).
    #[allow(clippy::too_many_arguments)]
    fn evaluate_part<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        images: PyReadonlyArray2<'py, f32>,
        labels: PyReadonlyArray1<'py, u8>,
        first_image: usize,
        index: usize,
        count: usize,
        steps: u64,
        knobs: Vec<(String, String)>,
        threads: usize,
    ) -> PyResult<String> {
        let (options, data) = self.test_set(name, &images, &labels, &knobs)?;
        let out = interrupt::run(py, threads, data.len() as u64, None, |watch| {
            somnet::convert::shard::evaluate_part(
                &self.inner,
                &data,
                first_image,
                index,
                count,
                steps,
                &options,
                |n| watch.tick(n as u64),
            )
        })?;
        if let Some(e) = out.stopped_by {
            return Err(e);
        }
        let mut shard = out.value.or_py()?;
        shard.evaluation.model = Some(self.source.clone());
        Ok(serde_json::to_string(&shard).expect("records serialise"))
    }

    /// Writes the converted network as a NIR graph to `path`, as `somnet export-nir` does, with
    /// `knobs` (key, value) overriding the conversion's options. Returns the warnings: what a
    /// NIR consumer that ignores somnet's metadata would run differently.
    fn to_nir(&self, path: PathBuf, knobs: Vec<(String, String)>) -> PyResult<Vec<String>> {
        let options = with_knobs(self.inner.record.options.clone(), &knobs)?;
        let export = somnet::convert::to_nir::to_nir(
            &self.inner.ann,
            &options,
            &self.inner.record.layer_scales,
        )
        .or_py()?;
        somnet::io::nir::write(&path, &export.graph).or_py()?;
        Ok(export.warnings)
    }

    /// Writes the converted network to `path`, as `somnet convert` does.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        somnet::io::schema::save(&path, &self.inner.ann, self.file_record()).or_py()
    }

    /// Simulates every image for `steps` steps with the conversion's options, `knobs` (key,
    /// value) overriding them. Returns the evaluation as JSON and the exception that stopped it
    /// early (Ctrl-C), if any; the record then covers the finished images (none when the stop
    /// came before the first image finished).
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        images: PyReadonlyArray2<'py, f32>,
        labels: PyReadonlyArray1<'py, u8>,
        steps: u64,
        knobs: Vec<(String, String)>,
        threads: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(Option<String>, Option<Py<PyAny>>)> {
        let (options, data) = self.test_set(name, &images, &labels, &knobs)?;
        let total = data.len() as u64;
        let out = interrupt::run(py, threads, total, progress, |watch| {
            pipeline::evaluate(&self.inner, &data, steps, &options, |n| {
                watch.tick(n as u64)
            })
        })?;
        let stopped_by = out.stopped_by.map(|err| err.into_value(py).into_any());
        let mut e = match (out.value, stopped_by) {
            // Stopped before any image finished: nothing to keep, the stop is the answer.
            (Err(_), Some(stop)) => return Ok((None, Some(stop))),
            (value, stopped_by) => (value.or_py()?, stopped_by),
        };
        e.0.model = Some(self.source.clone());
        let json = serde_json::to_string(&e.0).expect("records serialise");
        Ok((Some(json), e.1.take()))
    }
}

/// A unique temporary file name (HDF5 writes files; pickling goes through one).
fn temp_path(what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("somnet-{}-{k}-{what}.h5", std::process::id()))
}

/// Writes a network with `record` to a temporary file and returns the file's bytes.
fn ann_bytes(ann: &Ann, record: serde_json::Value) -> PyResult<Vec<u8>> {
    let path = temp_path("out");
    let result = somnet::io::schema::save(&path, ann, record)
        .or_py()
        .and_then(|()| std::fs::read(&path).map_err(|e| value(format!("{}: {e}", path.display()))));
    let _ = std::fs::remove_file(&path);
    result
}

/// Reads a model file given as bytes.
fn file_from_bytes(bytes: &[u8]) -> PyResult<somnet::io::schema::ModelFile> {
    let path = temp_path("in");
    let result = std::fs::write(&path, bytes)
        .map_err(|e| value(format!("{}: {e}", path.display())))
        .and_then(|()| somnet::io::schema::load(&path).or_py());
    let _ = std::fs::remove_file(&path);
    result
}

/// A `Converted` from the bytes of [`PyConverted::to_bytes`] (unpickling).
#[pyfunction]
pub fn converted_from_bytes(
    converted: Vec<u8>,
    original: Option<Vec<u8>>,
    source: String,
) -> PyResult<PyConverted> {
    let file = file_from_bytes(&converted)?;
    let path = std::path::Path::new(&source);
    let mut inner = Converted::from_file(path, &file)
        .or_py()?
        .ok_or_else(|| value("the bytes hold no converted network"))?;
    inner.original = match original {
        Some(b) => Some(file_from_bytes(&b)?.ann),
        None => None,
    };
    let source_provenance = file
        .provenance
        .record
        .get("source_provenance")
        .cloned()
        .unwrap_or_default();
    Ok(PyConverted {
        inner,
        source,
        source_provenance,
    })
}

/// A `Model` from the bytes of [`PyModel::to_bytes`] (unpickling).
#[pyfunction]
pub fn model_from_bytes(bytes: Vec<u8>, source: String) -> PyResult<PyModel> {
    let file = file_from_bytes(&bytes)?;
    Ok(PyModel {
        ann: file.ann,
        source,
        provenance: file.provenance.record,
    })
}

/// The samples `start..stop` of shard `index` of `count` among `n`.
#[pyfunction]
pub fn shard_range(n: usize, index: usize, count: usize) -> PyResult<(usize, usize)> {
    let r = somnet::convert::shard::range(n, index, count).or_py()?;
    Ok((r.start, r.end))
}

/// Merges shard records (JSON, any order) into the evaluation of the whole run (JSON).
#[pyfunction]
pub fn merge_shards(shards: Vec<String>) -> PyResult<String> {
    let shards = shards
        .iter()
        .enumerate()
        .map(|(i, text)| {
            serde_json::from_str(text)
                .map_err(|e| value(format!("shards[{i}]: not a shard record: {e}")))
        })
        .collect::<PyResult<Vec<somnet::convert::shard::Shard>>>()?;
    let e = somnet::convert::shard::merge(shards).or_py()?;
    Ok(serde_json::to_string(&e).expect("records serialise"))
}

impl PyConverted {
    /// The conversion's options with `knobs` set, and the images and labels as a data set.
    fn test_set(
        &self,
        name: &str,
        images: &PyReadonlyArray2<'_, f32>,
        labels: &PyReadonlyArray1<'_, u8>,
        knobs: &[(String, String)],
    ) -> PyResult<(ConvertOptions, somnet::data::Dataset)> {
        let options = with_knobs(self.inner.record.options.clone(), knobs)?;
        let source = self.inner.source();
        let data = crate::arrays::dataset(
            name,
            images,
            Some(labels),
            &source.input_shape,
            source.output_features(),
        )?;
        Ok((options, data))
    }

    /// The provenance record of a converted file, as `somnet convert` writes it.
    fn file_record(&self) -> serde_json::Value {
        let record = ConvertedFileRecord {
            somnet_version: somnet::VERSION.to_string(),
            command: String::new(),
            source_model: self.source.clone(),
            source_provenance: self.source_provenance.clone(),
            conversion: self.inner.record.clone(),
        };
        serde_json::to_value(&record).expect("records serialise")
    }
}

/// `options` with each (key, value) of `knobs` set, then validated.
pub fn with_knobs(
    mut options: ConvertOptions,
    knobs: &[(String, String)],
) -> PyResult<ConvertOptions> {
    for (key, v) in knobs {
        options.set(key, v).or_py()?;
    }
    options.validate().or_py()?;
    Ok(options)
}

/// Reads a somnet or Keras `.h5` file: a `Model`, or a `Converted` when the file holds a network
/// converted earlier. Returns it with a description of the format.
#[pyfunction]
pub fn load(py: Python<'_>, path: PathBuf) -> PyResult<(Py<PyAny>, String)> {
    let (file, format) = py.detach(|| somnet::io::load_model(&path)).or_py()?;
    let source = path.display().to_string();
    let format = format.to_string();
    match Converted::from_file(&path, &file).or_py()? {
        Some(inner) => {
            let source_provenance = file
                .provenance
                .record
                .get("source_provenance")
                .cloned()
                .unwrap_or_default();
            let c = PyConverted {
                inner,
                source,
                source_provenance,
            };
            Ok((Py::new(py, c)?.into_any(), format))
        }
        None => {
            let m = PyModel {
                ann: file.ann,
                source,
                provenance: file.provenance.record,
            };
            Ok((Py::new(py, m)?.into_any(), format))
        }
    }
}

/// Converts `model`: folds batch norm, normalises on the calibration images (N, features) with
/// the options `knobs` set (percentile, norm and every simulation knob), and checks the engine
/// can build it.
#[pyfunction]
pub fn convert(
    py: Python<'_>,
    model: &PyModel,
    calibration: PyReadonlyArray2<'_, f32>,
    knobs: Vec<(String, String)>,
    threads: usize,
) -> PyResult<PyConverted> {
    let options = with_knobs(ConvertOptions::default(), &knobs)?;
    let data = crate::arrays::dataset(
        "calibration",
        &calibration,
        None,
        &model.ann.input_shape,
        model.ann.output_features(),
    )?;
    let out = interrupt::run(py, threads, 0, None, |_| {
        pipeline::convert(&model.ann, &data, &options)
    })?;
    if let Some(e) = out.stopped_by {
        return Err(e);
    }
    Ok(PyConverted {
        inner: out.value.or_py()?,
        source: model.source.clone(),
        source_provenance: model.provenance.clone(),
    })
}

/// One traced layer: (name, kind, string attributes, numeric attributes, arrays).
type LayerTuple<'py> = (
    String,
    String,
    HashMap<String, String>,
    HashMap<String, Vec<f64>>,
    HashMap<String, PyReadonlyArrayDyn<'py, f32>>,
);

/// A `Model` from layer records in the model-file schema (what `somnet/_torch.py` traces).
#[pyfunction]
pub fn model_from_records(
    input_shape: Vec<usize>,
    layers: Vec<LayerTuple<'_>>,
    dropout_mode: &str,
    source: String,
    provenance_json: &str,
) -> PyResult<PyModel> {
    let dropout_mode = match dropout_mode {
        "inverted" => DropoutMode::Inverted,
        "scale-at-test" => DropoutMode::ScaleAtTest,
        other => {
            return Err(value(format!(
                "dropout_mode '{other}': expected 'inverted' or 'scale-at-test'"
            )))
        }
    };
    let layers = layers
        .into_iter()
        .map(|(name, kind, strings, numbers, arrays)| LayerRecord {
            name,
            kind,
            strings: strings.into_iter().collect(),
            numbers: numbers.into_iter().collect(),
            arrays: arrays
                .into_iter()
                .map(|(k, a)| (k, a.as_array().to_owned()))
                .collect(),
        })
        .collect();
    let record = ModelRecord {
        input_shape,
        dropout_mode,
        layers,
    };
    let ann = record.to_ann(&source).or_py()?;
    Ok(PyModel {
        ann,
        source,
        provenance: serde_json::from_str(provenance_json)
            .map_err(|e| value(format!("provenance is not JSON: {e}")))?,
    })
}

/// A `Model` from a live Keras model: its `model_config` JSON and each layer's variables.
#[pyfunction]
pub fn model_from_keras(
    config_json: &str,
    keras_version: &str,
    backend: &str,
    weights: HashMap<String, Vec<(String, PyReadonlyArrayDyn<'_, f32>)>>,
    source: String,
) -> PyResult<PyModel> {
    let config: serde_json::Value = serde_json::from_str(config_json)
        .map_err(|e| value(format!("{source}: the model config is not JSON: {e}")))?;
    let weights = weights
        .into_iter()
        .map(|(layer, vars)| {
            let vars = vars
                .into_iter()
                .map(|(n, a)| (n, a.as_array().to_owned()))
                .collect();
            (layer, vars)
        })
        .collect();
    let k = somnet::io::keras::from_config(&config, keras_version, backend, weights, &source)
        .or_py()?;
    let provenance = serde_json::json!({
        "imported_from": source,
        "format": format!("live Keras model (Keras {keras_version}, backend {backend}, {})", k.class_name),
        "keras_model_name": k.name,
    });
    Ok(PyModel {
        ann: k.ann,
        source,
        provenance,
    })
}
