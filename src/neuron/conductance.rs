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
//! # Forward Euler
//! [`ConductanceScheme::ForwardEuler`] takes the first-order step of the same equation,
//! `v(t+dt) = v' + (G·v_∞ − G·v')·dt/τ_m` (φ ≡ 1 in the form above), the scheme of Brette et
//! al.'s (2007) COBA script in Brian2 (`method='euler'`). It is there so that a benchmark can set
//! the same computation side by side with that script; it is stable only while G·dt/τ_m < 2, and
//! its error per step is larger than exponential Euler's wherever G is large. Conductances still
//! decay exactly in both schemes.
//!
//! φ(a) comes from a degree-6 polynomial where 0 ≤ a < 1 (every neuron at every step of
//! COBA-type networks: no `e^x`, no division, a short chain of dependent operations), else from
//! [`expm1`] and a division; both are plain `f32` arithmetic so that the loop vectorises and every
//! vector level gives the same bits. The choice is made per neuron, so a neuron's update never
//! depends on its neighbours; a chunk of 256 neurons where all take the polynomial skips the
//! other form.

use super::{collect_spikes, threshold, DeltaIn, IntegrateBlock, Port, SpikeOutput, SpikeRule};
use crate::time::Dt;

/// How the membrane of a LIF population with conductance ports is integrated over a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConductanceScheme {
    /// Exponential Euler (the module's scheme): exact while the conductances are constant over
    /// the step, stable at any step.
    #[default]
    ExponentialEuler,
    /// Forward Euler, the scheme of Brian2's COBA benchmark script (see the module docs).
    ForwardEuler,
}

