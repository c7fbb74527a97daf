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

/// The scratch of a block without exponential ports and without delta input, stepped under an
/// external current: how the regime traces and the tests drive [`step_block`].
pub(crate) struct Unported {
    delta: Vec<f32>,
    scratch: Vec<f32>,
    fired: Vec<u8>,
}

impl Unported {
    /// Scratch for `n` neurons.
    pub(crate) fn new(n: usize) -> Self {
        Unported {
            delta: vec![0.0; n],
            scratch: vec![0.0; n],
            fired: vec![0u8; n],
        }
    }

    /// One step of `v`, `u` under `i_ext`, with per-neuron `[a, b, c, d]`; appends the neurons
    /// that fired to `spikes`.
    pub(crate) fn step(
        &mut self,
        p: &IzhikevichPropagator,
        (v, u): (&mut [f32], &mut [f32]),
        [a, b, c, d]: [&[f32]; 4],
        i_ext: &[f32],
        spikes: &mut Vec<u32>,
    ) {
        let block = IzhikevichBlock::<0> {
            v,
            u,
            a,
            b,
            c,
            d,
            syn: [],
            arrivals: [],
            delta: &mut self.delta,
            i_ext: Some(i_ext),
            scratch: &mut self.scratch,
            fired: &mut self.fired,
        };
        step_block(p, block, 0, spikes);
    }
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
    // Whole groups for the published scheme, one by one for the rest (the same arithmetic).
    let whole = match p.scheme {
        IntegrationScheme::Published2003 => n - n % GROUP,
        IntegrationScheme::Euler => 0,
    };
    // Without exponential ports, a group's current (i_ext + δ) is summed inside its update, not
    // in two passes over the block before it (the polychronization network, 10 s: 0.0245 →
    // 0.0233 s, min of 13 alternated runs). Below `fused`, the scratch current is not written.
    let fused = if NP == 0 { whole } else { 0 };
    // I = i_ext + δ + Σ x_p, accumulated in that order.
    let current = &mut b.scratch[..n];
    crate::neuron::external_drive(&mut current[fused..], b.i_ext.map(|e| &e[fused..n]), 1.0);
    for (c, d) in current[fused..]
        .iter_mut()
        .zip(b.delta[fused..n].iter_mut())
    {
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
    let k = Update {
        h: p.dt_ms,
        half: 0.5 * p.dt_ms,
        k2: p.k2,
        k1: p.k1,
        k0: p.k0,
        off: p.u_v_offset,
        leak: p.u_leak,
        peak: p.v_peak,
    };
    let mut n_fired = 0u32;
    let groups = v[..whole]
        .as_chunks_mut::<GROUP>()
        .0
        .iter_mut()
        .zip(u[..whole].as_chunks_mut::<GROUP>().0)
        .zip(pa[..whole].as_chunks::<GROUP>().0)
        .zip(pb[..whole].as_chunks::<GROUP>().0)
        .zip(fired[..whole].as_chunks_mut::<GROUP>().0)
        .enumerate();
    let (delta, i_ext) = (&mut b.delta[..fused], b.i_ext.map(|e| &e[..fused]));
    for (g, ((((v, u), a), b), f)) in groups {
        let at = g * GROUP..(g + 1) * GROUP;
        let i: [f32; GROUP] = match at.end <= fused {
            true => {
                // i_ext + δ as the two passes sum them (1 × i_ext is i_ext; 0 + δ with none).
                let mut i = [0.0f32; GROUP];
                if let Some(e) = i_ext {
                    i.copy_from_slice(&e[at.clone()]);
                }
                for (i, d) in i.iter_mut().zip(&mut delta[at]) {
                    *i += *d;
                    *d = 0.0;
                }
                i
            }
            false => current[..whole].as_chunks::<GROUP>().0[g],
        };
        n_fired += k.published_group(v, u, &i, (a, b), f);
    }
    let rows = v[whole..]
        .iter_mut()
        .zip(&mut u[whole..])
        .zip(&current[whole..])
        .zip(pa[whole..].iter().zip(&pb[whole..]))
        .zip(&mut fired[whole..]);
    for ((((v, u), &i), (&a, &b)), f) in rows {
        let vi = match p.scheme {
            IntegrationScheme::Published2003 => k.published(*v, *u, i),
            IntegrationScheme::Euler => *v + k.h * k.drift(*v, *u, i),
        };
        *u = k.recovery(*u, vi, a, b);
        *v = vi;
        n_fired += k.fire(vi, f);
    }
    if n_fired > 0 {
        crate::neuron::for_each_fired_at::<ISA>(fired, |i| {
            v[i] = b.c[i];
            u[i] += b.d[i];
            spikes.push(base + i as u32);
        });
    }
}

/// Neurons per group of [`Update::published_group`].
const GROUP: usize = 64;

/// The constants of the membrane and recovery update over one step.
#[derive(Debug, Clone, Copy)]
struct Update {
    h: f32,
    half: f32,
    k2: f32,
    k1: f32,
    k0: f32,
    off: f32,
    leak: f32,
    peak: f32,
}

impl Update {
    /// dv/dt at `v` with recovery `u` and input `i`.
    #[inline(always)]
    fn drift(&self, v: f32, u: f32, i: f32) -> f32 {
        (self.k2 * v + self.k1) * v + self.k0 - u + i
    }

    /// The membrane after one of the published scheme's half steps (u held).
    #[inline(always)]
    fn half_step(&self, v: f32, u: f32, i: f32) -> f32 {
        v + self.half * self.drift(v, u, i)
    }

