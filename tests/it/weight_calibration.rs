//! Weight calibration (Li et al., ICML 2021, advanced pipeline): the layer model against the
//! simulation, the fit against the ANN, determinism and refusals.

use ndarray::{array, Array2};
use rand::{RngExt, SeedableRng};
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer, Node};
use somnet::convert::build::build_with;
use somnet::convert::options::{
    Coding, ConvertOptions, InitialPotential, InputCoding, NeuronChoice, ResetChoice,
};
use somnet::convert::pipeline;
use somnet::convert::weight_calibration::WeightSettings;
use somnet::data::Dataset;

const STEPS: u64 = 8;

fn dense(weights: Array2<f32>, bias: Option<ndarray::Array1<f32>>) -> Layer {
    Layer::Dense(Dense { weights, bias })
}

/// 3 → 4 (ReLU) → 2, weights drawn with a fixed seed.
fn net() -> Ann {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut w =
        |r: usize, c: usize| Array2::from_shape_fn((r, c), |_| rng.random_range(-0.4f32..1.0));
    let (w1, w2) = (w(4, 3), w(2, 4));
    Ann::new(
        vec![3],
        vec![
            (
                "hidden".into(),
                dense(w1, Some(array![0.05, -0.02, 0.0, 0.1])),
            ),
            ("relu".into(), Layer::Activation(Activation::Relu)),
            ("out".into(), dense(w2, None)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

fn data(n: usize) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let pixels: Vec<f32> = (0..n * 3).map(|_| rng.random_range(0.0f32..1.0)).collect();
    Dataset::new(
        "x",
        pixels,
        vec![0; n],
        [1, 1, 3],
        vec!["a".into(), "b".into()],
    )
    .unwrap()
}

fn options() -> ConvertOptions {
    ConvertOptions {
        percentile: 100.0,
        initial: InitialPotential::Zero,
        ..ConvertOptions::default()
    }
}

fn settings() -> WeightSettings {
    WeightSettings {
        iterations: 400,
        batch: 16,
        learning_rate: 1e-2,
        seed: 5,
    }
}

/// Per image, the hidden population's spike counts over `STEPS` steps of the simulation.
fn hidden_counts(ann: &Ann, data: &Dataset) -> Vec<Vec<u32>> {
    let mut model = build_with(ann, &options()).unwrap();
    let pop = model.layers[0];
    (0..data.len())
        .map(|s| {
            model
                .present(ndarray::ArrayView1::from(data.image(s)))
                .unwrap();
            let mut counts = vec![0u32; 4];
            for t in 0..STEPS {
                model.step(s as u64, t).unwrap();
                for &i in model.net.population(pop).last_spikes() {
                    counts[i as usize] += 1;
                }
            }
            counts
        })
        .collect()
}

fn hidden_weights(ann: &Ann) -> (Array2<f32>, ndarray::Array1<f32>) {
    let Layer::Dense(d) = &ann.layers[0] else {
        panic!("layer 0 is dense")
    };
    (d.weights.clone(), d.bias.clone().unwrap())
}

#[test]
fn the_first_layers_spike_counts_are_the_layer_model_of_its_fitted_weights() {
    // Under analog input the first layer receives the constant current z = W·x + b every step,
    // so an IF neuron from rest with reset by subtraction fires ⌊clamp(z·T, 0, T)⌋ times — the
    // model the fit minimises over. The simulation of the calibrated network must give exactly
    // those counts with the fitted weights, and be closer to the ANN than before.
    let (ann, images) = (net(), data(48));
    let converted = pipeline::convert(&ann, &images, &options()).unwrap();
    let calibrated =
        pipeline::calibrate_weights(&converted, &images, STEPS, &options(), &settings()).unwrap();
    let record = calibrated.record.weight_calibration.as_ref().unwrap();
    assert_eq!((record.images, record.steps), (48, STEPS));
    let names: Vec<&str> = record.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["hidden", "out"]);
    for l in &record.layers {
        assert!(l.kept && l.error_after < l.error_before, "{l:?}");
    }
    // The bias is not fitted.
    assert_eq!(
        hidden_weights(&calibrated.ann).1,
        hidden_weights(&converted.ann).1
    );
    assert_ne!(
        hidden_weights(&calibrated.ann).0,
        hidden_weights(&converted.ann).0
    );

    let (w, b) = hidden_weights(&calibrated.ann);
    let counts = hidden_counts(&calibrated.ann, &images);
    for (s, c) in counts.iter().enumerate() {
        let x = ndarray::ArrayView1::from(images.image(s));
        for j in 0..4 {
            let z = w.row(j).dot(&x) + b[j];
            let expected = (z * STEPS as f32).clamp(0.0, STEPS as f32).floor() as u32;
            assert_eq!(c[j], expected, "image {s}, neuron {j}: z = {z}");
        }
    }
    // Against the ANN's normalised activations (clipped to one spike per step), simulated.
    let target =
        converted.ann.forward_all(images.as_matrix()).unwrap()[1].mapv(|a| a.clamp(0.0, 1.0));
    let error = |counts: &[Vec<u32>]| -> f64 {
        let mut e = 0.0;
        for (s, c) in counts.iter().enumerate() {
            for j in 0..4 {
                let d = c[j] as f64 / STEPS as f64 - target[[s, j]] as f64;
                e += d * d;
            }
        }
        e / (counts.len() * 4) as f64
    };
    let (before, after) = (
        error(&hidden_counts(&converted.ann, &images)),
        error(&counts),
    );
    assert!(
        after < before,
        "simulated squared error {before} -> {after}"
    );
    assert!(
        (after - record.layers[0].error_after).abs() < 1e-9,
        "the record's error is the simulated one: {after} vs {}",
        record.layers[0].error_after
    );
}

#[test]
fn a_fit_that_ends_worse_than_it_began_is_undone() {
    // One Adam step of size 5 thresholds throws every weight far off: the modelled error rises,
    // so the layer keeps its converted weights and the record says so.
    let (ann, images) = (net(), data(32));
    let converted = pipeline::convert(&ann, &images, &options()).unwrap();
    let wild = WeightSettings {
        iterations: 1,
        learning_rate: 5.0,
        ..settings()
    };
    let calibrated =
        pipeline::calibrate_weights(&converted, &images, STEPS, &options(), &wild).unwrap();
    let hidden = &calibrated
        .record
        .weight_calibration
        .as_ref()
        .unwrap()
        .layers[0];
    assert!(!hidden.kept, "{hidden:?}");
    assert_eq!(hidden.error_after, hidden.error_before);
    assert_eq!(
        hidden_weights(&calibrated.ann),
        hidden_weights(&converted.ann)
    );
}

#[test]
fn the_same_seed_gives_the_same_weights_and_another_seed_others() {
    let (ann, images) = (net(), data(32));
    let converted = pipeline::convert(&ann, &images, &options()).unwrap();
    let run = |seed| {
        let s = WeightSettings {
            seed,
            iterations: 50,
            ..settings()
        };
        pipeline::calibrate_weights(&converted, &images, STEPS, &options(), &s)
            .unwrap()
            .ann
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn settings_the_layer_model_does_not_cover_are_refused_by_name() {
    let (ann, images) = (net(), data(8));
    let base = options();
    let converted = pipeline::convert(&ann, &images, &base).unwrap();
    let refused = |o: ConvertOptions, s: WeightSettings, steps: u64, expect: &str| {
        let e = pipeline::calibrate_weights(&converted, &images, steps, &o, &s)
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect), "{expect}: {e}");
    };
    refused(
        ConvertOptions {
            input: InputCoding::Poisson,
            ..base.clone()
        },
        settings(),
        STEPS,
        "Poisson",
    );
    refused(
        ConvertOptions {
            neuron: NeuronChoice::Lif { tau_mem_ms: 20.0 },
            ..base.clone()
        },
        settings(),
        STEPS,
        "leaky",
    );
    refused(
        ConvertOptions {
            reset: ResetChoice::Zero,
            ..base.clone()
        },
        settings(),
        STEPS,
        "reset to zero",
    );
    refused(
        ConvertOptions {
            offset_presteps: 2,
            ..base.clone()
        },
        settings(),
        STEPS,
        "offset-spike",
    );
    refused(
        ConvertOptions {
            coding: Coding::Ttfs,
            input: InputCoding::Latency,
            ..base.clone()
        },
        settings(),
        STEPS,
        "time-to-first-spike",
    );
    refused(base.clone(), settings(), 0, "steps");
    refused(
        base.clone(),
        WeightSettings {
            iterations: 0,
            ..settings()
        },
        STEPS,
        "iterations",
    );
    refused(
        base.clone(),
        WeightSettings {
            learning_rate: f64::NAN,
            ..settings()
        },
        STEPS,
        "learning rate",
    );
    // After bias calibration the network no longer stands for the ANN's targets.
    let biased = pipeline::calibrate_biases(&converted, &images, STEPS, &base).unwrap();
    let e = pipeline::calibrate_weights(&biased, &images, STEPS, &base, &settings())
        .unwrap_err()
        .to_string();
    assert!(e.contains("either the biases or the weights"), "{e}");
    let weighted =
        pipeline::calibrate_weights(&converted, &images, STEPS, &base, &settings()).unwrap();
    assert!(pipeline::calibrate_biases(&weighted, &images, STEPS, &base).is_err());
}

#[test]
fn a_residual_junction_fits_its_branch_with_the_shortcut_in_the_membrane() {
    // x → s = relu(A·x) → out = relu(B·s + s): the junction's population sums the branch B·s and
    // the identity shortcut. The fit moves B (not the shortcut, delivered one-to-one) with the
    // shortcut's value in the model, and lowers the junction's modelled error.
    let ann = Ann::graph(
        vec![3],
        vec![
            (
                "a".into(),
                dense(array![[0.6, 0.3, 0.1], [0.2, 0.5, 0.4]], None),
                vec![Node::Input],
            ),
            (
                "s".into(),
                Layer::Activation(Activation::Relu),
                vec![Node::Layer(0)],
            ),
            (
                "b".into(),
                dense(array![[0.2, -0.3], [0.25, 0.2]], Some(array![0.02, 0.01])),
                vec![Node::Layer(1)],
            ),
            (
                "sum".into(),
                Layer::Add,
                vec![Node::Layer(2), Node::Layer(1)],
            ),
            (
                "out".into(),
                Layer::Activation(Activation::Relu),
                vec![Node::Layer(3)],
            ),
        ],
        DropoutMode::Inverted,
    )
    .unwrap();
    let images = data(48);
    let converted = pipeline::convert(&ann, &images, &options()).unwrap();
    let calibrated =
        pipeline::calibrate_weights(&converted, &images, STEPS, &options(), &settings()).unwrap();
    let record = calibrated.record.weight_calibration.as_ref().unwrap();
    let names: Vec<&str> = record.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    for l in &record.layers {
        assert!(l.error_after < l.error_before, "{l:?}");
    }
    let layer = |a: &Ann, name: &str| {
        let i = a.names.iter().position(|n| n == name).unwrap();
        a.layers[i].clone()
    };
    let shortcut = converted
        .ann
        .names
        .iter()
        .find(|n| n.contains("shortcut"))
        .expect("an explicit shortcut")
        .clone();
    assert_eq!(
        layer(&calibrated.ann, &shortcut),
        layer(&converted.ann, &shortcut)
    );
    assert_ne!(layer(&calibrated.ann, "b"), layer(&converted.ann, "b"));
}
