//! Every choice of a sleep phase, validated, with the released drivers' values as presets.
//!
//! The presets are the hyper-parameters of the MNIST and Fashion-MNIST drivers released with
//! Tadros et al., "Sleep-like unsupervised replay reduces catastrophic forgetting in artificial
//! neural networks", Nature Communications 13:7742 (2022) (decay 0.999, threshold 1, dt 1 ms, no
//! refractory period; max rate, inc, dec, β and alpha_scale per data set).

use crate::error::{Error, Result};

/// The factor σ(w) that scales every weight change of the sleep rule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Sigma {
    /// The released code's factor `σ(w) = 2·(1 − logistic(w / width))`: ≈ 2 for w ≪ 0, 1 at 0,
    /// ≈ 0 for w ≫ width. It changes negative and small weights and leaves large positive ones
    /// alone. The released width is 0.001.
    Decreasing {
        /// Width of the transition.
        width: f32,
    },
    /// The ordinary increasing logistic `σ(w) = logistic(w / width)` (an independent PyTorch
    /// replication used it with width 1): changes grow with the weight.
    Increasing {
        /// Width of the transition.
        width: f32,
    },
}

impl Sigma {
    /// The released code's factor (decreasing, width 0.001).
    pub const RELEASED: Sigma = Sigma::Decreasing { width: 0.001 };

    /// σ(w).
    ///
    /// ```
    /// use somnet::sleep::Sigma;
    /// assert_eq!(Sigma::RELEASED.eval(0.0), 1.0);
    /// assert!((Sigma::RELEASED.eval(-1.0) - 2.0).abs() < 1e-6);
    /// assert!(Sigma::RELEASED.eval(0.01) < 1e-4);
    /// assert_eq!(Sigma::Increasing { width: 1.0 }.eval(0.0), 0.5);
    /// ```
    #[inline]
    pub fn eval(self, w: f32) -> f32 {
        match self {
            // 2·(1 − 1/(1 + e^(−x))) = 2/(1 + e^x): one exponential, no cancellation.
            Sigma::Decreasing { width } => 2.0 / (1.0 + (w / width).exp()),
            Sigma::Increasing { width } => 1.0 / (1.0 + (-w / width).exp()),
        }
    }

    /// Parses `released`, `decreasing[:WIDTH]` or `increasing[:WIDTH]` (default widths 0.001 and 1).
    pub fn parse(s: &str) -> Result<Sigma> {
        let (kind, width) = match s.split_once(':') {
            Some((k, w)) => (k, Some(w)),
            None => (s, None),
        };
        let width = width
            .map(|w| w.parse::<f32>().ok().filter(|w| w.is_finite() && *w > 0.0))
            .map(|w| w.ok_or_else(|| Error::param("sigma width", s, "a number > 0")))
            .transpose()?;
        match kind {
            "released" if width.is_none() => Ok(Sigma::RELEASED),
            "decreasing" => Ok(Sigma::Decreasing {
                width: width.unwrap_or(0.001),
            }),
            "increasing" => Ok(Sigma::Increasing {
                width: width.unwrap_or(1.0),
            }),
            _ => Err(Error::param(
                "sigma",
                s,
                "released, decreasing[:WIDTH] or increasing[:WIDTH]",
            )),
        }
    }
}

/// Where the input spikes of sleep come from. Either way a fresh square window is drawn every
/// step and every pixel outside it is 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InputSource {
    /// The mean image of the data (the released code: no stored example is replayed).
    MaskedMean,
    /// The mean of `samples` images drawn at random every step (a replay variant: stored examples
    /// do reach the network).
    MaskedSamples {
        /// Images averaged per step (1 = a single stored example).
        samples: usize,
    },
    /// Sequence replay of recent inputs (Hayes et al. 2021, Sec. 5: biological replay reactivates
    /// sequences of recent experience in compressed time): the last `recent` images of the sleep
    /// data (the end of the newest task) are presented in their training order, each for `dwell`
    /// steps, cycling; the mask is drawn afresh every step as for the other sources.
    Sequence {
        /// Images in the replayed sequence.
        recent: usize,
        /// Steps each image is held (small = compressed time).
        dwell: usize,
    },
}

