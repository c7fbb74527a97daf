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

/// Draws the series' legend of `chart` at `position`, on a light box.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    path: &Path,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(|e| plot_err(path, e))
}

/// Draws with `draw` on an in-memory RGB canvas of `size` and writes it to `path` as PNG through
/// the atomic writer: an interrupted or failed plot never leaves a truncated image behind.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    draw(BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area())?;
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &pixels,
        size.0,
        size.1,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| plot_err(path, e))?;
    crate::io::report::write_bytes(path, &png)
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
    raster_between(path, title, spikes, n_neurons, 0.0..t_end_ms, rate)
}

/// [`raster`] over the time window `window` (ms).
pub fn raster_between(
    path: &Path,
    title: &str,
    spikes: &[(f64, u32)],
    n_neurons: u32,
    window: std::ops::Range<f64>,
    rate: &[(f64, f64)],
) -> Result<()> {
    register_font();
    let (t0, t_end_ms) = (window.start, window.end.max(window.start + 1e-9));
    render(path, (1200, 800), |root| {
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (top, bottom) = root.split_vertically(600);
        let mut chart = ChartBuilder::on(&top)
            .caption(title, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(t0..t_end_ms, 0u32..n_neurons.max(1))
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .y_desc("neuron")
            .disable_mesh()
            .draw()
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(spikes.iter().map(|&(t, i)| {
                Rectangle::new(
                    [(t, i), (t + (t_end_ms - t0) / 1200.0, i + 1)],
                    BLACK.filled(),
                )
            }))
            .map_err(|e| plot_err(path, e))?;
        let max_rate = rate.iter().map(|r| r.1).fold(1.0, f64::max);
        let mut rc = ChartBuilder::on(&bottom)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(t0..t_end_ms, 0f64..max_rate * 1.1)
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
    })
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
    /// The mark at every point (series that may overlap get different ones).
    pub marker: Marker,
}

/// The mark drawn at each point of a [`Series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A filled circle.
    Circle,
    /// A hollow square.
    Square,
    /// A filled triangle.
    Triangle,
    /// A cross.
    Cross,
    /// No mark: a plain line (for dense series such as membrane traces).
    None,
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
    let (x_range_start, x_range_end) = (x_range.start, x_range.end);
    render(path, (1000, 650), |root| {
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| plot_err(path, e))?;
        // Whole-number x (tasks, layers, a few steps) gets one label per integer and no fractions.
        let whole = series
            .iter()
            .flat_map(|s| s.points.iter())
            .all(|p| p.0.fract() == 0.0);
        let span = (x_range_end - x_range_start).ceil() as usize;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc).y_desc(y_desc);
        let integer_label = |x: &f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        if whole && span <= 30 {
            mesh.x_labels(span + 1).x_label_formatter(&integer_label);
        }
        mesh.draw().map_err(|e| plot_err(path, e))?;
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
            let c = s.color;
            match s.marker {
                Marker::Circle => {
                    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                }
                Marker::Square => chart.draw_series(pts.iter().map(|&p| {
                    EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.stroke_width(2))
                })),
                Marker::Triangle => {
                    chart.draw_series(pts.iter().map(|&p| TriangleMarker::new(p, 6, c.filled())))
                }
                Marker::Cross => {
                    chart.draw_series(pts.iter().map(|&p| Cross::new(p, 5, c.stroke_width(2))))
                }
                Marker::None => continue,
            }
            .map_err(|e| plot_err(path, e))?;
        }
        legend(&mut chart, path, SeriesLabelPosition::LowerLeft)?;
        root.present().map_err(|e| plot_err(path, e))?;
        Ok(())
    })
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
/// `what` names the data set, the network and the sleep length in every title.
pub fn incremental_figures(
    dir: &Path,
    runs: &[crate::sleep::incremental::SeedRun],
    what: &str,
) -> Result<()> {
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
            marker: Marker::Circle,
        },
        Series {
            name: "before sleep".into(),
            color: PALETTE[4],
            points: points(&|r| &r.before_sleep),
            dashed: true,
            marker: Marker::Triangle,
        },
    ];
    if !first.sequential.accuracy.is_empty() && !first.joint.accuracy.is_empty() {
        let (jm, jsd) = curve(&|r| &r.joint, 0);
        series.push(Series {
            name: "sequential".into(),
            color: PALETTE[1],
            points: points(&|r| &r.sequential),
            dashed: false,
            marker: Marker::Square,
        });
        series.push(Series {
            name: "joint".into(),
            color: PALETTE[2],
            points: vec![(1.0, jm, 0.0), (n_tasks as f64, jm, jsd)],
            dashed: true,
            marker: Marker::Cross,
        });
    }
    lines(
        &dir.join("incremental.png"),
        &format!(
            "{what}: class-incremental accuracy ({} seed{})",
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
                marker: [
                    Marker::Circle,
                    Marker::Square,
                    Marker::Triangle,
                    Marker::Cross,
                ][j % 4],
            }
        })
        .collect();
    lines(
        &dir.join("per_task.png"),
        &format!("{what}: each task's accuracy before (k) and after (k + ½) sleep k"),
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
                "{what}: the sleep after the last task, seed {} (input, hidden, output from the bottom)",
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

/// One grid point of [`pareto`]: where it lies and its accuracy curve.
pub struct ParetoPoint {
    /// Energy per image (pJ).
    pub energy_pj: f64,
    /// Accuracy after the last step (%).
    pub accuracy: f64,
    /// Accuracy after every step (%).
    pub curve: Vec<f64>,
    /// Short label (settings · latency).
    pub label: String,
    /// On the Pareto front.
    pub on_front: bool,
}

/// Energy with its unit: `850 pJ`, `12.5 nJ`, `3.1 µJ`.
pub fn energy_label(pj: f64) -> String {
    let (v, unit) = if pj >= 1e6 {
        (pj / 1e6, "µJ")
    } else if pj >= 1e3 {
        (pj / 1e3, "nJ")
    } else {
        (pj, "pJ")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// The sweep figure: accuracy against energy per image (log axis in pJ/nJ/µJ, the Pareto front in
/// red with its labels placed so that none overlaps, the ANN's accuracy as a dashed line) beside
/// accuracy against steps for every grid point (the front in colour, the rest grey).
pub fn pareto(path: &Path, title: &str, points: &[ParetoPoint], ann_accuracy: f64) -> Result<()> {
    register_font();
    render(path, (1700, 760), |canvas| {
        canvas.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let root = canvas
            .titled(title, ("sans-serif", 22))
            .map_err(|e| plot_err(path, e))?;
        let (left, right) = root.split_horizontally(1000);
        let (mut e0, mut e1) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut a0, mut a1) = (ann_accuracy, ann_accuracy);
        for p in points {
            e0 = e0.min(p.energy_pj.max(1e-3));
            e1 = e1.max(p.energy_pj.max(1e-3));
            a0 = a0.min(p.accuracy);
            a1 = a1.max(p.accuracy);
        }
        if !e0.is_finite() {
            (e0, e1) = (1.0, 10.0);
        }
        let pad = (a1 - a0).max(0.5) * 0.08;
        let mut chart = ChartBuilder::on(&left)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d((e0 / 1.6..e1 * 2.5).log_scale(), a0 - pad..a1 + pad)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc("SNN energy per image (log scale)")
            .y_desc("accuracy after the last step (%)")
            .x_label_formatter(&|x| energy_label(*x))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(DashedLineSeries::new(
                [(e0 / 1.6, ann_accuracy), (e1 * 2.5, ann_accuracy)],
                8,
                6,
                PALETTE[2].stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?
            .label(format!("ANN {ann_accuracy:.2} %"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[2]));
        for p in points.iter().filter(|p| !p.on_front) {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.energy_pj.max(1e-3), p.accuracy),
                    4,
                    PALETTE[0].filled(),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
        for p in points.iter().filter(|p| p.on_front) {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.energy_pj.max(1e-3), p.accuracy),
                    6,
                    PALETTE[1].filled(),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
        // Labels: the front first, then the rest, each at the first of four places beside its point
        // that overlaps no label already placed; a label with no free place is left out (the CSV and
        // JSON have every row).
        let font = ("sans-serif", 13).into_font();
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        let order = points
            .iter()
            .filter(|p| p.on_front)
            .chain(points.iter().filter(|p| !p.on_front));
        for p in order {
            let (px, py) = chart.backend_coord(&(p.energy_pj.max(1e-3), p.accuracy));
            let w = 7 * p.label.chars().count() as i32;
            let h = 14;
            let spots = [(8, -h - 2), (8, 2), (-w - 8, -h - 2), (-w - 8, 2)];
            let free = spots
                .iter()
                .map(|&(dx, dy)| (px + dx, py + dy))
                .find(|&(x, y)| {
                    placed.iter().all(|&(bx, by, bw, bh)| {
                        x + w <= bx || bx + bw <= x || y + h <= by || by + bh <= y
                    })
                });
            if let Some((x, y)) = free {
                placed.push((x, y, w, h));
                // Backend coordinates are the whole canvas's pixels.
                canvas
                    .draw(&Text::new(p.label.clone(), (x, y), font.clone()))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        legend(&mut chart, path, SeriesLabelPosition::LowerRight)?;
        // Right: accuracy after every step.
        let t = points
            .iter()
            .map(|p| p.curve.len())
            .max()
            .unwrap_or(1)
            .max(2) as f64;
        let lo = points
            .iter()
            .flat_map(|p| p.curve.iter().copied())
            .fold(100.0f64, f64::min)
            .min(ann_accuracy);
        let mut steps = ChartBuilder::on(&right)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(1.0..t, lo.max(0.0)..100.0)
            .map_err(|e| plot_err(path, e))?;
        steps
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("step")
            .y_desc("accuracy (%)")
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let mut front_k = 0;
        for p in points
            .iter()
            .filter(|p| !p.on_front)
            .chain(points.iter().filter(|p| p.on_front))
        {
            let pts = p
                .curve
                .iter()
                .enumerate()
                .map(|(k, &a)| ((k + 1) as f64, a));
            if p.on_front {
                let c = PALETTE[(front_k + 3) % PALETTE.len()];
                front_k += 1;
                steps
                    .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                    .map_err(|e| plot_err(path, e))?
                    .label(p.label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            } else {
                steps
                    .draw_series(LineSeries::new(pts, RGBColor(190, 190, 190)))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        steps
            .draw_series(DashedLineSeries::new(
                [(1.0, ann_accuracy), (t, ann_accuracy)],
                8,
                6,
                PALETTE[2].stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?;
        legend(&mut steps, path, SeriesLabelPosition::LowerRight)?;
        canvas.present().map_err(|e| plot_err(path, e))?;
        Ok(())
    })
}
