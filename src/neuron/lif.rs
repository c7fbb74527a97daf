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
//!
//! A population with a conductance port is integrated by exponential Euler instead
//! ([`super::conductance`]).

use super::{
    collect_spikes, exp_decays, exp_taus, threshold, Port, Reset, SpikeOutput, SpikeRule, SpikeTest,
};
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
        // +∞ is allowed: a leaky integrator that never fires (a non-spiking readout).
        if self.v_th_mv.is_nan() || self.v_th_mv == f32::NEG_INFINITY {
            return Err(crate::error::Error::param(
                "lif.v_th_mv",
                self.v_th_mv,
                "a finite number, or +inf for a neuron that never fires",
            ));
        }
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
    /// How `v` is compared with the threshold (default `v ≥ θ`).
    pub spike_test: SpikeTest,
    /// Refractory period in steps.
    pub refractory_steps: u32,
    /// The exponential-Euler constants when a port is a conductance ([`super::conductance`]).
    pub conductance: Option<super::conductance::ConductancePropagator>,
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
            spike_test: SpikeTest::AtLeast,
            refractory_steps: dt.steps_exact("lif.t_ref_ms", params.t_ref_ms as f64)?,
            conductance: super::conductance::ConductancePropagator::new(
                params.tau_mem_ms,
                ports,
                dt,
            ),
        })
    }
}

/// The slices of a block of LIF neurons for one step (low-level API).
pub type LifBlock<'a, const NP: usize> = super::IntegrateBlock<'a, NP>;

/// Advances a block of LIF neurons one step; appends `base + i` of every neuron that fired.
///
/// ```
/// use somnet::neuron::{lif, LifParams, Port};
/// let params = LifParams::default();
/// let dt = somnet::time::Dt::new(0.1).unwrap();
/// let prop = lif::LifPropagator::new(&params, &[], dt).unwrap();
/// let (mut v, mut refr, mut delta, mut fired) = (vec![-70.0f32], vec![0u32], vec![25.0f32], vec![0u8]);
/// let mut scratch = vec![0.0f32];
/// let mut spikes = Vec::new();
/// lif::step_block::<0>(&prop, lif::LifBlock { v: &mut v, refractory_left: &mut refr, syn: [],
///     arrivals: [], delta: &mut delta, i_ext: None, scratch: &mut scratch, fired: &mut fired }, 0, &mut spikes);
/// assert_eq!(spikes, vec![0]); // a 25 mV jump from rest crosses the −50 mV threshold
/// assert_eq!(v[0], -60.0);
/// ```
// Never inlined into the block update: whether the compiler inlined a neuron step depended on
// unrelated code elsewhere, and an inlined copy of the LIF loop ran 30 % slower (CUBA benchmark).
#[inline(never)]
pub fn step_block<const NP: usize>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    step_block_with(p, b, base, spikes, SpikeOutput::List);
}

/// [`step_block`], leaving the spikes as `output` says.
#[inline(never)]
pub(crate) fn step_block_with<const NP: usize>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    crate::simd::dispatch!(ISA => step_block_at::<ISA, NP>(p, b, base, spikes, output))
}

/// [`step_block`] at the vector level `ISA` ([`crate::simd`]).
#[inline(always)]
fn step_block_at<const ISA: u8, const NP: usize>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
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
    if let Some(c) = &p.conductance {
        return super::conductance::step_block_at::<ISA, NP>(
            c,
            &p.syn_decay,
            rule,
            b,
            base,
            spikes,
            output,
        );
    }
    if NP == 2 && b.i_ext.is_none() && !super::general_only() {
        return step_two_ports::<ISA, NP>(p, b, base, spikes, output);
    }
    let (el, pmm) = (p.v_rest, p.p_mm);
    let gains = super::DriveGains {
        ext_gain: p.p_ext,
        syn_gain: &p.syn_gain,
        syn_decay: &p.syn_decay,
    };
    super::integrate_step::<ISA, NP>(b, gains, rule, base, spikes, output, |v, d, drive| {
        el + (v + d - el) * pmm + drive
    })
}

/// The two-port, no-current case (CUBA: excitatory and inhibitory currents) in one fused pass:
/// the same operations in the same order as the general path, with half the memory traffic.
#[inline(always)]
fn step_two_ports<const ISA: u8, const NP: usize>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    // Empty arrivals: the ports take no delayed input (see `IntegrateBlock::arrivals`), and the
    // pass neither reads nor clears them (four of its thirteen loads and stores per 16 neurons).
    if b.arrivals.iter().all(|a| a.is_empty()) {
        super::with_delta!(b.delta, FED => {
            step_two_ports_fed::<ISA, NP, FED, false>(p, b, base, spikes, output)
        })
    } else {
        super::with_delta!(b.delta, FED => {
            step_two_ports_fed::<ISA, NP, FED, true>(p, b, base, spikes, output)
        })
    }
}

/// [`step_two_ports`] with the delta input fed or not (`FED`, see [`super::DeltaIn`]), and the
/// ports' arrivals read or not (`ARR`: the same sums, since unread arrivals are all zero).
#[inline(always)]
fn step_two_ports_fed<const ISA: u8, const NP: usize, const FED: bool, const ARR: bool>(
    p: &LifPropagator,
    b: LifBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
) -> usize {
    let n = b.v.len();
    let (mut syn, mut arr) = (b.syn.into_iter(), b.arrivals.into_iter());
    const TWO: &str = "called with NP == 2";
    let (x0, x1) = (syn.next().expect(TWO), syn.next().expect(TWO));
    let (a0, a1) = (arr.next().expect(TWO), arr.next().expect(TWO));
    let m = if ARR { n } else { 0 };
    let (x0, x1, a0, a1) = (&mut x0[..n], &mut x1[..n], &mut a0[..m], &mut a1[..m]);
    let (g0, g1, d0, d1) = (p.syn_gain[0], p.syn_gain[1], p.syn_decay[0], p.syn_decay[1]);
    let (el, pmm) = (p.v_rest, p.p_mm);
    let rule = SpikeRule {
        v_th: p.v_th,
        v_fire: p.spike_test.firing_level(p.v_th),
        v_rest: p.v_rest,
        reset: p.reset,
        refractory_steps: p.refractory_steps,
    };
    let mut n_fired = 0u32;
    let (v, refr, fired) = (
        &mut b.v[..n],
        &mut b.refractory_left[..n],
        &mut b.fired[..n],
    );
    let mut delta = super::DeltaIn::<FED>::new(b.delta, n);
    for i in 0..n {
        let xv0 = if ARR {
            let x = x0[i] + a0[i];
            a0[i] = 0.0;
            x
        } else {
            x0[i]
        };
        let mut dr = g0 * xv0;
        x0[i] = xv0 * d0;
        let xv1 = if ARR {
            let x = x1[i] + a1[i];
            a1[i] = 0.0;
            x
        } else {
            x1[i]
        };
        dr += g1 * xv1;
        x1[i] = xv1 * d1;
        let r = refr[i];
        let active = r == 0;
        let vn = el + (v[i] + delta.take(i) - el) * pmm + dr;
        let vv = if active { vn } else { v[i] };
        let (vv, rr, fi) = threshold(&rule, vv, active, r);
        v[i] = vv;
        refr[i] = rr;
        fired[i] = fi as u8;
        n_fired += fi as u32;
    }
    collect_spikes::<ISA>(fired, n_fired as usize, base, spikes, output)
}
