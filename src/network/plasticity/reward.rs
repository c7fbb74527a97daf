//! Reward-modulated STDP with eligibility traces (Izhikevich, Cerebral Cortex 17:2443, 2007).
//!
//! Spike pairs do not change the weight; they change its eligibility c, which decays with τ_c,
//! and the weight follows c times the dopamine concentration d:
//!
//! dc/dt = −c/τ_c + STDP(Δt)·δ(t − t_pair),  dd/dt = −d/τ_d + released(t),  dw/dt = c·(d_tonic + d),
//!
//! with STDP(Δt) = A₊·e^{−Δt/τ₊} (Δt > 0) or −A₋·e^{Δt/τ₋} (Δt < 0) at the synapse (arrivals as
//! in `timing.rs`), time in dw/dt in seconds, and w clipped to [0, w_max]. So a reward long after
//! a pairing still reaches the synapses that took part (the distal reward problem), and without
//! dopamine nothing changes.
//!
//! Each step, in order: dopamine released since the last step is added to d; spike arrivals add
//! to c; w += c·d·dt; then c and d decay by one step. The weight update is exact in that discrete
//! form but lazy: every step adds c·d·dt to every synapse, which would cost a pass over all
//! synapses per step, so each synapse instead carries its eligibility scaled to the start of an
//! epoch and the rule keeps the running sum of e^{−(n−E)dt/τ_c}·d(n)·dt; a synapse's weight
//! catches up when a spike reaches it, at every epoch boundary (after at most 12 τ_c, so that the
//! scaled values stay within 1.7·10⁵ of each other) and at the end of every run. Clipping happens
//! at those catch-ups, which equals clipping every step whenever d keeps one sign in between.

use std::sync::{Arc, Mutex};

use super::timing::{check_weights, non_negative, Arrival, OnArrival, SpikeTiming};
use super::{DelayKind, Pairing, Plasticity, StepSpikes, SynapseLayout, SynapsesMut};
use crate::error::{positive, Error, Result};

/// Parameters of [`RewardStdp`]; the defaults are those of Izhikevich (2007).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardStdpParams {
    /// A₊, eligibility added by a pre-before-post pair at Δt → 0. Default 1.0.
    pub a_plus: f64,
    /// A₋, eligibility removed by a post-before-pre pair at Δt → 0. Default 1.5.
    pub a_minus: f64,
    /// τ₊ (ms). Default 20.
    pub tau_plus_ms: f64,
    /// τ₋ (ms). Default 20.
    pub tau_minus_ms: f64,
    /// τ_c of the eligibility trace (ms). Default 1000.
    pub tau_c_ms: f64,
    /// τ_d of dopamine (ms). Default 200.
    pub tau_d_ms: f64,
    /// Tonic dopamine, added to d every step. Default 0 (Izhikevich used 0.01 μM; with it,
    /// weights drift with their eligibility even without reward).
    pub tonic: f64,
    /// Upper bound of the weights (lower bound 0). Default 4.
    pub w_max: f64,
    /// All-to-all (default) or nearest-spike pairing.
    pub pairing: Pairing,
    /// Where the transmission delay lies (default: dendritic, as NEST).
    pub delays: DelayKind,
}

impl Default for RewardStdpParams {
    fn default() -> Self {
        RewardStdpParams {
            a_plus: 1.0,
            a_minus: 1.5,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
            tau_c_ms: 1000.0,
            tau_d_ms: 200.0,
            tonic: 0.0,
            w_max: 4.0,
            pairing: Pairing::AllToAll,
            delays: DelayKind::Dendritic,
        }
    }
}

impl RewardStdpParams {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        non_negative("reward_stdp.a_plus", self.a_plus)?;
        non_negative("reward_stdp.a_minus", self.a_minus)?;
        positive("reward_stdp.tau_plus_ms", self.tau_plus_ms)?;
        positive("reward_stdp.tau_minus_ms", self.tau_minus_ms)?;
        positive("reward_stdp.tau_c_ms", self.tau_c_ms)?;
        positive("reward_stdp.tau_d_ms", self.tau_d_ms)?;
        non_negative("reward_stdp.tonic", self.tonic)?;
        positive("reward_stdp.w_max", self.w_max)
    }
}

