//! Sweeps over conversion knobs: a typed grid (`key=v1,v2;key=…`, the keys of
//! [`ConvertOptions::set`]), one evaluation per grid point, the rows of the table and their Pareto
//! front (accuracy, energy, latency).
//!
//! ```
//! use somnet::convert::options::ConvertOptions;
//! use somnet::study::sweep::Grid;
//! let grid = Grid::parse("input=analog,poisson;reset=subtract,zero").unwrap();
//! let points = grid.points(&ConvertOptions::default()).unwrap();
//! assert_eq!(points.len(), 4);
//! assert_eq!(points[3].settings, "input=poisson reset=zero");
//! ```

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::ann::Ann;
use crate::convert::options::{ConvertOptions, NormScope};
use crate::convert::pipeline::{convert, evaluate_against, Converted};
use crate::convert::record::RunSummary;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Knob values to combine: axes in the order given, each with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `(key, values)` per axis.
    pub axes: Vec<(String, Vec<String>)>,
}

/// One combination of a grid's values.
#[derive(Debug, Clone, PartialEq)]
pub struct GridPoint {
    /// `key=value` of every axis, space-separated (`input=poisson reset=zero`).
    pub settings: String,
    /// The options with those values set on the base.
    pub options: ConvertOptions,
}

impl Grid {
    /// Parses `key=v1,v2;key=…` (empty parts are skipped).
    pub fn parse(text: &str) -> Result<Grid> {
        let mut axes = Vec::new();
        for part in text.split(';').filter(|p| !p.trim().is_empty()) {
            let (k, vs) = part
                .split_once('=')
                .ok_or_else(|| Error::param("grid part", part, "key=v1,v2"))?;
            axes.push((
                k.trim().to_string(),
                vs.split(',').map(|v| v.trim().to_string()).collect(),
            ));
        }
        Ok(Grid { axes })
    }

    /// Every combination, the first axis varying slowest, each set on `base` and validated (an
    /// error names the grid point).
    pub fn points(&self, base: &ConvertOptions) -> Result<Vec<GridPoint>> {
        let mut out = vec![GridPoint {
            settings: String::new(),
            options: base.clone(),
        }];
        for (k, vs) in &self.axes {
            let mut next = Vec::with_capacity(out.len() * vs.len());
            for p in &out {
                for v in vs {
                    let mut options = p.options.clone();
                    options
                        .set(k, v)
                        .map_err(|e| Error::Unsupported(format!("grid: {e}")))?;
                    let sep = if p.settings.is_empty() { "" } else { " " };
                    next.push(GridPoint {
                        settings: format!("{}{sep}{k}={v}", p.settings),
                        options,
                    });
                }
            }
            out = next;
        }
        for p in &out {
            p.options
                .validate()
                .map_err(|e| Error::Unsupported(format!("grid point '{}': {e}", p.settings)))?;
        }
        Ok(out)
    }
}

/// A sweep's record (`sweep.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The somnet version.
    pub somnet_version: String,
    /// The command line (empty from the library).
    pub command: String,
    /// The model file, when there is one.
    pub model: Option<String>,
    /// The data set name given by the user (`mnist`).
    pub dataset: String,
    /// Test images per grid point.
    pub images: usize,
    /// Steps per image.
    pub steps: u64,
    /// The grid as given.
    pub grid: String,
    /// The ANN's accuracy on the same images.
    pub ann_accuracy: f64,
    /// The ANN's MACs per image.
    pub macs_per_image: u64,
    /// The base seed of the Poisson input (grid points may set their own).
    #[serde(default)]
    pub seed: u64,
    /// Calibration images used by data-based normalisation.
    #[serde(default)]
    pub calibration_images: usize,
    /// Grid points in all: fewer `rows` mean the sweep stopped early (and can be resumed).
    #[serde(default)]
    pub points: usize,
    /// One row per finished grid point, in grid order.
    pub rows: Vec<RunSummary>,
}

