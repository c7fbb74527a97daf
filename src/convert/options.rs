//! The biological-plausibility knobs of a converted network, each validated.
//!
//! The defaults are the reference converter's settings (SNN Toolbox; Rueckauer et al., "Conversion
//! of continuous-valued deep networks to efficient event-driven networks for image
//! classification", Front. Neurosci. 11:682, 2017): analog input, non-leaky IF neurons with
//! threshold 1, reset by subtraction, no refractory period, membranes starting at 0, weights of
//! either sign, decision by output spike count, normalisation at the 99.9th percentile.

use crate::error::{Error, Result};

pub use super::normalize::NormScope;

/// How an image enters the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputCoding {
    /// The first layer receives `W·x + b` as a constant current every step (Rueckauer et al.
    /// 2017, Sec. 2.2.1).
    Analog,
    /// Every pixel is a spike source firing with probability `x / max(x)` per step (the
    /// reference converter's Poisson input; Diehl et al. 2015).
    Poisson,
    /// Every pixel of value `x` ∈ (0, 1] fires one spike at `1 − x` in the input's time window
    /// (zero: no spike): time-to-first-spike input, with `coding = ttfs` only ([`super::ttfs`]).
    Latency,
}

/// How values travel between layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coding {
    /// Firing rates over the whole run (Rueckauer et al. 2017; the reference).
    #[default]
    Rate,
    /// Time to first spike: each neuron fires at most once, earlier for a larger value, in its
    /// layer's time window (the exact ReLU mapping of Stanojevic et al., Neural Networks 2023;
    /// [`super::ttfs`]).
    Ttfs,
}

/// When a time-to-first-spike neuron may fire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TtfsClock {
    /// At the exact time its membrane reaches threshold (event-driven in continuous time; the
    /// steps only sample the decisions): the mapping is exact.
    #[default]
    Continuous,
    /// Only on the steps of a clock, `ttfs_steps` per layer window, with the threshold half a
    /// step early: values are rounded to `ttfs_steps` levels (QCFS's quantisation with
    /// L = `ttfs_steps`, Bu et al. 2022).
    Steps,
}

/// The spiking neuron of every converted layer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum NeuronChoice {
    /// Non-leaky integrate-and-fire: `v += input` (the reference).
    If,
    /// Leaky integrate-and-fire with membrane time constant `tau_mem_ms` (dt = 1 ms): the input
    /// of a step adds as for IF, then the membrane decays by `e^(−1/τ)` every step, so sub-threshold
    /// charge leaks away and weak inputs are under-represented.
    Lif {
        /// Membrane time constant in ms (steps), > 0.
        tau_mem_ms: f32,
    },
    /// Izhikevich's regular-spiking neuron (2003, Fig. 2) with the drive-to-current map calibrated
    /// from its simulated f-I curve ([`super::calibrate`]): rates are at most 0.1 per step, so it
    /// needs about ten times the steps of IF. It resets by its own rule (v → c, u → u + d).
    Izhikevich,
}

/// What becomes of an average pooling layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvgPoolChoice {
    /// A layer of spiking neurons fed the mean of each window's input spikes (the reference
    /// converter's rule, Rueckauer et al. 2017).
    #[default]
    Spiking,
    /// Folded into the Conv2d or Dense layer after it ([`super::fold::fold_average_pooling`]):
    /// exact, one layer less to cross, no second quantisation of the average (what low-latency
    /// conversion wants; pooling that pads or feeds anything else stays spiking).
    Fold,
}

/// What a neuron's membrane does after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetChoice {
    /// `v −= θ`: the charge above threshold is kept (the reference; Rueckauer et al. 2017,
    /// Sec. 2.2.1, which shows it removes the error of reset to zero).
    Subtract,
    /// `v = 0`: the excess is lost (Diehl et al. 2015).
    Zero,
}

