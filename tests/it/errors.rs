//! Bad input gets a clear error naming the field, never a panic.

use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, NoiseCurrent, StateVar, Weights,
};
use somnet::neuron::{IafParams, IzhikevichParams, LifParams, NeuronModel, Port, Reset};
use somnet::Error;

fn net() -> Network {
    Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed: 0,
        max_delay_ms: 2.0,
    })
    .unwrap()
}

fn lif() -> NeuronModel {
    NeuronModel::Lif(LifParams::default())
}

fn msg(e: &Error) -> String {
    e.to_string()
}

#[test]
fn non_positive_dt_and_tau_are_refused() {
    for dt in [0.0, -0.1, f64::NAN] {
        let e = Network::new(NetworkConfig {
            dt_ms: dt,
            ..Default::default()
        })
        .unwrap_err();
        assert!(msg(&e).contains("dt_ms"), "dt {dt}");
    }
    for tau in [0.0, -1.0, f32::NAN] {
        let e = net()
            .add_population(
                "p",
                3,
                NeuronModel::Lif(LifParams {
                    tau_mem_ms: tau,
                    ..LifParams::default()
                }),
                vec![],
            )
            .unwrap_err();
        assert!(msg(&e).contains("lif.tau_mem_ms"), "tau {tau}");
        let e = net()
            .add_population("p", 3, lif(), vec![Port::Exponential { tau_ms: tau }])
            .unwrap_err();
        assert!(msg(&e).contains("tau_ms"), "port tau {tau}");
    }
}

#[test]
fn reset_not_below_threshold_is_refused() {
    let bad = LifParams {
        reset: Reset::ToValue { v_reset_mv: -50.0 },
        ..LifParams::default()
    };
    let e = net()
        .add_population("p", 3, NeuronModel::Lif(bad), vec![])
        .unwrap_err();
    assert!(matches!(e, Error::ResetNotBelowThreshold { .. }), "{e}");
    assert!(msg(&e).contains("v_reset_mv = -50 must be below v_th_mv = -50"));
    let bad = IafParams {
        reset: Reset::ToValue { v_reset_mv: 2.0 },
        ..IafParams::default()
    };
    assert!(net()
        .add_population("p", 3, NeuronModel::Iaf(bad), vec![])
        .is_err());
    let bad = IzhikevichParams::new(0.02, 0.2, 35.0, 8.0);
    assert!(matches!(
        net()
            .add_population("p", 3, NeuronModel::Izhikevich(bad), vec![])
            .unwrap_err(),
        Error::ResetNotBelowThreshold { .. }
    ));
}

#[test]
fn nan_parameters_are_refused() {
    let e = net()
        .add_population(
            "p",
            3,
            NeuronModel::Lif(LifParams {
                v_th_mv: f32::NAN,
                ..LifParams::default()
            }),
            vec![],
        )
        .unwrap_err();
    assert!(msg(&e).contains("lif.v_th_mv"));
    let mut izh = IzhikevichParams::new(0.02, 0.2, -65.0, 8.0);
    izh.a = vec![0.02, f32::NAN, 0.02];
    let e = net()
        .add_population("p", 3, NeuronModel::Izhikevich(izh), vec![])
        .unwrap_err();
    assert!(msg(&e).contains("izhikevich.a[1]"), "{e}");
    let mut n = net();
    let p = n.add_population("p", 3, lif(), vec![Port::Delta]).unwrap();
    assert!(msg(&n.set_v(p, &[0.0, f32::NAN, 0.0]).unwrap_err()).contains("[1]"));
    assert!(n
        .set_noise(
            p,
            NoiseCurrent {
                mean: 0.0,
                std: -1.0
            }
        )
        .is_err());
    let e = n
        .connect(
            p,
            p,
            Connection::new(Connector::AllToAll, Weights::Values(vec![f32::NAN; 9])),
        )
        .unwrap_err();
    assert!(msg(&e).contains("weights[0]"), "{e}");
}

#[test]
fn zero_sized_populations_are_refused() {
    let e = net().add_population("empty", 0, lif(), vec![]).unwrap_err();
    assert_eq!(msg(&e), "population 'empty' has zero neurons");
    assert!(net().add_poisson("e", 0, 10.0).is_err());
    assert!(net().add_spike_source("e", &[]).is_err());
}

