//! Layers of the framework-neutral ANN, their shapes and their counts.
//!
//! Tensors are NCHW: a batch is an (N, features) matrix whose features are laid out (C, H, W)
//! (channel-major), or plain features after [`Layer::Flatten`]. A per-sample shape is `[C, H, W]`
//! or `[F]`.

use ndarray::{Array1, Array2, Array4};

use crate::error::{Error, Result};

/// Spatial padding of convolutions and pooling, with Keras/TensorFlow's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: `out = ⌊(in − k)/s⌋ + 1`.
    Valid,
    /// `out = ⌈in/s⌉`; the total padding `max((out − 1)·s + k − in, 0)` is split with the smaller
    /// half before (top/left) and the larger after (bottom/right), as TensorFlow does.
    Same,
}

/// Output size and padding before, along one spatial axis.
pub fn padded_extent(
    input: usize,
    k: usize,
    stride: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    if k == 0 || stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (input >= k).then(|| ((input - k) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.saturating_sub(1)) * stride + k).saturating_sub(input);
            (out > 0).then_some((out, total / 2))
        }
    }
}

/// Activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// Softmax over the features of each sample.
    Softmax,
    /// Identity.
    Linear,
}

/// A fully connected layer: `y = x·Wᵀ + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Weights, (outputs, inputs): row j holds the weights into output j.
    pub weights: Array2<f32>,
    /// Bias per output, if the layer has one.
    pub bias: Option<Array1<f32>>,
}

/// A 2-D convolution (cross-correlation, as in Keras and PyTorch).
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Kernels, (out channels, in channels, kh, kw).
    pub weights: Array4<f32>,
    /// Bias per output channel, if any.
    pub bias: Option<Array1<f32>>,
    /// (vertical, horizontal) stride.
    pub stride: (usize, usize),
    /// Padding rule.
    pub padding: Padding,
}

/// Average or max pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool {
    /// (height, width) of the window.
    pub size: (usize, usize),
    /// (vertical, horizontal) stride.
    pub stride: (usize, usize),
    /// Padding rule (averages count only the real, unpadded inputs, as TensorFlow does).
    pub padding: Padding,
}

/// Batch normalisation in inference form: `y = γ·(x − μ)/√(σ² + ε) + β`, per channel (after a
/// convolution) or per feature (after a dense layer).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    /// Scale γ.
    pub gamma: Array1<f32>,
    /// Shift β.
    pub beta: Array1<f32>,
    /// Running mean μ.
    pub mean: Array1<f32>,
    /// Running variance σ².
    pub var: Array1<f32>,
    /// ε.
    pub eps: f32,
    /// Momentum of the running averages in training (Keras' default 0.99).
    pub momentum: f32,
}

impl BatchNorm {
    /// γ = 1, β = 0, μ = 0, σ² = 1 for `n` channels, ε = 10⁻³ and momentum 0.99 (Keras' defaults).
    pub fn identity(n: usize) -> Self {
        BatchNorm {
            gamma: Array1::ones(n),
            beta: Array1::zeros(n),
            mean: Array1::zeros(n),
            var: Array1::ones(n),
            eps: 1e-3,
            momentum: 0.99,
        }
    }

    /// Per channel: (scale, shift) with `y = scale·x + shift`.
    pub fn affine(&self) -> (Array1<f32>, Array1<f32>) {
        let scale: Array1<f32> = self
            .gamma
            .iter()
            .zip(&self.var)
            .map(|(g, v)| g / (v + self.eps).sqrt())
            .collect();
        let shift = &self.beta - &(&scale * &self.mean);
        (scale, shift)
    }
}

/// One layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Fully connected.
    Dense(Dense),
    /// 2-D convolution.
    Conv2d(Conv2d),
    /// Average pooling.
    AvgPool2d(Pool),
    /// Max pooling.
    MaxPool2d(Pool),
    /// [C, H, W] → [C·H·W] (data unchanged: NCHW is already channel-major).
    Flatten,
    /// Batch normalisation (inference form; trained with batch statistics).
    BatchNorm(BatchNorm),
    /// An activation function.
    Activation(Activation),
    /// Dropout with drop probability `rate` (see [`super::DropoutMode`] for test-time scaling).
    Dropout {
        /// Probability of dropping a unit in training.
        rate: f32,
    },
    /// The element-wise sum of two or more inputs of one shape (a residual junction).
    Add,
    /// The inputs joined along the channel axis (the first axis of `[C, H, W]` or `[F]`); the
    /// other axes must agree. In NCHW order this lays each sample's inputs end to end.
    Concatenate,
    /// The mean of every channel over its positions: `[C, H, W]` → `[C]`.
    GlobalAvgPool2d,
    /// Zeros added around each map: `[C, H, W]` → `[C, top + H + bottom, left + W + right]`.
    ZeroPad2d(Pad),
    /// The quantisation-clip-floor-shift activation of low-latency conversion
    /// ([`super::qcfs`]), with its trainable threshold λ.
    Qcfs(super::qcfs::Qcfs),
}

