//! Subcommands: parse → validated configuration → library call → report.

mod bench;
mod convert;
mod convert_args;
mod data_args;
mod demo;
mod evaluate;
mod export_nir;
mod export_sonata;
mod import;
mod incremental;
mod info;
mod merge;
mod model;
mod plot_recording;
mod progress;
mod search;
mod simulate;
mod sleep;
mod sleep_args;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

/// somnet: an event-driven spiking neural network engine.
#[derive(Debug, Parser)]
#[command(name = "somnet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a small MNIST network, convert it and evaluate the spiking network (the end-to-end
    /// default); `--cuba`: simulate CUBA-4000 for 1 s instead.
    Demo(demo::DemoArgs),
    /// Run a benchmark network and print one JSON line.
    Bench(bench::BenchArgs),
    /// Train an ANN on a data set and save it as a somnet model file.
    Train(train::TrainArgs),
    /// Read a Keras `.h5` model and write it as a somnet model file.
    Import(import::ImportArgs),
    /// Print a model's layers, shapes, parameter and MAC counts.
    Info(info::InfoArgs),
    /// Measure a model's accuracy on a data set's test images.
    Evaluate(evaluate::EvaluateArgs),
    /// Convert a model to a spiking network (fold, normalise, record the knobs) and save it.
    Convert(convert::ConvertCmdArgs),
    /// Evaluate the converted network over a grid of conversion knobs; table and Pareto plot.
    Sweep(sweep::SweepArgs),
    /// Merge the shards of `somnet evaluate --shard I/N` into the record of the whole run.
    Merge(merge::MergeArgs),
    /// One sleep phase (SRC) on a model; accuracy per class before and after.
    Sleep(sleep::SleepCmdArgs),
    /// Class-incremental learning with sleep replay consolidation and its controls.
    Incremental(incremental::IncrementalArgs),
    /// Search sleep settings on a validation split of the training data (random draws, kept in
    /// trials.csv, resumable), then test the best once over several seeds.
    Search(search::SearchArgs),
    /// Run a NIR graph (from snnTorch, Sinabs, Norse, …) on the engine: output per step and a
    /// record.
    Simulate(simulate::SimulateArgs),
    /// Write a converted network as a NIR graph (for neuromorphic hardware and other
    /// frameworks).
    ExportNir(export_nir::ExportNirArgs),
    /// Write an engine network (cuba:N, izhikevich:N, pair) as a SONATA circuit for NEST.
    ExportSonata(export_sonata::ExportSonataArgs),
    /// Draw a recording's rasters, population rates and state traces (PNG, CSV, JSON).
    PlotRecording(plot_recording::PlotRecordingArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(args),
        Command::Import(args) => import::run(args),
        Command::Info(args) => info::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Sleep(args) => sleep::run(args),
        Command::Incremental(args) => incremental::run(args),
        Command::Search(args) => search::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::ExportNir(args) => export_nir::run(args),
        Command::ExportSonata(args) => export_sonata::run(args),
        Command::PlotRecording(args) => plot_recording::run(args),
    }
}

/// Runs `f` on a rayon pool of `threads` threads (0: rayon's default).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    Ok(pool.install(f))
}
