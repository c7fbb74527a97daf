//! Architecture specs: named networks and a compact layer grammar.
//!
//! A spec is a list of tokens joined by `-`:
//!
//! | token | layer |
//! |---|---|
//! | `c16k5`, `c32k3s2same` | Conv2d: 16 filters 5×5 (stride 1, valid), 32 filters 3×3 stride 2 'same' |
//! | `d128` | Dense with 128 outputs |
//! | `ap2`, `mp2`, `mp3s2` | average / max pooling 2×2 (stride = size unless `s` is given) |
//! | `bn` | BatchNorm |
//! | `relu`, `softmax`, `linear` | activation |
//! | `qcfs8` | QCFS activation with 8 levels, λ = 4 before training ([`super::qcfs`]) |
//! | `out` | the output activation of the options (softmax by default) |
//! | `do0.25` | Dropout with rate 0.25 |
//! | `flat` | Flatten |
//!
//! Named networks (those of the conversion benchmarks, after Rueckauer et al. 2017 and SNN
//! Toolbox's examples):
//! - `mlp:784-1200-1200-10`: Flatten, then Dense layers with ReLU and dropout between them;
//!   the first number must be the input size and the last the number of classes.
//! - `lenet`: `c16k5-relu-ap2-c32k3-relu-ap2-flat-d128-relu-d10-out`.
//! - `bn-cnn`: `c16k3-bn-relu-mp2-c32k3s2same-bn-relu-c32k3same-bn-relu-mp2-flat-d64-bn-relu-d10-out`.

use ndarray::{Array1, Array2, Array4};

use super::init::Init;
use super::layer::{Activation, BatchNorm, Conv2d, Dense, Layer, Padding, Pool};
use super::qcfs::Qcfs;
use super::{Ann, DropoutMode};
use crate::error::{Error, Result};
use crate::rng::{stream, Purpose};

/// Choices that apply to every layer a spec builds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArchOptions {
    /// Whether Dense and Conv2d layers have a bias.
    pub bias: bool,
    /// Weight initialiser.
    pub init: Init,
    /// Dropout rate between the hidden layers of `mlp:` specs (0 = none).
    pub dropout: f32,
    /// The output activation (`out`).
    pub output: Activation,
    /// Test-time dropout convention.
    pub dropout_mode: DropoutMode,
    /// With `Some(L)`, every `relu` token builds a QCFS activation with L levels instead (Bu et
    /// al. 2022; [`super::qcfs`]): the network trains for low-latency conversion.
    #[serde(default)]
    pub qcfs: Option<u32>,
}

impl Default for ArchOptions {
    /// Bias on, Glorot-uniform, no dropout, softmax output, inverted dropout.
    fn default() -> Self {
        ArchOptions {
            bias: true,
            init: Init::GlorotUniform,
            dropout: 0.0,
            output: Activation::Softmax,
            dropout_mode: DropoutMode::Inverted,
            qcfs: None,
        }
    }
}

/// Expands a named architecture to the token grammar (other specs pass through).
pub fn expand(spec: &str, options: &ArchOptions) -> Result<String> {
    Ok(match spec {
        "lenet" => "c16k5-relu-ap2-c32k3-relu-ap2-flat-d128-relu-d10-out".to_string(),
        "bn-cnn" => {
            "c16k3-bn-relu-mp2-c32k3s2same-bn-relu-c32k3same-bn-relu-mp2-flat-d64-bn-relu-d10-out"
                .to_string()
        }
        s if s.starts_with("mlp:") => {
            let sizes: Vec<usize> = s[4..]
                .split('-')
                .map(|t| t.parse::<usize>().ok().filter(|&n| n > 0))
                .collect::<Option<Vec<_>>>()
                .filter(|v| v.len() >= 2)
                .ok_or_else(|| Error::param("arch", s, "mlp:IN-H1-…-OUT with positive integers"))?;
            let mut tokens = vec!["flat".to_string()];
            for (i, &n) in sizes[1..].iter().enumerate() {
                tokens.push(format!("d{n}"));
                if i + 2 < sizes.len() {
                    tokens.push("relu".into());
                    if options.dropout > 0.0 {
                        tokens.push(format!("do{}", options.dropout));
                    }
                } else {
                    tokens.push("out".into());
                }
            }
            return Ok(format!("#in{}-{}", sizes[0], tokens.join("-")));
        }
        other => other.to_string(),
    })
}

