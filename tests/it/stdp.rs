//! Spike-timing rules: pair windows against their closed forms, NEST's weights on the same trains
//! (fixture `tests/fixtures/stdp/nest_stdp.json`, written by `nest_stdp.py` beside it), nearest vs
//! all-to-all on a hand-made train, delays, and the triplet rule's frequency dependence.

use somnet::network::plasticity::{
    DelayKind, Pairing, Stdp, StdpParams, TripletStdp, TripletStdpParams,
};
use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, Plasticity, PopulationId, ProjectionId,
    Weights,
};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

/// A network of `n` independent synapses whose pre and post neurons fire exactly at the given
/// steps: two spike sources, the post one relayed by IF neurons that nothing else can make fire
/// (threshold 10⁹, driven by 2·10⁹ in the source's step); the plastic projection goes from the
/// pre source to the relays with the given delays. Returns the network and that projection.
pub fn pair_network(
    dt_ms: f64,
    pre_steps: &[Vec<u64>],
    post_steps: &[Vec<u64>],
    delays: &[u32],
    w0: &[f32],
    rule: Box<dyn Plasticity>,
) -> (Network, ProjectionId) {
    let n = pre_steps.len();
    let mut net = Network::new(NetworkConfig {
        dt_ms,
        seed: 1,
        max_delay_ms: 100.0,
    })
    .unwrap();
    let ms = |s: &Vec<u64>| s.iter().map(|&k| k as f64 * dt_ms).collect::<Vec<_>>();
    let pre = net
        .add_spike_source("pre", &pre_steps.iter().map(ms).collect::<Vec<_>>())
        .unwrap();
    let post = net
        .add_spike_source("post", &post_steps.iter().map(ms).collect::<Vec<_>>())
        .unwrap();
    let relay = relays(&mut net, n);
    let pairs: Vec<(u32, u32)> = (0..n as u32).map(|i| (i, i)).collect();
    net.connect(
        post,
        relay,
        Connection::new(Connector::List(pairs.clone()), Weights::Constant(2e9))
            .delay(Delay::Steps(0)),
    )
    .unwrap();
    let p = net
        .connect(
            pre,
            relay,
            Connection::new(Connector::List(pairs), Weights::Values(w0.to_vec())).delay(
                Delay::ValuesMs(delays.iter().map(|&d| d as f64 * dt_ms).collect()),
            ),
        )
        .unwrap();
    net.set_plasticity(p, rule).unwrap();
    (net, p)
}

/// `n` IF neurons that fire only when driven by 2·10⁹ in one step (threshold 10⁹, no leak).
fn relays(net: &mut Network, n: usize) -> PopulationId {
    net.add_population(
        "relay",
        n,
        NeuronModel::Iaf(IafParams {
            v_th_mv: 1e9,
            v_rest_mv: 0.0,
            reset: Reset::ToValue { v_reset_mv: 0.0 },
            t_ref_ms: 0.0,
        }),
        vec![Port::Delta],
    )
    .unwrap()
}

/// Runs the pair network to 10 steps past the last spike and returns the weights in pair order.
pub fn run_pairs(
    dt_ms: f64,
    pre_steps: &[Vec<u64>],
    post_steps: &[Vec<u64>],
    delays: &[u32],
    w0: &[f32],
    rule: Box<dyn Plasticity>,
) -> Vec<f32> {
    let (mut net, p) = pair_network(dt_ms, pre_steps, post_steps, delays, w0, rule);
    let last = pre_steps
        .iter()
        .chain(post_steps)
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
    net.run(last + 10).unwrap();
    let mut syn = net.projection(p).synapses();
    syn.sort_by_key(|s| s.0);
    syn.iter().map(|s| s.2).collect()
}

