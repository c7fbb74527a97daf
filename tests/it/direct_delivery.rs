//! Direct delivery (`somnet::network` module docs, "Direct delivery"): a one-step projection into
//! a port of an IF or LIF population that updates no later than its source adds into the port's
//! variable instead of a delay ring. The reference is the ring: the same network built in the two
//! population orders sends each cross projection directly in one order and through the ring in
//! the other, and must spike identically; a recording shows the input at the documented step.

use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, StateVar, Weights,
};
use somnet::neuron::{IafParams, LifParams, NeuronModel, Port, Reset};

const N: u32 = 40;
const DT_MS: f64 = 0.1;

fn lif() -> NeuronModel {
    NeuronModel::Lif(LifParams {
        tau_mem_ms: 20.0,
        v_rest_mv: -60.0,
        v_th_mv: -50.0,
        reset: Reset::ToValue { v_reset_mv: -60.0 },
        t_ref_ms: 2.0,
    })
}

/// The three IF/LIF steps that read port rings: LIF with two current ports (the fused pass),
/// LIF with two conductance ports, IF with two current ports (the general pass). Each: the
/// model, its ports (delta first) and the (excitatory, inhibitory) weights.
fn variants() -> Vec<(&'static str, NeuronModel, Vec<Port>, f32, f32)> {
    let current = |tau_e, tau_i| {
        vec![
            Port::Delta,
            Port::Exponential { tau_ms: tau_e },
            Port::Exponential { tau_ms: tau_i },
        ]
    };
    // COBA's ports: excitatory (τ 5 ms, E 0 mV) and inhibitory (τ 10 ms, E −80 mV).
    let conductance = [vec![Port::Delta], somnet::benchmarks::coba::ports()].concat();
    let iaf = NeuronModel::Iaf(IafParams {
        v_th_mv: 10.0,
        v_rest_mv: 0.0,
        reset: Reset::ToValue { v_reset_mv: 0.0 },
        t_ref_ms: 1.0,
    });
    vec![
        ("lif current", lif(), current(5.0, 10.0), 2.0, -3.0),
        ("lif conductance", lif(), conductance, 0.5, 1.0),
        ("if current", iaf, current(5.0, 10.0), 0.2, -0.3),
    ]
}

/// An input of N Poisson neurons (first in the schedule) drives two populations A and B, which
/// excite (port 1) and inhibit (port 2) themselves and each other, every target neuron getting at
/// most one input per port and step (so ring and direct sums round alike). `a_first` sets the
/// order of A and B. Returns the network and A, B.
fn build(
    a_first: bool,
    model: &NeuronModel,
    ports: &[Port],
    w_e: f32,
    w_i: f32,
) -> (Network, PopulationId, PopulationId) {
    let mut net = Network::new(NetworkConfig {
        dt_ms: DT_MS,
        seed: 7,
        max_delay_ms: 1.0,
    })
    .unwrap();
    let input = net.add_poisson("input", N as usize, 300.0).unwrap();
    let add = |net: &mut Network, name: &str| {
        net.add_population(name, N as usize, model.clone(), ports.to_vec())
            .unwrap()
    };
    let (a, b) = if a_first {
        let a = add(&mut net, "a");
        (a, add(&mut net, "b"))
    } else {
        let b = add(&mut net, "b");
        (add(&mut net, "a"), b)
    };
    let shifted = |k: u32| Connector::List((0..N).map(|i| (i, (i + k) % N)).collect());
    let link = |net: &mut Network, pre, post, conn: Connector, port, w| {
        net.connect(
            pre,
            post,
            Connection::new(conn, Weights::Constant(w))
                .port(port)
                .delay(Delay::Ms(DT_MS)),
        )
        .unwrap();
    };
    let kick = if matches!(model, NeuronModel::Iaf(_)) {
        4.0
    } else {
        4.5
    };
    link(&mut net, input, a, shifted(0), 0, kick);
    link(&mut net, input, b, shifted(5), 0, kick);
    link(&mut net, a, a, shifted(1), 1, w_e);
    link(&mut net, a, b, shifted(2), 1, w_e);
    link(&mut net, b, a, shifted(3), 2, w_i);
    link(&mut net, b, b, shifted(4), 2, w_i);
    (net, a, b)
}

