//! Non-leaky integrate-and-fire.
//!
//! `dv/dt = i_ext + Σ_p x_p`, with `i_ext` and the exponential-port variables `x_p` in mV/ms;
//! delta input jumps `v` by its weight in mV. Over one step of length dt the exact update is
//! `v ← v + δ + dt·i_ext + Σ_p τ_p(1 − e^(−dt/τ_p))·x_p`, then `x_p ← x_p·e^(−dt/τ_p)`.
//! A neuron fires when `v ≥ v_th_mv` (see [`crate::neuron::Reset`] for what follows).

use super::{exp_decays, exp_taus, Port, Reset, SpikeOutput, SpikeRule, SpikeTest};
use crate::error::Result;
use crate::time::Dt;

/// Parameters of a non-leaky integrate-and-fire population.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IafParams {
    /// Firing threshold (mV).
    pub v_th_mv: f32,
    /// Rest potential (mV): the initial potential and the reference of reset by subtraction.
    pub v_rest_mv: f32,
    /// What happens after a spike.
    pub reset: Reset,
    /// Refractory period (ms); must be a whole number of steps.
    pub t_ref_ms: f32,
}

impl Default for IafParams {
    /// The unit-threshold neuron of ANN-to-SNN conversion: θ = 1, rest 0, reset by subtraction.
    fn default() -> Self {
        IafParams {
            v_th_mv: 1.0,
            v_rest_mv: 0.0,
            reset: Reset::BySubtraction,
            t_ref_ms: 0.0,
        }
    }
}

impl IafParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        crate::error::finite("iaf.v_th_mv", self.v_th_mv as f64)?;
        crate::error::finite("iaf.v_rest_mv", self.v_rest_mv as f64)?;
        crate::error::finite("iaf.t_ref_ms", self.t_ref_ms as f64)?;
        if self.v_rest_mv >= self.v_th_mv {
            return Err(crate::error::Error::param(
                "iaf.v_rest_mv",
                self.v_rest_mv,
                format!("below v_th_mv = {}", self.v_th_mv),
            ));
        }
        super::validate_reset("iaf", self.reset, self.v_th_mv)
    }
}

/// Constants of the IF update, derived once from (params, ports, dt).
#[derive(Debug, Clone)]
pub struct IafPropagator {
    /// Threshold (mV).
    pub v_th: f32,
    /// Rest (mV).
    pub v_rest: f32,
    /// Reset rule.
    pub reset: Reset,
    /// How `v` is compared with the threshold (default `v ≥ θ`).
    pub spike_test: SpikeTest,
    /// Whether the membrane keeps nothing from one step to the next: each step `v = v_rest +`
    /// that step's input (a stateless threshold unit, NIR's Threshold). Default false.
    pub memoryless: bool,
    /// Refractory period in steps.
    pub refractory_steps: u32,
    /// dt in ms (multiplies `i_ext`).
    pub dt_ms: f32,
    /// Per exponential port: `τ(1 − e^(−dt/τ))`, the step integral of a unit current.
    pub syn_gain: Vec<f32>,
    /// Per exponential port: `e^(−dt/τ)`.
    pub syn_decay: Vec<f32>,
}

impl IafPropagator {
    /// Derives the propagator; `params` must be validated.
    pub fn new(params: &IafParams, ports: &[Port], dt: Dt) -> Result<Self> {
        let syn_decay = exp_decays(ports, dt);
        let syn_gain = exp_taus(ports)
            .map(|tau| (tau * (1.0 - (-dt.ms() / tau).exp())) as f32)
            .collect();
        Ok(IafPropagator {
            v_th: params.v_th_mv,
            v_rest: params.v_rest_mv,
            reset: params.reset,
            spike_test: SpikeTest::AtLeast,
            memoryless: false,
            refractory_steps: dt.steps_exact("iaf.t_ref_ms", params.t_ref_ms as f64)?,
            dt_ms: dt.ms() as f32,
            syn_gain,
            syn_decay,
        })
    }
}

/// The slices of a block of IF neurons for one step (low-level API).
pub type IafBlock<'a, const NP: usize> = super::IntegrateBlock<'a, NP>;

/// Advances a block of IF neurons one step; appends `base + i` of every neuron that fired.
// Never inlined into the block update: whether the compiler inlined a neuron step depended on
// unrelated code elsewhere, and an inlined copy of the LIF loop ran 30 % slower (CUBA benchmark).
#[inline(never)]
pub fn step_block<const NP: usize>(
    p: &IafPropagator,
    b: IafBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    step_block_with(p, b, base, spikes, SpikeOutput::List);
}

/// [`step_block`], leaving the spikes as `output` says.
#[inline(never)]
pub(crate) fn step_block_with<const NP: usize>(
    p: &IafPropagator,
    b: IafBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    crate::simd::dispatch!(ISA => step_block_at::<ISA, NP>(p, b, base, spikes, output))
}

/// [`step_block`] at the vector level `ISA` ([`crate::simd`]).
#[inline(always)]
fn step_block_at<const ISA: u8, const NP: usize>(
    p: &IafPropagator,
    b: IafBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    let rule = SpikeRule {
        v_th: p.v_th,
        v_fire: p.spike_test.firing_level(p.v_th),
        v_rest: p.v_rest,
        reset: p.reset,
        refractory_steps: p.refractory_steps,
    };
    let gains = super::DriveGains {
        ext_gain: p.dt_ms,
        syn_gain: &p.syn_gain,
        syn_decay: &p.syn_decay,
    };
    if p.memoryless {
        let rest = p.v_rest;
        super::integrate_step::<ISA, NP>(b, gains, rule, base, spikes, output, |_, d, drive| {
            rest + d + drive
        })
    } else {
        super::integrate_step::<ISA, NP>(b, gains, rule, base, spikes, output, |v, d, drive| {
            v + d + drive
        })
    }
}
