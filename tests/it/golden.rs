//! Golden outputs (issue 14): what each CLI command writes for small stored models, and the spike
//! digests of the benchmark networks and of converted networks, compared field by field with the
//! files in `tests/golden/expected` (made by `tests/golden/make.sh`). Timings and the command line
//! are left out; every other number must be identical, so a "same results" claim is checked here.
//!
//! With `SOMNET_BLESS=1` the tests write the expected files instead of comparing (the script does
//! this after changing the models on purpose).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::somnet;

/// Fields that change from run to run.
const VOLATILE: [&str; 7] = [
    "images_per_second",
    "samples_per_second",
    "seconds_per_seed",
    "seconds",
    "command",
    "construct_s",
    "sim_s",
];

/// How much of an expected file a test can compare on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Every field and value.
    Full,
    /// The structure only: the same fields at every level, the same array lengths, the same CSV
    /// header and line count (values may round differently on this CPU).
    Shape,
}

/// The depth at which a test of ANN-derived figures compares. The CLI goldens include ANN
/// figures (accuracy, λ, training) computed by matrixmultiply, which picks its kernel by CPU
/// (AVX-512, FMA, …) and so rounds differently on another CPU: the values are compared where the
/// expected files were made (AVX-512), the structure everywhere, so that a field added to a
/// record without regenerating the files fails on every machine. The spike digests of stored
/// converted networks depend on somnet's own kernels only and are compared in full everywhere.
fn ann_depth(test: &str) -> Depth {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Depth::Full;
    }
    eprintln!(
        "{test}: the expected files were made with matrixmultiply's AVX-512 kernel, which this \
         CPU lacks: structure compared, values not (regenerate with tests/golden/make.sh on this \
         machine class)"
    );
    Depth::Shape
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn bless() -> bool {
    std::env::var_os("SOMNET_BLESS").is_some_and(|v| v == "1")
}

fn tmp(name: &str) -> PathBuf {
    let d = crate::common::scratch(&format!("golden-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn strip(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, x)| (k, strip(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
        x => x,
    }
}

/// The first place where `a` and `b` differ, as a JSON path with both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(&format!("{path}.{k}"), p, q) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{path}.{k}: expected {p:?}, got {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q)),
        _ if a == b => None,
        _ => Some(format!("{path}: expected {a}, got {b}")),
    }
}

/// The first place where `a` and `b` differ in structure (fields, array lengths), values aside.
fn first_shape_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_shape_difference(&format!("{path}.{k}"), p, q),
                    (p, q) => Some(format!("{path}.{k}: expected {p:?}, got {q:?}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_shape_difference(&format!("{path}[{i}]"), p, q)),
        (Value::Array(x), Value::Array(y)) => Some(format!(
            "{path}: expected {} elements, got {}",
            x.len(),
            y.len()
        )),
        (Value::Object(_), _) | (_, Value::Object(_)) => {
            Some(format!("{path}: expected {a}, got {b}"))
        }
        _ => None,
    }
}

/// Compares `got` (timings stripped) with `expected/NAME.json`, or writes it when blessing.
fn check_json(name: &str, got: Value) {
    check_json_at(name, got, Depth::Full)
}

