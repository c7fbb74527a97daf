//! `somnet._somnet`, the extension module under the Python package `somnet`. It only converts
//! arguments, calls the somnet library and converts results back; the pure-Python package around
//! it (`python/somnet/`) checks and converts NumPy inputs, holds the exception classes and the
//! typed records, and traces PyTorch and Keras models into layer records.

use pyo3::prelude::*;

mod arrays;
mod datasets;
mod errors;
mod interrupt;
mod models;
mod models_neuron;
mod network;
mod plasticity;
mod simulate;
mod studies;

/// Large arrays on cache lines: whole-vector loads and stores in the kernels ([`somnet::memory`]).
#[global_allocator]
static ALLOCATOR: somnet::memory::CacheAligned = somnet::memory::CacheAligned;

#[pymodule]
fn _somnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", somnet::VERSION)?;
    m.add(
        "CONVERT_KEYS",
        somnet::convert::options::ConvertOptions::KEYS,
    )?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_class::<models::PyModel>()?;
    m.add_class::<models::PyConverted>()?;
    m.add_function(wrap_pyfunction!(models::load, m)?)?;
    m.add_function(wrap_pyfunction!(models::convert, m)?)?;
    m.add_function(wrap_pyfunction!(models::model_from_records, m)?)?;
    m.add_function(wrap_pyfunction!(models::model_from_keras, m)?)?;
    m.add_function(wrap_pyfunction!(models::converted_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(models::shard_range, m)?)?;
    m.add_function(wrap_pyfunction!(models::merge_shards, m)?)?;
    m.add_function(wrap_pyfunction!(models::model_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(studies::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate_nir, m)?)?;
    m.add_function(wrap_pyfunction!(studies::grid_points, m)?)?;
    m.add_function(wrap_pyfunction!(studies::pareto_front, m)?)?;
    m.add_function(wrap_pyfunction!(studies::sleep, m)?)?;
    m.add_function(wrap_pyfunction!(studies::incremental, m)?)?;
    m.add(
        "INCREMENTAL_KEYS",
        somnet::sleep::incremental::IncrementalConfig::KEYS,
    )?;
    m.add("SLEEP_KEYS", somnet::sleep::SleepConfig::KEYS)?;
    m.add_function(wrap_pyfunction!(datasets::load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(datasets::default_data_dir, m)?)?;
    m.add_class::<network::PyNetwork>()?;
    m.add_class::<network::PyPopulation>()?;
    m.add_class::<network::Neurons>()?;
    m.add_class::<network::SpikeMonitor>()?;
    m.add_class::<network::StateMonitor>()?;
    m.add_class::<network::RateMonitor>()?;
    m.add_class::<models_neuron::Lif>()?;
    m.add_class::<models_neuron::If>()?;
    m.add_class::<models_neuron::Izhikevich>()?;
    m.add_class::<models_neuron::Delta>()?;
    m.add_class::<models_neuron::Exponential>()?;
    m.add_class::<models_neuron::Conductance>()?;
    m.add_class::<models_neuron::Uniform>()?;
    m.add_class::<models_neuron::Normal>()?;
    m.add_class::<plasticity::PyStdp>()?;
    m.add_class::<plasticity::PyTripletStdp>()?;
    m.add_class::<plasticity::PyRewardStdp>()?;
    Ok(())
}

/// The vector kernels in use (`avx512`, `avx2` or `portable`), chosen from the CPU at run time.
#[pyfunction]
fn simd_level() -> String {
    somnet::simd::level().name().to_string()
}
