//! PNG plots (plotters' bitmap backend with a bundled font, so no system font library is needed).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// DejaVu Sans, bundled (license in `assets/FONT-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is a valid TrueType file; failure would be a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A spike raster: one dot per (time, neuron), with the population rate underneath.
///
/// `spikes` are (time ms, neuron); `n_neurons` sets the y range; `rate` is (time ms, Hz) per bin.
pub fn raster(
    path: &Path,
    title: &str,
    spikes: &[(f64, u32)],
    n_neurons: u32,
    t_end_ms: f64,
    rate: &[(f64, f64)],
) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (top, bottom) = root.split_vertically(600);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_end_ms, 0u32..n_neurons.max(1))
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .y_desc("neuron")
        .disable_mesh()
        .draw()
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(spikes.iter().map(|&(t, i)| {
            Rectangle::new([(t, i), (t + t_end_ms / 1200.0, i + 1)], BLACK.filled())
        }))
        .map_err(|e| plot_err(path, e))?;
    let max_rate = rate.iter().map(|r| r.1).fold(1.0, f64::max);
    let mut rc = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_end_ms, 0f64..max_rate * 1.1)
        .map_err(|e| plot_err(path, e))?;
    rc.configure_mesh()
        .x_desc("time (ms)")
        .y_desc("rate (Hz)")
        .disable_mesh()
        .draw()
        .map_err(|e| plot_err(path, e))?;
    rc.draw_series(LineSeries::new(rate.iter().copied(), BLUE))
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))?;
    Ok(())
}