/// [`check_json`] at `depth`.
fn check_json_at(name: &str, got: Value, depth: Depth) {
    let got = strip(got);
    let file = golden().join("expected").join(format!("{name}.json"));
    if bless() {
        std::fs::write(&file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let expected: Value = serde_json::from_slice(
        &std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap();
    let difference = match depth {
        Depth::Full => first_difference(name, &expected, &got),
        Depth::Shape => first_shape_difference(name, &expected, &got),
    };
    if let Some(d) = difference {
        panic!("{name} differs from {}: {d}", file.display());
    }
}

/// Compares text with `expected/NAME`, or writes it when blessing; at [`Depth::Shape`] only the
/// line count and, for a CSV, its header.
fn check_text_at(name: &str, got: &str, depth: Depth) {
    let file = golden().join("expected").join(name);
    if bless() {
        std::fs::write(&file, got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap();
    for (k, (e, g)) in expected.lines().zip(got.lines()).enumerate() {
        if depth == Depth::Full || (k == 0 && name.ends_with(".csv")) {
            assert_eq!(e, g, "{name} line {}", k + 1);
        }
    }
    assert_eq!(expected.lines().count(), got.lines().count(), "{name}");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A CSV without the columns named in `drop` (timings).
fn csv_without(text: &str, drop: &[&str]) -> String {
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !drop.contains(&header[i]))
        .collect();
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",") + "\n"
        })
        .collect()
}

#[test]
fn golden_evaluate_records() {
    // Every comparison of this test at the depth this CPU allows.
    let depth = ann_depth("golden_evaluate_records");
    let check_json = |name: &str, got: Value| check_json_at(name, got, depth);
    let check_text = |name: &str, got: &str| check_text_at(name, got, depth);
    let out = tmp("evaluate");
    let ev = out.join("lenet");
    somnet(&[
        "evaluate",
        "--model",
        "tests/golden/lenet.snn.h5",
        "--steps",
        "32",
        "--limit",
        "100",
        "--out",
        ev.to_str().unwrap(),
    ]);
    check_json("evaluate_lenet", read_json(&ev.join("result.json")));
    check_text(
        "evaluate_lenet.per_step.csv",
        &std::fs::read_to_string(ev.join("per_step.csv")).unwrap(),
    );
    let json = |args: &[&str]| -> Value { serde_json::from_str(&somnet(args)).unwrap() };
    check_json(
        "evaluate_bncnn_poisson",
        json(&[
            "evaluate",
            "--model",
            "tests/golden/bncnn.snn.h5",
            "--steps",
            "32",
            "--limit",
            "100",
            "--input",
            "poisson",
            "--seed",
            "3",
            "--json",
        ]),
    );
    check_json(
        "evaluate_mlp_channel",
        json(&[
            "evaluate",
            "--model",
            "tests/golden/mlp.h5",
            "--steps",
            "24",
            "--limit",
            "100",
            "--calibration-limit",
            "300",
            "--norm",
            "channel",
            "--initial",
            "half",
            "--readout",
            "membrane",
            "--json",
        ]),
    );
    check_json(
        "evaluate_mlp_ann",
        json(&[
            "evaluate",
            "--model",
            "tests/golden/mlp.h5",
            "--ann",
            "--limit",
            "100",
            "--json",
        ]),
    );
}

#[test]
fn golden_convert_record() {
    // Every comparison of this test at the depth this CPU allows.
    let depth = ann_depth("golden_convert_record");
    let check_json = |name: &str, got: Value| check_json_at(name, got, depth);
    let out = tmp("convert").join("mlp.snn.h5");
    somnet(&[
        "convert",
        "--model",
        "tests/golden/mlp.h5",
        "--calibration-limit",
        "300",
        "--percentile",
        "99",
        "--dale",
        "--out",
        out.to_str().unwrap(),
    ]);
    let file = somnet::io::schema::load(&out).unwrap();
    check_json("convert_mlp", file.provenance.record);
}

#[test]
fn golden_sweep_table() {
    // Every comparison of this test at the depth this CPU allows.
    let depth = ann_depth("golden_sweep_table");
    let check_json = |name: &str, got: Value| check_json_at(name, got, depth);
    let check_text = |name: &str, got: &str| check_text_at(name, got, depth);
    let out = tmp("sweep");
    somnet(&[
        "sweep",
        "--model",
        "tests/golden/mlp.h5",
        "--grid",
        "input=analog,poisson;initial=zero,half;early-exit=none,4",
        "--steps",
        "16",
        "--limit",
        "100",
        "--calibration-limit",
        "300",
        "--out",
        out.to_str().unwrap(),
    ]);
    check_json("sweep_mlp", read_json(&out.join("sweep.json")));
    check_text(
        "sweep_mlp.csv",
        &csv_without(
            &std::fs::read_to_string(out.join("sweep.csv")).unwrap(),
            &["images_per_second"],
        ),
    );
}

#[test]
fn golden_sleep_and_incremental_records() {
    // Every comparison of this test at the depth this CPU allows.
    let depth = ann_depth("golden_sleep_and_incremental_records");
    let check_json = |name: &str, got: Value| check_json_at(name, got, depth);
    let check_text = |name: &str, got: &str| check_text_at(name, got, depth);
    let out = tmp("sleep");
    let slept = out.join("slept.h5");
    let text = somnet(&[
        "sleep",
        "--model",
        "tests/golden/sleepy.h5",
        "--classes",
        "0-3",
        "--images",
        "500",
        "--steps",
        "300",
        "--limit",
        "200",
        "--out",
        slept.to_str().unwrap(),
    ]);
    // The summary line ends with the run time: cut it at its last ", ".
    let text: String = text
        .replace(out.to_str().unwrap(), "OUT")
        .lines()
        .map(|l| match l.rfind(", ").filter(|_| l.ends_with(" s)")) {
            Some(i) => format!("{}\n", &l[..i]),
            None => format!("{l}\n"),
        })
        .collect();
    check_text("sleep_sleepy.txt", &text);
    check_json("sleep_sleepy", read_json(&out.join("slept.sleep.json")));
    let inc = out.join("inc");
    somnet(&[
        "incremental",
        "--seeds",
        "1",
        "--per-task",
        "200",
        "--hidden",
        "32,32",
        "--joint-images",
        "1000",
        "--joint-epochs",
        "1",
        "--sleep-base",
        "200",
        "--sleep-per-task",
        "50",
        "--test-limit",
        "300",
        "--threads",
        "2",
        "--out",
        inc.to_str().unwrap(),
    ]);
    check_json("incremental", read_json(&inc.join("result.json")));
    check_text(
        "incremental.csv",
        &std::fs::read_to_string(inc.join("result.csv")).unwrap(),
    );
}

#[test]
fn golden_demo_summary() {
    // Every comparison of this test at the depth this CPU allows.
    let depth = ann_depth("golden_demo_summary");
    let check_json = |name: &str, got: Value| check_json_at(name, got, depth);
    let out = tmp("demo");
    somnet(&[
        "demo",
        "--limit",
        "2000",
        "--test-limit",
        "100",
        "--epochs",
        "1",
        "--steps",
        "16",
        "--out",
        out.to_str().unwrap(),
    ]);
    check_json("demo", read_json(&out.join("summary.json")));
}

/// The benchmark networks' spike digests for seed 1 over 1 s (`somnet bench … --seed 1`; the
/// plastic one over 3 s).
#[test]
fn golden_benchmark_digests() {
    use somnet::benchmarks::{self, Benchmark};
    let digest_for = |which, n, t_ms| {
        let r = benchmarks::run(
            which,
            n,
            t_ms,
            1,
            |_, _| std::ops::ControlFlow::Continue(()),
        )
        .unwrap();
        (r.spike_digest, r.spikes, r.syn_events)
    };
    let digest = |which, n| digest_for(which, n, 1000.0);
    let got = serde_json::json!({
        "cuba_4000": digest(Benchmark::Cuba, 4000),
        "coba_4000": digest(Benchmark::Coba, 4000),
        "izhikevich_1000": digest(Benchmark::Izhikevich, 1000),
        // 3 s: the plastic weights change at the end of every second.
        "polychronization_1000_3s": digest_for(Benchmark::Polychronization, 1000, 3000.0),
    });
    check_json("benchmark_digests", got);
}

/// Each converted network's spikes on the first 100 MNIST test images (T = 32), as one digest
/// per sample chained in sample order, with its decisions and synaptic operations.
#[test]
fn golden_converted_digests() {
    use somnet::convert::build::build_with;
    use somnet::convert::options::{ConvertOptions, InputCoding};
    let test = somnet::data::load_named(
        "mnist",
        &somnet::data::default_dir(),
        somnet::data::Split::Test,
    )
    .unwrap()
    .head(100);
    let mut got = serde_json::Map::new();
    for (name, options) in [
        ("lenet_analog", ConvertOptions::default()),
        (
            "lenet_poisson",
            ConvertOptions {
                input: InputCoding::Poisson,
                seed: 5,
                ..ConvertOptions::default()
            },
        ),
        ("bncnn_analog", ConvertOptions::default()),
    ] {
        let file = golden().join(format!("{}.snn.h5", name.split('_').next().unwrap()));
        let ann = somnet::io::schema::load(&file).unwrap().ann;
        let mut model = build_with(&ann, &options).unwrap();
        let (mut chain, mut sops, mut spikes, mut correct) = (0u64, 0u64, 0u64, 0u64);
        for i in 0..test.len() {
            let run = model
                .run_sample(ndarray::ArrayView1::from(test.image(i)), i as u64, 32)
                .unwrap();
            chain = chain.rotate_left(7) ^ model.net.spike_digest();
            sops += model.net.n_events();
            spikes += model.net.n_spikes();
            correct += (run.decisions[31] == Some(test.labels[i] as usize)) as u64;
        }
        got.insert(
            name.into(),
            serde_json::json!({
                "digest": format!("{chain:016x}"),
                "synaptic_ops": sops,
                "spikes": spikes,
                "correct_at_32": correct,
            }),
        );
    }
    check_json("converted_digests", Value::Object(got));
}

#[test]
fn the_structure_comparison_sees_fields_and_lengths_not_values() {
    let a = serde_json::json!({"x": 1.0, "runs": [{"acc": 0.5, "steps": [1, 2]}]});
    let other_values = serde_json::json!({"x": 2.0, "runs": [{"acc": 0.25, "steps": [3, 4]}]});
    assert_eq!(first_shape_difference("r", &a, &other_values), None);
    let new_field = serde_json::json!({"x": 1.0, "runs": [{"acc": 0.5, "steps": [1, 2], "k": 0}]});
    let d = first_shape_difference("r", &a, &new_field).unwrap();
    assert!(d.contains("r.runs[0].k"), "{d}");
    let shorter = serde_json::json!({"x": 1.0, "runs": [{"acc": 0.5, "steps": [1]}]});
    let d = first_shape_difference("r", &a, &shorter).unwrap();
    assert!(
        d.contains("r.runs[0].steps") && d.contains("2 elements"),
        "{d}"
    );
    assert!(first_difference("r", &a, &other_values).is_some());
}
