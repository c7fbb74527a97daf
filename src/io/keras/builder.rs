//! Keras layers turned into somnet layers, with the shape tracked between them.

use ndarray::{Array1, Array2, Array4};
use serde_json::Value;

use std::collections::HashMap;

use super::config::{str_field, KLayer, Wired, INPUT};
use super::layout::hwc_index_of_chw;
use super::weights::LayerWeights;
use crate::ann::{Activation, BatchNorm, Conv2d, Dense, Layer, Node, Pad, Padding, Pool};
use crate::error::Result;
use crate::io::h5::Ctx;

/// Shape between layers, in Keras' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Flat(usize),
    /// (H, W, C).
    Image(usize, usize, usize),
}

/// What a Keras layer's output is on somnet's side: the node holding it, its shape in Keras'
/// order, and the Flatten permutation still to apply.
#[derive(Debug, Clone, Copy)]
pub(super) struct Output {
    node: Node,
    shape: Shape,
    pending: Option<(usize, usize, usize)>,
}

/// Turns Keras layers into somnet layers, tracking the shape and the pending Flatten permutation
/// along every path of the graph.
pub(super) struct Builder {
    /// Where errors point: the file's `model_config`.
    pub(super) ctx: Ctx,
    pub(super) input: Shape,
    pub(super) shape: Shape,
    /// After a Flatten of an (H, W, C) image: the order of Keras' features, until a Dense takes it.
    pub(super) pending: Option<(usize, usize, usize)>,
    /// The somnet node the layer being built reads.
    current: Node,
    /// Each Keras layer's output, by name (the model input under its name or [`INPUT`]).
    outputs: HashMap<String, Output>,
    pub(super) layers: Vec<(String, Layer, Vec<Node>)>,
}

impl Builder {
    pub(super) fn new(input: Option<Vec<usize>>, layers: &[KLayer], ctx: &Ctx) -> Result<Builder> {
        let dims = input.ok_or_else(|| {
            ctx.err(
                "model_config gives no input shape (no InputLayer, batch_input_shape or \
                 build_input_shape)",
            )
        })?;
        let input = match dims.as_slice() {
            [f] => Shape::Flat(*f),
            // (H, W) images without a channel axis: one channel.
            [h, w] => Shape::Image(*h, *w, 1),
            [h, w, c] => Shape::Image(*h, *w, *c),
            other => {
                let first = layers.first().map_or("input", |l| l.name.as_str());
                return Err(ctx.err(format!(
                    "layer '{first}': input shape {other:?} is not supported (features, \
                     (H, W) or (H, W, C) with known sizes)"
                )));
            }
        };
        if matches!(
            input,
            Shape::Flat(0) | Shape::Image(0, _, _) | Shape::Image(_, 0, _)
        ) || matches!(input, Shape::Image(_, _, 0))
        {
            return Err(ctx.err(format!("input shape {dims:?} has an empty axis")));
        }
        let start = Output {
            node: Node::Input,
            shape: input,
            pending: None,
        };
        Ok(Builder {
            ctx: ctx.child("model_config"),
            input,
            shape: input,
            pending: None,
            current: Node::Input,
            outputs: HashMap::from([(INPUT.to_string(), start)]),
            layers: Vec::new(),
        })
    }

    pub(super) fn somnet_input_shape(&self) -> Vec<usize> {
        match self.input {
            Shape::Flat(f) => vec![f],
            Shape::Image(h, w, c) => vec![c, h, w],
        }
    }

    pub(super) fn push(&mut self, name: &str, layer: Layer) {
        let inputs = vec![self.current];
        self.push_reading(name, layer, inputs);
    }

    /// Adds `layer` reading `inputs`; it becomes what the next layer reads.
    fn push_reading(&mut self, name: &str, layer: Layer, inputs: Vec<Node>) {
        let mut unique = name.to_string();
        let mut k = 1;
        while self.layers.iter().any(|(n, _, _)| *n == unique) {
            unique = format!("{name}_{k}");
            k += 1;
        }
        self.layers.push((unique, layer, inputs));
        self.current = Node::Layer(self.layers.len() - 1);
    }