#[test]
fn delays_must_be_whole_steps_and_fit_the_buffer() {
    let mut n = net();
    let p = n.add_population("p", 3, lif(), vec![Port::Delta]).unwrap();
    let e = n
        .connect(
            p,
            p,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::Ms(0.25)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NotWholeSteps { .. }), "{e}");
    let e = n
        .connect(
            p,
            p,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::Ms(5.0)),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::DelayTooLong {
                delay_steps: 50,
                max_steps: 20,
                ..
            }
        ),
        "{e}"
    );
    let e = n
        .connect(
            p,
            p,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::Steps(0)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::ZeroDelayBackward { .. }), "{e}");
    let e = n
        .connect(
            p,
            p,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).delay(Delay::UniformMs {
                low_ms: 0.33,
                high_ms: 0.38,
            }),
        )
        .unwrap_err();
    assert!(msg(&e).contains("delay range"));
    // Per-synapse delays and listed spike times name their field (built once per projection or
    // neuron, not per value).
    let e = n
        .connect(
            p,
            p,
            Connection::new(
                Connector::List(vec![(0, 1), (1, 2)]),
                Weights::Constant(1.0),
            )
            .delay(Delay::ValuesMs(vec![1.0, 0.25]))
            .named("q"),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NotWholeSteps { .. }), "{e}");
    assert!(msg(&e).contains("projection q: delay"), "{e}");
    let e = n
        .add_spike_source("s", &[vec![1.0], vec![2.0, 0.05]])
        .unwrap_err();
    assert!(matches!(e, Error::NotWholeSteps { .. }));
    assert!(msg(&e).contains("s: spike time of neuron 1"), "{e}");
}

#[test]
fn probabilities_outside_0_1_are_refused() {
    for p in [-0.1, 1.5, f64::NAN] {
        let mut n = net();
        let a = n.add_population("a", 3, lif(), vec![Port::Delta]).unwrap();
        let e = n
            .connect(
                a,
                a,
                Connection::new(Connector::FixedProbability(p), Weights::Constant(1.0)),
            )
            .unwrap_err();
        assert!(msg(&e).contains("connection probability"), "p {p}");
    }
    // A Poisson rate whose per-step probability exceeds 1.
    assert!(msg(&net().add_poisson("src", 3, 20_000.0).unwrap_err()).contains("rate_hz"));
}

#[test]
fn indices_out_of_range_are_refused() {
    let mut n = net();
    let a = n.add_population("a", 3, lif(), vec![Port::Delta]).unwrap();
    let e = n
        .connect(
            a,
            a,
            Connection::new(Connector::List(vec![(0, 3)]), Weights::Constant(1.0)),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                index: 3,
                len: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = n
        .connect(
            a.range(1..5),
            a,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
    let e = n
        .connect(
            a,
            a,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0)).port(1),
        )
        .unwrap_err();
    assert!(msg(&e).contains("receptor port"), "{e}");
    assert!(n.monitor_state(a, StateVar::V, vec![7], 1).is_err());
    assert!(
        n.monitor_state(a, StateVar::U, vec![0], 1).is_err(),
        "LIF has no u"
    );
    assert!(n.monitor_spikes(a, Some(vec![3])).is_err());
    assert!(n
        .connect(
            somnet::network::PopulationId(9),
            a,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0))
        )
        .is_err());
    let e = n
        .connect(
            a,
            a,
            Connection::new(Connector::AllToAll, Weights::Values(vec![1.0; 4])),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::SizeMismatch {
                expected: 9,
                got: 4,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn sources_take_no_input_and_networks_are_built_before_running() {
    let mut n = net();
    let s = n.add_poisson("s", 3, 10.0).unwrap();
    let a = n.add_population("a", 3, lif(), vec![Port::Delta]).unwrap();
    assert!(n
        .connect(
            a,
            s,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0))
        )
        .is_err());
    assert!(n.set_current(s, 1.0).is_err());
    n.run(1).unwrap();
    assert!(n.add_population("late", 3, lif(), vec![]).is_err());
    assert!(n
        .connect(
            s,
            a,
            Connection::new(Connector::AllToAll, Weights::Constant(1.0))
        )
        .is_err());
}

#[test]
fn a_spike_timing_rule_refuses_a_delay_past_16_bits() {
    // A layout handed to `attach` directly (the network caps its delays at 16 bits, a caller of
    // the public trait need not): accumulated STDP keeps delays in 16 bits and must say so,
    // naming the projection, rather than wrap the delay.
    use somnet::network::plasticity::{
        AccumulatedStdp, AccumulatedStdpParams, Delays, LayoutSynapses, Plasticity, SynapseLayout,
    };
    let (row_ptr, post, weights) = (vec![0u64, 1], vec![0u32], vec![1.0f32]);
    let layout = SynapseLayout {
        projection: "far",
        n_pre: 1,
        n_post: 1,
        dt_ms: 1.0,
        pre_lag_steps: 0,
        synapses: LayoutSynapses::Sparse {
            row_ptr: &row_ptr,
            post: &post,
            weights: &weights,
            delays: Delays::Uniform(70_000),
        },
    };
    let mut rule = AccumulatedStdp::new(AccumulatedStdpParams::default()).unwrap();
    let msg = rule.attach(&layout).unwrap_err().to_string();
    assert!(
        msg.contains("projection far") && msg.contains("70000 steps") && msg.contains("65535"),
        "{msg}"
    );
}
