//! Files in and out. Nothing here knows about time steps.
//!
//! - [`schema`]: somnet's own HDF5 model files (spec in `converters/SCHEMA.md`).
//! - [`h5`]: small helpers over HDF5 that turn library errors into errors naming the file and the
//!   object.

pub mod h5;
pub mod schema;
