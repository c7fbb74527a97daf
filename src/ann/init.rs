//! Weight initialisers.
//!
//! Fan-in and fan-out follow Keras: Dense (inputs, outputs); Conv2d (in channels·kh·kw,
//! out channels·kh·kw). Biases start at zero.

use rand_distr::{Distribution, Normal};

use crate::error::{Error, Result};
use crate::rng::{uniform01, Stream};

/// How to draw initial weights.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// U(−a, a) (the sleep-replay network uses a = 0.01).
    Uniform {
        /// Half-width.
        a: f32,
    },
    /// N(0, 2/fan_in) (He et al. 2015).
    HeNormal,
    /// U(±√(6/fan_in)) (He et al. 2015).
    HeUniform,
    /// U(±√(6/(fan_in + fan_out))) (Glorot & Bengio 2010; Keras' default).
    GlorotUniform,
    /// N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010).
    GlorotNormal,
    /// U(±1/√fan_in): PyTorch's default for `Linear` and `Conv2d` weights (Kaiming-uniform with
    /// a = √5, i.e. √(6/((1 + 5)·fan_in))).
    FanInUniform,
}

impl Init {
    /// Parses `uniform:A`, `he-normal`, `he-uniform`, `glorot-uniform`, `glorot-normal`,
    /// `fan-in-uniform` (`torch`).
    pub fn parse(s: &str) -> Result<Init> {
        match s {
            "fan-in-uniform" | "torch" => Ok(Init::FanInUniform),
            "he-normal" | "he" => Ok(Init::HeNormal),
            "he-uniform" => Ok(Init::HeUniform),
            "glorot-uniform" | "glorot" => Ok(Init::GlorotUniform),
            "glorot-normal" => Ok(Init::GlorotNormal),
            _ => match s.strip_prefix("uniform:").map(str::parse::<f32>) {
                Some(Ok(a)) if a.is_finite() && a > 0.0 => Ok(Init::Uniform { a }),
                _ => Err(Error::param(
                    "init",
                    s,
                    "uniform:A (A > 0), he-normal, he-uniform, glorot-uniform, glorot-normal or \
                     fan-in-uniform",
                )),
            },
        }
    }

    /// Fills `w` with draws from `rng`.
    pub fn fill(&self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Stream) {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let uniform = |w: &mut [f32], a: f64, rng: &mut Stream| {
            w.iter_mut()
                .for_each(|x| *x = (a * (2.0 * uniform01(rng) - 1.0)) as f32)
        };
        let normal = |w: &mut [f32], sd: f64, rng: &mut Stream| {
            let n = Normal::new(0.0, sd).expect("finite positive sd");
            w.iter_mut().for_each(|x| *x = n.sample(rng) as f32)
        };
        match *self {
            Init::Uniform { a } => uniform(w, a as f64, rng),
            Init::HeNormal => normal(w, (2.0 / fi).sqrt(), rng),
            Init::HeUniform => uniform(w, (6.0 / fi).sqrt(), rng),
            Init::GlorotUniform => uniform(w, (6.0 / (fi + fo)).sqrt(), rng),
            Init::GlorotNormal => normal(w, (2.0 / (fi + fo)).sqrt(), rng),
            Init::FanInUniform => uniform(w, 1.0 / fi.sqrt(), rng),
        }
    }
}
