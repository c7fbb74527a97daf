//! STDP accumulated into a weight derivative and applied periodically: the rule of Izhikevich's
//! polychronization network (Neural Computation 18:245, 2006, and its program).
//!
//! Each spike sets its neuron's trace to 1 (nearest-spike pairing, traces decaying with τ₊ / τ₋).
//! At the synapse (arrivals as in `timing.rs`, the delay axonal by default as in the model):
//! - a post spike adds A₊ × the pre trace to the synapse's derivative sd,
//! - a pre spike subtracts A₋ × the post trace from it;
//!
//! and every `period_ms`, every synapse takes w ← clip(w + bias + sd, 0, w_max), then
//! sd ← decay·sd. With the defaults (A₊ 0.1, A₋ 0.12, τ 20 ms, period 1 s, bias 0.01, decay 0.9,
//! w_max 10) this is the published model: weights change once a second, the small positive bias
//! keeps silent synapses from dying, and sd low-pass filters the pairings over seconds.
//!
//! Since sd is read only when a period ends, the arrivals are taken in bulk (`deferred.rs`):
//! depression goes into sd as it is taken, potentiation is summed apart and added to sd at the
//! period's end, each in f32 in the order its terms reach the synapse.

use super::deferred::DeferredSums;
use super::timing::{check_weights, non_negative};
use super::{DelayKind, Pairing, Plasticity, StepSpikes, SynapseLayout, SynapsesMut};
use crate::error::{positive, Error, Result};

/// Parameters of [`AccumulatedStdp`]; the defaults are Izhikevich (2006).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccumulatedStdpParams {
    /// A₊: derivative added per unit pre trace at a post arrival. Default 0.1.
    pub a_plus: f64,
    /// A₋: derivative removed per unit post trace at a pre arrival. Default 0.12.
    pub a_minus: f64,
    /// τ₊ of the pre trace (ms). Default 20.
    pub tau_plus_ms: f64,
    /// τ₋ of the post trace (ms). Default 20.
    pub tau_minus_ms: f64,
    /// How often the derivative is applied (ms; whole steps). Default 1000.
    pub period_ms: f64,
    /// Added to every weight at each application. Default 0.01.
    pub bias: f64,
    /// The derivative's factor after each application. Default 0.9.
    pub decay: f64,
    /// Upper bound of the weights (lower bound 0). Default 10.
    pub w_max: f64,
    /// Nearest-spike (default, the model's traces) or all-to-all pairing.
    pub pairing: Pairing,
    /// Where the transmission delay lies (default: axonal, as in the model).
    pub delays: DelayKind,
}

impl Default for AccumulatedStdpParams {
    fn default() -> Self {
        AccumulatedStdpParams {
            a_plus: 0.1,
            a_minus: 0.12,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            period_ms: 1000.0,
            bias: 0.01,
            decay: 0.9,
            w_max: 10.0,
            pairing: Pairing::Nearest,
            delays: DelayKind::Axonal,
        }
    }
}

impl AccumulatedStdpParams {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        non_negative("accumulated_stdp.a_plus", self.a_plus)?;
        non_negative("accumulated_stdp.a_minus", self.a_minus)?;
        positive("accumulated_stdp.tau_plus_ms", self.tau_plus_ms)?;
        positive("accumulated_stdp.tau_minus_ms", self.tau_minus_ms)?;
        positive("accumulated_stdp.period_ms", self.period_ms)?;
        crate::error::finite("accumulated_stdp.bias", self.bias)?;
        if !(0.0..=1.0).contains(&self.decay) {
            return Err(Error::param(
                "accumulated_stdp.decay",
                self.decay,
                "a factor in [0, 1]",
            ));
        }
        positive("accumulated_stdp.w_max", self.w_max)
    }
}

/// STDP accumulated into a derivative and applied every period, as a projection's
/// [`Plasticity`] (see the module docs).
///
/// ```
/// use somnet::network::plasticity::{AccumulatedStdp, AccumulatedStdpParams};
/// let rule = AccumulatedStdp::new(AccumulatedStdpParams::default()).unwrap();
/// assert_eq!(rule.params().w_max, 10.0);
/// ```
#[derive(Debug, Clone)]
pub struct AccumulatedStdp {
    params: AccumulatedStdpParams,
    period_steps: u64,
    /// The arrivals, taken in bulk (`deferred.rs`), and the weight derivative sd (their totals,
    /// per synapse in storage order): sd is read only when a period ends.
    arrivals: Option<DeferredSums>,
}

impl AccumulatedStdp {
    /// A rule with these parameters (checked).
    pub fn new(params: AccumulatedStdpParams) -> Result<Self> {
        params.validate()?;
        Ok(AccumulatedStdp {
            params,
            period_steps: 0,
            arrivals: None,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &AccumulatedStdpParams {
        &self.params
    }
}

impl Plasticity for AccumulatedStdp {
    fn attach(&mut self, layout: &SynapseLayout<'_>) -> Result<()> {
        check_weights(layout, "accumulated STDP", self.params.w_max)?;
        let p = &self.params;
        self.period_steps = crate::time::Dt::new(layout.dt_ms)?
            .steps_exact("accumulated_stdp.period_ms", p.period_ms)?
            as u64;
        self.arrivals = Some(DeferredSums::new(
            layout,
            (p.tau_plus_ms, p.tau_minus_ms),
            p.pairing,
            p.delays,
            (-p.a_minus, p.a_plus),
        )?);
        Ok(())
    }

    fn on_step(&mut self, spikes: StepSpikes<'_>, synapses: SynapsesMut<'_>) {
        let Some(arrivals) = &mut self.arrivals else {
            return;
        };
        let t = spikes.step;
        arrivals.observe(spikes);
        if !(t + 1).is_multiple_of(self.period_steps) {
            return;
        }
        let sd = arrivals.drain(t);
        let weights = match synapses {
            SynapsesMut::Dense { weights, .. } | SynapsesMut::Sparse { weights, .. } => weights,
            SynapsesMut::Shared { .. } => return,
        };
        let (bias, decay, w_max) = (
            self.params.bias as f32,
            self.params.decay as f32,
            self.params.w_max as f32,
        );
        for (w, sd) in weights.iter_mut().zip(sd) {
            *w = (*w + bias + *sd).clamp(0.0, w_max);
            *sd *= decay;
        }
    }

    fn reset(&mut self) {
        if let Some(arrivals) = &mut self.arrivals {
            arrivals.reset();
        }
    }
}