/// A handle through which a program releases dopamine into a [`RewardStdp`] rule while the
/// network owns the rule. Cloning it gives another handle to the same rule.
#[derive(Debug, Clone, Default)]
pub struct Dopamine(Arc<Mutex<f64>>);

impl Dopamine {
    /// Releases `amount` (μM in Izhikevich's units; negative for punishment): it joins d at the
    /// start of the next step.
    pub fn release(&self, amount: f64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += amount;
    }

    fn take(&self) -> f64 {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The eligibility side of the rule: per-synapse state and the dopamine integral.
#[derive(Debug, Clone, Default)]
struct Eligibility {
    a_plus: f64,
    a_minus: f64,
    w_max: f64,
    /// e^{−dt/τ_c}: eligibility decay per step.
    decay_c: f64,
    /// Step at which the current epoch started.
    epoch: u64,
    /// Per synapse: c at its last touch, scaled to the epoch start (c · μ_c^{−(t_s − epoch)}).
    c_hat: Vec<f64>,
    /// Per synapse: the step of its last touch, relative to the epoch start.
    since: Vec<u32>,
    /// `integral[n]` = Σ_{m < n} μ_c^m · d(epoch + m) · dt_s: the weight change per unit of
    /// scaled eligibility from the epoch start to step epoch + n.
    integral: Vec<f64>,
}

impl Eligibility {
    /// Brings synapse `syn`'s weight up to step `t` (every step before `t` applied).
    #[inline]
    fn catch_up(&mut self, syn: usize, t: u64, w: &mut f32) {
        let n = (t - self.epoch) as usize;
        let s = self.since[syn] as usize;
        if s < n {
            let dw = self.c_hat[syn] * (self.integral[n] - self.integral[s]);
            if dw != 0.0 {
                *w = (*w as f64 + dw).clamp(0.0, self.w_max) as f32;
            }
            self.since[syn] = n as u32;
        }
    }

    /// Adds `dc` to synapse `syn`'s eligibility at step `t` (after catching its weight up).
    #[inline]
    fn add(&mut self, syn: usize, t: u64, dc: f64, w: &mut f32) {
        self.catch_up(syn, t, w);
        let n = t - self.epoch;
        self.c_hat[syn] += dc * self.decay_c.powi(-(n as i32));
    }

    /// Catches every synapse up to step `t`.
    fn catch_up_all(&mut self, t: u64, weights: &mut [f32]) {
        for (syn, w) in weights.iter_mut().enumerate() {
            self.catch_up(syn, t, w);
        }
    }

    /// Starts a new epoch at step `t` (every synapse caught up to it first).
    fn rebase(&mut self, t: u64, weights: &mut [f32]) {
        self.catch_up_all(t, weights);
        let scale = self.decay_c.powi((t - self.epoch) as i32);
        self.c_hat.iter_mut().for_each(|c| *c *= scale);
        self.since.fill(0);
        self.integral.clear();
        self.integral.push(0.0);
        self.epoch = t;
    }
}

impl OnArrival<1> for Eligibility {
    #[inline]
    fn post_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
        if a.other[0] != 0.0 {
            self.add(a.syn, a.t, self.a_plus * a.other[0], w);
        }
    }

    #[inline]
    fn pre_arrives(&mut self, a: Arrival<1>, w: &mut f32) {
        if a.other[0] != 0.0 {
            self.add(a.syn, a.t, -self.a_minus * a.other[0], w);
        }
    }
}

/// Reward-modulated STDP as a projection's [`Plasticity`] (see the module docs).
///
/// ```
/// use somnet::network::plasticity::{RewardStdp, RewardStdpParams};
/// let (rule, dopamine) = RewardStdp::new(RewardStdpParams::default()).unwrap();
/// // Attach `rule` with `Network::set_plasticity`, then reward between steps:
/// dopamine.release(0.5);
/// # drop(rule);
/// ```
#[derive(Debug)]
pub struct RewardStdp {
    params: RewardStdpParams,
    dopamine: Dopamine,
    /// Phasic dopamine of the current step.
    d: f64,
    /// e^{−dt/τ_d}.
    decay_d: f64,
    dt_s: f64,
    /// Steps per epoch.
    epoch_len: u64,
    started: bool,
    elig: Eligibility,
    timing: Option<SpikeTiming<1>>,
}

impl RewardStdp {
    /// A rule with these parameters (checked) and the handle that releases dopamine into it.
    pub fn new(params: RewardStdpParams) -> Result<(Self, Dopamine)> {
        params.validate()?;
        let dopamine = Dopamine::default();
        Ok((
            RewardStdp {
                params,
                dopamine: dopamine.clone(),
                d: 0.0,
                decay_d: 1.0,
                dt_s: 0.0,
                epoch_len: 1,
                started: false,
                elig: Eligibility::default(),
                timing: None,
            },
            dopamine,
        ))
    }

