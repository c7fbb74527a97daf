//! `somnet plot-recording run.h5 [--out DIR]`: rasters, population rates and state traces of a
//! recording (see [`somnet::io::recording::figures`]).

use std::path::PathBuf;

use clap::Args;

use somnet::io::recording::figures::{write_figures, FigureOptions};

/// Arguments of `somnet plot-recording`.
#[derive(Debug, Args)]
pub struct PlotRecordingArgs {
    /// A recording (`.h5`/`.hdf5` or `.npz`, as `Network.run(..., record=)` writes it).
    recording: PathBuf,
    /// Where the figures go (default: `<recording>-figures` beside it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start of the raster and trace window (ms).
    #[arg(long, default_value_t = 0.0)]
    from_ms: f64,
    /// End of the window (ms; default: 1 000 ms after the start or the recording's end).
    #[arg(long)]
    to_ms: Option<f64>,
    /// Width of a population-rate bin (ms).
    #[arg(long, default_value_t = 10.0)]
    bin_ms: f64,
    /// The most spikes a raster draws.
    #[arg(long, default_value_t = 200_000)]
    max_dots: usize,
    /// The most neurons a trace figure draws.
    #[arg(long, default_value_t = 8)]
    max_traces: usize,
}

pub fn run(args: PlotRecordingArgs) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        let mut name = args
            .recording
            .file_stem()
            .unwrap_or_default()
            .to_os_string();
        name.push("-figures");
        args.recording.with_file_name(name)
    });
    let opts = FigureOptions {
        from_ms: args.from_ms,
        to_ms: args.to_ms,
        bin_ms: args.bin_ms,
        max_dots: args.max_dots,
        max_traces: args.max_traces,
    };
    let figs = write_figures(&args.recording, &out, &opts)?;
    for s in &figs.spikes {
        println!(
            "{}/{}: {} spikes, {:.3} Hz mean over {} neurons -> {}, {}",
            s.population,
            s.observable,
            s.spikes,
            s.mean_rate_hz,
            s.n_neurons,
            s.raster.display(),
            s.rate.display()
        );
    }
    for t in &figs.traces {
        println!(
            "{}/{}: neurons {:?} -> {}",
            t.population,
            t.observable,
            t.neurons,
            t.image.display()
        );
    }
    println!("wrote {} (figures.json, rates.csv)", out.display());
    Ok(())
}
