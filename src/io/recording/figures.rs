//! Figures of a recording, for a person to look at, and their numbers, for a program: for every
//! spike observable a raster of a time window with the population rate under it and the rate
//! over the whole recording; for every state trace the first few neurons over the window;
//! `rates.csv` (the binned population rates) and `figures.json` (what was drawn, the mean rates).
//!
//! The recording is read a chunk at a time ([`RecordingReader`]): the rates of an hour-long
//! recording cost one counter per bin, the raster at most [`FigureOptions::max_dots`] dots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::read::RecordingReader;
use crate::error::{Error, Result};
use crate::study::plot::{self, Marker, Series, PALETTE};

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureOptions {
    /// Start of the raster and trace window (ms).
    pub from_ms: f64,
    /// End of the window (ms); `None`: 1 000 ms after the start, or the recording's end.
    pub to_ms: Option<f64>,
    /// Width of a rate bin (ms).
    pub bin_ms: f64,
    /// The most spikes a raster draws (the earliest in the window).
    pub max_dots: usize,
    /// The most neurons a trace figure draws (the first recorded).
    pub max_traces: usize,
}

impl Default for FigureOptions {
    fn default() -> Self {
        FigureOptions {
            from_ms: 0.0,
            to_ms: None,
            bin_ms: 10.0,
            max_dots: 200_000,
            max_traces: 8,
        }
    }
}

/// The most rate bins kept per observable; a longer recording gets wider bins.
const MAX_BINS: usize = 1_000_000;

/// One spike observable's figures and numbers.
#[derive(Debug, Clone, Serialize)]
pub struct SpikeFigure {
    /// The population.
    pub population: String,
    /// The observable.
    pub observable: String,
    /// Population size.
    pub n_neurons: u64,
    /// Spikes in the whole recording.
    pub spikes: u64,
    /// Mean rate over the whole recording and population (Hz).
    pub mean_rate_hz: f64,
    /// Rate bin width used (ms).
    pub bin_ms: f64,
    /// Spikes drawn in the raster (all of the window's unless capped).
    pub dots: usize,
    /// The raster and rate images.
    pub raster: PathBuf,
    /// The rate over the whole recording.
    pub rate: PathBuf,
}

/// One state trace's figure.
#[derive(Debug, Clone, Serialize)]
pub struct TraceFigure {
    /// The population.
    pub population: String,
    /// The variable.
    pub observable: String,
    /// The neurons drawn.
    pub neurons: Vec<i64>,
    /// The image.
    pub image: PathBuf,
}

/// What [`write_figures`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// The recording.
    pub recording: PathBuf,
    /// The window drawn (ms).
    pub window_ms: (f64, f64),
    /// Per spike observable.
    pub spikes: Vec<SpikeFigure>,
    /// Per state trace.
    pub traces: Vec<TraceFigure>,
    /// The binned rates (CSV).
    pub rates_csv: Option<PathBuf>,
}

