//! Option searches for sleep under an honest protocol.
//!
//! Settings chosen by looking at test accuracy overstate what a method does: the test set has been
//! used to pick them. A search here never sees the test set. It carves a validation split out of
//! the *training* images of the tasks' classes ([`validation_split`], seeded; by preference from
//! the images beyond the first `per_task` of each task, so the tasks train on exactly the images
//! they would otherwise), runs the class-incremental experiment on what is left with the sleep
//! condition only, and scores each trial by the final 10-class accuracy on the validation images.
//! The test set is used once, afterwards, on the chosen setting over several seeds (the CLI's
//! `somnet search --final-seeds`).
//!
//! Trials are random draws from the ranges of a [`SearchConfig`]: trial i's settings come from
//! its own stream `(seed, search, i)`, so a search resumed after a stop draws the very same
//! trials ([`trial_settings`]), and every finished trial is kept as a row of `trials.csv`
//! ([`TrialLog`]).
//!
//! ```
//! use somnet::sleep::incremental::IncrementalConfig;
//! use somnet::sleep::search::{trial_settings, Dimension, SearchConfig};
//! let config = SearchConfig {
//!     base: IncrementalConfig::released("mnist"),
//!     space: vec![Dimension::parse("inc=log:0.001..0.1").unwrap(),
//!                 Dimension::parse("sigma=choice:released|increasing:1").unwrap()],
//!     trials: 10,
//!     seed: 7,
//!     seeds: vec![1],
//!     validation_per_task: 1000,
//! };
//! let t3 = trial_settings(&config, 3);
//! assert_eq!(t3, trial_settings(&config, 3)); // the same draw every time
//! let inc: f64 = t3[0].1.parse().unwrap();
//! assert!((0.001..=0.1).contains(&inc));
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::incremental::{mean_sd, run_seed, IncrementalConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::{below, stream, uniform01, Purpose, Stream};

/// The values one setting may take in a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Range {
    /// Log-uniform in [lo, hi] (steps, rates: what matters is the order of magnitude).
    Log {
        /// Lower end (> 0).
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// Uniform in [lo, hi].
    Linear {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// A whole number uniform in [lo, hi].
    Int {
        /// Lower end.
        lo: i64,
        /// Upper end.
        hi: i64,
    },
    /// One of these texts, each equally likely.
    Choice {
        /// The values (any text [`IncrementalConfig::set`] accepts for the key).
        values: Vec<String>,
    },
}

/// One searched setting: a key of [`IncrementalConfig::set`] and its range.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dimension {
    /// The setting.
    pub key: String,
    /// Its values.
    pub range: Range,
}

impl Dimension {
    /// Parses `KEY=log:LO..HI`, `KEY=lin:LO..HI`, `KEY=int:LO..HI` or `KEY=choice:A|B|…`.
    ///
    /// ```
    /// use somnet::sleep::search::{Dimension, Range};
    /// let d = Dimension::parse("sleep-base=int:500..20000").unwrap();
    /// assert_eq!(d.range, Range::Int { lo: 500, hi: 20000 });
    /// assert!(Dimension::parse("inc=log:0..1").is_err()); // a log range needs lo > 0
    /// ```
    pub fn parse(text: &str) -> Result<Dimension> {
        let bad = |expected: &str| Error::param("search range", text, expected);
        let form = "KEY=log:LO..HI, KEY=lin:LO..HI, KEY=int:LO..HI or KEY=choice:A|B|…";
        let (key, spec) = text.split_once('=').ok_or_else(|| bad(form))?;
        let (kind, body) = spec.split_once(':').ok_or_else(|| bad(form))?;
        let ends = || -> Result<(f64, f64)> {
            let (lo, hi) = body.split_once("..").ok_or_else(|| bad(form))?;
            let num = |v: &str| v.trim().parse::<f64>().ok().filter(|v| v.is_finite());
            match (num(lo), num(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
                _ => Err(bad("LO..HI with finite numbers, LO <= HI")),
            }
        };
        let range = match kind {
            "log" => {
                let (lo, hi) = ends()?;
                if lo <= 0.0 {
                    return Err(bad("a log range with LO > 0"));
                }
                Range::Log { lo, hi }
            }
            "lin" | "linear" => {
                let (lo, hi) = ends()?;
                Range::Linear { lo, hi }
            }
            "int" => {
                let (lo, hi) = ends()?;
                if lo.fract() != 0.0 || hi.fract() != 0.0 || lo.abs() > 1e15 || hi.abs() > 1e15 {
                    return Err(bad("an int range of whole numbers"));
                }
                Range::Int {
                    lo: lo as i64,
                    hi: hi as i64,
                }
            }
            "choice" => {
                let values: Vec<String> = body.split('|').map(|v| v.trim().to_string()).collect();
                if values.iter().any(|v| v.is_empty()) {
                    return Err(bad("choice:A|B|… with no empty value"));
                }
                Range::Choice { values }
            }
            _ => return Err(bad(form)),
        };
        Ok(Dimension {
            key: key.trim().to_string(),
            range,
        })
    }

    /// A value drawn from the range, as the text [`IncrementalConfig::set`] reads.
    fn draw(&self, rng: &mut Stream) -> String {
        match &self.range {
            Range::Log { lo, hi } => {
                let v = (lo.ln() + uniform01(rng) * (hi.ln() - lo.ln())).exp();
                format!("{}", round_sig(v))
            }
            Range::Linear { lo, hi } => format!("{}", round_sig(lo + uniform01(rng) * (hi - lo))),
            Range::Int { lo, hi } => (lo + below(rng, (hi - lo) as u64 + 1) as i64).to_string(),
            Range::Choice { values } => values[below(rng, values.len() as u64) as usize].clone(),
        }
    }

    /// Every value the range can produce at its ends (to check the key and values up front).
    fn extremes(&self) -> Vec<String> {
        match &self.range {
            Range::Log { lo, hi } | Range::Linear { lo, hi } => {
                vec![lo.to_string(), hi.to_string()]
            }
            Range::Int { lo, hi } => vec![lo.to_string(), hi.to_string()],
            Range::Choice { values } => values.clone(),
        }
    }
}

/// Six significant digits: the CSV stays readable and the value is what the trial ran with.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 5 - v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

/// What a search runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchConfig {
    /// The set-up every trial starts from (its controls are not run in trials).
    pub base: IncrementalConfig,
    /// The searched settings.
    pub space: Vec<Dimension>,
    /// Trials to run.
    pub trials: usize,
    /// Seed of the trials' draws and of the validation split.
    pub seed: u64,
    /// Training seeds every trial runs (its score is the mean over them).
    pub seeds: Vec<u64>,
    /// Validation images carved from each task's training images.
    pub validation_per_task: usize,
}

impl SearchConfig {
    /// Checks the settings, and every range's ends against the base set-up.
    pub fn validate(&self) -> Result<()> {
        if self.space.is_empty() {
            return Err(Error::param("search space", "[]", "at least one KEY=RANGE"));
        }
        for (field, v) in [
            ("trials", self.trials),
            ("seeds", self.seeds.len()),
            ("validation_per_task", self.validation_per_task),
        ] {
            if v == 0 {
                return Err(Error::param(field, 0, "at least 1"));
            }
        }
        for (i, d) in self.space.iter().enumerate() {
            if self.space[..i].iter().any(|e| e.key == d.key) {
                return Err(Error::param("search space", &d.key, "each key once"));
            }
            for v in d.extremes() {
                let mut c = self.base.clone();
                c.set(&d.key, &v)?;
            }
        }
        let mut base = self.base.clone();
        base.controls = false;
        base.validate()
    }

    /// The column names of `trials.csv`.
    pub fn columns(&self) -> Vec<String> {
        let mut c = vec!["trial".to_string()];
        c.extend(self.space.iter().map(|d| d.key.clone()));
        c.extend(["validation_accuracy", "validation_sd"].map(String::from));
        c.extend(self.seeds.iter().map(|s| format!("seed_{s}")));
        c.extend((1..=self.base.tasks.len()).map(|k| format!("task_{k}")));
        c.extend(["seconds", "status"].map(String::from));
        c
    }
}

/// The settings of trial `index` (from 0): `(key, value)` in the order of the space.
pub fn trial_settings(config: &SearchConfig, index: usize) -> Vec<(String, String)> {
    let mut rng = stream(config.seed, Purpose::Search, index as u64, 0, 0);
    config
        .space
        .iter()
        .map(|d| (d.key.clone(), d.draw(&mut rng)))
        .collect()
}

/// The base set-up with a trial's settings applied (controls off).
pub fn trial_config(
    base: &IncrementalConfig,
    settings: &[(String, String)],
) -> Result<IncrementalConfig> {
    let mut c = base.clone();
    for (k, v) in settings {
        c.set(k, v)?;
    }
    c.controls = false;
    Ok(c)
}

/// One finished trial.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    /// Its index (from 0).
    pub index: usize,
    /// The settings it ran with.
    pub settings: Vec<(String, String)>,
    /// Mean final 10-class validation accuracy over the seeds (0 when it failed).
    pub accuracy: f64,
    /// Its standard deviation over the seeds.
    pub accuracy_sd: f64,
    /// Final validation accuracy per seed.
    pub per_seed: Vec<f64>,
    /// Final validation accuracy per task, mean over the seeds.
    pub per_task: Vec<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// `ok`, or why the trial failed (a diverged sleep, say): the search goes on.
    pub status: String,
}

