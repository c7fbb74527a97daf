//! LIF and IF against their closed-form solutions.

use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, StateVar, Weights};
use somnet::neuron::{IafParams, LifParams, NeuronModel, Port, Reset};

const DT: f64 = 0.1;

fn net() -> Network {
    Network::new(NetworkConfig {
        dt_ms: DT,
        seed: 3,
        ..Default::default()
    })
    .unwrap()
}

fn v_trace(net: &mut Network, pop: somnet::network::PopulationId, steps: u64) -> Vec<f32> {
    let m = net.monitor_state(pop, StateVar::V, vec![0], 1).unwrap();
    net.run(steps).unwrap();
    net.state_monitor(m).trace(0)
}

#[test]
fn lif_dc_response_matches_closed_form() {
    // v(t) = E_l + R·I·(1 − e^(−t/τ)); threshold is never reached for this I, so no reset.
    let params = LifParams {
        tau_mem_ms: 10.0,
        v_rest_mv: -70.0,
        v_th_mv: -40.0,
        reset: Reset::ToValue { v_reset_mv: -70.0 },
        t_ref_ms: 0.0,
    };
    let mut net = net();
    let pop = net
        .add_population("lif", 1, NeuronModel::Lif(params), vec![])
        .unwrap();
    net.set_current(pop, 20.0).unwrap();
    let trace = v_trace(&mut net, pop, 1000);
    for (k, &v) in trace.iter().enumerate() {
        let t = (k + 1) as f64 * DT;
        let expected = -70.0 + 20.0 * (1.0 - (-t / 10.0).exp());
        // f32 state: rounding accumulates to a few 1e-5 mV over hundreds of steps.
        assert!(
            (v as f64 - expected).abs() < 5e-4,
            "step {k}: v = {v}, closed form {expected}"
        );
    }
}

#[test]
fn lif_synaptic_current_matches_closed_form() {
    // One spike of weight w reaches an exponential port (τ_s = 5 ms) at step a. From then on
    // v − E_l = w·τ_s/(τ_s − τ_m)·(e^(−s/τ_s) − e^(−s/τ_m)), s the time since arrival.
    let (tau_m, tau_s, w) = (20.0, 5.0, 4.0);
    let params = LifParams {
        tau_mem_ms: tau_m as f32,
        v_rest_mv: -65.0,
        v_th_mv: 0.0,
        reset: Reset::ToValue { v_reset_mv: -65.0 },
        t_ref_ms: 0.0,
    };
    let mut net = net();
    let src = net.add_spike_source("src", &[vec![1.0]]).unwrap();
    let pop = net
        .add_population(
            "lif",
            1,
            NeuronModel::Lif(params),
            vec![Port::Exponential {
                tau_ms: tau_s as f32,
            }],
        )
        .unwrap();
    net.connect(
        src,
        pop,
        Connection::new(Connector::AllToAll, Weights::Constant(w as f32)).delay(Delay::Ms(0.5)),
    )
    .unwrap();
    let syn = net
        .monitor_state(pop, StateVar::Syn(0), vec![0], 1)
        .unwrap();
    let trace = v_trace(&mut net, pop, 800);
    let arrival = 10 + 5; // spike at step 10, delay 5 steps
    let syn_trace = net.state_monitor(syn).trace(0);
    for (k, &v) in trace.iter().enumerate() {
        let expected = if k < arrival {
            -65.0
        } else {
            let s = (k - arrival + 1) as f64 * DT;
            -65.0 + w * tau_s / (tau_s - tau_m) * ((-s / tau_s).exp() - (-s / tau_m).exp())
        };
        assert!(
            (v as f64 - expected).abs() < 5e-4,
            "step {k}: v = {v}, closed form {expected}"
        );
        // The current after step k has decayed for (k − a + 1) steps since it jumped.
        let x_expected = if k < arrival {
            0.0
        } else {
            w * (-((k - arrival + 1) as f64) * DT / tau_s).exp()
        };
        assert!(
            (syn_trace[k] as f64 - x_expected).abs() < 1e-5,
            "step {k}: x = {}, closed form {x_expected}",
            syn_trace[k]
        );
    }
}

