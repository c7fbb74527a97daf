//! Leaky integrate-and-fire with exact integration.
//!
//! `τ_m dv/dt = −(v − v_rest) + i_ext + Σ_p x_p`, `τ_p dx_p/dt = −x_p`, where `i_ext` and `x_p`
//! are voltage-equivalent currents (R·I, in mV). The linear system is integrated exactly over a
//! step (Rotter & Diesmann 1999, as in NEST's `iaf_psc_exp` and Brian2's `exact` method):
//!
//! ```text
//! v(t+dt) = v_rest + (v(t) + δ − v_rest)·P_mm + (1 − P_mm)·i_ext + Σ_p P_p·x_p(t)
//! P_mm    = e^(−dt/τ_m)
//! P_p     = τ_p/(τ_p − τ_m)·(e^(−dt/τ_p) − e^(−dt/τ_m))      (τ_p ≠ τ_m)
//!         = (dt/τ_m)·e^(−dt/τ_m)                              (τ_p = τ_m)
//! x_p(t+dt) = x_p(t)·e^(−dt/τ_p)
//! ```
//! where `x_p(t)` already includes this step's arrivals and `δ` is this step's delta input.

use super::{exp_decays, exp_taus, threshold_and_reset, Port, Reset, SpikeRule};
use crate::error::Result;
use crate::time::Dt;

/// Parameters of a LIF population.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LifParams {
    /// Membrane time constant (ms), > 0.
    pub tau_mem_ms: f32,
    /// Resting (leak reversal) potential (mV).
    pub v_rest_mv: f32,
    /// Firing threshold (mV).
    pub v_th_mv: f32,
    /// What happens after a spike.
    pub reset: Reset,
    /// Refractory period (ms); must be a whole number of steps.
    pub t_ref_ms: f32,
}

impl Default for LifParams {
    /// τ_m 20 ms, rest −70 mV, threshold −50 mV, reset to −60 mV, 2 ms refractory.
    fn default() -> Self {
        LifParams {
            tau_mem_ms: 20.0,
            v_rest_mv: -70.0,
            v_th_mv: -50.0,
            reset: Reset::ToValue { v_reset_mv: -60.0 },
            t_ref_ms: 2.0,
        }
    }
}

impl LifParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        crate::error::positive("lif.tau_mem_ms", self.tau_mem_ms as f64)?;
        crate::error::finite("lif.v_rest_mv", self.v_rest_mv as f64)?;
        crate::error::finite("lif.v_th_mv", self.v_th_mv as f64)?;
        crate::error::finite("lif.t_ref_ms", self.t_ref_ms as f64)?;
        super::validate_reset("lif", self.reset, self.v_th_mv)
    }
}

/// Constants of the exact LIF update, derived once from (params, ports, dt).
#[derive(Debug, Clone)]
pub struct LifPropagator {
    /// `e^(−dt/τ_m)`.
    pub p_mm: f32,
    /// `1 − e^(−dt/τ_m)`: gain of the external current.
    pub p_ext: f32,
    /// Per exponential port: `P_p` (see the module docs).
    pub syn_gain: Vec<f32>,
    /// Per exponential port: `e^(−dt/τ_p)`.
    pub syn_decay: Vec<f32>,
    /// Rest (mV).
    pub v_rest: f32,
    /// Threshold (mV).
    pub v_th: f32,
    /// Reset rule.
    pub reset: Reset,
    /// Refractory period in steps.
    pub refractory_steps: u32,
}

