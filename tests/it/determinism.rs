//! Same seed, same spikes on pools of 1, 2 and 8 threads; failures name the first step and neuron.

use somnet::benchmarks::Benchmark;
use somnet::network::{Network, PopulationId};

fn spikes_on(
    threads: usize,
    build: &(dyn Fn() -> Network + Sync),
    steps: u64,
) -> Vec<Vec<(u64, u32)>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut net = build();
        let ids: Vec<_> = (0..net.populations().len())
            .map(|p| net.monitor_spikes(PopulationId(p as u32), None).unwrap())
            .collect();
        net.run(steps).unwrap();
        ids.iter()
            .map(|&m| net.spike_monitor(m).events.clone())
            .collect()
    })
}

fn assert_same_on_1_2_8(name: &str, build: &(dyn Fn() -> Network + Sync), steps: u64) {
    let reference = spikes_on(1, build, steps);
    assert!(
        reference.iter().map(Vec::len).sum::<usize>() > 100,
        "{name}: too few spikes to compare"
    );
    for threads in [2, 8] {
        let other = spikes_on(threads, build, steps);
        for (p, (a, b)) in reference.iter().zip(&other).enumerate() {
            if let Some(k) = (0..a.len().min(b.len())).find(|&k| a[k] != b[k]) {
                panic!(
                    "{name}: population {p} differs on {threads} threads: first at step {} neuron {} (1 thread: step {} neuron {})",
                    b[k].0, b[k].1, a[k].0, a[k].1
                );
            }
            assert_eq!(
                a.len(),
                b.len(),
                "{name}: population {p} spike counts differ on {threads} threads"
            );
        }
    }
}

#[test]
fn cuba_is_identical_on_1_2_and_8_threads() {
    // 20 000 neurons: five blocks, so updates and deliveries really run in parallel.
    assert_same_on_1_2_8("cuba", &|| Benchmark::Cuba.build(20_000, 11).unwrap(), 300);
}

#[test]
fn coba_is_identical_on_1_2_and_8_threads() {
    // Conductance ports (issue 18): the exponential-Euler step in parallel blocks.
    assert_same_on_1_2_8("coba", &|| Benchmark::Coba.build(20_000, 11).unwrap(), 300);
}

#[test]
fn izhikevich_with_noise_is_identical_on_1_2_and_8_threads() {
    // Fixed in-degree, per-block noise streams, two populations.
    assert_same_on_1_2_8(
        "izhikevich",
        &|| Benchmark::Izhikevich.build(12_000, 5).unwrap(),
        100,
    );
}

#[test]
fn a_network_kept_on_one_thread_steps_as_a_parallel_one() {
    // `set_parallel(false)` inside an 8-thread pool gives the spikes of the block-parallel run.
    let parallel = spikes_on(8, &|| Benchmark::Cuba.build(20_000, 11).unwrap(), 200);
    let one = spikes_on(
        8,
        &|| {
            let mut net = Benchmark::Cuba.build(20_000, 11).unwrap();
            net.set_parallel(false);
            net
        },
        200,
    );
    assert!(parallel.iter().map(Vec::len).sum::<usize>() > 100);
    assert_eq!(parallel, one);
}