/// Builds a freshly initialised network for inputs of `input_shape` and `n_classes` classes.
///
/// ```
/// use somnet::ann::arch::{build, ArchOptions};
/// let ann = build("lenet", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
/// assert_eq!(ann.shapes().unwrap().last().unwrap(), &vec![10]);
/// assert!(build("c8k3-flat-d5-out", &[1, 28, 28], 10, &ArchOptions::default(), 1).is_err()); // 5 ≠ 10 classes
/// ```
pub fn build(
    spec: &str,
    input_shape: &[usize],
    n_classes: usize,
    options: &ArchOptions,
    seed: u64,
) -> Result<Ann> {
    let expanded = expand(spec, options)?;
    let mut tokens: Vec<&str> = expanded.split('-').collect();
    // Only an `mlp:` expansion carries the input-size marker; a user's own `#in…` is a bad token.
    let marker = tokens
        .first()
        .filter(|_| spec.starts_with("mlp:"))
        .and_then(|t| t.strip_prefix("#in"));
    if let Some(first) = marker {
        let n: usize = first.parse().expect("written by expand");
        let features: usize = input_shape.iter().product();
        if n != features {
            return Err(Error::param(
                format!("arch '{spec}' input size"),
                n,
                format!("the data's {features} values per image ({input_shape:?})"),
            ));
        }
        tokens.remove(0);
    }
    let mut layers = Vec::new();
    let mut shape = input_shape.to_vec();
    // All weights together are bounded, not only each layer's.
    let mut weight_bytes = 0u128;
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for (index, tok) in tokens.iter().enumerate() {
        let bad = || {
            Error::param(format!("arch '{spec}' token {}", index + 1), *tok, "one of cNkK[sS][same|valid], dN, apK[sS], mpK[sS], bn, relu, qcfsL, softmax, linear, out, doR, flat")
        };
        let mut rng = stream(seed, Purpose::Weights, layers.len() as u64, 0, 0);
        let layer = if let Some(rest) = tok.strip_prefix('c').filter(|r| r.contains('k')) {
            let (oc, rest) = rest.split_once('k').ok_or_else(bad)?;
            let (rest, padding) = match rest.strip_suffix("same") {
                Some(r) => (r, Padding::Same),
                None => (rest.strip_suffix("valid").unwrap_or(rest), Padding::Valid),
            };
            let (k, s) = rest.split_once('s').unwrap_or((rest, "1"));
            let (oc, k, s): (usize, usize, usize) = (
                oc.parse().map_err(|_| bad())?,
                k.parse().map_err(|_| bad())?,
                s.parse().map_err(|_| bad())?,
            );
            if oc == 0 || k == 0 || s == 0 || shape.len() != 3 {
                return Err(if shape.len() != 3 {
                    Error::Unsupported(format!(
                        "arch '{spec}': '{tok}' needs an image input, the shape here is {shape:?}"
                    ))
                } else {
                    bad()
                });
            }
            let ic = shape[0];
            weight_bytes += 4 * oc as u128 * (ic as u128 * k as u128 * k as u128 + 1);
            crate::limits::check(
                format!("arch '{spec}'"),
                &format!("the weights up to '{tok}' ({oc}×{ic}×{k}×{k} there) as float32"),
                weight_bytes,
            )?;
            let mut w = Array4::<f32>::zeros((oc, ic, k, k));
            options.init.fill(
                w.as_slice_mut().expect("new array"),
                ic * k * k,
                oc * k * k,
                &mut rng,
            );
            Layer::Conv2d(Conv2d {
                weights: w,
                bias: options.bias.then(|| Array1::zeros(oc)),
                stride: (s, s),
                padding,
            })
        } else if let Some(n) = tok
            .strip_prefix('d')
            .filter(|r| r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty())
        {
            let n: usize = n.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            if shape.len() != 1 {
                return Err(Error::Unsupported(format!("arch '{spec}': '{tok}' needs a flat input, the shape here is {shape:?}: add 'flat' before it")));
            }
            weight_bytes += 4 * n as u128 * (shape[0] as u128 + 1);
            crate::limits::check(
                format!("arch '{spec}'"),
                &format!(
                    "the weights up to '{tok}' ({n}×{} there) as float32",
                    shape[0]
                ),
                weight_bytes,
            )?;
            let mut w = Array2::<f32>::zeros((n, shape[0]));
            options
                .init
                .fill(w.as_slice_mut().expect("new array"), shape[0], n, &mut rng);
            Layer::Dense(Dense {
                weights: w,
                bias: options.bias.then(|| Array1::zeros(n)),
            })
        } else if let Some(rest) = tok.strip_prefix("ap").or_else(|| tok.strip_prefix("mp")) {
            let (k, s) = rest.split_once('s').unwrap_or((rest, ""));
            let k: usize = k.parse().map_err(|_| bad())?;
            let s: usize = if s.is_empty() {
                k
            } else {
                s.parse().map_err(|_| bad())?
            };
            let pool = Pool {
                size: (k, k),
                stride: (s, s),
                padding: Padding::Valid,
            };
            if tok.starts_with("ap") {
                Layer::AvgPool2d(pool)
            } else {
                Layer::MaxPool2d(pool)
            }
        } else if let Some(l) = tok.strip_prefix("qcfs") {
            let levels: u32 = l.parse().ok().filter(|&l| l >= 1).ok_or_else(bad)?;
            Layer::Qcfs(Qcfs::new(levels))
        } else if let Some(r) = tok.strip_prefix("do") {
            let rate: f32 = r.parse().map_err(|_| bad())?;
            Layer::Dropout { rate }
        } else {
            match *tok {
                "bn" => Layer::BatchNorm(BatchNorm::identity(*shape.first().unwrap_or(&0))),
                "relu" => match options.qcfs {
                    Some(levels) => Layer::Qcfs(Qcfs::new(levels)),
                    None => Layer::Activation(Activation::Relu),
                },
                "softmax" => Layer::Activation(Activation::Softmax),
                "linear" => Layer::Activation(Activation::Linear),
                "out" => Layer::Activation(options.output),
                "flat" => Layer::Flatten,
                _ => return Err(bad()),
            }
        };
        let kind = layer.kind();
        let k = counts.entry(kind).or_insert(0);
        *k += 1;
        let name = format!("{kind}_{k}");
        shape = layer
            .output_shape(&name, &shape)
            .map_err(|e| Error::Unsupported(format!("arch '{spec}': {e}")))?;
        layers.push((name, layer));
    }
    let out: usize = shape.iter().product();
    if out != n_classes {
        return Err(Error::param(
            format!("arch '{spec}' outputs"),
            out,
            format!("the data's {n_classes} classes"),
        ));
    }
    Ann::new(input_shape.to_vec(), layers, options.dropout_mode)
}