#[test]
fn pair_windows_match_the_closed_form_from_1_to_50_ms_both_ways() {
    // One pre spike at 100 ms and one post spike at 100 ms + Δt, Δt = −50 … 50 ms (dt 1 ms), for
    // additive and multiplicative weight dependence, both delay conventions, delay 3 ms.
    let dt = 1.0;
    let d = 3u32;
    let shifts: Vec<i64> = (-50..=50).collect();
    let pre: Vec<Vec<u64>> = shifts.iter().map(|_| vec![100]).collect();
    let post: Vec<Vec<u64>> = shifts.iter().map(|&s| vec![(100 + s) as u64]).collect();
    let w0 = vec![30.0f32; shifts.len()];
    for (mu, kind) in [
        (0.0, DelayKind::Dendritic),
        (1.0, DelayKind::Dendritic),
        (0.0, DelayKind::Axonal),
        (1.0, DelayKind::Axonal),
    ] {
        let params = StdpParams {
            mu_plus: mu,
            mu_minus: mu,
            alpha: 1.3,
            tau_minus_ms: 30.0,
            delays: kind,
            ..StdpParams::default()
        };
        let rule = Box::new(Stdp::new(params).unwrap());
        let w = run_pairs(dt, &pre, &post, &vec![d; shifts.len()], &w0, rule);
        for (k, &s) in shifts.iter().enumerate() {
            // Δt at the synapse: the post spike moves by the dendritic delay, the pre spike by
            // the axonal one.
            let delta = match kind {
                DelayKind::Dendritic => s + d as i64,
                DelayKind::Axonal => s - d as i64,
            } as f64;
            let (w_max, lambda, wh) = (100.0f64, 0.01, 0.3f64);
            let expected = if delta > 0.0 {
                30.0 + lambda * w_max * (1.0 - wh).powf(mu) * (-delta / 20.0).exp()
            } else if delta < 0.0 {
                30.0 - 1.3 * lambda * w_max * wh.powf(mu) * (delta / 30.0).exp()
            } else {
                30.0
            };
            assert!(
                (w[k] as f64 - expected).abs() < 2e-5,
                "mu {mu}, {kind:?}: t_post - t_pre = {s} ms (Δt {delta} at the synapse): \
                 w = {} against {expected}",
                w[k]
            );
        }
    }
}

#[test]
fn nearest_spike_pairing_differs_from_all_to_all_as_worked_by_hand() {
    // Pre spikes at 10 and 12 ms, a post spike at 20 ms, a last pre spike at 30 ms; no delay
    // (dt 1 ms), additive, λ = 0.01, w_max = 100, τ± = 20 ms. All-to-all: the post spike pairs with
    // both pre spikes (+e^{−10/20} + e^{−8/20}) and the last pre spike with the post (−e^{−10/20}).
    // Nearest: the post spike pairs only with the pre spike at 12 ms.
    let e = |x: f64| (-x / 20.0).exp();
    let pre = vec![vec![10, 12, 30]];
    let post = vec![vec![20]];
    let run = |pairing| {
        let rule = Stdp::new(StdpParams {
            pairing,
            ..StdpParams::additive()
        })
        .unwrap();
        run_pairs(1.0, &pre, &post, &[0], &[50.0], Box::new(rule))[0] as f64
    };
    let all = run(Pairing::AllToAll);
    let nearest = run(Pairing::Nearest);
    assert!(
        (all - (50.0 + e(10.0) + e(8.0) - e(10.0))).abs() < 1e-5,
        "{all}"
    );
    assert!(
        (nearest - (50.0 + e(8.0) - e(10.0))).abs() < 1e-5,
        "{nearest}"
    );
    // With two post spikes before a pre spike, all-to-all depresses by both, nearest by the last.
    let pre = vec![vec![30]];
    let post = vec![vec![20, 25]];
    let run = |pairing| {
        let rule = Stdp::new(StdpParams {
            pairing,
            ..StdpParams::additive()
        })
        .unwrap();
        run_pairs(1.0, &pre, &post, &[0], &[50.0], Box::new(rule))[0] as f64
    };
    assert!((run(Pairing::AllToAll) - (50.0 - e(10.0) - e(5.0))).abs() < 1e-5);
    assert!((run(Pairing::Nearest) - (50.0 - e(5.0))).abs() < 1e-5);
}

