//! The sleep knobs shared by `somnet sleep` and `somnet incremental`: each overrides one field of
//! the data set's released preset.

use clap::Args;

use somnet::sleep::SleepConfig;

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
        // Each flag goes through the library's one text form of the settings.
        let beta = self.beta.as_ref().map(|b| {
            b.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        });
        let given: [(&str, Option<String>); 12] = [
            ("sigma", self.sigma.clone()),
            ("input", self.input.clone()),
            ("mask-size", self.mask_size.map(|v| v.to_string())),
            ("inc", self.inc.map(|v| v.to_string())),
            ("dec", self.dec.map(|v| v.to_string())),
            ("alpha-scale", self.alpha_scale.map(|v| v.to_string())),
            ("beta", beta),
            ("max-rate", self.max_rate.map(|v| v.to_string())),
            ("decay", self.decay.map(|v| v.to_string())),
            (
                "refractory-steps",
                self.refractory_steps.map(|v| v.to_string()),
            ),
            ("sleep-base", self.sleep_base.map(|v| v.to_string())),
            ("sleep-per-task", self.sleep_per_task.map(|v| v.to_string())),
        ];
        for (key, value) in given {
            if let Some(v) = value {
                c.set(key, &v)?;
            }
        }
        c.validate()?;
        Ok(c)
    }
}