/// Where membranes start at the beginning of every sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialPotential {
    /// 0 (the reference).
    Zero,
    /// θ/2: halves the rounding error of rate coding, so fewer steps reach a given accuracy
    /// (Rueckauer et al. 2017, Sec. 2.2.3; Bu et al., ICLR 2022).
    HalfThreshold,
}

/// How the class is read from the output layer at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The largest cumulative spike count, ties to the lowest index; no spike yet = no decision
    /// (the reference).
    SpikeCount,
    /// The largest membrane potential of non-spiking output neurons that integrate their input
    /// (Rueckauer et al. 2017, Sec. 2.2.2): a decision from the first step on.
    Membrane,
}

/// Every knob of a conversion.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvertOptions {
    /// Input coding.
    pub input: InputCoding,
    /// Neuron model.
    pub neuron: NeuronChoice,
    /// Reset rule.
    pub reset: ResetChoice,
    /// Steps a neuron stays silent after a spike (0 = none).
    pub refractory_steps: u32,
    /// Initial membrane potential.
    pub initial: InitialPotential,
    /// Dale's principle: every neuron's outgoing weights share one sign (each layer is split into
    /// an excitatory and an inhibitory copy that receive the same input and so fire together).
    pub dale: bool,
    /// Output readout.
    pub readout: Readout,
    /// Stop a sample once its decision has been the same for this many steps (`None`: never).
    pub early_exit: Option<u32>,
    /// Normalisation percentile of the non-zero activations, in (0, 100].
    pub percentile: f64,
    /// One normalisation scale per layer (the reference) or per channel.
    #[serde(default)]
    pub normalization: NormScope,
    /// Average pooling as a layer of spiking neurons (the reference) or folded into the weighted
    /// layer after it.
    #[serde(default)]
    pub avg_pool: AvgPoolChoice,
    /// Seed of the Poisson input.
    pub seed: u64,
    /// Rate or time-to-first-spike coding.
    #[serde(default)]
    pub coding: Coding,
    /// Time-to-first-spike coding: steps per layer window (the time resolution of the accuracy
    /// curve; with the stepped clock, of the spikes too).
    #[serde(default = "default_ttfs_steps")]
    pub ttfs_steps: u32,
    /// Time-to-first-spike coding: continuous spike times or a clock.
    #[serde(default)]
    pub ttfs_clock: TtfsClock,
    /// Offset-spike calibration (Hao et al., ICLR 2023): before each sample's run, a pre-run of
    /// this many steps on the same input, after which every IF neuron that ended below zero
    /// having fired starts one threshold lower, and every one that ended at or above its
    /// threshold starts one threshold higher ([`super::offset_spikes`]). 0: off. The pre-run's
    /// steps and synaptic operations are counted in the sample's latency and energy.
    #[serde(default)]
    pub offset_presteps: u32,
}

/// The longest offset-spike pre-run: far beyond any useful one (the method is for latencies of a
/// few steps), small enough that its per-step counters stay bounded.
pub const MAX_OFFSET_PRESTEPS: u32 = 1 << 16;

/// Steps per layer window of time-to-first-spike coding unless set.
pub const DEFAULT_TTFS_STEPS: u32 = 16;

fn default_ttfs_steps() -> u32 {
    DEFAULT_TTFS_STEPS
}

impl Default for ConvertOptions {
    /// The reference converter's settings (see the module docs).
    fn default() -> Self {
        ConvertOptions {
            input: InputCoding::Analog,
            neuron: NeuronChoice::If,
            reset: ResetChoice::Subtract,
            refractory_steps: 0,
            initial: InitialPotential::Zero,
            dale: false,
            readout: Readout::SpikeCount,
            early_exit: None,
            percentile: 99.9,
            normalization: NormScope::Layer,
            avg_pool: AvgPoolChoice::Spiking,
            seed: 0,
            coding: Coding::Rate,
            ttfs_steps: DEFAULT_TTFS_STEPS,
            ttfs_clock: TtfsClock::Continuous,
            offset_presteps: 0,
        }
    }
}