/// The training images left for the tasks and the validation images carved out of them.
#[derive(Debug, Clone)]
pub struct ValidationSplit {
    /// The training set without the validation images (file order kept).
    pub train: Dataset,
    /// The validation images, task by task.
    pub validation: Dataset,
    /// Indices of the validation images in the original training set.
    pub indices: Vec<usize>,
}

/// Carves `n` validation images per task out of `train` (seeded). They come from the images of
/// the task's classes beyond its first `per_task` (those the task trains on) when there are `n`
/// of them, so the tasks train on the same images as without a split; otherwise from all of the
/// task's images, which the tasks then do not train on. Either way no validation image is ever
/// trained on, and none is a test image.
///
/// ```
/// use somnet::data::Dataset;
/// use somnet::sleep::search::validation_split;
/// // 12 one-pixel images, classes 0 and 1 alternating.
/// let labels: Vec<u8> = (0..12).map(|i| (i % 2) as u8).collect();
/// let data = Dataset::new("toy", (0..12).map(|i| i as f32).collect(), labels, [1, 1, 1],
///     vec!["a".into(), "b".into()]).unwrap();
/// let split = validation_split(&data, &[vec![0, 1]], 4, 3, 1).unwrap();
/// assert_eq!(split.validation.len(), 3);
/// assert!(split.indices.iter().all(|&i| i >= 4)); // the first 4 (trained on) are kept
/// assert_eq!(split.train.len(), 9);
/// ```
pub fn validation_split(
    train: &Dataset,
    tasks: &[Vec<u8>],
    per_task: usize,
    n: usize,
    seed: u64,
) -> Result<ValidationSplit> {
    let mut picked = Vec::with_capacity(n * tasks.len());
    for (k, classes) in tasks.iter().enumerate() {
        let pool: Vec<usize> = (0..train.len())
            .filter(|&i| classes.contains(&train.labels[i]))
            .collect();
        if pool.len() <= n {
            return Err(Error::Unsupported(format!(
                "validation split: task {} (classes {classes:?}) has {} training images in '{}', \
                 too few to carve {n} validation images and still train (lower the validation \
                 size)",
                k + 1,
                pool.len(),
                train.name
            )));
        }
        let beyond = &pool[per_task.min(pool.len())..];
        let from = if beyond.len() >= n { beyond } else { &pool[..] };
        let mut rng = stream(seed, Purpose::Search, u64::MAX, k as u64, 0);
        let mut order: Vec<usize> = from.to_vec();
        for i in 0..n {
            let j = i + below(&mut rng, (order.len() - i) as u64) as usize;
            order.swap(i, j);
        }
        let mut chosen = order[..n].to_vec();
        chosen.sort_unstable();
        picked.extend(chosen);
    }
    let mut is_val = vec![false; train.len()];
    for &i in &picked {
        is_val[i] = true;
    }
    let rest: Vec<usize> = (0..train.len()).filter(|&i| !is_val[i]).collect();
    let mut validation = train.select(&picked);
    validation.name = format!("{} (validation)", train.name);
    let mut rest_set = train.select(&rest);
    rest_set.name = format!("{} (training without validation)", train.name);
    Ok(ValidationSplit {
        train: rest_set,
        validation,
        indices: picked,
    })
}

