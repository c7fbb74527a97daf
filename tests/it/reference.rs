//! The event-driven engine against a naive dense clock-driven loop on random networks.
//!
//! The reference keeps a dense weight and delay matrix and, every step, sums for every neuron the
//! weights of all synapses whose pre neuron fired exactly `delay` steps ago. Weights are multiples
//! of 1/64 and drives are dyadic, so every sum is exact in `f32` and the order of additions cannot
//! hide or create a difference: the spike lists must be identical.

use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, Weights,
};
use somnet::neuron::{lif::LifPropagator, IafParams, LifParams, NeuronModel, Port, Reset};
use somnet::rng::{stream, uniform01, Purpose};
use somnet::time::Dt;

struct Case {
    net: Network,
    pop: PopulationId,
    input: PopulationId,
    n: usize,
}

fn dyadic(rng: &mut somnet::rng::Stream, lo: f32, hi: f32) -> f32 {
    ((lo + (hi - lo) * uniform01(rng) as f32) * 64.0).round() / 64.0
}

/// A recurrent population with random sparse synapses (per-synapse delays 1..=5) driven by a Poisson
/// source through delay-0 synapses.
fn build(model: NeuronModel, seed: u64, n: usize) -> Case {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed,
        max_delay_ms: 5.0,
    })
    .unwrap();
    let input = net.add_poisson("input", 50, 40.0).unwrap();
    let pop = net
        .add_population("pop", n, model, vec![Port::Delta])
        .unwrap();
    let mut rng = stream(seed, Purpose::User, 0, 0, 0);
    let mut pairs = Vec::new();
    let (mut w, mut d) = (Vec::new(), Vec::new());
    for i in 0..n as u32 {
        for j in 0..n as u32 {
            if uniform01(&mut rng) < 0.1 {
                pairs.push((i, j));
                w.push(dyadic(&mut rng, -0.6, 0.5));
                d.push((1 + (uniform01(&mut rng) * 5.0) as u32).min(5) as f64);
            }
        }
    }
    net.connect(
        pop,
        pop,
        Connection::new(Connector::List(pairs), Weights::Values(w)).delay(Delay::ValuesMs(d)),
    )
    .unwrap();
    let ff = net
        .connect(
            input,
            pop,
            Connection::new(Connector::FixedProbability(0.2), Weights::Constant(0.0))
                .delay(Delay::Steps(0)),
        )
        .unwrap();
    // Dyadic feed-forward weights.
    if let somnet::network::SynapsesMut::Sparse { weights, .. } =
        net.projection_mut(ff).synapses_mut()
    {
        for x in weights.iter_mut() {
            *x = dyadic(&mut rng, 0.0, 0.75);
        }
    }
    Case { net, pop, input, n }
}

/// Runs the engine and the naive reference side by side; returns the first difference.
fn compare(mut case: Case, steps: usize, update: impl Fn(&mut f32, &mut u32, f32) -> bool) {
    let n = case.n;
    let syn_in = case.net.projections()[1].synapses();
    let syn_rec = case.net.projections()[0].synapses();
    let mut w_rec = vec![vec![0.0f32; n]; n];
    let mut d_rec = vec![vec![0u32; n]; n];
    for &(i, j, w, d) in &syn_rec {
        w_rec[i as usize][j as usize] = w;
        d_rec[i as usize][j as usize] = d;
    }
    let mut w_in = vec![vec![0.0f32; n]; 50];
    for &(i, j, w, _) in &syn_in {
        w_in[i as usize][j as usize] = w;
    }
    let m_in = case.net.monitor_spikes(case.input, None).unwrap();
    let m_out = case.net.monitor_spikes(case.pop, None).unwrap();
    case.net.run(steps as u64).unwrap();
    let mut in_spikes = vec![Vec::new(); steps];
    for &(t, i) in &case.net.spike_monitor(m_in).events {
        in_spikes[t as usize].push(i as usize);
    }
    let got = case.net.spike_monitor(m_out).events.clone();
    // Naive loop.
    let mut fired = vec![vec![false; n]; steps];
    let (mut v, mut refr) = (vec![0.0f32; n], vec![0u32; n]);
    let mut expected = Vec::new();
    for t in 0..steps {
        for j in 0..n {
            let mut input = 0.0f32;
            for &i in &in_spikes[t] {
                input += w_in[i][j];
            }
            for i in 0..n {
                let d = d_rec[i][j] as usize;
                if w_rec[i][j] != 0.0 && t >= d && fired[t - d][i] {
                    input += w_rec[i][j];
                }
            }
            if update(&mut v[j], &mut refr[j], input) {
                fired[t][j] = true;
                expected.push((t as u64, j as u32));
            }
        }
    }
    assert!(
        expected.len() > 50,
        "the network must be active: {} spikes",
        expected.len()
    );
    if let Some(k) = (0..got.len().min(expected.len())).find(|&k| got[k] != expected[k]) {
        panic!(
            "first difference at spike {k}: engine {:?}, reference {:?}",
            got[k], expected[k]
        );
    }
    assert_eq!(got.len(), expected.len(), "spike counts differ");
}

#[test]
fn iaf_network_matches_naive_dense_loop() {
    for seed in [1, 2, 3] {
        let params = IafParams {
            v_th_mv: 1.0,
            v_rest_mv: 0.0,
            reset: Reset::ToValue { v_reset_mv: 0.0 },
            t_ref_ms: 2.0,
        };
        let case = build(NeuronModel::Iaf(params), seed, 120);
        compare(case, 300, |v, refr, input| {
            if *refr > 0 {
                *refr -= 1;
                return false;
            }
            *v += input;
            if *v >= 1.0 {
                *v = 0.0;
                *refr = 2;
                return true;
            }
            false
        });
    }
}

#[test]
fn lif_network_matches_naive_dense_loop() {
    let params = LifParams {
        tau_mem_ms: 10.0,
        v_rest_mv: 0.0,
        v_th_mv: 1.0,
        reset: Reset::BySubtraction,
        t_ref_ms: 1.0,
    };
    let prop = LifPropagator::new(&params, &[], Dt::new(1.0).unwrap()).unwrap();
    for seed in [4, 5] {
        let case = build(NeuronModel::Lif(params), seed, 100);
        compare(case, 300, |v, refr, input| {
            if *refr > 0 {
                *refr -= 1;
                return false;
            }
            // The documented exact update with δ = input and no current: v ← E_l + (v + δ − E_l)·P_mm.
            *v = 0.0 + (*v + input - 0.0) * prop.p_mm;
            if *v >= 1.0 {
                *v -= 1.0;
                *refr = 1;
                return true;
            }
            false
        });
    }
}