/// The constants of the conductance step, derived once from (params, ports, dt).
#[derive(Debug, Clone, PartialEq)]
pub struct ConductancePropagator {
    /// `dt/τ_m`.
    pub h_tau: f32,
    /// The membrane's integration scheme.
    pub scheme: ConductanceScheme,
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
            scheme: ConductanceScheme::ExponentialEuler,
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

/// Below this a = G·dt/τ_m (and from 0), φ(a) comes from its polynomial (see [`phi_poly`]).
const POLY_MAX_A: f32 = 1.0;

/// Whether φ(a) comes from [`phi_poly`]: 0 ≤ a < [`POLY_MAX_A`] (never for a NaN).
#[inline(always)]
fn in_poly_range(a: f32) -> bool {
    (0.0..POLY_MAX_A).contains(&a)
}

/// φ(a) = (1 − e^(−a))/a for 0 ≤ a < [`POLY_MAX_A`], by a degree-6 polynomial with near-minimax
/// relative error on [0, 1] (2.7·10⁻⁹ in exact arithmetic, below 2 ulp of φ as evaluated here in
/// `f32`); `tools/phi_minimax.py` computes the coefficients and these figures. It needs neither
/// `e^x` nor a division, and it is evaluated by Estrin's scheme (pairs of terms combined by
/// powers a², a⁴), 14 operations with a chain of 5 dependent ones: the membrane pass is bound by
/// its arithmetic. (The Taylor series needs degree 10 for the same accuracy at a = 1: 23
/// operations.) G ≥ 1 with non-negative conductances, so a ≥ dt/τ_m > 0; in COBA-type networks
/// (G up to ~100 in the high-conductance state, dt/τ_m = 0.005) every neuron takes this path at
/// every step.
#[inline(always)]
fn phi_poly(a: f32) -> f32 {
    const C: [f32; 7] = [
        1.0,
        -0.499_999_8,
        0.166_663_26,
        -0.041_646_026,
        0.008_273_66,
        -0.001_298_968_6,
        0.000_128_430_53,
    ];
    let a2 = a * a;
    let a4 = a2 * a2;
    let p01 = C[0] + C[1] * a;
    let p23 = C[2] + C[3] * a;
    let p45 = C[4] + C[5] * a;
    let p0_3 = p01 + a2 * p23;
    let p4_6 = p45 + a2 * C[6];
    p0_3 + a4 * p4_6
}

/// φ(a) by [`expm1`] and a division, for any a; φ(0) = 1. Both sides are computed and one is
/// selected (0/0 is discarded), keeping the loop branch-free.
#[inline(always)]
fn phi_exact(a: f32) -> f32 {
    let phi = -expm1(-a) / a;
    if a == 0.0 {
        1.0
    } else {
        phi
    }
}

/// φ(a) for any a: the polynomial where [`in_poly_range`], else the exact form. A pure function
/// of a, so a neuron's update never depends on its neighbours or the vector width.
#[inline(always)]
fn phi(a: f32) -> f32 {
    if in_poly_range(a) {
        phi_poly(a)
    } else {
        phi_exact(a)
    }
}

/// One neuron's membrane over a step: `v0` after the delta input, `drive` = G·v_∞, `g_tot` = G,
/// with φ from `phi`.
#[inline(always)]
fn relax_with(v0: f32, drive: f32, g_tot: f32, h_tau: f32, phi: impl Fn(f32) -> f32) -> f32 {
    v0 + (drive - g_tot * v0) * h_tau * phi(g_tot * h_tau)
}

/// One neuron's membrane over a step, for any G.
#[cfg(test)]
fn relax(v0: f32, drive: f32, g_tot: f32, h_tau: f32) -> f32 {
    relax_with(v0, drive, g_tot, h_tau, phi)
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
    output: SpikeOutput,
) -> usize {
    let n = b.v.len();
    // Empty arrivals: the ports take no delayed input (see `IntegrateBlock::arrivals`).
    let arr_fed = !b.arrivals.iter().all(|a| a.is_empty());
    let ports = Ports::<NP> {
        syn: b.syn.map(|s| &mut s[..n]),
        arr: b.arrivals.map(|a| if arr_fed { &mut a[..n] } else { a }),
        g_coef: std::array::from_fn(|k| c.g_coef[k]),
        d_coef: std::array::from_fn(|k| c.drive_coef[k]),
        decay: std::array::from_fn(|k| decay[k]),
    };
    let euler = c.scheme == ConductanceScheme::ForwardEuler;
    let n_fired = super::with_delta!(b.delta, FED => {
        let cells = Cells {
            v: &mut b.v[..n],
            refr: &mut b.refractory_left[..n],
            delta: DeltaIn::<FED>::new(b.delta, n),
            fired: &mut b.fired[..n],
        };
        // The external current (voltage-equivalent) enters G·v_∞ with gain 1; without one the
        // loop reads no array for it (E_L + 0 = E_L: the same bits).
        let h = c.h_tau;
        // Every port a conductance (COBA's kind of network), no current, no ring input: G is
        // 1 + Σ g_c, without the multiplications by 1 (the same bits), two of the fused forward
        // Euler loop's 35 operations per 16 neurons.
        let unit_g = c.g_coef.iter().all(|&g| g == 1.0) && !super::general_only();
        match (b.i_ext, arr_fed) {
            (None, false) if unit_g => {
                membrane_pass::<NP, FED, false, true>(ports, cells, &rule, h, euler, |_| 0.0)
            }
            (None, true) => {
                membrane_pass::<NP, FED, true, false>(ports, cells, &rule, h, euler, |_| 0.0)
            }
            (None, false) => {
                membrane_pass::<NP, FED, false, false>(ports, cells, &rule, h, euler, |_| 0.0)
            }
            (Some(ext), true) => {
                let ext = &ext[..n];
                membrane_pass::<NP, FED, true, false>(ports, cells, &rule, h, euler, |i| ext[i])
            }
            (Some(ext), false) => {
                let ext = &ext[..n];
                membrane_pass::<NP, FED, false, false>(ports, cells, &rule, h, euler, |i| ext[i])
            }
        }
    });
    collect_spikes::<ISA>(b.fired, n_fired as usize, base, spikes, output)
}

/// A block's port variables, this step's arrivals and the per-port constants.
struct Ports<'a, const NP: usize> {
    syn: [&'a mut [f32]; NP],
    arr: [&'a mut [f32]; NP],
    g_coef: [f32; NP],
    d_coef: [f32; NP],
    decay: [f32; NP],
}

/// A block's (or a chunk's) membrane, refractory counts, delta input and spike flags.
struct Cells<'a, const FED: bool> {
    v: &'a mut [f32],
    refr: &'a mut [u32],
    delta: DeltaIn<'a, FED>,
    fired: &'a mut [u8],
}

impl<const FED: bool> Cells<'_, FED> {
    /// Neurons `start..start + len`.
    #[inline(always)]
    fn part(&mut self, start: usize, len: usize) -> Cells<'_, FED> {
        let end = start + len;
        Cells {
            v: &mut self.v[start..end],
            refr: &mut self.refr[start..end],
            delta: self.delta.part(start, len),
            fired: &mut self.fired[start..end],
        }
    }

    /// Neuron `j`'s membrane over the step from G·v_∞ = `drive` and G = `g_tot`, φ from `phi`,
    /// then its threshold; whether it fired.
    #[inline(always)]
    fn relax(
        &mut self,
        j: usize,
        (g_tot, drive): (f32, f32),
        rule: &SpikeRule,
        h_tau: f32,
        phi: &impl Fn(f32) -> f32,
    ) -> bool {
        let r = self.refr[j];
        let active = r == 0;
        // Unfed, v + 0 would only turn a −0 into +0: not worth an operation per neuron.
        let v0 = if FED {
            self.v[j] + self.delta.take(j)
        } else {
            self.v[j]
        };
        let vn = relax_with(v0, drive, g_tot, h_tau, phi);
        let vv = if active { vn } else { self.v[j] };
        let (vv, rr, fi) = threshold(rule, vv, active, r);
        self.v[j] = vv;
        self.refr[j] = rr;
        self.fired[j] = fi as u8;
        fi
    }
}

