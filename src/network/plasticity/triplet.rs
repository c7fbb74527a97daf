//! Triplet STDP (Pfister & Gerstner, J. Neurosci. 26:9673, 2006), as NEST's
//! `stdp_triplet_synapse` computes it.
//!
//! Each side has a fast and a slow trace: r₁ (τ₊), r₂ (τ_x) for pre spikes, o₁ (τ₋), o₂ (τ_y) for
//! post spikes. At the synapse (arrivals as in `timing.rs`):
//! - a post spike potentiates: w ← min(w_max, w + r₁·(A₂⁺ + A₃⁺·o₂(t − ε))),
//! - a pre spike depresses: w ← max(0, w − o₁·(A₂⁻ + A₃⁻·r₂(t − ε))),
//!
//! where o₂(t − ε) and r₂(t − ε) are the arriving side's own slow trace just before its spike:
//! the triplet terms, which make potentiation grow with the post rate and so give the frequency
//! dependence of Sjöström et al. (2001) that pair rules miss (Pfister & Gerstner 2006, Fig. 5).

use super::timing::{bound, check_weights, non_negative, Arrival, OnArrival, SpikeTiming};
use super::{DelayKind, Pairing, Plasticity, StepSpikes, SynapseLayout, SynapsesMut};
use crate::error::{positive, Result};

/// Parameters of [`TripletStdp`]. The defaults are the minimal all-to-all model fitted to visual
/// cortex (Pfister & Gerstner 2006, Table 4), which are also NEST 3's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripletStdpParams {
    /// τ₊ of r₁ (ms). Default 16.8.
    pub tau_plus_ms: f64,
    /// τ_x of r₂ (ms). Default 101.
    pub tau_x_ms: f64,
    /// τ₋ of o₁ (ms). Default 33.7.
    pub tau_minus_ms: f64,
    /// τ_y of o₂ (ms). Default 125.
    pub tau_y_ms: f64,
    /// A₂⁺, pair potentiation. Default 5·10⁻¹⁰.
    pub a2_plus: f64,
    /// A₃⁺, triplet potentiation. Default 6.2·10⁻³.
    pub a3_plus: f64,
    /// A₂⁻, pair depression. Default 7·10⁻³.
    pub a2_minus: f64,
    /// A₃⁻, triplet depression. Default 2.3·10⁻⁴.
    pub a3_minus: f64,
    /// The bound (weights stay between 0 and it; negative for inhibitory synapses). Default 100.
    pub w_max: f64,
    /// All-to-all (default) or nearest-spike traces (Pfister & Gerstner's two variants).
    pub pairing: Pairing,
    /// Where the transmission delay lies (default: dendritic, as NEST).
    pub delays: DelayKind,
}

impl Default for TripletStdpParams {
    fn default() -> Self {
        TripletStdpParams {
            tau_plus_ms: 16.8,
            tau_x_ms: 101.0,
            tau_minus_ms: 33.7,
            tau_y_ms: 125.0,
            a2_plus: 5e-10,
            a3_plus: 6.2e-3,
            a2_minus: 7e-3,
            a3_minus: 2.3e-4,
            w_max: 100.0,
            pairing: Pairing::AllToAll,
            delays: DelayKind::Dendritic,
        }
    }
}

impl TripletStdpParams {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        positive("triplet.tau_plus_ms", self.tau_plus_ms)?;
        positive("triplet.tau_x_ms", self.tau_x_ms)?;
        positive("triplet.tau_minus_ms", self.tau_minus_ms)?;
        positive("triplet.tau_y_ms", self.tau_y_ms)?;
        non_negative("triplet.a2_plus", self.a2_plus)?;
        non_negative("triplet.a3_plus", self.a3_plus)?;
        non_negative("triplet.a2_minus", self.a2_minus)?;
        non_negative("triplet.a3_minus", self.a3_minus)?;
        bound("triplet.w_max", self.w_max)
    }
}

impl OnArrival<2> for TripletStdpParams {
    #[inline]
    fn post_arrives(&mut self, a: Arrival<2>, w: &mut f32) {
        let [r1, _] = a.other;
        if r1 != 0.0 {
            let o2 = a.own[1];
            let new = (*w as f64).abs() + r1 * (self.a2_plus + self.a3_plus * o2);
            *w = (new.min(self.w_max.abs()) * self.w_max.signum()) as f32;
        }
    }

    #[inline]
    fn pre_arrives(&mut self, a: Arrival<2>, w: &mut f32) {
        let [o1, _] = a.other;
        if o1 != 0.0 {
            let r2 = a.own[1];
            let new = (*w as f64).abs() - o1 * (self.a2_minus + self.a3_minus * r2);
            *w = (new.max(0.0) * self.w_max.signum()) as f32;
        }
    }
}

/// Triplet STDP as a projection's [`Plasticity`] (see the module docs).
///
/// ```
/// use somnet::network::plasticity::{TripletStdp, TripletStdpParams};
/// let rule = TripletStdp::new(TripletStdpParams::default()).unwrap();
/// assert_eq!(rule.params().tau_x_ms, 101.0);
/// assert!(TripletStdp::new(TripletStdpParams { tau_y_ms: 0.0, ..Default::default() }).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct TripletStdp {
    params: TripletStdpParams,
    timing: Option<SpikeTiming<2>>,
}

impl TripletStdp {
    /// A rule with these parameters (checked).
    pub fn new(params: TripletStdpParams) -> Result<Self> {
        params.validate()?;
        Ok(TripletStdp {
            params,
            timing: None,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &TripletStdpParams {
        &self.params
    }
}

impl Plasticity for TripletStdp {
    fn attach(&mut self, layout: &SynapseLayout<'_>) -> Result<()> {
        check_weights(layout, "triplet STDP", self.params.w_max)?;
        let p = &self.params;
        self.timing = Some(SpikeTiming::new(
            layout,
            [p.tau_plus_ms, p.tau_x_ms],
            [p.tau_minus_ms, p.tau_y_ms],
            p.pairing,
            p.delays,
        )?);
        Ok(())
    }

    fn on_step(&mut self, spikes: StepSpikes<'_>, synapses: SynapsesMut<'_>) {
        if let Some(timing) = &mut self.timing {
            timing.step(spikes, synapses, &mut self.params);
        }
    }

    fn reset(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.reset();
        }
    }
}
