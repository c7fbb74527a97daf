//! Time-to-first-spike coding (Stanojevic et al., Neural Networks 2023): spike times against the
//! closed-form mapping on a hand-built two-layer net, the step accounting counted by hand,
//! exactness on a trained CNN and on residual fixtures, the clocked version against QCFS
//! (Bu et al. 2022), at most one spike per neuron, thread independence and the refusals.

use std::ops::ControlFlow;

use ndarray::{array, Array1, Array2, Axis};

use somnet::ann::qcfs::Qcfs;
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
use somnet::convert::evaluate::count;
use somnet::convert::options::{Coding, ConvertOptions, InputCoding, Readout, TtfsClock};
use somnet::convert::pipeline;
use somnet::convert::ttfs::TtfsNetwork;
use somnet::data::{Dataset, Split};

fn go(_: usize) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn ttfs(input: InputCoding, clock: TtfsClock, steps: u32) -> ConvertOptions {
    ConvertOptions {
        coding: Coding::Ttfs,
        input,
        ttfs_clock: clock,
        ttfs_steps: steps,
        percentile: 100.0,
        ..Default::default()
    }
}

fn dense(w: Array2<f32>, b: Option<Array1<f32>>) -> Layer {
    Layer::Dense(Dense {
        weights: w,
        bias: b,
    })
}