impl InputSource {
    /// Parses `mean`, `samples[:K]` (K images per step, default 1) or `sequence:N[:DWELL]`
    /// (the last N images, each held DWELL steps, default 10).
    ///
    /// ```
    /// use somnet::sleep::InputSource;
    /// assert_eq!(InputSource::parse("sequence:100:5").unwrap(),
    ///            InputSource::Sequence { recent: 100, dwell: 5 });
    /// assert!(InputSource::parse("sequence:0").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<InputSource> {
        if let Some(rest) = s.strip_prefix("sequence:") {
            let (n, d) = rest.split_once(':').unwrap_or((rest, "10"));
            let n = n.trim().parse::<usize>().ok().filter(|&n| n > 0);
            let d = d.trim().parse::<usize>().ok().filter(|&d| d > 0);
            return match (n, d) {
                (Some(recent), Some(dwell)) => Ok(InputSource::Sequence { recent, dwell }),
                _ => Err(Error::param(
                    "input",
                    s,
                    "sequence:N[:DWELL] with N >= 1 images and DWELL >= 1 steps",
                )),
            };
        }
        match s {
            "mean" | "masked-mean" => Ok(InputSource::MaskedMean),
            _ => {
                let k = match s.split_once(':') {
                    Some(("samples", k)) => k.parse::<usize>().ok().filter(|&k| k > 0),
                    None if s == "samples" => Some(1),
                    _ => None,
                };
                k.map(|samples| InputSource::MaskedSamples { samples })
                    .ok_or_else(|| {
                        Error::param(
                            "input",
                            s,
                            "mean, samples[:K] with K >= 1, or sequence:N[:DWELL]",
                        )
                    })
            }
        }
    }
}

/// Which pixels of the input image reach the network in one step (drawn afresh every step).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Mask {
    /// A square window of `size` pixels, placed uniformly at random (the released code; the
    /// image side keeps the whole image).
    Window {
        /// Side in pixels.
        size: usize,
    },
    /// Every pixel kept independently with probability `fraction` (the PyTorch replication's
    /// mask, about a quarter of the pixels).
    Pixels {
        /// Probability that a pixel is kept, in (0, 1].
        fraction: f32,
    },
}

impl Mask {
    /// The released mask: an 11×11 window.
    pub const RELEASED: Mask = Mask::Window { size: 11 };

    /// Parses `window:SIZE` (or a bare size) or `pixels:FRACTION`.
    ///
    /// ```
    /// use somnet::sleep::Mask;
    /// assert_eq!(Mask::parse("window:11").unwrap(), Mask::RELEASED);
    /// assert_eq!(Mask::parse("pixels:0.25").unwrap(), Mask::Pixels { fraction: 0.25 });
    /// assert!(Mask::parse("pixels:2").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Mask> {
        let bad = || {
            Error::param(
                "mask",
                s,
                "window:SIZE (pixels >= 1) or pixels:FRACTION in (0, 1]",
            )
        };
        let (kind, v) = s.split_once(':').unwrap_or(("window", s));
        match kind {
            "window" => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .map(|size| Mask::Window { size })
                .ok_or_else(bad),
            "pixels" => v
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .map(|fraction| Mask::Pixels { fraction })
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

/// How the input scale α_l of each sleeping layer is set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "values")]
pub enum AlphaMode {
    /// `α_l = alpha_scale·f_l` from the data-based scale factors, measured before every sleep
    /// (the released code).
    DataBased,
    /// Fixed values, one per Dense layer, whatever the network's activations (the PyTorch
    /// replication, whose normalisation is switched off, uses 14.983829, 253.17746, 7.770772:
    /// the released code's factors of one trained network).
    Fixed(Vec<f32>),
}

/// How long sleep lasts after task k (from 1): `base + (k − 1)·per_task` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SleepLength {
    /// Steps after the first task.
    pub base: u64,
    /// Steps added for every later task.
    pub per_task: u64,
}

impl SleepLength {
    /// The released schedule: 15 000 steps after task 1, 5 000 more after each later task.
    pub const RELEASED: SleepLength = SleepLength {
        base: 15_000,
        per_task: 5_000,
    };

