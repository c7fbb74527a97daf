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

/// Conversion options (defaults: the reference converter's settings).
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// Input coding: analog current or Poisson spikes (P = x / max x per step).
    #[arg(long, value_enum, default_value = "analog")]
    input: InputArg,
    /// Neuron: non-leaky IF or leaky LIF (see --tau-mem).
    #[arg(long, value_enum, default_value = "if")]
    neuron: NeuronArg,
    /// LIF membrane time constant in steps (ms).
    #[arg(long, default_value_t = 50.0)]
    tau_mem: f32,
    /// Reset: subtract the threshold, or set to zero.
    #[arg(long, value_enum, default_value = "subtract")]
    reset: ResetArg,
    /// Refractory steps after a spike (needs --reset zero).
    #[arg(long, default_value_t = 0)]
    refractory_steps: u32,
    /// Initial membrane potential: zero or half the threshold.
    #[arg(long, value_enum, default_value = "zero")]
    initial: InitialArg,
    /// Dale's principle: split every hidden layer into excitatory and inhibitory copies.
    #[arg(long)]
    dale: bool,
    /// Readout: output spike counts or output membrane potentials.
    #[arg(long, value_enum, default_value = "spikes")]
    readout: ReadoutArg,
    /// Stop a sample once its decision has been stable for K steps.
    #[arg(long)]
    early_exit: Option<u32>,
    /// Seed of the Poisson input.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl ConvertArgs {
    /// The options, validated.
    pub fn options(&self, percentile: f64) -> anyhow::Result<ConvertOptions> {
        let o = ConvertOptions {
            input: match self.input {
                InputArg::Analog => InputCoding::Analog,
                InputArg::Poisson => InputCoding::Poisson,
            },
            neuron: match self.neuron {
                NeuronArg::If => NeuronChoice::If,
                NeuronArg::Lif => NeuronChoice::Lif {
                    tau_mem_ms: self.tau_mem,
                },
            },
            reset: match self.reset {
                ResetArg::Subtract => ResetChoice::Subtract,
                ResetArg::Zero => ResetChoice::Zero,
            },
            refractory_steps: self.refractory_steps,
            initial: match self.initial {
                InitialArg::Zero => InitialPotential::Zero,
                InitialArg::Half => InitialPotential::HalfThreshold,
            },
            dale: self.dale,
            readout: match self.readout {
                ReadoutArg::Spikes => Readout::SpikeCount,
                ReadoutArg::Membrane => Readout::Membrane,
            },
            early_exit: self.early_exit,
            percentile,
            seed: self.seed,
        };
        o.validate()?;
        Ok(o)
    }
}
