//! Where a dense projection's delivery to lanes stepped together pays as a spike-matrix product.
//!
//! `cargo run --release --example dense_crossover -- [N_PRE] [N_POST] [LANES,LANES,…] [STEPS]`
//! builds Poisson sources (N_PRE, default 1 200) → all-to-all weights → N_POST integrate-and-fire
//! neurons (default 1 200, threshold high enough that they stay silent, so the time is the
//! sources' draws plus the delivery), copies it into each number of lanes (default 8,32,64), and
//! times STEPS steps (default 200) of `network::Lockstep` with every delivery event by event and
//! with every delivery as a spike-matrix product, at firing densities from 1 % to 60 % of the
//! sources per step, on one thread. It prints one JSON line per (lanes, density) with both times
//! and their ratio; the crossover is where the ratio passes 1 (`network::DENSE_CROSSOVER` holds
//! what this machine measured).

use std::time::Instant;

use somnet::network::{Connection, Connector, Lockstep, Network, NetworkConfig, Weights};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

fn network(n_pre: usize, n_post: usize, density: f64) -> Result<Network, somnet::error::Error> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 7,
        ..Default::default()
    })?;
    // Rate in Hz for `density` spikes per source and 1 ms step.
    let src = net.add_poisson("src", n_pre, density * 1000.0)?;
    let post = net.add_population(
        "post",
        n_post,
        NeuronModel::Iaf(IafParams {
            v_th_mv: 1.0e9,
            v_rest_mv: 0.0,
            reset: Reset::BySubtraction,
            t_ref_ms: 0.0,
        }),
        vec![Port::Delta],
    )?;
    let weights = (0..n_pre * n_post)
        .map(|k| ((k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f32 / 1.7e7 - 0.5)
        .collect();
    net.connect(
        src,
        post,
        Connection::new(Connector::AllToAll, Weights::Values(weights)),
    )?;
    Ok(net)
}

fn seconds(base: &Network, lanes: usize, steps: u64, crossover: f64) -> f64 {
    let mut copies: Vec<Network> = (0..lanes).map(|_| base.lane_copy().unwrap()).collect();
    let mut together = Lockstep::with_dense_crossover(crossover);
    let t0 = Instant::now();
    for _ in 0..steps {
        together
            .step(&mut copies.iter_mut().collect::<Vec<_>>())
            .unwrap();
    }
    t0.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n_pre: usize = args.first().map_or(Ok(1200), |s| s.parse())?;
    let n_post: usize = args.get(1).map_or(Ok(1200), |s| s.parse())?;
    let lane_counts: Vec<usize> = args
        .get(2)
        .map_or("8,32,64", |s| s.as_str())
        .split(',')
        .map(|b| b.parse())
        .collect::<Result<_, _>>()?;
    let steps: u64 = args.get(3).map_or(Ok(200), |s| s.parse())?;
    for &lanes in &lane_counts {
        for density in [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6] {
            let base = network(n_pre, n_post, density)?;
            let events = seconds(&base, lanes, steps, f64::INFINITY);
            let product = seconds(&base, lanes, steps, 0.0);
            println!(
                "{{\"n_pre\":{n_pre},\"n_post\":{n_post},\"lanes\":{lanes},\"density\":{density},\"steps\":{steps},\"events_s\":{events:.4},\"product_s\":{product:.4},\"events_over_product\":{:.3}}}",
                events / product
            );
        }
    }
    Ok(())
}