#[test]
fn a_network_spikes_alike_whichever_projections_go_direct() {
    for (name, model, ports, w_e, w_i) in variants() {
        let mut runs = Vec::new();
        for a_first in [true, false] {
            let (mut net, a, b) = build(a_first, &model, &ports, w_e, w_i);
            // Recurrent projections always go direct; of the cross ones, the one into the
            // population earlier in the schedule.
            let direct: Vec<bool> = net
                .projections()
                .iter()
                .map(|p| p.delivers_direct())
                .collect();
            let want = [false, false, true, !a_first, a_first, true];
            assert_eq!(direct, want, "{name}, A first: {a_first}");
            let (sa, sb) = (
                net.monitor_spikes(a, None).unwrap(),
                net.monitor_spikes(b, None).unwrap(),
            );
            net.run(3000).unwrap();
            let (ea, eb) = (
                net.spike_monitor(sa).events.clone(),
                net.spike_monitor(sb).events.clone(),
            );
            runs.push((ea, eb));
        }
        let (ea, eb) = &runs[0];
        // Enough activity that the inputs between A and B shape the spikes.
        assert!(
            ea.len() > 500 && eb.len() > 500,
            "{name}: {} and {} spikes",
            ea.len(),
            eb.len()
        );
        assert!(runs[0] == runs[1], "{name}: the two orders differ");
    }
}

#[test]
fn a_recording_holds_a_direct_input_from_the_step_of_the_spike() {
    // Neuron 0 is kicked over threshold by a source spike; its one-step projection onto neuron 1
    // (port 1, τ = 5 ms) is recurrent, so direct: the variable recorded at the spike's step holds
    // the weight, decaying by e^(−dt/τ) a step from the next, and the membrane feels it from the
    // next step on, as through a ring.
    let mut net = Network::new(NetworkConfig {
        dt_ms: DT_MS,
        seed: 1,
        max_delay_ms: 1.0,
    })
    .unwrap();
    let ports = vec![Port::Delta, Port::Exponential { tau_ms: 5.0 }];
    let pop = net.add_population("pop", 2, lif(), ports).unwrap();
    let src = net.add_spike_source("src", &[vec![1.0]]).unwrap();
    let conn = |list: Vec<(u32, u32)>, w: f32, port: usize| {
        Connection::new(Connector::List(list), Weights::Constant(w))
            .port(port)
            .delay(Delay::Ms(DT_MS))
    };
    net.connect(src, pop, conn(vec![(0, 0)], 20.0, 0)).unwrap();
    let p = net.connect(pop, pop, conn(vec![(0, 1)], 3.0, 1)).unwrap();
    assert!(net.projection(p).delivers_direct());
    let fired = net.monitor_spikes(pop, None).unwrap();
    let syn = net
        .monitor_state(pop, StateVar::Syn(0), vec![1], 1)
        .unwrap();
    let v = net.monitor_state(pop, StateVar::V, vec![1], 1).unwrap();
    net.run(40).unwrap();
    // The source spikes at step 10; its kick lands at step 11, when neuron 0 fires.
    assert_eq!(net.spike_monitor(fired).events, vec![(11, 0)]);
    let (syn, v) = (
        net.state_monitor(syn).trace(0),
        net.state_monitor(v).trace(0),
    );
    let decay = (-(DT_MS as f32) / 5.0).exp();
    for (k, &x) in syn.iter().enumerate() {
        let want = if k < 11 {
            0.0
        } else {
            3.0 * decay.powi(k as i32 - 11)
        };
        assert!(
            (x - want).abs() < 1e-5,
            "step {k}: syn {x}, expected {want}"
        );
    }
    assert!(v[..12].iter().all(|&x| x == -60.0), "{:?}", &v[..13]);
    assert!(
        v[12] > -60.0,
        "the input reaches the membrane at step 12: {}",
        v[12]
    );
}
