//! somnet errors as Python exceptions. The exception classes live in `somnet/_errors.py` (pure
//! Python, so that a file error can be both a `ValueError` and an `OSError`); this module picks
//! the class for each [`somnet::Error`] and keeps its message, which names the file, layer or field.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The Python class for `name` in `somnet._errors`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py
        .import("somnet._errors")?
        .getattr(name)?
        .cast_into::<PyType>()?)
}

/// A Python exception of class `name` (from `somnet._errors`) with `message`.
pub fn raise(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| match class(py, name) {
        Ok(cls) => PyErr::from_type(cls, message),
        // The package is broken (the module is missing): still say what went wrong.
        Err(e) => PyRuntimeError::new_err(format!("{message} (and somnet._errors: {e})")),
    })
}

/// `SomnetError` with `message`: a bad argument or value (a subclass of `ValueError`).
pub fn value(message: impl Into<String>) -> PyErr {
    raise("SomnetError", message)
}

/// The Python exception for a somnet error: `SomnetFileError` (also an `OSError`) for what
/// concerns a file, `SomnetError` (a `ValueError`) for the rest; the message is the error's text.
pub fn to_py(e: somnet::Error) -> PyErr {
    let name = match &e {
        somnet::Error::Io { .. } | somnet::Error::File { .. } | somnet::Error::Checksum { .. } => {
            "SomnetFileError"
        }
        _ => "SomnetError",
    };
    raise(name, e.to_string())
}

/// `?` for somnet results in binding code.
pub trait OrPy<T> {
    /// The value, or the error as a Python exception ([`to_py`]).
    fn or_py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for somnet::Result<T> {
    fn or_py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
