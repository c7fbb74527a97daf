//! QCFS (Bu et al., ICLR 2022): the activation against its formula, its straight-through
//! gradients against hand computation, the T = L equivalence with an IF layer started at θ/2,
//! training with it and files.

use ndarray::{array, Array1, Array2};

use somnet::ann::qcfs::Qcfs;
use somnet::ann::train::{loss_and_gradients, Loss};
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
use somnet::convert::build::build_with;
use somnet::convert::options::{ConvertOptions, InitialPotential};
use somnet::convert::pipeline;

#[test]
fn qcfs_forward_follows_the_formula() {
    let q = Qcfs {
        levels: 4,
        lambda: 2.0,
    };
    // h(x) = λ·clip(⌊x·L/λ + ½⌋/L, 0, 1): steps of λ/L = 0.5 centred between multiples.
    for (x, h) in [
        (-3.0f32, 0.0f32),
        (0.0, 0.0),
        (0.24, 0.0),
        (0.26, 0.5),
        (0.74, 0.5),
        (0.76, 1.0),
        (1.76, 2.0),
        (1.74, 1.5),
        (50.0, 2.0),
    ] {
        assert_eq!(q.apply(x), h, "h({x})");
    }
    let ann = Ann::new(
        vec![3],
        vec![("q".into(), Layer::Qcfs(q))],
        DropoutMode::Inverted,
    )
    .unwrap();
    let y = ann.forward(array![[0.26f32, 1.74, -1.0]].view()).unwrap();
    assert_eq!(y, array![[0.5, 1.5, 0.0]]);
}