#[test]
fn delays_shift_the_pairing_as_documented() {
    // Pre at 10 ms, post at 12 ms, delay 5 ms. Dendritic (NEST): the post spike reaches the
    // synapse at 17 ms, Δt = +7 (potentiation). Axonal: the pre spike reaches it at 15 ms,
    // Δt = −3 (depression). Delay 2 ms axonal: both at 12 ms, Δt = 0: no change.
    let run = |kind, d| {
        let rule = Stdp::new(StdpParams {
            delays: kind,
            ..StdpParams::additive()
        })
        .unwrap();
        run_pairs(1.0, &[vec![10]], &[vec![12]], &[d], &[50.0], Box::new(rule))[0] as f64
    };
    let e = |x: f64| (-x / 20.0).exp();
    assert!((run(DelayKind::Dendritic, 5) - (50.0 + e(7.0))).abs() < 1e-5);
    assert!((run(DelayKind::Axonal, 5) - (50.0 - e(3.0))).abs() < 1e-5);
    assert_eq!(run(DelayKind::Axonal, 2), 50.0);
    assert!((run(DelayKind::Dendritic, 0) - (50.0 + e(2.0))).abs() < 1e-5);
}

#[test]
fn each_synapse_of_a_fan_pairs_by_its_own_delay() {
    // Two pre neurons onto three post neurons, all six synapses listed out of order with distinct
    // delays, one spike per neuron: every pre neuron's fan-out (and, dendritic, every post
    // neuron's fan-in) reaches its synapses at several steps. Each weight must follow the closed
    // form at its own Δt (additive, λ·w_max = 1, τ 20 ms both ways).
    let (pre_t, post_t) = ([20u64, 23], [15u64, 30, 26]);
    let pairs = vec![(1u32, 2u32), (0, 0), (1, 0), (0, 2), (0, 1), (1, 1)];
    let delays = [6u32, 1, 4, 3, 5, 2];
    for kind in [DelayKind::Dendritic, DelayKind::Axonal] {
        let mut net = Network::new(NetworkConfig {
            dt_ms: 1.0,
            seed: 1,
            max_delay_ms: 20.0,
        })
        .unwrap();
        let ms = |t: &[u64]| t.iter().map(|&k| vec![k as f64]).collect::<Vec<_>>();
        let pre = net.add_spike_source("pre", &ms(&pre_t)).unwrap();
        let post = net.add_spike_source("post", &ms(&post_t)).unwrap();
        let relay = relays(&mut net, 3);
        let one_to_one = (0..3).map(|i| (i, i)).collect();
        net.connect(
            post,
            relay,
            Connection::new(Connector::List(one_to_one), Weights::Constant(2e9))
                .delay(Delay::Steps(0)),
        )
        .unwrap();
        let p = net
            .connect(
                pre,
                relay,
                Connection::new(Connector::List(pairs.clone()), Weights::Constant(50.0))
                    .delay(Delay::ValuesMs(delays.iter().map(|&d| d as f64).collect())),
            )
            .unwrap();
        let rule = Stdp::new(StdpParams {
            delays: kind,
            ..StdpParams::additive()
        })
        .unwrap();
        net.set_plasticity(p, Box::new(rule)).unwrap();
        net.run(60).unwrap();
        for (i, j, w, ..) in net.projection(p).synapses() {
            let k = pairs.iter().position(|&q| q == (i, j)).unwrap();
            let (d, dt) = (
                delays[k] as i64,
                post_t[j as usize] as i64 - pre_t[i as usize] as i64,
            );
            let delta = match kind {
                DelayKind::Dendritic => dt + d,
                DelayKind::Axonal => dt - d,
            } as f64;
            let expected = 50.0 + delta.signum() * (-delta.abs() / 20.0).exp();
            assert!(
                (w as f64 - expected).abs() < 1e-5,
                "{kind:?}: synapse {i}->{j}, delay {d}: Δt {delta}, w = {w}, expected {expected}"
            );
        }
    }
}

