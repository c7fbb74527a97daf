//! Flag delivery: pooling projections read from their pre population's firing flags give the
//! bits of spike-by-spike delivery.

use crate::common::integrator;

use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, StateVar, Weights,
};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

/// A 2×2, stride-2 pooling of a channels-last (c, h, w) image, windows cut short at an odd
/// edge: one synapse per pre neuron, with distinct weights of mixed magnitude so that the order
/// of the additions shows in the bits.
fn pooling(c: usize, h: usize, w: usize) -> (Vec<(u32, u32)>, Vec<f32>, usize) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    let mut syn = Vec::new();
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let pre = ((y * w + x) * c + ch) as u32;
                let post = (((y / 2) * ow + x / 2) * c + ch) as u32;
                let wt = ((pre as usize * 7919) % 1009) as f32 / 13.0 - 38.0 + 1e-3 * ch as f32;
                syn.push(((pre, post), wt));
            }
        }
    }
    syn.sort_by_key(|s| s.0);
    let (pairs, weights) = syn.into_iter().unzip();
    (pairs, weights, c * oh * ow)
}

/// An integrating population of `n` neurons fed from `src` by `pairs` (delay 1).
fn pool_into(
    net: &mut Network,
    src: PopulationId,
    n: usize,
    pairs: Vec<(u32, u32)>,
    w: Weights,
) -> PopulationId {
    let pool = net
        .add_population("pool", n, integrator(), vec![Port::Delta])
        .unwrap();
    net.connect(
        src,
        pool,
        Connection::new(Connector::List(pairs), w).delay(Delay::Steps(1)),
    )
    .unwrap();
    pool
}

#[derive(Clone, Copy, PartialEq)]
enum Source {
    /// IF neurons under constant currents (a model that writes every flag).
    Integrate,
    /// Poisson sources (a model that gives a list).
    Poisson,
}

/// Per step: the pool's potentials and the source's spikes; then the events, the rate monitor's
/// counts, the source's spike count and how many deliveries read flags.
type Record = (Vec<Vec<u32>>, Vec<Vec<u32>>, u64, Vec<u32>, u64, u64);

fn run(source: Source, (c, h, w): (usize, usize, usize), flags: bool, list_reader: bool) -> Record {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 7,
        ..Default::default()
    })
    .unwrap();
    net.set_spike_digest(false);
    net.set_flag_delivery(flags);
    let n = c * h * w;
    let src: PopulationId = match source {
        Source::Integrate => {
            let model = NeuronModel::Iaf(IafParams {
                v_th_mv: 1.0,
                v_rest_mv: 0.0,
                reset: Reset::BySubtraction,
                t_ref_ms: 0.0,
            });
            let src = net
                .add_population("src", n, model, vec![Port::Delta])
                .unwrap();
            // Firing fractions from 0 to 45 % per step, so that the flag path switches on and
            // off with the firing of the step before.
            let drive: Vec<f32> = (0..n).map(|i| ((i * 37) % 100) as f32 * 0.0045).collect();
            net.set_constant_currents(src, &drive).unwrap();
            src
        }
        Source::Poisson => net.add_poisson("src", n, 150.0).unwrap(),
    };
    let (pairs, weights, n_out) = pooling(c, h, w);
    let pool = pool_into(&mut net, src, n_out, pairs, Weights::Values(weights));
    if list_reader {
        // A projection that reads the spike list: the source then keeps both.
        let other = net
            .add_population("other", 3, integrator(), vec![Port::Delta])
            .unwrap();
        net.connect(
            src,
            other,
            Connection::new(Connector::AllToAll, Weights::Constant(0.5)).delay(Delay::Steps(1)),
        )
        .unwrap();
    }
    let rates = net.monitor_rate(src).unwrap();
    let (mut v, mut spikes) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        net.step();
        let state = net.state(pool, StateVar::V).unwrap();
        v.push(state.iter().map(|x| x.to_bits()).collect());
        spikes.push(net.population(src).last_spikes().to_vec());
    }
    let counts = net.rate_monitor(rates).counts.clone();
    let total = net.population(src).spike_count();
    (
        v,
        spikes,
        net.n_events(),
        counts,
        total,
        net.flag_deliveries(),
    )
}

