//! The files of an evaluation and of a sweep under an output folder: the typed record as JSON,
//! the table as CSV and the plots a person looks at.

use std::path::Path;

use super::plot::{lines, pareto, Marker, ParetoPoint, Series, PALETTE};
use super::sweep::{pareto_front_by, EnergyBasis, Sweep};
use crate::convert::record::Evaluation;
use crate::convert::shard::Shard;
use crate::error::{Error, Result};
use crate::io::report::{ensure_dir, write_json, write_text};
use crate::sleep::incremental::{IncrementalConfig, SeedRun};
use crate::sleep::summary::{csv as incremental_csv, IncrementalRecord, SavedSeed};

/// Writes the class-incremental experiment's files into `out`: `result.json` (the typed record),
/// `result.csv` (per seed, condition and task) and the figures.
pub fn write_incremental(
    out: &Path,
    dataset: &str,
    command: &str,
    config: &IncrementalConfig,
    runs: &[SeedRun],
) -> Result<()> {
    ensure_dir(out)?;
    let mut record = IncrementalRecord::new(dataset, config, runs);
    record.command = command.to_string();
    write_json(&out.join("result.json"), &record)?;
    write_text(
        &out.join("result.csv"),
        &incremental_csv(runs, config.tasks.len()),
    )?;
    let hidden: Vec<String> = config.hidden.iter().map(|h| h.to_string()).collect();
    let what = format!(
        "{dataset}, hidden {}, sleep {} + {}/task steps",
        hidden.join("-"),
        config.sleep.length.base,
        config.sleep.length.per_task
    );
    super::plot::incremental_figures(out, runs, &what)
}

/// The file that keeps finished seed `seed` of an incremental run in `out`.
pub fn seed_path(out: &Path, seed: u64) -> std::path::PathBuf {
    out.join("seeds").join(format!("seed-{seed}.json"))
}

/// Keeps a finished seed in `out/seeds/seed-N.json` ([`seed_path`]), atomically.
pub fn write_seed(out: &Path, saved: &SavedSeed) -> Result<()> {
    let path = seed_path(out, saved.run.seed);
    ensure_dir(path.parent().expect("seed files live in a folder"))?;
    write_json(&path, saved)
}

/// Reads a seed kept by [`write_seed`], naming the file in errors.
pub fn read_seed(path: &Path) -> Result<SavedSeed> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::file(path, format!("not a seed kept by somnet incremental: {e}")))
}

/// Writes a shard of an evaluation into `out`: `shard.json` (what `somnet merge` reads) and the
/// files of its own samples ([`write_evaluation`]).
pub fn write_shard(out: &Path, shard: &Shard) -> Result<()> {
    write_evaluation(out, &shard.evaluation)?;
    write_json(&out.join("shard.json"), shard)
}

/// Reads `shard.json` in the folder `dir` (or the file itself), naming the file in errors.
pub fn read_shard(dir: &Path) -> Result<Shard> {
    let path = if dir.is_dir() {
        dir.join("shard.json")
    } else {
        dir.to_path_buf()
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::file(
            &path,
            format!("not a shard record of somnet evaluate --shard: {e}"),
        )
    })
}

/// Writes `result.json` (the record), `per_step.csv` (accuracy, cumulative synaptic operations
/// and energy per image after every step),
/// `accuracy.png` (that curve with the ANN as a line) and `layer_rates.png` (spikes per neuron
/// per step of every converted layer) into `out`.
pub fn write_evaluation(out: &Path, e: &Evaluation) -> Result<()> {
    ensure_dir(out)?;
    write_json(&out.join("result.json"), e)?;
    // Cumulative synaptic operations and energy per image after each step, beside the accuracy
    // they bought (left empty where the counts are missing, e.g. merged from old shards).
    let analog = (e.options.input == crate::convert::options::InputCoding::Analog)
        .then(|| e.energy_pj.layers.first().map_or(0, |l| l.macs));
    let mut csv = String::from("step,snn_accuracy,synaptic_ops_per_image,snn_pj,energy_ratio\n");
    for (k, a) in e.snn_accuracy_per_step.iter().enumerate() {
        match e.synaptic_ops_per_step.get(k) {
            Some(&ops) => {
                let pj = crate::convert::energy::snn_pj_at(ops, analog);
                let ratio = pj / e.energy_pj.ann.max(f64::MIN_POSITIVE);
                csv += &format!("{},{a},{ops},{pj},{ratio}\n", k + 1);
            }
            None => csv += &format!("{},{a},,,\n", k + 1),
        }
    }
    write_text(&out.join("per_step.csv"), &csv)?;
    let t = e.snn_accuracy_per_step.len() as f64;
    let acc: Vec<(f64, f64, f64)> = e
        .snn_accuracy_per_step
        .iter()
        .enumerate()
        .map(|(k, a)| ((k + 1) as f64, 100.0 * a, 0.0))
        .collect();
    lines(
        &out.join("accuracy.png"),
        &format!(
            "{}: accuracy after every step ({} images, T = {})",
            subject(&e.dataset, e.model.as_deref()),
            e.images,
            e.steps
        ),
        ("step", "test accuracy (%)"),
        1.0..t.max(2.0),
        0.0..100.0,
        &[
            Series {
                name: "SNN".into(),
                color: PALETTE[0],
                points: acc,
                dashed: false,
                marker: Marker::Circle,
            },
            Series {
                name: "ANN".into(),
                color: PALETTE[1],
                points: vec![
                    (1.0, 100.0 * e.ann_accuracy, 0.0),
                    (t.max(2.0), 100.0 * e.ann_accuracy, 0.0),
                ],
                dashed: true,
                marker: Marker::Cross,
            },
        ],
    )?;
    let rates: Vec<(f64, f64, f64)> = e
        .layers
        .iter()
        .enumerate()
        .map(|(k, l)| ((k + 1) as f64, l.spikes_per_neuron_per_step, 0.0))
        .collect();
    let top = rates.iter().map(|r| r.1).fold(0.01, f64::max) * 1.2;
    let names: Vec<&str> = e.energy_pj.layers.iter().map(|l| l.name.as_str()).collect();
    lines(
        &out.join("layer_rates.png"),
        &format!(
            "{}: spikes per neuron per step by layer ({}; T = {})",
            subject(&e.dataset, e.model.as_deref()),
            names.join(", "),
            e.steps
        ),
        ("layer", "spikes / neuron / step"),
        0.5..e.layers.len() as f64 + 0.5,
        0.0..top,
        &[Series {
            name: "rate".into(),
            color: PALETTE[2],
            points: rates,
            dashed: false,
            marker: Marker::Circle,
        }],
    )
}

