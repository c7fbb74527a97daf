//! Every command gives the same outputs on 1, 2 and 8 threads (timings aside): train, evaluate
//! (Poisson input), convert, sweep, sleep, incremental and the simulator's benchmark runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{json_without_timings, without_timings};

fn somnet(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_somnet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "somnet {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("somnet-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `command(threads, out)` on 1, 2 and 8 threads and asserts `read(out)` is the same.
fn same_on_1_2_8<T: PartialEq + std::fmt::Debug>(
    name: &str,
    command: impl Fn(&str, &Path) -> Vec<String>,
    read: impl Fn(&Path) -> T,
) {
    let dir = scratch().join(name);
    let results: Vec<T> = ["1", "2", "8"]
        .iter()
        .map(|t| {
            let out = dir.join(format!("t{t}"));
            let args = command(t, &out);
            somnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
            read(&out)
        })
        .collect();
    assert_eq!(results[0], results[1], "{name}: 1 and 2 threads differ");
    assert_eq!(results[0], results[2], "{name}: 1 and 8 threads differ");
}

fn args(list: &[&str], out: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.push(out.display().to_string());
    v
}

#[test]
fn train_convert_and_sleep_give_the_same_files_on_1_2_and_8_threads() {
    let model = |out: &Path| somnet::io::schema::load(out).unwrap();
    same_on_1_2_8(
        "train",
        |t, out| {
            args(
                &[
                    "train",
                    "--arch",
                    "mlp:784-48-10",
                    "--epochs",
                    "1",
                    "--limit",
                    "1500",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| {
            let m = model(out);
            (m.ann, without_timings(m.provenance.record))
        },
    );
    same_on_1_2_8(
        "convert",
        |t, out| {
            args(
                &[
                    "convert",
                    "--model",
                    "tests/golden/mlp.h5",
                    "--calibration-limit",
                    "500",
                    "--norm",
                    "channel",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| {
            let m = model(out);
            (m.ann, without_timings(m.provenance.record))
        },
    );
    same_on_1_2_8(
        "sleep",
        |t, out| {
            args(
                &[
                    "sleep",
                    "--model",
                    "tests/golden/sleepy.h5",
                    "--classes",
                    "0-3",
                    "--images",
                    "300",
                    "--steps",
                    "150",
                    "--limit",
                    "300",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| {
            let m = model(out);
            (
                m.ann,
                json_without_timings(&out.with_extension("sleep.json")),
            )
        },
    );
}

#[test]
fn evaluate_sweep_and_incremental_give_the_same_records_on_1_2_and_8_threads() {
    same_on_1_2_8(
        "evaluate",
        |t, out| {
            args(
                &[
                    "evaluate",
                    "--model",
                    "tests/golden/lenet.snn.h5",
                    "--input",
                    "poisson",
                    "--steps",
                    "24",
                    "--limit",
                    "120",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| json_without_timings(&out.join("result.json")),
    );
    same_on_1_2_8(
        "sweep",
        |t, out| {
            args(
                &[
                    "sweep",
                    "--model",
                    "tests/golden/mlp.h5",
                    "--grid",
                    "input=analog,poisson;norm=layer,channel",
                    "--steps",
                    "16",
                    "--limit",
                    "100",
                    "--calibration-limit",
                    "300",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| json_without_timings(&out.join("sweep.json")),
    );
    same_on_1_2_8(
        "incremental",
        |t, out| {
            args(
                &[
                    "incremental",
                    "--seeds",
                    "1",
                    "--per-task",
                    "200",
                    "--hidden",
                    "32,32",
                    "--joint-images",
                    "800",
                    "--joint-epochs",
                    "1",
                    "--sleep-base",
                    "150",
                    "--sleep-per-task",
                    "50",
                    "--test-limit",
                    "400",
                    "--threads",
                    t,
                    "--out",
                ],
                out,
            )
        },
        |out| json_without_timings(&out.join("result.json")),
    );
}

#[test]
fn simulations_give_the_same_spikes_on_1_2_and_8_threads() {
    for network in ["cuba", "izhikevich"] {
        let digests: Vec<serde_json::Value> = ["1", "2", "8"]
            .iter()
            .map(|t| {
                let line = somnet(&[
                    "bench",
                    network,
                    "--n",
                    "20000",
                    "--t-ms",
                    "100",
                    "--threads",
                    t,
                ]);
                let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
                serde_json::json!([v["spike_digest"], v["spikes"], v["syn_events"]])
            })
            .collect();
        assert!(
            digests[0][1].as_u64().unwrap() > 1000,
            "{network}: too few spikes"
        );
        assert_eq!(digests[0], digests[1], "{network}: 1 and 2 threads differ");
        assert_eq!(digests[0], digests[2], "{network}: 1 and 8 threads differ");
    }
}
