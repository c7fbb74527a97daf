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
    decode(path, &raw)
}

/// Parses the bytes of an IDX file, raw or gzip-compressed; `path` names the file in errors.
/// A compressed file is decompressed only as far as its header declares, after that size was
/// checked against [`crate::limits`]: a gzip bomb or a header declaring terabytes is an error,
/// never an allocation.
///
/// ```
/// use std::path::Path;
/// use somnet::data::idx::decode;
/// let raw = [0, 0, 8, 1, 0, 0, 0, 2, 7, 9];
/// assert_eq!(decode(Path::new("x.idx"), &raw).unwrap().data, vec![7, 9]);
/// let huge = [0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
/// assert!(decode(Path::new("x.idx"), &huge).unwrap_err().to_string().contains("need"));
/// ```
pub fn decode(path: &Path, raw: &[u8]) -> Result<IdxArray> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return parse(path, raw);
    }
    let corrupt =
        |e: std::io::Error| Error::file(path, format!("corrupt or truncated gzip stream: {e}"));
    let mut stream = flate2::read::GzDecoder::new(raw);
    let mut bytes = vec![0u8; 4];
    stream.read_exact(&mut bytes).map_err(corrupt)?;
    let n_dims = check_magic(path, &bytes)?;
    bytes.resize(4 + 4 * n_dims, 0);
    stream.read_exact(&mut bytes[4..]).map_err(corrupt)?;
    let (dims, values) = dimensions(path, &bytes, n_dims)?;
    crate::limits::check(path, &format!("IDX dimensions {dims:?}"), values as u128)?;
    // One byte more than declared, so that an oversize body is seen; the buffer grows with what
    // the stream really yields, never to a declared size alone.
    stream
        .take(values as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(corrupt)?;
    parse(path, &bytes)
}

/// The number of dimensions a valid magic number (`00 00 08 NN`, NN ≥ 1) declares.
fn check_magic(path: &Path, bytes: &[u8]) -> Result<usize> {
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
    Ok(n_dims)
}

/// The dimensions in a header of `n_dims` and the number of values they declare.
fn dimensions(path: &Path, bytes: &[u8], n_dims: usize) -> Result<(Vec<usize>, usize)> {
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
    match dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
        Some(n) => Ok((dims, n)),
        None => Err(Error::file(
            path,
            format!("dimensions {dims:?} need more values than can be counted"),
        )),
    }
}

/// Parses uncompressed IDX bytes; `path` names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    let n_dims = check_magic(path, bytes)?;
    let header = 4 + 4 * n_dims;
    let (dims, expected) = dimensions(path, bytes, n_dims)?;
    let body = bytes.len() - header;
    match expected {
        n if n == body => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        n if n > body => Err(Error::file(
            path,
            format!("truncated: dimensions {dims:?} need {n} values, the file has {body}"),
        )),
        n => Err(Error::file(
            path,
            format!("oversize: dimensions {dims:?} need {n} values, the file has {body}"),
        )),
    }
}