/// The per-port constants of the pass, with E_L and dt/τ_m.
struct PortConsts<const NP: usize> {
    g_coef: [f32; NP],
    d_coef: [f32; NP],
    decay: [f32; NP],
    v_rest: f32,
    h_tau: f32,
}

impl<const NP: usize> PortConsts<NP> {
    /// Neuron `j`'s ports: each variable takes its arrivals (`ARR`) and decays; returns
    /// (G, G·v_∞) from the values before the decay, `ext` the external drive. `UNIT_G`: every
    /// `g_coef` is 1, and G adds the variables as they are.
    #[inline(always)]
    fn sums<const ARR: bool, const UNIT_G: bool>(
        &self,
        syn: &mut [&mut [f32]; NP],
        arr: &mut [&mut [f32]; NP],
        j: usize,
        ext: f32,
    ) -> (f32, f32) {
        let mut g = 1.0f32;
        let mut d = self.v_rest + ext;
        for p in 0..NP {
            let x = if ARR {
                let x = syn[p][j] + arr[p][j];
                arr[p][j] = 0.0;
                x
            } else {
                syn[p][j]
            };
            syn[p][j] = x * self.decay[p];
            g += if UNIT_G { x } else { x * self.g_coef[p] };
            d += x * self.d_coef[p];
        }
        (g, d)
    }
}

/// Neurons per chunk of the membrane pass: the chunk's G and G·v_∞ wait on the stack between
/// its two loops.
const CHUNK: usize = 256;

/// A chunk's scratch values on a cache line, like the block's arrays (see [`crate::memory`]):
/// a stack array of f32 starts on 4 bytes, and its vector loads would straddle two lines.
#[repr(C, align(64))]
struct Line([f32; CHUNK]);

