//! Studies from Python: a sweep over conversion knobs and a sleep phase, each one library call
//! (`study::sweep`, `sleep::sleep`) with the GIL released, progress and Ctrl-C.

use std::path::PathBuf;

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use somnet::convert::options::ConvertOptions;
use somnet::data::Dataset;
use somnet::sleep::SleepConfig;
use somnet::study::sweep::{Grid, Sweep};

use crate::errors::{value, OrPy};
use crate::interrupt;
use crate::models::{with_knobs, PyModel};

/// The exception that stopped a call, as a Python object (or None).
type Stopped = Option<Py<PyAny>>;

/// Evaluates `model` converted with every point of `grid` (`key=v1,v2;…`, on top of `base`
/// knobs) on the images; returns the sweep record (JSON) and what stopped it early, if anything
/// (the record then holds the finished grid points). With `out`, keeps sweep.csv and sweep.json
/// there after every point and writes pareto.png at the end; with `resume`, the finished points
/// of the sweep recorded in `out` are kept and only the rest run.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    py: Python<'_>,
    model: &PyModel,
    calibration: PyReadonlyArray2<'_, f32>,
    images: PyReadonlyArray2<'_, f32>,
    labels: PyReadonlyArray1<'_, u8>,
    name: &str,
    steps: u64,
    grid: &str,
    base: Vec<(String, String)>,
    threads: usize,
    progress: Option<Py<PyAny>>,
    out: Option<PathBuf>,
    resume: bool,
) -> PyResult<(String, Stopped)> {
    if steps == 0 {
        return Err(value("steps = 0: expected a whole number ≥ 1"));
    }
    let base = with_knobs(ConvertOptions::default(), &base)?;
    let points = Grid::parse(grid).and_then(|g| g.points(&base)).or_py()?;
    let ann = &model.ann;
    let shape = &ann.input_shape;
    let calibration = crate::arrays::dataset(
        "calibration",
        &calibration,
        None,
        shape,
        ann.output_features(),
    )?;
    let test = crate::arrays::dataset(name, &images, Some(&labels), shape, ann.output_features())?;
    let mut record = Sweep {
        somnet_version: somnet::VERSION.to_string(),
        command: String::new(),
        model: Some(model.source.clone()),
        dataset: name.to_string(),
        images: test.len(),
        steps,
        grid: grid.to_string(),
        ann_accuracy: 0.0,
        macs_per_image: ann.macs(),
        seed: base.seed,
        calibration_images: calibration.len(),
        points: points.len(),
        rows: Vec::new(),
    };
    match (resume, &out) {
        (true, Some(dir)) => {
            somnet::study::report::resume_sweep(dir, &mut record).or_py()?;
        }
        (true, None) => {
            return Err(value(
                "resume=True needs out: the folder of the sweep to continue",
            ))
        }
        (false, _) => {}
    }
    let done = record.rows.len() as u64;
    let mut saving = Ok(());
    let out_run = interrupt::run(py, threads, points.len() as u64, progress, |watch| {
        let _ = watch.set_done(done);
        somnet::study::sweep::run(
            ann,
            &calibration,
            &test,
            steps,
            &points,
            &mut record,
            |so_far| {
                if let Some(dir) = &out {
                    if let Err(e) = somnet::study::report::write_sweep_rows(dir, so_far) {
                        saving = Err(e);
                        return std::ops::ControlFlow::Break(());
                    }
                }
                watch.tick(1)
            },
        )
    })?;
    out_run.value.or_py()?;
    saving.or_py()?;
    if let Some(dir) = out {
        somnet::study::report::write_sweep(&dir, &record).or_py()?;
    }
    let json = serde_json::to_string(&record).expect("records serialise");
    Ok((
        json,
        out_run.stopped_by.map(|e| e.into_value(py).into_any()),
    ))
}

/// The grid points of `grid` on top of `base`: (settings, the point as a one-point grid).
#[pyfunction]
pub fn grid_points(grid: &str, base: Vec<(String, String)>) -> PyResult<Vec<(String, String)>> {
    let base = with_knobs(ConvertOptions::default(), &base)?;
    let points = Grid::parse(grid).and_then(|g| g.points(&base)).or_py()?;
    Ok(points
        .into_iter()
        .map(|p| {
            let one = p.settings.split(' ').collect::<Vec<_>>().join(";");
            (p.settings, one)
        })
        .collect())
}

/// Whether each row of a sweep record (JSON) is on its Pareto front.
#[pyfunction]
pub fn pareto_front(sweep_json: &str) -> PyResult<Vec<bool>> {
    let s: Sweep =
        serde_json::from_str(sweep_json).map_err(|e| value(format!("not a sweep record: {e}")))?;
    Ok(somnet::study::sweep::pareto_front(&s.rows))
}

