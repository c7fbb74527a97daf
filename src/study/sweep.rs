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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// One row per finished grid point, in grid order.
    pub rows: Vec<RunSummary>,
}

/// Evaluates `ann` converted with each point's options on `test` for `steps` steps.
/// Normalisation runs once per (percentile, scope) of the grid. `on_point(k, row)` is called
/// after point k; once it answers `Break`, the sweep stops with the finished rows.
pub fn run(
    ann: &Ann,
    calibration: &Dataset,
    test: &Dataset,
    steps: u64,
    points: &[GridPoint],
    mut on_point: impl FnMut(usize, &RunSummary) -> ControlFlow<()>,
) -> Result<(f64, Vec<RunSummary>)> {
    let ann_accuracy = ann.accuracy(test)?;
    let mut converted: Vec<((f64, NormScope), Converted)> = Vec::new();
    let mut rows = Vec::new();
    for (k, point) in points.iter().enumerate() {
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
        rows.push(e.summary(&point.settings));
        if on_point(k, rows.last().expect("pushed")).is_break() {
            break;
        }
    }
    Ok((ann_accuracy, rows))
}

/// Whether each row is on the Pareto front: no other row is at least as accurate, as cheap and as
/// fast (steps to ANN − 0.1 pp; never reaching it counts as slowest), and better in one of them.
pub fn pareto_front(rows: &[RunSummary]) -> Vec<bool> {
    let key = |r: &RunSummary| {
        (
            r.snn_accuracy,
            r.energy_pj.snn,
            r.latency_steps.pp01.map_or(f64::INFINITY, |x| x as f64),
        )
    };
    rows.iter()
        .map(|r| {
            let a = key(r);
            !rows.iter().map(key).any(|b| {
                b.0 >= a.0 && b.1 <= a.1 && b.2 <= a.2 && (b.0 > a.0 || b.1 < a.1 || b.2 < a.2)
            })
        })
        .collect()
}

impl Sweep {
    /// The table as CSV: one row per grid point.
    pub fn csv(&self) -> String {
        let lat = |v: Option<usize>| v.map_or(String::new(), |x| x.to_string());
        let mut csv = String::from("settings,snn_accuracy,latency_1pp,latency_0.5pp,latency_0.1pp,settled_latency_0.1pp,mean_steps,synaptic_ops_per_image,spikes_per_neuron_per_step,energy_snn_pj,energy_ratio,images_per_second\n");
        for r in &self.rows {
            csv += &format!(
                "{},{:.4},{},{},{},{},{:.1},{:.0},{:.5},{:.4e},{:.4},{:.0}\n",
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
            );
        }
        csv
    }
}
