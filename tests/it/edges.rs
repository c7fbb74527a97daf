//! Numerical edges: time constants at and below the step, a refractory period longer than the
//! run, and NaN or infinite inputs refused by name.

use somnet::data::Dataset;
use somnet::network::{Network, NetworkConfig, StateVar};
use somnet::neuron::{LifParams, NeuronModel, Reset};

fn dc_trace(tau_ms: f32, dt_ms: f64, steps: u64) -> Vec<f32> {
    let mut net = Network::new(NetworkConfig {
        dt_ms,
        seed: 1,
        ..Default::default()
    })
    .unwrap();
    let params = LifParams {
        tau_mem_ms: tau_ms,
        v_rest_mv: -70.0,
        v_th_mv: 0.0,
        reset: Reset::ToValue { v_reset_mv: -70.0 },
        t_ref_ms: 0.0,
    };
    let pop = net
        .add_population("lif", 1, NeuronModel::Lif(params), vec![])
        .unwrap();
    net.set_current(pop, 20.0).unwrap();
    let m = net.monitor_state(pop, StateVar::V, vec![0], 1).unwrap();
    net.run(steps).unwrap();
    net.state_monitor(m).trace(0)
}

#[test]
fn time_constants_at_and_below_the_step_follow_the_exact_solution() {
    // The membrane is integrated exactly (v += (v∞ − v)(1 − e^(−dt/τ))), so τ = dt and τ ≪ dt
    // are stable and exact, where forward Euler would oscillate (τ < dt) or diverge (τ < dt/2).
    for (tau, dt) in [(0.1f32, 0.1f64), (0.01, 0.1), (1e-4, 1.0)] {
        let trace = dc_trace(tau, dt, 50);
        for (k, &v) in trace.iter().enumerate() {
            let t = (k + 1) as f64 * dt;
            let expected = -70.0 + 20.0 * (1.0 - (-t / tau as f64).exp());
            assert!(
                (v as f64 - expected).abs() < 1e-4,
                "τ = {tau} ms, dt = {dt} ms, step {k}: v = {v}, exact {expected}"
            );
        }
    }
}

#[test]
fn a_refractory_period_longer_than_the_run_allows_one_spike() {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed: 1,
        ..Default::default()
    })
    .unwrap();
    let params = LifParams {
        tau_mem_ms: 10.0,
        v_rest_mv: -70.0,
        v_th_mv: -50.0,
        reset: Reset::ToValue { v_reset_mv: -65.0 },
        t_ref_ms: 1000.0,
    };
    let pop = net
        .add_population("lif", 3, NeuronModel::Lif(params), vec![])
        .unwrap();
    net.set_current(pop, 40.0).unwrap();
    let spikes = net.monitor_spikes(pop, None).unwrap();
    let v = net.monitor_state(pop, StateVar::V, vec![0], 1).unwrap();
    net.run(2000).unwrap(); // 200 ms, a fifth of the refractory period
    let events = &net.spike_monitor(spikes).events;
    assert_eq!(events.len(), 3, "one spike per neuron: {events:?}");
    // First crossing of −50 mV under v∞ = −30 mV, τ = 10 ms: t = τ·ln 2 = 6.93 ms → step 69.
    assert!(events.iter().all(|e| e.0 == 69), "{events:?}");
    let trace = net.state_monitor(v).trace(0);
    assert!(trace[70..].iter().all(|&x| x == -65.0), "held at reset");
}

#[test]
fn nan_or_infinite_inputs_are_refused_by_name() {
    let mut net = Network::new(NetworkConfig::default()).unwrap();
    let pop = net
        .add_population("lif", 4, NeuronModel::Lif(LifParams::default()), vec![])
        .unwrap();
    let err = net.set_current(pop, f32::NAN).unwrap_err().to_string();
    assert!(err.contains("current") && err.contains("NaN"), "{err}");
    let err = net
        .set_currents(pop, &[0.0, 1.0, f32::INFINITY, 0.0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("'lif'") && err.contains("current[2]"), "{err}");
    let mut pixels = vec![0.5f32; 8];
    pixels[6] = f32::NAN;
    let err = Dataset::new(
        "mine",
        pixels,
        vec![0, 1],
        [1, 2, 2],
        vec!["a".into(), "b".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'mine'") && err.contains("image 1 pixel 2"),
        "{err}"
    );
}

#[test]
fn synaptic_event_counts_run_past_two_to_the_32() {
    // Counters that would wrap in long runs: 2 048 sources firing every step into 2 048 targets,
    // all to all, for 1 100 steps deliver 4.6 × 10⁹ events — past 2³² (4.29 × 10⁹), where a
    // 32-bit counter wraps. Step indices, spike counts and event counts are 64-bit, so 10⁹ steps
    // or 10¹² events are 0.00000005 % of their range; this checks the event path end to end.
    use somnet::network::{Connection, Connector, Weights};
    use somnet::neuron::{IafParams, Port};
    let (n, steps) = (2048usize, 1100u64);
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 1,
        ..Default::default()
    })
    .unwrap();
    let every_step: Vec<f64> = (1..=steps).map(|t| t as f64 - 1.0).collect();
    let src = net.add_spike_source("src", &vec![every_step; n]).unwrap();
    let integrator = NeuronModel::Iaf(IafParams {
        v_th_mv: 1e9,
        v_rest_mv: 0.0,
        reset: Reset::BySubtraction,
        t_ref_ms: 0.0,
    });
    let tgt = net
        .add_population("tgt", n, integrator, vec![Port::Delta])
        .unwrap();
    // 1/1024 per event: each step adds exactly 2 to every target, so sums stay exact.
    net.connect(
        src,
        tgt,
        Connection::new(Connector::AllToAll, Weights::Constant(1.0 / 1024.0)),
    )
    .unwrap();
    net.run(steps + 1).unwrap();
    let expected = (n * n) as u64 * steps;
    assert!(expected > u32::MAX as u64);
    assert_eq!(net.n_events(), expected);
    let v = net.state(tgt, StateVar::V).unwrap();
    assert!(v.iter().all(|&x| x == 2.0 * steps as f32), "{:?}", &v[..4]);
}
