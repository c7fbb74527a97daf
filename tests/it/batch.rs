//! Samples stepped together in lanes (`convert::batch`) give exactly the numbers of samples run
//! one at a time: per-step decisions, synaptic operations and spikes per layer, steps used.

use std::ops::ControlFlow;

use somnet::ann::Ann;
use somnet::convert::evaluate::{count_batched, Counts};
use somnet::convert::options::{ConvertOptions, InputCoding, Readout};
use somnet::convert::pipeline::convert;
use somnet::data::{Dataset, Split};
use somnet::network::{
    Connection, Connector, Delay, Lockstep, Network, NetworkConfig, PopulationId, StateVar, Weights,
};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

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
    // Each lane's offset-spike pre-run steps that lane alone before it joins the others.
    lanes_equal_one_at_a_time(
        "mlp",
        &ann,
        &ConvertOptions {
            initial: somnet::convert::options::InitialPotential::HalfThreshold,
            offset_presteps: 4,
            ..poisson_early_exit()
        },
    );
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

/// A feed-forward network with many spikes per step and weights whose sums round: Poisson
/// sources → dense (delay 0) → 300 IF → dense (delay 1) → 40 IF.
fn dense_chain() -> (Network, [PopulationId; 2]) {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_poisson("src", 200, 150.0).unwrap();
    let if_neuron = || {
        NeuronModel::Iaf(IafParams {
            v_th_mv: 1.0,
            v_rest_mv: 0.0,
            reset: Reset::BySubtraction,
            t_ref_ms: 0.0,
        })
    };
    let a = net
        .add_population("a", 300, if_neuron(), vec![Port::Delta])
        .unwrap();
    let b = net
        .add_population("b", 40, if_neuron(), vec![Port::Delta])
        .unwrap();
    // Weights with full mantissas, both signs (a hash of the synapse index).
    let weights = |n: usize, scale: f32| -> Vec<f32> {
        (0..n as u64)
            .map(|k| {
                let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                (h as f32 / (1u64 << 24) as f32 - 0.35) * scale
            })
            .collect()
    };
    for (pre, post, n, scale, delay) in [(src, a, 200 * 300, 0.11, 0), (a, b, 300 * 40, 0.07, 1)] {
        net.connect(
            pre,
            post,
            Connection::new(Connector::AllToAll, Weights::Values(weights(n, scale)))
                .delay(Delay::Steps(delay)),
        )
        .unwrap();
    }
    (net, [a, b])
}

#[test]
fn lanes_give_every_membrane_bit_for_bit() {
    // Dense projections delivered event by event, as a spike-matrix product, and chosen by the
    // step's firing: the same bits.
    for (crossover, dense) in [(f64::INFINITY, false), (0.0, true), (0.02, true)] {
        lanes_match_alone(Lockstep::with_dense_crossover(crossover), dense);
    }
}

/// Five lanes at different steps (lane k ran k·3 steps alone first, so its Poisson draws differ)
/// against the same five networks stepped alone: every potential of every population, bit for
/// bit, and the spike digests, after every step; `dense`: whether any delivery took the
/// spike-matrix path.
fn lanes_match_alone(mut together: Lockstep, dense: bool) {
    let (base, pops) = dense_chain();
    let prepare = |k: usize| {
        let mut net = base.lane_copy().unwrap();
        net.run(3 * k as u64).unwrap();
        net
    };
    let mut lanes: Vec<Network> = (0..5).map(prepare).collect();
    let mut alone: Vec<Network> = (0..5).map(prepare).collect();
    let mut fired = 0;
    for step in 0..40 {
        together
            .step(&mut lanes.iter_mut().collect::<Vec<_>>())
            .unwrap();
        for (k, (lane, single)) in lanes.iter().zip(&mut alone).enumerate() {
            single.step();
            for &p in &pops {
                let bits = |n: &Network| -> Vec<u32> {
                    n.state(p, StateVar::V)
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect()
                };
                assert_eq!(bits(lane), bits(single), "lane {k}, step {step}, {p:?}");
                fired += lane.population(p).last_spikes().len();
            }
            assert_eq!(
                lane.spike_digest(),
                single.spike_digest(),
                "lane {k}, step {step}"
            );
        }
    }
    assert!(
        fired > 5 * 40 * 10,
        "too few spikes to test the order of sums: {fired}"
    );
    let (events, products) = together.dense_paths();
    assert_eq!(
        products > 0,
        dense,
        "{events} event steps, {products} products"
    );
    assert!(dense || events > 0);
}
