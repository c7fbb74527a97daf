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

/// One line of a line chart: name, colour and points (x, y, error half-width).
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Colour.
    pub color: RGBColor,
    /// Points: (x, y, ± error).
    pub points: Vec<(f64, f64, f64)>,
    /// Dashed instead of solid.
    pub dashed: bool,
}

/// A line chart with error bars and a legend.
pub fn lines(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
    series: &[Series],
) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for s in series {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 6, style))
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))
        }
        .map_err(|e| plot_err(path, e))?;
        let color = s.color;
        drawn
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                s.points
                    .iter()
                    .filter(|p| p.2 > 0.0)
                    .map(|&(x, y, e)| ErrorBar::new_vertical(x, y - e, y, y + e, style, 8)),
            )
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, s.color.filled())))
            .map_err(|e| plot_err(path, e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))?;
    Ok(())
}

/// Colours for successive series.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The figures of the class-incremental experiment, written into `dir`:
/// `incremental.png` (accuracy after each task, three conditions, mean ± sd over seeds),
/// `per_task.png` (each task's accuracy before and after every sleep, mean over seeds) and
/// `sleep_raster.png` (the recorded stretch of the first seed's last sleep, layers stacked).
pub fn incremental_figures(dir: &Path, runs: &[crate::sleep::incremental::SeedRun]) -> Result<()> {
    use crate::sleep::incremental::{mean_sd, Curve};
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let n_tasks = first.sleep.accuracy.len();
    let curve = |pick: &dyn Fn(&crate::sleep::incremental::SeedRun) -> &Curve, k: usize| {
        mean_sd(
            &runs
                .iter()
                .map(|r| 100.0 * pick(r).accuracy[k])
                .collect::<Vec<_>>(),
        )
    };
    let points = |pick: &dyn Fn(&crate::sleep::incremental::SeedRun) -> &Curve| {
        (0..n_tasks)
            .map(|k| {
                let (m, sd) = curve(pick, k);
                ((k + 1) as f64, m, sd)
            })
            .collect::<Vec<_>>()
    };
    let x_range = 0.8..n_tasks as f64 + 0.2;
    let mut series = vec![
        Series {
            name: "sleep (SRC)".into(),
            color: PALETTE[0],
            points: points(&|r| &r.sleep),
            dashed: false,
        },
        Series {
            name: "before sleep".into(),
            color: PALETTE[4],
            points: points(&|r| &r.before_sleep),
            dashed: true,
        },
    ];
    if !first.sequential.accuracy.is_empty() && !first.joint.accuracy.is_empty() {
        let (jm, jsd) = curve(&|r| &r.joint, 0);
        series.push(Series {
            name: "sequential".into(),
            color: PALETTE[1],
            points: points(&|r| &r.sequential),
            dashed: false,
        });
        series.push(Series {
            name: "joint".into(),
            color: PALETTE[2],
            points: vec![(1.0, jm, 0.0), (n_tasks as f64, jm, jsd)],
            dashed: true,
        });
    }
    lines(
        &dir.join("incremental.png"),
        &format!(
            "Class-incremental accuracy ({} seed{})",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        ),
        ("after task", "test accuracy, all classes (%)"),
        x_range.clone(),
        0.0..100.0,
        &series,
    )?;
    // Per task j: before sleep k at x = k, after it at x = k + 0.5.
    let per_task: Vec<Series> = (0..n_tasks)
        .map(|j| {
            let mut pts = Vec::new();
            for k in j..n_tasks {
                for (dx, pick) in [(0.0, 0), (0.5, 1)] {
                    let v: Vec<f64> = runs
                        .iter()
                        .map(|r| {
                            let c = if pick == 0 { &r.before_sleep } else { &r.sleep };
                            100.0 * c.per_task[k][j]
                        })
                        .collect();
                    let (m, sd) = mean_sd(&v);
                    pts.push(((k + 1) as f64 + dx, m, sd));
                }
            }
            Series {
                name: format!("task {}", j + 1),
                color: PALETTE[j % PALETTE.len()],
                points: pts,
                dashed: false,
            }
        })
        .collect();
    lines(
        &dir.join("per_task.png"),
        "Per-task accuracy: before (k) and after (k + ½) the sleep after task k",
        (
            "task k (before sleep) / k + ½ (after sleep)",
            "accuracy (%)",
        ),
        0.8..n_tasks as f64 + 0.7,
        0.0..100.0,
        &per_task,
    )?;
    if let Some(report) = first.sleeps.last() {
        let mut offsets = vec![0u32];
        offsets.push(report.input_size as u32);
        for &n in &report.layer_sizes {
            offsets.push(offsets.last().copied().unwrap_or(0) + n as u32);
        }
        let steps = first.raster.iter().map(|e| e.0 + 1).max().unwrap_or(1);
        let spikes: Vec<(f64, u32)> = first
            .raster
            .iter()
            .map(|&(t, l, i)| (t as f64, offsets[l as usize] + i))
            .collect();
        let mut counts = vec![0u32; steps.div_ceil(10) as usize];
        for &(t, l, _) in &first.raster {
            if l > 0 {
                counts[(t / 10) as usize] += 1;
            }
        }
        let hidden: usize = report.layer_sizes.iter().sum();
        let rate: Vec<(f64, f64)> = counts
            .iter()
            .enumerate()
            .map(|(b, &c)| (b as f64 * 10.0 + 5.0, c as f64 / hidden as f64 / 0.010))
            .collect();
        raster(
            &dir.join("sleep_raster.png"),
            &format!(
                "Sleep after the last task, seed {}: input, hidden, output layers from the bottom",
                first.seed
            ),
            &spikes,
            *offsets.last().unwrap_or(&1),
            steps as f64,
            &rate,
        )?;
    }
    Ok(())
}

/// One point of a scatter plot.
pub struct Point {
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// Text next to the point.
    pub label: String,
    /// Drawn large and coloured (e.g. on the Pareto front).
    pub highlight: bool,
}

/// A labelled scatter plot (log-scaled x when `log_x`).
pub fn scatter(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    points: &[Point],
    log_x: bool,
) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (1100, 750)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let fx = |x: f64| if log_x { x.max(1e-12).log10() } else { x };
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in points {
        x0 = x0.min(fx(p.x));
        x1 = x1.max(fx(p.x));
        y0 = y0.min(p.y);
        y1 = y1.max(p.y);
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let (dx, dy) = ((x1 - x0).max(1e-9) * 0.1, (y1 - y0).max(1e-3) * 0.1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 - dx..x1 + 3.0 * dx, y0 - dy..y1 + dy)
        .map_err(|e| plot_err(path, e))?;
    let x_label = if log_x {
        format!("log10 {x_desc}")
    } else {
        x_desc.to_string()
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for p in points {
        let (x, y) = (fx(p.x), p.y);
        let (color, size) = if p.highlight {
            (PALETTE[1], 6)
        } else {
            (PALETTE[0], 4)
        };
        chart
            .draw_series(std::iter::once(Circle::new((x, y), size, color.filled())))
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                p.label.clone(),
                (x, y),
                ("sans-serif", 12).into_font(),
            )))
            .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))?;
    Ok(())
}
