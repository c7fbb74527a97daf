//! Integration tests: one binary, one module per area.

mod ann;
mod benchmarks;
mod cli;
mod common;
mod convert;
mod convert_options;
mod data;
mod determinism;
mod errors;
mod golden;
mod import;
mod inputs;
mod izhikevich;
mod lif;
mod outputs;
mod pipeline;
mod plasticity;
mod reference;
mod regimes;
mod schema;
mod shard;
mod simd;
mod sleep;
mod wiring;
