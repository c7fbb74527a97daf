//! Criterion benches: a population step (neurons/s) and spike delivery (synaptic events/s).
//!
//! Machine notes go with the reported figures (closing notes, README): 2-core AMD EPYC, 24 GiB.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
use somnet::neuron::{lif, IafParams, LifParams, NeuronModel, Port, Reset};
use somnet::time::Dt;

fn population_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("lif_step_2_exp_ports");
    for n in [4096usize, 65536] {
        let ports = [
            Port::Exponential { tau_ms: 5.0 },
            Port::Exponential { tau_ms: 10.0 },
        ];
        let params = LifParams {
            tau_mem_ms: 20.0,
            v_rest_mv: -49.0,
            v_th_mv: -50.0,
            reset: Reset::ToValue { v_reset_mv: -60.0 },
            t_ref_ms: 5.0,
        };
        let prop = lif::LifPropagator::new(&params, &ports, Dt::new(0.1).unwrap()).unwrap();
        let mut v: Vec<f32> = (0..n)
            .map(|i| -60.0 + 10.0 * (i as f32 / n as f32))
            .collect();
        let (mut refr, mut fired, mut scratch) = (vec![0u32; n], vec![0u8; n], vec![0.0f32; n]);
        let (mut x0, mut x1, mut a0, mut a1, mut delta) = (
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
            vec![0.0f32; n],
        );
        let mut spikes = Vec::new();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                spikes.clear();
                let block = lif::LifBlock {
                    v: &mut v,
                    refractory_left: &mut refr,
                    syn: [&mut x0, &mut x1],
                    arrivals: [&mut a0, &mut a1],
                    delta: &mut delta,
                    i_ext: None,
                    scratch: &mut scratch,
                    fired: &mut fired,
                };
                lif::step_block(&prop, block, 0, &mut spikes);
                black_box(spikes.len())
            })
        });
    }
    group.finish();
}

fn delivery(c: &mut Criterion) {
    // 10 000 Poisson sources at 1 000 Hz (dt 0.1 ms → ~1 000 spikes a step), 200 synapses each onto
    // 20 000 integrators: ~200 000 synaptic events per step.
    let mut group = c.benchmark_group("delivery");
    let build = |seed| {
        let mut net = Network::new(NetworkConfig {
            dt_ms: 0.1,
            seed,
            ..Default::default()
        })
        .unwrap();
        let src = net.add_poisson("src", 10_000, 1000.0).unwrap();
        let never = IafParams {
            v_th_mv: 1e30,
            v_rest_mv: 0.0,
            reset: Reset::BySubtraction,
            t_ref_ms: 0.0,
        };
        let tgt = net
            .add_population("tgt", 20_000, NeuronModel::Iaf(never), vec![Port::Delta])
            .unwrap();
        net.connect(
            src,
            tgt,
            Connection::new(Connector::FixedProbability(0.01), Weights::Constant(0.1))
                .delay(Delay::Steps(1)),
        )
        .unwrap();
        net
    };
    let mut probe = build(1);
    probe.run(100).unwrap();
    let events_per_step = probe.n_events() / 100;
    group.throughput(Throughput::Elements(events_per_step));
    let mut net = build(2);
    group.bench_function("sparse_200_per_spike", |b| b.iter(|| net.step()));
    group.finish();
}

criterion_group!(benches, population_step, delivery);
criterion_main!(benches);
