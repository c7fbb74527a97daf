//! Conductance-based synapses on the LIF membrane, integrated by exponential Euler.
//!
//! With conductance ports c and current ports p (see [`super::Port`]):
//!
//! ```text
//! τ_m dv/dt = −(v − E_L) + i_ext + Σ_p x_p + Σ_c g_c·(E_c − v)
//! τ_c dg_c/dt = −g_c,    τ_p dx_p/dt = −x_p
//! ```
//!
//! Conductances are in units of the leak conductance g_L (so `τ_m = C/g_L`, and Brette et al.'s
//! 6 nS onto a 10 nS leak is a weight of 0.6); currents are voltage-equivalent (R·I, mV) as in
//! [`super::lif`].
//!
//! # The scheme
//! Exponential Euler, the scheme of Brian2's `exponential_euler` state updater: over a step every
//! input is held at its value at the start of the step (after this step's arrivals), which makes
//! the membrane equation linear with constant coefficients, and that equation is solved exactly:
//!
//! ```text
//! G   = 1 + Σ_c g_c                      (total conductance / g_L)
//! v_∞ = (E_L + i_ext + Σ_p x_p + Σ_c g_c·E_c) / G
//! v(t+dt) = v_∞ + (v(t) + δ − v_∞)·e^(−G·dt/τ_m)
//!         = v' + (G·v_∞ − G·v')·(dt/τ_m)·φ(G·dt/τ_m),   v' = v(t) + δ,  φ(a) = (1 − e^(−a))/a
//! ```
//!
//! The second form is the one computed: it needs no division by G, so it stays finite and exact
//! when a (hand-set, negative) conductance makes G zero. The update is exact while the
//! conductances are constant, stable at any step (it never overshoots v_∞), and its error comes
//! only from holding decaying conductances constant over a step (first order in dt, like forward
//! Euler, which Brian2's COBA benchmark script uses; NEST's `iaf_cond_exp` uses an adaptive
//! Runge–Kutta–Fehlberg 4(5) solver instead). Synaptic variables decay exactly,
//! `g_c ← g_c·e^(−dt/τ_c)`.
//!
//! In `f32` a membrane approaching v_∞ stops moving where a step's change falls below half an ulp
//! of v: within (ulp/2)/(1 − e^(−a)) of v_∞ (5·10⁻⁴ mV at −60 mV for a = 0.0075), the same bound
//! as the current-based update's.
//!
//! e^(−a) comes from [`expm1`], a polynomial written in plain `f32` arithmetic so that the loop
//! vectorises and every vector level gives the same bits.

use super::{collect_spikes, threshold, IntegrateBlock, Port, SpikeRule};
use crate::time::Dt;

/// The constants of the conductance step, derived once from (params, ports, dt).
#[derive(Debug, Clone, PartialEq)]
pub struct ConductancePropagator {
    /// `dt/τ_m`.
    pub h_tau: f32,
    /// Per port with a variable: what one unit of it adds to G (1 for a conductance, 0 for a
    /// current).
    pub g_coef: Vec<f32>,
    /// Per port with a variable: what one unit of it adds to G·v_∞ (E_c for a conductance, 1 for
    /// a current).
    pub drive_coef: Vec<f32>,
}

impl ConductancePropagator {
    /// The propagator for `ports` on a membrane with time constant `tau_mem_ms`, or `None` when no
    /// port is a conductance (the exact current-based update applies then).
    pub fn new(tau_mem_ms: f32, ports: &[Port], dt: Dt) -> Option<Self> {
        if !ports.iter().any(|p| p.reversal_mv().is_some()) {
            return None;
        }
        let with_var = ports.iter().filter(|p| p.has_variable());
        let (g_coef, drive_coef) = with_var
            .map(|p| match p.reversal_mv() {
                Some(e_rev) => (1.0, e_rev),
                None => (0.0, 1.0),
            })
            .unzip();
        Some(ConductancePropagator {
            h_tau: (dt.ms() / tau_mem_ms as f64) as f32,
            g_coef,
            drive_coef,
        })
    }
}

/// `e^x − 1` for `f32`, accurate to a few ulp (relative) over the whole range, written in plain
/// arithmetic so that loops calling it vectorise and give the same bits at every vector level.
/// Arguments are clamped to [−87, 88], where `e^x` is a normal `f32`.
///
/// Range reduction `x = k·ln 2 + r`, |r| ≤ ln 2 / 2 (Cody–Waite, ln 2 split so that `k·ln2_hi` is
/// exact), `e^r − 1` by its Taylor series to r⁷ (truncation below 10⁻⁸ on that interval), then
/// `e^x − 1 = 2^k·(e^r − 1) + (2^k − 1)`, which keeps full relative precision near 0.
///
/// ```
/// let x = -0.125f32;
/// let got = somnet::neuron::conductance::expm1(x) as f64;
/// assert!((got - (x as f64).exp_m1()).abs() < 1e-7 * (x as f64).exp_m1().abs());
/// ```
#[inline(always)]
pub fn expm1(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // 0x3f318000: ln 2 to 12 significant bits, so k·LN2_HI is exact for |k| < 2^12.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer (ties to even) in the
    // default rounding mode, with no call and no SSE4.1 `round`.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = r
        * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^k from its exponent bits; k ∈ [−126, 127] after the clamp, so it is a normal number.
    // k sits in the low mantissa bits of `shifted` (1.5·2^23 + k): reading it there keeps the
    // loop in vector integer lanes, where `k as i32` (a saturating conversion) went scalar.
    let k_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let s = f32::from_bits(k_bits.wrapping_add(127) << 23);
    s * p + (s - 1.0)
}