    /// The node of the model's output (the last Keras layer's).
    pub(super) fn output_node(&self, name: &str) -> Option<Node> {
        self.outputs.get(name).map(|o| o.node)
    }

    /// The activation a Dense/Conv2D/Activation layer's config names.
    pub(super) fn activation(&mut self, kl: &KLayer, ctx: &Ctx, fused: bool) -> Result<()> {
        let name = match kl.get("activation") {
            None => "linear".to_string(),
            Some(Value::String(s)) => s.clone(),
            // Keras 3 may serialise a built-in activation as an object naming it.
            Some(v) => v
                .get("config")
                .and_then(|c| c.as_str().or_else(|| str_field(c, "name")))
                .or_else(|| str_field(v, "class_name"))
                .unwrap_or("?")
                .to_string(),
        };
        let act = match name.as_str() {
            "linear" | "None" => return Ok(()),
            "relu" => Activation::Relu,
            "softmax" => {
                if matches!(self.shape, Shape::Image(..)) {
                    return Err(kl.err(ctx, "softmax over an image is not supported"));
                }
                Activation::Softmax
            }
            other => {
                return Err(kl.err(
                    ctx,
                    format!("activation '{other}' is not supported (relu, softmax, linear)"),
                ))
            }
        };
        let layer_name = if fused {
            format!("{}_{}", kl.name, name)
        } else {
            kl.name.clone()
        };
        self.push(&layer_name, Layer::Activation(act));
        Ok(())
    }

    pub(super) fn channels_last(&self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        match kl.string("data_format") {
            None | Some("channels_last") => Ok(()),
            Some(other) => Err(kl.err(
                ctx,
                format!("data_format '{other}' is not supported (channels_last only)"),
            )),
        }
    }

    pub(super) fn padding(kl: &KLayer, ctx: &Ctx) -> Result<Padding> {
        match kl.string("padding").unwrap_or("valid") {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(kl.err(
                ctx,
                format!("padding '{other}' is not supported (valid, same)"),
            )),
        }
    }

    pub(super) fn image(&self, kl: &KLayer, ctx: &Ctx) -> Result<(usize, usize, usize)> {
        match self.shape {
            Shape::Image(h, w, c) => Ok((h, w, c)),
            Shape::Flat(f) => Err(kl.err(
                ctx,
                format!("expects an image (H, W, C) input, found {f} features"),
            )),
        }
    }

    /// Adds the somnet layers of one Keras layer, reading what its inputs produced.
    pub(super) fn add(&mut self, wired: &Wired, mut vars: LayerWeights) -> Result<()> {
        let kl = &wired.layer;
        let ctx = &self.ctx.clone();
        let reads = wired
            .reads
            .iter()
            .map(|r| {
                self.outputs
                    .get(r)
                    .copied()
                    .ok_or_else(|| kl.err(ctx, format!("it reads '{r}', which has not been built")))
            })
            .collect::<Result<Vec<_>>>()?;
        match (kl.class.as_str(), reads.as_slice()) {
            ("InputLayer", []) => {
                let start = self.outputs[INPUT];
                self.outputs.insert(kl.name.clone(), start);
                return vars.none_left(kl, ctx);
            }
            ("Add" | "Concatenate", _) => self.merge(kl, ctx, &reads)?,
            (_, [one]) => {
                self.current = one.node;
                self.shape = one.shape;
                self.pending = one.pending;
                self.single(kl, ctx, &mut vars)?;
            }
            (_, many) => {
                return Err(kl.err(
                    ctx,
                    format!(
                        "the layer reads {} inputs ({}); only Add and Concatenate join several",
                        many.len(),
                        wired.reads.join(", ")
                    ),
                ))
            }
        }
        self.outputs.insert(
            kl.name.clone(),
            Output {
                node: self.current,
                shape: self.shape,
                pending: self.pending,
            },
        );
        vars.none_left(kl, ctx)
    }

