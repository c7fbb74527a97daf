//! The conversion knobs shared by the commands that build a spiking network.

use clap::{Args, ValueEnum};

use somnet::convert::options::{
    ConvertOptions, InitialPotential, InputCoding, NeuronChoice, Readout, ResetChoice,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InputArg {
    Analog,
    Poisson,
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

/// Conversion options (defaults: the reference converter's settings).
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// Input coding: analog current (default) or Poisson spikes (P = x / max x per step).
    #[arg(long, value_enum)]
    input: Option<InputArg>,
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
}

impl ConvertArgs {
    /// `base` (the defaults, or the options recorded in a converted file) with the given knobs
    /// changed, validated.
    pub fn apply(&self, base: ConvertOptions) -> anyhow::Result<ConvertOptions> {
        let mut o = base;
        if let Some(i) = self.input {
            o.input = match i {
                InputArg::Analog => InputCoding::Analog,
                InputArg::Poisson => InputCoding::Poisson,
            };
        }
        if let Some(n) = self.neuron {
            o.neuron = match n {
                NeuronArg::If => NeuronChoice::If,
                NeuronArg::Lif => NeuronChoice::Lif {
                    tau_mem_ms: self.tau_mem.unwrap_or(50.0),
                },
                NeuronArg::Izhikevich => NeuronChoice::Izhikevich,
            };
            // Izhikevich neurons reset by their own rule: take that unless a reset was asked for.
            if o.neuron == NeuronChoice::Izhikevich && self.reset.is_none() {
                o.reset = ResetChoice::Zero;
            }
        } else if let (Some(t), NeuronChoice::Lif { .. }) = (self.tau_mem, o.neuron) {
            o.neuron = NeuronChoice::Lif { tau_mem_ms: t };
        }
        if let Some(r) = self.reset {
            o.reset = match r {
                ResetArg::Subtract => ResetChoice::Subtract,
                ResetArg::Zero => ResetChoice::Zero,
            };
        }
        if let Some(r) = self.refractory_steps {
            o.refractory_steps = r;
        }
        if let Some(i) = self.initial {
            o.initial = match i {
                InitialArg::Zero => InitialPotential::Zero,
                InitialArg::Half => InitialPotential::HalfThreshold,
            };
        }
        o.dale |= self.dale;
        if let Some(r) = self.readout {
            o.readout = match r {
                ReadoutArg::Spikes => Readout::SpikeCount,
                ReadoutArg::Membrane => Readout::Membrane,
            };
        }
        if self.early_exit.is_some() {
            o.early_exit = self.early_exit;
        }
        if let Some(s) = self.seed {
            o.seed = s;
        }
        o.validate()?;
        Ok(o)
    }
}