/// The zeros [`Layer::ZeroPad2d`] adds on each side, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Pad {
    /// Rows above.
    pub top: usize,
    /// Rows below.
    pub bottom: usize,
    /// Columns on the left.
    pub left: usize,
    /// Columns on the right.
    pub right: usize,
}

impl Layer {
    /// The layer's kind, as used in files and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::AvgPool2d(_) => "avgpool2d",
            Layer::MaxPool2d(_) => "maxpool2d",
            Layer::Flatten => "flatten",
            Layer::BatchNorm(_) => "batchnorm",
            Layer::Activation(_) => "activation",
            Layer::Dropout { .. } => "dropout",
            Layer::Add => "add",
            Layer::Concatenate => "concatenate",
            Layer::GlobalAvgPool2d => "globalavgpool2d",
            Layer::ZeroPad2d(_) => "zeropad2d",
            Layer::Qcfs(_) => "qcfs",
        }
    }

    /// Whether the layer joins several inputs ([`Layer::Add`], [`Layer::Concatenate`]).
    pub fn is_merge(&self) -> bool {
        matches!(self, Layer::Add | Layer::Concatenate)
    }

    /// The per-sample output shape of a merge layer for its input shapes (`name` labels errors);
    /// any other layer takes exactly one input and goes to [`Self::output_shape`].
    pub fn merged_shape(&self, name: &str, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        if !self.is_merge() {
            return match inputs {
                [one] => self.output_shape(name, one),
                _ => Err(Error::Unsupported(format!(
                    "layer '{name}' ({}) takes one input, it is given {}",
                    self.kind(),
                    inputs.len()
                ))),
            };
        }
        let kind = self.kind();
        if inputs.len() < 2 {
            return Err(Error::Unsupported(format!(
                "layer '{name}' ({kind}) joins two or more inputs, it is given {}",
                inputs.len()
            )));
        }
        let first = inputs[0];
        match self {
            Layer::Add => {
                if let Some(other) = inputs.iter().find(|s| **s != first) {
                    return Err(Error::Unsupported(format!(
                        "layer '{name}' (add): its inputs must have one shape, got {first:?} and {other:?}"
                    )));
                }
                Ok(first.to_vec())
            }
            _ => {
                if let Some(other) = inputs
                    .iter()
                    .find(|s| s.len() != first.len() || s[1..] != first[1..])
                {
                    return Err(Error::Unsupported(format!(
                        "layer '{name}' (concatenate): inputs {first:?} and {other:?} differ in more than the channel axis"
                    )));
                }
                let mut out = first.to_vec();
                out[0] = inputs.iter().map(|s| s[0]).sum();
                Ok(out)
            }
        }
    }

    /// The per-sample output shape for input shape `input`; `name` labels errors.
    pub fn output_shape(&self, name: &str, input: &[usize]) -> Result<Vec<usize>> {
        let spatial = |what: &str| -> Result<[usize; 3]> {
            match input {
                [c, h, w] => Ok([*c, *h, *w]),
                _ => Err(Error::Unsupported(format!(
                    "layer '{name}' ({what}) needs a [C, H, W] input, got {input:?}"
                ))),
            }
        };
        match self {
            Layer::Dense(d) => {
                let (out, inp) = d.weights.dim();
                match input {
                    [f] if *f == inp => Ok(vec![out]),
                    [f] => Err(Error::Unsupported(format!("layer '{name}' (dense): its weights take {inp} inputs, the layer before gives {f}"))),
                    _ => Err(Error::Unsupported(format!("layer '{name}' (dense) needs a flat input, got {input:?}: add a Flatten layer"))),
                }
            }
            Layer::Conv2d(c) => {
                let [ci, h, w] = spatial("conv2d")?;
                let (oc, ic, kh, kw) = c.weights.dim();
                if ci != ic {
                    return Err(Error::Unsupported(format!("layer '{name}' (conv2d): its kernels take {ic} input channels, the layer before gives {ci}")));
                }
                let bad = || {
                    Error::Unsupported(format!("layer '{name}' (conv2d): kernel {kh}×{kw} stride {:?} does not fit input {h}×{w}", c.stride))
                };
                let (oh, _) = padded_extent(h, kh, c.stride.0, c.padding).ok_or_else(bad)?;
                let (ow, _) = padded_extent(w, kw, c.stride.1, c.padding).ok_or_else(bad)?;
                Ok(vec![oc, oh, ow])
            }
            Layer::AvgPool2d(p) | Layer::MaxPool2d(p) => {
                let [c, h, w] = spatial("pooling")?;
                let bad = || {
                    Error::Unsupported(format!("layer '{name}' (pooling): window {:?} stride {:?} does not fit input {h}×{w}", p.size, p.stride))
                };
                let (oh, _) = padded_extent(h, p.size.0, p.stride.0, p.padding).ok_or_else(bad)?;
                let (ow, _) = padded_extent(w, p.size.1, p.stride.1, p.padding).ok_or_else(bad)?;
                Ok(vec![c, oh, ow])
            }
            Layer::Flatten => Ok(vec![input.iter().product()]),
            Layer::BatchNorm(b) => {
                let channels = input[0];
                if b.gamma.len() != channels
                    || b.beta.len() != channels
                    || b.mean.len() != channels
                    || b.var.len() != channels
                {
                    return Err(Error::SizeMismatch {
                        what: format!("layer '{name}' (batchnorm) parameters"),
                        expected: channels,
                        got: b.gamma.len(),
                    });
                }
                Ok(input.to_vec())
            }
            Layer::Activation(_) | Layer::Dropout { .. } | Layer::Qcfs(_) => Ok(input.to_vec()),
            Layer::GlobalAvgPool2d => {
                let [c, _, _] = spatial("global average pooling")?;
                Ok(vec![c])
            }
            Layer::ZeroPad2d(p) => {
                let [c, h, w] = spatial("zero padding")?;
                // Saturating: a size from a file that overflows is then refused by the allocation
                // limit of [`super::Ann::validate`] instead of wrapping.
                Ok(vec![
                    c,
                    p.top.saturating_add(h).saturating_add(p.bottom),
                    p.left.saturating_add(w).saturating_add(p.right),
                ])
            }
            Layer::Add | Layer::Concatenate => self.merged_shape(name, &[input]),
        }
    }

    /// Trainable and statistical parameters (BatchNorm counts γ, β, μ, σ² as Keras does).
    pub fn n_params(&self) -> usize {
        match self {
            Layer::Dense(d) => d.weights.len() + d.bias.as_ref().map_or(0, |b| b.len()),
            Layer::Conv2d(c) => c.weights.len() + c.bias.as_ref().map_or(0, |b| b.len()),
            Layer::BatchNorm(b) => 4 * b.gamma.len(),
            Layer::Qcfs(_) => 1,
            _ => 0,
        }
    }

    /// Multiply-accumulates per sample, given the output shape (Dense: in·out; Conv2d:
    /// out positions · out channels · in channels · kh · kw; other layers: 0).
    pub fn macs(&self, output: &[usize]) -> u64 {
        match self {
            Layer::Dense(d) => d.weights.len() as u64,
            Layer::Conv2d(c) => {
                let (_, ic, kh, kw) = c.weights.dim();
                output.iter().product::<usize>() as u64 * (ic * kh * kw) as u64
            }
            _ => 0,
        }
    }

    /// Checks every number is finite; `name` labels the error.
    pub fn check_finite(&self, name: &str) -> Result<()> {
        let check = |what: &str, values: &mut dyn Iterator<Item = &f32>| -> Result<()> {
            match values.enumerate().find(|(_, x)| !x.is_finite()) {
                Some((i, x)) => Err(Error::param(
                    format!("layer '{name}' {what}[{i}]"),
                    x,
                    "a finite number",
                )),
                None => Ok(()),
            }
        };
        match self {
            Layer::Dense(d) => {
                check("weights", &mut d.weights.iter())?;
                d.bias
                    .as_ref()
                    .map_or(Ok(()), |b| check("bias", &mut b.iter()))
            }
            Layer::Conv2d(c) => {
                check("weights", &mut c.weights.iter())?;
                c.bias
                    .as_ref()
                    .map_or(Ok(()), |b| check("bias", &mut b.iter()))
            }
            Layer::BatchNorm(b) => {
                check("gamma", &mut b.gamma.iter())?;
                check("beta", &mut b.beta.iter())?;
                check("moving_mean", &mut b.mean.iter())?;
                check("moving_variance", &mut b.var.iter())?;
                if let Some((i, v)) = b.var.iter().enumerate().find(|(_, v)| **v < 0.0) {
                    return Err(Error::param(
                        format!("layer '{name}' moving_variance[{i}]"),
                        v,
                        ">= 0",
                    ));
                }
                Ok(())
            }
            Layer::Qcfs(q) if !(q.lambda.is_finite() && q.lambda > 0.0) => Err(Error::param(
                format!("layer '{name}' (qcfs) threshold lambda"),
                q.lambda,
                "a finite number > 0",
            )),
            Layer::Qcfs(q) if !(1..=1_000_000).contains(&q.levels) => Err(Error::param(
                format!("layer '{name}' (qcfs) levels"),
                q.levels,
                "an integer in 1…10⁶",
            )),
            Layer::Dropout { rate } if !(0.0..1.0).contains(rate) => Err(Error::param(
                format!("layer '{name}' dropout rate"),
                rate,
                "in [0, 1)",
            )),
            _ => Ok(()),
        }
    }
}
