//! The conversion knobs: each changes the network the way its documentation says, checked on
//! single neurons against hand-computed spike counts, plus Dale's split, readouts, early exit,
//! Poisson rates, operation counts, determinism and contradictory options.

use ndarray::{array, Array2};
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
use somnet::convert::build::build_with;
use somnet::convert::evaluate::evaluate_with;
use somnet::convert::options::{
    ConvertOptions, InitialPotential, InputCoding, NeuronChoice, Readout, ResetChoice,
};
use somnet::data::{Dataset, Split};

/// One input feature x = 1 driving one output neuron through weight `a`: the analog current is a.
fn one_neuron(a: f32) -> Ann {
    Ann::new(
        vec![1],
        vec![
            (
                "d".into(),
                Layer::Dense(Dense {
                    weights: array![[a]],
                    bias: None,
                }),
            ),
            ("r".into(), Layer::Activation(Activation::Relu)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

/// Output spikes of the single neuron over `steps` steps.
fn spikes(a: f32, options: &ConvertOptions, steps: u64) -> Vec<u64> {
    let mut m = build_with(&one_neuron(a), options).unwrap();
    let out = m.output();
    m.present(ndarray::ArrayView1::from(&[1.0f32][..])).unwrap();
    let mut times = Vec::new();
    for t in 0..steps {
        m.net.step();
        if !m.net.population(out).last_spikes().is_empty() {
            times.push(t);
        }
    }
    times
}

#[test]
fn reset_initial_potential_refractoriness_and_leak_act_as_documented() {
    let base = ConvertOptions::default();
    // (Binary-exact currents, so the hand counts are exact in f32.)
    // Reset by subtraction keeps the excess: current 0.75 fires ⌊0.75·t⌋ times by step t.
    assert_eq!(spikes(0.75, &base, 100).len(), 75);
    // Reset to zero loses it: 0.75, 1.5 → spike, 0 → every second step.
    let zero = ConvertOptions {
        reset: ResetChoice::Zero,
        ..base.clone()
    };
    let z = spikes(0.75, &zero, 100);
    assert_eq!(z.len(), 50);
    assert_eq!(&z[..3], &[1, 3, 5]);
    // θ/2 start: current 0.25 from 0.5 fires ⌊0.5 + 0.25·t⌋ times instead of ⌊0.25·t⌋.
    let half = ConvertOptions {
        initial: InitialPotential::HalfThreshold,
        ..base.clone()
    };
    let h = spikes(0.25, &half, 100);
    assert_eq!(h.len(), 25); // ⌊25.5⌋
    assert_eq!(h[0], 1); // 0.5 + 2·0.25 = 1
    assert_eq!(spikes(0.25, &base, 100)[0], 3); // 4·0.25 = 1
    assert_eq!(spikes(0.25, &half, 5).len(), 1); // ⌊0.5 + 1.25⌋
                                                 // Refractory 2 steps with reset to zero: a current of 1 fires every third step.
    let refr = ConvertOptions {
        reset: ResetChoice::Zero,
        refractory_steps: 2,
        ..base.clone()
    };
    assert_eq!(&spikes(1.0, &refr, 10)[..], &[0, 3, 6, 9]);
    // LIF τ = 10: v ← e^(−0.1)·(v + 1/16) settles at e^(−0.1)/(16·(1 − e^(−0.1))) ≈ 0.59 < 1,
    // so it never fires while IF fires t/16 times; a strong current still fires.
    let lif = ConvertOptions {
        neuron: NeuronChoice::Lif { tau_mem_ms: 10.0 },
        ..base.clone()
    };
    assert!(spikes(0.0625, &lif, 400).is_empty());
    assert_eq!(spikes(0.0625, &base, 400).len(), 25);
    // With 0.5 per step: v_t = 0.5·Σ p^k ≥ 1 first when Σ_{k=1..t} p^k ≥ 2 (p = e^(−0.1)): t = 3.
    assert_eq!(spikes(0.5, &lif, 4)[0], 2);
}

fn trained_mlp() -> (Ann, Dataset) {
    let train = crate::common::mnist(Split::Train).head(2000);
    let (ann, _) = crate::common::train_quick("mlp:784-48-10", 5, &train, None);
    let norm = somnet::convert::normalize::apply_scales(
        &ann,
        &somnet::convert::normalize::layer_scales(&ann, &train.head(400), 99.9).unwrap(),
    )
    .unwrap();
    (norm, crate::common::mnist(Split::Test).head(100))
}

#[test]
fn dale_split_gives_one_sign_per_neuron_and_the_same_decisions() {
    let (ann, test) = trained_mlp();
    let dale = ConvertOptions {
        dale: true,
        ..ConvertOptions::default()
    };
    let mut plain = build_with(&ann, &ConvertOptions::default()).unwrap();
    let mut split = build_with(&ann, &dale).unwrap();
    // Every projection leaving a population carries weights of one sign: positive from the
    // excitatory copy, negative from the inhibitory one.
    let inhibitory: Vec<_> = split.inhibitory.iter().flatten().copied().collect();
    assert_eq!(
        inhibitory.len(),
        1,
        "the hidden layer has an inhibitory copy, the output not"
    );
    for p in split.net.projections() {
        let w: Vec<f32> = p.synapses().iter().map(|s| s.2).collect();
        if inhibitory.contains(&p.pre()) {
            assert!(w.iter().all(|&x| x < 0.0), "{}", p.name());
        } else {
            assert!(w.iter().all(|&x| x > 0.0), "{}", p.name());
        }
    }
    for i in 0..20 {
        let x = ndarray::ArrayView1::from(test.image(i));
        assert_eq!(
            split.classify(x, 40).unwrap(),
            plain.classify(x, 40).unwrap(),
            "image {i}"
        );
    }
}

#[test]
fn membrane_readout_decides_from_the_first_step_and_early_exit_freezes_the_decision() {
    let (ann, test) = trained_mlp();
    let membrane = ConvertOptions {
        readout: Readout::Membrane,
        ..ConvertOptions::default()
    };
    let mut m = build_with(&ann, &membrane).unwrap();
    let run = m
        .run_sample(ndarray::ArrayView1::from(test.image(0)), 0, 30)
        .unwrap();
    assert!(run.decisions.iter().all(|d| d.is_some()));
    assert_eq!(
        m.net.population(m.output()).spike_count(),
        0,
        "integrators never fire"
    );
    let exit = ConvertOptions {
        early_exit: Some(5),
        ..membrane
    };
    let mut e = build_with(&ann, &exit).unwrap();
    for i in 0..10 {
        let full = m
            .run_sample(ndarray::ArrayView1::from(test.image(i)), 0, 60)
            .unwrap();
        let r = e
            .run_sample(ndarray::ArrayView1::from(test.image(i)), 0, 60)
            .unwrap();
        let used = r.steps_used as usize;
        assert!((5..60).contains(&used), "image {i}: {used} steps");
        assert_eq!(
            &r.decisions[..used],
            &full.decisions[..used],
            "same run until the exit"
        );
        // The last 5 decisions before the exit agree, and that decision stands afterwards.
        assert!(r.decisions[used - 5..]
            .iter()
            .all(|d| *d == r.decisions[used - 1]));
    }
    let ev = evaluate_with(&ann, &test, 60, &exit, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert!(
        ev.mean_steps < 60.0 && ev.mean_steps >= 5.0,
        "{}",
        ev.mean_steps
    );
}

#[test]
fn poisson_input_fires_at_the_pixel_over_max_rate() {
    // Three pixels 0.2, 0.5, 1.0 → P = 0.2, 0.5, 1 per step.
    let ann = Ann::new(
        vec![3],
        vec![(
            "d".into(),
            Layer::Dense(Dense {
                weights: Array2::zeros((1, 3)),
                bias: None,
            }),
        )],
        DropoutMode::Inverted,
    )
    .unwrap();
    let opts = ConvertOptions {
        input: InputCoding::Poisson,
        seed: 3,
        ..ConvertOptions::default()
    };
    let mut m = build_with(&ann, &opts).unwrap();
    let input = m.input_population().unwrap();
    let mon = m.net.monitor_spikes(input, None).unwrap();
    let steps = 4000;
    m.run_sample(ndarray::ArrayView1::from(&[0.2f32, 0.5, 1.0][..]), 7, steps)
        .unwrap();
    let mut counts = [0u64; 3];
    for &(_, i) in &m.net.spike_monitor(mon).events {
        counts[i as usize] += 1;
    }
    for (c, p) in counts.iter().zip([0.2f64, 0.5, 1.0]) {
        let sd = (p * (1.0 - p) / steps as f64).sqrt();
        let rate = *c as f64 / steps as f64;
        assert!((rate - p).abs() <= 5.0 * sd + 1e-12, "rate {rate} vs {p}");
    }
}

#[test]
fn synaptic_operations_are_spikes_times_fan_out_per_layer() {
    let (ann, test) = trained_mlp();
    let ev = evaluate_with(&ann, &test.head(20), 30, &ConvertOptions::default(), |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    // Analog input: no synapses into layer 1; layer 2 receives layer 1's spikes, 10 targets each.
    assert_eq!(ev.layers[0].synaptic_ops_per_image, 0.0);
    assert_eq!(
        ev.layers[1].synaptic_ops_per_image,
        ev.layers[0].spikes_per_image * 10.0
    );
    assert_eq!(
        ev.synaptic_ops_per_image,
        ev.layers[1].synaptic_ops_per_image
    );
    assert!(ev.layers[0].spikes_per_image > 0.0);
    let per_step = ev.layers[0].spikes_per_image / (48.0 * 30.0);
    assert!((ev.layers[0].spikes_per_neuron_per_step - per_step).abs() < 1e-12);
}

#[test]
fn poisson_evaluation_is_the_same_on_1_and_2_threads() {
    let (ann, _) = trained_mlp();
    let test = crate::common::mnist(Split::Test).head(600); // 3 chunks of 250
    let opts = ConvertOptions {
        input: InputCoding::Poisson,
        seed: 11,
        ..ConvertOptions::default()
    };
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                evaluate_with(&ann, &test, 20, &opts, |_| {
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap()
            })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn contradictory_or_out_of_range_options_are_refused() {
    let ann = one_neuron(0.5);
    let base = ConvertOptions::default();
    for (o, needle) in [
        (
            ConvertOptions {
                refractory_steps: 2,
                ..base.clone()
            },
            "refractory",
        ),
        (
            ConvertOptions {
                neuron: NeuronChoice::Lif { tau_mem_ms: 0.0 },
                ..base.clone()
            },
            "tau_mem_ms",
        ),
        (
            ConvertOptions {
                early_exit: Some(0),
                ..base.clone()
            },
            "early_exit",
        ),
        (
            ConvertOptions {
                percentile: 0.0,
                ..base.clone()
            },
            "percentile",
        ),
        (
            ConvertOptions {
                percentile: 100.5,
                ..base.clone()
            },
            "percentile",
        ),
    ] {
        let e = build_with(&ann, &o).err().expect("refused").to_string();
        assert!(e.contains(needle), "'{e}' should name '{needle}'");
    }
    let data = Dataset::new("one", vec![1.0], vec![0], [1, 1, 1], vec!["0".into()]).unwrap();
    let e = evaluate_with(&ann, &data, 0, &base, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("steps"), "{e}");
}

#[test]
fn izhikevich_neurons_fire_in_proportion_to_the_drive_and_convert_an_mlp() {
    use somnet::convert::calibrate::{izhikevich_gain, MAX_RATE};
    let izh = ConvertOptions {
        neuron: NeuronChoice::Izhikevich,
        reset: ResetChoice::Zero,
        ..ConvertOptions::default()
    };
    let g = izhikevich_gain().unwrap();
    // Regular spiking (Izhikevich 2003): rheobase near 3.8 in the model's units.
    assert!((3.5..4.0).contains(&g.rheobase), "{g:?}");
    // Drive 1 fires at the calibrated rate, drive ½ at about half of it (the f-I curve is concave:
    // the secant is exact only at its ends), drive 0 not at all.
    let steps = 3000;
    let rate = |a: f32| spikes(a, &izh, steps).len() as f64 / steps as f64;
    assert!(
        (rate(1.0) - MAX_RATE).abs() < 0.1 * MAX_RATE,
        "{}",
        rate(1.0)
    );
    assert!(
        (rate(0.5) - 0.5 * MAX_RATE).abs() < 0.25 * 0.5 * MAX_RATE,
        "{}",
        rate(0.5)
    );
    assert_eq!(rate(0.0), 0.0);
    // A converted MLP classifies with Izhikevich neurons given ten times the IF steps.
    let (ann, _) = trained_mlp();
    let test = crate::common::mnist(Split::Test).head(500);
    let ann_acc = ann.accuracy(&test).unwrap();
    let ev = evaluate_with(&ann, &test, 1000, &izh, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let acc = *ev.snn_accuracy_per_step.last().unwrap();
    assert!(
        acc >= ann_acc - 0.04,
        "Izhikevich SNN {acc} vs ANN {ann_acc}"
    );
    // Options it does not take are refused.
    for (o, needle) in [
        (
            ConvertOptions {
                neuron: NeuronChoice::Izhikevich,
                ..ConvertOptions::default()
            },
            "subtraction",
        ),
        (
            ConvertOptions {
                initial: InitialPotential::HalfThreshold,
                ..izh.clone()
            },
            "θ/2",
        ),
        (
            ConvertOptions {
                refractory_steps: 3,
                ..izh.clone()
            },
            "refractory",
        ),
    ] {
        let e = build_with(&ann, &o).err().expect("refused").to_string();
        assert!(e.contains("Izhikevich") && e.contains(needle), "{e}");
    }
}

#[test]
fn a_stopped_evaluation_keeps_the_finished_chunks() {
    let (ann, _) = trained_mlp();
    let test = crate::common::mnist(Split::Test).head(1000); // 4 chunks of 250
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // Stop after the first chunk: on one thread the others have not started.
    let ev = pool
        .install(|| {
            evaluate_with(&ann, &test, 10, &ConvertOptions::default(), |n| {
                // Asked with 0 before a chunk starts; stop once one has finished.
                if n > 0 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
        })
        .unwrap();
    assert!(ev.interrupted);
    assert_eq!(ev.images, 250);
    let first = evaluate_with(
        &ann,
        &test.head(250),
        10,
        &ConvertOptions::default(),
        |_| std::ops::ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(ev.snn_accuracy_per_step, first.snn_accuracy_per_step);
}