    /// Steps of the sleep after task `k` (from 1).
    ///
    /// ```
    /// use somnet::sleep::SleepLength;
    /// assert_eq!(SleepLength::RELEASED.after_task(1), 15_000);
    /// assert_eq!(SleepLength::RELEASED.after_task(5), 35_000);
    /// ```
    pub fn after_task(&self, k: usize) -> u64 {
        self.base + (k.max(1) as u64 - 1) * self.per_task
    }
}

/// The settings of a sleep phase (see [`crate::sleep`] for what each does).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SleepConfig {
    /// Rate of an input pixel of value 1 before the cap (Hz): P(spike) = min(1, 2·dt·rate·x).
    pub max_rate_hz: f64,
    /// The step (ms).
    pub dt_ms: f64,
    /// Potentiation step (pre and post fired).
    pub inc: f32,
    /// Depression step (post fired, pre silent).
    pub dec: f32,
    /// Threshold multiplier per weighted layer: θ_l = threshold·β_l.
    pub beta: Vec<f32>,
    /// Input scale: α_l = alpha_scale·f_l, with f_l the layer's scale factor.
    pub alpha_scale: f32,
    /// Base threshold.
    pub threshold: f32,
    /// Membrane decay per step, in (0, 1]: v ← decay·v + input.
    pub decay: f32,
    /// Steps a neuron is silent after a spike (0 in the released code).
    pub refractory_steps: u32,
    /// The weight-dependent factor of the rule.
    pub sigma: Sigma,
    /// Which pixels of the image reach the network each step.
    pub mask: Mask,
    /// How the input scale of each layer is set.
    pub alpha: AlphaMode,
    /// Where the input comes from.
    pub input: InputSource,
    /// Sleep length per task (used by the incremental experiment).
    pub length: SleepLength,
    /// Seed of the input draws.
    pub seed: u64,
    /// Spike-frequency adaptation of the sleeping neurons (off: `None`).
    #[serde(default)]
    pub adaptation: Option<Adaptation>,
    /// Membrane momentum μ in [0, 1): each step's synaptic drive carries over, decaying by μ per
    /// step (0: off, the released dynamics).
    #[serde(default)]
    pub momentum: f32,
    /// How many weighted layers, counted from the output, change during sleep (`None`: all).
    /// `Some(k)` keeps the earlier layers as fixed features, as the paper sleeps only the dense
    /// head of its CIFAR-10 network over fixed convolutional features (Tadros et al., Nat.
    /// Commun. 13:7742, 2022, "Class-incremental learning"). The fixed layers still spike and
    /// drive the plastic ones.
    #[serde(default)]
    pub plastic_layers: Option<usize>,
    /// How the fixed layers (those before the plastic ones) take part in sleep.
    #[serde(default)]
    pub fixed_layers: FixedLayers,
}

/// How the layers that keep their weights during sleep (see [`SleepConfig::plastic_layers`])
/// take part in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixedLayers {
    /// They spike like the plastic ones and drive them (the network must be sleepable whole:
    /// Dense/Conv2d with ReLU).
    #[default]
    Spiking,
    /// Their ANN output for every sleep image, scaled to [0, 1] by its largest value, is the
    /// image the plastic layers sleep on: sleep on the dense head over fixed features, for any
    /// feature extractor (pooling, batch norm, biases).
    Ann,
}

