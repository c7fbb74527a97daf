//! The network of Izhikevich (2003), "Simple model of spiking neurons", IEEE TNN 14:1569, Fig. 3.
//!
//! Per 1 000 neurons, 800 excitatory regular-spiking (a 0.02, b 0.2, c −65+15r², d 8−6r²) and 200
//! inhibitory (a 0.02+0.08r, b 0.25−0.05r, c −65, d 2), r ~ U(0,1) per neuron. Thalamic input
//! 5·N(0,1) (exc) and 2·N(0,1) (inh) drawn every ms. dt 1 ms, v in two 0.5 ms half-steps then u
//! ([`IntegrationScheme::Published2003`]); a spike adds its weight to the target's current in the
//! next step (delta port, delay 1). N = 1 000: all-to-all with autapses, w_exc = 0.5·U(0,1),
//! w_inh = −U(0,1) (all-to-all for every N ≤ 1 000). Larger N: fixed in-degree 1 000 (800 excitatory, 200 inhibitory sources drawn
//! with replacement), same weights. Expected rate ≈ 7.5 Hz.

use crate::error::Result;
use crate::network::{Connection, Connector, Delay, Network, NetworkConfig, NoiseCurrent, Weights};
use crate::neuron::{IntegrationScheme, IzhikevichParams, NeuronModel, Port};
use crate::rng::{stream, uniform01, Purpose};

/// Builds the network with `n` neurons (populations `exc` and `inh`, in that order).
pub fn build(n: usize, seed: u64) -> Result<Network> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed,
        max_delay_ms: 1.0,
    })?;
    let n_exc = n * 4 / 5;
    let n_inh = n - n_exc;
    let mut rng = stream(seed, Purpose::Parameters, 0, 0, 0);
    let mut r = |k: usize| {
        (0..k)
            .map(|_| uniform01(&mut rng) as f32)
            .collect::<Vec<f32>>()
    };
    let re = r(n_exc);
    let ri = r(n_inh);
    let mut exc = IzhikevichParams::heterogeneous(
        vec![0.02],
        vec![0.2],
        re.iter().map(|r| -65.0 + 15.0 * r * r).collect(),
        re.iter().map(|r| 8.0 - 6.0 * r * r).collect(),
    );
    let mut inh = IzhikevichParams::heterogeneous(
        ri.iter().map(|r| 0.02 + 0.08 * r).collect(),
        ri.iter().map(|r| 0.25 - 0.05 * r).collect(),
        vec![-65.0],
        vec![2.0],
    );
    exc.scheme = IntegrationScheme::Published2003;
    inh.scheme = IntegrationScheme::Published2003;
    let e = net.add_population(
        "exc",
        n_exc,
        NeuronModel::Izhikevich(exc),
        vec![Port::Delta],
    )?;
    let i = net.add_population(
        "inh",
        n_inh,
        NeuronModel::Izhikevich(inh),
        vec![Port::Delta],
    )?;
    net.set_noise(
        e,
        NoiseCurrent {
            mean: 0.0,
            std: 5.0,
        },
    )?;
    net.set_noise(
        i,
        NoiseCurrent {
            mean: 0.0,
            std: 2.0,
        },
    )?;
    let w_exc = Weights::Uniform {
        low: 0.0,
        high: 0.5,
    };
    let w_inh = Weights::Uniform {
        low: -1.0,
        high: 0.0,
    };
    let (c_exc, c_inh) = if n <= 1000 {
        (Connector::AllToAll, Connector::AllToAll)
    } else {
        (Connector::FixedInDegree(800), Connector::FixedInDegree(200))
    };
    for (pre, conn, w) in [(e, &c_exc, &w_exc), (i, &c_inh, &w_inh)] {
        for post in [e, i] {
            net.connect(
                pre,
                post,
                Connection::new(conn.clone(), w.clone()).delay(Delay::Steps(1)),
            )?;
        }
    }
    Ok(net)
}
