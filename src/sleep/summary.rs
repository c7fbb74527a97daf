//! The class-incremental experiment's record: statistics over seeds (mean and sample standard
//! deviation of every curve), the final accuracies, and the per-seed table (`result.json`,
//! `result.csv` of `somnet incremental`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::incremental::{mean_sd, Curve, IncrementalConfig, SeedRun};
use super::SleepReport;

/// Mean and standard deviation over seeds of one condition's [`Curve`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveSummary {
    /// Accuracy after each task: mean over seeds.
    pub accuracy_mean: Vec<f64>,
    /// Its sample standard deviation.
    pub accuracy_sd: Vec<f64>,
    /// `[k][j]`: task j's accuracy after task k, mean over seeds.
    pub per_task_mean: Vec<Vec<f64>>,
    /// Its sample standard deviation.
    pub per_task_sd: Vec<Vec<f64>>,
}

impl CurveSummary {
    /// The statistics of the curve `pick` selects in every run (`runs` not empty).
    pub fn of(runs: &[SeedRun], pick: impl Fn(&SeedRun) -> &Curve) -> CurveSummary {
        let n_steps = pick(&runs[0]).accuracy.len();
        let n_tasks = pick(&runs[0]).per_task.first().map_or(0, |p| p.len());
        let stat = |f: &dyn Fn(&SeedRun) -> f64| mean_sd(&runs.iter().map(f).collect::<Vec<_>>());
        let acc: Vec<(f64, f64)> = (0..n_steps)
            .map(|k| stat(&|r| pick(r).accuracy[k]))
            .collect();
        let per_task: Vec<Vec<(f64, f64)>> = (0..n_steps)
            .map(|k| {
                (0..n_tasks)
                    .map(|j| stat(&|r| pick(r).per_task[k][j]))
                    .collect()
            })
            .collect();
        let column = |rows: &[Vec<(f64, f64)>], sd: bool| -> Vec<Vec<f64>> {
            rows.iter()
                .map(|r| r.iter().map(|a| if sd { a.1 } else { a.0 }).collect())
                .collect()
        };
        CurveSummary {
            accuracy_mean: acc.iter().map(|a| a.0).collect(),
            accuracy_sd: acc.iter().map(|a| a.1).collect(),
            per_task_mean: column(&per_task, false),
            per_task_sd: column(&per_task, true),
        }
    }
}

/// One value per condition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ByCondition {
    /// With sleep.
    pub sleep: f64,
    /// Trained task after task without sleep.
    pub sequential: f64,
    /// Trained on all tasks at once.
    pub joint: f64,
}

/// The statistics of every condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summaries {
    /// With sleep, after each task's sleep.
    pub sleep: CurveSummary,
    /// With sleep, before each task's sleep.
    pub before_sleep: CurveSummary,
    /// Without sleep.
    pub sequential: CurveSummary,
    /// All tasks at once.
    pub joint: CurveSummary,
}

/// One seed in the record (its raster is left out: the figure shows it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedRecord<'a> {
    /// The seed.
    pub seed: u64,
    /// With sleep.
    pub sleep: &'a Curve,
    /// Before each sleep.
    pub before_sleep: &'a Curve,
    /// Without sleep.
    pub sequential: &'a Curve,
    /// All tasks at once.
    pub joint: &'a Curve,
    /// The sleep phases.
    pub sleeps: &'a [SleepReport],
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// `result.json` of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncrementalRecord<'a> {
    /// The somnet version.
    pub somnet_version: &'static str,
    /// The command line (empty from the library).
    pub command: String,
    /// The data set.
    pub dataset: String,
    /// The seeds that finished.
    pub seeds: Vec<u64>,
    /// The experiment's settings.
    pub config: &'a IncrementalConfig,
    /// Accuracy after the last task, mean over seeds.
    pub final_accuracy: ByCondition,
    /// Its sample standard deviation.
    pub final_accuracy_sd: ByCondition,
    /// Every curve's statistics.
    pub summary: Summaries,
    /// Mean wall-clock seconds per seed.
    pub seconds_per_seed: f64,
    /// Per seed.
    pub runs: Vec<SeedRecord<'a>>,
}