/// Spike-frequency adaptation during sleep, a negative feedback that pushes activity away from
/// the patterns it has just visited (Hayes et al., Neural Computation 33:2908, 2021, Sec. 5
/// "missing biological elements"; as hidden-state adaptation in Casco-Rodriguez et al., arXiv
/// 2602.18401, 2026): every spike of a neuron adds `strength·θ` to its adaptation `A`, which
/// decays by `decay` per step and is subtracted from the membrane's drive from the next step on:
/// `A_t = decay·A_{t−1} + strength·θ·s_{t−1}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Adaptation {
    /// Jump of the adaptation per spike, in units of the layer's threshold θ (> 0).
    pub strength: f32,
    /// Decay of the adaptation per step, in (0, 1).
    pub decay: f32,
}

impl Adaptation {
    /// Parses `STRENGTH:DECAY` (e.g. `0.5:0.9`); `off` gives `None`.
    ///
    /// ```
    /// use somnet::sleep::Adaptation;
    /// let a = Adaptation::parse("0.5:0.9").unwrap().unwrap();
    /// assert_eq!((a.strength, a.decay), (0.5, 0.9));
    /// assert_eq!(Adaptation::parse("off").unwrap(), None);
    /// assert!(Adaptation::parse("0.5:1").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Option<Adaptation>> {
        if matches!(s.trim(), "off" | "none") {
            return Ok(None);
        }
        let bad = || {
            Error::param(
                "adaptation",
                s,
                "off, or STRENGTH:DECAY with STRENGTH > 0 and DECAY in (0, 1)",
            )
        };
        let (a, d) = s.split_once(':').ok_or_else(bad)?;
        let strength: f32 = a.trim().parse().map_err(|_| bad())?;
        let decay: f32 = d.trim().parse().map_err(|_| bad())?;
        let a = Adaptation { strength, decay };
        a.check().map_err(|_| bad())?;
        Ok(Some(a))
    }

    fn check(&self) -> Result<()> {
        if !(self.strength.is_finite() && self.strength > 0.0) {
            return Err(Error::param(
                "sleep.adaptation.strength",
                self.strength,
                "a number > 0",
            ));
        }
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(Error::param(
                "sleep.adaptation.decay",
                self.decay,
                "in (0, 1)",
            ));
        }
        Ok(())
    }
}

impl SleepConfig {
    /// The released MNIST driver: max rate 239.515363 Hz, inc 0.032064, dec 0.003344,
    /// β = (14.548, 44.560, 38.046), alpha_scale 55.882, 11×11 window on the masked mean image.
    pub fn mnist() -> SleepConfig {
        SleepConfig {
            max_rate_hz: 239.515363,
            dt_ms: 1.0,
            inc: 0.032064,
            dec: 0.003344,
            beta: vec![14.548273, 44.560317, 38.046326],
            alpha_scale: 55.882454,
            threshold: 1.0,
            decay: 0.999,
            refractory_steps: 0,
            sigma: Sigma::RELEASED,
            mask: Mask::RELEASED,
            alpha: AlphaMode::DataBased,
            input: InputSource::MaskedMean,
            length: SleepLength::RELEASED,
            seed: 0,
            adaptation: None,
            momentum: 0.0,
            plastic_layers: None,
            fixed_layers: FixedLayers::Spiking,
        }
    }

    /// The released Fashion-MNIST driver: max rate 181.047258 Hz, inc 0.041001, dec 0.003344,
    /// β = (40.447, 27.597, 33.109), alpha_scale 31.593; the rest as [`SleepConfig::mnist`].
    pub fn fashion_mnist() -> SleepConfig {
        SleepConfig {
            max_rate_hz: 181.047258,
            inc: 0.041001,
            dec: 0.003344,
            beta: vec![40.447, 27.597, 33.109],
            alpha_scale: 31.593,
            ..SleepConfig::mnist()
        }
    }

    /// The released preset for a data set name (`mnist`, `fashion-mnist`); MNIST's for others.
    pub fn preset_for(dataset: &str) -> SleepConfig {
        match dataset {
            "fashion-mnist" | "fashion" => SleepConfig::fashion_mnist(),
            _ => SleepConfig::mnist(),
        }
    }

