//! NIR graphs run on the engine from Python (`somnet.simulate_nir`): the library's
//! `simulate::Simulation`, its options by name and its output files.

use std::path::PathBuf;
use std::time::Instant;

use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use somnet::simulate::{batch_input, write_run, Framework, SimOptions, SimRecord, Simulation};

use crate::errors::OrPy;
use crate::interrupt;

type Stopped = Option<Py<PyAny>>;

/// Runs the NIR graph in file `nir` on `input` ((T, *input_shape) or (B, T, *input_shape)) under
/// the discretisation of `framework` with `options` (name, value) overriding it; returns the
/// output per step ((B, T, *output_shape)), the record (JSON) and what stopped it early, if
/// anything (the output then holds the samples finished in order). With `record` every neuron
/// node's spikes and membrane are kept and, with `out`, written there as recording.h5 beside
/// output.npy and result.json.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn simulate_nir<'py>(
    py: Python<'py>,
    nir: PathBuf,
    input: PyReadonlyArrayDyn<'py, f32>,
    framework: Option<&str>,
    options: Vec<(String, String)>,
    record: bool,
    threads: usize,
    progress: Option<Py<PyAny>>,
    out: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyArrayDyn<f32>>, String, Stopped)> {
    let graph = somnet::io::nir::read(&nir).or_py()?;
    let mut o = match framework {
        Some(name) => Framework::parse(name).or_py()?.options(),
        None => SimOptions::for_graph(&graph).or_py()?,
    };
    for (key, value) in &options {
        o.set(key, value).or_py()?;
    }
    let sim = Simulation::new(&graph, &o).or_py()?;
    let x = batch_input(&input.as_array().to_owned(), sim.input_shape()).or_py()?;
    let samples = x.dim().0 as u64;
    let start = Instant::now();
    let outcome = interrupt::run(py, threads, samples, progress, |watch| {
        let tick = |done: usize| watch.set_done(done as u64);
        if record {
            sim.run_recorded(x.view(), &tick)
        } else {
            sim.run(x.view(), &tick)
        }
    })?;
    let result = outcome.value.or_py()?;
    let seconds = start.elapsed().as_secs_f64();
    let rec = SimRecord::new(
        &sim,
        &result,
        &nir.display().to_string(),
        graph.version.clone(),
        seconds,
    );
    if let Some(dir) = &out {
        write_run(dir, &sim, &result, &rec).or_py()?;
    }
    let (b, t, _) = result.output.dim();
    let mut shape = vec![b, t];
    shape.extend_from_slice(sim.output_shape());
    let output = result
        .output
        .into_shape_with_order(numpy::ndarray::IxDyn(&shape))
        .map_err(|e| crate::errors::value(e.to_string()))?;
    let json = serde_json::to_string(&rec).expect("records serialise");
    Ok((
        output.into_pyarray(py),
        json,
        outcome.stopped_by.map(|e| e.into_value(py).into_any()),
    ))
}
