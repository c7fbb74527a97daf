//! The sleep knobs shared by `somnet sleep` and `somnet incremental`: each overrides one field of
//! the data set's released preset.

use clap::Args;

use somnet::sleep::{InputSource, Sigma, SleepConfig};

/// Sleep options (unset: the released preset of the data set).
#[derive(Debug, Clone, Args)]
pub struct SleepArgs {
    /// Weight factor of the rule: released (= decreasing:0.001), decreasing[:W], increasing[:W].
    #[arg(long)]
    sigma: Option<String>,
    /// Input: `mean` (masked mean image, released) or `samples[:K]` (mean of K random images).
    #[arg(long)]
    input: Option<String>,
    /// Side of the square input window in pixels (released: 11; the image side = no mask).
    #[arg(long)]
    mask_size: Option<usize>,
    /// Potentiation step.
    #[arg(long)]
    inc: Option<f32>,
    /// Depression step.
    #[arg(long)]
    dec: Option<f32>,
    /// Input scale multiplier.
    #[arg(long)]
    alpha_scale: Option<f32>,
    /// Threshold multipliers, one per Dense layer, comma-separated.
    #[arg(long, value_delimiter = ',')]
    beta: Option<Vec<f32>>,
    /// Input rate of a pixel of value 1 (Hz) before the cap.
    #[arg(long)]
    max_rate: Option<f64>,
    /// Membrane decay per step, in (0, 1].
    #[arg(long)]
    decay: Option<f32>,
    /// Refractory steps after a spike.
    #[arg(long)]
    refractory_steps: Option<u32>,
    /// Sleep steps after the first task.
    #[arg(long)]
    sleep_base: Option<u64>,
    /// Sleep steps added for every later task.
    #[arg(long)]
    sleep_per_task: Option<u64>,
}

impl SleepArgs {
    /// The preset with the given overrides, validated.
    pub fn apply(&self, mut c: SleepConfig) -> anyhow::Result<SleepConfig> {
        if let Some(s) = &self.sigma {
            c.sigma = Sigma::parse(s)?;
        }
        if let Some(s) = &self.input {
            c.input = InputSource::parse(s)?;
        }
        macro_rules! set {
            ($($field:ident => $target:expr),*) => {$(
                if let Some(v) = self.$field.clone() { $target = v; }
            )*};
        }
        set!(mask_size => c.mask_size, inc => c.inc, dec => c.dec, alpha_scale => c.alpha_scale,
             beta => c.beta, max_rate => c.max_rate_hz, decay => c.decay,
             refractory_steps => c.refractory_steps, sleep_base => c.length.base,
             sleep_per_task => c.length.per_task);
        c.validate()?;
        Ok(c)
    }
}