impl LifPropagator {
    /// Derives the propagator; `params` must be validated.
    pub fn new(params: &LifParams, ports: &[Port], dt: Dt) -> Result<Self> {
        let h = dt.ms();
        let tau_m = params.tau_mem_ms as f64;
        let p_mm = (-h / tau_m).exp();
        let syn_gain = exp_taus(ports)
            .map(|tau_s| {
                // The two-exponential form cancels catastrophically as τ_s → τ_m; use the limit.
                if ((tau_s - tau_m) / tau_m).abs() < 1e-6 {
                    ((h / tau_m) * p_mm) as f32
                } else {
                    (tau_s / (tau_s - tau_m) * ((-h / tau_s).exp() - p_mm)) as f32
                }
            })
            .collect();
        Ok(LifPropagator {
            p_mm: p_mm as f32,
            p_ext: (-(-h / tau_m).exp_m1()) as f32,
            syn_gain,
            syn_decay: exp_decays(ports, dt),
            v_rest: params.v_rest_mv,
            v_th: params.v_th_mv,
            reset: params.reset,
            refractory_steps: dt.steps_exact("lif.t_ref_ms", params.t_ref_ms as f64)?,
        })
    }
}

/// The slices of a block of LIF neurons for one step (low-level API).
pub struct LifBlock<'a, const NP: usize> {
    /// Membrane potentials (mV).
    pub v: &'a mut [f32],
    /// Steps of refractoriness left.
    pub refractory_left: &'a mut [u32],
    /// Exponential-port variables (mV).
    pub syn: [&'a mut [f32]; NP],
    /// This step's arrivals per exponential port (zeroed after use).
    pub arrivals: [&'a mut [f32]; NP],
    /// This step's delta input (zeroed after use).
    pub delta: &'a mut [f32],
    /// External current (mV), if any.
    pub i_ext: Option<&'a [f32]>,
    /// Scratch, one byte per neuron, all zero on entry and on exit.
    pub fired: &'a mut [u8],
}

/// Advances a block of LIF neurons one step; appends `base + i` of every neuron that fired.
///
/// ```
/// use somnet::neuron::{lif, LifParams, Port};
/// let params = LifParams::default();
/// let dt = somnet::time::Dt::new(0.1).unwrap();
/// let prop = lif::LifPropagator::new(&params, &[], dt).unwrap();
/// let (mut v, mut refr, mut delta, mut fired) = (vec![-70.0f32], vec![0u32], vec![25.0f32], vec![0u8]);
/// let mut spikes = Vec::new();
/// lif::step_block::<0>(&prop, lif::LifBlock { v: &mut v, refractory_left: &mut refr, syn: [],
///     arrivals: [], delta: &mut delta, i_ext: None, fired: &mut fired }, 0, &mut spikes);
/// assert_eq!(spikes, vec![0]); // a 25 mV jump from rest crosses the −50 mV threshold
/// assert_eq!(v[0], -60.0);
/// ```
pub fn step_block<const NP: usize>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    let n = b.v.len();
    let (v, refr, fired, delta) = (
        &mut b.v[..n],
        &mut b.refractory_left[..n],
        &mut b.fired[..n],
        &mut b.delta[..n],
    );
    let gain: [f32; NP] = std::array::from_fn(|k| p.syn_gain[k]);
    let decay: [f32; NP] = std::array::from_fn(|k| p.syn_decay[k]);
    let syn = b.syn;
    let arr = b.arrivals;
    let (el, pmm, th) = (p.v_rest, p.p_mm, p.v_th);
    let mut n_fired = 0usize;
    for i in 0..n {
        let mut drive = match b.i_ext {
            Some(ext) => p.p_ext * ext[i],
            None => 0.0,
        };
        for k in 0..NP {
            let x = syn[k][i] + arr[k][i];
            arr[k][i] = 0.0;
            drive += gain[k] * x;
            syn[k][i] = x * decay[k];
        }
        let active = refr[i] == 0;
        let vn = el + (v[i] + delta[i] - el) * pmm + drive;
        delta[i] = 0.0;
        v[i] = if active { vn } else { v[i] };
        refr[i] = refr[i].saturating_sub(1);
        let f = (active & (v[i] >= th)) as u8;
        fired[i] = f;
        n_fired += f as usize;
    }
    let rule = SpikeRule {
        v_th: p.v_th,
        v_rest: p.v_rest,
        reset: p.reset,
        refractory_steps: p.refractory_steps,
    };
    threshold_and_reset(rule, v, refr, fired, n_fired, base, spikes);
}