/// Draws the figures of the recording at `path` into the directory `out` (created).
///
/// ```no_run
/// use somnet::io::recording::figures::{write_figures, FigureOptions};
/// let figs = write_figures("run.h5".as_ref(), "run-figures".as_ref(), &FigureOptions::default())?;
/// for s in &figs.spikes {
///     println!("{}: {:.2} Hz", s.population, s.mean_rate_hz);
/// }
/// # Ok::<(), somnet::error::Error>(())
/// ```
pub fn write_figures(path: &Path, out: &Path, opts: &FigureOptions) -> Result<Figures> {
    check_options(opts)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut reader = RecordingReader::open(path)?;
    let spikes = reader.spikes();
    let traces = reader.traces();
    // The recording's length: the spike observables say it; traces give their samples.
    let t_max_ms = spikes
        .iter()
        .map(|s| s.t_max_s * 1e3)
        .chain(traces.iter().map(|t| t.samples as f64 * t.dt_s * 1e3))
        .fold(0.0f64, f64::max);
    let from = opts.from_ms;
    let to = opts
        .to_ms
        .unwrap_or_else(|| (from + 1000.0).min(t_max_ms.max(from + opts.bin_ms)));
    let mut figures = Figures {
        recording: path.to_path_buf(),
        window_ms: (from, to),
        spikes: Vec::new(),
        traces: Vec::new(),
        rates_csv: None,
    };
    let mut columns: Vec<(String, f64, Vec<f64>)> = Vec::new();
    for (k, info) in spikes.iter().enumerate() {
        let span_ms = info.t_max_s * 1e3;
        let bin_ms = opts.bin_ms.max(span_ms / MAX_BINS as f64);
        let n_bins = ((span_ms / bin_ms).ceil() as usize).max(1);
        let mut counts = vec![0u64; n_bins];
        let mut dots: Vec<(f64, u32)> = Vec::new();
        let mut capped = false;
        reader.spike_chunks(k, |idx, time| {
            for (&i, &t) in idx.iter().zip(time) {
                let ms = t * 1e3;
                let b = ((ms / bin_ms) as usize).min(n_bins - 1);
                counts[b] += 1;
                if ms >= from && ms < to {
                    if dots.len() < opts.max_dots {
                        dots.push((ms, i as u32));
                    } else {
                        capped = true;
                    }
                }
            }
            Ok(())
        })?;
        let n = info.n_neurons.max(1) as f64;
        let rate: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(b, &c)| ((b as f64 + 0.5) * bin_ms, c as f64 / (n * bin_ms * 1e-3)))
            .collect();
        let total: u64 = counts.iter().sum();
        let mean_rate_hz = if span_ms > 0.0 {
            total as f64 / (n * span_ms * 1e-3)
        } else {
            0.0
        };
        let stem = file_stem(&info.population, &info.observable);
        let raster_path = out.join(format!("{stem}_raster.png"));
        let in_window: Vec<(f64, f64)> = rate
            .iter()
            .copied()
            .filter(|&(t, _)| t >= from && t < to)
            .collect();
        let title = format!(
            "{} ({} neurons): {}{} spikes in {from:.0}–{to:.0} ms",
            info.population,
            info.n_neurons,
            if capped { "first " } else { "" },
            dots.len()
        );
        plot::raster_between(
            &raster_path,
            &title,
            &dots,
            info.n_neurons as u32,
            from..to,
            &in_window,
        )?;
        let rate_path = out.join(format!("{stem}_rate.png"));
        let max_rate = rate.iter().map(|r| r.1).fold(1.0, f64::max);
        plot::lines(
            &rate_path,
            &format!(
                "{}: population rate ({bin_ms:.3} ms bins), mean {mean_rate_hz:.2} Hz",
                info.population
            ),
            ("time (ms)", "rate (Hz)"),
            0.0..span_ms.max(bin_ms),
            0.0..max_rate * 1.1,
            &[Series {
                name: info.observable.clone(),
                color: PALETTE[0],
                points: rate.iter().map(|&(t, r)| (t, r, 0.0)).collect(),
                dashed: false,
                marker: Marker::None,
            }],
        )?;
        columns.push((
            format!("{}/{}", info.population, info.observable),
            bin_ms,
            rate.iter().map(|r| r.1).collect(),
        ));
        figures.spikes.push(SpikeFigure {
            population: info.population.clone(),
            observable: info.observable.clone(),
            n_neurons: info.n_neurons,
            spikes: total,
            mean_rate_hz,
            bin_ms,
            dots: dots.len(),
            raster: raster_path,
            rate: rate_path,
        });
    }
    for (k, info) in traces.iter().enumerate() {
        let width = info.neurons.len();
        let shown = width.min(opts.max_traces);
        let dt_ms = info.dt_s * 1e3;
        let mut series: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); shown];
        let mut row = 0u64;
        reader.trace_chunks(k, |rows| {
            for sample in rows.chunks_exact(width.max(1)) {
                let t = row as f64 * dt_ms;
                if t >= from && t < to {
                    for (s, &x) in series.iter_mut().zip(sample) {
                        s.push((t, x as f64, 0.0));
                    }
                }
                row += 1;
            }
            Ok(())
        })?;
        let values = series.iter().flatten().map(|p| p.1);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let image = out.join(format!(
            "{}.png",
            file_stem(&info.population, &info.observable)
        ));
        let drawn: Vec<Series> = series
            .into_iter()
            .enumerate()
            .map(|(c, points)| Series {
                name: format!("neuron {}", info.neurons[c]),
                color: PALETTE[c % PALETTE.len()],
                points,
                dashed: c >= PALETTE.len(),
                marker: Marker::None,
            })
            .collect();
        plot::lines(
            &image,
            &format!("{}: {}", info.population, info.observable),
            ("time (ms)", info.observable.as_str()),
            from..to,
            lo - pad..hi + pad,
            &drawn,
        )?;
        figures.traces.push(TraceFigure {
            population: info.population.clone(),
            observable: info.observable.clone(),
            neurons: info.neurons[..shown].to_vec(),
            image,
        });
    }
    if !columns.is_empty() {
        let csv = out.join("rates.csv");
        crate::io::report::write_text(&csv, &rates_csv(&columns))?;
        figures.rates_csv = Some(csv);
    }
    crate::io::report::write_json(&out.join("figures.json"), &figures)?;
    Ok(figures)
}

fn check_options(opts: &FigureOptions) -> Result<()> {
    crate::error::positive("figures.bin_ms", opts.bin_ms)?;
    crate::error::finite("figures.from_ms", opts.from_ms)?;
    if let Some(to) = opts.to_ms {
        if to.is_nan() || to <= opts.from_ms || !to.is_finite() {
            return Err(Error::param(
                "figures.to_ms",
                to,
                format!("a time after from_ms = {}", opts.from_ms),
            ));
        }
    }
    Ok(())
}

/// A file name for an observable: the population's name with anything but letters, digits, `-`
/// and `_` replaced.
fn file_stem(population: &str, observable: &str) -> String {
    format!("{population}_{observable}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The rates as CSV: one row per bin of the narrowest binning, one column per observable (an
/// observable with wider bins repeats its value).
fn rates_csv(columns: &[(String, f64, Vec<f64>)]) -> String {
    let bin = columns.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let rows = columns
        .iter()
        .map(|c| ((c.2.len() as f64 * c.1) / bin).round() as usize)
        .max()
        .unwrap_or(0);
    let mut s = String::from("t_start_ms");
    for c in columns {
        let _ = write!(s, ",{}_hz", c.0);
    }
    s.push('\n');
    for r in 0..rows {
        let t = r as f64 * bin;
        let _ = write!(s, "{t}");
        for (_, width, rates) in columns {
            let b = (t / width + 1e-9) as usize;
            match rates.get(b) {
                Some(x) => {
                    let _ = write!(s, ",{x}");
                }
                None => s.push(','),
            }
        }
        s.push('\n');
    }
    s
}