mod nest {
    //! The fixture: NEST 3.10's `stdp_synapse`, `stdp_nn_symm_synapse` and `stdp_triplet_synapse`
    //! between parrot neurons, per group the trains, delays, initial and final weights.

    use super::*;
    use serde_json::Value;

    fn groups() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/stdp/nest_stdp.json"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["groups"].as_array().unwrap().clone()
    }

    fn steps(v: &Value) -> Vec<Vec<u64>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            })
            .collect()
    }

    fn f(v: &Value, key: &str) -> f64 {
        v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
    }

    /// The rule a fixture group names, with its parameters.
    fn rule(g: &Value) -> Box<dyn Plasticity> {
        let (sp, np) = (&g["syn_params"], &g["neuron_params"]);
        match g["model"].as_str().unwrap() {
            m @ ("stdp_synapse" | "stdp_nn_symm_synapse") => Box::new(
                Stdp::new(StdpParams {
                    tau_plus_ms: f(sp, "tau_plus"),
                    tau_minus_ms: f(np, "tau_minus"),
                    lambda: f(sp, "lambda"),
                    alpha: f(sp, "alpha"),
                    mu_plus: f(sp, "mu_plus"),
                    mu_minus: f(sp, "mu_minus"),
                    w_max: f(sp, "Wmax"),
                    pairing: if m == "stdp_synapse" {
                        Pairing::AllToAll
                    } else {
                        Pairing::Nearest
                    },
                    delays: DelayKind::Dendritic,
                })
                .unwrap(),
            ),
            "stdp_triplet_synapse" => Box::new(
                TripletStdp::new(TripletStdpParams {
                    tau_plus_ms: f(sp, "tau_plus"),
                    tau_x_ms: f(sp, "tau_plus_triplet"),
                    tau_minus_ms: f(np, "tau_minus"),
                    tau_y_ms: f(np, "tau_minus_triplet"),
                    a2_plus: f(sp, "Aplus"),
                    a3_plus: f(sp, "Aplus_triplet"),
                    a2_minus: f(sp, "Aminus"),
                    a3_minus: f(sp, "Aminus_triplet"),
                    w_max: f(sp, "Wmax"),
                    pairing: Pairing::AllToAll,
                    delays: DelayKind::Dendritic,
                })
                .unwrap(),
            ),
            m => panic!("unknown model {m}"),
        }
    }

    /// Replays one group and returns (somnet's weights, NEST's).
    fn replay(g: &Value) -> (Vec<f64>, Vec<f64>) {
        let dt = f(g, "resolution_ms");
        let nums = |k: &str| -> Vec<f64> {
            g[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let delays: Vec<u32> = nums("delays_ms")
            .iter()
            .map(|d| (d / dt).round() as u32)
            .collect();
        let w0: Vec<f32> = nums("w0").iter().map(|&w| w as f32).collect();
        let w = run_pairs(
            dt,
            &steps(&g["pre_steps"]),
            &steps(&g["post_steps"]),
            &delays,
            &w0,
            rule(g),
        );
        (w.iter().map(|&x| x as f64).collect(), nums("w_nest"))
    }

    #[test]
    fn every_rule_reaches_nests_weights_on_the_same_trains() {
        for g in groups() {
            let name = g["name"].as_str().unwrap().to_string();
            if name.starts_with("sjostrom") {
                continue; // its own test below
            }
            let (ours, theirs) = replay(&g);
            let w_max = f(&g["syn_params"], "Wmax").abs();
            for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert!(
                    (a - b).abs() <= 2e-6 * w_max,
                    "{name}, synapse {k}: somnet {a}, NEST {b}"
                );
            }
        }
    }

    #[test]
    fn triplet_rule_has_the_frequency_dependence_of_pfister_and_gerstner_fig_5() {
        // Sjöström et al.'s protocol (60 pairs at Δt = ±10 ms, 0.1 to 50 Hz) with the minimal
        // all-to-all visual-cortex parameters: depression for post-before-pre at low frequency
        // turning into potentiation at high frequency, and potentiation for pre-before-post
        // growing with frequency (Pfister & Gerstner 2006, Fig. 5); the weights equal NEST's.
        let g = groups()
            .into_iter()
            .find(|g| g["name"] == "sjostrom_triplet")
            .unwrap();
        let (ours, theirs) = replay(&g);
        let labels = g["protocol"].as_array().unwrap();
        let mut plus = Vec::new();
        let mut minus = Vec::new();
        for (k, l) in labels.iter().enumerate() {
            assert!(
                (ours[k] - theirs[k]).abs() < 2e-4,
                "{l}: {} vs NEST {}",
                ours[k],
                theirs[k]
            );
            let change = ours[k] - 50.0;
            if f(l, "dt_ms") > 0.0 {
                plus.push((f(l, "freq_hz"), change));
            } else {
                minus.push((f(l, "freq_hz"), change));
            }
        }
        assert!(
            minus[0].1 < 0.0,
            "Δt = −10 ms at 0.1 Hz depresses: {minus:?}"
        );
        assert!(
            minus.last().unwrap().1 > 0.0,
            "Δt = −10 ms at 50 Hz potentiates: {minus:?}"
        );
        // (At 0.1 Hz the minimal model's pair term A₂⁺ = 5·10⁻¹⁰ leaves the weight unchanged.)
        assert!(plus[0].1 >= 0.0, "{plus:?}");
        assert!(
            plus.windows(2).all(|w| w[1].1 > w[0].1),
            "potentiation grows with frequency: {plus:?}"
        );
    }
}

