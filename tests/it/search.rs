//! Option searches for sleep: the validation split stays inside the training data and off the
//! images the tasks train on, trials are the same draws when resumed, the trial log refuses what
//! it did not write, and bad ranges are named.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use somnet::ann::init::Init;
use somnet::data::Split;
use somnet::sleep::incremental::IncrementalConfig;
use somnet::sleep::search::{
    best, run_search, trial_settings, validation_split, Dimension, SearchConfig, TrialLog,
};
use somnet::sleep::{SleepConfig, SleepLength};

use crate::common::mnist;

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("search-{name}"));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

#[test]
fn the_validation_split_is_carved_from_training_images_the_tasks_do_not_train_on() {
    let train = mnist(Split::Train).head(20_000);
    let tasks: Vec<Vec<u8>> = (0..5).map(|k| vec![2 * k, 2 * k + 1]).collect();
    let split = validation_split(&train, &tasks, 1000, 200, 9).unwrap();
    assert_eq!(split.validation.len(), 5 * 200);
    assert_eq!(split.train.len() + split.validation.len(), train.len());
    let mut sorted = split.indices.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), split.indices.len(), "no image twice");
    for (k, classes) in tasks.iter().enumerate() {
        let labels = &split.validation.labels[k * 200..(k + 1) * 200];
        assert!(labels.iter().all(|l| classes.contains(l)), "task {k}");
        // None of the first 1 000 images of the task's classes (those it trains on).
        let pool: Vec<usize> = (0..train.len())
            .filter(|&i| classes.contains(&train.labels[i]))
            .collect();
        let trained: Vec<usize> = pool[..1000].to_vec();
        assert!(split.indices.iter().all(|i| !trained.contains(i)));
        // So each task trains on exactly the images it would without a split.
        let with = split.train.first_n_of_classes(classes, 1000);
        let without = train.first_n_of_classes(classes, 1000);
        assert_eq!(with.images, without.images, "task {k}");
        assert_eq!(with.labels, without.labels);
    }
    // Seeded: the same seed carves the same images, another seed others.
    let again = validation_split(&train, &tasks, 1000, 200, 9).unwrap();
    assert_eq!(again.indices, split.indices);
    let other = validation_split(&train, &tasks, 1000, 200, 10).unwrap();
    assert_ne!(other.indices, split.indices);
    // Too few images beyond the trained ones: carved from all of the task's images, which the
    // task then does not train on.
    let small = train.head(3000);
    let split = validation_split(&small, &tasks, 1000, 100, 9).unwrap();
    assert_eq!(split.train.len() + split.validation.len(), small.len());
    let first_of_task0: Vec<usize> = (0..small.len())
        .filter(|&i| tasks[0].contains(&small.labels[i]))
        .collect();
    assert!(
        first_of_task0.len() < 1000,
        "the case: fewer than per_task images"
    );
    assert!(split.indices[..100]
        .iter()
        .all(|i| first_of_task0.contains(i)));
    // Too few images at all: refused, naming the task.
    let err = validation_split(&train.head(100), &tasks, 1000, 100, 9).unwrap_err();
    assert!(err.to_string().contains("task 1"), "{err}");
}

fn tiny_search(trials: usize) -> SearchConfig {
    let base = IncrementalConfig {
        tasks: vec![vec![0, 1], vec![2, 3]],
        per_task: 300,
        hidden: vec![32, 32],
        init: Init::Uniform { a: 0.1 },
        controls: false,
        raster_steps: 0,
        sleep: SleepConfig {
            length: SleepLength {
                base: 200,
                per_task: 100,
            },
            ..SleepConfig::mnist()
        },
        ..IncrementalConfig::released("mnist")
    };
    SearchConfig {
        base,
        space: vec![
            Dimension::parse("inc=log:0.001..0.1").unwrap(),
            Dimension::parse("dec=lin:0.0001..0.01").unwrap(),
            Dimension::parse("sleep-base=int:100..300").unwrap(),
            Dimension::parse("sigma=choice:released|increasing:1").unwrap(),
        ],
        trials,
        seed: 5,
        seeds: vec![1],
        validation_per_task: 100,
    }
}

