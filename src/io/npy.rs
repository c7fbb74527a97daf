//! NumPy `.npy` files of float32 (format versions 1–3): the arrays users hand to
//! `somnet simulate` and the arrays it hands back. The header is checked before anything is
//! allocated: dtype, order, a shape whose size the file holds and [`crate::limits`] allows.
//! Hand-written rather than a crate so that every refusal names the file and the field.

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a float32 `.npy` file (little- or big-endian `f4`, C order; also `f8`, converted).
///
/// ```
/// use ndarray::{arr2, IxDyn};
/// let path = std::env::temp_dir().join(format!("doc-npy-{}.npy", std::process::id()));
/// somnet::io::npy::write_f32(&path, arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn().view()).unwrap();
/// let back = somnet::io::npy::read_f32(&path).unwrap();
/// assert_eq!(back.shape(), &[2, 2]);
/// assert_eq!(back[IxDyn(&[1, 0])], 3.0);
/// ```
pub fn read_f32(path: &Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_f32(path, &bytes)
}

/// Parses the bytes of a `.npy` file; `path` names it in errors.
pub fn parse_f32(path: &Path, bytes: &[u8]) -> Result<ArrayD<f32>> {
    let bad = |m: String| Error::file(path, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a NumPy .npy file (no \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("npy format version {v}, expected 1, 2 or 3"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("the .npy header runs past the end of the file".into()))?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad("the .npy header is not text".into()))?;
    let descr = field(header, "descr").ok_or_else(|| bad("header has no 'descr'".into()))?;
    let fortran = field(header, "fortran_order").unwrap_or("False");
    if fortran.trim() != "False" {
        return Err(bad(
            "fortran_order is True: save the array in C order (numpy.ascontiguousarray)".into(),
        ));
    }
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let (width, big) = match descr {
        "<f4" | "=f4" | "|f4" => (4, false),
        ">f4" => (4, true),
        "<f8" | "=f8" => (8, false),
        ">f8" => (8, true),
        other => {
            return Err(bad(format!(
                "dtype '{other}', expected float32 ('<f4') or float64"
            )))
        }
    };
    let shape_text = field(header, "shape").ok_or_else(|| bad("header has no 'shape'".into()))?;
    let shape = parse_shape(shape_text)
        .ok_or_else(|| bad(format!("shape {shape_text} is not a tuple of sizes")))?;
    let count = shape
        .iter()
        .try_fold(1u128, |a, &d| a.checked_mul(d as u128))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let field_name = format!("array of shape {shape:?}");
    crate::limits::check_in_file(
        path,
        &field_name,
        count * width as u128,
        (bytes.len() - end) as u64,
    )?;
    crate::limits::check(path, &field_name, count * 4)?;
    let data = &bytes[end..end + count as usize * width];
    let values: Vec<f32> = if width == 4 {
        data.chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                if big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                }
            })
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| {
                let b: [u8; 8] = c.try_into().expect("chunks of 8");
                (if big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                }) as f32
            })
            .collect()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| bad(e.to_string()))
}

/// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..=i]);
                }
            }
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

/// Writes `a` as a little-endian float32 `.npy` file (format 1.0, C order), atomically
/// ([`crate::io::report::write_bytes`]).
pub fn write_f32(path: &Path, a: ArrayViewD<'_, f32>) -> Result<()> {
    let dims: Vec<String> = a.shape().iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that the data starts on a multiple of 64 bytes, ending the header with '\n'.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + a.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &x in a.iter() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    crate::io::report::write_bytes(path, &out)
}