/// Input 3 → hidden 4 (ReLU) → output 2, already normalised.
fn two_layer() -> Ann {
    Ann::new(
        vec![3],
        vec![
            (
                "hidden".into(),
                dense(
                    array![
                        [0.5f32, 0.4, 1.0],
                        [1.0, -0.6, 0.3],
                        [1.0, 1.0, 0.0],
                        [-1.0, 0.2, 0.0]
                    ],
                    Some(array![0.1f32, 0.0, 0.0, 0.0]),
                ),
            ),
            ("relu".into(), Layer::Activation(Activation::Relu)),
            (
                "out".into(),
                dense(array![[1.0f32, -0.5, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0]], None),
            ),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

fn one_sample(x: &[f32], label: u8) -> Dataset {
    Dataset::new(
        "x",
        x.to_vec(),
        vec![label],
        [1, 1, x.len()],
        vec!["a".into(), "b".into()],
    )
    .unwrap()
}

#[test]
fn spike_times_follow_the_closed_form_mapping_on_a_two_layer_net() {
    let ann = two_layer();
    let x = [0.9f32, 0.5, 0.0];
    let net =
        TtfsNetwork::new(&ann, &ttfs(InputCoding::Latency, TtfsClock::Continuous, 16)).unwrap();
    let pass = net.run(&x).unwrap();
    // Input window [0, 1]: a pixel x fires at 1 − x; zero never.
    let t_in = &pass.input_times;
    assert!((t_in[0].unwrap() - 0.1).abs() < 1e-6 && (t_in[1].unwrap() - 0.5).abs() < 1e-6);
    assert_eq!(t_in[2], None);
    // Hidden window [1, 2]: V_i = b_i + Σ_j W_ij·(1 − t_j) from the spike times alone, then a ramp
    // of slope 1 to threshold 1: t_i = 2 − V_i inside the window, t_min = 1 if V_i ≥ 1, silent if
    // V_i ≤ 0.
    let w = [
        [0.5f64, 0.4, 1.0],
        [1.0, -0.6, 0.3],
        [1.0, 1.0, 0.0],
        [-1.0, 0.2, 0.0],
    ];
    let b = [0.1f64, 0.0, 0.0, 0.0];
    let mut h = [0.0f64; 4];
    for i in 0..4 {
        let v = b[i]
            + (0..3)
                .filter_map(|j| t_in[j].map(|t| w[i][j] * (1.0 - t)))
                .sum::<f64>();
        assert!((pass.potentials[0][i] as f64 - v).abs() < 1e-6, "V of {i}");
        let expected = if v <= 0.0 {
            None
        } else {
            Some(2.0 - v.min(1.0))
        };
        match (pass.times[0][i], expected) {
            (Some(t), Some(e)) => assert!((t - e).abs() < 1e-6, "t of {i}: {t} vs {e}"),
            (t, e) => assert_eq!(t, e, "hidden {i}"),
        }
        h[i] = expected.map_or(0.0, |t| 2.0 - t);
    }
    // By hand: V = (0.75, 0.6, 1.4, −0.8): spikes at 1.25, 1.4, 1.0 (clipped), none.
    assert!((pass.times[0][0].unwrap() - 1.25).abs() < 1e-6);
    assert!((pass.times[0][1].unwrap() - 1.4).abs() < 1e-6);
    assert!((pass.times[0][2].unwrap() - 1.0).abs() < 1e-6);
    assert_eq!(pass.times[0][3], None);
    // Output window [2, 3] from the hidden spike times: (0.75 − 0.3, 0.15 + 0.48) = (0.45, 0.63),
    // spikes at 2.55 and 2.37; the first decides class 1.
    let out = [h[0] - 0.5 * h[1], 0.2 * h[0] + 0.8 * h[1]];
    for (k, v) in out.iter().enumerate() {
        assert!((pass.potentials[1][k] as f64 - v).abs() < 1e-6);
        assert!((pass.times[1][k].unwrap() - (3.0 - v)).abs() < 1e-6);
    }
    assert_eq!(pass.decision, 1);
    assert!((pass.decision_time - 2.37).abs() < 1e-6);
    // Every value equals the ReLU network's (clipped at 1): the mapping is exact.
    let y = ann.forward_all(array![[0.9f32, 0.5, 0.0]].view()).unwrap();
    for i in 0..4 {
        let relu = y[1][[0, i]].clamp(0.0, 1.0) as f64;
        assert!((h[i] - relu).abs() < 1e-6);
    }

    // On a clock of 4 steps per window, threshold half a step early: values round to quarters.
    // x = (0.9, 0.5) → ⌊4x + ½⌋/4 = (1, 0.5): spikes at 0 and 0.5; hidden 0: 0.5 + 0.2 + 0.1 = 0.8
    // → ⌊3.7⌋/4 = 0.75, a spike at 1.25.
    let clocked = TtfsNetwork::new(&ann, &ttfs(InputCoding::Latency, TtfsClock::Steps, 4)).unwrap();
    let pass = clocked.run(&x).unwrap();
    assert_eq!(pass.input_times[0], Some(0.0));
    assert_eq!(pass.input_times[1], Some(0.5));
    assert!((pass.potentials[0][0] - 0.8).abs() < 1e-6);
    assert_eq!(pass.times[0][0], Some(1.25));
}

#[test]
fn steps_spikes_and_synaptic_operations_are_counted_as_by_hand() {
    // The net above with 4 steps per window: input spikes at 0.1 and 0.5 (steps 1, 2), hidden at
    // 1.25, 1.4, 1.0 (steps 5, 6, 4), the first output spike at 2.37 (step ⌈9.48⌉ = 10) decides
    // class 1. Each input spike reaches 4 hidden neurons, each hidden spike 2 outputs.
    let ann = two_layer();
    let options = ttfs(InputCoding::Latency, TtfsClock::Continuous, 4);
    let data = one_sample(&[0.9, 0.5, 0.0], 1);
    let c = count(&ann, &data, 0, 12, &options, go).unwrap();
    assert_eq!(c.correct_per_step, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    assert_eq!(c.steps_used, 10, "the sample stops at its decision");
    assert_eq!(
        c.synaptic_ops_per_step,
        [4, 8, 8, 10, 12, 14, 14, 14, 14, 14, 14, 14]
    );
    assert_eq!(c.layer_synaptic_ops, [8, 6]);
    assert_eq!(
        c.layer_spikes,
        [3, 1],
        "one output spike: the run stops there"
    );
    assert_eq!(c.spikes, 2 + 3 + 1);
    // Cut at 8 steps: no decision yet, nothing after step 8.
    let c = count(&ann, &data, 0, 8, &options, go).unwrap();
    assert_eq!(c.correct_per_step, [0; 8]);
    assert_eq!(c.steps_used, 8);
    assert_eq!(c.layer_spikes, [3, 0]);
    // Membrane readout decides at the start of the output window (step 8), with no output spike.
    let membrane = ConvertOptions {
        readout: Readout::Membrane,
        ..options.clone()
    };
    let c = count(&ann, &data, 0, 12, &membrane, go).unwrap();
    assert_eq!(c.correct_per_step, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(c.layer_spikes, [3, 0]);
    // Analog input: no input window (the hidden window starts at 0) and no input events.
    let analog = ConvertOptions {
        input: InputCoding::Analog,
        ..options
    };
    let c = count(&ann, &data, 0, 12, &analog, go).unwrap();
    assert_eq!(c.layer_synaptic_ops, [0, 6]);
    assert_eq!(c.spikes, 3 + 1);
    assert_eq!(
        c.correct_per_step[4..],
        [0, 1, 1, 1, 1, 1, 1, 1],
        "2.37 − 1 → step 6"
    );
}

/// The output layer's values (the logits before a softmax) of a normalised network.
fn logits(ann: &Ann, x: &Array2<f32>) -> Array2<f32> {
    let acts = ann.forward_all(x.view()).unwrap();
    let out = ann
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense(_)))
        .unwrap();
    acts[out].clone()
}

fn images(data: &Dataset) -> Array2<f32> {
    data.as_matrix().to_owned()
}

#[test]
fn a_trained_cnn_runs_exactly_with_at_most_one_spike_per_neuron() {
    let tr = crate::common::mnist(Split::Train).head(1500);
    let te = crate::common::mnist(Split::Test).head(100);
    let (ann, _) = crate::common::train_quick(
        "c8k3-relu-mp2-c16k3-relu-ap2-flat-d32-relu-d10-out",
        3,
        &tr,
        None,
    );
    for input in [InputCoding::Latency, InputCoding::Analog] {
        let options = ttfs(input, TtfsClock::Continuous, 8);
        // Normalised on the test images themselves at the 100th percentile: nothing is clipped,
        // so the mapping must reproduce the ANN's normalised logits.
        let snn = pipeline::convert(&ann, &te, &options).unwrap();
        let net = TtfsNetwork::new(&snn.ann, &options).unwrap();
        assert_eq!(
            net.layer_names(),
            pipeline::converted_layers(snn.source(), &snn.ann)
                .iter()
                .map(|l| l.0.as_str())
                .collect::<Vec<_>>(),
            "the layers of the energy estimate"
        );
        let y = logits(&snn.ann, &images(&te));
        for (s, row) in y.axis_iter(Axis(0)).enumerate() {
            let pass = net.run(te.image(s)).unwrap();
            let out = pass.potentials.last().unwrap();
            for (a, b) in out.iter().zip(row) {
                assert!((a - b).abs() < 2e-5, "{input:?} sample {s}: {a} vs {b}");
            }
        }
        let e = pipeline::evaluate(&snn, &te, 200, &options, go).unwrap();
        assert_eq!(e.snn_accuracy, e.ann_accuracy, "{input:?}");
        for l in &e.layers {
            assert!(
                l.spikes_per_image <= l.neurons as f64,
                "at most one spike per neuron"
            );
            assert!(l.spikes_per_image > 0.0);
        }
        assert!(e.synaptic_ops_per_image <= e.macs_per_image as f64);
        // At most the ANN's MACs as accumulates (0.9 pJ against 4.6 pJ, Horowitz 2014); the
        // analog first layer pays its MACs in full.
        let bound = if input == InputCoding::Latency {
            0.9 / 4.6
        } else {
            1.0
        };
        assert!(e.energy_pj.ratio < bound, "energy {}", e.energy_pj.ratio);
        // Windows: input (latency), conv, pool (same window), conv, avg pool, dense, out.
        let windows = if input == InputCoding::Latency { 6 } else { 5 };
        assert_eq!(net.total_steps(), windows * 8);
        // The output spikes decide within the output window.
        let pp01 = e.latency_steps.pp01.unwrap();
        assert!(pp01 > (windows as usize - 1) * 8 && pp01 <= windows as usize * 8);
    }
}

#[test]
fn residual_fixtures_map_exactly_through_skip_connections() {
    for stem in ["keras2_resnet", "torch_resnet"] {
        let ann = somnet::io::load_model(&crate::import::fixture(&format!("{stem}.h5")))
            .unwrap()
            .0
            .ann;
        let (x, _) = crate::import::io_pair(stem);
        let s = &ann.input_shape;
        let data = Dataset::new(
            "x",
            x.iter().copied().collect(),
            vec![0; x.nrows()],
            [s[0], s[1], s[2]],
            (0..ann.output_features()).map(|c| c.to_string()).collect(),
        )
        .unwrap();
        let options = ttfs(InputCoding::Analog, TtfsClock::Continuous, 8);
        let snn = pipeline::convert(&ann, &data, &options).unwrap();
        let net = TtfsNetwork::new(&snn.ann, &options).unwrap();
        let y = logits(&snn.ann, &x);
        for (r, row) in y.axis_iter(Axis(0)).enumerate() {
            let pass = net.run(data.image(r)).unwrap();
            for (a, b) in pass.potentials.last().unwrap().iter().zip(row) {
                assert!((a - b).abs() < 2e-5, "{stem} sample {r}: {a} vs {b}");
            }
            for times in &pass.times {
                assert!(times.iter().all(|t| t.is_none_or(|t| t >= 0.0)));
            }
        }
    }
}

#[test]
fn the_clocked_network_reproduces_a_qcfs_network_with_as_many_steps_as_levels() {
    // On a clock of K steps with the threshold half a step early, a value is ⌊K·V + ½⌋/K clipped
    // to [0, 1]: QCFS's activation with L = K and λ = 1 after normalisation (Bu et al. 2022).
    for levels in [2u32, 4, 8] {
        let mut rng = somnet::rng::stream(5, somnet::rng::Purpose::User, levels as u64, 0, 0);
        let mut u = || somnet::rng::uniform01(&mut rng) as f32;
        let (inputs, hidden) = (6, 30);
        let w1 = Array2::from_shape_fn((hidden, inputs), |_| u() * 1.6 - 0.5);
        let b1 = Array1::from_shape_fn(hidden, |_| u() * 0.4 - 0.2);
        let w2 = Array2::from_shape_fn((3, hidden), |_| u() - 0.5);
        let ann = Ann::new(
            vec![inputs],
            vec![
                ("hidden".into(), dense(w1, Some(b1))),
                (
                    "q".into(),
                    Layer::Qcfs(Qcfs {
                        levels,
                        lambda: 1.7,
                    }),
                ),
                ("out".into(), dense(w2, None)),
            ],
            DropoutMode::Inverted,
        )
        .unwrap();
        let pixels: Vec<f32> = (0..inputs * 40).map(|_| u()).collect();
        let data = Dataset::new(
            "x",
            pixels,
            vec![0; 40],
            [1, 1, inputs],
            (0..3).map(|c| c.to_string()).collect(),
        )
        .unwrap();
        let options = ttfs(InputCoding::Analog, TtfsClock::Steps, levels);
        let snn = pipeline::convert(&ann, &data, &options).unwrap();
        let net = TtfsNetwork::new(&snn.ann, &options).unwrap();
        let acts = snn.ann.forward_all(images(&data).view()).unwrap();
        let (mut checked, mut boundary) = (0, 0);
        for s in 0..data.len() {
            let pass = net.run(data.image(s)).unwrap();
            for j in 0..hidden {
                let v = acts[0][[s, j]] * levels as f32 + 0.5;
                if (v - v.round()).abs() < 1e-4 {
                    boundary += 1; // float rounding may decide either way on a boundary
                    continue;
                }
                checked += 1;
                let end = net.window_start(0) + 1.0;
                let value = pass.times[0][j].map_or(0.0, |t| end - t) as f32;
                assert!(
                    (value - acts[1][[s, j]]).abs() < 1e-6,
                    "L = {levels}, sample {s}, unit {j}: {value} vs {}",
                    acts[1][[s, j]]
                );
            }
        }
        assert!(checked > 1000 && boundary < 10, "{checked} / {boundary}");
    }
}

#[test]
fn counts_do_not_depend_on_the_thread_count() {
    let tr = crate::common::mnist(Split::Train).head(600);
    let te = crate::common::mnist(Split::Test).head(600);
    let (ann, _) = crate::common::train_quick("mlp:784-64-10", 2, &tr, None);
    let options = ConvertOptions {
        percentile: 99.9,
        ..ttfs(InputCoding::Latency, TtfsClock::Steps, 8)
    };
    let snn = pipeline::convert(&ann, &tr.head(200), &options).unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| count(&snn.ann, &te, 0, 24, &options, go).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one.images, 600);
    // Eight levels per value cost at most a few decisions against the ANN's.
    let ann_correct = (ann.accuracy(&te).unwrap() * 600.0).round() as i64;
    let snn_correct = *one.correct_per_step.last().unwrap() as i64;
    assert!(
        (snn_correct - ann_correct).abs() <= 6,
        "{snn_correct} vs {ann_correct}"
    );
}

#[test]
fn knobs_without_meaning_for_single_spikes_and_bad_inputs_are_refused() {
    let ann = two_layer();
    let base = ttfs(InputCoding::Latency, TtfsClock::Continuous, 8);
    let refused = |o: ConvertOptions, needle: &str| {
        let e = TtfsNetwork::new(&ann, &o).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    };
    refused(
        ConvertOptions {
            input: InputCoding::Poisson,
            ..base.clone()
        },
        "Poisson",
    );
    refused(
        ConvertOptions {
            dale: true,
            ..base.clone()
        },
        "Dale",
    );
    refused(
        ConvertOptions {
            early_exit: Some(4),
            ..base.clone()
        },
        "early exit",
    );
    refused(
        ConvertOptions {
            ttfs_steps: 0,
            ..base.clone()
        },
        "ttfs_steps",
    );
    let rate_latency = ConvertOptions {
        input: InputCoding::Latency,
        ..Default::default()
    };
    assert!(rate_latency
        .validate()
        .unwrap_err()
        .to_string()
        .contains("coding=ttfs"));
    // A value the input window cannot code: named with its index.
    let net = TtfsNetwork::new(&ann, &base).unwrap();
    let e = net.run(&[0.2, -0.5, 0.1]).unwrap_err().to_string();
    assert!(
        e.contains("input 1 is -0.5") && e.contains("input=analog"),
        "{e}"
    );
    let e = count(&ann, &one_sample(&[0.2, 1.5, 0.1], 0), 7, 8, &base, go)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sample 7") && e.contains("input 1 is 1.5"),
        "{e}"
    );
    // Neither the rate engine, bias calibration nor NIR export takes a TTFS network.
    assert!(somnet::convert::build::build_with(&ann, &base).is_err());
    let data = one_sample(&[0.2, 0.5, 0.1], 0);
    let snn = pipeline::convert(&ann, &data, &base).unwrap();
    let e = pipeline::calibrate_biases(&snn, &data, 8, &base)
        .unwrap_err()
        .to_string();
    assert!(e.contains("time-to-first-spike"), "{e}");
    assert!(somnet::convert::to_nir::to_nir(&snn.ann, &base, &snn.record.layer_scales).is_err());
    let mut o = ConvertOptions::default();
    o.set("coding", "ttfs").unwrap();
    o.set("ttfs-clock", "steps").unwrap();
    o.set("ttfs-steps", "4").unwrap();
    o.set("input", "latency").unwrap();
    assert_eq!(o.label(), "latency-ttfs4-clocked");
    assert!(o.set("coding", "phase").is_err());
}
