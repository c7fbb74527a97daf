//! Recordings in the layout `nir.write_data` produces and `nir.read_data` reads ("NIRData"): root
//! attribute `__type__ = "NIRGraphData"`, `nodes/<name>` (`__type__ = "NIRNodeData"`) with
//! `observables/<obs>`: `TimeGriddedData` (dataset `data` of shape (samples, steps, neurons),
//! attribute `dt`) or `EventData` (datasets `idx` and `time` of shape (samples, events), padded with
//! −1 and +inf; attributes `n_neurons`, `t_max`).

use std::path::Path;

use hdf5_metno as hdf5;
use ndarray::Array3;

use crate::error::Result;
use crate::io::h5::{write_f64_attr, write_str_attr, Ctx};

/// What was recorded of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeData {
    /// The node's name in the graph.
    pub name: String,
    /// Per sample, its spikes as (step, neuron) in step order; `None` for non-spiking nodes.
    pub spikes: Option<Vec<Vec<(u32, u32)>>>,
    /// The membrane after every step, (samples, steps, neurons); `None` if not recorded.
    pub v: Option<Array3<f32>>,
    /// Neurons of the node.
    pub n_neurons: usize,
}

/// Writes `nodes` recorded over `steps` steps of `dt` to `path` (replacing it). Spikes become
/// `EventData` named `spikes` (event time = step · dt), membranes `TimeGriddedData` named `v`.
pub fn write_data(path: &Path, nodes: &[NodeData], steps: usize, dt: f64) -> Result<()> {
    let file = crate::io::h5::create(path)?;
    let root = Ctx::root(path);
    write_str_attr(&file, &root, "__type__", "NIRGraphData")?;
    let group = file
        .create_group("nodes")
        .map_err(|e| root.err(format!("creating 'nodes': {e}")))?;
    let ctx = root.child("nodes");
    for node in nodes {
        let g = group
            .create_group(&node.name)
            .map_err(|e| ctx.err(format!("creating '{}': {e}", node.name)))?;
        let nctx = ctx.child(&node.name);
        write_str_attr(&g, &nctx, "__type__", "NIRNodeData")?;
        let obs = g
            .create_group("observables")
            .map_err(|e| nctx.err(format!("creating 'observables': {e}")))?;
        let octx = nctx.child("observables");
        if let Some(spikes) = &node.spikes {
            let o = obs
                .create_group("spikes")
                .map_err(|e| octx.err(format!("creating 'spikes': {e}")))?;
            let sctx = octx.child("spikes");
            write_str_attr(&o, &sctx, "__type__", "EventData")?;
            let width = spikes.iter().map(Vec::len).max().unwrap_or(0);
            let samples = spikes.len();
            let mut idx = ndarray::Array2::<i64>::from_elem((samples, width), -1);
            let mut time = ndarray::Array2::<f64>::from_elem((samples, width), f64::INFINITY);
            for (s, events) in spikes.iter().enumerate() {
                for (k, &(step, neuron)) in events.iter().enumerate() {
                    idx[[s, k]] = neuron as i64;
                    time[[s, k]] = step as f64 * dt;
                }
            }
            dataset(&o, &sctx, "idx", idx.view())?;
            dataset(&o, &sctx, "time", time.view())?;
            o.new_attr::<i64>()
                .create("n_neurons")
                .and_then(|a| a.write_scalar(&(node.n_neurons as i64)))
                .map_err(|e| sctx.err(format!("writing attribute 'n_neurons': {e}")))?;
            write_f64_attr(&o, &sctx, "t_max", steps as f64 * dt)?;
        }
        if let Some(v) = &node.v {
            let o = obs
                .create_group("v")
                .map_err(|e| octx.err(format!("creating 'v': {e}")))?;
            let vctx = octx.child("v");
            write_str_attr(&o, &vctx, "__type__", "TimeGriddedData")?;
            dataset(&o, &vctx, "data", v.view())?;
            write_f64_attr(&o, &vctx, "dt", dt)?;
        }
    }
    Ok(())
}

fn dataset<T: hdf5::H5Type, D: ndarray::Dimension>(
    g: &hdf5::Group,
    ctx: &Ctx,
    name: &str,
    data: ndarray::ArrayView<'_, T, D>,
) -> Result<()> {
    let b = g.new_dataset_builder();
    let r = if data.is_empty() {
        b.with_data(data).create(name)
    } else {
        b.deflate(4).with_data(data).create(name)
    };
    r.map(|_| ())
        .map_err(|e| ctx.err(format!("writing '{name}': {e}")))
}
