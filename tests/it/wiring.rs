//! Hand-built networks whose target input reveals which neuron fired and with which delay.

use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, StateVar, Weights};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

fn integrator() -> NeuronModel {
    // Never fires: its potential is the running sum of its input.
    NeuronModel::Iaf(IafParams {
        v_th_mv: 1e9,
        v_rest_mv: 0.0,
        reset: Reset::BySubtraction,
        t_ref_ms: 0.0,
    })
}

#[test]
fn binary_weights_decode_sender_and_delay() {
    // Source i fires at step 3i + 1 and reaches the target with a delay of (i mod 4) + 1 steps
    // through a synapse of weight 2^i. Each step's increase of the target's potential is the sum of
    // 2^i over the spikes arriving in that step, so its bits name the senders.
    let n = 12usize;
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let fire_step = |i: usize| 3 * i as u64 + 1;
    let delay = |i: usize| (i % 4) as u64 + 1;
    let src = net
        .add_spike_source(
            "src",
            &(0..n)
                .map(|i| vec![fire_step(i) as f64])
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let tgt = net
        .add_population("target", 1, integrator(), vec![Port::Delta])
        .unwrap();
    let pairs: Vec<(u32, u32)> = (0..n as u32).map(|i| (i, 0)).collect();
    let weights = Weights::Values((0..n).map(|i| (1u32 << i) as f32).collect());
    let delays = Delay::ValuesMs((0..n).map(|i| delay(i) as f64).collect());
    net.connect(
        src,
        tgt,
        Connection::new(Connector::List(pairs), weights).delay(delays),
    )
    .unwrap();
    let m = net.monitor_state(tgt, StateVar::V, vec![0], 1).unwrap();
    net.run(60).unwrap();
    let v = net.state_monitor(m).trace(0);
    let mut arrivals = Vec::new();
    for t in 0..v.len() {
        let before = if t == 0 { 0.0 } else { v[t - 1] };
        let bits = (v[t] - before) as u32;
        for i in 0..n {
            if bits & (1 << i) != 0 {
                arrivals.push((i, t as u64));
            }
        }
    }
    arrivals.sort();
    let expected: Vec<(usize, u64)> = (0..n).map(|i| (i, fire_step(i) + delay(i))).collect();
    assert_eq!(arrivals, expected);
}

#[test]
fn zero_delay_crosses_a_feed_forward_chain_in_one_step() {
    // src → a → b → c with delay 0 and weights that make each layer fire on one input spike:
    // all four spike in the same step (the schedule of `somnet::network`).
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_spike_source("src", &[vec![5.0]]).unwrap();
    let mut prev = src;
    let mut monitors = Vec::new();
    for name in ["a", "b", "c"] {
        let pop = net
            .add_population(
                name,
                1,
                NeuronModel::Iaf(IafParams::default()),
                vec![Port::Delta],
            )
            .unwrap();
        net.connect(
            prev,
            pop,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::Steps(0)),
        )
        .unwrap();
        monitors.push(net.monitor_spikes(pop, None).unwrap());
        prev = pop;
    }
    net.run(10).unwrap();
    for m in monitors {
        assert_eq!(net.spike_monitor(m).events, vec![(5, 0)]);
    }
}

#[test]
fn ranges_route_spikes_to_the_right_neurons_and_ports() {
    // Neurons 2..4 of the source project onto neurons 5..7 of the target's exponential port 1,
    // one-to-one; the others stay silent at the target.
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let src = net
        .add_spike_source("src", &(0..6).map(|_| vec![0.0]).collect::<Vec<_>>())
        .unwrap();
    let ports = vec![
        Port::Delta,
        Port::Exponential { tau_ms: 1.0 },
        Port::Exponential { tau_ms: 2.0 },
    ];
    let tgt = net.add_population("t", 10, integrator(), ports).unwrap();
    let list = Connector::List(vec![(0, 0), (1, 1)]);
    net.connect(
        src.range(2..4),
        tgt.range(5..7),
        Connection::new(list, Weights::Values(vec![3.0, 4.0])).port(2),
    )
    .unwrap();
    net.run(2).unwrap();
    let syn = net.state(tgt, StateVar::Syn(1)).unwrap();
    let decay = (-1.0f32 / 2.0).exp();
    for (j, &x) in syn.iter().enumerate() {
        let expected = match j {
            5 => 3.0 * decay,
            6 => 4.0 * decay,
            _ => 0.0,
        };
        assert!((x - expected).abs() < 1e-6, "neuron {j}: {x} vs {expected}");
    }
    assert!(
        net.state(tgt, StateVar::Syn(0))
            .unwrap()
            .iter()
            .all(|&x| x == 0.0),
        "port 1 untouched"
    );
    assert_eq!(net.projections()[0].events(), 2);
}

#[test]
fn synaptic_event_counter_is_spikes_times_out_degree() {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 9,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_poisson("src", 200, 100.0).unwrap();
    let tgt = net
        .add_population("t", 300, integrator(), vec![Port::Delta])
        .unwrap();
    let proj = net
        .connect(
            src,
            tgt,
            Connection::new(Connector::FixedProbability(0.1), Weights::Constant(1.0)),
        )
        .unwrap();
    let m = net.monitor_spikes(src, None).unwrap();
    net.run(50).unwrap();
    let syn = net.projection(proj).synapses();
    let mut degree = vec![0u64; 200];
    for s in &syn {
        degree[s.0 as usize] += 1;
    }
    let by_hand: u64 = net
        .spike_monitor(m)
        .events
        .iter()
        .map(|&(_, i)| degree[i as usize])
        .sum();
    assert!(by_hand > 0);
    assert_eq!(net.projection(proj).events(), by_hand);
}

#[test]
fn connectors_have_the_stated_statistics() {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let a = net
        .add_population("a", 2000, integrator(), vec![Port::Delta])
        .unwrap();
    let b = net
        .add_population("b", 1500, integrator(), vec![Port::Delta])
        .unwrap();
    let w = Weights::Constant(1.0);
    let fp = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedProbability(0.05), w.clone()),
        )
        .unwrap();
    let fi = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedInDegree(37), w.clone()),
        )
        .unwrap();
    let ft = net
        .connect(
            a,
            b,
            Connection::new(Connector::FixedTotalNumber(12345), w.clone()),
        )
        .unwrap();
    let aa = net
        .connect(b, a, Connection::new(Connector::AllToAll, w.clone()))
        .unwrap();
    let na = net
        .connect(
            a,
            a,
            Connection::new(Connector::FixedProbability(0.5), w).no_autapses(),
        )
        .unwrap();
    // Binomial(3·10⁶, 0.05): mean 150 000, sd ≈ 377; 5 sd.
    let n_fp = net.projection(fp).n_synapses() as f64;
    assert!((n_fp - 150_000.0).abs() < 5.0 * 377.0, "{n_fp}");
    let mut indeg = vec![0u32; 1500];
    for s in net.projection(fi).synapses() {
        indeg[s.1 as usize] += 1;
    }
    assert!(indeg.iter().all(|&d| d == 37));
    assert_eq!(net.projection(ft).n_synapses(), 12345);
    assert_eq!(net.projection(aa).n_synapses(), 1500 * 2000);
    assert!(
        net.projection(na).synapses().iter().all(|s| s.0 != s.1),
        "no autapses"
    );
    // Rows are sorted by post and every index is in range.
    for s in net.projection(fp).synapses() {
        assert!(s.0 < 2000 && s.1 < 1500);
    }
}
