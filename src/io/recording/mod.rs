//! Recordings streamed to files while a network runs: every spike monitor and state monitor of
//! the network goes to an HDF5 file in NIR's data layout ("NIRData", which `nir.read_data`
//! reads) or to a NumPy `.npz` archive, written in chunks as the run goes, so memory stays
//! bounded however long it runs (the monitors are emptied as their contents are written).
//!
//! Layout, per population `<pop>` with a monitor (observable `<obs>`: `spikes` for a spike
//! monitor, the variable's name — `v`, `u`, `syn0`, … — for a state monitor; a second monitor of
//! the same kind on a population gets `_2`, and so on):
//! - HDF5: root attribute `__type__ = "NIRGraphData"`; `nodes/<pop>` (`__type__ =
//!   "NIRNodeData"`) / `observables/<obs>`: spikes as `EventData` (datasets `idx` (int64) and
//!   `time` (float64, seconds) of shape (1, events); attributes `n_neurons`, `t_max` in seconds),
//!   traces as `TimeGriddedData` (dataset `data` (float32) of shape (1, samples, neurons),
//!   attribute `dt`: the sampling interval in seconds; sample k is the state after step
//!   k·every, as the monitor took it) plus a dataset `neurons` (int64): which neurons the columns
//!   are. A spike of step t has time t·dt.
//! - npz: the same names as keys, `<pop>/<obs>/idx`, `…/time`, `…/n_neurons`, `…/t_max` for
//!   spikes, `<pop>/<obs>/data` (samples × neurons), `…/neurons`, `…/dt` for traces (1-D event
//!   arrays; 0-d scalars).
//!
//! [`RecordingReader`] reads either format back a chunk at a time; [`figures::write_figures`]
//! draws rasters, population rates and traces from it (`somnet plot-recording`).

pub mod figures;
mod npz;
mod read;

pub use read::{RecordingReader, SpikeInfo, TraceInfo};

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use hdf5_metno as hdf5;

use crate::error::{Error, Result};
use crate::io::h5::{write_f64_attr, write_str_attr, Ctx};
use crate::network::Network;

/// Steps run between two writes: the monitors never hold more than this many steps.
pub const CHUNK_STEPS: u64 = 1000;

/// The file kind, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    /// `.h5` / `.hdf5`: NIR's data layout.
    Hdf5,
    /// `.npz`: a NumPy archive.
    Npz,
}

impl RecordingFormat {
    /// The format a path's extension names.
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("h5" | "hdf5") => Ok(RecordingFormat::Hdf5),
            Some("npz") => Ok(RecordingFormat::Npz),
            other => Err(Error::file(
                path,
                format!(
                    "recording format: extension {:?}, expected .h5, .hdf5 or .npz",
                    other.unwrap_or("")
                ),
            )),
        }
    }
}

enum Sink {
    Hdf5(Vec<hdf5::Dataset>),
    /// Indices into the archive's parts.
    Npz(Vec<usize>),
}

struct Stream {
    node: String,
    obs: String,
    sink: Sink,
    /// Spikes: the population's size. Traces: the number of neurons recorded.
    width: usize,
    written: u64,
}

/// A recording being written (see the module docs). Make it with [`Recording::create`] after the
/// network's monitors are added, run with [`Recording::run`], close with [`Recording::finish`].
///
/// ```
/// use somnet::io::recording::Recording;
/// use somnet::network::{Network, NetworkConfig, StateVar};
/// use somnet::neuron::{LifParams, NeuronModel, Port};
/// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..Default::default() }).unwrap();
/// let src = net.add_poisson("input", 10, 100.0).unwrap();
/// let lif = net.add_population("lif", 2, NeuronModel::Lif(LifParams::default()), vec![Port::Delta]).unwrap();
/// net.monitor_spikes(src, None).unwrap();
/// net.monitor_state(lif, StateVar::V, vec![0, 1], 10).unwrap();
/// let path = std::env::temp_dir().join(format!("doc-rec-{}.npz", std::process::id()));
/// let mut rec = Recording::create(&path, &net).unwrap();
/// rec.run(&mut net, 2500, |_| std::ops::ControlFlow::Continue(())).unwrap();
/// rec.finish(&net).unwrap();
/// ```
pub struct Recording {
    path: PathBuf,
    dt_s: f64,
    file: Option<hdf5::File>,
    /// npz: the directory of part files and the parts.
    parts_dir: Option<PathBuf>,
    parts: Vec<npz::NpyPart>,
    spikes: Vec<Stream>,
    traces: Vec<Stream>,
}