/// One neuron's membrane over a step: `v0` after the delta input, `drive` = G·v_∞, `g_tot` = G.
#[inline(always)]
fn relax(v0: f32, drive: f32, g_tot: f32, h_tau: f32) -> f32 {
    let a = g_tot * h_tau;
    let phi = -expm1(-a) / a;
    // φ(0) = 1. Both sides are computed and one is selected (0/0 is discarded), keeping the loop
    // branch-free.
    let phi = if a == 0.0 { 1.0 } else { phi };
    v0 + (drive - g_tot * v0) * h_tau * phi
}

/// Advances a block of LIF neurons with conductance ports one step (the module's scheme), at the
/// vector level `ISA`; appends `base + i` of every neuron that fired.
#[inline(always)]
pub(crate) fn step_block_at<const ISA: u8, const NP: usize>(
    c: &ConductancePropagator,
    decay: &[f32],
    rule: SpikeRule,
    b: IntegrateBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    let n = b.v.len();
    let ports = Ports::<NP> {
        syn: b.syn.map(|s| &mut s[..n]),
        arr: b.arrivals.map(|a| &mut a[..n]),
        g_coef: std::array::from_fn(|k| c.g_coef[k]),
        d_coef: std::array::from_fn(|k| c.drive_coef[k]),
        decay: std::array::from_fn(|k| decay[k]),
    };
    let cells = Cells {
        v: &mut b.v[..n],
        refr: &mut b.refractory_left[..n],
        delta: &mut b.delta[..n],
        fired: &mut b.fired[..n],
    };
    // The external current (voltage-equivalent) enters G·v_∞ with gain 1; without one the loop
    // reads no array for it (E_L + 0 = E_L: the same bits).
    let n_fired = match b.i_ext {
        None => membrane_pass(ports, cells, &rule, c.h_tau, |_| 0.0),
        Some(ext) => {
            let ext = &ext[..n];
            membrane_pass(ports, cells, &rule, c.h_tau, |i| ext[i])
        }
    };
    collect_spikes::<ISA>(b.fired, n_fired as usize, base, spikes);
}

/// A block's port variables, this step's arrivals and the per-port constants.
struct Ports<'a, const NP: usize> {
    syn: [&'a mut [f32]; NP],
    arr: [&'a mut [f32]; NP],
    g_coef: [f32; NP],
    d_coef: [f32; NP],
    decay: [f32; NP],
}

/// A block's membrane, refractory counts, delta input and spike flags.
struct Cells<'a> {
    v: &'a mut [f32],
    refr: &'a mut [u32],
    delta: &'a mut [f32],
    fired: &'a mut [u8],
}

/// The fused pass over a block: ports, membrane, threshold. Returns the number that fired.
#[inline(always)]
fn membrane_pass<const NP: usize>(
    p: Ports<'_, NP>,
    c: Cells<'_>,
    rule: &SpikeRule,
    h_tau: f32,
    ext: impl Fn(usize) -> f32,
) -> u32 {
    let Ports {
        syn,
        arr,
        g_coef,
        d_coef,
        decay,
    } = p;
    let Cells {
        v,
        refr,
        delta,
        fired,
    } = c;
    let mut n_fired = 0u32;
    for i in 0..v.len() {
        let mut g_tot = 1.0f32;
        let mut drive = rule.v_rest + ext(i);
        for k in 0..NP {
            let x = syn[k][i] + arr[k][i];
            arr[k][i] = 0.0;
            syn[k][i] = x * decay[k];
            g_tot += x * g_coef[k];
            drive += x * d_coef[k];
        }
        let r = refr[i];
        let active = r == 0;
        let v0 = v[i] + delta[i];
        delta[i] = 0.0;
        let vn = relax(v0, drive, g_tot, h_tau);
        let vv = if active { vn } else { v[i] };
        let (vv, rr, fi) = threshold(rule, vv, active, r);
        v[i] = vv;
        refr[i] = rr;
        fired[i] = fi as u8;
        n_fired += fi as u32;
    }
    n_fired
}

#[cfg(test)]
mod tests {
    use super::{expm1, relax};

    #[test]
    fn one_step_is_the_exact_solution_for_any_total_conductance() {
        // Negative and zero G happen only with negative conductances set by hand; the step must
        // stay finite and right there too.
        let (v0, h) = (-55.0f32, 0.005f32);
        for g in [-5.0f32, -1e-4, 0.0, 1e-4, 0.5, 1.0, 25.0, 300.0] {
            let drive = -60.0 + (g - 1.0) * -80.0;
            let (gd, dd, vd, hd) = (g as f64, drive as f64, v0 as f64, h as f64);
            let want = if g == 0.0 {
                vd + dd * hd
            } else {
                let v_inf = dd / gd;
                v_inf + (vd - v_inf) * (-gd * hd).exp()
            };
            let got = relax(v0, drive, g, h) as f64;
            assert!((got - want).abs() < 1e-4, "G {g}: {got}, exact {want}");
        }
    }

    #[test]
    fn expm1_is_within_a_few_ulp_of_f64_over_the_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f64;
        while x < 88.0 {
            for y in [x, x * 1e-3, x * 1e-7] {
                let want = y.exp_m1();
                let got = expm1(y as f32) as f64;
                // Relative error against the f64 value of the f32 argument.
                let want_at = (y as f32 as f64).exp_m1();
                let rel = ((got - want_at) / want_at.abs().max(1e-300)).abs();
                assert!(
                    rel < 6e-7,
                    "expm1({y}) = {got}, f64 gives {want} ({want_at} at the f32 argument)"
                );
                worst = worst.max(rel);
            }
            x += 0.0137;
        }
        assert!(worst > 0.0, "nothing compared");
        assert_eq!(expm1(0.0), 0.0);
        assert_eq!(expm1(-1000.0), (-87.0f64).exp_m1() as f32);
    }
}