/// Images as a data set for sleep: (N, C, H, W) keep their image shape (the sleep input's window
/// is square on the image); (N, F) are one row each.
fn sleep_images(images: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Dataset> {
    let a = images.as_array();
    let shape = match a.shape() {
        [_, c, h, w] => [*c, *h, *w],
        [_, f] => [1, 1, *f],
        other => {
            return Err(value(format!(
                "images: shape {other:?}, expected (N, C, H, W) or (N, features)"
            )))
        }
    };
    let n = a.shape()[0];
    Dataset::new(
        "sleep images",
        a.iter().copied().collect(),
        vec![0; n],
        shape,
        vec!["0".into()],
    )
    .or_py()
}

/// One sleep phase on a copy of `model`, driven by `images`, with the `preset`'s settings and
/// `settings` (key, value) overriding them; `steps` defaults to the preset's length after one
/// task. Returns the slept network, the report and the settings used (JSON), and what stopped
/// it early, if anything.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn sleep(
    py: Python<'_>,
    model: &PyModel,
    images: PyReadonlyArrayDyn<'_, f32>,
    steps: Option<u64>,
    preset: &str,
    settings: Vec<(String, String)>,
    threads: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<(PyModel, String, String, Stopped)> {
    let mut config = SleepConfig::preset_for(preset);
    for (k, v) in &settings {
        config.set(k, v).or_py()?;
    }
    config.validate().or_py()?;
    let data = sleep_images(&images)?;
    let steps = steps.unwrap_or(config.length.after_task(1));
    let mut ann = model.ann.clone();
    let out = interrupt::run(py, threads, steps, progress, |watch| {
        somnet::sleep::sleep(&mut ann, &data, steps, &config, 0..0, |d| watch.set_done(d))
    })?;
    let report = out.value.or_py()?;
    let slept = PyModel {
        ann,
        source: format!("{} (slept {} steps)", model.source, report.steps),
        provenance: serde_json::json!({
            "source_model": model.source,
            "source_provenance": model.provenance,
            "sleep": { "config": config, "report": report },
        }),
    };
    Ok((
        slept,
        serde_json::to_string(&report).expect("records serialise"),
        serde_json::to_string(&config).expect("records serialise"),
        out.stopped_by.map(|e| e.into_value(py).into_any()),
    ))
}

/// The class-incremental experiment (Tadros et al. 2022) on `dataset` for each of `seeds`, with
/// the settings of a preset (a `preset` pair: released, replication or best; released without one) and
/// `settings` (key, value: incremental and sleep keys) overriding them.
/// Returns the record (JSON) and what stopped it early, if anything (the record then holds the
/// finished seeds). With `out`, writes result.json, result.csv and the figures there.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn incremental(
    py: Python<'_>,
    dataset: &str,
    data_dir: PathBuf,
    seeds: Vec<u64>,
    settings: Vec<(String, String)>,
    test_limit: Option<usize>,
    threads: usize,
    progress: Option<Py<PyAny>>,
    out: Option<PathBuf>,
    resume: bool,
) -> PyResult<(String, Stopped)> {
    use somnet::data::{load_named, Split};
    use somnet::sleep::incremental::Preset;
    use somnet::study::seeds::{run_seeds, Keep};
    use std::sync::atomic::{AtomicBool, Ordering};

    let preset = settings
        .iter()
        .rev()
        .find(|(k, _)| k == "preset")
        .map_or("released", |(_, v)| v.as_str());
    let mut config = Preset::parse(preset).or_py()?.config(dataset);
    for (k, v) in settings.iter().filter(|(k, _)| k != "preset") {
        config.set(k, v).or_py()?;
    }
    config.validate().or_py()?;
    let train = py
        .detach(|| load_named(dataset, &data_dir, Split::Train))
        .or_py()?;
    let mut test = py
        .detach(|| load_named(dataset, &data_dir, Split::Test))
        .or_py()?;
    if let Some(n) = test_limit {
        test = test.head(n);
    }
    let tasks = config.tasks.len() as u64;
    let per_seed = if config.controls {
        3 * tasks + 1
    } else {
        2 * tasks
    };
    let total = per_seed * seeds.len() as u64;
    if resume && out.is_none() {
        return Err(value(
            "resume=True needs out: the folder whose kept seeds to reuse",
        ));
    }
    let keep = out.as_deref().map(|out| Keep { out, resume });
    let out_run = interrupt::run(py, threads, total, progress, |watch| {
        let stop = AtomicBool::new(false);
        let on_event = |_, _| {
            if watch.tick(1).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        };
        let on_seed = |_: &_, kept| {
            let step = if kept { per_seed } else { 0 };
            if watch.tick(step).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        };
        run_seeds(
            &train, &test, dataset, &config, &seeds, keep, &stop, &on_event, on_seed,
        )
    })?;
    let runs = out_run.value.or_py()?;
    if runs.is_empty() {
        return Err(out_run
            .stopped_by
            .unwrap_or_else(|| value("no seed finished")));
    }
    if let Some(dir) = out {
        somnet::study::report::write_incremental(&dir, dataset, "", &config, &runs).or_py()?;
    }
    let record = somnet::sleep::summary::IncrementalRecord::new(dataset, &config, &runs);
    let json = serde_json::to_string(&record).expect("records serialise");
    Ok((
        json,
        out_run.stopped_by.map(|e| e.into_value(py).into_any()),
    ))
}
