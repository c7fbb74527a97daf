//! Energy estimates: MACs of the ANN against synaptic operations of the spiking network.
//!
//! Constants from Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
//! (45 nm, 32-bit float): an add costs 0.9 pJ and a multiply 3.7 pJ, so a MAC ≈ 4.6 pJ and a
//! synaptic operation (one add) ≈ 0.9 pJ. `E_ANN = MACs × 4.6 pJ`; `E_SNN = SOPs × 0.9 pJ`, plus the
//! first layer's MACs when the input is analog (that layer multiplies pixel values).
//!
//! Caveats: these count arithmetic only. Memory access (fetching weights and membrane state)
//! dominates on real hardware and favours neither side uniformly, and Davidson & Furber
//! ("Comparison of artificial and spiking neural networks on digital hardware", Front. Neurosci.
//! 15:651141, 2021) show that rate-coded SNNs are rarely cheaper than the ANN on the same silicon.
//! Read the ratio as "how much arithmetic the spikes replace", not as a hardware measurement.

/// Energy of one 32-bit float multiply-accumulate (pJ).
pub const PJ_PER_MAC: f64 = 4.6;
/// Energy of one 32-bit float add, i.e. one synaptic operation (pJ).
pub const PJ_PER_SOP: f64 = 0.9;

/// One layer's estimate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerEnergy {
    /// Layer name.
    pub name: String,
    /// ANN multiply-accumulates per image.
    pub macs: u64,
    /// Spiking synaptic operations per image (for an analog first layer: its MACs instead).
    pub synaptic_ops: f64,
    /// `macs × 4.6 pJ`.
    pub ann_pj: f64,
    /// `synaptic_ops × 0.9 pJ`, or `macs × 4.6 pJ` for an analog first layer.
    pub snn_pj: f64,
}

/// Totals and per-layer estimates per image.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Energy {
    /// Per layer.
    pub layers: Vec<LayerEnergy>,
    /// ANN total (pJ).
    pub ann_pj: f64,
    /// SNN total (pJ).
    pub snn_pj: f64,
    /// `snn_pj / ann_pj`.
    pub ratio: f64,
}

/// Estimates per image from each weighted layer's `(name, MACs, SOPs)`; with `analog_input` the
/// first layer is charged its MACs (its neurons multiply pixel values every image).
///
/// ```
/// use somnet::convert::energy::estimate;
/// let e = estimate(&[("d1".into(), 100, 0.0), ("d2".into(), 10, 50.0)], true);
/// assert_eq!(e.ann_pj, 110.0 * 4.6);
/// assert!((e.snn_pj - (100.0 * 4.6 + 50.0 * 0.9)).abs() < 1e-9);
/// ```
pub fn estimate(layers: &[(String, u64, f64)], analog_input: bool) -> Energy {
    let layers: Vec<LayerEnergy> = layers
        .iter()
        .enumerate()
        .map(|(k, (name, macs, sops))| {
            let analog = analog_input && k == 0;
            LayerEnergy {
                name: name.clone(),
                macs: *macs,
                synaptic_ops: if analog { *macs as f64 } else { *sops },
                ann_pj: *macs as f64 * PJ_PER_MAC,
                snn_pj: if analog {
                    *macs as f64 * PJ_PER_MAC
                } else {
                    sops * PJ_PER_SOP
                },
            }
        })
        .collect();
    let ann_pj = layers.iter().map(|l| l.ann_pj).sum::<f64>();
    let snn_pj = layers.iter().map(|l| l.snn_pj).sum::<f64>();
    Energy {
        layers,
        ann_pj,
        snn_pj,
        ratio: snn_pj / ann_pj.max(f64::MIN_POSITIVE),
    }
}

/// SNN energy per image after `synaptic_ops` synaptic operations (pJ): those at 0.9 pJ, plus the
/// MACs of an analog first layer (`analog_first_layer_macs`, charged once per image, since its
/// input current is computed once) at 4.6 pJ. At the last step this is [`estimate`]'s `snn_pj`.
///
/// ```
/// use somnet::convert::energy::snn_pj_at;
/// assert_eq!(snn_pj_at(10.0, Some(100)), 10.0 * 0.9 + 100.0 * 4.6);
/// assert_eq!(snn_pj_at(10.0, None), 9.0);
/// ```
pub fn snn_pj_at(synaptic_ops: f64, analog_first_layer_macs: Option<u64>) -> f64 {
    synaptic_ops * PJ_PER_SOP + analog_first_layer_macs.map_or(0.0, |m| m as f64 * PJ_PER_MAC)
}
