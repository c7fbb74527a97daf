//! HDF5 helpers: typed reads and writes whose errors name the file, the object and the field.

use std::path::{Path, PathBuf};

use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;
use ndarray::ArrayD;

use crate::error::{Error, Result};

/// A location inside an open file, for error messages (`file: /layers/003`).
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The file.
    pub path: PathBuf,
    /// Object path inside the file.
    pub object: String,
}

impl Ctx {
    /// The root of `path`.
    pub fn root(path: &Path) -> Ctx {
        Ctx {
            path: path.to_path_buf(),
            object: "/".into(),
        }
    }

    /// A child location.
    pub fn child(&self, name: &str) -> Ctx {
        let object = if self.object == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.object)
        };
        Ctx {
            path: self.path.clone(),
            object,
        }
    }

    /// An error about this location.
    pub fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::file(&self.path, format!("{}: {message}", self.object))
    }
}

/// Opens an HDF5 file for reading with a clear error when it is not one, after checking the
/// global heap of its variable-length strings (a corrupt one crashes libhdf5).
pub fn open(path: &Path) -> Result<hdf5::File> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    // libhdf5 trusts the file's global heap (variable-length strings) and crashes or hangs on a
    // corrupt one: check it first.
    super::global_heap::check_file(path)?;
    // Reading takes no lock: a child process started elsewhere in this process while a file was
    // being written inherits its descriptor (HDF5 opens files without close-on-exec) and with it
    // the writer's lock, which would refuse this read until that child exits.
    hdf5::File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open(path)
        .map_err(|e| Error::file(path, format!("not a readable HDF5 file ({e})")))
}

/// Creates (truncates) an HDF5 file.
pub fn create(path: &Path) -> Result<hdf5::File> {
    hdf5::File::create(path)
        .map_err(|e| Error::file(path, format!("cannot create HDF5 file ({e})")))
}

/// Reads a string attribute, whatever its HDF5 string type (variable or fixed length, ASCII or
/// UTF-8: h5py and Keras write all four).
pub fn read_str_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str) -> Result<String> {
    let attr = loc
        .attr(name)
        .map_err(|_| ctx.err(format!("missing attribute '{name}'")))?;
    let bad = |e: hdf5::Error| ctx.err(format!("attribute '{name}': {e}"));
    let desc = descriptor(&attr.dtype().map_err(bad)?)
        .map_err(|m| ctx.err(format!("attribute '{name}' is {m}")))?;
    match desc {
        TypeDescriptor::VarLenUnicode => Ok(attr
            .read_scalar::<VarLenUnicode>()
            .map_err(bad)?
            .as_str()
            .to_string()),
        TypeDescriptor::VarLenAscii => Ok(attr
            .read_scalar::<VarLenAscii>()
            .map_err(bad)?
            .as_str()
            .to_string()),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            crate::limits::check_in_file(
                &ctx.path,
                &format!("{}: attribute '{name}'", ctx.object),
                n as u128,
                file_len(&ctx.path),
            )?;
            read_fixed_string(&attr, n).map_err(|m| ctx.err(format!("attribute '{name}': {m}")))
        }
        other => Err(ctx.err(format!(
            "attribute '{name}' is {other:?}, expected a string"
        ))),
    }
}

/// Reads a 1-D string-array attribute (Keras' `layer_names`, `weight_names`), whatever its string
/// type. Keras writes very long lists in chunks `name0`, `name1`, … when one attribute would be too
/// big; those are joined. An empty numeric array (h5py's encoding of an empty list) reads as empty.
pub fn read_str_list_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str) -> Result<Vec<String>> {
    if loc.attr(name).is_err() {
        let mut out = Vec::new();
        let mut chunk = 0;
        while loc.attr(&format!("{name}{chunk}")).is_ok() {
            out.extend(read_one_str_list(loc, ctx, &format!("{name}{chunk}"))?);
            chunk += 1;
        }
        if chunk == 0 {
            return Err(ctx.err(format!("missing attribute '{name}'")));
        }
        return Ok(out);
    }
    read_one_str_list(loc, ctx, name)
}

