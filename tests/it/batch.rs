//! Samples stepped together in lanes (`convert::batch`) give exactly the numbers of samples run
//! one at a time: per-step decisions, synaptic operations and spikes per layer, steps used.

use std::ops::ControlFlow;

use somnet::ann::Ann;
use somnet::convert::evaluate::{count_batched, Counts};
use somnet::convert::options::{ConvertOptions, InputCoding, Readout};
use somnet::convert::pipeline::convert;
use somnet::data::{Dataset, Split};

use crate::common;

/// `spec` trained briefly on 5 000 training images.
fn trained(spec: &str) -> Ann {
    let train = common::mnist(Split::Train).head(5000);
    common::train_quick(spec, 1, &train, None).0
}

fn counts_on(
    threads: usize,
    ann: &Ann,
    data: &Dataset,
    o: &ConvertOptions,
    batch: usize,
) -> Counts {
    // Poisson input needs more steps to reach the deeper layers.
    let steps = if o.input == InputCoding::Poisson {
        200
    } else {
        100
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        count_batched(ann, data, 3, steps, o, batch, |_| ControlFlow::Continue(())).unwrap()
    })
}

/// `ann` converted with `o`, on 300 test images (two chunks of samples, one of them partial):
/// batches of 7 and 64 on 1 and 2 threads against one sample at a time on 1 thread.
fn lanes_equal_one_at_a_time(name: &str, ann: &Ann, o: &ConvertOptions) {
    let test = common::mnist(Split::Test).head(300);
    let converted = convert(ann, &test.head(100), o).unwrap();
    let one = counts_on(1, &converted.ann, &test, o, 1);
    // The comparison means something only if every layer fires (the first takes the analog
    // input as a current: no synaptic operations; under membrane readout the output integrates
    // without firing).
    let firing = match o.readout {
        Readout::Membrane => &one.layer_spikes[..one.layer_spikes.len() - 1],
        _ => &one.layer_spikes[..],
    };
    assert!(
        firing.iter().all(|&s| s > 0) && one.layer_synaptic_ops[1..].iter().all(|&s| s > 0),
        "{name}: a silent layer ({:?})",
        one.layer_spikes
    );
    let correct = *one.correct_per_step.last().unwrap();
    assert!(correct > 150, "{name}: {correct} of 300 correct");
    for threads in [1, 2] {
        for batch in [7, 64] {
            let lanes = counts_on(threads, &converted.ann, &test, o, batch);
            assert_eq!(lanes, one, "{name}: batch {batch} on {threads} threads");
        }
    }
}

fn analog() -> ConvertOptions {
    ConvertOptions::default()
}

fn poisson_early_exit() -> ConvertOptions {
    ConvertOptions {
        input: InputCoding::Poisson,
        early_exit: Some(6),
        ..ConvertOptions::default()
    }
}

#[test]
fn mlp_lanes_give_the_one_sample_numbers() {
    let ann = trained("mlp:784-128-128-10");
    lanes_equal_one_at_a_time("mlp", &ann, &analog());
    lanes_equal_one_at_a_time("mlp", &ann, &poisson_early_exit());
}

#[test]
fn lenet_lanes_give_the_one_sample_numbers() {
    let ann = trained("c8k5-relu-ap2-c16k3-relu-ap2-flat-d10-out");
    lanes_equal_one_at_a_time("lenet", &ann, &analog());
    lanes_equal_one_at_a_time(
        "lenet",
        &ann,
        &ConvertOptions {
            readout: Readout::Membrane,
            early_exit: Some(4),
            ..poisson_early_exit()
        },
    );
}

#[test]
fn bn_cnn_lanes_give_the_one_sample_numbers() {
    let ann = trained("c8k3-bn-relu-mp2-c16k3s2same-bn-relu-mp2-flat-d32-bn-relu-d10-out");
    lanes_equal_one_at_a_time("bn-cnn", &ann, &analog());
    lanes_equal_one_at_a_time("bn-cnn", &ann, &poisson_early_exit());
}
