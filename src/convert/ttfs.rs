//! Time-to-first-spike (TTFS) coding: every neuron fires at most once, and the time of its spike
//! carries its value — the exact mapping of a ReLU network onto single-spike neurons of Stanojevic
//! et al. ("An exact mapping from ReLU networks to spiking neural networks", Neural Networks 2023;
//! "High-performance deep spiking neural networks with 0.3 spikes per neuron", Nature
//! Communications 2024).
//!
//! # The neuron
//!
//! Time runs in layer windows of unit length (one membrane time unit τ_c). Every population of the
//! converted graph ([`super::plan`]) owns a window, the one after the latest window it reads from;
//! the input (latency input) owns window 0. A neuron of window w, with `t_min` its window's start
//! and `t_max = t_min + 1` its end:
//!
//! - **integrates** while its inputs' windows run: a spike of input neuron j at `t_j` switches on a
//!   current `W_ij` that lasts until the end of j's own window, so by `t_min` the membrane holds
//!   `V_i = b_i + Σ_j W_ij·(t_max(j) − t_j)`; its threshold is not yet active;
//! - **ramps** during its own window: `dV/dt = 1`, no input, threshold 1. It fires once, at
//!   `t_i = t_min + 1 − V_i`, if that falls inside the window (`V_i ≥ 1` fires at `t_min`,
//!   `V_i ≤ 0` never), then stays silent.
//!
//! Its value `x_i = t_max − t_i = clip(V_i, 0, 1)` is the normalised ReLU activation
//! ([`super::normalize`]) with the same clip at 1 as rate coding, and a neuron that stays silent
//! carries 0. By induction every layer's spike times encode the ANN's activations exactly
//! (Stanojevic et al. 2023, Sec. 2: their B1 model with τ_c = 1, B = 1 and windows of unit length;
//! the bias enters here as the initial potential rather than the threshold, which is the same).
//! Currents that end with their sender's window (rather than at the receiver's `t_min`, which is
//! the same for a chain) make skip connections exact as well: a residual junction or a
//! concatenation reads spikes of windows other than the previous one and still receives
//! `W_ij·x_j` from each. Max pooling is the first spike of each pooling window, relayed at once
//! (same window); average pooling, global pooling and junctions are populations like any other.
//!
//! With `ttfs_clock = steps` a neuron may fire only on the `K = ttfs_steps` steps of its window,
//! with its threshold half a step early, so its value is rounded to K levels:
//! `x = clip(⌊K·V + ½⌋ / K, 0, 1)` — QCFS's quantisation with L = K (Bu et al., ICLR 2022), so
//! a QCFS-trained network runs clocked with K = L without conversion error.
//!
//! # Input, readout, latency and energy
//!
//! `input = latency`: a pixel of value x ∈ (0, 1] fires at `1 − x` in window 0 (zero: no spike;
//! on the clock, x is rounded to K levels as above). `input = analog`: the first layer's membranes
//! start their window at `W·x + b`, which costs its MACs (as the analog input of rate coding).
//!
//! The output population ramps in its own window like any other. `readout = spikes`: the class is
//! the first output neuron to fire, the decision made at its spike; if none fires in the window
//! the highest membrane decides at its end. `readout = membrane`: the membranes decide at the
//! start of the output window. Either way the class is the ANN's `argmax` of the normalised
//! logits (ties to the lowest index); the accuracy curve has `ttfs_steps` steps per window and a
//! sample stops at its decision.
//!
//! A spike costs its fan-out in synaptic events (one accumulate each, into a current); the ramp
//! is a per-neuron counter that no energy figure of somnet counts, as it counts no threshold
//! comparison of rate coding either. So at most one spike per neuron, and the synaptic operations
//! are at most the ANN's MACs.

use std::ops::ControlFlow;

use super::evaluate::Counts;
use super::layers::Stage;
use super::options::{Coding, ConvertOptions, InputCoding, Readout, TtfsClock};
use super::plan::{plan, Plan, Source};
use crate::ann::{argmax, Ann};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::{Conv2dGeometry, ImageLayout};

