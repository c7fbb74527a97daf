//! Architecture specs: named networks and a compact layer grammar.
//!
//! A spec is a list of tokens joined by `-`:
//!
//! | token | layer |
//! |---|---|
//! | `c16k5`, `c32k3s2same` | Conv2d: 16 filters 5×5 (stride 1, valid), 32 filters 3×3 stride 2 'same' |
//! | `d128`, `dcls` | Dense with 128 outputs, with one output per class of the data |
//! | `rb16`, `rb32s2` | a residual basic block (He et al., CVPR 2016): conv 3×3 (stride s) – bn – relu – conv 3×3 – bn, plus the block's input (identity) or, where the shape changes, a 1×1 stride-s conv – bn (He et al.'s option B); Add; relu |
//! | `gap` | global average pooling |
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
//! - `resnetN` for N = 6n + 2 (`resnet8`, `resnet14`, `resnet20`, `resnet32`, …): the CIFAR
//!   ResNets of He et al. (CVPR 2016, Sec. 4.2): a 3×3 stem of 16 channels, then n basic blocks
//!   at 16, 32 and 64 channels (the first of the last two stages strided 2, with a projection
//!   shortcut), global average pooling and a dense classifier. `resnet-small` is `resnet8`; all
//!   take 28×28 as well as 32×32 inputs.
//! - `vgg-small`: `c32k3same-bn-relu-c32k3same-bn-relu-ap2-c64k3same-bn-relu-c64k3same-bn-relu-ap2-c128k3same-bn-relu-gap-dcls-out`,
//!   a VGG-style network with global average pooling and average pooling between stages (which
//!   converts exactly, unlike max pooling).

use ndarray::{Array1, Array2, Array4};

use super::init::Init;
use super::layer::{Activation, BatchNorm, Conv2d, Dense, Layer, Padding, Pool};
use super::qcfs::Qcfs;
use super::{Ann, DropoutMode, Node};
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
        "vgg-small" => {
            "c32k3same-bn-relu-c32k3same-bn-relu-ap2-c64k3same-bn-relu-c64k3same-bn-relu-\
                        ap2-c128k3same-bn-relu-gap-dcls-out"
                .to_string()
        }
        "resnet-small" => expand("resnet8", options)?,
        s if s
            .strip_prefix("resnet")
            .is_some_and(|n| n.parse::<usize>().is_ok()) =>
        {
            let depth: usize = s[6..].parse().expect("checked");
            if depth < 8 || !(depth - 2).is_multiple_of(6) {
                return Err(Error::param(
                    "arch",
                    s,
                    "resnetN with N = 6n + 2, n ≥ 1 (resnet8, resnet14, resnet20, resnet32, …)",
                ));
            }
            let n = (depth - 2) / 6;
            let mut tokens = vec!["c16k3same".to_string(), "bn".into(), "relu".into()];
            for (stage, width) in [16, 32, 64].into_iter().enumerate() {
                for block in 0..n {
                    let stride = if stage > 0 && block == 0 { "s2" } else { "" };
                    tokens.push(format!("rb{width}{stride}"));
                }
            }
            tokens.extend(["gap", "dcls", "out"].map(String::from));
            tokens.join("-")
        }
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
    let mut layers: Vec<(String, Layer, Vec<Node>)> = Vec::new();
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
            .filter(|r| *r == "cls" || (r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty()))
        {
            let n: usize = if n == "cls" {
                n_classes
            } else {
                n.parse().map_err(|_| bad())?
            };
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
        } else if let Some(rest) = tok.strip_prefix("rb") {
            let (c, st) = rest.split_once('s').unwrap_or((rest, "1"));
            let (c, st): (usize, usize) = (
                c.parse().ok().filter(|&c| c > 0).ok_or_else(bad)?,
                st.parse().ok().filter(|&s| s > 0).ok_or_else(bad)?,
            );
            if shape.len() != 3 {
                return Err(Error::Unsupported(format!(
                    "arch '{spec}': '{tok}' needs an image input, the shape here is {shape:?}"
                )));
            }
            let ic = shape[0] as u128;
            weight_bytes += 4 * (9 * c as u128 * (ic + c as u128) + c as u128 * ic);
            crate::limits::check(
                format!("arch '{spec}'"),
                &format!("the weights up to '{tok}' as float32"),
                weight_bytes,
            )?;
            shape = residual_block(&mut layers, &shape, c, st, options, seed, &mut counts)
                .map_err(|e| Error::Unsupported(format!("arch '{spec}': '{tok}': {e}")))?;
            continue;
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
                "gap" => Layer::GlobalAvgPool2d,
                _ => return Err(bad()),
            }
        };
        let input = last(&layers);
        shape = push(&mut layers, &mut counts, layer, vec![input], &[shape])
            .map_err(|e| Error::Unsupported(format!("arch '{spec}': {e}")))?;
    }
    let out: usize = shape.iter().product();
    if out != n_classes {
        return Err(Error::param(
            format!("arch '{spec}' outputs"),
            out,
            format!("the data's {n_classes} classes"),
        ));
    }
    Ann::graph(input_shape.to_vec(), layers, options.dropout_mode)
}

