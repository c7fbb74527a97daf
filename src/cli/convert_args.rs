//! The conversion knobs shared by the commands that build a spiking network.

use anyhow::Context;
use clap::{Args, ValueEnum};

use somnet::convert::options::ConvertOptions;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InputArg {
    Analog,
    Poisson,
    Latency,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CodingArg {
    Rate,
    Ttfs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClockArg {
    Continuous,
    Steps,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NeuronArg {
    If,
    Lif,
    Izhikevich,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResetArg {
    Subtract,
    Zero,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InitialArg {
    Zero,
    Half,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReadoutArg {
    Spikes,
    Membrane,
}

/// `--norm`: which activations share a normalisation scale.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NormArg {
    /// One λ per layer (the reference).
    Layer,
    /// One λ per channel of a convolution / unit of a hidden dense layer.
    Channel,
}

impl From<NormArg> for somnet::convert::normalize::NormScope {
    fn from(a: NormArg) -> Self {
        match a {
            NormArg::Layer => Self::Layer,
            NormArg::Channel => Self::Channel,
        }
    }
}

/// `--avgpool`: what becomes of average pooling.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AvgPoolArg {
    /// Spiking neurons fed each window's mean (the reference).
    Spiking,
    /// Folded into the next Conv2d or Dense layer.
    Fold,
}

impl From<AvgPoolArg> for somnet::convert::options::AvgPoolChoice {
    fn from(a: AvgPoolArg) -> Self {
        match a {
            AvgPoolArg::Spiking => Self::Spiking,
            AvgPoolArg::Fold => Self::Fold,
        }
    }
}

/// Conversion options (defaults: the reference converter's settings).
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// Input coding: analog current (default), Poisson spikes (P = x / max x per step), or one
    /// spike per pixel at 1 − x (latency, with --coding ttfs).
    #[arg(long, value_enum)]
    input: Option<InputArg>,
    /// Coding between layers: firing rates (default) or time to first spike (one spike per
    /// neuron at most; Stanojevic et al. 2023).
    #[arg(long, value_enum)]
    coding: Option<CodingArg>,
    /// Time-to-first-spike coding: steps per layer window (default 16).
    #[arg(long)]
    ttfs_steps: Option<u32>,
    /// Time-to-first-spike coding: spikes at exact times (continuous, default) or on the steps of
    /// a clock (values rounded to --ttfs-steps levels).
    #[arg(long, value_enum)]
    ttfs_clock: Option<ClockArg>,
    /// Neuron: non-leaky IF (default), leaky LIF (see --tau-mem), or regular-spiking Izhikevich
    /// (gain calibrated from its f-I curve; about 10× the steps).
    #[arg(long, value_enum)]
    neuron: Option<NeuronArg>,
    /// LIF membrane time constant in steps (ms; default 50).
    #[arg(long)]
    tau_mem: Option<f32>,
    /// Reset: subtract the threshold (default), or set to zero.
    #[arg(long, value_enum)]
    reset: Option<ResetArg>,
    /// Refractory steps after a spike (default 0; needs --reset zero).
    #[arg(long)]
    refractory_steps: Option<u32>,
    /// Initial membrane potential: zero (default) or half the threshold.
    #[arg(long, value_enum)]
    initial: Option<InitialArg>,
    /// Dale's principle: split every hidden layer into excitatory and inhibitory copies.
    #[arg(long)]
    dale: bool,
    /// Readout: output spike counts (default) or output membrane potentials.
    #[arg(long, value_enum)]
    readout: Option<ReadoutArg>,
    /// Stop a sample once its decision has been stable for K steps.
    #[arg(long)]
    early_exit: Option<u32>,
    /// Seed of the Poisson input (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Offset-spike calibration (Hao et al., ICLR 2023): pre-run every sample for RHO steps, then
    /// start each IF neuron one threshold lower (higher) where it fired once too often (too
    /// rarely); the pre-run counts in latency and energy (default 0: off).
    #[arg(long, value_name = "RHO")]
    offset_presteps: Option<u32>,
}

impl ConvertArgs {
    /// The knobs given, as `(key, value)` settings of [`ConvertOptions::set`] in the order they
    /// apply (a neuron before its reset, so `--neuron izhikevich --reset zero` keeps the reset).
    fn settings(&self) -> Vec<(&'static str, String)> {
        let mut s: Vec<(&'static str, String)> = Vec::new();
        if let Some(c) = self.coding {
            s.push(("coding", name(&c)));
        }
        if let Some(k) = self.ttfs_steps {
            s.push(("ttfs-steps", k.to_string()));
        }
        if let Some(c) = self.ttfs_clock {
            s.push(("ttfs-clock", name(&c)));
        }
        if let Some(i) = self.input {
            s.push(("input", name(&i)));
        }
        match (self.neuron, self.tau_mem) {
            (Some(NeuronArg::Lif), Some(t)) => s.push(("neuron", format!("lif:{t}"))),
            (Some(n), _) => s.push(("neuron", name(&n))),
            (None, Some(t)) => s.push(("tau-mem", t.to_string())),
            (None, None) => {}
        }
        if let Some(r) = self.reset {
            s.push(("reset", name(&r)));
        }
        if let Some(r) = self.refractory_steps {
            s.push(("refractory", r.to_string()));
        }
        if let Some(i) = self.initial {
            s.push(("initial", name(&i)));
        }
        if self.dale {
            s.push(("dale", "on".into()));
        }
        if let Some(r) = self.readout {
            s.push(("readout", name(&r)));
        }
        if let Some(k) = self.early_exit {
            s.push(("early-exit", k.to_string()));
        }
        if let Some(seed) = self.seed {
            s.push(("seed", seed.to_string()));
        }
        if let Some(r) = self.offset_presteps {
            s.push(("offset-presteps", r.to_string()));
        }
        s
    }

    /// `base` (the defaults, or the options recorded in a converted file) with the given knobs
    /// changed through [`ConvertOptions::set`] (the parser sweep grids use too), validated.
    pub fn apply(&self, base: ConvertOptions) -> anyhow::Result<ConvertOptions> {
        let mut o = base;
        for (key, value) in self.settings() {
            o.set(key, &value)
                .with_context(|| format!("--{}", flag_of(key)))?;
        }
        o.validate()?;
        Ok(o)
    }
}

/// The command-line flag of a [`ConvertOptions::set`] key.
fn flag_of(key: &str) -> &str {
    match key {
        "refractory" => "refractory-steps",
        k => k,
    }
}

/// The value name clap shows for a choice, which is also its [`ConvertOptions::set`] value.
fn name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string()
}