/// A converted network run with time-to-first-spike coding.
///
/// ```
/// use ndarray::array;
/// use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer};
/// use somnet::convert::options::{Coding, ConvertOptions, InputCoding};
/// use somnet::convert::ttfs::TtfsNetwork;
/// // Already normalised: a hidden layer of two ReLUs, then two outputs.
/// let ann = Ann::new(vec![2], vec![
///     ("h".into(), Layer::Dense(Dense { weights: array![[0.5f32, 0.25], [-1.0, 0.5]], bias: None })),
///     ("relu".into(), Layer::Activation(Activation::Relu)),
///     ("out".into(), Layer::Dense(Dense { weights: array![[1.0f32, 0.0], [0.0, 1.0]], bias: None })),
/// ], DropoutMode::Inverted).unwrap();
/// let options = ConvertOptions { coding: Coding::Ttfs, input: InputCoding::Latency, ..Default::default() };
/// let net = TtfsNetwork::new(&ann, &options).unwrap();
/// let pass = net.run(&[0.8, 0.4]).unwrap();
/// // Input spikes at 1 − x; h0 = 0.5·0.8 + 0.25·0.4 = 0.5 fires at 1 + (1 − 0.5); h1 = −0.6 never.
/// assert!((pass.input_times[0].unwrap() - 0.2).abs() < 1e-6);
/// assert!((pass.times[0][0].unwrap() - 1.5).abs() < 1e-6);
/// assert_eq!(pass.times[0][1], None);
/// assert_eq!(pass.decision, 0);
/// ```
#[derive(Debug, Clone)]
pub struct TtfsNetwork {
    plan: Plan,
    /// Window of each population (the input's is 0).
    window: Vec<u32>,
    /// The window that starts at time 0 (0 with latency input, else 1).
    first: u32,
    /// Per population, per term: the synapses of each source neuron in it.
    fanout: Vec<Vec<Vec<u32>>>,
    n_input: usize,
    steps: u32,
    clocked: bool,
    latency_input: bool,
    spike_readout: bool,
}

/// One sample through a [`TtfsNetwork`]: every spike time and membrane.
#[derive(Debug, Clone, PartialEq)]
pub struct TtfsPass {
    /// Spike time of each input pixel (latency input; empty with analog input), `None`: silent.
    pub input_times: Vec<Option<f64>>,
    /// Per population (in [`TtfsNetwork::layer_names`] order): each neuron's membrane at the start
    /// of its window, when its input is complete (the output's: the normalised logits).
    pub potentials: Vec<Vec<f32>>,
    /// Per population: each neuron's spike time, `None` if it stays silent (the output's: when
    /// each would fire, though a run stops at the first).
    pub times: Vec<Vec<Option<f64>>>,
    /// The class decided.
    pub decision: usize,
    /// When it was decided.
    pub decision_time: f64,
}

impl TtfsNetwork {
    /// The time-to-first-spike version of `ann` (batch norm folded and normalised, as
    /// [`super::pipeline::convert`] leaves it) with `options` (`coding = ttfs`).
    pub fn new(ann: &Ann, options: &ConvertOptions) -> Result<TtfsNetwork> {
        options.validate()?;
        if options.coding != Coding::Ttfs {
            return Err(Error::param("coding", "rate", "ttfs for a TTFS network"));
        }
        let latency_input = options.input == InputCoding::Latency;
        let plan = plan(ann)?;
        let n_input = ann.input_features();
        let mut window: Vec<u32> = Vec::with_capacity(plan.pops.len());
        for pop in &plan.pops {
            let latest = pop
                .terms
                .iter()
                .map(|t| match t.from {
                    Source::Input => 0,
                    Source::Pop(j) => window[j],
                })
                .max()
                .unwrap_or(0);
            let reads_input = pop.terms.iter().any(|t| t.from == Source::Input);
            if pop.max_gate && reads_input && !latency_input {
                return Err(Error::Unsupported(format!(
                    "layer '{}' max-pools the analog input, which has no spikes to relay: use \
                     input=latency",
                    pop.name
                )));
            }
            // A max pooling relays the first spike of each window at once, in its input's window.
            window.push(if pop.max_gate { latest } else { latest + 1 });
        }
        let fanout = plan
            .pops
            .iter()
            .map(|pop| {
                pop.terms
                    .iter()
                    .map(|t| {
                        let n_pre = match t.from {
                            Source::Input => n_input,
                            Source::Pop(j) => plan.pops[j].n,
                        };
                        fanout_of(&t.stage, n_pre)
                    })
                    .collect()
            })
            .collect();
        Ok(TtfsNetwork {
            plan,
            window,
            first: if latency_input { 0 } else { 1 },
            fanout,
            n_input,
            steps: options.ttfs_steps,
            clocked: options.ttfs_clock == TtfsClock::Steps,
            latency_input,
            spike_readout: options.readout == Readout::SpikeCount,
        })
    }

    /// The spiking populations, in order (the converted layers of an evaluation).
    pub fn layer_names(&self) -> Vec<&str> {
        self.plan.pops.iter().map(|p| p.name.as_str()).collect()
    }

