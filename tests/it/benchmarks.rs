//! The benchmark networks at small size land in their expected rate ranges.

use somnet::benchmarks::{self, Benchmark};
use std::ops::ControlFlow;

fn rate(which: Benchmark, n: usize, seed: u64) -> f64 {
    benchmarks::run(which, n, 1000.0, seed, |_, _| ControlFlow::Continue(()))
        .unwrap()
        .rate_hz
}

#[test]
fn cuba_4000_fires_near_5_6_hz() {
    // Expected 5.6–5.7 Hz (Brette et al. 2007, benchmark 2; Brian2 and NEST runs of the same
    // network give that range); single seeds scatter a little.
    let rates: Vec<f64> = [1, 2, 3]
        .iter()
        .map(|&s| rate(Benchmark::Cuba, 4000, s))
        .collect();
    let mean = rates.iter().sum::<f64>() / 3.0;
    assert!(
        (5.2..=6.1).contains(&mean),
        "mean rate {mean} Hz over seeds: {rates:?}"
    );
}

#[test]
fn izhikevich_1000_fires_near_7_5_hz() {
    // The 2003 paper's program gives 7.45–7.84 Hz over seeds.
    let rates: Vec<f64> = [1, 2, 3]
        .iter()
        .map(|&s| rate(Benchmark::Izhikevich, 1000, s))
        .collect();
    let mean = rates.iter().sum::<f64>() / 3.0;
    assert!(
        (6.8..=8.3).contains(&mean),
        "mean rate {mean} Hz over seeds: {rates:?}"
    );
}

#[test]
fn benchmark_record_counts_events_and_synapses() {
    let r = benchmarks::run(Benchmark::Izhikevich, 1000, 100.0, 1, |_, _| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(r.synapses, 1_000_000, "all-to-all with autapses");
    // All-to-all: every spike reaches all 1 000 neurons.
    assert_eq!(r.syn_events, r.spikes * 1000);
    assert_eq!(r.spike_digest.len(), 16);
    let again = benchmarks::run(Benchmark::Izhikevich, 1000, 100.0, 1, |_, _| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(r.spike_digest, again.spike_digest);
    let other = benchmarks::run(Benchmark::Izhikevich, 1000, 100.0, 2, |_, _| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_ne!(r.spike_digest, other.spike_digest);
}

#[test]
fn a_stopped_run_reports_what_it_simulated() {
    let r = benchmarks::run(Benchmark::Cuba, 1000, 100.0, 1, |done, _| {
        if done == 250 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert!(r.interrupted);
    assert!((r.t_sim_ms - 25.0).abs() < 1e-9);
}