impl Recording {
    /// Opens `path` (`.h5`/`.hdf5` or `.npz`, replaced) for every monitor `net` has now.
    pub fn create(path: &Path, net: &Network) -> Result<Self> {
        let format = RecordingFormat::of(path)?;
        let dt_s = net.dt().ms() * 1e-3;
        let mut rec = Recording {
            path: path.to_path_buf(),
            dt_s,
            file: None,
            parts_dir: None,
            parts: Vec::new(),
            spikes: Vec::new(),
            traces: Vec::new(),
        };
        match format {
            RecordingFormat::Hdf5 => {
                let file = crate::io::h5::create(path)?;
                write_str_attr(&file, &Ctx::root(path), "__type__", "NIRGraphData")?;
                rec.file = Some(file);
            }
            RecordingFormat::Npz => {
                let dir = path.with_extension("npz.parts");
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                rec.parts_dir = Some(dir);
            }
        }
        let mut names: Vec<(String, String)> = Vec::new();
        let mut unique = |node: &str, obs: &str| {
            let mut name = obs.to_string();
            let mut k = 2;
            while names.iter().any(|(n, o)| n == node && *o == name) {
                name = format!("{obs}_{k}");
                k += 1;
            }
            names.push((node.to_string(), name.clone()));
            name
        };
        let pops = net.populations();
        let spike_monitors: Vec<(String, usize)> = (0..net.n_spike_monitors())
            .map(|k| {
                let pop = &pops[net.spike_monitor_population(k).0 as usize];
                (pop.name().to_string(), pop.len())
            })
            .collect();
        for (node, n) in spike_monitors {
            let obs = unique(&node, "spikes");
            let s = rec.open_events(&node, &obs, n)?;
            rec.spikes.push(s);
        }
        let state_monitors: Vec<(String, String, Vec<u32>, u64)> = (0..net.n_state_monitors())
            .map(|k| {
                let (pop, var, neurons, every) = net.state_monitor_layout(k);
                (
                    pops[pop.0 as usize].name().to_string(),
                    var,
                    neurons.to_vec(),
                    every,
                )
            })
            .collect();
        for (node, var, neurons, every) in state_monitors {
            let obs = unique(&node, &var);
            let s = rec.open_trace(&node, &obs, &neurons, every as f64 * dt_s)?;
            rec.traces.push(s);
        }
        Ok(rec)
    }

    fn observable(&self, node: &str, obs: &str, kind: &str) -> Result<(hdf5::Group, Ctx)> {
        let file = self.file.as_ref().expect("an HDF5 recording");
        let root = Ctx::root(&self.path);
        let err = |ctx: &Ctx, e: hdf5::Error| ctx.err(e);
        let nodes = match file.group("nodes") {
            Ok(g) => g,
            Err(_) => file.create_group("nodes").map_err(|e| err(&root, e))?,
        };
        let nctx = root.child("nodes").child(node);
        let g = match nodes.group(node) {
            Ok(g) => g,
            Err(_) => {
                let g = nodes.create_group(node).map_err(|e| err(&nctx, e))?;
                write_str_attr(&g, &nctx, "__type__", "NIRNodeData")?;
                g.create_group("observables").map_err(|e| err(&nctx, e))?;
                g
            }
        };
        let octx = nctx.child("observables").child(obs);
        let o = g
            .group("observables")
            .and_then(|g| g.create_group(obs))
            .map_err(|e| err(&octx, e))?;
        write_str_attr(&o, &octx, "__type__", kind)?;
        Ok((o, octx))
    }