    /// The parameters.
    pub fn params(&self) -> &RewardStdpParams {
        &self.params
    }
}

impl Plasticity for RewardStdp {
    fn attach(&mut self, layout: &SynapseLayout<'_>) -> Result<()> {
        check_weights(layout, "reward-modulated STDP", self.params.w_max)?;
        let p = &self.params;
        let n_syn = layout.n_synapses();
        let steps_c = p.tau_c_ms / layout.dt_ms;
        // 12 τ_c: scaled eligibilities stay within e^12 ≈ 1.6·10⁵ of their true values, so
        // differences of the integral keep 10 of f64's 16 digits.
        let epoch_len = (12.0 * steps_c).floor();
        if epoch_len < 1.0 || epoch_len > i32::MAX as f64 {
            return Err(Error::param(
                "reward_stdp.tau_c_ms",
                p.tau_c_ms,
                format!(
                    "between {} and {} ms at dt = {} ms",
                    layout.dt_ms / 12.0,
                    i32::MAX as f64 * layout.dt_ms / 12.0,
                    layout.dt_ms
                ),
            ));
        }
        self.epoch_len = epoch_len as u64;
        self.decay_d = (-layout.dt_ms / p.tau_d_ms).exp();
        self.dt_s = layout.dt_ms / 1000.0;
        self.elig = Eligibility {
            a_plus: p.a_plus,
            a_minus: p.a_minus,
            w_max: p.w_max,
            decay_c: (-1.0 / steps_c).exp(),
            epoch: 0,
            c_hat: vec![0.0; n_syn],
            since: vec![0; n_syn],
            integral: vec![0.0],
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
        if t - self.elig.epoch >= self.epoch_len {
            if let Some(w) = weights(&mut synapses) {
                self.elig.rebase(t, w);
            }
        }
        // Dopamine of step t: last step's, decayed, plus what was released since.
        self.d = if self.started {
            self.d * self.decay_d
        } else {
            0.0
        } + self.dopamine.take();
        self.started = true;
        timing.step(spikes, synapses, &mut self.elig);
        // Step t's weight change per unit of scaled eligibility.
        let n = (t - self.elig.epoch) as i32;
        let last = *self.elig.integral.last().unwrap_or(&0.0);
        let d = self.params.tonic + self.d;
        self.elig
            .integral
            .push(last + self.elig.decay_c.powi(n) * d * self.dt_s);
    }

    fn sync(&mut self, step: u64, mut synapses: SynapsesMut<'_>) {
        if self.timing.is_some() && step >= self.elig.epoch {
            let n = ((step - self.elig.epoch) as usize).min(self.elig.integral.len() - 1);
            if let Some(w) = weights(&mut synapses) {
                self.elig.catch_up_all(self.elig.epoch + n as u64, w);
            }
        }
    }

    fn reset(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.reset();
        }
        self.elig.c_hat.fill(0.0);
        self.elig.since.fill(0);
        self.elig.integral.clear();
        self.elig.integral.push(0.0);
        self.elig.epoch = 0;
        self.d = 0.0;
        self.started = false;
        self.dopamine.take();
    }
}

/// The weights of a dense or sparse projection.
fn weights<'a>(synapses: &'a mut SynapsesMut<'_>) -> Option<&'a mut [f32]> {
    match synapses {
        SynapsesMut::Dense { weights, .. } | SynapsesMut::Sparse { weights, .. } => Some(weights),
        SynapsesMut::Shared { .. } => None,
    }
}