/// The pass over a block. Exponential Euler goes a chunk at a time, with two loops per chunk:
/// ports first (G and G·v_∞ kept per neuron), then membrane and threshold. When every a of the
/// chunk is [`in_poly_range`] (the common case), the second loop takes φ from the polynomial
/// alone; otherwise it selects per neuron, which gives the same bits as the polynomial wherever
/// it applies. `euler`: forward Euler (φ ≡ 1), in one loop over the block with the same
/// operations. `ARR`: the ports' arrivals are read and cleared (else the slices are empty and
/// the port variables already hold every input). Returns the number that fired.
///
/// Every exponential chunk but a block's last has the constant length [`CHUNK`], and its loops
/// are compiled for that length: with a variable trip count the vector loops left each chunk's
/// last 32 neurons to a scalar loop, a quarter of COBA's pass.
#[inline(always)]
fn membrane_pass<const NP: usize, const FED: bool, const ARR: bool, const UNIT_G: bool>(
    p: Ports<'_, NP>,
    mut c: Cells<'_, FED>,
    rule: &SpikeRule,
    h_tau: f32,
    euler: bool,
    ext: impl Fn(usize) -> f32,
) -> u32 {
    let Ports {
        mut syn,
        mut arr,
        g_coef,
        d_coef,
        decay,
    } = p;
    let k = PortConsts {
        g_coef,
        d_coef,
        decay,
        v_rest: rule.v_rest,
        h_tau,
    };
    let n = c.v.len();
    if euler {
        // Nothing waits between the ports and the membrane: one loop over the whole block. (In
        // chunks, their setup took 11 % of coba-euler-4000's simulation: min of 11 alternated
        // runs 0.0207 against 0.0185 s, the same spikes.)
        let whole = Chunk {
            syn,
            arr,
            k: &k,
            ext: &ext,
            rule,
        };
        return whole.euler::<ARR, FED, UNIT_G>(c, n);
    }
    let mut n_fired = 0u32;
    let (mut g_tot, mut drive) = (Line([0.0f32; CHUNK]), Line([0.0f32; CHUNK]));
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        let syn = syn.each_mut().map(|s| &mut s[start..start + len]);
        let arr = arr
            .each_mut()
            .map(|a| if ARR { &mut a[start..start + len] } else { a });
        let ext = |j| ext(start + j);
        let cells = c.part(start, len);
        let chunk = Chunk {
            syn,
            arr,
            k: &k,
            ext: &ext,
            rule,
        };
        let scratch = (&mut g_tot.0[..len], &mut drive.0[..len]);
        n_fired += if len == CHUNK {
            chunk.exponential::<ARR, FED, UNIT_G>(cells, scratch, CHUNK)
        } else {
            chunk.exponential::<ARR, FED, UNIT_G>(cells, scratch, len)
        };
        start += len;
    }
    n_fired
}

