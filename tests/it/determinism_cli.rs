//! Every command gives the same outputs on 1, 2 and 8 threads (timings aside): train, evaluate
//! (Poisson input), convert, sweep, sleep, incremental, simulate (a NIR graph) and the
//! simulator's benchmark runs.

use std::path::{Path, PathBuf};

use crate::common::{json_without_timings, somnet, without_timings};

fn scratch() -> PathBuf {
    let dir = crate::common::scratch("threads");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `somnet <command> --threads T --out DIR` for T = 1, 2 and 8 and asserts that `read(DIR)`
/// is the same each time.
fn same_on_1_2_8<T: PartialEq + std::fmt::Debug>(command: &[&str], read: impl Fn(&Path) -> T) {
    let name = command[0];
    let dir = scratch().join(name);
    let results: Vec<T> = ["1", "2", "8"]
        .iter()
        .map(|t| {
            let out = dir.join(format!("t{t}"));
            let out_arg = out.display().to_string();
            let mut args = command.to_vec();
            args.extend(["--threads", t, "--out", &out_arg]);
            somnet(&args);
            read(&out)
        })
        .collect();
    assert_eq!(results[0], results[1], "{name}: 1 and 2 threads differ");
    assert_eq!(results[0], results[2], "{name}: 1 and 8 threads differ");
}

/// A somnet model file's network and its provenance record, timings aside.
fn model(out: &Path) -> (somnet::ann::Ann, serde_json::Value) {
    let m = somnet::io::schema::load(out).unwrap();
    (m.ann, without_timings(m.provenance.record))
}

#[test]
fn train_convert_and_sleep_give_the_same_files_on_1_2_and_8_threads() {
    same_on_1_2_8(
        &[
            "train",
            "--arch",
            "mlp:784-48-10",
            "--epochs",
            "1",
            "--limit",
            "1500",
        ],
        model,
    );
    same_on_1_2_8(
        &[
            "convert",
            "--model",
            "tests/golden/mlp.h5",
            "--calibration-limit",
            "500",
            "--norm",
            "channel",
        ],
        model,
    );
    same_on_1_2_8(
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
        ],
        |out| {
            (
                somnet::io::schema::load(out).unwrap().ann,
                json_without_timings(&out.with_extension("sleep.json")),
            )
        },
    );
}

#[test]
fn evaluate_sweep_and_incremental_give_the_same_records_on_1_2_and_8_threads() {
    same_on_1_2_8(
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
        ],
        |out| json_without_timings(&out.join("result.json")),
    );
    same_on_1_2_8(
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
        ],
        |out| json_without_timings(&out.join("sweep.json")),
    );
    same_on_1_2_8(
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
        ],
        |out| json_without_timings(&out.join("result.json")),
    );
}

#[test]
fn a_nir_graph_gives_the_same_outputs_on_1_2_and_8_threads() {
    same_on_1_2_8(
        &[
            "simulate",
            "--nir",
            "tests/nir/frameworks/sinabs_cnn.nir",
            "--input",
            "tests/nir/frameworks/sinabs_cnn_input.npy",
            "--from",
            "sinabs",
            "--record",
        ],
        |out| {
            let y = somnet::io::npy::read_f32(&out.join("output.npy")).unwrap();
            let recording = std::fs::read(out.join("recording.h5")).unwrap().len();
            (
                y.iter().copied().collect::<Vec<f32>>(),
                recording > 0,
                json_without_timings(&out.join("result.json")),
            )
        },
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