/// The node a new layer of a chain reads: the last layer, or the input.
fn last(layers: &[(String, Layer, Vec<Node>)]) -> Node {
    match layers.len() {
        0 => Node::Input,
        n => Node::Layer(n - 1),
    }
}

/// Appends `layer` reading `inputs` (of shapes `shapes`), named `<kind>_<k>`; its output shape.
fn push(
    layers: &mut Vec<(String, Layer, Vec<Node>)>,
    counts: &mut std::collections::HashMap<&'static str, usize>,
    layer: Layer,
    inputs: Vec<Node>,
    shapes: &[Vec<usize>],
) -> Result<Vec<usize>> {
    let kind = layer.kind();
    let k = counts.entry(kind).or_insert(0);
    *k += 1;
    let name = format!("{kind}_{k}");
    let ins: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
    let shape = layer.merged_shape(&name, &ins)?;
    layers.push((name, layer, inputs));
    Ok(shape)
}

/// Appends a residual basic block of `channels` channels and first stride `stride` reading the
/// last layer (of shape `shape`): conv 3×3 – bn – relu – conv 3×3 – bn, plus the input itself or,
/// where the shape changes, a 1×1 strided conv – bn; Add; relu (He et al., CVPR 2016, Fig. 2 and
/// option B). Returns the block's output shape.
fn residual_block(
    layers: &mut Vec<(String, Layer, Vec<Node>)>,
    shape: &[usize],
    channels: usize,
    stride: usize,
    options: &ArchOptions,
    seed: u64,
    counts: &mut std::collections::HashMap<&'static str, usize>,
) -> Result<Vec<usize>> {
    let input = last(layers);
    let conv = |layers: &[(String, Layer, Vec<Node>)], ic: usize, k: usize, s: usize| {
        let mut rng = stream(seed, Purpose::Weights, layers.len() as u64, 0, 0);
        let mut w = Array4::<f32>::zeros((channels, ic, k, k));
        options.init.fill(
            w.as_slice_mut().expect("new array"),
            ic * k * k,
            channels * k * k,
            &mut rng,
        );
        Layer::Conv2d(Conv2d {
            weights: w,
            bias: options.bias.then(|| Array1::zeros(channels)),
            stride: (s, s),
            padding: Padding::Same,
        })
    };
    let relu = || match options.qcfs {
        Some(levels) => Layer::Qcfs(Qcfs::new(levels)),
        None => Layer::Activation(Activation::Relu),
    };
    let bn = || Layer::BatchNorm(BatchNorm::identity(channels));
    // The residual path.
    let c1 = conv(layers, shape[0], 3, stride);
    let mut s = push(layers, counts, c1, vec![input], &[shape.to_vec()])?;
    for layer in [bn(), relu()] {
        let at = last(layers);
        s = push(layers, counts, layer, vec![at], &[s])?;
    }
    let c2 = conv(layers, channels, 3, 1);
    let at = last(layers);
    s = push(layers, counts, c2, vec![at], &[s])?;
    let at = last(layers);
    s = push(layers, counts, bn(), vec![at], &[s])?;
    let residual = last(layers);
    // The shortcut: the input, or a projection where the shape changes.
    let shortcut = if stride == 1 && shape[0] == channels {
        input
    } else {
        let p = conv(layers, shape[0], 1, stride);
        let ps = push(layers, counts, p, vec![input], &[shape.to_vec()])?;
        let at = last(layers);
        push(layers, counts, bn(), vec![at], &[ps])?;
        last(layers)
    };
    let sum = push(
        layers,
        counts,
        Layer::Add,
        vec![residual, shortcut],
        &[s.clone(), s],
    )?;
    let at = last(layers);
    push(layers, counts, relu(), vec![at], &[sum])
}