    /// Neurons of each population.
    pub fn layer_sizes(&self) -> Vec<usize> {
        self.plan.pops.iter().map(|p| p.n).collect()
    }

    /// Time at which population `p`'s window starts.
    pub fn window_start(&self, p: usize) -> f64 {
        (self.window[p] - self.first) as f64
    }

    /// Steps from the first input to the end of the output window (`ttfs_steps` per window): the
    /// longest a sample can take.
    pub fn total_steps(&self) -> u64 {
        let out = self.plan.pops.len() - 1;
        (self.window[out] - self.first + 1) as u64 * self.steps as u64
    }

    /// The value a membrane (or a latency-coded pixel) carries: its spike's distance to the end
    /// of the window, 0 if silent.
    fn level(&self, v: f32) -> f32 {
        if self.clocked {
            let k = self.steps as f32;
            ((k * v + 0.5).floor() / k).clamp(0.0, 1.0)
        } else {
            v.clamp(0.0, 1.0)
        }
    }

    /// Runs one sample (`x` in the ANN's input order).
    pub fn run(&self, x: &[f32]) -> Result<TtfsPass> {
        if x.len() != self.n_input {
            return Err(Error::SizeMismatch {
                what: "TTFS input".into(),
                expected: self.n_input,
                got: x.len(),
            });
        }
        let (input, input_times): (Vec<f32>, Vec<Option<f64>>) = if self.latency_input {
            if let Some((i, v)) = x
                .iter()
                .enumerate()
                .find(|(_, v)| !(0.0..=1.0).contains(*v))
            {
                return Err(Error::Unsupported(format!(
                    "latency input codes values in [0, 1] as spike times; input {i} is {v}: \
                     scale the data, or use input=analog"
                )));
            }
            let q: Vec<f32> = x.iter().map(|&v| self.level(v)).collect();
            let times = q
                .iter()
                .map(|&q| (q > 0.0).then_some(1.0 - q as f64))
                .collect();
            (q, times)
        } else {
            (x.to_vec(), Vec::new())
        };
        let n = self.plan.pops.len();
        let mut values: Vec<Vec<f32>> = Vec::with_capacity(n);
        let mut potentials = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        for (p, pop) in self.plan.pops.iter().enumerate() {
            let mut v = vec![if pop.max_gate { 0.0 } else { f32::NAN }; pop.n];
            for (k, term) in pop.terms.iter().enumerate() {
                let from: &[f32] = match term.from {
                    Source::Input => &input,
                    Source::Pop(j) => &values[j],
                };
                // The drive scatters only the non-zero values, the spikes (`Stage::drive`); a
                // gate's drive is each window's largest value (its earliest spike), and the
                // parts of a pooled concatenation fill their own channels.
                let d = term.stage.drive(from);
                if k == 0 && !pop.max_gate {
                    v = d;
                } else if pop.max_gate {
                    v.iter_mut().zip(d).for_each(|(a, b)| *a = a.max(b));
                } else {
                    v.iter_mut().zip(d).for_each(|(a, b)| *a += b);
                }
            }
            // A gate's maximum is already a value of its input's window.
            let q: Vec<f32> = if pop.max_gate {
                v.clone()
            } else {
                v.iter().map(|&v| self.level(v)).collect()
            };
            let end = self.window_start(p) + 1.0;
            times.push(
                q.iter()
                    .map(|&q| (q > 0.0).then_some(end - q as f64))
                    .collect(),
            );
            potentials.push(v);
            values.push(q);
        }
        let out = n - 1;
        let decision = argmax(&potentials[out]);
        let start = self.window_start(out);
        let decision_time = if self.spike_readout {
            let first = values[out].iter().copied().fold(0.0f32, f32::max);
            start + 1.0 - first as f64
        } else {
            start
        };
        Ok(TtfsPass {
            input_times,
            potentials,
            times,
            decision,
            decision_time,
        })
    }

    /// The step (1-based, `ttfs_steps` per window) during which time `t` falls; an event on a
    /// step's boundary belongs to the step it ends.
    fn step_of(&self, t: f64) -> u64 {
        ((t * self.steps as f64) - 1e-9).ceil().max(1.0) as u64
    }

