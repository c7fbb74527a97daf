//! The sleep rule as projection plasticity.
//!
//! When post-synaptic neuron j fires, every synapse onto it changes:
//!
//! ```text
//! pre i fired this step:   w_ij ← w_ij + inc·σ(w_ij)
//! pre i silent:            w_ij ← w_ij − dec·σ(w_ij)
//! ```
//! and synapses onto silent neurons do not change. On a weight-shared convolution every kernel
//! tap is one weight for all positions: it moves by the rule averaged over the positions where
//! its output channel fired this step (and the tap reaches a pixel inside the image),
//!
//! ```text
//! w ← w + σ(w)·(inc·f − dec·(n − f))/n
//! ```
//! with n those positions and f how many of them saw their pre-synaptic neuron fire; a single
//! firing position moves it exactly as a dense synapse. The rule works on the ANN's weights `w` and
//! keeps the engine's copy at `gain·w`: the spiking layer's input scale α lives in the engine's
//! weights, while σ sees the weights the ANN will get back (as in the released code, where α
//! multiplies the input current and never the stored matrix).

use std::sync::{Arc, Mutex, MutexGuard};

use super::config::Sigma;
use crate::network::plasticity::{Plasticity, StepSpikes, SynapsesMut};

/// The ANN-side state a rule shares with whoever runs the sleep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleState {
    /// ANN weights in the projection's storage layout (dense: pre-major,
    /// `weights[pre * n_post + post]`; sparse: synapse order).
    pub weights: Vec<f32>,
    /// Synapse updates that potentiated (pre and post fired).
    pub potentiations: u64,
    /// Synapse updates that depressed (post fired, pre silent).
    pub depressions: u64,
}

/// A handle on a rule's [`RuleState`], readable after (or during) the run.
#[derive(Debug, Clone)]
pub struct SharedRuleState(Arc<Mutex<RuleState>>);