/// Evaluates `ann` converted with each point's options on `test` for `steps` steps, appending one
/// row per point to `record.rows` and setting `record.ann_accuracy`. Points that already have a
/// row (a resumed sweep: rows read back from an earlier record of the same sweep, see
/// [`Sweep::check_resumable`]) are skipped; their settings must match the grid's and their ANN
/// accuracy this data's, else nothing runs. Normalisation runs once per (percentile, scope) among
/// the points still to run, so a resumed sweep gives the same rows as an uninterrupted one.
/// `on_point(record)` is called after each new row (to keep it on disk); once it answers `Break`,
/// the sweep stops with the finished rows.
///
/// ```
/// use somnet::convert::options::ConvertOptions;
/// use somnet::convert::pipeline::calibration_set;
/// use somnet::data::{default_dir, load_named, Split};
/// use somnet::study::sweep::{self, Grid, Sweep};
/// use std::ops::ControlFlow;
///
/// let ann = somnet::ann::arch::build("mlp:784-32-10", &[1, 28, 28], 10, &Default::default(), 1)?;
/// let train = load_named("mnist", &default_dir(), Split::Train)?;
/// let test = load_named("mnist", &default_dir(), Split::Test)?.head(20);
/// let calibration = calibration_set(&train, 100);
/// let points = Grid::parse("reset=subtract,zero")?.points(&ConvertOptions::default())?;
/// let mut record = Sweep { points: points.len(), ..Sweep::default() };
/// // Stop after the first point, as an interrupted run would …
/// sweep::run(&ann, &calibration, &test, 8, &points, &mut record, |_| ControlFlow::Break(()))?;
/// assert_eq!(record.rows.len(), 1);
/// // … and resume: only the second point runs.
/// sweep::run(&ann, &calibration, &test, 8, &points, &mut record, |_| ControlFlow::Continue(()))?;
/// assert_eq!(record.rows[1].settings, "reset=zero");
/// # Ok::<(), somnet::Error>(())
/// ```
pub fn run(
    ann: &Ann,
    calibration: &Dataset,
    test: &Dataset,
    steps: u64,
    points: &[GridPoint],
    record: &mut Sweep,
    mut on_point: impl FnMut(&Sweep) -> ControlFlow<()>,
) -> Result<()> {
    if record.rows.len() > points.len() {
        return Err(Error::Unsupported(format!(
            "resuming a sweep: the record has {} rows but the grid only {} points",
            record.rows.len(),
            points.len()
        )));
    }
    for (k, (row, point)) in record.rows.iter().zip(points).enumerate() {
        if row.settings != point.settings {
            return Err(Error::Unsupported(format!(
                "resuming a sweep: finished row {} is '{}' but grid point {} is '{}'",
                k + 1,
                row.settings,
                k + 1,
                point.settings
            )));
        }
    }
    let ann_accuracy = ann.accuracy(test)?;
    if !record.rows.is_empty() && record.ann_accuracy != ann_accuracy {
        return Err(Error::Unsupported(format!(
            "resuming a sweep: its finished rows were measured where the ANN scored {:.4}, on these images it scores {ann_accuracy:.4} (other data or another model)",
            record.ann_accuracy
        )));
    }
    record.ann_accuracy = ann_accuracy;
    let mut converted: Vec<((f64, NormScope), Converted)> = Vec::new();
    for point in &points[record.rows.len()..] {
        let o = &point.options;
        let key = (o.percentile, o.normalization);
        let c = match converted.iter().position(|(k, _)| *k == key) {
            Some(i) => &converted[i].1,
            None => {
                converted.push((key, convert(ann, calibration, o)?));
                &converted.last().expect("pushed").1
            }
        };
        let e = evaluate_against(c, test, steps, o, ann_accuracy, |_| {
            ControlFlow::Continue(())
        })?;
        record.rows.push(e.summary(&point.settings));
        if on_point(record).is_break() {
            break;
        }
    }
    Ok(())
}

/// Whether each row is on the Pareto front: no other row is at least as accurate, as cheap and as
/// fast (steps to ANN − 0.1 pp; never reaching it counts as slowest), and better in one of them.
pub fn pareto_front(rows: &[RunSummary]) -> Vec<bool> {
    pareto_front_by(rows, EnergyBasis::AtSteps)
        .into_iter()
        .map(|f| f == Some(true))
        .collect()
}

/// Which energy a sweep's Pareto front weighs a grid point by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnergyBasis {
    /// The energy of all T steps, against the final accuracy.
    #[default]
    AtSteps,
    /// The energy spent by the step where the accuracy first comes within this many
    /// hundredths of a percentage point of the ANN's (100, 50 or 10: 1, 0.5 or 0.1 pp), against
    /// the accuracy at that step: "accuracy X at energy Y" (the issue's energy at latency).
    AtLatency(u32),
}

impl EnergyBasis {
    /// `t`, `1pp`, `0.5pp` or `0.1pp`.
    pub fn parse(text: &str) -> Result<EnergyBasis> {
        match text {
            "t" => Ok(EnergyBasis::AtSteps),
            "1pp" => Ok(EnergyBasis::AtLatency(100)),
            "0.5pp" => Ok(EnergyBasis::AtLatency(50)),
            "0.1pp" => Ok(EnergyBasis::AtLatency(10)),
            other => Err(Error::param(
                "energy basis",
                other,
                "t (all steps), 1pp, 0.5pp or 0.1pp (where the accuracy comes within that much of \
                 the ANN's)",
            )),
        }
    }

