//! Inputs: Poisson sources, constant / stepped / noise currents, spike arrays.

use crate::common::integrator;

use somnet::network::{Network, NetworkConfig, NoiseCurrent, StateVar};

#[test]
fn poisson_sources_fire_at_their_rate_independently() {
    // 2 000 sources at 50 Hz for 2 s at dt 0.5 ms: 200 000 expected spikes, sd ≈ 445.
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.5,
        seed: 17,
        ..Default::default()
    })
    .unwrap();
    let src = net.add_poisson("src", 2000, 50.0).unwrap();
    let m = net.monitor_spikes(src, None).unwrap();
    net.run(4000).unwrap();
    let events = &net.spike_monitor(m).events;
    let n = events.len() as f64;
    assert!((n - 200_000.0).abs() < 5.0 * 445.0, "{n} spikes");
    // Inter-spike intervals of one source are geometric: their coefficient of variation is ≈ 1.
    let mut per = vec![Vec::new(); 2000];
    for &(t, i) in events {
        per[i as usize].push(t as f64);
    }
    let isis: Vec<f64> = per
        .iter()
        .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
        .collect();
    let mean = isis.iter().sum::<f64>() / isis.len() as f64;
    let sd = (isis.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / isis.len() as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.03, "CV {}", sd / mean);
    // Every source is active (no block is silent).
    assert!(per.iter().all(|t| !t.is_empty()));
}

#[test]
fn stepped_current_switches_at_the_given_times() {
    // IF integrates dt·I per step: slope 0 until 2 ms, 1 mV/ms until 5 ms, −0.5 mV/ms after.
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.5,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let pop = net.add_population("p", 3, integrator(), vec![]).unwrap();
    net.add_stepped_current(pop.range(1..3), &[(2.0, 1.0), (5.0, -0.5)])
        .unwrap();
    let m = net
        .monitor_state(pop, StateVar::V, vec![0, 1, 2], 1)
        .unwrap();
    net.run(16).unwrap();
    let mon = net.state_monitor(m);
    let mut expected = 0.0f32;
    for (k, &step) in mon.steps.iter().enumerate() {
        let t = step as f64 * 0.5;
        expected += 0.5
            * if t < 2.0 {
                0.0
            } else if t < 5.0 {
                1.0
            } else {
                -0.5
            };
        assert_eq!(mon.trace(0)[k], 0.0, "neuron 0 gets no current");
        assert_eq!(mon.trace(1)[k], expected, "step {step}");
        assert_eq!(mon.trace(2)[k], expected, "step {step}");
    }
}

#[test]
fn noise_current_has_the_given_mean_and_variance() {
    // IF integrates dt·(mean + std·z) per step: after k steps v has mean k·dt·mean and variance
    // k·(dt·std)².
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 4,
        ..Default::default()
    })
    .unwrap();
    let pop = net
        .add_population("p", 20_000, integrator(), vec![])
        .unwrap();
    net.set_noise(
        pop,
        NoiseCurrent {
            mean: 0.5,
            std: 2.0,
        },
    )
    .unwrap();
    net.run(25).unwrap();
    let v = net.state(pop, StateVar::V).unwrap();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    // Expected mean 12.5, sd of the mean 10/√20000 ≈ 0.071; variance 100 ± ~1.
    assert!((mean - 12.5).abs() < 0.35, "mean {mean}");
    assert!((var - 100.0).abs() < 5.0, "variance {var}");
}

#[test]
fn spike_arrays_emit_at_their_times() {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.25,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let src = net
        .add_spike_source("s", &[vec![0.5, 0.25], vec![], vec![1.0, 1.0, 3.0]])
        .unwrap();
    let m = net.monitor_spikes(src, None).unwrap();
    net.run(20).unwrap();
    assert_eq!(
        net.spike_monitor(m).events,
        vec![(1, 0), (2, 0), (4, 2), (12, 2)]
    );
}

