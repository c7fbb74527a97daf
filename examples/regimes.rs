//! Prints the spike times of the 20 Izhikevich (2004) regimes.
use somnet::neuron::izhikevich::regimes::{Regime, RegimeKind};

fn main() {
    for kind in RegimeKind::ALL {
        let r = Regime::get(kind);
        let tr = r.simulate();
        let vmax_after = tr.v_mv.iter().cloned().fold(f32::MIN, f32::max);
        println!(
            "{} {:?}: {} spikes {:?} vmax {vmax_after:.1}",
            r.panel,
            kind,
            tr.spike_times_ms.len(),
            tr.spike_times_ms
                .iter()
                .map(|t| (t * 10.0).round() / 10.0)
                .collect::<Vec<_>>()
        );
    }
}