#[test]
fn plastic_cuba_is_identical_on_1_2_and_8_threads() {
    // CUBA-20 000 (five blocks per population, so updates and deliveries run in parallel) with
    // additive all-to-all STDP on its excitatory projections; spikes and every weight must agree.
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = somnet::benchmarks::Benchmark::Cuba
                .build(20_000, 11)
                .unwrap();
            let excitatory: Vec<ProjectionId> = (0..net.projections().len())
                .map(|j| ProjectionId(j as u32))
                .filter(|&p| net.projection(p).synapses().iter().all(|s| s.2 >= 0.0))
                .collect();
            assert!(!excitatory.is_empty());
            for &p in &excitatory {
                let w_max = net
                    .projection(p)
                    .synapses()
                    .iter()
                    .map(|s| s.2)
                    .fold(0.0f32, f32::max) as f64
                    * 2.0;
                let rule = Stdp::new(StdpParams {
                    w_max,
                    lambda: 0.05,
                    ..StdpParams::additive()
                })
                .unwrap();
                net.set_plasticity(p, Box::new(rule)).unwrap();
            }
            net.run(400).unwrap();
            let weights: Vec<Vec<u32>> = excitatory
                .iter()
                .map(|&p| {
                    net.projection(p)
                        .synapses()
                        .iter()
                        .map(|s| s.2.to_bits())
                        .collect()
                })
                .collect();
            (net.spike_digest(), net.n_spikes(), weights)
        })
    };
    let (digest, spikes, weights) = run(1);
    assert!(spikes > 1000, "{spikes} spikes");
    let initial = somnet::benchmarks::Benchmark::Cuba
        .build(20_000, 11)
        .unwrap()
        .projection(ProjectionId(0))
        .synapses()
        .iter()
        .map(|s| s.2.to_bits())
        .collect::<Vec<_>>();
    assert_ne!(weights[0], initial, "STDP changed no weight");
    for threads in [2, 8] {
        let (d, s, w) = run(threads);
        assert_eq!(
            (d, s),
            (digest, spikes),
            "spikes differ on {threads} threads"
        );
        for (p, (a, b)) in weights.iter().zip(&w).enumerate() {
            if let Some(k) = (0..a.len()).find(|&k| a[k] != b[k]) {
                panic!(
                    "excitatory projection {p}: synapse {k} differs on {threads} threads: {} vs {}",
                    f32::from_bits(a[k]),
                    f32::from_bits(b[k])
                );
            }
        }
    }
}