    /// The keys of [`Self::set`] with their forms.
    pub const KEYS: &'static str = "sigma (released, decreasing[:W], increasing[:W]), \
        input (mean, samples[:K], sequence:N[:DWELL]), \
        adaptation (off, STRENGTH:DECAY), sleep-momentum ([0, 1)), plastic (all, last:K), fixed-layers (spiking, ann), mask (window:SIZE, pixels:FRACTION), mask-size (pixels), inc, \
        dec, alpha-scale, alpha (data, or A1,A2,… fixed), beta (B1,B2,…), \
        max-rate (Hz), decay (0..1], refractory-steps, threshold, dt (ms), sleep-base (steps), \
        sleep-per-task (steps), seed";

    /// Sets the setting `key` to `value` (see [`Self::KEYS`]): the one text form of the sleep
    /// settings, shared by the CLI's flags and the Python keyword arguments. Not validated here
    /// (call [`Self::validate`] when all are set).
    ///
    /// ```
    /// let mut c = somnet::sleep::SleepConfig::mnist();
    /// c.set("inc", "0.001").unwrap();
    /// c.set("beta", "10,20,30").unwrap();
    /// c.set("input", "samples:10").unwrap();
    /// assert_eq!(c.beta, vec![10.0, 20.0, 30.0]);
    /// assert!(c.set("inc", "fast").unwrap_err().to_string().contains("inc"));
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let field = format!("sleep.{key}");
        let bad = |expected: &str| Error::param(&field, value, expected);
        let number = || parse_finite(&field, value);
        let whole = || parse_whole::<u64>(&field, value);
        let numbers = |v: &str| -> Option<Vec<f32>> {
            v.split(',')
                .map(|b| b.trim().parse::<f32>().ok().filter(|b| b.is_finite()))
                .collect()
        };
        match key {
            "sigma" => self.sigma = Sigma::parse(value)?,
            "input" => self.input = InputSource::parse(value)?,
            "mask" => self.mask = Mask::parse(value)?,
            "mask-size" => {
                self.mask = Mask::Window {
                    size: whole()? as usize,
                }
            }
            "alpha" => {
                self.alpha = match value.trim() {
                    "data" | "data-based" => AlphaMode::DataBased,
                    v => AlphaMode::Fixed(numbers(v).ok_or_else(|| {
                        bad("data, or numbers separated by commas, one per Dense layer")
                    })?),
                }
            }
            "inc" => self.inc = number()? as f32,
            "dec" => self.dec = number()? as f32,
            "alpha-scale" => self.alpha_scale = number()? as f32,
            "beta" => {
                self.beta = numbers(value)
                    .ok_or_else(|| bad("numbers separated by commas, one per Dense layer"))?
            }
            "max-rate" => self.max_rate_hz = number()?,
            "decay" => self.decay = number()? as f32,
            "refractory-steps" => {
                self.refractory_steps =
                    u32::try_from(whole()?).map_err(|_| bad("a number of steps"))?
            }
            "threshold" => self.threshold = number()? as f32,
            "dt" => self.dt_ms = number()?,
            "sleep-base" => self.length.base = whole()?,
            "sleep-per-task" => self.length.per_task = whole()?,
            "seed" => self.seed = whole()?,
            "adaptation" => self.adaptation = Adaptation::parse(value)?,
            "sleep-momentum" => self.momentum = number()? as f32,
            "fixed-layers" => {
                self.fixed_layers = match value.trim() {
                    "spiking" => FixedLayers::Spiking,
                    "ann" => FixedLayers::Ann,
                    _ => return Err(bad("spiking or ann")),
                }
            }
            "plastic" => {
                self.plastic_layers = match value.trim() {
                    "all" => None,
                    v => Some(
                        v.strip_prefix("last:")
                            .and_then(|k| k.trim().parse().ok())
                            .ok_or_else(|| bad("all, or last:K (the last K weighted layers)"))?,
                    ),
                }
            }
            _ => {
                return Err(Error::param(
                    "sleep setting",
                    key,
                    format!("one of {}", Self::KEYS),
                ))
            }
        }
        Ok(())
    }

    /// Checks every field (the layer count is checked against the network by the sleep phase).
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &str, v: f64| crate::error::positive(field, v);
        positive("sleep.max_rate_hz", self.max_rate_hz)?;
        positive("sleep.dt_ms", self.dt_ms)?;
        positive("sleep.alpha_scale", self.alpha_scale as f64)?;
        positive("sleep.threshold", self.threshold as f64)?;
        for (field, v) in [("sleep.inc", self.inc), ("sleep.dec", self.dec)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(field, v, "a finite number >= 0"));
            }
        }
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(Error::param("sleep.decay", self.decay, "in (0, 1]"));
        }
        if self.beta.is_empty() {
            return Err(Error::param(
                "sleep.beta",
                "[]",
                "one value per Dense layer",
            ));
        }
        for (i, &b) in self.beta.iter().enumerate() {
            positive(&format!("sleep.beta[{i}]"), b as f64)?;
        }
        match self.mask {
            Mask::Window { size: 0 } => {
                return Err(Error::param("sleep.mask.size", 0, "at least 1 pixel"))
            }
            Mask::Pixels { fraction } if !(fraction > 0.0 && fraction <= 1.0) => {
                return Err(Error::param("sleep.mask.fraction", fraction, "in (0, 1]"))
            }
            _ => {}
        }
        if let AlphaMode::Fixed(a) = &self.alpha {
            if a.len() != self.beta.len() {
                return Err(Error::SizeMismatch {
                    what: "sleep.alpha (fixed input scales) against sleep.beta".into(),
                    expected: self.beta.len(),
                    got: a.len(),
                });
            }
            for (i, &v) in a.iter().enumerate() {
                positive(&format!("sleep.alpha[{i}]"), v as f64)?;
            }
        }
        match self.input {
            InputSource::MaskedSamples { samples: 0 } => {
                return Err(Error::param("sleep.input.samples", 0, "at least 1"))
            }
            InputSource::Sequence { recent: 0, .. } => {
                return Err(Error::param("sleep.input.recent", 0, "at least 1 image"))
            }
            InputSource::Sequence { dwell: 0, .. } => {
                return Err(Error::param("sleep.input.dwell", 0, "at least 1 step"))
            }
            _ => {}
        }
        if let Some(a) = &self.adaptation {
            a.check()?;
        }
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(Error::param("sleep.momentum", self.momentum, "in [0, 1)"));
        }
        if self.fixed_layers == FixedLayers::Ann && self.plastic_layers.is_none() {
            return Err(Error::param(
                "sleep.fixed-layers",
                "ann",
                "spiking, unless plastic=last:K leaves layers fixed",
            ));
        }
        if self.plastic_layers == Some(0) {
            return Err(Error::param(
                "sleep.plastic",
                "last:0",
                "all, or last:K with K ≥ 1",
            ));
        }
        match self.sigma {
            Sigma::Decreasing { width } | Sigma::Increasing { width }
                if !(width.is_finite() && width > 0.0) =>
            {
                Err(Error::param("sleep.sigma.width", width, "a number > 0"))
            }
            _ => Ok(()),
        }
    }

    /// Probability that an input pixel of value 1 spikes in one step (before the cap at 1):
    /// `2·dt·max_rate` (MNIST: 0.479).
    pub fn input_gain(&self) -> f64 {
        2.0 * self.dt_ms * 1e-3 * self.max_rate_hz
    }
}

/// `value` of setting `field` as a finite number, or an error naming both.
pub(crate) fn parse_finite(field: &str, value: &str) -> Result<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::param(field, value, "a finite number"))
}

/// `value` of setting `field` as a whole number, or an error naming both.
pub(crate) fn parse_whole<T: std::str::FromStr>(field: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::param(field, value, "a whole number"))
}