    /// Add (same shapes) or Concatenate (along the channel axis, Keras' last) of `reads`.
    fn merge(&mut self, kl: &KLayer, ctx: &Ctx, reads: &[Output]) -> Result<()> {
        if reads.len() < 2 {
            return Err(kl.err(
                ctx,
                format!("it joins {} input(s), expected two or more", reads.len()),
            ));
        }
        let first = reads[0];
        if let Some(other) = reads.iter().find(|r| r.pending != first.pending) {
            return Err(kl.err(ctx, format!("it joins flattened images of different layouts ({:?} and {:?}): their features are ordered differently in somnet", first.pending, other.pending)));
        }
        let nodes = reads.iter().map(|r| r.node).collect();
        if kl.class == "Add" {
            if let Some(other) = reads.iter().find(|r| r.shape != first.shape) {
                return Err(kl.err(
                    ctx,
                    format!(
                        "its inputs have shapes {:?} and {:?}; Add needs one shape",
                        first.shape, other.shape
                    ),
                ));
            }
            self.push_reading(&kl.name, Layer::Add, nodes);
            self.shape = first.shape;
            self.pending = first.pending;
            return Ok(());
        }
        let axis = kl.get("axis").and_then(Value::as_i64).unwrap_or(-1);
        let shape = match first.shape {
            Shape::Flat(_) if first.pending.is_some() => {
                return Err(kl.err(ctx, "concatenating flattened images is not supported (their features are in H, W, C order in Keras and C, H, W order in somnet): concatenate the images before the Flatten"))
            }
            Shape::Flat(_) if axis == -1 || axis == 1 => {
                let mut total = 0;
                for r in reads {
                    match r.shape {
                        Shape::Flat(f) => total += f,
                        other => return Err(kl.err(ctx, format!("it joins features and an image {other:?}"))),
                    }
                }
                Shape::Flat(total)
            }
            Shape::Image(h, w, _) if axis == -1 || axis == 3 => {
                let mut total = 0;
                for r in reads {
                    match r.shape {
                        Shape::Image(rh, rw, c) if (rh, rw) == (h, w) => total += c,
                        other => return Err(kl.err(ctx, format!("its inputs {:?} and {other:?} differ in more than the channel axis", first.shape))),
                    }
                }
                Shape::Image(h, w, total)
            }
            other => {
                return Err(kl.err(ctx, format!("axis {axis} on inputs of shape {other:?} is not supported: concatenation along the channel (last) axis only")))
            }
        };
        self.push_reading(&kl.name, Layer::Concatenate, nodes);
        self.shape = shape;
        self.pending = None;
        Ok(())
    }