#[test]
fn a_pre_population_later_in_the_schedule_pairs_at_its_real_step() {
    // The post relay comes before the pre source in the schedule, so the rule sees the pre
    // spikes one step late; pairing must still use their real step. Axonal delay 1 ms (a
    // backward projection needs one), so Δt = t_post − t_pre − 1.
    let e = |x: f64| (-x / 20.0).exp();
    for (pre_t, post_t) in [(10u64, 14u64), (14, 10), (10, 11), (10, 10)] {
        let mut net = Network::new(NetworkConfig {
            dt_ms: 1.0,
            ..Default::default()
        })
        .unwrap();
        let post = net
            .add_spike_source("post", &[vec![post_t as f64]])
            .unwrap();
        let relay = relays(&mut net, 1);
        let pre = net.add_spike_source("pre", &[vec![pre_t as f64]]).unwrap();
        net.connect(
            post,
            relay,
            Connection::new(Connector::List(vec![(0, 0)]), Weights::Constant(2e9))
                .delay(Delay::Steps(0)),
        )
        .unwrap();
        let p = net
            .connect(
                pre,
                relay,
                Connection::new(Connector::List(vec![(0, 0)]), Weights::Constant(50.0))
                    .delay(Delay::Steps(1)),
            )
            .unwrap();
        let rule = Stdp::new(StdpParams {
            delays: DelayKind::Axonal,
            ..StdpParams::additive()
        })
        .unwrap();
        net.set_plasticity(p, Box::new(rule)).unwrap();
        net.run(30).unwrap();
        let w = net.projection(p).synapses()[0].2 as f64;
        // Axonal delay 1: Δt = t_post − t_pre − 1.
        let delta = post_t as f64 - pre_t as f64 - 1.0;
        let expected = if delta > 0.0 {
            50.0 + e(delta)
        } else if delta < 0.0 {
            50.0 - e(-delta)
        } else {
            50.0
        };
        assert!(
            (w - expected).abs() < 1e-5,
            "pre {pre_t}, post {post_t}: {w}"
        );
    }
}

#[test]
fn rules_refuse_bad_parameters_and_weights_by_name() {
    let err = Stdp::new(StdpParams {
        tau_plus_ms: -1.0,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("stdp.tau_plus_ms") && err.contains("-1"),
        "{err}"
    );
    let err = Stdp::new(StdpParams {
        w_max: 0.0,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("stdp.w_max"), "{err}");
    let err = TripletStdp::new(TripletStdpParams {
        a3_plus: f64::NAN,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("triplet.a3_plus"), "{err}");
    // A weight above w_max (or of the other sign) is refused when the rule is attached, naming
    // the projection and the synapse.
    let mut net = Network::new(NetworkConfig::default()).unwrap();
    let pre = net.add_spike_source("pre", &[vec![], vec![]]).unwrap();
    let post = net
        .add_population(
            "post",
            1,
            NeuronModel::Iaf(IafParams::default()),
            vec![Port::Delta],
        )
        .unwrap();
    let p = net
        .connect(
            pre,
            post,
            Connection::new(
                Connector::List(vec![(0, 0), (1, 0)]),
                Weights::Values(vec![1.0, 150.0]),
            )
            .named("ff"),
        )
        .unwrap();
    let err = net
        .set_plasticity(p, Box::new(Stdp::new(StdpParams::default()).unwrap()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("projection ff") && err.contains("synapse 1") && err.contains("150"),
        "{err}"
    );
}