    /// Adds sample `pass` (label `label`) run for at most `steps` steps to `t`.
    fn tally(&self, pass: &TtfsPass, label: usize, steps: u64, t: &mut Counts) {
        let decided = self.step_of(pass.decision_time);
        let end = decided.min(steps);
        if decided <= steps && pass.decision == label {
            for c in &mut t.correct_per_step[decided as usize - 1..] {
                *c += 1;
            }
        }
        t.steps_used += end;
        // Spikes up to the end of the sample, and the synapses they reach.
        let mut sops_at = vec![0u64; steps as usize];
        let out = self.plan.pops.len() - 1;
        let spiked = |times: &[Option<f64>]| -> Vec<Option<u64>> {
            times
                .iter()
                .map(|t| t.map(|t| self.step_of(t)).filter(|&s| s <= end))
                .collect()
        };
        let input_steps = spiked(&pass.input_times);
        t.spikes += input_steps.iter().flatten().count() as u64;
        let pop_steps: Vec<Vec<Option<u64>>> = pass.times.iter().map(|t| spiked(t)).collect();
        for (p, steps_p) in pop_steps.iter().enumerate() {
            let fired = if p == out {
                // The run stops at the first output spike; a membrane readout has none.
                (self.spike_readout && steps_p.iter().any(Option::is_some)) as u64
            } else {
                steps_p.iter().flatten().count() as u64
            };
            t.layer_spikes[p] += fired;
            t.spikes += fired;
        }
        for (p, pop) in self.plan.pops.iter().enumerate() {
            for (term, fan) in pop.terms.iter().zip(&self.fanout[p]) {
                let at: &[Option<u64>] = match term.from {
                    Source::Input if self.latency_input => &input_steps,
                    // The analog drive is MACs, not synaptic events.
                    Source::Input => continue,
                    Source::Pop(j) => &pop_steps[j],
                };
                for (s, &f) in at.iter().zip(fan) {
                    if let Some(s) = s {
                        sops_at[*s as usize - 1] += f as u64;
                        t.layer_synaptic_ops[p] += f as u64;
                        t.synaptic_ops += f as u64;
                    }
                }
            }
        }
        let mut total = 0;
        for (c, s) in t.synaptic_ops_per_step.iter_mut().zip(&sops_at) {
            total += s;
            *c += total;
        }
    }
}

/// Synapses of each of `n_pre` source neurons in `stage`.
fn fanout_of(stage: &Stage, n_pre: usize) -> Vec<u32> {
    match stage {
        Stage::Dense(d) => vec![d.weights.nrows() as u32; n_pre],
        Stage::Local {
            shared: Some((g, _)),
            ..
        } => conv_fanout(g),
        Stage::Local { pairs, .. } => {
            let mut f = vec![0u32; n_pre];
            for &(pre, _) in pairs {
                f[pre as usize] += 1;
            }
            f
        }
    }
}

/// Synapses of each input neuron of a convolution: its taps inside the output, times the output
/// channels.
fn conv_fanout(g: &Conv2dGeometry) -> Vec<u32> {
    let (ci, h, w) = g.input;
    let (kh, kw) = g.kernel;
    let (oh, ow) = g.output;
    let mut f = vec![0u32; g.n_pre()];
    for (pre, f) in f.iter_mut().enumerate() {
        let (y, x) = match g.input_layout {
            ImageLayout::ChannelsFirst => (pre / w % h, pre % w),
            ImageLayout::ChannelsLast => (pre / ci / w, pre / ci % w),
        };
        let ys = (0..kh)
            .filter(|&k| Conv2dGeometry::tap(y, k, g.pad.0, g.stride.0, oh).is_some())
            .count();
        let xs = (0..kw)
            .filter(|&k| Conv2dGeometry::tap(x, k, g.pad.1, g.stride.1, ow).is_some())
            .count();
        *f = (ys * xs * g.out_channels) as u32;
    }
    f
}

/// [`super::evaluate::count`] of the TTFS version of `ann` (it calls this for `coding = ttfs`):
/// whole numbers summed in sample order, the same on any thread count.
pub(crate) fn count(
    ann: &Ann,
    data: &Dataset,
    first_image: usize,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Counts> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    ann.check_data(data, "evaluation set")?;
    let net = TtfsNetwork::new(ann, options)?;
    super::evaluate::in_chunks(
        data.len(),
        first_image,
        steps,
        &net.layer_sizes(),
        on_chunk,
        |range, t| {
            for i in range {
                let pass = net.run(data.image(i)).map_err(|e| match e {
                    Error::Unsupported(m) => {
                        Error::Unsupported(format!("sample {}: {m}", first_image + i))
                    }
                    e => e,
                })?;
                net.tally(&pass, data.labels[i] as usize, steps, t);
            }
            Ok(())
        },
    )
}