#[test]
fn qcfs_gradients_are_the_straight_through_estimates() {
    // One QCFS layer on the input, MSE loss on 2 outputs with targets (1, 0) for label 0:
    // dL/dy = (y − t)/n with n = 1 sample.
    let q = Qcfs {
        levels: 2,
        lambda: 1.0,
    };
    let mut ann = Ann::new(
        vec![2],
        vec![("q".into(), Layer::Qcfs(q))],
        DropoutMode::Inverted,
    )
    .unwrap();
    // x = (0.6, 3.0): q₁ = ⌊1.2 + ½⌋/2 = 0.5 (inside), q₂ = ⌊6.5⌋/2 = 3 (clipped to 1).
    // y = (0.5, 1.0); dL/dy = (−0.5, 1.0).
    // dh/dλ: unit 1: 0.5 − 0.6/1 = −0.1; unit 2 (clipped): 1. So dL/dλ = −0.5·−0.1 + 1·1 = 1.05.
    let (_, grads) = loss_and_gradients(
        &mut ann,
        array![[0.6f32, 3.0]].view(),
        &[0],
        Loss::Mse,
        1,
        0,
    )
    .unwrap();
    assert!((grads[0][0][0] - 1.05).abs() < 1e-6, "{:?}", grads[0]);
    // The input gradient passes unit 1 (inside) and stops at unit 2 (clipped): checked through a
    // dense layer before the QCFS layer, dL/dW = dL/dh ⊙ mask · xᵀ.
    let dense = Dense {
        weights: array![[1.0f32, 0.0], [0.0, 1.0]],
        bias: None,
    };
    let mut ann = Ann::new(
        vec![2],
        vec![
            ("d".into(), Layer::Dense(dense)),
            ("q".into(), Layer::Qcfs(q)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap();
    let (_, grads) = loss_and_gradients(
        &mut ann,
        array![[0.6f32, 3.0]].view(),
        &[0],
        Loss::Mse,
        1,
        0,
    )
    .unwrap();
    let dw = &grads[0][0];
    assert_eq!(dw.len(), 4);
    assert!(
        (dw[0] - (-0.5 * 0.6)).abs() < 1e-6 && (dw[1] - (-0.5 * 3.0)).abs() < 1e-6,
        "{dw:?}"
    );
    assert_eq!(&dw[2..], &[0.0, 0.0], "no gradient through the clip");
}

/// A hidden Dense + QCFS layer (L levels) and a Dense head, with seeded weights.
fn qcfs_net(levels: u32, lambda: f32, inputs: usize, hidden: usize) -> Ann {
    let mut rng = somnet::rng::stream(9, somnet::rng::Purpose::User, 0, 0, 0);
    let mut u = || somnet::rng::uniform01(&mut rng) as f32;
    let w1 = Array2::from_shape_fn((hidden, inputs), |_| u() * 1.6 - 0.5);
    let b1 = Array1::from_shape_fn(hidden, |_| u() * 0.4 - 0.2);
    let w2 = Array2::from_shape_fn((2, hidden), |_| u() - 0.5);
    Ann::new(
        vec![inputs],
        vec![
            (
                "hidden".into(),
                Layer::Dense(Dense {
                    weights: w1,
                    bias: Some(b1),
                }),
            ),
            ("q".into(), Layer::Qcfs(Qcfs { levels, lambda })),
            (
                "out".into(),
                Layer::Dense(Dense {
                    weights: w2,
                    bias: None,
                }),
            ),
            ("softmax".into(), Layer::Activation(Activation::Softmax)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

#[test]
fn an_if_layer_started_at_half_threshold_reproduces_qcfs_after_l_steps() {
    // Bu et al. 2022, Theorem 2: with θ = λ, the θ/2 start and constant input, an IF neuron emits
    // ⌊x·L/λ + ½⌋ spikes (clipped to 0…L) in L steps: exactly the quantised activation.
    for (levels, lambda) in [(4u32, 1.3f32), (8, 2.0), (2, 0.7)] {
        let ann = qcfs_net(levels, lambda, 6, 40);
        let options = ConvertOptions {
            initial: InitialPotential::HalfThreshold,
            ..Default::default()
        };
        let mut rng = somnet::rng::stream(3, somnet::rng::Purpose::User, 1, 0, 0);
        let pixels: Vec<f32> = (0..6 * 5)
            .map(|_| somnet::rng::uniform01(&mut rng) as f32)
            .collect();
        let data = somnet::data::Dataset::new(
            "x",
            pixels,
            vec![0; 5],
            [1, 1, 6],
            vec!["a".into(), "b".into()],
        )
        .unwrap();
        let converted = pipeline::convert(&ann, &data, &options).unwrap();
        assert_eq!(converted.record.layer_scales[0], vec![lambda], "θ = λ");
        let mut model = build_with(&converted.ann, &options).unwrap();
        let hidden = model.layers[0];
        let (mut checked, mut exact) = (0, 0);
        for s in 0..data.len() {
            let x = ndarray::ArrayView1::from(data.image(s));
            model.present(x).unwrap();
            let mut counts = [0u32; 40];
            for t in 0..levels as u64 {
                model.step(s as u64, t).unwrap();
                for &i in model.net.population(hidden).last_spikes() {
                    counts[i as usize] += 1;
                }
            }
            let drive = ann.forward_all(x.insert_axis(ndarray::Axis(0))).unwrap()[0].clone();
            for (j, &c) in counts.iter().enumerate() {
                let v = drive[[0, j]] * levels as f32 / lambda + 0.5;
                if (v - v.round()).abs() < 1e-3 {
                    continue; // on a rounding boundary float error may decide
                }
                checked += 1;
                let expected = v.floor().clamp(0.0, levels as f32) as u32;
                exact += (c == expected) as usize;
                assert_eq!(
                    c, expected,
                    "L = {levels}, sample {s}, unit {j}: x·L/λ + ½ = {v}"
                );
                let q = Qcfs { levels, lambda };
                assert!((c as f32 * lambda / levels as f32 - q.apply(drive[[0, j]])).abs() < 1e-5);
            }
        }
        assert!(checked > 150 && exact == checked, "{exact}/{checked}");
    }
}

#[test]
fn qcfs_networks_train_save_and_reload() {
    let train = crate::common::mnist(somnet::data::Split::Train).head(600);
    let options = somnet::ann::arch::ArchOptions {
        qcfs: Some(4),
        ..Default::default()
    };
    let mut ann = somnet::ann::arch::build("mlp:784-64-10", &[1, 28, 28], 10, &options, 2).unwrap();
    assert!(ann
        .layers
        .iter()
        .any(|l| matches!(l, Layer::Qcfs(Qcfs { levels: 4, lambda }) if *lambda == 4.0)));
    let config = somnet::ann::train::TrainConfig {
        epochs: 3,
        batch_size: 50,
        loss: Loss::CrossEntropy,
        optimizer: somnet::ann::train::Optimizer::adam(1e-3),
        seed: 1,
        shuffle: true,
    };
    somnet::ann::train::train(&mut ann, &train, None, &config, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let lambda = ann
        .layers
        .iter()
        .find_map(|l| match l {
            Layer::Qcfs(q) => Some(q.lambda),
            _ => None,
        })
        .unwrap();
    assert!(lambda != 4.0 && lambda > 0.0, "λ trains: {lambda}");
    assert!(ann.accuracy(&train).unwrap() > 0.8);
    let path = crate::common::scratch("qcfs.h5");
    somnet::io::schema::save(&path, &ann, serde_json::json!({})).unwrap();
    let back = somnet::io::schema::load(&path).unwrap().ann;
    std::fs::remove_file(&path).ok();
    assert_eq!(back, ann);
}

#[test]
fn the_normalised_network_computes_the_quantised_activations_divided_by_lambda() {
    // Normalisation divides the hidden values by λ; the QCFS layer then quantises them with a
    // threshold of 1, so that the normalised network is the original with every value over its
    // λ — what bias calibration takes as its reference.
    let ann = qcfs_net(4, 2.5, 3, 6);
    let x = Array2::from_shape_fn((7, 3), |(i, j)| ((i * 3 + j) % 5) as f32 / 4.0);
    let data = somnet::data::Dataset::new(
        "x",
        x.iter().copied().collect(),
        vec![0; 7],
        [3, 1, 1],
        vec!["0".into(), "1".into()],
    )
    .unwrap();
    let converted = pipeline::convert(&ann, &data, &ConvertOptions::default()).unwrap();
    let q = converted.ann.names.iter().position(|n| n == "q").unwrap();
    let (original, normalised) = (
        ann.forward_all(x.view()).unwrap(),
        converted.ann.forward_all(x.view()).unwrap(),
    );
    assert!(original[q].iter().any(|&v| v > 0.0));
    for (a, b) in original[q].iter().zip(&normalised[q]) {
        assert!((a / 2.5 - b).abs() < 1e-6, "{a} / 2.5 vs {b}");
    }
}