    /// A layer with one input.
    fn single(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        match kl.class.as_str() {
            "Dense" => self.dense(kl, ctx, vars)?,
            "Conv2D" | "Convolution2D" => self.conv(kl, ctx, vars)?,
            "AveragePooling2D" | "AvgPool2D" | "MaxPooling2D" | "MaxPool2D" => {
                self.pool(kl, ctx)?
            }
            "Flatten" => {
                self.channels_last(kl, ctx)?;
                if let Shape::Image(h, w, c) = self.shape {
                    self.pending = Some((h, w, c));
                    self.shape = Shape::Flat(h * w * c);
                    self.push(&kl.name, Layer::Flatten);
                }
            }
            "BatchNormalization" => self.batch_norm(kl, ctx, vars)?,
            "Activation" => self.activation(kl, ctx, false)?,
            "ReLU" => {
                let plain = kl.get("max_value").is_none()
                    && kl.number(ctx, "negative_slope", 0.0)? == 0.0
                    && kl.number(ctx, "threshold", 0.0)? == 0.0;
                if !plain {
                    return Err(kl.err(
                        ctx,
                        "ReLU with max_value, negative_slope or threshold is not supported",
                    ));
                }
                self.push(&kl.name, Layer::Activation(Activation::Relu));
            }
            // Bu et al.'s activation as a custom layer (README: `levels` in its config, a
            // trainable scalar `lambda`).
            "QCFS" => {
                let levels = kl
                    .get("levels")
                    .and_then(serde_json::Value::as_u64)
                    .filter(|l| (1..=1 << 16).contains(l))
                    .ok_or_else(|| {
                        kl.err(
                            ctx,
                            format!(
                                "'levels' is {}, expected a whole number of quantisation levels \
                                 in 1..=65536",
                                kl.get("levels").map_or("missing".into(), |v| v.to_string())
                            ),
                        )
                    })? as u32;
                let lambda = match vars.vars.get("lambda").map(|(a, _)| a.len()) {
                    Some(1) => vars.vars.remove("lambda").expect("present").0,
                    _ => vars.take(kl, ctx, "lambda", &[])?,
                };
                let lambda = lambda.iter().next().copied().unwrap_or(f32::NAN);
                if !(lambda > 0.0 && lambda.is_finite()) {
                    return Err(kl.err(
                        ctx,
                        format!("weight 'lambda' is {lambda}, expected a positive threshold"),
                    ));
                }
                self.push(
                    &kl.name,
                    Layer::Qcfs(crate::ann::qcfs::Qcfs { levels, lambda }),
                );
            }
            "Softmax" => {
                if matches!(self.shape, Shape::Image(..)) {
                    return Err(kl.err(ctx, "softmax over an image is not supported"));
                }
                self.push(&kl.name, Layer::Activation(Activation::Softmax));
            }
            "Dropout" => {
                let rate = kl.number(ctx, "rate", 0.0)?;
                if !(0.0..1.0).contains(&rate) {
                    return Err(kl.err(ctx, format!("rate {rate} is outside [0, 1)")));
                }
                self.push(&kl.name, Layer::Dropout { rate: rate as f32 });
            }
            "GlobalAveragePooling2D" | "GlobalAvgPool2D" => {
                self.channels_last(kl, ctx)?;
                let (_, _, c) = self.image(kl, ctx)?;
                if kl.flag("keepdims", false) {
                    return Err(kl.err(ctx, "keepdims = True is not supported (the pooled features stay a (1, 1, C) image); pool without it"));
                }
                self.push(&kl.name, Layer::GlobalAvgPool2d);
                self.shape = Shape::Flat(c);
            }
            "ZeroPadding2D" => {
                self.channels_last(kl, ctx)?;
                let (h, w, c) = self.image(kl, ctx)?;
                let pad = zero_padding(kl, ctx)?;
                self.push(&kl.name, Layer::ZeroPad2d(pad));
                self.shape = Shape::Image(pad.top + h + pad.bottom, pad.left + w + pad.right, c);
            }
            "InputLayer" => return Err(kl.err(ctx, "an InputLayer inside the model")),
            other => {
                return Err(kl.err(
                    ctx,
                    format!(
                        "layer class '{other}' is not supported (Dense, Conv2D, \
                         AveragePooling2D, MaxPooling2D, GlobalAveragePooling2D, ZeroPadding2D, \
                         Flatten, BatchNormalization, Activation, ReLU, QCFS, Softmax, Dropout, \
                         Add, Concatenate, InputLayer, and Sequential or Functional models used \
                         as layers)"
                    ),
                ))
            }
        }
        Ok(())
    }

