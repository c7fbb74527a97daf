//! Studies over converted networks and their reports.
//!
//! - [`sweep`]: typed grids of conversion knobs, one evaluation per point, the Pareto front.
//! - [`report`]: the files of an evaluation and of a sweep (JSON record, CSV table, plots).
//! - [`seeds`]: the seeds of the class-incremental experiment, each kept on disk as it finishes
//!   and reused by a resumed run.
//! - [`cuba_demo`]: the simulator demo: CUBA with a raster, the population rate and a record.
//! - [`demo`]: the end-to-end default: train, convert, evaluate two settings.
//! - [`plot`]: line charts, scatter plots and rasters.

pub mod cuba_demo;
pub mod demo;
pub mod plot;
pub mod report;
pub mod seeds;
pub mod sweep;
