//! COBA: benchmark 1 of Brette et al. (2007), J. Comput. Neurosci. 23:349 (the conductance-based
//! version of Vogels & Abbott 2005).
//!
//! N LIF neurons, the first 80 % excitatory. C 200 pF, leak g_L 10 nS (τ_m 20 ms), E_L −60 mV,
//! V_t −50 mV, V_r −60 mV, refractory 5 ms. Exponential conductances (τ_e 5 ms, τ_i 10 ms); a
//! spike adds Δg_e 6 nS or Δg_i 67 nS; `C dv/dt = g_L(E_L − v) + g_e(E_e − v) + g_i(E_i − v)` with
//! E_e 0 mV and E_i −80 mV. Initial state v ~ U(V_r, V_t), g_e ~ (4 + 1.5·N(0,1))·10 nS,
//! g_i ~ (20 + 12·N(0,1))·10 nS (the settings of Brian2's benchmark script). Connection
//! probability 80/N, synapses acting on the next step (Brian2's default, delay 1 here), dt 0.1 ms.
//!
//! Conductances are held in units of g_L ([`crate::neuron::conductance`]), so Δg_e is 0.6 and
//! Δg_i 6.7; the membrane is integrated by exponential Euler, or by forward Euler as Brian2's
//! script does ([`build_with`]).

use crate::error::Result;
use crate::network::{Network, NetworkConfig, PopulationId, StateVar};
use crate::neuron::conductance::ConductanceScheme;
use crate::neuron::{LifParams, NeuronModel, Port, Reset};

/// Leak conductance (nS), Brette et al. (2007), COBA.
pub const G_LEAK_NS: f32 = 10.0;
/// Excitatory conductance increment (nS).
pub const DG_EXC_NS: f32 = 6.0;
/// Inhibitory conductance increment (nS).
pub const DG_INH_NS: f32 = 67.0;

/// The neuron parameters of COBA (τ_m = C/g_L = 200 pF / 10 nS).
pub fn params() -> LifParams {
    LifParams {
        tau_mem_ms: 20.0,
        v_rest_mv: -60.0,
        v_th_mv: -50.0,
        reset: Reset::ToValue { v_reset_mv: -60.0 },
        t_ref_ms: 5.0,
    }
}

/// The two conductance ports: excitatory (τ 5 ms, E 0 mV) and inhibitory (τ 10 ms, E −80 mV).
pub fn ports() -> Vec<Port> {
    vec![
        Port::Conductance {
            tau_ms: 5.0,
            e_rev_mv: 0.0,
        },
        Port::Conductance {
            tau_ms: 10.0,
            e_rev_mv: -80.0,
        },
    ]
}

/// Builds COBA with `n` neurons (one population; excitatory are neurons 0 .. 0.8·n), the
/// membrane integrated by exponential Euler.
///
/// ```
/// let mut net = somnet::benchmarks::coba::build(1000, 1).unwrap();
/// net.run(100).unwrap();
/// ```
pub fn build(n: usize, seed: u64) -> Result<Network> {
    build_with(n, seed, ConductanceScheme::ExponentialEuler)
}

/// [`build`] with the membrane integrated by `scheme` (forward Euler is the scheme of Brian2's
/// COBA script).
pub fn build_with(n: usize, seed: u64, scheme: ConductanceScheme) -> Result<Network> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed,
        max_delay_ms: 1.0,
    })?;
    let pop: PopulationId = net.add_population("coba", n, NeuronModel::Lif(params()), ports())?;
    net.set_conductance_scheme(pop, scheme)?;
    net.set_v_uniform(pop, -60.0, -50.0)?;
    // (4 + 1.5·N(0,1))·10 nS and (20 + 12·N(0,1))·10 nS, in units of g_L = 10 nS.
    let scale = 10.0 / G_LEAK_NS;
    net.set_state_normal(pop, StateVar::Syn(0), 4.0 * scale, 1.5 * scale)?;
    net.set_state_normal(pop, StateVar::Syn(1), 20.0 * scale, 12.0 * scale)?;
    let (w_exc, w_inh) = (DG_EXC_NS / G_LEAK_NS, DG_INH_NS / G_LEAK_NS);
    super::connect_exc_inh(&mut net, pop, n, w_exc, w_inh)?;
    Ok(net)
}