    pub(super) fn dense(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        let n_in = match self.shape {
            Shape::Flat(f) => f,
            Shape::Image(h, w, c) => {
                return Err(kl.err(
                    ctx,
                    format!(
                        "Dense on an image input ({h}, {w}, {c}) is not supported: add a Flatten"
                    ),
                ))
            }
        };
        let units = kl
            .get("units")
            .and_then(Value::as_u64)
            .filter(|&u| u >= 1)
            .ok_or_else(|| kl.err(ctx, "'units' must be a positive integer"))?
            as usize;
        let kernel = vars.take(kl, ctx, "kernel", &[n_in, units])?;
        let mut weights = Array2::<f32>::zeros((units, n_in));
        let order = self.pending.take().map(hwc_index_of_chw);
        for (j, row) in weights.outer_iter_mut().enumerate() {
            for (f, w) in row.into_iter().enumerate() {
                let src = order.as_ref().map_or(f, |o| o[f]);
                *w = kernel[[src, j]];
            }
        }
        let bias = if kl.flag("use_bias", true) {
            Some(vars.take_vec(kl, ctx, "bias", units)?)
        } else {
            None
        };
        self.push(&kl.name, Layer::Dense(Dense { weights, bias }));
        self.shape = Shape::Flat(units);
        self.activation(kl, ctx, true)
    }

    pub(super) fn conv(&mut self, kl: &KLayer, ctx: &Ctx, vars: &mut LayerWeights) -> Result<()> {
        self.channels_last(kl, ctx)?;
        let (h, w, c) = self.image(kl, ctx)?;
        if let Some(d) = kl.usize_pair(ctx, "dilation_rate")? {
            if d != (1, 1) {
                return Err(kl.err(
                    ctx,
                    format!("dilation_rate {d:?} is not supported (1, 1 only)"),
                ));
            }
        }
        let groups = kl.number(ctx, "groups", 1.0)?;
        if groups != 1.0 {
            return Err(kl.err(
                ctx,
                format!("groups = {groups} is not supported (grouped convolution; 1 only)"),
            ));
        }
        let filters = kl
            .get("filters")
            .and_then(Value::as_u64)
            .filter(|&u| u >= 1)
            .ok_or_else(|| kl.err(ctx, "'filters' must be a positive integer"))?
            as usize;
        let (kh, kw) = kl
            .usize_pair(ctx, "kernel_size")?
            .ok_or_else(|| kl.err(ctx, "missing 'kernel_size'"))?;
        let stride = kl.usize_pair(ctx, "strides")?.unwrap_or((1, 1));
        let padding = Self::padding(kl, ctx)?;
        let kernel = vars.take(kl, ctx, "kernel", &[kh, kw, c, filters])?;
        // (kh, kw, in, out) → (out, in, kh, kw): one strided copy (indexing a dynamic-rank array
        // per element costs seconds on the largest kernels).
        let weights: Array4<f32> = kernel
            .into_dimensionality::<ndarray::Ix4>()
            .expect("shape checked by take")
            .permuted_axes([3, 2, 0, 1])
            .as_standard_layout()
            .into_owned();
        let bias = if kl.flag("use_bias", true) {
            Some(vars.take_vec(kl, ctx, "bias", filters)?)
        } else {
            None
        };
        let out = crate::ann::layer::padded_extent(h, kh, stride.0, padding)
            .zip(crate::ann::layer::padded_extent(w, kw, stride.1, padding))
            .ok_or_else(|| {
                kl.err(
                    ctx,
                    format!("a {kh}×{kw} kernel does not fit the {h}×{w} input"),
                )
            })?;
        self.push(
            &kl.name,
            Layer::Conv2d(Conv2d {
                weights,
                bias,
                stride,
                padding,
            }),
        );
        self.shape = Shape::Image(out.0 .0, out.1 .0, filters);
        self.activation(kl, ctx, true)
    }

    pub(super) fn pool(&mut self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        self.channels_last(kl, ctx)?;
        let (h, w, c) = self.image(kl, ctx)?;
        let size = kl.usize_pair(ctx, "pool_size")?.unwrap_or((2, 2));
        let stride = kl.usize_pair(ctx, "strides")?.unwrap_or(size);
        let padding = Self::padding(kl, ctx)?;
        let out = crate::ann::layer::padded_extent(h, size.0, stride.0, padding)
            .zip(crate::ann::layer::padded_extent(
                w, size.1, stride.1, padding,
            ))
            .ok_or_else(|| {
                kl.err(
                    ctx,
                    format!(
                        "a {}×{} window does not fit the {h}×{w} input",
                        size.0, size.1
                    ),
                )
            })?;
        let pool = Pool {
            size,
            stride,
            padding,
        };
        let layer = if kl.class.starts_with("Max") {
            Layer::MaxPool2d(pool)
        } else {
            Layer::AvgPool2d(pool)
        };
        self.push(&kl.name, layer);
        self.shape = Shape::Image(out.0 .0, out.1 .0, c);
        Ok(())
    }

