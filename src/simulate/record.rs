//! What a run of a NIR graph is recorded as (`result.json`), and the input's shapes.

use ndarray::{Array3, ArrayD};

use super::{NodeSummary, SimOptions, SimResult, Simulation};
use crate::error::{Error, Result};

/// The record of one run (`result.json` of `somnet simulate`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimRecord {
    /// The somnet that ran it.
    pub somnet_version: String,
    /// The command line, where there was one.
    pub command: String,
    /// The graph's file.
    pub nir_file: String,
    /// The file's `/version`.
    pub nir_version: Option<String>,
    /// The discretisation.
    pub options: SimOptions,
    /// Every node (inlined subgraphs as `outer.inner`).
    pub nodes: Vec<NodeSummary>,
    /// The neuron nodes in schedule order, with their spikes over all samples.
    pub populations: Vec<PopulationRecord>,
    /// Edges closing a cycle without a Delay, acting one step later.
    pub delayed_cycles: Vec<String>,
    /// Neuron nodes run as one population per parameter set: (node, sets).
    #[serde(default)]
    pub split_nodes: Vec<(String, usize)>,
    /// One step's input shape.
    pub input_shape: Vec<usize>,
    /// One step's output shape.
    pub output_shape: Vec<usize>,
    /// Samples given.
    pub samples: usize,
    /// Samples finished (fewer when stopped).
    pub samples_done: usize,
    /// Steps per sample.
    pub steps: usize,
    /// Synapses of the engine network.
    pub synapses: u64,
    /// Synaptic events delivered over all samples.
    pub synaptic_events: u64,
    /// Wall time of the run (s).
    pub seconds: f64,
    /// Finished samples per second.
    pub samples_per_second: f64,
}

/// One neuron node of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PopulationRecord {
    /// The node's name.
    pub name: String,
    /// Its NIR type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Neurons.
    pub neurons: usize,
    /// Spikes over all samples.
    pub spikes: u64,
}

impl SimRecord {
    /// The record of `result`, a run of `sim` on `samples` × `steps` input read from `nir_file`.
    pub fn new(
        sim: &Simulation,
        result: &SimResult,
        nir_file: &str,
        nir_version: Option<String>,
        seconds: f64,
    ) -> SimRecord {
        let shape = result.output.shape();
        SimRecord {
            somnet_version: crate::VERSION.to_string(),
            command: String::new(),
            nir_file: nir_file.to_string(),
            nir_version,
            options: *sim.options(),
            nodes: sim.nodes(),
            populations: sim
                .populations()
                .into_iter()
                .zip(&result.spikes)
                .map(|((name, kind, neurons), (_, spikes))| PopulationRecord {
                    name,
                    kind: kind.to_string(),
                    neurons,
                    spikes: *spikes,
                })
                .collect(),
            delayed_cycles: sim.delayed_cycles().to_vec(),
            split_nodes: sim.split_nodes().to_vec(),
            input_shape: sim.input_shape().to_vec(),
            output_shape: sim.output_shape().to_vec(),
            samples: result.samples,
            samples_done: result.samples_done,
            steps: shape[1],
            synapses: result.synapses,
            synaptic_events: result.events,
            seconds,
            samples_per_second: result.samples_done as f64 / seconds.max(1e-12),
        }
    }

    /// The same record naming the command line that made it.
    pub fn with_command(mut self, command: String) -> SimRecord {
        self.command = command;
        self
    }
}

/// The input as (samples, steps, elements): `x` of shape (T, *shape) is one sample, (B, T, *shape)
/// a batch. Leading axes of size 1 in the graph's input `shape` may be left out (Norse's exporter
/// keeps the batch axis of its sample, writing (1, n)).
///
/// ```
/// let x = ndarray::ArrayD::<f32>::zeros(vec![4, 10, 20]);
/// let b = somnet::simulate::batch_input(&x, &[1, 20]).unwrap();
/// assert_eq!(b.dim(), (4, 10, 20));
/// assert!(somnet::simulate::batch_input(&x, &[21]).is_err());
/// ```
pub fn batch_input(x: &ArrayD<f32>, shape: &[usize]) -> Result<Array3<f32>> {
    let s = x.shape();
    let n: usize = shape.iter().product();
    let lead = shape.iter().take_while(|&&d| d == 1).count();
    let bare = &shape[lead.min(shape.len().saturating_sub(1))..];
    let fits = |tail: &[usize]| tail == shape || tail == bare;
    let (b, t) = if s.len() >= 2 && fits(&s[1..]) {
        (1, s[0])
    } else if s.len() >= 3 && fits(&s[2..]) {
        (s[0], s[1])
    } else {
        return Err(Error::Unsupported(format!(
            "input of shape {s:?}: expected (T, {shape:?}) or (B, T, {shape:?}) for the graph's \
             Input node"
        )));
    };
    if t == 0 || b == 0 {
        return Err(Error::Unsupported(format!(
            "input of shape {s:?}: no steps or no samples"
        )));
    }
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order((b, t, n))
        .map_err(|e| Error::Unsupported(e.to_string()))
}

/// Writes a run's files into `out`: `output.npy` ((samples, steps, *output_shape), float32),
/// `result.json` (`record`) and, when the run recorded, `recording.h5` (NIR's data layout).
pub fn write_run(
    out: &std::path::Path,
    sim: &Simulation,
    result: &SimResult,
    record: &SimRecord,
) -> Result<()> {
    crate::io::report::ensure_dir(out)?;
    let (b, t, _) = result.output.dim();
    let mut shape = vec![b, t];
    shape.extend_from_slice(sim.output_shape());
    let output = result
        .output
        .clone()
        .into_shape_with_order(ndarray::IxDyn(&shape))
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    crate::io::npy::write_f32(&out.join("output.npy"), output.view())?;
    if let Some(nodes) = &result.recording {
        crate::io::nir::write_data(&out.join("recording.h5"), nodes, t, sim.options().dt)?;
    }
    crate::io::report::write_json(&out.join("result.json"), record)
}