#[test]
fn lif_equal_time_constants_use_the_limit_form() {
    // τ_s = τ_m: v − E_l = w·(s/τ)·e^(−s/τ).
    let tau = 10.0;
    let params = LifParams {
        tau_mem_ms: tau as f32,
        v_rest_mv: 0.0,
        v_th_mv: 100.0,
        reset: Reset::ToValue { v_reset_mv: 0.0 },
        t_ref_ms: 0.0,
    };
    let mut net = net();
    let src = net.add_spike_source("src", &[vec![0.0]]).unwrap();
    let pop = net
        .add_population(
            "lif",
            1,
            NeuronModel::Lif(params),
            vec![Port::Exponential { tau_ms: tau as f32 }],
        )
        .unwrap();
    net.connect(
        src,
        pop,
        Connection::new(Connector::AllToAll, Weights::Constant(10.0)).delay(Delay::Steps(0)),
    )
    .unwrap();
    let trace = v_trace(&mut net, pop, 500);
    for (k, &v) in trace.iter().enumerate() {
        let s = (k + 1) as f64 * DT;
        let expected = 10.0 * (s / tau) * (-s / tau).exp();
        assert!(
            (v as f64 - expected).abs() < 5e-4,
            "step {k}: v = {v}, closed form {expected}"
        );
    }
}

#[test]
fn lif_refractory_clamp_and_interspike_interval_match_closed_form() {
    // Constant drive I above threshold. From v0 the membrane follows E_l + I + (v0 − E_l − I)e^(−t/τ);
    // after a spike it is held at v_r for the refractory steps, then starts again from v_r.
    let (tau, el, th, vr, i_ext) = (20.0f64, -70.0f64, -50.0f64, -65.0f64, 30.0f64);
    let ref_steps = 20usize; // 2 ms
    let params = LifParams {
        tau_mem_ms: tau as f32,
        v_rest_mv: el as f32,
        v_th_mv: th as f32,
        reset: Reset::ToValue {
            v_reset_mv: vr as f32,
        },
        t_ref_ms: 2.0,
    };
    let mut net = net();
    let pop = net
        .add_population("lif", 1, NeuronModel::Lif(params), vec![])
        .unwrap();
    net.set_current(pop, i_ext as f32).unwrap();
    let spikes = net.monitor_spikes(pop, None).unwrap();
    let trace = v_trace(&mut net, pop, 3000);
    // Expected: integrate from v_start for m steps → v = el + I + (v_start − el − I)e^(−m·dt/τ).
    let mut expected_spikes = Vec::new();
    let (mut v_start, mut m, mut clamp) = (el, 0usize, 0usize);
    for (k, &v) in trace.iter().enumerate() {
        let expected = if clamp > 0 {
            clamp -= 1;
            vr
        } else {
            m += 1;
            let x = el + i_ext + (v_start - el - i_ext) * (-(m as f64) * DT / tau).exp();
            if x >= th {
                expected_spikes.push(k as u64);
                clamp = ref_steps;
                v_start = vr;
                m = 0;
                vr
            } else {
                x
            }
        };
        assert!(
            (v as f64 - expected).abs() < 1e-3,
            "step {k}: v = {v}, closed form {expected}"
        );
    }
    let got: Vec<u64> = net
        .spike_monitor(spikes)
        .events
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(got, expected_spikes);
    // The analytic interval: refractory + τ·ln((I − (v_r − E_l))/(I − (θ − E_l))), rounded up to steps.
    let isi_steps =
        ref_steps as f64 + (tau * ((i_ext - (vr - el)) / (i_ext - (th - el))).ln() / DT).ceil();
    assert!(got.len() > 5);
    for w in got.windows(2).skip(1) {
        assert_eq!((w[1] - w[0]) as f64, isi_steps, "interspike interval");
    }
}