/// Writes `sweep.csv`, `sweep.json` and `pareto.png` (accuracy against energy, steps to ANN −
/// 0.1 pp in the labels, the Pareto front highlighted) into `out`.
pub fn write_sweep(out: &Path, sweep: &Sweep) -> Result<()> {
    write_sweep_with(out, sweep, EnergyBasis::AtSteps)
}

/// [`write_sweep`] with the Pareto plot on `basis`: the energy of all T steps, or the energy and
/// accuracy where each grid point first comes within 1 / 0.5 / 0.1 pp of the ANN (points that
/// never do are left out and counted in the title).
pub fn write_sweep_with(out: &Path, sweep: &Sweep, basis: EnergyBasis) -> Result<()> {
    write_sweep_rows(out, sweep)?;
    let front = pareto_front_by(&sweep.rows, basis);
    let points: Vec<ParetoPoint> = sweep
        .rows
        .iter()
        .zip(front)
        .filter_map(|(r, on_front)| {
            let (accuracy, energy) = basis.point(r)?;
            Some(ParetoPoint {
                energy_pj: energy,
                accuracy: 100.0 * accuracy,
                curve: r.snn_accuracy_per_step.iter().map(|a| 100.0 * a).collect(),
                // Values only ("analog/if/zero · 16"): the keys are in the CSV.
                label: format!(
                    "{} · {}",
                    r.settings
                        .split(' ')
                        .map(|kv| kv.split_once('=').map_or(kv, |x| x.1))
                        .collect::<Vec<_>>()
                        .join("/"),
                    r.latency_steps
                        .pp01
                        .map_or("-".to_string(), |x| x.to_string())
                ),
                on_front: on_front == Some(true),
            })
        })
        .collect();
    let basis_text = match basis {
        EnergyBasis::AtSteps => format!("T = {}", sweep.steps),
        EnergyBasis::AtLatency(h) => format!(
            "energy and accuracy where each point first comes within {} pp of the ANN ({} of {} \
             points do)",
            h as f64 / 100.0,
            points.len(),
            sweep.rows.len()
        ),
    };
    pareto(
        &out.join("pareto.png"),
        &format!(
            "{}: {} images, {basis_text} (labels: settings · steps to ANN − 0.1 pp; red: Pareto \
             front)",
            subject(&sweep.dataset, sweep.model.as_deref()),
            sweep.images,
        ),
        &points,
        100.0 * sweep.ann_accuracy,
    )
}

/// Writes `sweep.csv` and `sweep.json` only: what a running sweep keeps on disk after every grid
/// point, so that an interrupted or killed run can be resumed ([`read_sweep`]).
pub fn write_sweep_rows(out: &Path, sweep: &Sweep) -> Result<()> {
    ensure_dir(out)?;
    write_text(&out.join("sweep.csv"), &sweep.csv())?;
    write_json(&out.join("sweep.json"), sweep)
}

/// Reads `sweep.json` in the folder `dir` (or the file itself), naming the file in errors.
pub fn read_sweep(dir: &Path) -> Result<Sweep> {
    let path = if dir.is_dir() {
        dir.join("sweep.json")
    } else {
        dir.to_path_buf()
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a sweep record of somnet sweep: {e}")))
}

/// Continues the sweep recorded in `out` (its `sweep.json`), if there is one: checks that it is a
/// record of the same sweep as `record` ([`Sweep::check_resumable`]) and copies its ANN accuracy
/// and finished rows into `record`. Returns how many grid points were already finished, or `None`
/// when `out` holds no record yet (the sweep starts afresh).
pub fn resume_sweep(out: &Path, record: &mut Sweep) -> Result<Option<usize>> {
    let saved = out.join("sweep.json");
    if !saved.exists() {
        return Ok(None);
    }
    let previous = read_sweep(&saved)?;
    record.check_resumable(&previous, &saved)?;
    record.ann_accuracy = previous.ann_accuracy;
    record.rows = previous.rows;
    Ok(Some(record.rows.len()))
}

/// `data set, model file name` for a figure's title.
fn subject(dataset: &str, model: Option<&str>) -> String {
    let name = model.map_or("model", |m| {
        std::path::Path::new(m)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(m)
    });
    format!("{dataset}, {name}")
}