/// Runs trial `index` on a split: the sleep condition for every seed, scored on validation.
/// `Ok(None)` when `stop` was raised.
pub fn run_trial(
    split: &ValidationSplit,
    config: &SearchConfig,
    index: usize,
    stop: &AtomicBool,
) -> Result<Option<Trial>> {
    let start = Instant::now();
    let settings = trial_settings(config, index);
    let cfg = trial_config(&config.base, &settings)?;
    let n_tasks = cfg.tasks.len();
    let mut per_seed = Vec::new();
    let mut per_task = vec![0.0; n_tasks];
    let mut status = "ok".to_string();
    for &seed in &config.seeds {
        match run_seed(&split.train, &split.validation, &cfg, seed, stop, &|_| {}) {
            Ok(Some(run)) => {
                per_seed.push(run.sleep.accuracy.last().copied().unwrap_or(0.0));
                if let Some(last) = run.sleep.per_task.last() {
                    for (a, b) in per_task.iter_mut().zip(last) {
                        *a += b / config.seeds.len() as f64;
                    }
                }
            }
            Ok(None) => return Ok(None),
            // A setting that breaks sleep (weights diverge, a layer goes silent) is a result of
            // the search, not the end of it.
            Err(e @ (Error::Unsupported(_) | Error::Param { .. })) => {
                status = e.to_string();
                break;
            }
            Err(e) => return Err(e),
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
    }
    let failed = status != "ok";
    let (accuracy, accuracy_sd) = if failed {
        (0.0, 0.0)
    } else {
        mean_sd(&per_seed)
    };
    Ok(Some(Trial {
        index,
        settings,
        accuracy,
        accuracy_sd,
        per_seed: if failed {
            vec![0.0; config.seeds.len()]
        } else {
            per_seed
        },
        per_task: if failed { vec![0.0; n_tasks] } else { per_task },
        seconds: start.elapsed().as_secs_f64(),
        status,
    }))
}

/// The best finished trial (highest validation accuracy; the earliest among equals).
pub fn best(trials: &[Trial]) -> Option<&Trial> {
    trials
        .iter()
        .filter(|t| t.status == "ok")
        .fold(None, |b: Option<&Trial>, t| match b {
            Some(b) if b.accuracy >= t.accuracy => Some(b),
            _ => Some(t),
        })
}

/// The trials of a search on disk: `search.json` (the search's settings) and `trials.csv` (one
/// row per finished trial, written and flushed as it finishes).
pub struct TrialLog {
    csv: PathBuf,
    writer: csv::Writer<std::fs::File>,
}

impl TrialLog {
    /// Opens the log in `dir`. Fresh: writes `search.json` and a new `trials.csv` (refusing to
    /// overwrite a folder that holds one, unless `resume`). Resuming: checks `search.json`
    /// against `config` (the number of trials may differ) and every kept row against the trial
    /// it claims to be, and returns the kept trials (at most `config.trials`).
    pub fn open(dir: &Path, config: &SearchConfig, resume: bool) -> Result<(TrialLog, Vec<Trial>)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json = dir.join("search.json");
        let csv_path = dir.join("trials.csv");
        let columns = config.columns();
        let mut kept = Vec::new();
        if resume && csv_path.exists() {
            let text = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, e))?;
            let before: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::file(&json, format!("not a search record: {e}")))?;
            // More (or fewer) trials may be asked of a resumed search: trial i is the same draw.
            // Through text, as the file went, so that f32 values compare as written.
            let now: serde_json::Value = serde_json::from_str(
                &serde_json::to_string(&SearchConfig {
                    trials: before["trials"].as_u64().unwrap_or(0) as usize,
                    ..config.clone()
                })
                .expect("the config serialises"),
            )
            .expect("its own JSON parses");
            if let Some(field) = first_difference(&before, &now, "") {
                return Err(Error::file(
                    &json,
                    format!(
                        "cannot resume: setting '{field}' differs from this run's (start afresh \
                         without --resume, or use another output folder)"
                    ),
                ));
            }
            kept = read_trials(&csv_path, config, &columns)?;
            kept.truncate(config.trials);
        } else if csv_path.exists() && !resume {
            return Err(Error::file(
                &csv_path,
                "a search is already kept here: pass --resume to continue it, or choose another \
                 output folder",
            ));
        } else {
            let text = serde_json::to_string_pretty(config).expect("the config serialises");
            std::fs::write(&json, text).map_err(|e| Error::io(&json, e))?;
        }
        let fresh = kept.is_empty();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(!fresh)
            .write(true)
            .truncate(fresh)
            .open(&csv_path)
            .map_err(|e| Error::io(&csv_path, e))?;
        let mut writer = csv::Writer::from_writer(file);
        if fresh {
            writer
                .write_record(&columns)
                .and_then(|_| writer.flush().map_err(csv::Error::from))
                .map_err(|e| Error::file(&csv_path, e.to_string()))?;
        }
        Ok((
            TrialLog {
                csv: csv_path,
                writer,
            },
            kept,
        ))
    }

    /// Appends a finished trial and flushes it to disk.
    pub fn push(&mut self, trial: &Trial) -> Result<()> {
        let mut row = vec![trial.index.to_string()];
        row.extend(trial.settings.iter().map(|(_, v)| v.clone()));
        row.push(trial.accuracy.to_string());
        row.push(trial.accuracy_sd.to_string());
        row.extend(trial.per_seed.iter().map(|a| a.to_string()));
        row.extend(trial.per_task.iter().map(|a| a.to_string()));
        row.push(format!("{:.3}", trial.seconds));
        row.push(trial.status.clone());
        self.writer
            .write_record(&row)
            .and_then(|_| self.writer.flush().map_err(csv::Error::from))
            .map_err(|e| Error::file(&self.csv, e.to_string()))
    }
}

