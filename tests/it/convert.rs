//! Conversion stages: batch-norm folding and data-based normalisation against their definitions.

use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::{Activation, Layer};
use somnet::convert::fold::fold_batchnorm;
use somnet::convert::normalize::{
    apply_channel_scales, apply_scales, layer_scales, percentile_of, NormScope,
};
use somnet::data::{mnist, Split};

fn test_images(n: usize) -> somnet::data::Dataset {
    mnist::load_mnist(&somnet::data::default_dir().join("mnist"), Split::Test)
        .unwrap()
        .head(n)
}

/// A BN network with non-trivial statistics, so folding has something to do.
fn bn_net() -> somnet::ann::Ann {
    let mut ann = build("bn-cnn", &[1, 28, 28], 10, &ArchOptions::default(), 5).unwrap();
    let mut rng = somnet::rng::stream(1, somnet::rng::Purpose::User, 0, 0, 0);
    for layer in &mut ann.layers {
        if let Layer::BatchNorm(b) = layer {
            for c in 0..b.gamma.len() {
                let mut u = || somnet::rng::uniform01(&mut rng) as f32;
                b.gamma[c] = 0.5 + u();
                b.beta[c] = u() - 0.5;
                b.mean[c] = u() - 0.5;
                b.var[c] = 0.1 + u();
            }
        }
    }
    ann
}

#[test]
fn folding_batchnorm_leaves_the_outputs_unchanged() {
    let ann = bn_net();
    let folded = fold_batchnorm(&ann).unwrap();
    assert_eq!(
        folded.layers.len(),
        ann.layers.len() - 4,
        "four BatchNorm layers folded"
    );
    let data = test_images(200);
    let (a, b) = (
        ann.forward(data.as_matrix()).unwrap(),
        folded.forward(data.as_matrix()).unwrap(),
    );
    let worst = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "largest output difference {worst}");
    assert_eq!(ann.predict(&data).unwrap(), folded.predict(&data).unwrap());
}

#[test]
fn batchnorm_that_does_not_follow_a_weighted_layer_is_refused() {
    let ann = build(
        "c4k3-relu-bn-flat-d10-out",
        &[1, 28, 28],
        10,
        &ArchOptions::default(),
        1,
    )
    .unwrap();
    let e = fold_batchnorm(&ann).unwrap_err().to_string();
    assert!(
        e.contains("batchnorm_1") && e.contains("activation_1"),
        "{e}"
    );
}

#[test]
fn percentile_is_the_nearest_lower_rank() {
    let mut v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
    assert_eq!(percentile_of(&mut v, 100.0), Some(1000.0));
    assert_eq!(percentile_of(&mut v, 99.9), Some(999.0)); // rank ⌊0.999·999⌋ = 998 → 999
    assert_eq!(percentile_of(&mut v, 50.0), Some(500.0));
    assert_eq!(percentile_of(&mut [], 50.0), None);
}

