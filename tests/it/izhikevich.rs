//! Izhikevich numerics and heterogeneity against hand computation.

use somnet::network::{Network, NetworkConfig, StateVar};
use somnet::neuron::{IntegrationScheme, IzhikevichParams, NeuronModel};

fn one_step(scheme: IntegrationScheme, v0: f32, u0: f32, i: f32) -> (f32, f32) {
    let mut p = IzhikevichParams::new(0.02, 0.2, -65.0, 8.0);
    p.scheme = scheme;
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let pop = net
        .add_population("p", 1, NeuronModel::Izhikevich(p), vec![])
        .unwrap();
    net.set_state(pop, StateVar::V, &[v0]).unwrap();
    net.set_state(pop, StateVar::U, &[u0]).unwrap();
    net.set_current(pop, i).unwrap();
    net.run(1).unwrap();
    (
        net.state(pop, StateVar::V).unwrap()[0],
        net.state(pop, StateVar::U).unwrap()[0],
    )
}

#[test]
fn published_2003_takes_two_half_steps_for_v_then_u() {
    // v = −65, u = −13, I = 10: f(v) = 0.04·4225 − 325 + 140 + 13 + 10 = 7;
    // v1 = −65 + 3.5 = −61.5; f(v1) = 151.29 − 307.5 + 140 + 13 + 10 = 6.79 → v2 = −61.5 + 3.395 = −58.105;
    // u = −13 + 0.02·(0.2·(−58.105) + 13) = −13 + 0.02·1.379 = −12.97242.
    let (v, u) = one_step(IntegrationScheme::Published2003, -65.0, -13.0, 10.0);
    assert!((v - -58.105).abs() < 1e-4, "v {v}");
    assert!((u - -12.97242).abs() < 1e-5, "u {u}");
    // Euler: v = −65 + 7 = −58; u = −13 + 0.02·(0.2·(−58) + 13) = −12.972.
    let (v, u) = one_step(IntegrationScheme::Euler, -65.0, -13.0, 10.0);
    assert!((v - -58.0).abs() < 1e-4, "v {v}");
    assert!((u - -12.972).abs() < 1e-5, "u {u}");
}

#[test]
fn spike_resets_each_neuron_with_its_own_c_and_d() {
    // Two neurons above the cut-off fire in the first step and reset to their own c, u += d.
    let p =
        IzhikevichParams::heterogeneous(vec![0.02], vec![0.2], vec![-65.0, -50.0], vec![8.0, 2.0]);
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let pop = net
        .add_population("p", 2, NeuronModel::Izhikevich(p), vec![])
        .unwrap();
    net.set_state(pop, StateVar::V, &[40.0, 40.0]).unwrap();
    net.set_state(pop, StateVar::U, &[0.0, 0.0]).unwrap();
    let m = net.monitor_spikes(pop, None).unwrap();
    net.run(1).unwrap();
    assert_eq!(net.spike_monitor(m).events, vec![(0, 0), (0, 1)]);
    assert_eq!(net.state(pop, StateVar::V).unwrap(), vec![-65.0, -50.0]);
    let u = net.state(pop, StateVar::U).unwrap();
    // u after the step (before reset) is the same for both; the reset adds 8 and 2.
    assert!((u[0] - u[1] - 6.0).abs() < 1e-4, "{u:?}");
}

#[test]
fn per_neuron_parameters_must_match_the_population_size() {
    let p = IzhikevichParams::heterogeneous(vec![0.02; 3], vec![0.2], vec![-65.0], vec![8.0]);
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let e = net
        .add_population("p", 4, NeuronModel::Izhikevich(p), vec![])
        .unwrap_err();
    assert!(e.to_string().contains("izhikevich.a"), "{e}");
}
