//! Recordings read back, from either format, a chunk at a time: however long the recording,
//! reading it holds one chunk of each array (the layout is the module's: see [`super`]).
//!
//! Everything read is checked against the layout: observable kinds, dataset types and shapes,
//! the `.npy` headers of an archive (type, order, shape against the entry's size), and that a
//! spike's neuron lies inside its population. A file that does not hold is refused with the
//! file, the array and what was expected and found.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use hdf5_metno as hdf5;

use crate::error::{Error, Result};
use crate::io::h5::{read_num_attr, read_str_attr, Ctx};

/// Elements read at once.
const CHUNK: usize = 1 << 20;

/// A spike monitor's events in a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeInfo {
    /// The population.
    pub population: String,
    /// The observable's name (`spikes`, `spikes_2`, …).
    pub observable: String,
    /// The population's size.
    pub n_neurons: u64,
    /// The recording's length in seconds.
    pub t_max_s: f64,
    /// How many spikes it holds.
    pub events: u64,
}

/// A state monitor's trace in a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceInfo {
    /// The population.
    pub population: String,
    /// The variable (`v`, `u`, `syn0`, …).
    pub observable: String,
    /// The sampling interval in seconds.
    pub dt_s: f64,
    /// The neurons recorded, one per column.
    pub neurons: Vec<i64>,
    /// How many samples (rows) it holds.
    pub samples: u64,
}

/// Where an array lies.
#[derive(Debug, Clone)]
enum Source {
    /// An HDF5 dataset (its object path) whose axis 1 is the growing one.
    Hdf5(String),
    /// An `.npz` entry: its name and where its data start.
    Npz { entry: String, offset: u64 },
}

enum Container {
    Hdf5(hdf5::File),
    Npz(zip::ZipArchive<BufReader<File>>),
}

/// A recording opened for reading.
///
/// ```
/// use somnet::io::recording::{Recording, RecordingReader};
/// use somnet::network::{Network, NetworkConfig};
/// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..Default::default() }).unwrap();
/// let src = net.add_poisson("input", 10, 100.0).unwrap();
/// net.monitor_spikes(src, None).unwrap();
/// let path = std::env::temp_dir().join(format!("doc-read-{}.npz", std::process::id()));
/// let mut rec = Recording::create(&path, &net).unwrap();
/// rec.run(&mut net, 500, |_| std::ops::ControlFlow::Continue(())).unwrap();
/// rec.finish(&net).unwrap();
/// let mut back = RecordingReader::open(&path).unwrap();
/// let mut n = 0;
/// back.spike_chunks(0, |idx, _time| { n += idx.len(); Ok(()) }).unwrap();
/// assert_eq!(n as u64, back.spikes()[0].events);
/// ```
pub struct RecordingReader {
    path: PathBuf,
    container: Container,
    spikes: Vec<(SpikeInfo, Source, Source)>,
    traces: Vec<(TraceInfo, Source)>,
}

impl RecordingReader {
    /// Opens a recording (`.h5`/`.hdf5` or `.npz`) and reads its table of contents.
    pub fn open(path: &Path) -> Result<Self> {
        match super::RecordingFormat::of(path)? {
            super::RecordingFormat::Hdf5 => open_hdf5(path),
            super::RecordingFormat::Npz => open_npz(path),
        }
    }

    /// The spike observables, populations in file order.
    pub fn spikes(&self) -> Vec<SpikeInfo> {
        self.spikes.iter().map(|s| s.0.clone()).collect()
    }

    /// The state traces.
    pub fn traces(&self) -> Vec<TraceInfo> {
        self.traces.iter().map(|s| s.0.clone()).collect()
    }