#[test]
fn rate_monitor_reports_hz() {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 2,
        ..Default::default()
    })
    .unwrap();
    let src = net
        .add_spike_source("s", &[(0..100).map(|t| t as f64).collect(), vec![]])
        .unwrap();
    let m = net.monitor_rate(src).unwrap();
    net.run(100).unwrap();
    // One of two neurons fires every 1 ms step: 500 Hz.
    assert!((net.rate_monitor(m).mean_rate_hz() - 500.0).abs() < 1e-9);
    assert!(net
        .rate_monitor(m)
        .rate_hz()
        .iter()
        .all(|&r| (r - 500.0).abs() < 1e-9));
}

#[test]
fn reset_repeats_the_first_run_exactly() {
    // CUBA with random initial potentials plus a Poisson drive and a stepped current: after a reset
    // the second run emits the same spikes and the same digest, and weights are kept.
    use somnet::network::{Connection, Connector, Weights};
    let mut net = somnet::benchmarks::cuba::build(2000, 3).unwrap();
    let cuba = somnet::network::PopulationId(0);
    let drive = net.add_poisson("drive", 100, 50.0).unwrap();
    net.connect(
        drive,
        cuba,
        Connection::new(Connector::FixedProbability(0.05), Weights::Constant(2.0)),
    )
    .unwrap();
    net.add_stepped_current(cuba.range(0..100), &[(5.0, 3.0), (15.0, 0.0)])
        .unwrap();
    let m = net.monitor_spikes(cuba, None).unwrap();
    let v = net
        .monitor_state(cuba, StateVar::V, vec![0, 1999], 10)
        .unwrap();
    net.run(300).unwrap();
    let (spikes, trace, digest, events) = (
        net.spike_monitor(m).events.clone(),
        net.state_monitor(v).values.clone(),
        net.spike_digest(),
        net.n_events(),
    );
    assert!(spikes.len() > 100);
    net.reset();
    assert_eq!(
        (net.current_step(), net.n_spikes(), net.n_events()),
        (0, 0, 0)
    );
    assert!(net.spike_monitor(m).events.is_empty());
    net.run(300).unwrap();
    assert_eq!(net.spike_monitor(m).events, spikes);
    assert_eq!(net.state_monitor(v).values, trace);
    assert_eq!((net.spike_digest(), net.n_events()), (digest, events));
    // The network is built: nothing can be added after it has run, even after a reset.
    assert!(net.add_poisson("late", 3, 1.0).is_err());
}

/// Issue 14: a non-spiking integrator is its own model (no sentinel threshold): it sums any
/// input, however large, and never fires.
#[test]
fn an_integrator_sums_its_input_and_never_fires() {
    use somnet::network::{Network, NetworkConfig, StateVar};
    use somnet::neuron::{IntegratorParams, NeuronModel, Port};
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        max_delay_ms: 1.0,
    })
    .unwrap();
    let p = net
        .add_population(
            "out",
            3,
            NeuronModel::Integrator(IntegratorParams { v_rest_mv: -1.0 }),
            vec![Port::Delta],
        )
        .unwrap();
    let huge = 2f32.powi(100); // sums of it stay exact in f32
    net.set_constant_currents(p, &[0.5, huge, -2.0]).unwrap();
    let spikes = net.monitor_spikes(p, None).unwrap();
    net.run(10).unwrap();
    // IF dynamics: v += i·dt each step from v_rest.
    assert_eq!(
        net.state(p, StateVar::V).unwrap(),
        vec![-1.0 + 5.0, 10.0 * huge, -1.0 - 20.0]
    );
    assert!(net.spike_monitor(spikes).events.is_empty());
    assert!(NeuronModel::Integrator(IntegratorParams {
        v_rest_mv: f32::NAN
    })
    .validate(&[])
    .unwrap_err()
    .to_string()
    .contains("integrator.v_rest_mv"));
}