fn read_one_str_list(loc: &hdf5::Location, ctx: &Ctx, name: &str) -> Result<Vec<String>> {
    let attr = loc
        .attr(name)
        .map_err(|_| ctx.err(format!("missing attribute '{name}'")))?;
    let bad = |e: hdf5::Error| ctx.err(format!("attribute '{name}': {e}"));
    let desc = descriptor(&attr.dtype().map_err(bad)?)
        .map_err(|m| ctx.err(format!("attribute '{name}' is {m}")))?;
    let size = attr.space().map_err(bad)?.size();
    if let Some(strings) = read_var_len_strings(&attr, &desc) {
        return strings.map_err(bad);
    }
    match desc {
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => {
            // Attribute values lie in the file uncompressed.
            crate::limits::check_in_file(
                &ctx.path,
                &format!("{}: attribute '{name}'", ctx.object),
                n as u128 * size as u128,
                file_len(&ctx.path),
            )?;
            read_fixed_strings(&attr, n, size)
                .map_err(|m| ctx.err(format!("attribute '{name}': {m}")))
        }
        _ if size == 0 => Ok(Vec::new()),
        other => Err(ctx.err(format!("attribute '{name}' is {other:?}, expected strings"))),
    }
}

/// The type descriptor of a dataset's or attribute's datatype, refusing enumerations and
/// compound types (somnet reads neither) before they are described: the HDF5 bindings build
/// their member names from the file's bytes without checking them, and a name that is not UTF-8
/// would make an invalid `String`.
pub fn descriptor(dtype: &hdf5::Datatype) -> std::result::Result<TypeDescriptor, String> {
    use hdf5_metno_sys::h5i::hid_t;
    use hdf5_metno_sys::h5t::{H5T_class_t, H5Tclose, H5Tget_class, H5Tget_super};
    /// What makes the type refused, looking through arrays and sequences (nesting bounded).
    fn with_names(id: hid_t, depth: u32) -> Option<&'static str> {
        // SAFETY: `id` is a valid datatype identifier for the duration of the call; the super
        // type opened here is closed before returning.
        match unsafe { H5Tget_class(id) } {
            H5T_class_t::H5T_ENUM => Some("an enumeration"),
            H5T_class_t::H5T_COMPOUND => Some("a compound type"),
            H5T_class_t::H5T_ARRAY | H5T_class_t::H5T_VLEN if depth < 8 => unsafe {
                let base = H5Tget_super(id);
                if base < 0 {
                    return Some("an array of an unreadable type");
                }
                let found = with_names(base, depth + 1);
                H5Tclose(base);
                found
            },
            H5T_class_t::H5T_ARRAY | H5T_class_t::H5T_VLEN => Some("a type nested too deeply"),
            H5T_class_t::H5T_INTEGER | H5T_class_t::H5T_FLOAT if !bits_fit(id) => {
                Some("a number type whose bit fields do not fit its size")
            }
            _ => None,
        }
    }
    /// Whether a number type's bits lie inside its bytes (and a float's sign, exponent and
    /// mantissa inside its precision): libhdf5 1.10 converts from corrupt ones with fixed-size
    /// stack buffers (`H5T__bit_get_d`: stack smashing, found by the `hdf5_file` campaign).
    fn bits_fit(id: hid_t) -> bool {
        use hdf5_metno_sys::h5t::{H5Tget_fields, H5Tget_offset, H5Tget_precision, H5Tget_size};
        // SAFETY: `id` is a valid integer or float datatype identifier; H5Tget_fields writes
        // five sizes through the pointers given.
        unsafe {
            let (size, precision) = (H5Tget_size(id), H5Tget_precision(id));
            let Ok(offset) = usize::try_from(H5Tget_offset(id)) else {
                return false;
            };
            if size == 0 || size > 16 || precision == 0 || offset + precision > 8 * size {
                return false;
            }
            if H5Tget_class(id) != H5T_class_t::H5T_FLOAT {
                return true;
            }
            let (mut spos, mut epos, mut esize, mut mpos, mut msize) = (0, 0, 0, 0, 0);
            if H5Tget_fields(id, &mut spos, &mut epos, &mut esize, &mut mpos, &mut msize) < 0 {
                return false;
            }
            spos < precision
                && (1..=32).contains(&esize)
                && epos + esize <= precision
                && (1..=precision).contains(&msize)
                && mpos + msize <= precision
        }
    }
    if let Some(kind) = hdf5::sync::sync(|| with_names(dtype.id(), 0)) {
        return Err(format!("{kind}, which somnet does not read"));
    }
    dtype.to_descriptor().map_err(|e| e.to_string())
}