#[test]
fn pooling_read_from_flags_gives_the_bits_of_spike_delivery() {
    // 16 channels (whole vectors), 20 (a remainder of 4), even sizes (every window of four
    // taps at the same offsets: the uniform path) and odd ones (edge windows of one and two taps
    // among those of four), a pool in one block and one in two (runs cut at the block edge:
    // neither block holds a whole number of 20-channel positions), and both kinds of source
    // model, with and without another projection that needs the list.
    for (shape, source, list_reader) in [
        ((16, 8, 8), Source::Integrate, false),
        ((20, 8, 6), Source::Integrate, false),
        ((48, 6, 10), Source::Integrate, false),
        ((16, 9, 9), Source::Integrate, false),
        ((20, 9, 7), Source::Integrate, false),
        ((20, 30, 30), Source::Integrate, false),
        ((16, 8, 8), Source::Poisson, false),
        ((20, 30, 30), Source::Integrate, true),
        ((16, 8, 8), Source::Poisson, true),
    ] {
        let by_list = run(source, shape, false, list_reader);
        let by_flags = run(source, shape, true, list_reader);
        assert_eq!(by_list.5, 0, "flag delivery switched off");
        assert!(
            by_flags.5 > 20,
            "{shape:?}: the flag path ran in {} of 40 steps",
            by_flags.5
        );
        assert!(by_list.0.iter().flatten().any(|&b| b != 0));
        for (t, (a, b)) in by_list.0.iter().zip(&by_flags.0).enumerate() {
            assert!(a == b, "{shape:?}: pool potentials differ at step {t}");
        }
        assert_eq!(by_list.1, by_flags.1, "{shape:?}: last_spikes");
        assert_eq!(by_list.2, by_flags.2, "{shape:?}: events");
        assert_eq!(by_list.3, by_flags.3, "{shape:?}: rate monitor");
        assert_eq!(by_list.4, by_flags.4, "{shape:?}: spike count");
    }
}

#[test]
fn channels_first_pooling_and_spike_monitors_keep_the_list() {
    // Channels-first numbering makes runs of one target (too short to read flags), and a spike
    // monitor on the source needs its list: neither reads flags, and the numbers stand.
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        ..Default::default()
    })
    .unwrap();
    net.set_spike_digest(false);
    let (c, h, w) = (4, 8, 8);
    let src = net.add_poisson("src", c * h * w, 300.0).unwrap();
    let pairs: Vec<(u32, u32)> = (0..c * h * w)
        .map(|i| {
            let (ch, y, x) = (i / (h * w), i % (h * w) / w, i % w);
            (i as u32, (ch * 16 + (y / 2) * 4 + x / 2) as u32)
        })
        .collect();
    pool_into(&mut net, src, c * 16, pairs, Weights::Constant(0.25));
    net.run(20).unwrap();
    assert_eq!(net.flag_deliveries(), 0);

    let mut net = Network::new(NetworkConfig::default()).unwrap();
    net.set_spike_digest(false);
    let src = net.add_poisson("src", 16 * 4 * 4, 300.0).unwrap();
    let (pairs, weights, n_out) = pooling(16, 4, 4);
    pool_into(&mut net, src, n_out, pairs, Weights::Values(weights));
    let m = net.monitor_spikes(src, None).unwrap();
    net.run(20).unwrap();
    // The list is built (the monitor has every spike) while the pool reads flags.
    assert_eq!(
        net.spike_monitor(m).events.len() as u64,
        net.population(src).spike_count()
    );
    assert!(net.flag_deliveries() > 0);
}