/// One chunk's ports and what the pass needs with them.
struct Chunk<'a, const NP: usize, E> {
    syn: [&'a mut [f32]; NP],
    arr: [&'a mut [f32]; NP],
    k: &'a PortConsts<NP>,
    ext: &'a E,
    rule: &'a SpikeRule,
}

impl<const NP: usize, E: Fn(usize) -> f32> Chunk<'_, NP, E> {
    /// The chunk with its ports cut to `len` here, so that the loop's bound and every slice's
    /// length are the same value and no bound is checked in the loop (a check left in costs the
    /// vector loop its last 32 neurons, taken by a scalar loop).
    #[inline(always)]
    fn cut<const ARR: bool>(self, len: usize) -> Self {
        Chunk {
            syn: self.syn.map(|s| &mut s[..len]),
            arr: self.arr.map(|a| if ARR { &mut a[..len] } else { a }),
            ..self
        }
    }

    /// Forward Euler over the chunk's first `len` neurons, ports and membrane in one loop.
    #[inline(always)]
    fn euler<const ARR: bool, const FED: bool, const UNIT_G: bool>(
        self,
        mut c: Cells<'_, FED>,
        len: usize,
    ) -> u32 {
        let Chunk {
            mut syn,
            mut arr,
            k,
            ext,
            rule,
        } = self.cut::<ARR>(len);
        let mut c = c.part(0, len);
        let mut n_fired = 0u32;
        for j in 0..len {
            let gd = k.sums::<ARR, UNIT_G>(&mut syn, &mut arr, j, ext(j));
            n_fired += c.relax(j, gd, rule, k.h_tau, &|_| 1.0) as u32;
        }
        n_fired
    }

    /// Exponential Euler over the chunk's first `len` neurons: ports (G, G·v_∞ into `scratch`),
    /// then membrane and threshold with φ from the polynomial or, if a neuron of the chunk needs
    /// the exact form, per neuron.
    #[inline(always)]
    fn exponential<const ARR: bool, const FED: bool, const UNIT_G: bool>(
        self,
        mut c: Cells<'_, FED>,
        scratch: (&mut [f32], &mut [f32]),
        len: usize,
    ) -> u32 {
        let Chunk {
            mut syn,
            mut arr,
            k,
            ext,
            rule,
        } = self.cut::<ARR>(len);
        let (g_tot, drive) = (&mut scratch.0[..len], &mut scratch.1[..len]);
        let mut n_large = 0u32;
        for j in 0..len {
            let (g, d) = k.sums::<ARR, UNIT_G>(&mut syn, &mut arr, j, ext(j));
            g_tot[j] = g;
            drive[j] = d;
            n_large += !in_poly_range(g * k.h_tau) as u32;
        }
        let c = c.part(0, len);
        if n_large == 0 {
            relax_all(c, g_tot, drive, rule, k.h_tau, phi_poly)
        } else {
            relax_all(c, g_tot, drive, rule, k.h_tau, phi)
        }
    }
}

/// Membrane and threshold over `c` (as long as `g_tot` and `drive`), φ from `phi`. Returns the
/// number that fired.
#[inline(always)]
fn relax_all<const FED: bool>(
    mut c: Cells<'_, FED>,
    g_tot: &[f32],
    drive: &[f32],
    rule: &SpikeRule,
    h_tau: f32,
    phi: impl Fn(f32) -> f32,
) -> u32 {
    let mut n_fired = 0u32;
    for j in 0..g_tot.len() {
        n_fired += c.relax(j, (g_tot[j], drive[j]), rule, h_tau, &phi) as u32;
    }
    n_fired
}

#[cfg(test)]
mod tests {
    use super::{expm1, phi, phi_exact, phi_poly, relax, POLY_MAX_A};

    #[test]
    fn phi_poly_is_within_two_ulp_of_f64_where_it_is_used() {
        let mut worst = 0.0f64;
        let mut check = |a: f32| {
            let x = a as f64;
            let want = if x == 0.0 { 1.0 } else { -(-x).exp_m1() / x };
            let got = phi_poly(a) as f64;
            // An ulp of φ where it lies: φ ∈ (0.63, 1], 2⁻²⁴ below 1.
            let w = want as f32;
            let ulp = (w - f32::from_bits(w.to_bits() - 1)) as f64;
            let err = (got - want).abs() / ulp;
            assert!(err <= 2.0, "φ({a}) = {got}, f64 gives {want}: {err} ulp");
            assert_eq!(phi(a), phi_poly(a), "φ({a}) must take the polynomial");
            worst = worst.max(err);
        };
        let mut a = 0.0f32;
        while a < POLY_MAX_A {
            check(a);
            a += 0.000_17;
        }
        for a in [1e-30, 1e-7, 0.005, 0.999_999_9] {
            check(a);
        }
        assert!(worst > 0.1, "nothing compared: worst {worst} ulp");
        // Outside the polynomial's range the exact form is taken, and it agrees at the boundary.
        for a in [POLY_MAX_A, 1.5, 40.0, -1e-6, -0.5, -3.0] {
            assert_eq!(phi(a), phi_exact(a));
        }
        assert!(phi(f32::NAN).is_nan());
        let (s, e) = (phi_poly(0.9999) as f64, phi_exact(0.9999) as f64);
        assert!(
            (s - e).abs() < 2e-7,
            "polynomial {s} and exact {e} meet at a = 1"
        );
    }

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
