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

use super::timing::{check_weights, non_negative, Arrival, OnArrival, SpikeTiming};
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

/// The derivative side: one sd per synapse.
#[derive(Debug, Clone, Default)]
struct Derivative {
    a_plus: f64,
    a_minus: f64,
    sd: Vec<f32>,
}

impl OnArrival<1> for Derivative {
    #[inline]
    fn post_arrives(&mut self, a: Arrival<1>, _w: &mut f32) {
        self.sd[a.syn] += (self.a_plus * a.other[0]) as f32;
    }

    #[inline]
    fn pre_arrives(&mut self, a: Arrival<1>, _w: &mut f32) {
        self.sd[a.syn] -= (self.a_minus * a.other[0]) as f32;
    }

    /// Both sides: sd ± A × the other side's trace (−A₋·x rounds as −(A₋·x), and adding it as
    /// subtracting A₋·x: the same bits as the hooks above).
    #[inline]
    fn linear(&mut self, pre: bool) -> Option<(&mut [f32], f64)> {
        let coef = if pre { -self.a_minus } else { self.a_plus };
        Some((&mut self.sd, coef))
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
    derivative: Derivative,
    timing: Option<SpikeTiming<1>>,
}

impl AccumulatedStdp {
    /// A rule with these parameters (checked).
    pub fn new(params: AccumulatedStdpParams) -> Result<Self> {
        params.validate()?;
        Ok(AccumulatedStdp {
            params,
            period_steps: 0,
            derivative: Derivative::default(),
            timing: None,
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
        let n_syn = layout.n_synapses();
        self.derivative = Derivative {
            a_plus: p.a_plus,
            a_minus: p.a_minus,
            sd: vec![0.0; n_syn],
        };
        self.timing = Some(SpikeTiming::new(
            layout,
            [p.tau_plus_ms],
            [p.tau_minus_ms],
            p.pairing,
            p.delays,
        )?);
        Ok(())
    }

    fn on_step(&mut self, spikes: StepSpikes<'_>, mut synapses: SynapsesMut<'_>) {
        let Some(timing) = &mut self.timing else {
            return;
        };
        let t = spikes.step;
        timing.step(spikes, synapses.reborrow(), &mut self.derivative);
        if (t + 1).is_multiple_of(self.period_steps) {
            let weights = match synapses {
                SynapsesMut::Dense { weights, .. } | SynapsesMut::Sparse { weights, .. } => weights,
                SynapsesMut::Shared { .. } => return,
            };
            let (bias, decay, w_max) = (
                self.params.bias as f32,
                self.params.decay as f32,
                self.params.w_max as f32,
            );
            for (w, sd) in weights.iter_mut().zip(&mut self.derivative.sd) {
                *w = (*w + bias + *sd).clamp(0.0, w_max);
                *sd *= decay;
            }
        }
    }

    fn reset(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.reset();
        }
        self.derivative.sd.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::super::timing::{Arrival, OnArrival, SpikeTiming};
    use super::super::{DelayKind, Delays, LayoutSynapses, Pairing, StepSpikes, SynapseLayout};
    use super::{Derivative, SynapsesMut};
    use crate::rng::{stream, uniform01, Purpose};

    /// The derivative through its per-arrival hooks only (no linear loop).
    struct Hooks(Derivative);

    impl OnArrival<1> for Hooks {
        fn post_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
            self.0.post_arrives(a, w);
        }
        fn pre_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
            self.0.pre_arrives(a, w);
        }
    }

    #[test]
    fn the_linear_loop_gives_the_bits_of_the_per_arrival_hooks() {
        // 40 → 30 neurons, random sparse wiring with delays 0–7 steps, random spikes, both
        // delay conventions and both pairings: the derivative taken by `linear` and by the hooks
        // must agree bit for bit (and not be all zeros).
        let (n_pre, n_post) = (40usize, 30usize);
        let mut rng = stream(7, Purpose::Connectivity, 0, 0, 0);
        let mut draw = |p: f64| uniform01(&mut rng) < p;
        let mut row_ptr = vec![0u64];
        let (mut post, mut delays) = (Vec::new(), Vec::new());
        for i in 0..n_pre {
            for j in 0..n_post as u32 {
                if draw(0.3) {
                    post.push(j);
                    delays.push(((i as u32 + 3 * j) % 8) as u16);
                }
            }
            row_ptr.push(post.len() as u64);
        }
        let weights = vec![1.0f32; post.len()];
        let trains: Vec<(Vec<u32>, Vec<u32>)> = (0..300)
            .map(|_| {
                let pre = (0..n_pre as u32).filter(|_| draw(0.05)).collect();
                let post = (0..n_post as u32).filter(|_| draw(0.05)).collect();
                (pre, post)
            })
            .collect();
        for kind in [DelayKind::Axonal, DelayKind::Dendritic] {
            for pairing in [Pairing::Nearest, Pairing::AllToAll] {
                let layout = SynapseLayout {
                    projection: "test",
                    n_pre,
                    n_post,
                    dt_ms: 1.0,
                    pre_lag_steps: 0,
                    synapses: LayoutSynapses::Sparse {
                        row_ptr: &row_ptr,
                        post: &post,
                        weights: &weights,
                        delays: Delays::PerSynapse(&delays),
                    },
                };
                let derivative = || Derivative {
                    a_plus: 0.1,
                    a_minus: 0.12,
                    sd: vec![0.0; post.len()],
                };
                let mut linear = derivative();
                drive(&layout, &trains, (pairing, kind), &mut linear);
                let mut hooks = Hooks(derivative());
                drive(&layout, &trains, (pairing, kind), &mut hooks);
                let bits = |sd: &[f32]| sd.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(linear.sd.iter().any(|&x| x != 0.0), "{kind:?} {pairing:?}");
                assert_eq!(bits(&linear.sd), bits(&hooks.0.sd), "{kind:?} {pairing:?}");
            }
        }
    }

    /// Steps a rule through `trains` (per step: pre and post spikes) on a sparse `layout`.
    fn drive<R: OnArrival<1>>(
        layout: &SynapseLayout<'_>,
        trains: &[(Vec<u32>, Vec<u32>)],
        (pairing, kind): (Pairing, DelayKind),
        rule: &mut R,
    ) {
        let LayoutSynapses::Sparse {
            row_ptr,
            post,
            weights,
            ..
        } = layout.synapses
        else {
            unreachable!("a sparse layout")
        };
        let mut timing = SpikeTiming::new(layout, [20.0], [20.0], pairing, kind).unwrap();
        let mut w = weights.to_vec();
        for (t, (pre, post_spikes)) in trains.iter().enumerate() {
            let spikes = StepSpikes {
                step: t as u64,
                pre,
                post: post_spikes,
            };
            let synapses = SynapsesMut::Sparse {
                row_ptr,
                post,
                weights: &mut w,
            };
            timing.step(spikes, synapses, rule);
        }
    }
}
