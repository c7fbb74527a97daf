//! Pair-based STDP with the weight dependence of NEST's `stdp_synapse` (Gütig et al. 2003).
//!
//! With traces x_pre (τ₊) and x_post (τ₋) at the synapse (see `timing.rs` for where spikes meet
//! and [`Pairing`] for how traces add up), and ŵ = w / w_max:
//! - a post spike reaching the synapse potentiates: ŵ ← min(1, ŵ + λ·(1 − ŵ)^μ₊ · x_pre),
//! - a pre spike reaching it depresses: ŵ ← max(0, ŵ − α·λ·ŵ^μ₋ · x_post).
//!
//! For one pair at Δt = t_post − t_pre (at the synapse) the change is therefore
//! λ·w_max·(1 − ŵ)^μ₊·e^{−Δt/τ₊} for Δt > 0 and −α·λ·w_max·ŵ^μ₋·e^{Δt/τ₋} for Δt < 0, and nothing
//! at Δt = 0. μ₊ = μ₋ = 0 is additive STDP (Song et al. 2000), 1 multiplicative (Rubin et al.
//! 2001), van Rossum et al. (2000) is μ₊ = 0, μ₋ = 1, and values between are Gütig et al. (2003).

use super::timing::{bound, check_weights, non_negative, Arrival, OnArrival, SpikeTiming};
use super::{DelayKind, Pairing, Plasticity, StepSpikes, SynapseLayout, SynapsesMut};
use crate::error::{positive, Result};

/// Parameters of [`Stdp`]; the defaults are NEST 3's `stdp_synapse` (with `tau_minus`, a neuron
/// parameter there, at its default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StdpParams {
    /// τ₊ of the pre trace (ms). Default 20.
    pub tau_plus_ms: f64,
    /// τ₋ of the post trace (ms). Default 20.
    pub tau_minus_ms: f64,
    /// Learning rate λ. Default 0.01.
    pub lambda: f64,
    /// Depression relative to potentiation, α. Default 1.
    pub alpha: f64,
    /// Weight-dependence exponent of potentiation, μ₊ (0 additive, 1 multiplicative). Default 1.
    pub mu_plus: f64,
    /// Weight-dependence exponent of depression, μ₋. Default 1.
    pub mu_minus: f64,
    /// The bound w_max (weights stay between 0 and it; negative for inhibitory synapses).
    /// Default 100.
    pub w_max: f64,
    /// All-to-all (default) or nearest-spike pairing.
    pub pairing: Pairing,
    /// Where the transmission delay lies (default: dendritic, as NEST).
    pub delays: DelayKind,
}

impl Default for StdpParams {
    fn default() -> Self {
        StdpParams {
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            lambda: 0.01,
            alpha: 1.0,
            mu_plus: 1.0,
            mu_minus: 1.0,
            w_max: 100.0,
            pairing: Pairing::AllToAll,
            delays: DelayKind::Dendritic,
        }
    }
}

impl StdpParams {
    /// Additive STDP (μ₊ = μ₋ = 0) with the other defaults.
    pub fn additive() -> Self {
        StdpParams {
            mu_plus: 0.0,
            mu_minus: 0.0,
            ..Self::default()
        }
    }

    /// Multiplicative STDP (μ₊ = μ₋ = 1) with the other defaults.
    pub fn multiplicative() -> Self {
        Self::default()
    }

    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        positive("stdp.tau_plus_ms", self.tau_plus_ms)?;
        positive("stdp.tau_minus_ms", self.tau_minus_ms)?;
        non_negative("stdp.lambda", self.lambda)?;
        non_negative("stdp.alpha", self.alpha)?;
        non_negative("stdp.mu_plus", self.mu_plus)?;
        non_negative("stdp.mu_minus", self.mu_minus)?;
        bound("stdp.w_max", self.w_max)
    }

    /// Potentiation of `w` by a pre trace `x_pre` (NEST's `facilitate_`).
    #[inline]
    pub(crate) fn facilitate(&self, w: f64, x_pre: f64) -> f64 {
        let norm = w / self.w_max + self.lambda * (1.0 - w / self.w_max).powf(self.mu_plus) * x_pre;
        norm.min(1.0) * self.w_max
    }

    /// Depression of `w` by a post trace `x_post` (NEST's `depress_`).
    #[inline]
    pub(crate) fn depress(&self, w: f64, x_post: f64) -> f64 {
        let norm = w / self.w_max
            - self.alpha * self.lambda * (w / self.w_max).powf(self.mu_minus) * x_post;
        norm.max(0.0) * self.w_max
    }
}

/// Pair-based STDP as a projection's [`Plasticity`].
///
/// ```
/// use somnet::network::plasticity::{Stdp, StdpParams};
/// use somnet::network::{Connection, Connector, Delay, Network, NetworkConfig, Weights};
/// use somnet::neuron::{IafParams, NeuronModel, Port, Reset};
/// let mut net = Network::new(NetworkConfig { dt_ms: 1.0, ..Default::default() }).unwrap();
/// // A pre spike at 10 ms, a post spike at 15 ms.
/// let pre = net.add_spike_source("pre", &[vec![10.0]]).unwrap();
/// let post = net.add_spike_source("post", &[vec![15.0]]).unwrap();
/// // The post neuron fires when the "post" source does (and the plastic input alone stays below θ).
/// let if_params = IafParams { reset: Reset::ToValue { v_reset_mv: 0.0 }, ..IafParams::default() };
/// let relay = net.add_population("relay", 1, NeuronModel::Iaf(if_params), vec![Port::Delta]).unwrap();
/// net.connect(post, relay, Connection::new(Connector::List(vec![(0, 0)]), Weights::Constant(2.0)).delay(Delay::Steps(0))).unwrap();
/// let p = net.connect(pre, relay, Connection::new(Connector::List(vec![(0, 0)]), Weights::Constant(0.5)).delay(Delay::Steps(1))).unwrap();
/// net.set_plasticity(p, Box::new(Stdp::new(StdpParams { w_max: 1.0, ..StdpParams::additive() }).unwrap())).unwrap();
/// net.run(30).unwrap();
/// // Δt = 15 + 1 − 10 = 6 ms at the synapse (the delay is dendritic): λ·w_max·e^{−6/20}.
/// let w = net.projection(p).synapses()[0].2;
/// assert!((w - (0.5 + 0.01 * (-6.0f32 / 20.0).exp())).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct Stdp {
    params: StdpParams,
    timing: Option<SpikeTiming<1>>,
}

impl Stdp {
    /// A rule with these parameters (checked).
    pub fn new(params: StdpParams) -> Result<Self> {
        params.validate()?;
        Ok(Stdp {
            params,
            timing: None,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &StdpParams {
        &self.params
    }
}

impl OnArrival<1> for StdpParams {
    #[inline]
    fn post_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
        if a.other[0] != 0.0 {
            *w = self.facilitate(*w as f64, a.other[0]) as f32;
        }
    }

    #[inline]
    fn pre_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
        if a.other[0] != 0.0 {
            *w = self.depress(*w as f64, a.other[0]) as f32;
        }
    }
}

impl Plasticity for Stdp {
    fn attach(&mut self, layout: &SynapseLayout<'_>) -> Result<()> {
        check_weights(layout, "STDP", self.params.w_max)?;
        self.timing = Some(SpikeTiming::new(
            layout,
            [self.params.tau_plus_ms],
            [self.params.tau_minus_ms],
            self.params.pairing,
            self.params.delays,
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
