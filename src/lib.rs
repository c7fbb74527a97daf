//! # somnet — an event-driven spiking neural network engine
//!
//! The map of the crate, in the direction of use (a module uses only modules above it):
//!
//! | module | what it is |
//! |---|---|
//! | [`error`] | errors that name the thing, the field and what was expected |
//! | [`memory`] | an allocator that starts large arrays on cache lines, for programs to install |
//! | [`limits`] | the bound on what a size declared in a file or spec may make somnet allocate |
//! | [`time`] | the time step; the only place where ms become whole steps |
//! | [`rng`] | named random streams and the determinism contract |
//! | [`simd`] | vector kernels chosen at run time (AVX-512, AVX2, portable), same numbers on each |
//! | [`neuron`] | neuron models (IF, LIF, Izhikevich and its 20 regimes): params, propagator, step |
//! | [`network`] | populations, projections, delays, inputs, monitors, plasticity; the schedule |
//! | [`ann`] | the framework-neutral ANN: layers, forward pass, counts, trainer |
//! | [`data`] | data sets: IDX (MNIST, Fashion-MNIST), CIFAR-10, image folders; seeded selections |
//! | [`io`] | somnet HDF5 model files and HDF5 helpers |
//! | [`convert`] | ANN → SNN conversion: batch-norm folding, normalisation, the spiking network with its plausibility knobs, evaluation, energy; the whole pipeline as two calls ([`convert::pipeline`]) |
//! | [`sleep`] | sleep replay consolidation (SRC) and the class-incremental experiment |
//! | [`benchmarks`] | the classic benchmark networks (CUBA, Izhikevich 2003) |
//! | [`simulate`] | NIR graphs run on the engine: the discretisation presets, the mapping of nodes to populations and composed projections |
//! | [`study`] | sweeps over conversion knobs, reports and plots |
//! | [`fuzzing`] | one entry point per reader of outside data, for the fuzz targets and their corpus test |
//!
//! The `somnet` binary (`src/cli`) parses commands and calls into these modules.

#![warn(missing_docs)]

pub mod ann;
pub mod benchmarks;
pub mod convert;
pub mod data;
pub mod error;
pub mod fuzzing;
pub mod io;
pub mod limits;
pub mod memory;
pub mod network;
pub mod neuron;
pub mod rng;
pub mod simd;
pub mod simulate;
pub mod sleep;
pub mod study;
pub mod time;

pub use error::{Error, Result};

/// The crate version, recorded in every output file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