impl SharedRuleState {
    /// Locks the state (the rule holds the lock only inside a step).
    pub fn lock(&self) -> MutexGuard<'_, RuleState> {
        // A poisoned lock means a panic inside a step; the weights are still the last written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sleep rule for a dense projection.
///
/// ```
/// use somnet::network::plasticity::{Plasticity, StepSpikes, SynapsesMut};
/// use somnet::sleep::{Sigma, SleepRule};
/// // 2 pre × 1 post, ANN weights 0 and 0, engine gain 10.
/// let (mut rule, state) = SleepRule::new(vec![0.0, 0.0], 2, 10.0, 0.5, 0.25, Sigma::RELEASED);
/// let mut engine = vec![0.0f32; 2];
/// rule.on_step(StepSpikes { step: 0, pre: &[0], post: &[0] },
///              SynapsesMut::Dense { n_pre: 2, n_post: 1, weights: &mut engine });
/// // σ(0) = 1: the firing pre gains inc, the silent one loses dec.
/// assert_eq!(state.lock().weights, vec![0.5, -0.25]);
/// assert_eq!(engine, vec![5.0, -2.5]);
/// ```
pub struct SleepRule {
    inc: f32,
    dec: f32,
    sigma: Sigma,
    gain: f32,
    state: Arc<Mutex<RuleState>>,
    pre_fired: Vec<bool>,
}

impl SleepRule {
    /// A rule over ANN weights `weights` (in the storage layout of the projection it will be
    /// attached to) of a projection from `n_pre` neurons, whose engine copy is `gain·weights`;
    /// returns the rule and a handle on its state.
    pub fn new(
        weights: Vec<f32>,
        n_pre: usize,
        gain: f32,
        inc: f32,
        dec: f32,
        sigma: Sigma,
    ) -> (SleepRule, SharedRuleState) {
        let state = Arc::new(Mutex::new(RuleState {
            weights,
            ..RuleState::default()
        }));
        let rule = SleepRule {
            inc,
            dec,
            sigma,
            gain,
            state: state.clone(),
            pre_fired: vec![false; n_pre],
        };
        (rule, SharedRuleState(state))
    }
}

impl Plasticity for SleepRule {
    fn on_step(&mut self, spikes: StepSpikes<'_>, synapses: SynapsesMut<'_>) {
        if spikes.post.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        for &i in spikes.pre {
            self.pre_fired[i as usize] = true;
        }
        let (inc, dec, sigma, gain) = (self.inc, self.dec, self.sigma, self.gain);
        let update = |w: f32, fired: bool| {
            let s = sigma.eval(w);
            if fired {
                w + inc * s
            } else {
                w - dec * s
            }
        };
        let mut n_synapses = 0u64;
        match synapses {
            SynapsesMut::Dense {
                n_pre,
                n_post,
                weights: engine,
            } => {
                for &j in spikes.post {
                    // Column j of a pre-major matrix: stride n_post.
                    for (i, &fired) in self.pre_fired[..n_pre].iter().enumerate() {
                        let k = i * n_post + j as usize;
                        let w = update(state.weights[k], fired);
                        state.weights[k] = w;
                        engine[k] = gain * w;
                    }
                }
                n_synapses = (n_pre * spikes.post.len()) as u64;
            }
            SynapsesMut::Sparse {
                row_ptr,
                post,
                weights: engine,
            } => {
                // Rows are by pre-synaptic neuron: visit every synapse, keep those onto a spiking
                // neuron (`spikes.post` is increasing).
                for (i, &fired) in self.pre_fired.iter().enumerate() {
                    for k in row_ptr[i] as usize..row_ptr[i + 1] as usize {
                        if spikes.post.binary_search(&post[k]).is_ok() {
                            let w = update(state.weights[k], fired);
                            state.weights[k] = w;
                            engine[k] = gain * w;
                            n_synapses += 1;
                        }
                    }
                }
            }
            SynapsesMut::Shared {
                geometry: g,
                taps: engine,
            } => {
                let (potentiated, depressed) = shared_update(
                    &g,
                    spikes.post,
                    &self.pre_fired,
                    &mut state.weights,
                    |w, f, n| {
                        // The rule at every position where the kernel's output fired, averaged.
                        let s = sigma.eval(w);
                        w + s * (inc * f as f32 - dec * (n - f) as f32) / n as f32
                    },
                );
                for (e, &w) in engine.iter_mut().zip(&state.weights) {
                    *e = gain * w;
                }
                state.potentiations += potentiated;
                state.depressions += depressed;
                for &i in spikes.pre {
                    self.pre_fired[i as usize] = false;
                }
                return;
            }
        }
        let n_fired = (spikes.pre.len() * spikes.post.len()) as u64;
        state.potentiations += n_fired.min(n_synapses);
        state.depressions += n_synapses.saturating_sub(n_fired);
        for &i in spikes.pre {
            self.pre_fired[i as usize] = false;
        }
    }
}

/// Counts, for every kernel tap `t` (tap-major, `((c·kh + ky)·kw + kx)·C_out + o`), the
/// positions of channel o that fired (`post`) where the tap reaches a pixel (n) and where that
/// pixel's neuron fired (f), and sets `taps[t] = update(taps[t], f, n)` where n > 0. Returns
/// (pre-and-post pairs, post-only pairs) over all positions.
fn shared_update(
    g: &crate::network::Conv2dGeometry,
    post: &[u32],
    pre_fired: &[bool],
    taps: &mut [f32],
    update: impl Fn(f32, u32, u32) -> f32,
) -> (u64, u64) {
    let (ci, h, w) = g.input;
    let (kh, kw) = g.kernel;
    let (oh, ow) = g.output;
    let co = g.out_channels;
    let mut fired = vec![0u32; taps.len()];
    let mut seen = vec![0u32; taps.len()];
    for &j in post {
        let (o, pos) = g.output_layout.split(j as usize, co, oh * ow);
        let (oy, ox) = (pos / ow, pos % ow);
        for c in 0..ci {
            for ky in 0..kh {
                // Output row oy reads input row oy·s + ky − pad.
                let Some(y) = (oy * g.stride.0 + ky)
                    .checked_sub(g.pad.0)
                    .filter(|&y| y < h)
                else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(x) = (ox * g.stride.1 + kx)
                        .checked_sub(g.pad.1)
                        .filter(|&x| x < w)
                    else {
                        continue;
                    };
                    let t = ((c * kh + ky) * kw + kx) * co + o;
                    seen[t] += 1;
                    fired[t] += u32::from(pre_fired[g.input_layout.index(c, y * w + x, ci, h * w)]);
                }
            }
        }
    }
    let (mut potentiated, mut depressed) = (0u64, 0u64);
    for (t, tap) in taps.iter_mut().enumerate() {
        if seen[t] > 0 {
            *tap = update(*tap, fired[t], seen[t]);
            potentiated += fired[t] as u64;
            depressed += (seen[t] - fired[t]) as u64;
        }
    }
    (potentiated, depressed)
}