impl ConvertOptions {
    /// Checks every field and their combinations.
    pub fn validate(&self) -> Result<()> {
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(Error::param("percentile", self.percentile, "in (0, 100]"));
        }
        if let NeuronChoice::Lif { tau_mem_ms } = self.neuron {
            crate::error::positive("neuron.tau_mem_ms", tau_mem_ms as f64)?;
        }
        if self.early_exit == Some(0) {
            return Err(Error::param(
                "early_exit",
                0,
                "at least 1 stable step (or no early exit)",
            ));
        }
        if self.neuron == NeuronChoice::Izhikevich {
            let conflict = if self.reset == ResetChoice::Subtract {
                Some("reset by subtraction (it resets v to c and adds d to u; use reset zero)")
            } else if self.refractory_steps > 0 {
                Some("a refractory period (its recovery variable plays that role)")
            } else if self.initial == InitialPotential::HalfThreshold {
                Some("a θ/2 start (it has no fixed threshold)")
            } else {
                None
            };
            if let Some(c) = conflict {
                return Err(Error::Unsupported(format!(
                    "Izhikevich neurons do not take {c}"
                )));
            }
        }
        self.validate_coding()?;
        self.validate_offset()?;
        if self.refractory_steps > 0 && self.reset == ResetChoice::Subtract {
            // A clamped neuron drops the input of its refractory steps, while reset by subtraction
            // exists to keep every bit of charge: the two pull in opposite directions.
            return Err(Error::Unsupported(
                "a refractory period with reset by subtraction: the input of refractory steps is \
                 discarded, which defeats the charge-keeping subtraction; use --reset zero with a \
                 refractory period"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The knobs that time-to-first-spike coding has no use for are refused rather than ignored
    /// (its neuron fires once, so reset, refractoriness, a θ/2 start, Dale's copies and early
    /// exit mean nothing for it), and latency input needs it.
    fn validate_coding(&self) -> Result<()> {
        match self.coding {
            Coding::Rate if self.input == InputCoding::Latency => Err(Error::Unsupported(
                "latency input (one spike per pixel) with rate coding: use coding=ttfs, or \
                 input=analog / poisson"
                    .into(),
            )),
            Coding::Rate => Ok(()),
            Coding::Ttfs => {
                if self.ttfs_steps == 0 {
                    return Err(Error::param("ttfs_steps", 0, "at least 1 step per window"));
                }
                let conflict = if self.input == InputCoding::Poisson {
                    Some("Poisson input (use input=latency or analog)")
                } else if self.neuron != NeuronChoice::If {
                    Some("another neuron model (it has its own single-spike neuron)")
                } else if self.reset != ResetChoice::Subtract {
                    Some("a reset rule (a neuron fires once)")
                } else if self.refractory_steps > 0 {
                    Some("a refractory period (a neuron fires once)")
                } else if self.initial != InitialPotential::Zero {
                    Some("a θ/2 start (the stepped clock's half-step threshold plays that role)")
                } else if self.dale {
                    Some("Dale's principle")
                } else if self.early_exit.is_some() {
                    Some("early exit (a sample stops at its first output spike)")
                } else {
                    None
                };
                match conflict {
                    Some(c) => Err(Error::Unsupported(format!(
                        "time-to-first-spike coding does not take {c}"
                    ))),
                    None => Ok(()),
                }
            }
        }
    }

    /// Offset-spike calibration reasons about the residual potential of a non-leaky neuron
    /// that keeps its charge: it needs rate coding, IF neurons and reset by subtraction.
    fn validate_offset(&self) -> Result<()> {
        if self.offset_presteps == 0 {
            return Ok(());
        }
        if self.offset_presteps > MAX_OFFSET_PRESTEPS {
            return Err(Error::param(
                "offset_presteps",
                self.offset_presteps,
                format!("at most {MAX_OFFSET_PRESTEPS} steps"),
            ));
        }
        let conflict = if self.coding != Coding::Rate {
            Some("time-to-first-spike coding (a neuron fires once; no spike to offset)")
        } else if self.neuron != NeuronChoice::If {
            Some("a leaky or Izhikevich neuron (the residual potential it reads is an IF's)")
        } else if self.reset != ResetChoice::Subtract {
            Some("reset to zero (the residual potential is discarded at every spike)")
        } else {
            None
        };
        match conflict {
            Some(c) => Err(Error::Unsupported(format!(
                "offset-spike calibration (offset-presteps = {}) does not take {c}",
                self.offset_presteps
            ))),
            None => Ok(()),
        }
    }

    /// The keys [`Self::set`] takes, with their values: one text form of every knob, shared by
    /// the CLI flags, sweep grids and the Python package.
    pub const KEYS: &'static str =
        "coding (rate, ttfs), ttfs-steps (K per window), ttfs-clock (continuous, steps), \
        input (analog, poisson, latency), neuron (if, lif, lif:TAU, izhikevich), \
        tau-mem (ms, for lif), reset (subtract, zero), refractory (steps), initial (zero, half), \
        dale (off, on), readout (spikes, membrane), early-exit (none, K), percentile (P), \
        norm (layer, channel), avgpool (spiking, fold), seed (S), \
        offset-presteps (steps of the offset-spike pre-run, 0 = off)";

    /// Sets the knob `key` to `value` (see [`Self::KEYS`]); the result is not validated here, as
    /// a later setting may resolve a conflict (call [`Self::validate`] when all are set).
    /// `neuron=izhikevich` also selects reset zero, its own rule; a later `reset` overrides it.
    ///
    /// ```
    /// use somnet::convert::options::{ConvertOptions, NeuronChoice};
    /// let mut o = ConvertOptions::default();
    /// o.set("neuron", "lif:20").unwrap();
    /// o.set("early-exit", "8").unwrap();
    /// assert_eq!(o.neuron, NeuronChoice::Lif { tau_mem_ms: 20.0 });
    /// assert_eq!(o.early_exit, Some(8));
    /// assert!(o.set("reset", "sideways").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |expected: &str| Error::param(key, value, expected);
        let number = |expected: &str| -> Result<f64> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(expected))
        };
        let count = |expected: &str| -> Result<u32> { value.parse().map_err(|_| bad(expected)) };
        match (key, value) {
            ("input", "analog") => self.input = InputCoding::Analog,
            ("input", "poisson") => self.input = InputCoding::Poisson,
            ("input", "latency") => self.input = InputCoding::Latency,
            ("input", _) => return Err(bad("analog, poisson or latency")),
            ("coding", "rate") => self.coding = Coding::Rate,
            ("coding", "ttfs") => self.coding = Coding::Ttfs,
            ("coding", _) => return Err(bad("rate or ttfs")),
            ("ttfs-steps", _) => self.ttfs_steps = count("a number of steps per window")?,
            ("ttfs-clock", "continuous") => self.ttfs_clock = TtfsClock::Continuous,
            ("ttfs-clock", "steps") => self.ttfs_clock = TtfsClock::Steps,
            ("ttfs-clock", _) => return Err(bad("continuous or steps")),
            ("neuron", "if") => self.neuron = NeuronChoice::If,
            ("neuron", "lif") => self.neuron = NeuronChoice::Lif { tau_mem_ms: 50.0 },
            ("neuron", "izhikevich") => {
                self.neuron = NeuronChoice::Izhikevich;
                self.reset = ResetChoice::Zero;
            }
            ("neuron", v) if v.starts_with("lif:") => {
                let tau = v[4..]
                    .parse::<f32>()
                    .map_err(|_| bad("lif:TAU with TAU in ms"))?;
                self.neuron = NeuronChoice::Lif { tau_mem_ms: tau };
            }
            ("neuron", _) => return Err(bad("if, lif, lif:TAU or izhikevich")),
            ("tau-mem", _) => {
                let tau = number("a time constant in ms")? as f32;
                match &mut self.neuron {
                    NeuronChoice::Lif { tau_mem_ms } => *tau_mem_ms = tau,
                    _ => return Err(bad("a LIF neuron to apply to (neuron=lif)")),
                }
            }
            ("reset", "subtract") => self.reset = ResetChoice::Subtract,
            ("reset", "zero") => self.reset = ResetChoice::Zero,
            ("reset", _) => return Err(bad("subtract or zero")),
            ("refractory", _) => self.refractory_steps = count("a number of steps")?,
            ("initial", "zero") => self.initial = InitialPotential::Zero,
            ("initial", "half") => self.initial = InitialPotential::HalfThreshold,
            ("initial", _) => return Err(bad("zero or half")),
            ("dale", "off") => self.dale = false,
            ("dale", "on") => self.dale = true,
            ("dale", _) => return Err(bad("off or on")),
            ("readout", "spikes") => self.readout = Readout::SpikeCount,
            ("readout", "membrane") => self.readout = Readout::Membrane,
            ("readout", _) => return Err(bad("spikes or membrane")),
            ("early-exit", "none") => self.early_exit = None,
            ("early-exit", _) => self.early_exit = Some(count("none or a number of steps")?),
            ("percentile", _) => self.percentile = number("a percentile in (0, 100]")?,
            ("norm", "layer") => self.normalization = NormScope::Layer,
            ("norm", "channel") => self.normalization = NormScope::Channel,
            ("norm", _) => return Err(bad("layer or channel")),
            ("avgpool", "spiking") => self.avg_pool = AvgPoolChoice::Spiking,
            ("avgpool", "fold") => self.avg_pool = AvgPoolChoice::Fold,
            ("avgpool", _) => return Err(bad("spiking or fold")),
            ("seed", _) => self.seed = value.parse().map_err(|_| bad("a whole number"))?,
            ("offset-presteps", _) => {
                self.offset_presteps = count("a number of pre-run steps (0 = off)")?
            }
            _ => {
                return Err(Error::param(
                    "option key",
                    key,
                    format!("one of {}", Self::KEYS),
                ))
            }
        }
        Ok(())
    }