    /// Calls `f(neuron indices, times in s)` on successive chunks of spike observable `k`'s
    /// events, in recorded order; an error from `f` stops the reading.
    pub fn spike_chunks(
        &mut self,
        k: usize,
        mut f: impl FnMut(&[i64], &[f64]) -> Result<()>,
    ) -> Result<()> {
        let (info, idx_src, time_src) =
            self.spikes.get(k).cloned().ok_or_else(|| {
                Error::file(&self.path, format!("no spike observable number {k}"))
            })?;
        let mut at = 0u64;
        while at < info.events {
            let n = (info.events - at).min(CHUNK as u64) as usize;
            let idx: Vec<i64> = self.read(&idx_src, at, n, 1)?;
            let time: Vec<f64> = self.read(&time_src, at, n, 1)?;
            if let Some(&bad) = idx.iter().find(|&&i| i < 0 || i as u64 >= info.n_neurons) {
                return Err(Error::file(
                    &self.path,
                    format!(
                        "{}/{}: spike of neuron {bad}, expected 0..{} (n_neurons)",
                        info.population, info.observable, info.n_neurons
                    ),
                ));
            }
            f(&idx, &time)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Calls `f(rows)` on successive chunks of trace `k`'s samples: `rows` holds whole samples,
    /// one value per recorded neuron each (row-major).
    pub fn trace_chunks(
        &mut self,
        k: usize,
        mut f: impl FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        let (info, src) = self
            .traces
            .get(k)
            .cloned()
            .ok_or_else(|| Error::file(&self.path, format!("no trace number {k}")))?;
        let width = info.neurons.len().max(1);
        let rows_per_chunk = (CHUNK / width).max(1) as u64;
        let mut at = 0u64;
        while at < info.samples {
            let n = (info.samples - at).min(rows_per_chunk) as usize;
            let rows: Vec<f32> = self.read(&src, at, n, info.neurons.len())?;
            f(&rows)?;
            at += n as u64;
        }
        Ok(())
    }

    /// `n` rows of `width` elements (1-D arrays: width 1) from row `at` of an array.
    fn read<T: Element>(
        &mut self,
        src: &Source,
        at: u64,
        n: usize,
        width: usize,
    ) -> Result<Vec<T>> {
        match (&mut self.container, src) {
            (Container::Hdf5(file), Source::Hdf5(name)) => {
                let ctx = Ctx::root(&self.path).child(name.trim_start_matches('/'));
                let ds = file.dataset(name).map_err(|e| ctx.err(e))?;
                let ndim = ds.ndim();
                let sel: Vec<hdf5::SliceOrIndex> = (0..ndim)
                    .map(|d| {
                        if d == 1 {
                            hdf5::SliceOrIndex::from(at as usize..at as usize + n)
                        } else {
                            hdf5::SliceOrIndex::from(..)
                        }
                    })
                    .collect();
                let a = ds
                    .read_slice::<T, _, ndarray::IxDyn>(hdf5::Selection::from(
                        hdf5::Hyperslab::from(sel),
                    ))
                    .map_err(|e| ctx.err(format!("reading rows {at}..{}: {e}", at + n as u64)))?;
                Ok(a.iter().copied().collect())
            }
            (Container::Npz(zip), Source::Npz { entry, offset }) => {
                npz_rows(&self.path, zip, entry, *offset, at, n, width)
            }
            _ => unreachable!("sources are made for their container"),
        }
    }
}

/// `n` rows of `width` elements from row `at` of the archive entry `entry` (data at `offset`).
fn npz_rows<T: Element>(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    entry: &str,
    offset: u64,
    at: u64,
    n: usize,
    width: usize,
) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let mut bytes = vec![0u8; n * width * size];
    let io = |e: std::io::Error| Error::file(path, format!("{entry}: reading rows {at}..: {e}"));
    let mut f = zip
        .by_name_seek(entry)
        .map_err(|e| Error::file(path, format!("{entry}: {e}")))?;
    f.seek(SeekFrom::Start(offset + at * (width * size) as u64))
        .map_err(io)?;
    f.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes.chunks_exact(size).map(T::from_le).collect())
}

/// The element types of a recording.
trait Element: hdf5::H5Type + Copy {
    /// The `.npy` type string.
    const DESCR: &'static str;
    fn from_le(b: &[u8]) -> Self;
}

impl Element for i64 {
    const DESCR: &'static str = "<i8";
    fn from_le(b: &[u8]) -> Self {
        i64::from_le_bytes(b.try_into().unwrap_or_default())
    }
}

impl Element for f64 {
    const DESCR: &'static str = "<f8";
    fn from_le(b: &[u8]) -> Self {
        f64::from_le_bytes(b.try_into().unwrap_or_default())
    }
}

impl Element for f32 {
    const DESCR: &'static str = "<f4";
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes(b.try_into().unwrap_or_default())
    }
}

