//! The `somnet` binary: bench JSON, demo outputs, clear errors, and a clean stop on Ctrl-C.

use crate::common;
use std::process::{Command, Stdio};

fn somnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_somnet"))
}

#[test]
fn bench_prints_one_json_line_with_the_spec_fields() {
    let out = somnet()
        .args([
            "bench",
            "izhikevich",
            "--n",
            "1000",
            "--threads",
            "2",
            "--t-ms",
            "200",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for field in [
        "network",
        "n",
        "threads",
        "dt_ms",
        "t_sim_ms",
        "construct_s",
        "sim_s",
        "spikes",
        "rate_hz",
        "syn_events",
        "events_per_s",
        "synapses",
        "peak_rss_mib",
        "seed",
        "somnet_version",
        "spike_digest",
        "simd",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {text}");
    }
    assert_eq!(v["threads"], 2);
    assert_eq!(v["t_sim_ms"], 200.0);
    // SOMNET_SIMD=portable forces the portable kernels: the record says so, the spikes are the same.
    let forced = somnet()
        .env("SOMNET_SIMD", "portable")
        .args([
            "bench",
            "izhikevich",
            "--n",
            "1000",
            "--threads",
            "2",
            "--t-ms",
            "200",
        ])
        .output()
        .unwrap();
    let w: serde_json::Value = serde_json::from_slice(&forced.stdout).unwrap();
    assert_eq!(w["simd"], "portable");
    assert_eq!(w["spike_digest"], v["spike_digest"]);
}

#[test]
fn bench_digest_is_the_same_on_1_and_2_threads() {
    let digest = |threads: &str| {
        let out = somnet()
            .args([
                "bench",
                "cuba",
                "--n",
                "10000",
                "--threads",
                threads,
                "--t-ms",
                "100",
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["spike_digest"].as_str().unwrap().to_string()
    };
    assert_eq!(digest("1"), digest("2"));
}

#[test]
fn demo_trains_converts_and_evaluates() {
    let dir = crate::common::scratch("demo-conv");
    let out = somnet()
        .args([
            "demo",
            "--limit",
            "3000",
            "--test-limit",
            "300",
            "--steps",
            "20",
            "--epochs",
            "2",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reference") && text.contains("best"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let ann = summary["ann_accuracy"].as_f64().unwrap();
    assert!(ann > 0.85, "{ann}");
    for run in summary["runs"].as_array().unwrap() {
        let curve = run["snn_accuracy_per_step"].as_array().unwrap();
        assert_eq!(curve.len(), 20);
        let last = curve.last().unwrap().as_f64().unwrap();
        assert!(
            last > ann - 0.05,
            "{}: {last} vs ANN {ann}",
            run["settings"]
        );
        assert!(run["energy_pj"]["snn"].as_f64().unwrap() > 0.0);
    }
    for f in ["model.h5", "accuracy.png"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn demo_writes_a_raster_and_a_summary() {
    let dir = crate::common::scratch("demo");
    let out = somnet()
        .args(["demo", "--cuba", "--n", "2000", "--t-ms", "200", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(dir.join("raster.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["rate_hz"].as_f64().unwrap() > 1.0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mean rate"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_arguments_give_a_clear_error_not_a_panic() {
    let out = somnet()
        .args(["bench", "cuba", "--n", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zero neurons"), "{err}");
    assert!(!err.contains("panicked"));
    let out = somnet()
        .args(["bench", "cuba", "--n", "100", "--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = somnet()
        .args(["bench", "cuba", "--n", "100", "--t-ms=-5"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("t_sim_ms"));
}

#[test]
fn ctrl_c_stops_at_a_step_and_reports_what_was_simulated() {
    let child = somnet()
        .args(["bench", "cuba", "--n", "20000", "--t-ms", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interrupted"], true);
    let t = v["t_sim_ms"].as_f64().unwrap();
    assert!(t > 0.0 && t < 1_000_000.0, "{t}");
}

#[test]
fn train_info_evaluate_round_trip() {
    let dir = crate::common::scratch("train");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.h5");
    let out = somnet()
        .args([
            "train",
            "--arch",
            "mlp:784-64-10",
            "--dataset",
            "mnist",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--limit",
            "3000",
            "--threads",
            "2",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("epoch,loss,train_accuracy"));
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("m.train.json")).unwrap()).unwrap();
    let trained_acc = log["epochs"][1]["test_accuracy"].as_f64().unwrap();
    assert!(trained_acc > 0.8, "{trained_acc}");
    let info = somnet()
        .args(["info", "--json"])
        .arg(&model)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["params"], 784 * 64 + 64 + 64 * 10 + 10);
    assert_eq!(v["macs"], 784 * 64 + 64 * 10);
    // `somnet evaluate --ann --json --model MODEL ARGS`: its record and what it printed to stderr.
    let evaluate_ann = |args: &[&str]| -> (serde_json::Value, String) {
        let ev = somnet()
            .args(["evaluate", "--ann", "--json", "--model"])
            .arg(&model)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&ev.stderr).into_owned();
        assert!(ev.status.success(), "{stderr}");
        (serde_json::from_slice(&ev.stdout).unwrap(), stderr)
    };
    let (v, stderr) = evaluate_ann(&[]);
    assert_eq!(
        v["ann_accuracy"].as_f64().unwrap(),
        trained_acc,
        "the saved model predicts as the trained one"
    );
    assert!(stderr.contains("somnet model file"));
    // `--split train` evaluates the training images: the ANN's own accuracy on the first 100.
    let (v, _) = evaluate_ann(&["--split", "train", "--limit", "100"]);
    let (file, _) = somnet::io::load_model(&model).unwrap();
    let train = common::mnist(somnet::data::Split::Train).head(100);
    assert_eq!(v["dataset"], train.name.as_str());
    assert_eq!(v["images"], 100);
    assert_eq!(
        v["ann_accuracy"].as_f64().unwrap(),
        file.ann.accuracy(&train).unwrap()
    );
    // Weight calibration: one fit per spiking weighted layer (hidden and output), each lowering
    // its modelled error, printed; not together with bias calibration.
    let ev = somnet()
        .args([
            "evaluate",
            "--steps",
            "8",
            "--limit",
            "20",
            "--calibration-limit",
            "200",
            "--calibrate-weights",
            "100",
            "--weight-iterations",
            "30",
            "--model",
        ])
        .arg(&model)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&ev.stderr);
    assert!(ev.status.success(), "{err}");
    let fits: Vec<(f64, f64)> = err
        .lines()
        .filter(|l| l.starts_with("weight calibration: layer"))
        .map(|l| {
            let nums: Vec<f64> = l
                .split(|c: char| c.is_whitespace())
                .filter_map(|w| w.parse().ok())
                .collect();
            (nums[0], nums[1])
        })
        .collect();
    assert_eq!(fits.len(), 2, "{err}");
    assert!(fits.iter().all(|(before, after)| after < before), "{err}");
    let both = somnet()
        .args([
            "evaluate",
            "--steps",
            "8",
            "--calibrate-weights",
            "100",
            "--calibrate-biases",
            "100",
            "--model",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("--calibrate-biases"));
    // The converted spiking network: per-step accuracies in result.json and per_step.csv.
    let out = dir.join("eval");
    let snn = somnet()
        .args([
            "evaluate",
            "--steps",
            "30",
            "--limit",
            "100",
            "--calibration-limit",
            "300",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        snn.status.success(),
        "{}",
        String::from_utf8_lossy(&snn.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(r["snn_accuracy_per_step"].as_array().unwrap().len(), 30);
    assert!(r["snn_accuracy"].as_f64().unwrap() > 0.6, "{r}");
    assert!(r["synaptic_ops_per_image"].as_f64().unwrap() > 0.0);
    assert_eq!(
        std::fs::read_to_string(out.join("per_step.csv"))
            .unwrap()
            .lines()
            .count(),
        31
    );
    let none = somnet()
        .args(["evaluate", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&none.stderr).contains("--ann"));
    // Bad specs and files: clear errors, exit code 1.
    let bad = somnet()
        .args(["train", "--arch", "mlp:100-10", "--limit", "10", "--out"])
        .arg(dir.join("x.h5"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("784"));
    std::fs::write(dir.join("junk.h5"), b"junk").unwrap();
    let bad = somnet()
        .args(["info"])
        .arg(dir.join("junk.h5"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a readable HDF5 file"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn incremental_and_sleep_commands_write_their_records() {
    let dir = crate::common::scratch("sleep");
    std::fs::create_dir_all(&dir).unwrap();
    let inc = dir.join("inc");
    let out = somnet()
        .args([
            "incremental",
            "--seeds",
            "2",
            "--per-task",
            "300",
            "--hidden",
            "48,48",
            "--joint-images",
            "1500",
            "--joint-epochs",
            "2",
            "--sleep-base",
            "300",
            "--sleep-per-task",
            "100",
            "--test-limit",
            "1000",
            "--out",
        ])
        .arg(&inc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(inc.join("result.json")).unwrap()).unwrap();
    for cond in ["sleep", "sequential", "joint"] {
        let a = v["final_accuracy"][cond].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{cond}: {a}");
        assert!(v["summary"][cond]["accuracy_mean"].is_array());
    }
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    assert_eq!(v["config"]["sleep"]["length"]["base"], 300);
    assert_eq!(v["config"]["sleep"]["sigma"]["kind"], "decreasing");
    let csv = std::fs::read_to_string(inc.join("result.csv")).unwrap();
    // Per seed: 5 rows each for before_sleep, sleep, sequential, and 1 for joint.
    assert_eq!(csv.lines().count(), 1 + 2 * 16);
    assert!(csv.starts_with("seed,condition,after_task,accuracy,task_1"));
    for png in ["incremental.png", "per_task.png", "sleep_raster.png"] {
        assert!(
            std::fs::metadata(inc.join(png)).unwrap().len() > 1000,
            "{png}"
        );
    }

    // One phase on a saved bias-free ReLU network.
    let model = dir.join("src.h5");
    let out = somnet()
        .args([
            "train",
            "--arch",
            "mlp:784-64-64-10",
            "--no-bias",
            "--output-activation",
            "relu",
            "--loss",
            "mse",
            "--optimizer",
            "sgd",
            "--momentum",
            "0.5",
            "--epochs",
            "1",
            "--limit",
            "2000",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slept = dir.join("slept.h5");
    let out = somnet()
        .args([
            "sleep",
            "--classes",
            "0-3",
            "--steps",
            "500",
            "--limit",
            "500",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&slept)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("class  before  after") && text.lines().count() >= 12,
        "{text}"
    );
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("slept.sleep.json")).unwrap()).unwrap();
    assert_eq!(rec["classes"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(rec["report"]["steps"], 500);
    assert_eq!(rec["per_class_after"].as_array().unwrap().len(), 10);
    // A network with biases is refused, naming the layer and what SRC supports.
    let biased = dir.join("biased.h5");
    let out = somnet()
        .args([
            "train",
            "--arch",
            "mlp:784-16-10",
            "--epochs",
            "1",
            "--limit",
            "200",
            "--out",
        ])
        .arg(&biased)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = somnet()
        .args(["sleep", "--steps", "10", "--model"])
        .arg(&biased)
        .arg("--out")
        .arg(dir.join("x.h5"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has a bias") && err.contains("supports"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = somnet()
        .args(["sleep", "--steps", "10", "--decay", "2", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(dir.join("y.h5"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("sleep.decay"));
}

#[test]
fn convert_evaluate_and_sweep_write_their_records() {
    let dir = crate::common::scratch("convert");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.h5");
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    ok(somnet()
        .args([
            "train",
            "--arch",
            "mlp:784-32-10",
            "--epochs",
            "1",
            "--limit",
            "2000",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap());
    let snn = dir.join("snn.h5");
    ok(somnet()
        .args([
            "convert",
            "--calibration",
            "mnist",
            "--calibration-limit",
            "300",
            "--initial",
            "half",
            "--norm",
            "channel",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&snn)
        .output()
        .unwrap());
    let ev = dir.join("ev");
    let out = ok(somnet()
        .args(["evaluate", "--steps", "10", "--limit", "50", "--model"])
        .arg(&snn)
        .arg("--out")
        .arg(&ev)
        .output()
        .unwrap());
    assert!(String::from_utf8_lossy(&out.stderr).contains("a converted network"));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ev.join("result.json")).unwrap()).unwrap();
    for field in [
        "ann_accuracy",
        "snn_accuracy_per_step",
        "latency_steps",
        "settled_latency_steps",
        "macs_per_image",
        "synaptic_ops_per_image",
        "spikes_per_neuron_per_step",
        "energy_pj",
        "images_per_second",
        "options",
        "somnet_version",
    ] {
        assert!(!v[field].is_null(), "result.json lacks {field}");
    }
    assert_eq!(v["snn_accuracy_per_step"].as_array().unwrap().len(), 10);
    assert_eq!(
        v["options"]["initial"], "half-threshold",
        "the recorded option is used"
    );
    assert_eq!(v["options"]["normalization"], "channel");
    let scales = v["layer_scales"].as_array().unwrap();
    assert_eq!(
        scales
            .iter()
            .map(|s| s.as_array().unwrap().len())
            .collect::<Vec<_>>(),
        vec![32, 1],
        "one λ per hidden unit, one for the output layer: {scales:?}"
    );
    assert_eq!(v["macs_per_image"], 784 * 32 + 32 * 10);
    for png in ["accuracy.png", "layer_rates.png"] {
        assert!(ev.join(png).exists(), "{png}");
    }
    let sw = dir.join("sweep");
    ok(somnet()
        .args([
            "sweep",
            "--grid",
            "input=analog,poisson;reset=subtract,zero",
            "--steps",
            "10",
            "--limit",
            "50",
            "--calibration-limit",
            "300",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&sw)
        .output()
        .unwrap());
    let csv = std::fs::read_to_string(sw.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv
        .lines()
        .nth(4)
        .unwrap()
        .starts_with("input=poisson reset=zero,"));
    assert!(sw.join("pareto.png").exists() && sw.join("sweep.json").exists());
    // Contradictory knobs are refused before any work.
    let out = somnet()
        .args(["sweep", "--grid", "refractory=2", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refractory"));
}
