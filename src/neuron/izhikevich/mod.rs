//! Izhikevich's simple model (Izhikevich 2003, "Simple model of spiking neurons", IEEE TNN 14:1569).
//!
//! ```text
//! dv/dt = k2·v² + k1·v + k0 − u + I
//! du/dt = a·(b·(v − u_v_offset) − u_leak·u)
//! if v ≥ v_peak: v ← c, u ← u + d
//! ```
//! with the paper's k2 = 0.04, k1 = 5, k0 = 140, u_v_offset = 0, u_leak = 1, v_peak = 30 mV by
//! default. The two extra knobs exist because some regimes of Izhikevich (2004), Fig. 1, use other
//! equations (class 1 and the integrator use k1 = 4.1, k0 = 108; accommodation uses
//! `du/dt = a·b·(v + 65)`): see [`regimes`].
//!
//! `I = i_ext + δ + Σ_p x_p` where δ is this step's delta input (a current lasting one step: the
//! program of the 2003 paper adds the weights of last step's spikes to `I`) and `x_p` the
//! exponential-port currents. Two integration schemes, which give different spike times (NEST and
//! GeNN document the same split):
//! - [`IntegrationScheme::Published2003`]: `v` advances in two half-steps of dt/2, then `u` with the
//!   new `v` (the 2003 program with dt = 1 ms: "for numerical stability").
//! - [`IntegrationScheme::Euler`]: one step of dt for `v`, then `u` with the new `v` (the
//!   `figure1.m` program of Izhikevich 2004).

pub mod regimes;

use crate::error::{Error, Result};
use crate::neuron::Port;
use crate::time::Dt;

/// How `v` and `u` are advanced over one step (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IntegrationScheme {
    /// Two half-steps for `v`, then `u` (Izhikevich 2003, Fig. 3 program).
    Published2003,
    /// One step for `v`, then `u` with the new `v` (Izhikevich 2004, `figure1.m`).
    Euler,
}

/// Parameters of an Izhikevich population. `a`, `b`, `c`, `d` hold one value (shared by every
/// neuron) or one per neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct IzhikevichParams {
    /// Recovery time scale (1/ms), per neuron or shared.
    pub a: Vec<f32>,
    /// Recovery sensitivity to v, per neuron or shared.
    pub b: Vec<f32>,
    /// Reset potential (mV), per neuron or shared.
    pub c: Vec<f32>,
    /// Recovery jump after a spike, per neuron or shared.
    pub d: Vec<f32>,
    /// Spike cut-off (mV).
    pub v_peak_mv: f32,
    /// Quadratic coefficient (1/(mV·ms)).
    pub k2: f32,
    /// Linear coefficient (1/ms).
    pub k1: f32,
    /// Constant term (mV/ms).
    pub k0: f32,
    /// Offset of v in the recovery equation (mV).
    pub u_v_offset_mv: f32,
    /// Coefficient of −u in the recovery equation.
    pub u_leak: f32,
    /// Integration scheme.
    pub scheme: IntegrationScheme,
}

impl IzhikevichParams {
    /// Shared a, b, c, d with the 2003 paper's equation and numerics.
    ///
    /// ```
    /// // Regular spiking (Izhikevich 2003, Fig. 2).
    /// let rs = somnet::neuron::IzhikevichParams::new(0.02, 0.2, -65.0, 8.0);
    /// assert!(rs.validate().is_ok());
    /// ```
    pub fn new(a: f32, b: f32, c: f32, d: f32) -> Self {
        IzhikevichParams {
            a: vec![a],
            b: vec![b],
            c: vec![c],
            d: vec![d],
            v_peak_mv: 30.0,
            k2: 0.04,
            k1: 5.0,
            k0: 140.0,
            u_v_offset_mv: 0.0,
            u_leak: 1.0,
            scheme: IntegrationScheme::Published2003,
        }
    }

    /// Per-neuron a, b, c, d (each of the same length).
    pub fn heterogeneous(a: Vec<f32>, b: Vec<f32>, c: Vec<f32>, d: Vec<f32>) -> Self {
        IzhikevichParams {
            a,
            b,
            c,
            d,
            ..Self::new(0.0, 0.0, 0.0, 0.0)
        }
    }

    /// Checks every field (lengths are checked against the population size by the network).
    pub fn validate(&self) -> Result<()> {
        for (name, values) in [
            ("a", &self.a),
            ("b", &self.b),
            ("c", &self.c),
            ("d", &self.d),
        ] {
            if values.is_empty() {
                return Err(Error::param(
                    format!("izhikevich.{name}"),
                    "[]",
                    "one value or one per neuron",
                ));
            }
            if let Some((i, x)) = values.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(Error::param(
                    format!("izhikevich.{name}[{i}]"),
                    x,
                    "a finite number",
                ));
            }
        }
        for (name, x) in [
            ("v_peak_mv", self.v_peak_mv),
            ("k2", self.k2),
            ("k1", self.k1),
            ("k0", self.k0),
            ("u_v_offset_mv", self.u_v_offset_mv),
            ("u_leak", self.u_leak),
        ] {
            crate::error::finite(&format!("izhikevich.{name}"), x as f64)?;
        }
        if let Some(&c) = self.c.iter().find(|&&c| c >= self.v_peak_mv) {
            return Err(Error::ResetNotBelowThreshold {
                model: "izhikevich",
                v_reset_mv: c,
                v_th_mv: self.v_peak_mv,
            });
        }
        Ok(())
    }

    /// The value of a per-neuron-or-shared parameter for neuron `i`.
    pub(crate) fn pick(values: &[f32], i: usize) -> f32 {
        if values.len() == 1 {
            values[0]
        } else {
            values[i]
        }
    }
}