/// The values of an attribute or dataset of variable-length strings (UTF-8 or ASCII, as h5py
/// writes them); `None` when `desc` is another type.
pub fn read_var_len_strings(
    c: &hdf5::Container,
    desc: &TypeDescriptor,
) -> Option<hdf5::Result<Vec<String>>> {
    let strings = match desc {
        TypeDescriptor::VarLenUnicode => c
            .read_raw::<VarLenUnicode>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect()),
        TypeDescriptor::VarLenAscii => c
            .read_raw::<VarLenAscii>()
            .map(|v| v.iter().map(|s| s.as_str().to_string()).collect()),
        _ => return None,
    };
    Some(strings)
}

/// Reads `count` fixed-length strings of `n` bytes each (trailing NULs removed).
fn read_fixed_strings(
    attr: &hdf5::Attribute,
    n: usize,
    count: usize,
) -> std::result::Result<Vec<String>, String> {
    use hdf5_metno_sys::h5a::H5Aread;
    use hdf5_metno_sys::h5t::H5Tclose;
    let dtype = attr.dtype().map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; (n * count).max(1)];
    // SAFETY: the memory type is the attribute's own fixed-length string type and the buffer holds
    // `count` elements of `n` bytes, which is what H5Aread writes. Under the bindings' lock:
    // libhdf5 is not thread-safe.
    let status = hdf5::sync::sync(|| unsafe {
        let mem = hdf5_metno_sys::h5t::H5Tcopy(dtype.id());
        let s = H5Aread(attr.id(), mem, buf.as_mut_ptr().cast());
        H5Tclose(mem);
        s
    });
    if status < 0 {
        return Err("cannot read the fixed-length strings".into());
    }
    buf.chunks(n.max(1))
        .take(count)
        .map(|c| {
            // Fixed-length strings are padded with NULs at the end.
            let end = c.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            String::from_utf8(c[..end].to_vec()).map_err(|e| format!("not UTF-8: {e}"))
        })
        .collect()
}

/// The length of the file at `path` (the largest size anything stored in it can have; unknown
/// files count as unbounded, leaving the limit alone to decide).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(u64::MAX, |m| m.len())
}

/// Reads a fixed-length string attribute of `n` bytes into a `String` (trailing NULs removed).
fn read_fixed_string(attr: &hdf5::Attribute, n: usize) -> std::result::Result<String, String> {
    let space = attr.space().map_err(|e| e.to_string())?;
    if space.size() != 1 {
        return Err(format!("expected one string, found {}", space.size()));
    }
    let mut one = read_fixed_strings(attr, n, 1)?;
    Ok(one.pop().unwrap_or_default())
}

/// Writes a variable-length UTF-8 string attribute.
pub fn write_str_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str, value: &str) -> Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| ctx.err(format!("attribute '{name}': {e:?}")))?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(|e| ctx.err(format!("writing attribute '{name}': {e}")))
}

/// Reads a numeric attribute as `f64` values (scalar or 1-D).
pub fn read_num_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str) -> Result<Vec<f64>> {
    let attr = loc
        .attr(name)
        .map_err(|_| ctx.err(format!("missing attribute '{name}'")))?;
    let dtype = attr
        .dtype()
        .map_err(|e| ctx.err(format!("attribute '{name}': {e}")))?;
    descriptor(&dtype).map_err(|m| ctx.err(format!("attribute '{name}' is {m}")))?;
    // Attribute values lie in the file uncompressed.
    let count = attr.space().map(|s| s.size()).unwrap_or(0) as u128;
    crate::limits::check_in_file(
        &ctx.path,
        &format!("{}: attribute '{name}'", ctx.object),
        count,
        file_len(&ctx.path),
    )?;
    attr.read_raw::<f64>()
        .map_err(|e| ctx.err(format!("attribute '{name}' is not numeric: {e}")))
}

/// Writes a 1-D `i64` attribute.
pub fn write_int_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str, values: &[i64]) -> Result<()> {
    loc.new_attr_builder()
        .with_data(values)
        .create(name)
        .map(|_| ())
        .map_err(|e| ctx.err(format!("writing attribute '{name}': {e}")))
}