#[test]
fn iaf_reset_by_subtraction_keeps_the_excess() {
    // IF with θ = 1 and a constant drive of 0.3 per step: v after k steps is 0.3k − (spikes so far);
    // the neuron fires on steps where the running sum crosses an integer (rate coding).
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let pop = net
        .add_population("if", 1, NeuronModel::Iaf(IafParams::default()), vec![])
        .unwrap();
    net.set_current(pop, 0.25).unwrap(); // mV/ms at dt = 1 ms: 0.25 per step, exact in binary
    let spikes = net.monitor_spikes(pop, None).unwrap();
    let trace = v_trace(&mut net, pop, 40);
    let got: Vec<u64> = net
        .spike_monitor(spikes)
        .events
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(got, vec![3, 7, 11, 15, 19, 23, 27, 31, 35, 39]);
    for (k, &v) in trace.iter().enumerate() {
        assert_eq!(v, ((k + 1) % 4) as f32 * 0.25, "step {k}");
    }
}

#[test]
fn lif_two_ports_sum_their_closed_forms() {
    // The fused two-port path (no external current): exc (τ 5 ms, +3 mV) and inh (τ 10 ms, −2 mV)
    // arriving at different steps add their kernels linearly.
    let tau_m = 20.0;
    let params = LifParams {
        tau_mem_ms: tau_m as f32,
        v_rest_mv: -60.0,
        v_th_mv: 0.0,
        reset: Reset::ToValue { v_reset_mv: -60.0 },
        t_ref_ms: 0.0,
    };
    let mut net = net();
    let src = net
        .add_spike_source("src", &[vec![0.0], vec![2.0]])
        .unwrap();
    let ports = vec![
        Port::Exponential { tau_ms: 5.0 },
        Port::Exponential { tau_ms: 10.0 },
    ];
    let pop = net
        .add_population("lif", 1, NeuronModel::Lif(params), ports)
        .unwrap();
    let list = |i: u32| Connector::List(vec![(i, 0)]);
    net.connect(
        src.range(0..1),
        pop,
        Connection::new(list(0), Weights::Constant(3.0))
            .delay(Delay::Steps(1))
            .port(0),
    )
    .unwrap();
    net.connect(
        src.range(1..2),
        pop,
        Connection::new(list(0), Weights::Constant(-2.0))
            .delay(Delay::Steps(1))
            .port(1),
    )
    .unwrap();
    let trace = v_trace(&mut net, pop, 600);
    let kernel = |w: f64, tau_s: f64, arrival: usize, k: usize| {
        if k < arrival {
            return 0.0;
        }
        let s = (k - arrival + 1) as f64 * DT;
        w * tau_s / (tau_s - tau_m) * ((-s / tau_s).exp() - (-s / tau_m).exp())
    };
    for (k, &v) in trace.iter().enumerate() {
        let expected = -60.0 + kernel(3.0, 5.0, 1, k) + kernel(-2.0, 10.0, 21, k);
        assert!(
            (v as f64 - expected).abs() < 5e-4,
            "step {k}: v = {v}, closed form {expected}"
        );
    }
}

/// IF at θ = 1 with reset by subtraction and 0.25 per step: `v ≥ θ` fires when v reaches 1.0
/// (steps 4, 8, 12), `v > θ` only at 1.25 (steps 5, 9, 13), and the subtraction is θ itself.
#[test]
fn the_spike_test_decides_whether_landing_on_the_threshold_fires() {
    use somnet::network::{Network, NetworkConfig};
    use somnet::neuron::{IafParams, NeuronModel, Port, SpikeTest};
    let run = |test: SpikeTest| {
        let mut net = Network::new(NetworkConfig {
            dt_ms: 1.0,
            ..NetworkConfig::default()
        })
        .unwrap();
        let p = net
            .add_population(
                "p",
                1,
                NeuronModel::Iaf(IafParams::default()),
                vec![Port::Delta],
            )
            .unwrap();
        net.set_spike_test(p, test).unwrap();
        net.set_current(p, 0.25).unwrap();
        let mut fired = Vec::new();
        for step in 1..=13 {
            net.step();
            if !net.population(p).last_spikes().is_empty() {
                fired.push(step);
            }
        }
        (
            fired,
            net.state(p, somnet::network::StateVar::V).unwrap()[0],
        )
    };
    assert_eq!(run(SpikeTest::AtLeast), (vec![4, 8, 12], 0.25));
    assert_eq!(run(SpikeTest::Above), (vec![5, 9, 13], 0.25));
}