/// The first field (a dotted path) where two JSON values differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &path) {
                            return Some(d);
                        }
                    }
                    None => return Some(path),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{at}.{k}"))
        }
        _ if a == b => None,
        _ => Some(if at.is_empty() {
            "(root)".into()
        } else {
            at.into()
        }),
    }
}

fn read_trials(path: &Path, config: &SearchConfig, columns: &[String]) -> Result<Vec<Trial>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| Error::file(path, e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::file(path, e.to_string()))?
        .iter()
        .map(String::from)
        .collect();
    if header != columns {
        return Err(Error::file(
            path,
            format!("cannot resume: columns are {header:?}, this search writes {columns:?}"),
        ));
    }
    let n_keys = config.space.len();
    let n_seeds = config.seeds.len();
    let n_tasks = config.base.tasks.len();
    let mut trials = Vec::new();
    for (r, record) in reader.records().enumerate() {
        let row = r + 2; // 1-based, after the header
        let record = record.map_err(|e| Error::file(path, format!("row {row}: {e}")))?;
        let field = |i: usize| record.get(i).unwrap_or("");
        let number = |i: usize| -> Result<f64> {
            field(i).parse::<f64>().map_err(|_| {
                Error::file(
                    path,
                    format!(
                        "row {row}, column '{}': expected a number, found '{}'",
                        columns[i],
                        field(i)
                    ),
                )
            })
        };
        let index = number(0)? as usize;
        if index != trials.len() {
            return Err(Error::file(
                path,
                format!("row {row}: expected trial {}, found {index}", trials.len()),
            ));
        }
        let expected = trial_settings(config, index);
        for (j, (key, value)) in expected.iter().enumerate() {
            if field(1 + j) != value {
                return Err(Error::file(
                    path,
                    format!(
                        "cannot resume: row {row} ran {key} = '{}', but trial {index} of this \
                         search draws '{value}'",
                        field(1 + j)
                    ),
                ));
            }
        }
        let at = 1 + n_keys;
        let per_seed = (0..n_seeds)
            .map(|s| number(at + 2 + s))
            .collect::<Result<_>>()?;
        let per_task = (0..n_tasks)
            .map(|k| number(at + 2 + n_seeds + k))
            .collect::<Result<_>>()?;
        trials.push(Trial {
            index,
            settings: expected,
            accuracy: number(at)?,
            accuracy_sd: number(at + 1)?,
            per_seed,
            per_task,
            seconds: number(at + 2 + n_seeds + n_tasks)?,
            status: field(at + 3 + n_seeds + n_tasks).to_string(),
        });
    }
    Ok(trials)
}

/// Runs the trials of `config` not yet in `done` on `train` (never a test set), appending each to
/// `log` as it finishes and telling `on_trial`. Stops between trials (or inside one, dropping it)
/// once `stop` is raised; returns every finished trial, `done` included.
pub fn run_search(
    train: &Dataset,
    config: &SearchConfig,
    done: Vec<Trial>,
    mut log: Option<&mut TrialLog>,
    stop: &AtomicBool,
    mut on_trial: impl FnMut(&Trial),
) -> Result<Vec<Trial>> {
    config.validate()?;
    let split = validation_split(
        train,
        &config.base.tasks,
        config.base.per_task,
        config.validation_per_task,
        config.seed,
    )?;
    let mut trials = done;
    for index in trials.len()..config.trials {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(trial) = run_trial(&split, config, index, stop)? else {
            break;
        };
        if let Some(log) = log.as_deref_mut() {
            log.push(&trial)?;
        }
        on_trial(&trial);
        trials.push(trial);
    }
    Ok(trials)
}