/// Writes a scalar `f64` attribute.
pub fn write_f64_attr(loc: &hdf5::Location, ctx: &Ctx, name: &str, value: f64) -> Result<()> {
    loc.new_attr::<f64>()
        .create(name)
        .and_then(|a| a.write_scalar(&value))
        .map_err(|e| ctx.err(format!("writing attribute '{name}': {e}")))
}

/// Reads an `f32` dataset of any rank; converts from other float widths. Its declared shape is
/// checked first ([`crate::limits`]): against the file when stored uncompressed, and against the
/// limit in any case.
pub fn read_f32(group: &hdf5::Group, ctx: &Ctx, name: &str) -> Result<ArrayD<f32>> {
    let ds = group
        .dataset(name)
        .map_err(|_| ctx.err(format!("missing dataset '{name}'")))?;
    check_size(&ds, ctx, name)?;
    ds.read_dyn::<f32>()
        .map_err(|e| ctx.err(format!("dataset '{name}' cannot be read as float32: {e}")))
}

/// Checks the declared shape of the dataset `name` before it is read as float32: against the
/// file when stored uncompressed (contiguous or compact) and against [`crate::limits`] in any
/// case; the error names the file, the object, the dataset and the sizes.
pub fn check_size(ds: &hdf5::Dataset, ctx: &Ctx, name: &str) -> Result<()> {
    let dtype = ds
        .dtype()
        .map_err(|e| ctx.err(format!("dataset '{name}': {e}")))?;
    descriptor(&dtype).map_err(|m| ctx.err(format!("dataset '{name}' is {m}")))?;
    let shape = ds.shape();
    let field = format!("{}: dataset '{name}' of shape {shape:?}", ctx.object);
    let values = shape
        .iter()
        .try_fold(1u128, |a, &d| a.checked_mul(d as u128))
        .ok_or_else(|| ctx.err(format!("dataset '{name}': shape {shape:?} overflows")))?;
    // A shape beyond its own maximum is no valid dataspace (h5py refuses it; libhdf5 1.10 reads
    // on).
    let max = ds.space().map(|s| s.maxdims()).unwrap_or_default();
    if let Some((d, m)) = shape
        .iter()
        .zip(&max)
        .find_map(|(&d, m)| m.filter(|&m| d > m).map(|m| (d, m)))
    {
        return Err(ctx.err(format!(
            "dataset '{name}': shape {shape:?} exceeds its maximum extent ({d} > {m})"
        )));
    }
    let stored = ds.dtype().map(|t| t.size()).unwrap_or(4) as u128;
    if let Some(chunk) = ds.chunk() {
        // libhdf5 keeps a record (dataspace copies included) for every chunk a read touches:
        // tiny chunks over a large shape cost far more than the values.
        let chunks = shape
            .iter()
            .zip(&chunk)
            .try_fold(1u128, |a, (&d, &c)| {
                a.checked_mul(d.div_ceil(c.max(1)) as u128)
            })
            .unwrap_or(u128::MAX);
        crate::limits::check(
            &ctx.path,
            &format!("{field}: {chunks} chunks of {chunk:?}"),
            chunks.saturating_mul(CHUNK_RECORD_BYTES),
        )?;
        // libhdf5 allocates a whole chunk to read any part of it.
        let chunk_bytes = chunk
            .iter()
            .try_fold(stored, |a, &c| a.checked_mul(c as u128))
            .unwrap_or(u128::MAX);
        crate::limits::check(
            &ctx.path,
            &format!("{field}: one chunk of {chunk:?}"),
            chunk_bytes,
        )?;
    } else {
        crate::limits::check_in_file(&ctx.path, &field, values * stored, file_len(&ctx.path))?;
    }
    crate::limits::check(&ctx.path, &field, values * 4)
}

/// What libhdf5 1.10 allocates for each chunk a read touches (its chunk record and two
/// dataspace copies; ≈ 650 bytes measured with a fuzzed file of 16 M one-value chunks), rounded
/// up.
const CHUNK_RECORD_BYTES: u128 = 1024;

/// Writes an `f32` dataset.
pub fn write_f32<D: ndarray::Dimension>(
    group: &hdf5::Group,
    ctx: &Ctx,
    name: &str,
    data: ndarray::ArrayView<'_, f32, D>,
) -> Result<()> {
    group
        .new_dataset_builder()
        .with_data(data)
        .create(name)
        .map(|_| ())
        .map_err(|e| ctx.err(format!("writing dataset '{name}': {e}")))
}
