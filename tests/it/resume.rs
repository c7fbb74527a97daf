//! Killed and resumed studies: a sweep and an incremental run stopped by SIGKILL part-way and
//! continued with `--resume` give exactly the record of an uninterrupted run (timings aside), and
//! a resume against other settings or a damaged record is refused by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::json_without_timings;

fn somnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_somnet"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("resume-{name}"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `cmd`, waits until `ready()` says enough is on disk, then kills it with SIGKILL (no
/// chance to clean up). Returns whether the process was still running when killed.
fn kill_when(cmd: &mut Command, ready: impl Fn() -> bool) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready() {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "nothing kept after 300 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    running
}

fn rows_in(path: &Path) -> usize {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["rows"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn a_killed_sweep_resumes_to_the_uninterrupted_record() {
    let dir = scratch("sweep");
    let model = dir.join("m.h5");
    ok(somnet()
        .args([
            "train",
            "--arch",
            "mlp:784-64-10",
            "--epochs",
            "1",
            "--limit",
            "2000",
            "--out",
        ])
        .arg(&model));
    // Eight points over two normalisations; Poisson points draw from the seed.
    let grid = "input=analog,poisson;reset=subtract,zero;percentile=99.9,100";
    let sweep_for = |out: &Path, steps: &str| {
        let mut c = somnet();
        c.args(["sweep", "--grid", grid, "--steps", steps, "--limit", "400"])
            .args([
                "--calibration-limit",
                "300",
                "--seed",
                "7",
                "--threads",
                "2",
                "--model",
            ])
            .arg(&model)
            .arg("--out")
            .arg(out);
        c
    };
    let sweep = |out: &Path| sweep_for(out, "48");
    let whole = dir.join("whole");
    ok(&mut sweep(&whole));

    let part = dir.join("part");
    let saved = part.join("sweep.json");
    let killed = kill_when(&mut sweep(&part), || rows_in(&saved) >= 2);
    let kept = rows_in(&saved);
    eprintln!("sweep: killed while running: {killed}, {kept} rows kept");
    assert!(kept >= 2, "the finished points are on disk: {kept}");
    let log = ok(sweep(&part).arg("--resume"));
    if killed && kept < 8 {
        assert!(
            log.contains(&format!("{kept} of 8 grid points already finished")),
            "{log}"
        );
    }
    assert_eq!(
        json_without_timings(&saved),
        json_without_timings(&whole.join("sweep.json")),
        "a resumed sweep equals the uninterrupted one"
    );
    assert!(part.join("pareto.png").exists());

    // Another grid, steps or seed cannot continue this record.
    let mut other = sweep_for(&part, "32");
    other.arg("--resume");
    let out = other.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sweep.json") && err.contains("'steps'") && err.contains("48"),
        "{err}"
    );
    // A damaged record is named, not trusted.
    std::fs::write(&saved, "{\"rows\": [").unwrap();
    let out = sweep(&part).arg("--resume").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sweep.json") && err.contains("not a sweep record"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_killed_incremental_run_resumes_to_the_uninterrupted_record() {
    let dir = scratch("incremental");
    let run_for = |out: &Path, sleep_base: &str| {
        let mut c = somnet();
        c.args([
            "incremental",
            "--seeds",
            "3",
            "--per-task",
            "200",
            "--hidden",
            "32,32",
        ])
        .args([
            "--joint-images",
            "1000",
            "--joint-epochs",
            "1",
            "--sleep-base",
            sleep_base,
        ])
        .args([
            "--sleep-per-task",
            "50",
            "--test-limit",
            "500",
            "--threads",
            "2",
            "--out",
        ])
        .arg(out);
        c
    };
    let run = |out: &Path| run_for(out, "150");
    let whole = dir.join("whole");
    ok(&mut run(&whole));

    let part = dir.join("part");
    let first = part.join("seeds").join("seed-1.json");
    let killed = kill_when(&mut run(&part), || first.exists());
    assert!(first.exists());
    eprintln!("incremental: killed while running: {killed}");
    let log = ok(run(&part).arg("--resume"));
    if killed {
        assert!(log.contains("seed 1: kept from an earlier run"), "{log}");
    }
    assert_eq!(
        json_without_timings(&part.join("result.json")),
        json_without_timings(&whole.join("result.json")),
        "a resumed experiment equals the uninterrupted one"
    );
    assert_eq!(
        std::fs::read_to_string(part.join("result.csv")).unwrap(),
        std::fs::read_to_string(whole.join("result.csv")).unwrap()
    );

    // Other settings cannot reuse the kept seeds; the error names the file and the field.
    let out = run_for(&part, "151").arg("--resume").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seed-1.json") && err.contains("config.sleep") && err.contains("151"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