fn open_hdf5(path: &Path) -> Result<RecordingReader> {
    let file = crate::io::h5::open(path)?;
    let root = Ctx::root(path);
    let kind = read_str_attr(&file, &root, "__type__")?;
    if kind != "NIRGraphData" {
        return Err(root.err(format!(
            "attribute '__type__' is '{kind}', expected 'NIRGraphData' (a recording)"
        )));
    }
    let mut spikes = Vec::new();
    let mut traces = Vec::new();
    // A recording without monitors has no 'nodes' group (the writer makes it for the first
    // observable): it reads as empty.
    let (nodes, names) = match file.group("nodes") {
        Ok(nodes) => {
            let names = nodes.member_names().map_err(|e| root.err(e))?;
            (Some(nodes), names)
        }
        Err(_) => (None, Vec::new()),
    };
    for (nodes, node) in names.into_iter().filter_map(|n| Some((nodes.as_ref()?, n))) {
        let nctx = root.child("nodes").child(&node);
        let obs_group = nodes
            .group(&format!("{node}/observables"))
            .map_err(|_| nctx.err("missing group 'observables'"))?;
        for obs in obs_group.member_names().map_err(|e| nctx.err(e))? {
            let octx = nctx.child("observables").child(&obs);
            let g = obs_group.group(&obs).map_err(|e| octx.err(e))?;
            let base = format!("/nodes/{node}/observables/{obs}");
            match read_str_attr(&g, &octx, "__type__")?.as_str() {
                "EventData" => {
                    let n_neurons = scalar_attr(&g, &octx, "n_neurons")?;
                    let t_max_s = scalar_attr(&g, &octx, "t_max")?;
                    let idx = shape_of::<i64>(&g, &octx, "idx", 2)?;
                    let time = shape_of::<f64>(&g, &octx, "time", 2)?;
                    if idx[0] != 1 || idx != time {
                        return Err(octx.err(format!(
                            "datasets 'idx' {idx:?} and 'time' {time:?}: expected equal shapes \
                             (1, events)"
                        )));
                    }
                    if !(n_neurons >= 0.0 && n_neurons.fract() == 0.0) {
                        return Err(octx.err(format!(
                            "attribute 'n_neurons' is {n_neurons}, expected a count"
                        )));
                    }
                    spikes.push((
                        SpikeInfo {
                            population: node.clone(),
                            observable: obs.clone(),
                            n_neurons: n_neurons as u64,
                            t_max_s,
                            events: idx[1] as u64,
                        },
                        Source::Hdf5(format!("{base}/idx")),
                        Source::Hdf5(format!("{base}/time")),
                    ));
                }
                "TimeGriddedData" => {
                    let dt_s = scalar_attr(&g, &octx, "dt")?;
                    let neurons_shape = shape_of::<i64>(&g, &octx, "neurons", 1)?;
                    crate::limits::check(
                        path,
                        &format!("{base}/neurons of shape {neurons_shape:?}"),
                        neurons_shape[0] as u128 * 8,
                    )?;
                    let neurons = g
                        .dataset("neurons")
                        .and_then(|d| d.read_raw::<i64>())
                        .map_err(|e| octx.err(format!("dataset 'neurons': {e}")))?;
                    let data = shape_of::<f32>(&g, &octx, "data", 3)?;
                    if data[0] != 1 || data[2] != neurons.len() {
                        return Err(octx.err(format!(
                            "dataset 'data' of shape {data:?}: expected (1, samples, {}) for \
                             its {} neurons",
                            neurons.len(),
                            neurons.len()
                        )));
                    }
                    traces.push((
                        TraceInfo {
                            population: node.clone(),
                            observable: obs.clone(),
                            dt_s,
                            neurons,
                            samples: data[1] as u64,
                        },
                        Source::Hdf5(format!("{base}/data")),
                    ));
                }
                other => {
                    return Err(octx.err(format!(
                        "attribute '__type__' is '{other}', expected 'EventData' or \
                         'TimeGriddedData'"
                    )))
                }
            }
        }
    }
    Ok(RecordingReader {
        path: path.to_path_buf(),
        container: Container::Hdf5(file),
        spikes,
        traces,
    })
}

/// A scalar numeric attribute.
fn scalar_attr(g: &hdf5::Group, ctx: &Ctx, name: &str) -> Result<f64> {
    let v = read_num_attr(g, ctx, name)?;
    match v.as_slice() {
        [x] if x.is_finite() => Ok(*x),
        _ => Err(ctx.err(format!(
            "attribute '{name}' is {v:?}, expected one finite number"
        ))),
    }
}