    /// `(accuracy, energy in pJ)` of `r` on this basis; `None` if it never reaches the latency.
    pub fn point(self, r: &RunSummary) -> Option<(f64, f64)> {
        let cost = match self {
            EnergyBasis::AtSteps => return Some((r.snn_accuracy, r.energy_pj.snn)),
            EnergyBasis::AtLatency(100) => r.energy_at_latency.pp1,
            EnergyBasis::AtLatency(50) => r.energy_at_latency.pp05,
            EnergyBasis::AtLatency(_) => r.energy_at_latency.pp01,
        }?;
        let accuracy = *r.snn_accuracy_per_step.get(cost.steps.checked_sub(1)?)?;
        Some((accuracy, cost.snn_pj))
    }
}

/// For each row on `basis`: on the Pareto front (no other row at least as accurate, as cheap and as
/// fast — steps to ANN − 0.1 pp, never reaching it slowest — and better in one), or `None` when
/// the row never reaches the basis' latency.
pub fn pareto_front_by(rows: &[RunSummary], basis: EnergyBasis) -> Vec<Option<bool>> {
    let key = |r: &RunSummary| {
        basis.point(r).map(|(accuracy, energy)| {
            (
                accuracy,
                energy,
                r.latency_steps.pp01.map_or(f64::INFINITY, |x| x as f64),
            )
        })
    };
    let keys: Vec<_> = rows.iter().map(key).collect();
    keys.iter()
        .map(|a| {
            let a = (*a)?;
            Some(!keys.iter().flatten().any(|b| {
                b.0 >= a.0 && b.1 <= a.1 && b.2 <= a.2 && (b.0 > a.0 || b.1 < a.1 || b.2 < a.2)
            }))
        })
        .collect()
}

impl Sweep {
    /// Checks that `previous` (read from `path`) is a record of the same sweep as `self` (model,
    /// data set, images, steps, grid, seed, calibration images, grid size), so that its rows can
    /// be kept; the error names the first field that differs.
    pub fn check_resumable(&self, previous: &Sweep, path: &std::path::Path) -> Result<()> {
        let fields: [(&str, String, String); 8] = [
            (
                "model",
                format!("{:?}", self.model),
                format!("{:?}", previous.model),
            ),
            ("dataset", self.dataset.clone(), previous.dataset.clone()),
            (
                "images",
                self.images.to_string(),
                previous.images.to_string(),
            ),
            ("steps", self.steps.to_string(), previous.steps.to_string()),
            ("grid", self.grid.clone(), previous.grid.clone()),
            ("seed", self.seed.to_string(), previous.seed.to_string()),
            (
                "calibration_images",
                self.calibration_images.to_string(),
                previous.calibration_images.to_string(),
            ),
            (
                "points",
                self.points.to_string(),
                previous.points.to_string(),
            ),
        ];
        for (name, now, before) in fields {
            if now != before {
                return Err(Error::file(
                    path,
                    format!("cannot resume: field '{name}' is {before} there but {now} in this run (start afresh without --resume, or use another output folder)"),
                ));
            }
        }
        Ok(())
    }

    /// The table as CSV: one row per grid point.
    pub fn csv(&self) -> String {
        let lat = |v: Option<usize>| v.map_or(String::new(), |x| x.to_string());
        let mut csv = String::from("settings,snn_accuracy,latency_1pp,latency_0.5pp,latency_0.1pp,settled_latency_0.1pp,mean_steps,synaptic_ops_per_image,spikes_per_neuron_per_step,energy_snn_pj,energy_ratio,images_per_second,energy_ratio_1pp,energy_ratio_0.5pp,energy_ratio_0.1pp\n");
        let ratio = |c: Option<crate::convert::record::CostAtLatency>| {
            c.map_or(String::new(), |c| format!("{:.4}", c.ratio))
        };
        for r in &self.rows {
            csv += &format!(
                "{},{:.4},{},{},{},{},{:.1},{:.0},{:.5},{:.4e},{:.4},{:.0},{},{},{}\n",
                r.settings,
                r.snn_accuracy,
                lat(r.latency_steps.pp1),
                lat(r.latency_steps.pp05),
                lat(r.latency_steps.pp01),
                lat(r.settled_latency_steps.pp01),
                r.mean_steps,
                r.synaptic_ops_per_image,
                r.spikes_per_neuron_per_step,
                r.energy_pj.snn,
                r.energy_pj.ratio,
                r.images_per_second,
                ratio(r.energy_at_latency.pp1),
                ratio(r.energy_at_latency.pp05),
                ratio(r.energy_at_latency.pp01),
            );
        }
        csv
    }
}