    /// A short label of the choices, e.g. `analog-if-subtract` or
    /// `analog-if-subtract+half+membrane+exit8` (non-default extras appended).
    pub fn label(&self) -> String {
        let input = match self.input {
            InputCoding::Analog => "analog",
            InputCoding::Poisson => "poisson",
            InputCoding::Latency => "latency",
        };
        let neuron = match self.neuron {
            NeuronChoice::If => "if".to_string(),
            NeuronChoice::Lif { tau_mem_ms } => format!("lif{tau_mem_ms}"),
            NeuronChoice::Izhikevich => "izhikevich".to_string(),
        };
        let reset = match (self.reset, self.neuron) {
            (_, NeuronChoice::Izhikevich) => "own",
            (ResetChoice::Subtract, _) => "subtract",
            (ResetChoice::Zero, _) => "zero",
        };
        let mut label = match self.coding {
            Coding::Rate => format!("{input}-{neuron}-{reset}"),
            Coding::Ttfs => format!(
                "{input}-ttfs{}{}",
                self.ttfs_steps,
                if self.ttfs_clock == TtfsClock::Steps {
                    "-clocked"
                } else {
                    ""
                }
            ),
        };
        if self.refractory_steps > 0 {
            label += &format!("+refr{}", self.refractory_steps);
        }
        if self.initial == InitialPotential::HalfThreshold {
            label += "+half";
        }
        if self.dale {
            label += "+dale";
        }
        if self.readout == Readout::Membrane {
            label += "+membrane";
        }
        if let Some(k) = self.early_exit {
            label += &format!("+exit{k}");
        }
        if self.normalization == NormScope::Channel {
            label += "+channel";
        }
        if self.avg_pool == AvgPoolChoice::Fold {
            label += "+poolfold";
        }
        if self.offset_presteps > 0 {
            label += &format!("+offset{}", self.offset_presteps);
        }
        label
    }
}
