//! Offset-spike calibration (`convert::offset_spikes`, Hao et al., ICLR 2023) on a network small
//! enough to follow by hand, its accounting in evaluations, and the knobs it refuses.

use std::ops::ControlFlow;

use ndarray::{array, ArrayView1};
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
use somnet::convert::build::build_with;
use somnet::convert::evaluate::count_batched;
use somnet::convert::options::ConvertOptions;
use somnet::data::Dataset;
use somnet::network::StateVar;

/// x = 1 drives A at 0.8 and B at 0.35 of the threshold per step (analog input); C = A − 2·B.
/// The ANN's C is relu(0.8 − 0.7) = 0.1. (No potential lands on the threshold itself, where
/// rounding would decide.)
fn early_peak() -> Ann {
    Ann::new(
        vec![1],
        vec![
            (
                "h".into(),
                Layer::Dense(Dense {
                    weights: array![[0.8f32], [0.35]],
                    bias: None,
                }),
            ),
            ("h_relu".into(), Layer::Activation(Activation::Relu)),
            (
                "out".into(),
                Layer::Dense(Dense {
                    weights: array![[1.0f32, -2.0]],
                    bias: None,
                }),
            ),
            ("out_relu".into(), Layer::Activation(Activation::Relu)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap()
}

fn options(presteps: u32) -> ConvertOptions {
    let mut o = ConvertOptions::default();
    o.set("initial", "half").unwrap();
    o.set("offset-presteps", &presteps.to_string()).unwrap();
    o.validate().unwrap();
    o
}

/// The steps (0-based) at which C fires over `steps` steps after [`somnet::convert::build::SpikingModel::start`].
fn c_spikes(presteps: u32, steps: u64) -> (Vec<u64>, f32, (u64, u64)) {
    let mut m = build_with(&early_peak(), &options(presteps)).unwrap();
    let one = [1.0f32];
    m.start(ArrayView1::from(&one[..]), 0).unwrap();
    let c = m.output();
    let start = m.net.state(c, StateVar::V).unwrap()[0];
    let shifted = m.pre_run().shifted;
    let mut times = Vec::new();
    for t in 0..steps {
        m.step(0, t).unwrap();
        if !m.net.population(c).last_spikes().is_empty() {
            times.push(t);
        }
    }
    (times, start, shifted)
}

#[test]
fn an_early_excess_spike_is_taken_back_by_hand() {
    // From θ/2, A fires at steps 1, 2, 4, 5, 6, 7, 9 (0.5 + 0.8 t), B at steps 2, 5, 8.
    // C (+1 per A spike, −2 per B spike): 1.5 fires → 0.5, −0.5, −0.5, 0.5, −0.5, 0.5, 1.5 fires
    // → 0.5, −1.5, −0.5: two spikes in 9 steps where the ANN stands for 0.1 · 9 = 0.9.
    let (plain, start, shifted) = c_spikes(0, 9);
    assert_eq!(plain, vec![0, 6]);
    assert_eq!(start, 0.5);
    assert_eq!(shifted, (0, 0));
    // A pre-run of 2 steps ends C at −0.5 after one spike: it starts one threshold lower, at
    // −0.5, and fires once, at step 7. A (0.1) and B (0.2) end inside [0, 1): unchanged.
    let (calibrated, start, shifted) = c_spikes(2, 9);
    assert_eq!(start, -0.5);
    assert_eq!(shifted, (1, 0));
    assert_eq!(calibrated, vec![6]);
}

#[test]
fn a_flooded_neuron_starts_one_threshold_higher() {
    // Driven at 1.5 per step, a neuron fires every step and its potential climbs by 0.5 per
    // step: after 3 steps it holds 0.5 + 4.5 − 3 = 2.0 ≥ 1.
    let ann = Ann::new(
        vec![1],
        vec![
            (
                "d".into(),
                Layer::Dense(Dense {
                    weights: array![[1.5f32]],
                    bias: None,
                }),
            ),
            ("r".into(), Layer::Activation(Activation::Relu)),
        ],
        DropoutMode::Inverted,
    )
    .unwrap();
    let mut m = build_with(&ann, &options(3)).unwrap();
    m.start(ArrayView1::from(&[1.0f32][..]), 0).unwrap();
    assert_eq!(m.pre_run().shifted, (0, 1));
    assert_eq!(m.net.state(m.output(), StateVar::V).unwrap(), vec![1.5]);
}

#[test]
fn the_pre_run_counts_in_decisions_and_synaptic_operations() {
    let mut m = build_with(&early_peak(), &options(2)).unwrap();
    let run = m.run_sample(ArrayView1::from(&[1.0f32][..]), 0, 9).unwrap();
    // Two pre-run steps with no decision, then nine; C first fires at the run's step 7.
    assert_eq!(run.decisions.len(), 11);
    assert_eq!(&run.decisions[..8], &[None; 8]);
    assert_eq!(&run.decisions[8..], &[Some(0); 3]);
    assert_eq!(run.steps_used, 11);
    // One operation per spike of A or B (C is their only target; x reaches A and B as a
    // current). Pre-run: A; A, B. Run: A; A, B; –; A; A, B; A; A; B; A.
    assert_eq!(run.synaptic_ops, vec![1, 3, 4, 6, 6, 7, 9, 10, 11, 12, 13]);

    // An evaluation of the same sample: ρ + T per-step figures, the pre-run's included.
    let data = Dataset::new("one", vec![1.0], vec![0], [1, 1, 1], vec!["c".into()]).unwrap();
    let counts = count_batched(&early_peak(), &data, 0, 9, &options(2), 1, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        counts.correct_per_step,
        vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    );
    assert_eq!(counts.synaptic_ops_per_step, run.synaptic_ops);
    assert_eq!(counts.synaptic_ops, 13);
    // Spikes of h (A: 2 + 7, B: 1 + 3) and of C (1 + 1).
    assert_eq!(counts.layer_spikes, vec![13, 2]);
    assert_eq!(counts.steps_used, 11);
}

#[test]
fn offset_calibration_refuses_neurons_it_cannot_read() {
    for (key, value, named) in [
        ("reset", "zero", "reset to zero"),
        ("neuron", "lif", "leaky"),
        ("coding", "ttfs", "time-to-first-spike"),
    ] {
        let mut o = options(4);
        o.set(key, value).unwrap();
        if key == "coding" {
            o.set("initial", "zero").unwrap();
        }
        let err = o.validate().unwrap_err().to_string();
        assert!(
            err.contains("offset-spike calibration") && err.contains(named),
            "{key}={value}: {err}"
        );
    }
    let mut o = options(0);
    o.set("offset-presteps", "100000").unwrap();
    let err = o.validate().unwrap_err().to_string();
    assert!(
        err.contains("offset_presteps") && err.contains("65536"),
        "{err}"
    );
    assert!(o.set("offset-presteps", "-1").is_err());
    // The pre-run is not part of a network NIR can describe.
    let Err(err) = somnet::convert::to_nir::to_nir(&early_peak(), &options(4), &[]) else {
        panic!("NIR export of a network with an offset-spike pre-run was not refused");
    };
    let err = err.to_string();
    assert!(err.contains("offset-spike calibration"), "{err}");
}