#[test]
fn normalised_relu_network_scales_its_output_by_the_last_lambda() {
    // ReLU networks are positively homogeneous: dividing layer l by λ_l and multiplying by λ_{l−1}
    // divides the output by the last λ.
    let opts = ArchOptions {
        output: Activation::Relu,
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    let ann = build(
        "c8k3-relu-ap2-flat-d32-relu-d10-out",
        &[1, 28, 28],
        10,
        &opts,
        2,
    )
    .unwrap();
    let data = test_images(300);
    let scales = layer_scales(&ann, &data, 100.0).unwrap();
    assert_eq!(scales.len(), 3);
    // Max-norm: λ of the first layer is the largest ReLU output over the calibration set.
    let first = ann.forward_all(data.as_matrix()).unwrap()[1]
        .iter()
        .cloned()
        .fold(0.0f32, f32::max);
    assert_eq!(scales[0], first);
    let norm = apply_scales(&ann, &scales).unwrap();
    let (a, b) = (
        ann.forward(data.as_matrix()).unwrap(),
        norm.forward(data.as_matrix()).unwrap(),
    );
    let last = scales[2];
    for (x, y) in a.iter().zip(b.iter()) {
        assert!(
            (x / last - y).abs() < 1e-5 * (1.0 + x.abs()),
            "{x}/{last} vs {y}"
        );
    }
    // With max-norm every normalised activation of the calibration set is at most 1.
    let outs = norm.forward_all(data.as_matrix()).unwrap();
    for i in [1, 5, 7] {
        assert!(outs[i].iter().all(|&v| v <= 1.0 + 1e-5), "layer {i}");
    }
    let p = layer_scales(&ann, &data, 99.9).unwrap();
    assert!(p.iter().zip(&scales).all(|(p, m)| p <= m));
}

#[test]
fn channel_wise_normalisation_gives_every_channel_its_own_maximum_of_one() {
    // Per-channel λ: dividing output channel j by λ_j and multiplying the weights from input
    // channel i by λ_i keeps a ReLU network's output up to the (single) last λ, through a
    // max-pool, a Flatten (each flattened feature keeps its image channel) and a hidden dense
    // layer with per-unit λ.
    let opts = ArchOptions {
        output: Activation::Relu,
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    let ann = build(
        "c6k3-relu-mp2-c4k3-relu-flat-d12-relu-d10-out",
        &[1, 28, 28],
        10,
        &opts,
        5,
    )
    .unwrap();
    let data = test_images(200);
    let scales =
        somnet::convert::normalize::scales(&ann, &data, 100.0, NormScope::Channel).unwrap();
    assert_eq!(
        scales.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![6, 4, 12, 1]
    );
    // The channels really differ, or the test would not tell the two scopes apart.
    let (lo, hi) = scales[0]
        .iter()
        .fold((f32::MAX, 0.0f32), |(l, h), &s| (l.min(s), h.max(s)));
    assert!(hi > 1.5 * lo, "{:?}", scales[0]);
    let norm = apply_channel_scales(&ann, &scales).unwrap();
    let (a, b) = (
        ann.forward(data.as_matrix()).unwrap(),
        norm.forward(data.as_matrix()).unwrap(),
    );
    let last = scales[3][0];
    for (x, y) in a.iter().zip(b.iter()) {
        assert!(
            (x / last - y).abs() < 1e-4 * (1.0 + x.abs() / last),
            "{x}/{last} vs {y}"
        );
    }
    // Max-norm per channel: every channel of every hidden layer peaks at exactly 1 (a channel
    // that never activates has no maximum to reach).
    let outs = norm.forward_all(data.as_matrix()).unwrap();
    let shapes = norm.shapes().unwrap();
    for i in [1, 4, 7] {
        let channels = shapes[i][0];
        let per = outs[i].ncols() / channels;
        for c in 0..channels {
            let peak = outs[i]
                .rows()
                .into_iter()
                .flat_map(|r| r.to_vec()[c * per..(c + 1) * per].to_vec())
                .fold(0.0f32, f32::max);
            assert!(
                peak == 0.0 || (peak - 1.0).abs() < 1e-4,
                "layer {i} channel {c}: {peak}"
            );
        }
    }
    // Per-layer scales of the same network are the channels' maxima.
    let layer = layer_scales(&ann, &data, 100.0).unwrap();
    for (l, c) in layer.iter().zip(&scales).take(3) {
        assert_eq!(*l, c.iter().copied().fold(0.0f32, f32::max));
    }
    // One scale per channel or one per layer; anything else names the layer.
    let mut wrong = scales.clone();
    wrong[1].pop();
    assert!(apply_channel_scales(&ann, &wrong)
        .unwrap_err()
        .to_string()
        .contains(&ann.names[3]));
}

#[test]
fn bad_normalisation_input_is_refused() {
    let ann = build(
        "mlp:784-16-10",
        &[1, 28, 28],
        10,
        &ArchOptions::default(),
        1,
    )
    .unwrap();
    let data = test_images(10);
    for p in [0.0, -1.0, 100.5, f64::NAN] {
        assert!(
            layer_scales(&ann, &data, p)
                .unwrap_err()
                .to_string()
                .contains("percentile"),
            "{p}"
        );
    }
    assert!(layer_scales(&ann, &data.head(0), 99.9)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let wrong = somnet::data::Dataset::new(
        "w",
        vec![0.0; 20],
        vec![0, 1],
        [1, 2, 5],
        (0..10).map(|d| d.to_string()).collect(),
    )
    .unwrap();
    assert!(layer_scales(&ann, &wrong, 99.9).is_err());
    assert!(apply_scales(&ann, &[1.0]).is_err());
    assert!(apply_scales(&ann, &[1.0, 0.0])
        .unwrap_err()
        .to_string()
        .contains("dense_2"));
}

#[test]
fn if_network_with_analog_input_fires_at_the_normalised_activation_rates() {
    // Unit-threshold IF neurons with reset by subtraction driven by a constant current a ∈ [0, 1]
    // fire ⌊T·a⌋ times in T steps: the first layer's rates equal the normalised ANN activations to
    // within 1/T. A layer fed by spikes receives the exact input only up to each pre neuron's
    // residue (< 1 spike), so its rate error is at most (Σ_i |w_ij| + 1)/T.
    use somnet::convert::build::build as build_snn;
    let opts = ArchOptions {
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    let ann = build("mlp:784-40-10", &[1, 28, 28], 10, &opts, 7).unwrap();
    let data = test_images(200);
    let norm = apply_scales(&ann, &layer_scales(&ann, &data, 100.0).unwrap()).unwrap();
    let mut snn = build_snn(&norm).unwrap();
    let t = 400u64;
    let monitors: Vec<_> = snn
        .layers
        .clone()
        .iter()
        .map(|&p| snn.net.monitor_spikes(p, None).unwrap())
        .collect();
    let acts = norm.forward_all(data.as_matrix()).unwrap();
    let Layer::Dense(d2) = &norm.layers[3] else {
        panic!("layer 3 is the second dense layer")
    };
    for img in 0..5 {
        snn.classify(data.as_matrix().row(img), t).unwrap();
        for (k, (&m, act_layer)) in monitors.iter().zip([2usize, 3]).enumerate() {
            let mut counts = vec![0u32; acts[act_layer].ncols()];
            for &(_, i) in &snn.net.spike_monitor(m).events {
                counts[i as usize] += 1;
            }
            for (j, &c) in counts.iter().enumerate() {
                let a = acts[act_layer][[img, j]].max(0.0) as f64;
                let rate = c as f64 / t as f64;
                let bound = if k == 0 {
                    1.0 / t as f64 + 1e-6
                } else {
                    (d2.weights
                        .row(j)
                        .iter()
                        .map(|w| w.abs() as f64)
                        .sum::<f64>()
                        + 1.0)
                        / t as f64
                };
                assert!(
                    (rate - a.min(1.0)).abs() <= bound,
                    "image {img} layer {k} neuron {j}: rate {rate}, activation {a}, bound {bound}"
                );
            }
        }
    }
}

#[test]
fn converted_mlp_classifies_like_the_ann() {
    use somnet::convert::build::build as build_snn;
    let tr = crate::common::mnist(Split::Train).head(3000);
    let te = test_images(200);
    let (ann, _) = crate::common::train_quick("mlp:784-64-10", 3, &tr, None);
    let ann_acc = ann.accuracy(&te).unwrap();
    let calib = tr.head(500);
    let norm = apply_scales(&ann, &layer_scales(&ann, &calib, 99.9).unwrap()).unwrap();
    let mut snn = build_snn(&norm).unwrap();
    let t = 100;
    let mut correct = vec![0usize; t];
    for i in 0..te.len() {
        let decisions = snn.classify(te.as_matrix().row(i), t as u64).unwrap();
        for (k, d) in decisions.iter().enumerate() {
            correct[k] += (*d == Some(te.labels[i] as usize)) as usize;
        }
    }
    let snn_acc = correct[t - 1] as f64 / te.len() as f64;
    assert!(
        snn_acc >= ann_acc - 0.03,
        "SNN {snn_acc} vs ANN {ann_acc} after {t} steps"
    );
    assert!(correct[0] <= correct[t - 1], "accuracy grows with time");
    // Batch norm that was not folded is refused with the layer's name.
    let cnn = build(
        "c8k3-bn-relu-flat-d10-out",
        &[1, 28, 28],
        10,
        &ArchOptions::default(),
        1,
    )
    .unwrap();
    let e = build_snn(&cnn)
        .err()
        .expect("unfolded batch norm refused")
        .to_string();
    assert!(
        e.contains(&cnn.names[1]) && e.contains("not supported"),
        "{e}"
    );
}

#[test]
fn latency_is_the_first_step_close_and_settled_latency_the_first_from_which_it_stays() {
    use somnet::convert::evaluate::SnnEvaluation;
    let e = SnnEvaluation {
        images: 1,
        snn_accuracy_per_step: vec![0.5, 0.9, 0.975, 0.94, 0.97, 0.98],
        synaptic_ops_per_image: 0.0,
        spikes_per_image: 0.0,
        mean_steps: 6.0,
        layers: vec![],
        interrupted: false,
        synaptic_ops_per_step: vec![],
    };
    assert_eq!(
        e.latency(0.98, 1.0),
        Some(3),
        "0.975 at step 3 is within 1 pp"
    );
    assert_eq!(
        e.settled_latency(0.98, 1.0),
        Some(5),
        "settled: 0.975 at step 3 does not count, step 4 drops again"
    );
    assert_eq!(e.latency(0.98, 0.5), Some(3));
    assert_eq!(e.settled_latency(0.98, 0.5), Some(6));
    assert_eq!(e.latency(0.99, 0.5), None);
    assert_eq!(e.settled_latency(0.99, 0.5), None);
    assert_eq!(e.latency(0.5, 1.0), Some(1));
    assert_eq!(e.settled_latency(0.5, 1.0), Some(1));
}

/// A one-layer network around `layer` for input shape `shape`.
fn single(layer: Layer, shape: Vec<usize>) -> somnet::ann::Ann {
    somnet::ann::Ann::new(
        shape,
        vec![("only".into(), layer)],
        somnet::ann::DropoutMode::Inverted,
    )
    .unwrap()
}

#[test]
fn conv_and_average_pool_stages_compute_what_the_ann_computes() {
    use rand::{RngExt, SeedableRng};
    use somnet::ann::{Conv2d, Padding, Pool};
    use somnet::convert::layers::{engine_stages, stages, Stage};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let cases: Vec<(Layer, Vec<usize>)> = vec![
        (
            Layer::Conv2d(Conv2d {
                weights: ndarray::Array4::from_shape_fn((2, 3, 3, 3), |_| {
                    rng.random_range(-1.0..1.0)
                }),
                bias: Some(ndarray::array![0.5, -0.25]),
                stride: (2, 2),
                padding: Padding::Same,
            }),
            vec![3, 7, 6],
        ),
        (
            Layer::Conv2d(Conv2d {
                weights: ndarray::Array4::from_shape_fn((4, 1, 5, 5), |_| {
                    rng.random_range(-1.0..1.0)
                }),
                bias: None,
                stride: (1, 1),
                padding: Padding::Valid,
            }),
            vec![1, 9, 8],
        ),
        (
            Layer::AvgPool2d(Pool {
                size: (2, 2),
                stride: (2, 2),
                padding: Padding::Valid,
            }),
            vec![2, 5, 5],
        ),
        (
            Layer::AvgPool2d(Pool {
                size: (3, 3),
                stride: (2, 2),
                padding: Padding::Same,
            }),
            vec![1, 5, 6],
        ),
    ];
    for (layer, shape) in cases {
        let ann = single(layer, shape.clone());
        let n: usize = shape.iter().product();
        // Every third input is 0 (as most of a digit's background): skipped by the drive.
        let x: Vec<f32> = (0..n)
            .map(|i| {
                let v = rng.random_range(0.0..1.0);
                if i % 3 == 0 {
                    0.0
                } else {
                    v
                }
            })
            .collect();
        let want = ann
            .forward(ndarray::ArrayView2::from_shape((1, n), &x).unwrap())
            .unwrap();
        let stage = &stages(&ann).unwrap()[0];
        let got = stage.drive(&x);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (g - w).abs() < 1e-5,
                "{:?}: {g} vs {w}",
                ann.layers[0].kind()
            );
        }
        // A convolution's drive comes from its shared kernel; its synapse list gives the same
        // sums bit for bit, also when a following layer makes the engine number its output
        // channels-last.
        if let Stage::Local {
            shared: Some(_), ..
        } = stage
        {
            let followed = somnet::ann::Ann::new(
                shape.clone(),
                vec![
                    ("only".into(), ann.layers[0].clone()),
                    ("flat".into(), Layer::Flatten),
                    (
                        "d".into(),
                        Layer::Dense(somnet::ann::Dense {
                            weights: ndarray::Array2::ones((2, want.len())),
                            bias: None,
                        }),
                    ),
                ],
                somnet::ann::DropoutMode::Inverted,
            )
            .unwrap();
            let engine = &engine_stages(&followed, true).unwrap()[0];
            let shape_out = &followed.shapes().unwrap()[0];
            let (co, hw) = (shape_out[0], shape_out[1] * shape_out[2]);
            let last = engine.drive(&x);
            for o in 0..co {
                for pos in 0..hw {
                    assert_eq!(last[pos * co + o], got[o * hw + pos], "channels-last");
                }
            }
            for s in [stage, engine] {
                let Stage::Local {
                    name,
                    pairs,
                    weights,
                    bias,
                    n_out,
                    ..
                } = s.clone()
                else {
                    unreachable!()
                };
                let by_list = Stage::Local {
                    name,
                    pairs,
                    weights,
                    bias,
                    n_out,
                    max_gate: false,
                    shared: None,
                };
                assert_eq!(by_list.drive(&x), s.drive(&x), "kernel vs synapse list");
            }
        }
    }
}

/// Steps at which the single output of a pooling `layer` over a 1×2×2 image fires when input
/// neurons fire as `train(step)` says (injected directly into the Poisson input sources).
fn pool_output_steps(layer: Layer, steps: u64, train: &dyn Fn(u64) -> Vec<u32>) -> Vec<u64> {
    use somnet::convert::build::build_with;
    use somnet::convert::options::{ConvertOptions, InputCoding};
    let ann = single(layer, vec![1, 2, 2]);
    let opts = ConvertOptions {
        input: InputCoding::Poisson,
        ..ConvertOptions::default()
    };
    let mut m = build_with(&ann, &opts).unwrap();
    let (input, out) = (m.input_population().unwrap(), m.output());
    let mut fired = Vec::new();
    for t in 0..steps {
        m.net.inject_spikes(input, &train(t)).unwrap();
        m.net.step();
        if !m.net.population(out).last_spikes().is_empty() {
            fired.push(t);
        }
    }
    fired
}

#[test]
fn average_pooling_on_hand_made_spike_trains() {
    use somnet::ann::{Padding, Pool};
    // A 2×2 image pooled to one IF neuron: each input spike brings 1/4.
    let avg = || {
        Layer::AvgPool2d(Pool {
            size: (2, 2),
            stride: (2, 2),
            padding: Padding::Valid,
        })
    };
    // One input firing every step: 1/4 per step → a spike every fourth step.
    assert_eq!(pool_output_steps(avg(), 12, &|_| vec![0]), vec![3, 7, 11]);
    // All four every step: the mean is 1 → a spike every step.
    assert_eq!(
        pool_output_steps(avg(), 12, &|_| vec![0, 1, 2, 3]),
        (0..12).collect::<Vec<_>>()
    );
    // Two inputs on even steps: 1/2 every other step → a spike every fourth step.
    assert_eq!(
        pool_output_steps(avg(), 12, &|t| if t % 2 == 0 { vec![1, 2] } else { vec![] }),
        vec![2, 6, 10]
    );
}

#[test]
fn converted_lenet_classifies_like_the_ann() {
    let tr = crate::common::mnist(Split::Train).head(2000);
    let te = test_images(100);
    let (ann, _) =
        crate::common::train_quick("c8k5-relu-ap2-c16k3-relu-ap2-flat-d10-out", 3, &tr, None);
    let ann_acc = ann.accuracy(&te).unwrap();
    let norm = apply_scales(&ann, &layer_scales(&ann, &tr.head(300), 99.9).unwrap()).unwrap();
    let ev = somnet::convert::evaluate::evaluate(&norm, &te, 100, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let acc = *ev.snn_accuracy_per_step.last().unwrap();
    assert!(ann_acc > 0.8, "{ann_acc}");
    assert!(acc >= ann_acc - 0.03, "SNN {acc} vs ANN {ann_acc}");
    // Pooling layers spike too, and every layer's operations are counted.
    assert_eq!(ev.layers.len(), 5);
    assert!(ev.layers[1..]
        .iter()
        .all(|l| l.synaptic_ops_per_image > 0.0));
}

#[test]
fn max_pooling_passes_the_spikes_of_the_most_active_input() {
    use somnet::ann::{Padding, Pool};
    use somnet::convert::build::build_with;
    use somnet::convert::options::{ConvertOptions, InputCoding};
    let max = || {
        Layer::MaxPool2d(Pool {
            size: (2, 2),
            stride: (2, 2),
            padding: Padding::Valid,
        })
    };
    // Input 0 every step, input 1 every other step: one spike passes per step, never two.
    assert_eq!(
        pool_output_steps(max(), 9, &|t| if t % 2 == 0 { vec![0, 1] } else { vec![0] }),
        (0..9).collect::<Vec<_>>()
    );
    // Input 1 fires three times first; input 0, firing from step 3 on, is blocked until its count
    // reaches 3 (step 5), then passes.
    assert_eq!(
        pool_output_steps(max(), 9, &|t| if t < 3 { vec![1] } else { vec![0] }),
        vec![0, 1, 2, 5, 6, 7, 8]
    );
    let ann = single(max(), vec![1, 2, 2]);
    let opts = ConvertOptions {
        input: InputCoding::Poisson,
        ..ConvertOptions::default()
    };
    // Counts restart with every sample.
    let mut m = build_with(&ann, &opts).unwrap();
    let input = m.input_population().unwrap();
    for _ in 0..3 {
        m.net.inject_spikes(input, &[1]).unwrap();
        m.net.step();
    }
    m.net.reset();
    m.net.inject_spikes(input, &[0]).unwrap();
    m.net.step();
    assert_eq!(m.net.population(m.output()).last_spikes(), &[0]);
}

#[test]
fn converted_bn_cnn_with_max_pooling_classifies_like_the_ann() {
    let tr = crate::common::mnist(Split::Train).head(2000);
    let te = test_images(100);
    let (ann, _) = crate::common::train_quick(
        "c8k3-bn-relu-mp2-c16k3s2same-bn-relu-flat-d10-out",
        3,
        &tr,
        None,
    );
    let ann_acc = ann.accuracy(&te).unwrap();
    let folded = fold_batchnorm(&ann).unwrap();
    let norm = apply_scales(
        &folded,
        &layer_scales(&folded, &tr.head(300), 99.9).unwrap(),
    )
    .unwrap();
    let ev = somnet::convert::evaluate::evaluate(&norm, &te, 100, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let acc = *ev.snn_accuracy_per_step.last().unwrap();
    assert!(ann_acc > 0.6, "{ann_acc}");
    assert!(acc >= ann_acc - 0.03, "SNN {acc} vs ANN {ann_acc}");
    // The max-pooling layer passes at most one spike per window and step: its operations equal
    // its spikes arriving at the next layer's fan-in, never more than the window count per step.
    assert!(ev.layers[1].synaptic_ops_per_image <= (8 * 13 * 13 * 100) as f64);
}

/// Input → one hidden unit (weight 1, no bias) → ReLU → outputs with weights `out` (no bias).
fn one_hidden_unit(out: ndarray::Array2<f32>) -> somnet::ann::Ann {
    use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
    let dense = |weights| {
        Layer::Dense(Dense {
            weights,
            bias: None,
        })
    };
    Ann::new(
        vec![1],
        vec![
            ("hidden".into(), dense(ndarray::array![[1.0]])),
            ("relu".into(), Layer::Activation(Activation::Relu)),
            ("out".into(), dense(out)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

#[test]
fn synaptic_operations_and_energy_accumulate_step_by_step_to_each_latency_point() {
    use ndarray::array;
    use somnet::convert::{options::ConvertOptions, pipeline};
    // Hidden W = 1 on x = 0.5 normalises (λ = 0.5, p = 100) to a drive of exactly 1 per step: the
    // hidden neuron fires every step and each spike reaches both outputs, 2 operations per step.
    // The outputs (0.5, 0.25) normalise to drives (1, 0.5): output 0 fires at once, so the
    // decision is right from step 1.
    let ann = one_hidden_unit(array![[1.0], [0.5]]);
    let data = somnet::data::Dataset::new(
        "x",
        vec![0.5],
        vec![0],
        [1, 1, 1],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let options = ConvertOptions {
        percentile: 100.0,
        ..Default::default()
    };
    let converted = pipeline::convert(&ann, &data, &options).unwrap();
    let e = pipeline::evaluate(&converted, &data, 6, &options, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        e.synaptic_ops_per_step,
        vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    );
    assert_eq!(e.synaptic_ops_per_image, 12.0);
    // ANN: 1 + 2 MACs at 4.6 pJ. SNN at step 1: 2 operations at 0.9 pJ plus the analog first
    // layer's one MAC.
    let at = e.energy_at_latency.pp1.expect("right from step 1");
    assert_eq!(at.steps, 1);
    assert_eq!(at.synaptic_ops_per_image, 2.0);
    assert!((at.snn_pj - (2.0 * 0.9 + 4.6)).abs() < 1e-9, "{at:?}");
    assert!(
        (at.ratio - (2.0 * 0.9 + 4.6) / (3.0 * 4.6)).abs() < 1e-9,
        "{at:?}"
    );
    assert_eq!(e.energy_at_latency.pp01.map(|c| c.steps), Some(1));
    // At T the per-step figure is the run's energy estimate.
    assert!((somnet::convert::energy::snn_pj_at(12.0, Some(1)) - e.energy_pj.snn).abs() < 1e-9);
    let out = crate::common::scratch("energy-steps");
    somnet::study::report::write_evaluation(&out, &e).unwrap();
    let csv = std::fs::read_to_string(out.join("per_step.csv")).unwrap();
    std::fs::remove_dir_all(&out).ok();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "step,snn_accuracy,synaptic_ops_per_image,snn_pj,energy_ratio"
    );
    let row3: Vec<f64> = lines[3].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(row3[..3], [3.0, 1.0, 6.0]);
    assert!((row3[3] - (6.0 * 0.9 + 4.6)).abs() < 1e-9, "{csv}");
}

#[test]
fn average_pooling_folds_into_the_next_layer_exactly() {
    use somnet::ann::arch::{build, ArchOptions};
    use somnet::convert::fold::fold_average_pooling;
    let opts = ArchOptions {
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    // Overlapping windows (3, stride 2) before a strided convolution; a window of 2 before a
    // Flatten and a Dense layer; a pooling before a 'same' convolution that pads stays spiking.
    let cases = [
        (
            "c4k3-relu-ap3s2-c5k2s2-relu-flat-d3-out",
            &[2, 13, 13][..],
            0,
        ),
        ("c4k3-relu-ap2-flat-do0.2-d3-out", &[1, 10, 10][..], 0),
        (
            "c4k3-relu-ap2-c5k3same-relu-flat-d3-out",
            &[1, 10, 10][..],
            1,
        ),
        (
            "c4k3-relu-ap2-c5k2-relu-ap2-flat-d3-out",
            &[1, 11, 11][..],
            0,
        ),
    ];
    for (spec, shape, left) in cases {
        let ann = build(spec, shape, 3, &opts, 7).unwrap();
        let folded = fold_average_pooling(&ann).unwrap();
        let pools = folded
            .layers
            .iter()
            .filter(|l| l.kind() == "avgpool2d")
            .count();
        assert_eq!(pools, left, "{spec}");
        let n: usize = shape.iter().product();
        let x =
            ndarray::Array2::from_shape_fn((3, n), |(i, j)| ((i * 31 + j * 7) % 13) as f32 / 13.0);
        let (a, b) = (
            ann.forward_all(x.view()).unwrap(),
            folded.forward(x.view()).unwrap(),
        );
        // Compare the logits (before the softmax) for sensitivity.
        let logits = &a[a.len() - 2];
        let folded_logits = folded.forward_all(x.view()).unwrap();
        let fl = &folded_logits[folded_logits.len() - 2];
        for (p, q) in logits.iter().zip(fl) {
            assert!((p - q).abs() < 1e-4 * (1.0 + p.abs()), "{spec}: {p} vs {q}");
        }
        assert_eq!(a.last().unwrap().dim(), b.dim());
    }
}

#[test]
fn bias_calibration_moves_each_bias_by_the_mean_rate_error() {
    use ndarray::array;
    use somnet::ann::Layer;
    use somnet::convert::{options::ConvertOptions, pipeline};
    // Max-norm over x ∈ {0.3, 1.0} leaves the hidden drive at x. In T = 4 steps from rest an IF
    // neuron fires ⌊4x⌋ times: rates 0.25 and 1.0 against targets 0.3 and 1.0, so the bias moves
    // by the mean error (0.05 + 0)/2 = 0.025.
    let ann = one_hidden_unit(array![[1.0], [-1.0]]);
    let data = somnet::data::Dataset::new(
        "x",
        vec![0.3, 1.0],
        vec![0, 0],
        [1, 1, 1],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let options = ConvertOptions {
        percentile: 100.0,
        ..Default::default()
    };
    let converted = pipeline::convert(&ann, &data, &options).unwrap();
    let calibrated = pipeline::calibrate_biases(&converted, &data, 4, &options).unwrap();
    let record = calibrated.record.bias_calibration.as_ref().unwrap();
    assert_eq!((record.images, record.steps), (2, 4));
    let hidden = &record.layers[0];
    assert_eq!(hidden.name, "hidden");
    assert!((hidden.bias_shift[0] - 0.025).abs() < 1e-6, "{hidden:?}");
    assert!((hidden.mean_abs_error - 0.025).abs() < 1e-6, "{hidden:?}");
    let Layer::Dense(d) = &calibrated.ann.layers[0] else {
        panic!()
    };
    assert!((d.bias.as_ref().unwrap()[0] - 0.025).abs() < 1e-6);
    // The ANN figures stay those of the network as converted.
    assert_eq!(calibrated.source(), &converted.ann);
    assert!(pipeline::calibrate_biases(&converted, &data, 0, &options).is_err());
}