    fn open_events(&mut self, node: &str, obs: &str, n_neurons: usize) -> Result<Stream> {
        let sink = if self.file.is_some() {
            let (o, ctx) = self.observable(node, obs, "EventData")?;
            o.new_attr::<i64>()
                .create("n_neurons")
                .and_then(|a| a.write_scalar(&(n_neurons as i64)))
                .map_err(|e| ctx.err(e))?;
            let idx = growing::<i64>(&o, &ctx, "idx", &[1, 0])?;
            let time = growing::<f64>(&o, &ctx, "time", &[1, 0])?;
            Sink::Hdf5(vec![idx, time])
        } else {
            let base = format!("{node}/{obs}");
            let idx = self.part(&format!("{base}/idx"), "<i8", 0)?;
            let time = self.part(&format!("{base}/time"), "<f8", 0)?;
            let n = self.part(&format!("{base}/n_neurons"), "<i8", 0)?;
            self.parts[n].append(&(n_neurons as i64).to_le_bytes(), 1)?;
            Sink::Npz(vec![idx, time])
        };
        Ok(Stream {
            node: node.to_string(),
            obs: obs.to_string(),
            sink,
            width: n_neurons,
            written: 0,
        })
    }

    fn open_trace(&mut self, node: &str, obs: &str, neurons: &[u32], dt_s: f64) -> Result<Stream> {
        let ids: Vec<i64> = neurons.iter().map(|&i| i as i64).collect();
        let sink = if self.file.is_some() {
            let (o, ctx) = self.observable(node, obs, "TimeGriddedData")?;
            write_f64_attr(&o, &ctx, "dt", dt_s)?;
            o.new_dataset_builder()
                .with_data(&ids)
                .create("neurons")
                .map_err(|e| ctx.err(e))?;
            let data = growing::<f32>(&o, &ctx, "data", &[1, 0, neurons.len()])?;
            Sink::Hdf5(vec![data])
        } else {
            let base = format!("{node}/{obs}");
            let data = self.part(&format!("{base}/data"), "<f4", neurons.len())?;
            let n = self.part(&format!("{base}/neurons"), "<i8", 0)?;
            let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
            self.parts[n].append(&bytes, ids.len() as u64)?;
            let d = self.part(&format!("{base}/dt"), "<f8", 0)?;
            self.parts[d].append(&dt_s.to_le_bytes(), 1)?;
            Sink::Npz(vec![data])
        };
        Ok(Stream {
            node: node.to_string(),
            obs: obs.to_string(),
            sink,
            width: neurons.len(),
            written: 0,
        })
    }

    fn part(&mut self, key: &str, descr: &'static str, row: usize) -> Result<usize> {
        let dir = self.parts_dir.as_ref().expect("an npz recording");
        let part = npz::NpyPart::create(dir, key, self.parts.len(), descr, row)?;
        self.parts.push(part);
        Ok(self.parts.len() - 1)
    }

    /// Runs `net` for `n_steps` steps (like [`Network::run_with`], `after_step` can stop it at a
    /// step boundary), writing what its monitors recorded every [`CHUNK_STEPS`] steps. Returns
    /// the steps run.
    pub fn run(
        &mut self,
        net: &mut Network,
        n_steps: u64,
        mut after_step: impl FnMut(u64) -> ControlFlow<()>,
    ) -> Result<u64> {
        let mut done = 0;
        while done < n_steps {
            let chunk = CHUNK_STEPS.min(n_steps - done);
            let base = done;
            let ran = net.run_with(chunk, |k| after_step(base + k))?;
            done += ran;
            self.drain(net)?;
            if ran < chunk {
                break;
            }
        }
        Ok(done)
    }