/// The shape of dataset `name`, checked to have `ndim` axes and the element type `T`.
fn shape_of<T: Element>(g: &hdf5::Group, ctx: &Ctx, name: &str, ndim: usize) -> Result<Vec<usize>> {
    let ds = g
        .dataset(name)
        .map_err(|_| ctx.err(format!("missing dataset '{name}'")))?;
    let dtype = ds
        .dtype()
        .map_err(|e| ctx.err(format!("dataset '{name}': {e}")))?;
    let want = hdf5::Datatype::from_type::<T>().map_err(|e| ctx.err(e))?;
    if dtype != want {
        let found = crate::io::h5::descriptor(&dtype).map_or_else(|m| m, |d| format!("{d:?}"));
        return Err(ctx.err(format!(
            "dataset '{name}' is {found}, expected {} as the recording layout has it",
            T::DESCR
        )));
    }
    let shape = ds.shape();
    if shape.len() != ndim {
        return Err(ctx.err(format!(
            "dataset '{name}' has shape {shape:?}, expected {ndim} axes"
        )));
    }
    Ok(shape)
}

/// One `.npy` entry's header: element type, shape, where the data start.
struct NpyHeader {
    descr: String,
    shape: Vec<u64>,
    data_offset: u64,
}

fn open_npz(path: &Path) -> Result<RecordingReader> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::file(path, format!("not a readable .npz (zip) archive: {e}")))?;
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::file(path, format!("an entry name of the archive: {e}")))?;
    names.sort();
    let mut headers = std::collections::BTreeMap::new();
    for name in &names {
        let Some(key) = name.strip_suffix(".npy") else {
            continue;
        };
        headers.insert(key.to_string(), npy_header(path, &mut zip, name)?);
    }
    let entry = |key: &str| format!("{key}.npy");
    let mut spikes = Vec::new();
    let mut traces = Vec::new();
    // Observables are `<pop>/<obs>/<array>`; a population's name may itself hold '/'.
    let groups: std::collections::BTreeSet<String> = headers
        .keys()
        .filter_map(|k| k.rsplit_once('/').map(|(g, _)| g.to_string()))
        .collect();
    for group in groups {
        let Some((population, observable)) = group.rsplit_once('/') else {
            continue;
        };
        let want = |array: &str, descr: &str, ndim: usize| {
            npz_array(path, &headers, &group, array, descr, ndim)
        };
        let has = |array: &str| headers.contains_key(&format!("{group}/{array}"));
        if has("idx") {
            let idx = want("idx", "<i8", 1)?;
            let time = want("time", "<f8", 1)?;
            if idx.shape != time.shape {
                return Err(Error::file(
                    path,
                    format!(
                        "arrays '{group}/idx' {:?} and '{group}/time' {:?}: expected equal lengths",
                        idx.shape, time.shape
                    ),
                ));
            }
            let n_neurons = npz_scalar::<i64>(path, &mut zip, &headers, &group, "n_neurons")?;
            let t_max_s = npz_scalar::<f64>(path, &mut zip, &headers, &group, "t_max")?;
            if n_neurons < 0 {
                return Err(Error::file(
                    path,
                    format!("array '{group}/n_neurons' is {n_neurons}, expected a count"),
                ));
            }
            spikes.push((
                SpikeInfo {
                    population: population.to_string(),
                    observable: observable.to_string(),
                    n_neurons: n_neurons as u64,
                    t_max_s,
                    events: idx.shape[0],
                },
                Source::Npz {
                    entry: entry(&format!("{group}/idx")),
                    offset: idx.data_offset,
                },
                Source::Npz {
                    entry: entry(&format!("{group}/time")),
                    offset: time.data_offset,
                },
            ));
        } else if has("data") {
            let data = want("data", "<f4", 2)?;
            let nh = want("neurons", "<i8", 1)?;
            let width = nh.shape[0];
            if data.shape[1] != width {
                return Err(Error::file(
                    path,
                    format!(
                        "array '{group}/data' of shape {:?}: expected (samples, {width}) for its \
                         {width} neurons",
                        data.shape
                    ),
                ));
            }
            let (samples, data_offset) = (data.shape[0], data.data_offset);
            let dt_s = npz_scalar::<f64>(path, &mut zip, &headers, &group, "dt")?;
            let entry_n = entry(&format!("{group}/neurons"));
            let neurons: Vec<i64> = npz_rows(
                path,
                &mut zip,
                &entry_n,
                nh.data_offset,
                0,
                width as usize,
                1,
            )?;
            traces.push((
                TraceInfo {
                    population: population.to_string(),
                    observable: observable.to_string(),
                    dt_s,
                    neurons,
                    samples,
                },
                Source::Npz {
                    entry: entry(&format!("{group}/data")),
                    offset: data_offset,
                },
            ));
        }
    }
    Ok(RecordingReader {
        path: path.to_path_buf(),
        container: Container::Npz(zip),
        spikes,
        traces,
    })
}