/// Constants of the Izhikevich update, derived once from (params, ports, dt).
#[derive(Debug, Clone)]
pub struct IzhikevichPropagator {
    /// dt in ms.
    pub dt_ms: f32,
    /// Quadratic coefficient.
    pub k2: f32,
    /// Linear coefficient.
    pub k1: f32,
    /// Constant term.
    pub k0: f32,
    /// v offset in the u equation.
    pub u_v_offset: f32,
    /// Coefficient of −u.
    pub u_leak: f32,
    /// Spike cut-off.
    pub v_peak: f32,
    /// Scheme.
    pub scheme: IntegrationScheme,
    /// Per exponential port: `e^(−dt/τ)`.
    pub syn_decay: Vec<f32>,
}

impl IzhikevichPropagator {
    /// Derives the propagator; `params` must be validated.
    pub fn new(params: &IzhikevichParams, ports: &[Port], dt: Dt) -> Result<Self> {
        Ok(IzhikevichPropagator {
            dt_ms: dt.ms() as f32,
            k2: params.k2,
            k1: params.k1,
            k0: params.k0,
            u_v_offset: params.u_v_offset_mv,
            u_leak: params.u_leak,
            v_peak: params.v_peak_mv,
            scheme: params.scheme,
            syn_decay: crate::neuron::exp_decays(ports, dt),
        })
    }
}

/// The slices of a block of Izhikevich neurons for one step (low-level API).
pub struct IzhikevichBlock<'a, const NP: usize> {
    /// Membrane potentials (mV).
    pub v: &'a mut [f32],
    /// Recovery variables.
    pub u: &'a mut [f32],
    /// Per-neuron a.
    pub a: &'a [f32],
    /// Per-neuron b.
    pub b: &'a [f32],
    /// Per-neuron c.
    pub c: &'a [f32],
    /// Per-neuron d.
    pub d: &'a [f32],
    /// Exponential-port currents.
    pub syn: [&'a mut [f32]; NP],
    /// This step's arrivals per exponential port (zeroed after use).
    pub arrivals: [&'a mut [f32]; NP],
    /// This step's delta input: a current for one step (zeroed after use).
    pub delta: &'a mut [f32],
    /// External current, if any.
    pub i_ext: Option<&'a [f32]>,
    /// Scratch, one value per neuron (overwritten).
    pub scratch: &'a mut [f32],
    /// Scratch, one byte per neuron, all zero on entry and on exit.
    pub fired: &'a mut [u8],
}

/// Advances a block of Izhikevich neurons one step; appends `base + i` of every neuron that fired.
// Never inlined into the block update: whether the compiler inlined a neuron step depended on
// unrelated code elsewhere, and an inlined copy of the LIF loop ran 30 % slower (CUBA benchmark).
#[inline(never)]
pub fn step_block<const NP: usize>(
    p: &IzhikevichPropagator,
    b: IzhikevichBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    crate::simd::dispatch!(ISA => step_block_at::<ISA, NP>(p, b, base, spikes))
}

/// [`step_block`] at the vector level `ISA` ([`crate::simd`]).
#[inline(always)]
fn step_block_at<const ISA: u8, const NP: usize>(
    p: &IzhikevichPropagator,
    b: IzhikevichBlock<'_, NP>,
    base: u32,
    spikes: &mut Vec<u32>,
) {
    let n = b.v.len();
    // I = i_ext + δ + Σ x_p, accumulated in that order.
    let current = &mut b.scratch[..n];
    crate::neuron::external_drive(current, b.i_ext, 1.0);
    for (c, d) in current.iter_mut().zip(b.delta[..n].iter_mut()) {
        *c += *d;
        *d = 0.0;
    }
    for (k, (x, a)) in b.syn.into_iter().zip(b.arrivals).enumerate() {
        crate::neuron::exp_port_pass::<false>(
            &mut x[..n],
            &mut a[..n],
            current,
            1.0,
            p.syn_decay[k],
        );
    }
    let (v, u, fired) = (&mut b.v[..n], &mut b.u[..n], &mut b.fired[..n]);
    let (pa, pb) = (&b.a[..n], &b.b[..n]);
    let h = p.dt_ms;
    let half = 0.5 * h;
    let (k2, k1, k0, off, leak, peak) = (p.k2, p.k1, p.k0, p.u_v_offset, p.u_leak, p.v_peak);
    let mut n_fired = 0u32;
    let rows = v
        .iter_mut()
        .zip(u.iter_mut())
        .zip(current.iter())
        .zip(pa.iter().zip(pb))
        .zip(fired.iter_mut());
    match p.scheme {
        IntegrationScheme::Published2003 => {
            for ((((v, u), &i), (&a, &b)), f) in rows {
                let mut vi = *v;
                vi += half * ((k2 * vi + k1) * vi + k0 - *u + i);
                vi += half * ((k2 * vi + k1) * vi + k0 - *u + i);
                *u += h * a * (b * (vi - off) - leak * *u);
                *v = vi;
                let fi = (vi >= peak) as u8;
                *f = fi;
                n_fired += fi as u32;
            }
        }
        IntegrationScheme::Euler => {
            for ((((v, u), &i), (&a, &b)), f) in rows {
                let vi = *v + h * ((k2 * *v + k1) * *v + k0 - *u + i);
                *u += h * a * (b * (vi - off) - leak * *u);
                *v = vi;
                let fi = (vi >= peak) as u8;
                *f = fi;
                n_fired += fi as u32;
            }
        }
    }
    if n_fired > 0 {
        crate::neuron::for_each_fired_at::<ISA>(fired, |i| {
            v[i] = b.c[i];
            u[i] += b.d[i];
            spikes.push(base + i as u32);
        });
    }
}
