//! Data sets by name, as NumPy arrays.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyArray4};
use pyo3::prelude::*;

use somnet::data::{load_named, Split};

use crate::errors::{value, OrPy};

/// Images (N, C, H, W) float32 in [0, 1], labels (N,) uint8 and class names of the data set
/// `name` (`mnist`, `fashion-mnist`, `cifar-10`, `folder:PATH[:WxH][:gray]`) in `dir`.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    dir: PathBuf,
    split: &str,
) -> PyResult<(
    Bound<'py, PyArray4<f32>>,
    Bound<'py, PyArray1<u8>>,
    Vec<String>,
)> {
    let split = match split {
        "train" => Split::Train,
        "test" => Split::Test,
        other => {
            return Err(value(format!(
                "split '{other}': expected 'train' or 'test'"
            )))
        }
    };
    let data = py.detach(|| load_named(name, &dir, split)).or_py()?;
    let [c, h, w] = data.shape;
    let n = data.len();
    let images = numpy::ndarray::Array4::from_shape_vec((n, c, h, w), data.images)
        .expect("a data set holds n·C·H·W pixels");
    Ok((
        images.into_pyarray(py),
        data.labels.into_pyarray(py),
        data.class_names,
    ))
}

/// The library's default data folder (`$SOMNET_DATA`, else the source tree's `datasets/`).
#[pyfunction]
pub fn default_data_dir() -> PathBuf {
    somnet::data::default_dir()
}
