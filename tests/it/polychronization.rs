//! Izhikevich's (2006) polychronization network: its structure as the paper states it, the
//! accumulated STDP rule worked by hand, the weights splitting towards 0 and w_max, and
//! determinism with plasticity on 1/2/8 threads.

use somnet::benchmarks::polychronization::{self, peak_frequency, SYNAPSES_PER_NEURON};
use somnet::benchmarks::{self, Benchmark};
use somnet::network::plasticity::{AccumulatedStdp, AccumulatedStdpParams};

use super::stdp::run_pairs;

#[test]
fn the_network_has_the_published_structure() {
    let net = polychronization::build(1000, 3).unwrap();
    let plastic = polychronization::plastic(&net).unwrap();
    let syn = net.projection(plastic).synapses();
    assert_eq!(syn.len(), 800 * SYNAPSES_PER_NEURON);
    for i in 0..800u32 {
        let row: Vec<_> = syn.iter().filter(|s| s.0 == i).collect();
        assert_eq!(row.len(), 100, "neuron {i}");
        // Distinct targets, never itself; five synapses at each delay 1…20 ms; weight 6.
        let mut targets: Vec<u32> = row.iter().map(|s| s.1).collect();
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), 100);
        assert!(!targets.contains(&i));
        for d in 1..=20 {
            assert_eq!(
                row.iter().filter(|s| s.3 == d).count(),
                5,
                "neuron {i}, delay {d}"
            );
        }
        assert!(row.iter().all(|s| s.2 == 6.0));
    }
    let inh = net
        .projections()
        .iter()
        .find(|p| p.name() == "inh")
        .unwrap()
        .synapses();
    assert_eq!(inh.len(), 200 * SYNAPSES_PER_NEURON);
    assert!(inh.iter().all(|s| s.1 < 800 && s.2 == -5.0 && s.3 == 1));
}

#[test]
fn the_input_reaches_one_random_neuron_per_millisecond() {
    let mut net = polychronization::build(1000, 3).unwrap();
    net.run(2000).unwrap();
    let input = &net.populations()[0];
    assert!(input.is_spike_source());
    assert_eq!(input.spike_count(), 2000);
}

#[test]
fn accumulated_stdp_applies_its_derivative_once_a_period_as_worked_by_hand() {
    // dt 1 ms, period 100 ms, axonal delay 2 ms, nearest traces (τ 20 ms). Pre at 10 ms arrives
    // at 12 ms; post at 15 ms: sd += 0.1·e^{−3/20}. Pre at 40 ms arrives at 42 ms, the post trace
    // is e^{−27/20}: sd −= 0.12·e^{−27/20}. At the end of step 99: w ← w + 0.01 + sd, sd ← 0.9 sd;
    // at the end of step 199: w ← w + 0.01 + 0.9·sd. A last pre spike 10 steps before the end
    // (it sets the run's length) depresses by 0.12 × the post trace where it arrives.
    let e = |x: f64| (-x / 20.0).exp();
    let params = AccumulatedStdpParams {
        period_ms: 100.0,
        ..Default::default()
    };
    let sd = 0.1 * e(3.0) - 0.12 * e(27.0);
    let after = |steps: u64| {
        let rule = AccumulatedStdp::new(params).unwrap();
        let pre = vec![10, 40, steps - 10];
        run_pairs(1.0, &[pre], &[vec![15]], &[2], &[5.0], Box::new(rule))[0] as f64
    };
    let w1 = after(100);
    let late1 = 0.12 * e((100.0 - 10.0 + 2.0) - 15.0);
    let expected1 = 5.0 + 0.01 + sd - late1;
    assert!((w1 - expected1).abs() < 1e-5, "{w1} against {expected1}");
    let w2 = after(200);
    let late2 = 0.12 * e((200.0 - 10.0 + 2.0) - 15.0);
    let expected2 = 5.0 + 0.01 + sd + 0.01 + 0.9 * sd - late2;
    assert!((w2 - expected2).abs() < 1e-5, "{w2} against {expected2}");
}

#[test]
fn weights_split_towards_0_and_w_max_and_firing_stays_irregular_but_alive() {
    // 60 s of the published network: the paper's weights drift apart (towards 0 and 10) while
    // firing stays in single digits to tens of Hz.
    let r = benchmarks::run(Benchmark::Polychronization, 1000, 60_000.0, 1, |_, _| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let times: Vec<f64> = r.checkpoints.iter().map(|c| c.t_s).collect();
    assert_eq!(times, vec![1.0, 10.0, 60.0]);
    let first = &r.checkpoints[0];
    let last = &r.checkpoints[2];
    // After the first second every weight is still within one update of 6.
    assert_eq!(first.w_histogram.iter().sum::<u64>(), 80_000);
    assert_eq!(first.w_histogram[..5].iter().sum::<u64>(), 0, "{first:?}");
    let total = 80_000.0;
    assert!(
        last.w_histogram[9] as f64 / total > 0.2 && last.w_histogram[0] as f64 / total > 0.03,
        "weights at both ends after 60 s: {last:?}"
    );
    for c in &r.checkpoints {
        assert!((0.5..40.0).contains(&c.rate_hz), "{c:?}");
    }
}

#[test]
fn peak_frequency_finds_a_known_rhythm() {
    // 40 Hz bursts on a 1 ms grid, one second.
    let counts: Vec<u32> = (0..1000).map(|k| if k % 25 < 3 { 9 } else { 1 }).collect();
    assert_eq!(peak_frequency(&counts, 1.0), 40.0);
}

#[test]
fn plastic_polychronization_is_identical_on_1_2_and_8_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = polychronization::build(5000, 2).unwrap();
            net.run(3000).unwrap();
            let p = polychronization::plastic(&net).unwrap();
            let w: Vec<u32> = net
                .projection(p)
                .synapses()
                .iter()
                .map(|s| s.2.to_bits())
                .collect();
            (net.spike_digest(), net.n_spikes(), w)
        })
    };
    let one = run(1);
    assert!(one.1 > 10_000, "{} spikes", one.1);
    for threads in [2, 8] {
        let other = run(threads);
        assert_eq!((one.0, one.1), (other.0, other.1), "{threads} threads");
        assert!(one.2 == other.2, "weights differ on {threads} threads");
    }
}

/// Brian2 2.9.0 (runtime mode) on the same network and rule, seeds 1–3, mean rate over the first
/// 10 s: 4.69, 4.43, 4.73 Hz (`benches/peers/brian2_bench.py polychronization --n 1000 --t-ms
/// 10000 --mode runtime --seed S`; its wiring and input come from NumPy's generator).
const BRIAN2_POLYCHRONIZATION_10S_HZ: f64 = 4.62;

#[test]
fn the_first_10_s_fire_at_brian2s_rate_on_the_same_network() {
    let (rates, mean) = crate::common::bench_rates(Benchmark::Polychronization, 1000, 10_000.0);
    assert!(
        (mean / BRIAN2_POLYCHRONIZATION_10S_HZ - 1.0).abs() < 0.15,
        "somnet {rates:?} (mean {mean:.2} Hz) against Brian2's {BRIAN2_POLYCHRONIZATION_10S_HZ} Hz"
    );
}
