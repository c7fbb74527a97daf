//! NumPy arrays in and out. The Python layer (`somnet/_arrays.py`) has already converted what the
//! user passed to float32 images and uint8 labels, or refused it naming the argument; here they
//! become a [`Dataset`] shaped for the network (copied in logical order, so arrays that arrive
//! strided or unaligned, e.g. deserialised on a Dask worker, read the same).

use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use somnet::data::Dataset;

/// Images (N, features) and labels (N) as a data set called `name` with `n_classes` classes and
/// per-image shape `input_shape` (a vector `[F]` is stored as `[1, 1, F]`).
pub fn dataset(
    name: &str,
    images: &PyReadonlyArray2<'_, f32>,
    labels: Option<&PyReadonlyArray1<'_, u8>>,
    input_shape: &[usize],
    n_classes: usize,
) -> PyResult<Dataset> {
    let shape = match *input_shape {
        [c, h, w] => [c, h, w],
        [f] => [1, 1, f],
        _ => {
            return Err(crate::errors::value(format!(
                "the network's input shape {input_shape:?} is neither (C, H, W) nor (F,)"
            )))
        }
    };
    let (n, features) = images.as_array().dim();
    let labels = match labels {
        Some(l) => l.as_array().iter().copied().collect(),
        None => vec![0; n],
    };
    if labels.len() != n {
        return Err(crate::errors::value(format!(
            "{name}: {n} images but {} labels",
            labels.len()
        )));
    }
    let per: usize = shape.iter().product();
    if features != per {
        return Err(crate::errors::value(format!(
            "{name}: images have {features} values each, the network's input {input_shape:?} takes {per}"
        )));
    }
    let classes = n_classes.max(labels.iter().map(|&l| l as usize + 1).max().unwrap_or(1));
    Dataset::new(
        name,
        images.as_array().iter().copied().collect(),
        labels,
        shape,
        (0..classes).map(|c| c.to_string()).collect(),
    )
    .map_err(crate::errors::to_py)
}
