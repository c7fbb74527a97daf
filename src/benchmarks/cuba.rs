//! CUBA: Vogels & Abbott (2005) as benchmark 2 of Brette et al. (2007), J. Comput. Neurosci. 23:349.
//!
//! N LIF neurons, the first 80 % excitatory. τ_m 20 ms, V_t −50 mV, V_r −60 mV, E_l −49 mV,
//! refractory 5 ms, v0 ~ U(V_r, V_t). Exponential current synapses with τ_e 5 ms and τ_i 10 ms;
//! a spike adds w_e = 1.62 mV (60·0.27/10) or w_i = −9 mV (−20·4.5/10) to the target's current.
//! dt 0.1 ms, exact integration, one-step delay, connection probability 80/N (so the in-degree is
//! about 64 excitatory + 16 inhibitory at every size). Expected rate: 5.6–5.7 Hz.

use crate::error::Result;
use crate::network::{Network, NetworkConfig, PopulationId};
use crate::neuron::{LifParams, NeuronModel, Port, Reset};

/// Excitatory weight (mV): 60 · 0.27 / 10 (Brette et al. 2007, CUBA).
pub const W_EXC_MV: f32 = 1.62;
/// Inhibitory weight (mV): −20 · 4.5 / 10 (Brette et al. 2007, CUBA).
pub const W_INH_MV: f32 = -9.0;

/// The neuron parameters of CUBA.
pub fn params() -> LifParams {
    LifParams {
        tau_mem_ms: 20.0,
        v_rest_mv: -49.0,
        v_th_mv: -50.0,
        reset: Reset::ToValue { v_reset_mv: -60.0 },
        t_ref_ms: 5.0,
    }
}

/// Builds CUBA with `n` neurons (one population; excitatory are neurons 0 .. 0.8·n).
///
/// ```
/// let mut net = somnet::benchmarks::cuba::build(1000, 1).unwrap();
/// net.run(100).unwrap();
/// ```
pub fn build(n: usize, seed: u64) -> Result<Network> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed,
        max_delay_ms: 1.0,
    })?;
    let ports = vec![
        Port::Exponential { tau_ms: 5.0 },
        Port::Exponential { tau_ms: 10.0 },
    ];
    let pop: PopulationId = net.add_population("cuba", n, NeuronModel::Lif(params()), ports)?;
    net.set_v_uniform(pop, -60.0, -50.0)?;
    super::connect_exc_inh(&mut net, pop, n, W_EXC_MV, W_INH_MV)?;
    Ok(net)
}