    pub(super) fn batch_norm(
        &mut self,
        kl: &KLayer,
        ctx: &Ctx,
        vars: &mut LayerWeights,
    ) -> Result<()> {
        let (n, last_axis) = match self.shape {
            Shape::Flat(f) => (f, 1i64),
            Shape::Image(_, _, c) => (c, 3i64),
        };
        let axes: Vec<i64> = match kl.get("axis") {
            None => vec![-1],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(v) => v.as_i64().into_iter().collect(),
        };
        if axes.len() != 1 || !(axes[0] == -1 || axes[0] == last_axis) {
            return Err(kl.err(
                ctx,
                format!(
                    "axis {axes:?} is not supported: batch normalisation over the channel \
                     (last) axis only"
                ),
            ));
        }
        let mut gamma = if kl.flag("scale", true) {
            vars.take_vec(kl, ctx, "gamma", n)?
        } else {
            Array1::ones(n)
        };
        let mut beta = if kl.flag("center", true) {
            vars.take_vec(kl, ctx, "beta", n)?
        } else {
            Array1::zeros(n)
        };
        let mut mean = vars.take_vec(kl, ctx, "moving_mean", n)?;
        let mut var = vars.take_vec(kl, ctx, "moving_variance", n)?;
        if let Some(dims) = self.pending {
            // Features still in Keras' H, W, C order: put them in C, H, W order.
            let order = hwc_index_of_chw(dims);
            for v in [&mut gamma, &mut beta, &mut mean, &mut var] {
                *v = order.iter().map(|&i| v[i]).collect();
            }
        }
        let eps = kl.number(ctx, "epsilon", 1e-3)? as f32;
        let momentum = kl.number(ctx, "momentum", 0.99)? as f32;
        if eps <= 0.0 || !eps.is_finite() {
            return Err(kl.err(ctx, format!("epsilon {eps} must be positive")));
        }
        self.push(
            &kl.name,
            Layer::BatchNorm(BatchNorm {
                gamma,
                beta,
                mean,
                var,
                eps,
                momentum,
            }),
        );
        Ok(())
    }

    pub(super) fn finish(&mut self) -> Vec<(String, Layer, Vec<Node>)> {
        std::mem::take(&mut self.layers)
    }
}

/// ZeroPadding2D's `padding`: one number (all sides), two (rows, columns) or ((top, bottom),
/// (left, right)).
fn zero_padding(kl: &KLayer, ctx: &Ctx) -> Result<Pad> {
    let v = kl.get("padding").cloned().unwrap_or(Value::from(1));
    // 10⁶ bounds a padded map before the allocation check sees it.
    let n = |v: &Value| v.as_u64().filter(|&x| x <= 1_000_000).map(|x| x as usize);
    let pair = |v: &Value| -> Option<(usize, usize)> {
        match v {
            Value::Array(a) if a.len() == 2 => n(&a[0]).zip(n(&a[1])),
            other => n(other).map(|x| (x, x)),
        }
    };
    let sides = match &v {
        Value::Array(a) if a.len() == 2 => pair(&a[0]).zip(pair(&a[1])),
        other => n(other).map(|x| ((x, x), (x, x))),
    };
    let ((top, bottom), (left, right)) = sides.ok_or_else(|| {
        kl.err(ctx, format!("'padding' is {v}, expected an integer, (rows, columns) or ((top, bottom), (left, right)) of integers in 0…10⁶"))
    })?;
    Ok(Pad {
        top,
        bottom,
        left,
        right,
    })
}
