//! The input of sleep: Bernoulli spikes from a masked image, drawn afresh every step.
//!
//! Every step a square window of m pixels is placed uniformly at random (top-left corner
//! y, x uniform in [0, H − m] and [0, W − m]; for MNIST and m = 11, [0, 17]) — or, with a pixel
//! mask, every pixel is kept with a fixed probability — the image is kept inside the mask and set
//! to 0 outside, and pixel i spikes iff `u·(1/(dt·max_rate))/2 ≤ x_i` with
//! u ~ U(0, 1): P(spike) = min(1, 2·dt·max_rate·x_i). The image is the mean of the data (the
//! released code), the mean of a few images drawn every step (a replay variant), or the newest
//! images in their order, each held a few steps (sequence replay).

use super::config::{InputSource, Mask, SleepConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::{below, stream, uniform01, Purpose, Stream};

/// Draws the input spikes of each step.
#[derive(Debug, Clone)]
pub struct MaskedInput {
    /// (channels, height, width).
    shape: (usize, usize, usize),
    mask: Mask,
    /// 1 / (2·dt·max_rate): a pixel spikes iff u·scale ≤ x.
    scale: f64,
    source: Source,
    seed: u64,
}

#[derive(Debug, Clone)]
enum Source {
    Mean(Vec<f32>),
    Samples {
        images: Dataset,
        k: usize,
    },
    /// Images presented in order, each for `dwell` steps.
    Sequence {
        images: Dataset,
        dwell: usize,
    },
}

impl MaskedInput {
    /// The input for `data` (the images sleep replays from) under `config`.
    pub fn new(data: &Dataset, config: &SleepConfig) -> Result<MaskedInput> {
        if data.is_empty() {
            return Err(Error::Unsupported(format!(
                "sleep input: data set '{}' is empty (sleep needs the images of the tasks seen so far)",
                data.name
            )));
        }
        let [c, h, w] = data.shape;
        let shape = (c, h, w);
        let source = match config.input {
            InputSource::MaskedMean => Source::Mean(data.mean_image()),
            InputSource::MaskedSamples { samples } => Source::Samples {
                images: data.clone(),
                k: samples,
            },
            InputSource::Sequence { recent, dwell } => {
                let n = data.len();
                let from = n.saturating_sub(recent);
                Source::Sequence {
                    images: data.select(&(from..n).collect::<Vec<_>>()),
                    dwell,
                }
            }
        };
        let mask = match config.mask {
            Mask::Window { size } => Mask::Window {
                size: size.min(h).min(w),
            },
            m => m,
        };
        Ok(MaskedInput {
            shape,
            mask,
            scale: 1.0 / config.input_gain(),
            source,
            seed: config.seed,
        })
    }

    /// Number of input neurons (pixels).
    pub fn len(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    /// Whether there are no pixels (never: empty data is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window of step `step`: top-left (y, x) and (height, width); the whole image under a
    /// pixel mask.
    pub fn window(&self, step: u64) -> ((usize, usize), (usize, usize)) {
        self.window_from(&mut self.rng(step))
    }

    fn rng(&self, step: u64) -> Stream {
        stream(self.seed, Purpose::SleepInput, 0, 0, step)
    }

    fn window_from(&self, rng: &mut Stream) -> ((usize, usize), (usize, usize)) {
        let (_, h, w) = self.shape;
        match self.mask {
            Mask::Window { size } => {
                let y = below(rng, (h - size + 1) as u64) as usize;
                let x = below(rng, (w - size + 1) as u64) as usize;
                ((y, x), (size, size))
            }
            Mask::Pixels { .. } => ((0, 0), (h, w)),
        }
    }

    /// The masked image of step `step` (zeros outside the mask).
    pub fn image(&self, step: u64) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.visit(step, &mut self.rng(step), |i, x| out[i] = x);
        out
    }

    /// Appends the indices of the pixels that spike at `step` to `spikes` (increasing).
    pub fn draw(&self, step: u64, spikes: &mut Vec<u32>) {
        let mut rng = self.rng(step);
        let mut pixels = Vec::new();
        self.visit(step, &mut rng, |i, x| pixels.push((i, x)));
        for (i, x) in pixels {
            // u·scale ≤ x; a pixel of value 0 never spikes (u = 0 has probability 2⁻⁵³).
            if x > 0.0 && uniform01(&mut rng) * self.scale <= x as f64 {
                spikes.push(i as u32);
            }
        }
    }

    /// Draws the step's mask (and images) from `rng` and calls `f(pixel, value)` for every kept
    /// pixel, in increasing pixel order.
    fn visit(&self, step: u64, rng: &mut Stream, mut f: impl FnMut(usize, f32)) {
        let ((y0, x0), (mh, mw)) = self.window_from(rng);
        let (c, h, w) = self.shape;
        let picks: Vec<usize> = match &self.source {
            Source::Mean(_) => Vec::new(),
            Source::Sequence { images, dwell } => {
                vec![((step / *dwell as u64) % images.len() as u64) as usize]
            }
            Source::Samples { images, k } => (0..*k)
                .map(|_| below(rng, images.len() as u64) as usize)
                .collect(),
        };
        let keep = match self.mask {
            Mask::Pixels { fraction } => fraction as f64,
            Mask::Window { .. } => 1.0,
        };
        for ch in 0..c {
            for y in y0..y0 + mh {
                for x in x0..x0 + mw {
                    if keep < 1.0 && uniform01(rng) >= keep {
                        continue;
                    }
                    let i = ch * h * w + y * w + x;
                    let value = match &self.source {
                        Source::Mean(m) => m[i],
                        Source::Samples { images, .. } | Source::Sequence { images, .. } => {
                            picks.iter().map(|&s| images.image(s)[i]).sum::<f32>()
                                / picks.len() as f32
                        }
                    };
                    f(i, value);
                }
            }
        }
    }
}
