//! IDX files (the MNIST family's format), raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08 = unsigned byte, the
//! only type the image data sets use) and the number of dimensions — then one big-endian `u32`
//! per dimension, then the values in row-major order. (LeCun et al., "THE MNIST DATABASE".)

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The content of an unsigned-byte IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file; gzip is recognised by its magic bytes, whatever the file name.
///
/// ```no_run
/// let labels = somnet::data::idx::read("datasets/mnist/t10k-labels-idx1-ubyte.gz".as_ref()).unwrap();
/// assert_eq!(labels.dims, vec![10_000]);
/// ```
pub fn read(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::file(path, format!("corrupt or truncated gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse(path, &bytes)
}

/// Parses IDX bytes; `path` names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::file(
            path,
            format!(
                "truncated: {} bytes, an IDX header needs at least 4",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let n_dims = bytes[3] as usize;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || n_dims == 0 {
        return Err(Error::file(
            path,
            format!("wrong IDX magic 0x{magic:08x}: expected 0x000008NN (unsigned bytes, NN ≥ 1 dimensions)"),
        ));
    }
    let header = 4 + 4 * n_dims;
    if bytes.len() < header {
        return Err(Error::file(
            path,
            format!(
                "truncated header: {} bytes, {n_dims} dimensions need {header}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..n_dims)
        .map(|d| {
            u32::from_be_bytes(
                bytes[4 + 4 * d..8 + 4 * d]
                    .try_into()
                    .expect("4-byte slice"),
            ) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let body = bytes.len() - header;
    match expected {
        Some(n) if n == body => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        Some(n) if n > body => Err(Error::file(
            path,
            format!("truncated: dimensions {dims:?} need {n} values, the file has {body}"),
        )),
        Some(n) => Err(Error::file(
            path,
            format!("oversize: dimensions {dims:?} need {n} values, the file has {body}"),
        )),
        None => Err(Error::file(path, format!("dimensions {dims:?} overflow"))),
    }
}