impl<'a> IncrementalRecord<'a> {
    /// The record of `runs` (not empty).
    pub fn new(dataset: &str, config: &'a IncrementalConfig, runs: &'a [SeedRun]) -> Self {
        let last = |c: &Curve| c.accuracy.last().copied().unwrap_or(f64::NAN);
        let finals = |pick: &dyn Fn(&SeedRun) -> &Curve| {
            mean_sd(&runs.iter().map(|r| last(pick(r))).collect::<Vec<_>>())
        };
        let (sleep, sequential, joint) = (
            finals(&|r| &r.sleep),
            finals(&|r| &r.sequential),
            finals(&|r| &r.joint),
        );
        IncrementalRecord {
            somnet_version: crate::VERSION,
            command: String::new(),
            dataset: dataset.to_string(),
            seeds: runs.iter().map(|r| r.seed).collect(),
            config,
            final_accuracy: ByCondition {
                sleep: sleep.0,
                sequential: sequential.0,
                joint: joint.0,
            },
            final_accuracy_sd: ByCondition {
                sleep: sleep.1,
                sequential: sequential.1,
                joint: joint.1,
            },
            summary: Summaries {
                sleep: CurveSummary::of(runs, |r| &r.sleep),
                before_sleep: CurveSummary::of(runs, |r| &r.before_sleep),
                sequential: CurveSummary::of(runs, |r| &r.sequential),
                joint: CurveSummary::of(runs, |r| &r.joint),
            },
            seconds_per_seed: mean_sd(&runs.iter().map(|r| r.seconds).collect::<Vec<_>>()).0,
            runs: runs
                .iter()
                .map(|r| SeedRecord {
                    seed: r.seed,
                    sleep: &r.sleep,
                    before_sleep: &r.before_sleep,
                    sequential: &r.sequential,
                    joint: &r.joint,
                    sleeps: &r.sleeps,
                    seconds: r.seconds,
                })
                .collect(),
        }
    }
}

/// `result.csv`: per seed, condition and task, the accuracy on all classes and on each task.
pub fn csv(runs: &[SeedRun], n_tasks: usize) -> String {
    let mut csv = String::from("seed,condition,after_task,accuracy");
    for j in 1..=n_tasks {
        csv += &format!(",task_{j}");
    }
    csv += "\n";
    for r in runs {
        for (name, curve, offset) in [
            ("before_sleep", &r.before_sleep, 1),
            ("sleep", &r.sleep, 1),
            ("sequential", &r.sequential, 1),
            ("joint", &r.joint, n_tasks),
        ] {
            for (k, (acc, per)) in curve.accuracy.iter().zip(&curve.per_task).enumerate() {
                csv += &format!("{},{name},{},{acc:.4}", r.seed, k + offset);
                for p in per {
                    csv += &format!(",{p:.4}");
                }
                csv += "\n";
            }
        }
    }
    csv
}

/// One finished seed as `somnet incremental` keeps it on disk (`seeds/seed-N.json`) the moment it
/// finishes, with what it was run on, so that `--resume` can reuse it instead of running it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSeed {
    /// The somnet version that ran it.
    pub somnet_version: String,
    /// The data set name.
    pub dataset: String,
    /// Training images of the data set.
    pub train_images: usize,
    /// Test images evaluated.
    pub test_images: usize,
    /// The experiment's settings.
    pub config: IncrementalConfig,
    /// The seed's curves, sleeps and raster.
    pub run: SeedRun,
}

impl SavedSeed {
    /// Checks that this saved seed is `seed` of an experiment with these settings and data, so
    /// that it equals what running it again would give; the error names `path` and the field.
    pub fn check_resumable(
        &self,
        path: &Path,
        seed: u64,
        dataset: &str,
        train_images: usize,
        test_images: usize,
        config: &IncrementalConfig,
    ) -> Result<()> {
        let differs = |field: &str, before: String, now: String| {
            Err(Error::file(
                path,
                format!("cannot resume: field '{field}' is {before} there but {now} in this run (start afresh without --resume, or use another output folder)"),
            ))
        };
        if self.run.seed != seed {
            return differs("run.seed", self.run.seed.to_string(), seed.to_string());
        }
        if self.dataset != dataset {
            return differs("dataset", self.dataset.clone(), dataset.to_string());
        }
        if self.train_images != train_images {
            return differs(
                "train_images",
                self.train_images.to_string(),
                train_images.to_string(),
            );
        }
        if self.test_images != test_images {
            return differs(
                "test_images",
                self.test_images.to_string(),
                test_images.to_string(),
            );
        }
        if &self.config != config {
            let json = |c: &IncrementalConfig| serde_json::to_value(c).unwrap_or_default();
            let (before, now) = (json(&self.config), json(config));
            let field = before
                .as_object()
                .and_then(|b| {
                    b.iter()
                        .find(|(k, v)| now.get(k.as_str()) != Some(v))
                        .map(|(k, v)| (k.clone(), v.to_string(), now[k.as_str()].to_string()))
                })
                .unwrap_or_else(|| ("config".into(), before.to_string(), now.to_string()));
            return differs(&format!("config.{}", field.0), field.1, field.2);
        }
        Ok(())
    }
}
