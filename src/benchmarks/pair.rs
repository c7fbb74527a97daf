//! Two LIF neurons: the smallest network whose spike times another simulator must reproduce.
//!
//! A constant current drives neuron 0 (τ_m 20 ms, E_L −70 mV, V_t −50 mV, V_r −60 mV, 2 ms
//! refractory; the current's steady state −45 mV is above threshold) to fire regularly; each of
//! its spikes reaches neuron 1 after 1 ms through an exponential current (τ 5 ms) strong enough to
//! make it fire after a few of them. dt 0.1 ms, exact integration — the dynamics of NEST's
//! `iaf_psc_exp`, against which `somnet export-sonata --network pair` is checked.

use crate::error::Result;
use crate::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
use crate::neuron::{LifParams, NeuronModel, Port, Reset};

/// The voltage-equivalent current driving neuron 0 (mV).
pub const DRIVE_MV: f32 = 25.0;
/// The weight of the synapse 0 → 1 (mV of the exponential current's jump).
pub const WEIGHT_MV: f32 = 100.0;

/// Builds the pair (one population of two neurons, seed unused: nothing is random).
///
/// ```
/// let mut net = somnet::benchmarks::pair::build().unwrap();
/// net.run(2000).unwrap();
/// assert!(net.population(somnet::network::PopulationId(0)).spike_count() > 10);
/// ```
pub fn build() -> Result<Network> {
    let mut net = Network::new(NetworkConfig {
        dt_ms: 0.1,
        seed: 0,
        max_delay_ms: 1.0,
    })?;
    let params = LifParams {
        tau_mem_ms: 20.0,
        v_rest_mv: -70.0,
        v_th_mv: -50.0,
        reset: Reset::ToValue { v_reset_mv: -60.0 },
        t_ref_ms: 2.0,
    };
    let ports = vec![Port::Exponential { tau_ms: 5.0 }];
    let pop = net.add_population("pair", 2, NeuronModel::Lif(params), ports)?;
    net.set_constant_currents(pop, &[DRIVE_MV, 0.0])?;
    let conn = Connection::new(
        Connector::List(vec![(0, 1)]),
        Weights::Values(vec![WEIGHT_MV]),
    )
    .delay(Delay::Steps(10))
    .port(0)
    .named("0->1");
    net.connect(pop, pop, conn)?;
    Ok(net)
}
