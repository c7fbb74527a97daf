//! Integration tests: one binary, one module per area.

mod benchmarks;
mod determinism;
mod errors;
mod lif;
mod reference;
mod regimes;
mod wiring;