/// The header of array `<group>/<array>`, checked to be `descr` with `ndim` axes.
fn npz_array<'a>(
    path: &Path,
    headers: &'a std::collections::BTreeMap<String, NpyHeader>,
    group: &str,
    array: &str,
    descr: &str,
    ndim: usize,
) -> Result<&'a NpyHeader> {
    let key = format!("{group}/{array}");
    let h = headers
        .get(&key)
        .ok_or_else(|| Error::file(path, format!("missing array '{key}'")))?;
    if h.descr != descr || h.shape.len() != ndim {
        return Err(Error::file(
            path,
            format!(
                "array '{key}' is {} of shape {:?}, expected {descr} with {ndim} axes",
                h.descr, h.shape
            ),
        ));
    }
    Ok(h)
}

/// A 0-d (or one-element) array `<group>/<array>` of an archive.
fn npz_scalar<T: Element>(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    headers: &std::collections::BTreeMap<String, NpyHeader>,
    group: &str,
    array: &str,
) -> Result<T> {
    let key = format!("{group}/{array}");
    let h = headers
        .get(&key)
        .ok_or_else(|| Error::file(path, format!("missing array '{key}'")))?;
    if h.descr != T::DESCR || h.shape.iter().product::<u64>() != 1 {
        return Err(Error::file(
            path,
            format!(
                "array '{key}' is {} of shape {:?}, expected one {} value",
                h.descr,
                h.shape,
                T::DESCR
            ),
        ));
    }
    let value = npz_rows::<T>(path, zip, &format!("{key}.npy"), h.data_offset, 0, 1, 1)?;
    Ok(value[0])
}

/// Reads and checks the header of entry `name`: NumPy format 1.0–3.0, little-endian C order, a
/// shape whose data fill the rest of the entry exactly.
fn npy_header(
    path: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    name: &str,
) -> Result<NpyHeader> {
    let bad = |what: String| Error::file(path, format!("{name}: {what}"));
    let mut f = zip.by_name_seek(name).map_err(|e| {
        bad(format!(
            "{e} (entries must be stored uncompressed, as somnet and numpy.savez write them)"
        ))
    })?;
    let size = f.size();
    let mut pre = [0u8; 10];
    f.read_exact(&mut pre)
        .map_err(|_| bad(format!("{size} bytes, too short for a .npy header")))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy array (no \\x93NUMPY magic)".into()));
    }
    let (len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as u64, 10u64),
        2 | 3 => {
            let mut more = [0u8; 2];
            f.read_exact(&mut more).map_err(|e| bad(e.to_string()))?;
            (
                u32::from_le_bytes([pre[8], pre[9], more[0], more[1]]) as u64,
                12u64,
            )
        }
        v => return Err(bad(format!(".npy format version {v}, expected 1, 2 or 3"))),
    };
    if start + len > size {
        return Err(bad(format!(
            "header of {len} bytes runs past the entry's {size} bytes"
        )));
    }
    let mut dict = vec![0u8; len as usize];
    f.read_exact(&mut dict).map_err(|e| bad(e.to_string()))?;
    let dict = String::from_utf8_lossy(&dict);
    let descr = dict_value(&dict, "descr")
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
        .ok_or_else(|| bad(format!("header {dict:?} has no 'descr'")))?;
    if dict_value(&dict, "fortran_order").as_deref() != Some("False") {
        return Err(bad(format!(
            "header {dict:?}: expected 'fortran_order': False"
        )));
    }
    let shape_text =
        dict_value(&dict, "shape").ok_or_else(|| bad(format!("header {dict:?} has no 'shape'")))?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>())
        .collect::<std::result::Result<Vec<u64>, _>>()
        .map_err(|_| bad(format!("shape {shape_text} is not a tuple of counts")))?;
    let item = match descr.as_str() {
        "<i8" | "<f8" => 8u128,
        "<f4" => 4,
        other => {
            return Err(bad(format!(
                "element type {other}, expected <i8, <f8 or <f4"
            )))
        }
    };
    let bytes = shape
        .iter()
        .try_fold(item, |a, &d| a.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    let data_offset = start + len;
    if bytes != (size - data_offset) as u128 {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {bytes} bytes, the entry holds {}",
            size - data_offset
        )));
    }
    Ok(NpyHeader {
        descr,
        shape,
        data_offset,
    })
}

/// The text of `'key': value` in a `.npy` header dictionary (a tuple kept whole).
fn dict_value(dict: &str, key: &str) -> Option<String> {
    let at = dict
        .find(&format!("'{key}'"))
        .or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = dict[at + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim().to_string())
}