fn rows_without_seconds(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|c| *c == "seconds").unwrap();
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            r.iter()
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect()
}

#[test]
fn a_resumed_search_continues_with_identical_trials() {
    let train = mnist(Split::Train).head(4000);
    let stop = AtomicBool::new(false);
    // Two trials, then resumed to three.
    let dir = scratch("resume");
    let config = tiny_search(2);
    let (mut log, kept) = TrialLog::open(&dir, &config, false).unwrap();
    assert!(kept.is_empty());
    let first = run_search(&train, &config, kept, Some(&mut log), &stop, |_| {}).unwrap();
    assert_eq!(first.len(), 2);
    drop(log);
    let more = tiny_search(3);
    let (mut log, kept) = TrialLog::open(&dir, &more, true).unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1].settings, first[1].settings);
    assert_eq!(kept[1].accuracy, first[1].accuracy);
    let resumed = run_search(&train, &more, kept, Some(&mut log), &stop, |_| {}).unwrap();
    drop(log);
    // Three trials in one go.
    let fresh_dir = scratch("fresh");
    let (mut log, _) = TrialLog::open(&fresh_dir, &more, false).unwrap();
    let fresh = run_search(&train, &more, Vec::new(), Some(&mut log), &stop, |_| {}).unwrap();
    drop(log);
    assert_eq!(resumed.len(), 3);
    for (a, b) in resumed.iter().zip(&fresh) {
        assert_eq!(
            (a.index, &a.settings, a.accuracy),
            (b.index, &b.settings, b.accuracy)
        );
        assert_eq!(a.per_task, b.per_task);
    }
    assert_eq!(
        rows_without_seconds(&dir.join("trials.csv")),
        rows_without_seconds(&fresh_dir.join("trials.csv"))
    );
    // Each trial's settings are its own draw, inside its ranges.
    for t in &fresh {
        assert_eq!(t.settings, trial_settings(&more, t.index));
        let base: u64 = t.settings[2].1.parse().unwrap();
        assert!((100..=300).contains(&base));
    }
    assert!(best(&fresh).is_some_and(|b| fresh.iter().all(|t| t.accuracy <= b.accuracy)));
    // Not resuming refuses to overwrite a kept search.
    let err = TrialLog::open(&dir, &more, false).err().unwrap();
    assert!(err.to_string().contains("--resume"), "{err}");
    // Another search's settings: refused, naming the setting.
    let mut other = tiny_search(3);
    other.seed = 6;
    let err = TrialLog::open(&dir, &other, true).err().unwrap();
    assert!(err.to_string().contains("'seed'"), "{err}");
    // A row that is not the trial it claims: refused, naming the row and the setting.
    let csv = dir.join("trials.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let cells: Vec<&str> = lines[2].split(',').collect();
    let mut cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
    cells[1] = "0.5".into();
    lines[2] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let err = TrialLog::open(&dir, &more, true).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("row 3") && msg.contains("inc") && msg.contains("trials.csv"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&fresh_dir).ok();
}

#[test]
fn bad_ranges_and_keys_are_refused_by_name() {
    for (text, needle) in [
        ("inc", "KEY=log"),
        ("inc=log:0..1", "LO > 0"),
        ("inc=lin:2..1", "LO <= HI"),
        ("inc=cubic:1..2", "KEY=log"),
        ("sleep-base=int:1.5..3", "whole numbers"),
        ("sigma=choice:released||x", "no empty value"),
    ] {
        let err = Dimension::parse(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
    let mut config = tiny_search(2);
    config.space = vec![Dimension::parse("speed=lin:1..2").unwrap()];
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("speed"), "{err}");
    config.space = vec![Dimension::parse("sigma=choice:released|sideways").unwrap()];
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("sideways"), "{err}");
    config.space = vec![
        Dimension::parse("inc=lin:0.1..0.2").unwrap(),
        Dimension::parse("inc=lin:0.1..0.3").unwrap(),
    ];
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("each key once"), "{err}");
    config.space.clear();
    assert!(config.validate().is_err());
}