    /// Writes (and empties) what the monitors hold now.
    pub fn drain(&mut self, net: &mut Network) -> Result<()> {
        let dt_s = self.dt_s;
        for (k, m) in net.spike_monitors_mut().iter_mut().enumerate() {
            let events = std::mem::take(&mut m.events);
            let Some(stream) = self.spikes.get_mut(k) else {
                continue;
            };
            let idx: Vec<i64> = events.iter().map(|e| e.1 as i64).collect();
            let time: Vec<f64> = events.iter().map(|e| e.0 as f64 * dt_s).collect();
            match &stream.sink {
                Sink::Hdf5(ds) => {
                    let at = stream.written as usize;
                    append(&ds[0], &self.path, at, &idx, &[1, idx.len()])?;
                    append(&ds[1], &self.path, at, &time, &[1, time.len()])?;
                }
                Sink::Npz(p) => {
                    let b: Vec<u8> = idx.iter().flat_map(|x| x.to_le_bytes()).collect();
                    self.parts[p[0]].append(&b, idx.len() as u64)?;
                    let b: Vec<u8> = time.iter().flat_map(|x| x.to_le_bytes()).collect();
                    self.parts[p[1]].append(&b, time.len() as u64)?;
                }
            }
            stream.written += idx.len() as u64;
        }
        for (k, m) in net.state_monitors_mut().iter_mut().enumerate() {
            let values = std::mem::take(&mut m.values);
            let samples = std::mem::take(&mut m.steps).len();
            let Some(stream) = self.traces.get_mut(k) else {
                continue;
            };
            match &stream.sink {
                Sink::Hdf5(ds) => {
                    let at = stream.written as usize;
                    append(&ds[0], &self.path, at, &values, &[1, samples, stream.width])?;
                }
                Sink::Npz(p) => {
                    let b: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
                    self.parts[p[0]].append(&b, samples as u64)?;
                }
            }
            stream.written += samples as u64;
        }
        Ok(())
    }

    /// Writes what is left, the recording's length (`t_max`) and closes the file.
    pub fn finish(mut self, net: &Network) -> Result<()> {
        let t_max = net.current_step() as f64 * self.dt_s;
        if let Some(file) = &self.file {
            let root = Ctx::root(&self.path);
            for s in &self.spikes {
                let o = file
                    .group(&format!("nodes/{}/observables/{}", s.node, s.obs))
                    .map_err(|e| root.err(e))?;
                write_f64_attr(&o, &root.child(&s.obs), "t_max", t_max)?;
            }
            file.flush().map_err(|e| root.err(e))?;
            return Ok(());
        }
        let keys: Vec<String> = self
            .spikes
            .iter()
            .map(|s| format!("{}/{}/t_max", s.node, s.obs))
            .collect();
        for key in keys {
            let k = self.part(&key, "<f8", 0)?;
            self.parts[k].append(&t_max.to_le_bytes(), 1)?;
        }
        let parts = std::mem::take(&mut self.parts)
            .into_iter()
            .map(npz::NpyPart::finish)
            .collect::<Result<Vec<_>>>()?;
        npz::pack(&self.path, &parts)?;
        if let Some(dir) = &self.parts_dir {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        Ok(())
    }
}

/// A chunked, deflated dataset of `shape` whose axis 1 grows (from 0).
fn growing<T: hdf5::H5Type>(
    g: &hdf5::Group,
    ctx: &Ctx,
    name: &str,
    shape: &[usize],
) -> Result<hdf5::Dataset> {
    let extents: Vec<hdf5::Extent> = shape
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            if k == 1 {
                hdf5::Extent::resizable(0)
            } else {
                hdf5::Extent::fixed(n)
            }
        })
        .collect();
    let chunk: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(k, &n)| if k == 1 { 4096 } else { n.max(1) })
        .collect();
    g.new_dataset::<T>()
        .chunk(chunk)
        .deflate(4)
        .shape(extents)
        .create(name)
        .map_err(|e| ctx.err(format!("creating '{name}': {e}")))
}

/// Writes `data` (of `shape`, growing axis 1) at offset `at` along axis 1.
fn append<T: hdf5::H5Type>(
    ds: &hdf5::Dataset,
    path: &Path,
    at: usize,
    data: &[T],
    shape: &[usize],
) -> Result<()> {
    let n = shape[1];
    if n == 0 {
        return Ok(());
    }
    let err = |e: hdf5::Error| Error::file(path, format!("writing '{}': {e}", ds.name()));
    let mut full = shape.to_vec();
    full[1] = at + n;
    ds.resize(full.clone()).map_err(err)?;
    let view = ndarray::ArrayView::from_shape(ndarray::IxDyn(shape), data)
        .map_err(|e| Error::file(path, format!("writing '{}': {e}", ds.name())))?;
    let sel: Vec<hdf5::SliceOrIndex> = (0..shape.len())
        .map(|k| {
            if k == 1 {
                hdf5::SliceOrIndex::from(at..at + n)
            } else {
                hdf5::SliceOrIndex::from(..)
            }
        })
        .collect();
    ds.write_slice(&view, hdf5::Selection::from(hdf5::Hyperslab::from(sel)))
        .map_err(err)
}
