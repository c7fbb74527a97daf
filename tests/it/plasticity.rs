//! The plasticity hook: called with each step's pre and post spikes; its weight changes take effect.

use std::sync::{Arc, Mutex};

use somnet::network::{
    Connection, Connector, Delay, Network, NetworkConfig, Plasticity, StateVar, StepSpikes,
    SynapsesMut, Weights,
};
use somnet::neuron::{IafParams, NeuronModel, Port, Reset};

type Log = Arc<Mutex<Vec<(u64, Vec<u32>, Vec<u32>)>>>;

/// Records every call and doubles the weight of each synapse whose post neuron fired.
struct Recorder {
    log: Log,
}

impl Plasticity for Recorder {
    fn on_step(&mut self, s: StepSpikes<'_>, syn: SynapsesMut<'_>) {
        self.log
            .lock()
            .unwrap()
            .push((s.step, s.pre.to_vec(), s.post.to_vec()));
        if let SynapsesMut::Dense {
            n_pre,
            n_post,
            weights,
        } = syn
        {
            for &j in s.post {
                for i in 0..n_pre {
                    weights[i * n_post + j as usize] *= 2.0;
                }
            }
        }
    }
}

#[test]
fn rule_sees_each_steps_spikes_and_changes_later_delivery() {
    // Two sources fire at chosen steps into two IF neurons (θ = 1) through all-to-all 0.5 weights
    // with delay 0: a post neuron fires when both sources fire in one step.
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        ..Default::default()
    })
    .unwrap();
    let src = net
        .add_spike_source("s", &[vec![2.0, 5.0, 8.0], vec![2.0, 8.0]])
        .unwrap();
    let params = IafParams {
        v_th_mv: 1.0,
        v_rest_mv: 0.0,
        reset: Reset::ToValue { v_reset_mv: 0.0 },
        t_ref_ms: 0.0,
    };
    let post = net
        .add_population("post", 2, NeuronModel::Iaf(params), vec![Port::Delta])
        .unwrap();
    let proj = net
        .connect(
            src,
            post,
            Connection::new(Connector::AllToAll, Weights::Constant(0.5)).delay(Delay::Steps(0)),
        )
        .unwrap();
    let log: Log = Arc::default();
    net.set_plasticity(proj, Box::new(Recorder { log: log.clone() }))
        .unwrap();
    let spikes = net.monitor_spikes(post, None).unwrap();
    let v = net.monitor_state(post, StateVar::V, vec![0], 1).unwrap();
    net.run(10).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 10, "called once per step");
    assert_eq!(log[2], (2, vec![0, 1], vec![0, 1]));
    assert_eq!(log[5], (5, vec![0], vec![0, 1]));
    assert_eq!(log[6], (6, vec![], vec![]));
    // Step 2: both fire → every weight doubled to 1.0. Step 5: source 0 alone now carries 1.0 and
    // makes both post neurons fire (it would not have with 0.5).
    assert_eq!(
        net.spike_monitor(spikes).events,
        vec![(2, 0), (2, 1), (5, 0), (5, 1), (8, 0), (8, 1)]
    );
    assert_eq!(net.state_monitor(v).trace(0)[5], 0.0, "reset after firing");
    let w: Vec<f32> = net
        .projection(proj)
        .synapses()
        .iter()
        .map(|s| s.2)
        .collect();
    assert_eq!(w, vec![4.0; 4], "0.5 doubled at steps 2, 5 and 8");
}
