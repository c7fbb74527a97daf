//! Helpers shared by the test modules.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::train::{train, Loss, Optimizer, TrainConfig};
use somnet::ann::Ann;
use somnet::data::{mnist, Dataset, Split};

/// The bundled MNIST split.
pub fn mnist(split: Split) -> Dataset {
    mnist::load_mnist(&somnet::data::default_dir().join("mnist"), split).unwrap()
}

/// `spec` trained for 2 epochs with Adam 2·10⁻³, batch 50, seed 1 (cross-entropy, softmax output);
/// returns the network and the last epoch's accuracy on `eval`, if given.
pub fn train_quick(
    spec: &str,
    init_seed: u64,
    data: &Dataset,
    eval: Option<&Dataset>,
) -> (Ann, Option<f64>) {
    let mut ann = build(
        spec,
        &data.shape,
        data.n_classes(),
        &ArchOptions::default(),
        init_seed,
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 50,
        loss: Loss::CrossEntropy,
        optimizer: Optimizer::adam(2e-3),
        seed: 1,
        shuffle: true,
    };
    let log = train(&mut ann, data, eval, &cfg, |_| ControlFlow::Continue(())).unwrap();
    assert!(
        log.epochs[1].loss < log.epochs[0].loss,
        "{spec}: the loss falls"
    );
    let acc = log.epochs.last().unwrap().test_accuracy;
    (ann, acc)
}

/// `v` without the fields that measure time, the machine or the command line: what two runs of
/// the same work may differ in.
pub fn without_timings(mut v: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for key in [
                    "images_per_second",
                    "samples_per_second",
                    "seconds",
                    "seconds_per_seed",
                    "command",
                    "threads",
                    "construct_s",
                    "sim_s",
                    "events_per_s",
                    "peak_rss_mib",
                ] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// The JSON file at `path`, [`without_timings`].
pub fn json_without_timings(path: &std::path::Path) -> serde_json::Value {
    without_timings(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

/// Runs the CLI from the repository root (paths in the records are then the same as in the
/// expected files), asserts that it succeeded (showing its stderr otherwise) and returns its stdout.
pub fn somnet(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
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

/// The firing rates (Hz) of a benchmark network of `n` neurons over `t_ms` for seeds 1–3, and
/// their mean.
pub fn bench_rates(which: somnet::benchmarks::Benchmark, n: usize, t_ms: f64) -> (Vec<f64>, f64) {
    let rates: Vec<f64> = (1..=3)
        .map(|seed| {
            somnet::benchmarks::run(which, n, t_ms, seed, |_, _| {
                std::ops::ControlFlow::Continue(())
            })
            .unwrap()
            .rate_hz
        })
        .collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    (rates, mean)
}

/// An IF neuron that never fires: its potential is the running sum of its input.
pub fn integrator() -> somnet::neuron::NeuronModel {
    somnet::neuron::NeuronModel::Iaf(somnet::neuron::IafParams {
        v_th_mv: 1e9,
        v_rest_mv: 0.0,
        reset: somnet::neuron::Reset::BySubtraction,
        t_ref_ms: 0.0,
    })
}

/// `name` inside this test process's scratch directory, `TMP/somnet-tests-PID`, which is made on
/// first use. That first use also removes the scratch directories of earlier test processes that
/// have ended, so that the files of a run stay for a look after a failure but no longer (a run
/// writes tens of megabytes: models, recordings, CLI outputs).
pub fn scratch(name: &str) -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let tmp = std::env::temp_dir();
        sweep_ended(&tmp);
        let root = tmp.join(format!("somnet-tests-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        root
    })
    .join(name)
}

/// Removes `tmp/somnet-tests-PID` of every PID that is no longer a running process (where
/// `/proc` tells; elsewhere nothing is removed).
fn sweep_ended(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("somnet-tests-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