    /// The membrane after the published scheme's two half steps.
    #[inline(always)]
    fn published(&self, v: f32, u: f32, i: f32) -> f32 {
        self.half_step(self.half_step(v, u, i), u, i)
    }

    /// The recovery variable after the step, from the new membrane `v`.
    #[inline(always)]
    fn recovery(&self, u: f32, v: f32, a: f32, b: f32) -> f32 {
        u + self.h * a * (b * (v - self.off) - self.leak * u)
    }

    /// Sets the spike flag of a neuron at `v`; 1 if it fired.
    #[inline(always)]
    fn fire(&self, v: f32, f: &mut u8) -> u32 {
        let fired = (v >= self.peak) as u8;
        *f = fired;
        fired as u32
    }

    /// [`Update::published`], the recovery and the flags over [`GROUP`] neurons, stage by
    /// stage. A neuron's step is a chain of some twenty dependent operations; taken stage by
    /// stage, the four 16-lane vectors of a group are four independent chains side by side,
    /// which the core overlaps (a neuron at a time, the loop waited on each chain: the
    /// polychronization network took 0.0381 against 0.0351 s, min of 11 alternated runs, the
    /// same spikes). Returns the number that fired.
    #[inline(always)]
    fn published_group(
        &self,
        v: &mut [f32; GROUP],
        u: &mut [f32; GROUP],
        i: &[f32; GROUP],
        (a, b): (&[f32; GROUP], &[f32; GROUP]),
        f: &mut [u8; GROUP],
    ) -> u32 {
        for _ in 0..2 {
            for k in 0..GROUP {
                v[k] = self.half_step(v[k], u[k], i[k]);
            }
        }
        for k in 0..GROUP {
            u[k] = self.recovery(u[k], v[k], a[k], b[k]);
        }
        (0..GROUP).map(|k| self.fire(v[k], &mut f[k])).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::{IzhikevichParams, IzhikevichPropagator, Unported};
    use crate::rng::{stream, uniform01, Purpose};
    use crate::simd::{self, Level};
    use crate::time::Dt;

    #[test]
    fn every_neuron_of_a_block_takes_the_published_step() {
        // 150 neurons (two groups of 64, then 22 one by one) with random v, u, input and
        // per-neuron a, b, stepped once at every vector level the CPU has, against the 2003
        // program's equations in f64: v += 0.5 (0.04 v² + 5 v + 140 − u + I) twice, then
        // u += a (b v − u); v ≥ 30 fires and resets to c, u += d. Every level gives the same bits.
        let n = 150;
        let mut rng = stream(3, Purpose::Connectivity, 0, 0, 0);
        let mut draw = |lo: f64, hi: f64| lo + (hi - lo) * uniform01(&mut rng);
        let v0: Vec<f32> = (0..n).map(|_| draw(-80.0, -40.0) as f32).collect();
        let u0: Vec<f32> = (0..n).map(|_| draw(-20.0, 0.0) as f32).collect();
        let i_ext: Vec<f32> = (0..n).map(|_| draw(0.0, 60.0) as f32).collect();
        let a: Vec<f32> = (0..n).map(|_| draw(0.02, 0.1) as f32).collect();
        let b: Vec<f32> = (0..n).map(|_| draw(0.2, 0.25) as f32).collect();
        let (c, d) = (vec![-65.0f32; n], vec![8.0f32; n]);
        let params = IzhikevichParams::heterogeneous(a.clone(), b.clone(), c.clone(), d.clone());
        let prop = IzhikevichPropagator::new(&params, &[], Dt::new(1.0).unwrap()).unwrap();
        let step = || {
            let (mut v, mut u) = (v0.clone(), u0.clone());
            let mut spikes = Vec::new();
            Unported::new(n).step(
                &prop,
                (&mut v, &mut u),
                [&a, &b, &c, &d],
                &i_ext,
                &mut spikes,
            );
            (v, u, spikes)
        };
        let best = simd::detected();
        let _guard = simd::tests::LEVEL_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut first: Option<(Vec<u32>, Vec<u32>)> = None;
        for level in [Level::Portable, Level::Avx2, Level::Avx512] {
            if level > best {
                continue;
            }
            simd::set_level(level);
            let (v, u, spikes) = step();
            let mut want_spikes = Vec::new();
            for k in 0..n {
                let (mut vr, ur, i) = (v0[k] as f64, u0[k] as f64, i_ext[k] as f64);
                for _ in 0..2 {
                    vr += 0.5 * (0.04 * vr * vr + 5.0 * vr + 140.0 - ur + i);
                }
                let mut ur = ur + a[k] as f64 * (b[k] as f64 * vr - ur);
                if vr >= 30.0 {
                    want_spikes.push(k as u32);
                    (vr, ur) = (c[k] as f64, ur + d[k] as f64);
                }
                let tol = |x: f64| 1e-4 * x.abs().max(1.0);
                assert!(
                    (v[k] as f64 - vr).abs() < tol(vr),
                    "{} v[{k}]",
                    level.name()
                );
                assert!(
                    (u[k] as f64 - ur).abs() < tol(ur),
                    "{} u[{k}]",
                    level.name()
                );
            }
            assert_eq!(spikes, want_spikes, "{}", level.name());
            assert!(spikes.len() > 5 && spikes.len() < n / 2, "{spikes:?}");
            let bits = |x: &[f32]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
            let got = (bits(&v), bits(&u));
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(&got, f, "{} against portable", level.name()),
            }
        }
        simd::set_level(best);
    }
}
