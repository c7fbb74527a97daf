//! The framework-neutral ANN: layers, a batched parallel forward pass, counts, and training.
//!
//! An [`Ann`] is an input shape and a list of named [`Layer`]s. Batches are (N, features) matrices
//! in NCHW order. The forward pass is parallel inside every layer (matrix products split in fixed
//! blocks, per-sample loops over samples) and gives bit-identical results on any thread count.
//!
//! ```
//! use ndarray::array;
//! use somnet::ann::{Ann, Dense, DropoutMode, Layer, Activation};
//! let dense = Dense { weights: array![[1.0f32, -1.0], [0.5, 0.5]], bias: Some(array![0.0, 1.0]) };
//! let ann = Ann::new(vec![2], vec![("fc".into(), Layer::Dense(dense)), ("relu".into(), Layer::Activation(Activation::Relu))], DropoutMode::Inverted).unwrap();
//! let y = ann.forward(array![[1.0f32, 3.0]].view()).unwrap();
//! assert_eq!(y, array![[0.0, 3.0]]);
//! ```

pub mod arch;
pub mod conv;
pub mod gemm;
pub mod init;
pub mod layer;
pub mod pool;
pub mod train;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

pub use layer::{Activation, BatchNorm, Conv2d, Dense, Layer, Padding, Pool};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// What dropout does at test time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropoutMode {
    /// Training scales kept units by 1/(1 − p); inference is the identity (Keras, PyTorch).
    #[default]
    Inverted,
    /// Training keeps units unscaled; inference multiplies by (1 − p) (the sleep-replay code,
    /// Srivastava et al. 2014).
    ScaleAtTest,
}

/// A feed-forward network.
#[derive(Debug, Clone, PartialEq)]
pub struct Ann {
    /// Per-sample input shape, `[C, H, W]` or `[F]`.
    pub input_shape: Vec<usize>,
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// Layer names (unique), for files and messages.
    pub names: Vec<String>,
    /// Test-time convention of the dropout layers.
    pub dropout_mode: DropoutMode,
}

/// One row of [`Ann::summary`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerSummary {
    /// Layer name.
    pub name: String,
    /// Layer kind.
    pub kind: &'static str,
    /// Per-sample output shape.
    pub output_shape: Vec<usize>,
    /// Parameters.
    pub params: usize,
    /// Multiply-accumulates per sample.
    pub macs: u64,
}

/// Samples per chunk when a data set is run through the network.
const EVAL_CHUNK: usize = 1000;

impl Ann {
    /// A network; checks that the shapes chain, the names are unique and every number is finite.
    pub fn new(
        input_shape: Vec<usize>,
        layers: Vec<(String, Layer)>,
        dropout_mode: DropoutMode,
    ) -> Result<Ann> {
        let (names, layers): (Vec<String>, Vec<Layer>) = layers.into_iter().unzip();
        let ann = Ann {
            input_shape,
            layers,
            names,
            dropout_mode,
        };
        ann.validate()?;
        Ok(ann)
    }

    /// Checks shapes, names and values.
    pub fn validate(&self) -> Result<()> {
        if self.input_shape.is_empty()
            || self.input_shape.contains(&0)
            || !(self.input_shape.len() == 1 || self.input_shape.len() == 3)
        {
            return Err(Error::param(
                "input_shape",
                format!("{:?}", self.input_shape),
                "[F] or [C, H, W] with positive sizes",
            ));
        }
        if self.names.len() != self.layers.len() {
            return Err(Error::SizeMismatch {
                what: "layer names".into(),
                expected: self.layers.len(),
                got: self.names.len(),
            });
        }
        for (i, name) in self.names.iter().enumerate() {
            if self.names[..i].contains(name) {
                return Err(Error::Unsupported(format!("two layers are named '{name}'")));
            }
        }
        for (layer, name) in self.layers.iter().zip(&self.names) {
            layer.check_finite(name)?;
        }
        // Every activation of one sample must be countable and within the allocation limit
        // before a shape from a file sizes a buffer.
        let per_sample = |what: &str, shape: &[usize]| {
            let n = shape
                .iter()
                .try_fold(1u128, |a, &d| a.checked_mul(d as u128))
                .unwrap_or(u128::MAX);
            crate::limits::check(
                "network",
                &format!("{what} of shape {shape:?} (one sample, float32)"),
                n.saturating_mul(4),
            )
        };
        per_sample("the input", &self.input_shape)?;
        for (shape, name) in self.shapes()?.iter().zip(&self.names) {
            per_sample(&format!("the output of layer '{name}'"), shape)?;
        }
        Ok(())
    }

    /// Per-sample output shape after every layer.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        let mut shape = self.input_shape.clone();
        let mut out = Vec::with_capacity(self.layers.len());
        for (layer, name) in self.layers.iter().zip(&self.names) {
            shape = layer.output_shape(name, &shape)?;
            out.push(shape.clone());
        }
        Ok(out)
    }

    /// Values per input sample.
    pub fn input_features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Values per output sample.
    pub fn output_features(&self) -> usize {
        self.shapes()
            .ok()
            .and_then(|s| s.last().map(|l| l.iter().product()))
            .unwrap_or_else(|| self.input_features())
    }

    /// One row per layer: name, kind, output shape, parameters, MACs.
    pub fn summary(&self) -> Vec<LayerSummary> {
        let shapes = self.shapes().expect("validated at construction");
        self.layers
            .iter()
            .zip(&self.names)
            .zip(shapes)
            .map(|((l, n), s)| LayerSummary {
                name: n.clone(),
                kind: l.kind(),
                macs: l.macs(&s),
                params: l.n_params(),
                output_shape: s,
            })
            .collect()
    }

    /// Total parameters.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Layer::n_params).sum()
    }

    /// Total multiply-accumulates per sample.
    pub fn macs(&self) -> u64 {
        self.summary().iter().map(|s| s.macs).sum()
    }

    /// The inference output for a batch (N, input features).
    pub fn forward(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let mut out = None;
        self.forward_each(x, |_, y| out = Some(y.clone()))?;
        Ok(out.unwrap_or_else(|| x.to_owned()))
    }

    /// The inference output of every layer, in order (for data-based normalization).
    pub fn forward_all(&self, x: ArrayView2<'_, f32>) -> Result<Vec<Array2<f32>>> {
        let mut all = Vec::with_capacity(self.layers.len());
        self.forward_each(x, |_, y| all.push(y.clone()))?;
        Ok(all)
    }

    /// Runs the batch through the layers, calling `visit(layer index, output)` after each.
    pub fn forward_each(
        &self,
        x: ArrayView2<'_, f32>,
        mut visit: impl FnMut(usize, &Array2<f32>),
    ) -> Result<()> {
        if x.ncols() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!("input of the network (shape {:?})", self.input_shape),
                expected: self.input_features(),
                got: x.ncols(),
            });
        }
        let mut shape = self.input_shape.clone();
        let mut cur = x.as_standard_layout().into_owned();
        for (i, (layer, name)) in self.layers.iter().zip(&self.names).enumerate() {
            let out_shape = layer.output_shape(name, &shape)?;
            cur = infer_layer(layer, cur, &shape, self.dropout_mode);
            visit(i, &cur);
            shape = out_shape;
        }
        Ok(())
    }

    /// Checks that `data` is non-empty and its images fit the input; `role` names the data in
    /// errors (e.g. "calibration set").
    pub fn check_data(&self, data: &Dataset, role: &str) -> Result<()> {
        if data.is_empty() {
            return Err(Error::Unsupported(format!(
                "{role} '{}' is empty",
                data.name
            )));
        }
        if data.features() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{role} '{}' for a network with input {:?}",
                    data.name, self.input_shape
                ),
                expected: self.input_features(),
                got: data.features(),
            });
        }
        Ok(())
    }

    /// Class predictions (argmax, ties to the lowest index) for a data set, in chunks.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(data.len());
        for start in (0..data.len()).step_by(EVAL_CHUNK) {
            let end = (start + EVAL_CHUNK).min(data.len());
            let x = data.as_matrix().slice_move(ndarray::s![start..end, ..]);
            let y = self.forward(x)?;
            out.extend(
                y.rows()
                    .into_iter()
                    .map(|r| argmax(r.as_slice().expect("standard layout"))),
            );
        }
        Ok(out)
    }

    /// The accuracy on `data` overall and per class (class c: the fraction of c's images
    /// predicted as c; 0 for a class without images).
    ///
    /// ```
    /// let ann = somnet::ann::arch::build("mlp:4-3", &[1, 2, 2], 3, &Default::default(), 1).unwrap();
    /// let data = somnet::data::Dataset::new("d", vec![0.5; 8], vec![0, 2], [1, 2, 2],
    ///     vec!["a".into(), "b".into(), "c".into()]).unwrap();
    /// let (all, per_class) = ann.accuracy_per_class(&data).unwrap();
    /// assert_eq!(per_class.len(), 3);
    /// assert_eq!(per_class[1], 0.0); // no image of class 1
    /// assert_eq!(all, (per_class[0] + per_class[2]) / 2.0);
    /// ```
    pub fn accuracy_per_class(&self, data: &Dataset) -> Result<(f64, Vec<f64>)> {
        let pred = self.predict(data)?;
        let n = data.n_classes();
        let (mut hits, mut counts) = (vec![0usize; n], vec![0usize; n]);
        for (&p, &l) in pred.iter().zip(&data.labels) {
            counts[l as usize] += 1;
            hits[l as usize] += (p == l as usize) as usize;
        }
        let total = hits.iter().sum::<usize>() as f64 / data.len().max(1) as f64;
        let per_class = hits
            .iter()
            .zip(&counts)
            .map(|(&h, &c)| h as f64 / c.max(1) as f64)
            .collect();
        Ok((total, per_class))
    }

    /// Fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        if data.features() != self.input_features() {
            return Err(Error::SizeMismatch {
                what: format!(
                    "images of '{}' for a network with input {:?}",
                    data.name, self.input_shape
                ),
                expected: self.input_features(),
                got: data.features(),
            });
        }
        let pred = self.predict(data)?;
        let correct = pred
            .iter()
            .zip(&data.labels)
            .filter(|(p, &l)| **p == l as usize)
            .count();
        Ok(correct as f64 / data.len().max(1) as f64)
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// One layer in inference mode.
fn infer_layer(
    layer: &Layer,
    x: Array2<f32>,
    in_shape: &[usize],
    dropout: DropoutMode,
) -> Array2<f32> {
    match layer {
        Layer::Dense(d) => dense_forward(x.view(), d),
        Layer::Conv2d(c) => {
            let g = conv_geom(in_shape, c);
            conv::forward(x.view(), c, &g).0
        }
        Layer::AvgPool2d(p) => pool::avg_forward(x.view(), &pool_geom(in_shape, p)),
        Layer::MaxPool2d(p) => pool::max_forward(x.view(), &pool_geom(in_shape, p)).0,
        Layer::Flatten => x,
        Layer::BatchNorm(b) => {
            let (scale, shift) = b.affine();
            per_channel_affine(x, in_shape, &scale, &shift)
        }
        Layer::Activation(a) => activate(x, *a),
        Layer::Dropout { rate } => match dropout {
            DropoutMode::Inverted => x,
            DropoutMode::ScaleAtTest => x * (1.0 - rate),
        },
    }
}

/// `x·Wᵀ + b`.
pub(crate) fn dense_forward(x: ArrayView2<'_, f32>, d: &Dense) -> Array2<f32> {
    let mut y = Array2::zeros((x.nrows(), d.weights.nrows()));
    gemm::gemm(1.0, x, d.weights.t(), 0.0, y.view_mut());
    if let Some(b) = &d.bias {
        y += b;
    }
    y
}

/// The geometry of a convolution on `in_shape` (validated by the shape check).
pub(crate) fn conv_geom(in_shape: &[usize], c: &Conv2d) -> conv::Geom {
    let (_, _, kh, kw) = c.weights.dim();
    conv::Geom::new(
        [in_shape[0], in_shape[1], in_shape[2]],
        (kh, kw),
        c.stride,
        c.padding,
    )
    .expect("shapes validated")
}

/// The geometry of a pooling window on `in_shape` (validated by the shape check).
pub(crate) fn pool_geom(in_shape: &[usize], p: &Pool) -> conv::Geom {
    conv::Geom::new(
        [in_shape[0], in_shape[1], in_shape[2]],
        p.size,
        p.stride,
        p.padding,
    )
    .expect("shapes validated")
}

/// `y = scale[c]·x + shift[c]` with c the channel (first axis of the per-sample shape).
pub(crate) fn per_channel_affine(
    mut x: Array2<f32>,
    in_shape: &[usize],
    scale: &ndarray::Array1<f32>,
    shift: &ndarray::Array1<f32>,
) -> Array2<f32> {
    let per: usize = in_shape[1..].iter().product();
    x.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            let row = row.as_slice_mut().expect("standard layout");
            for ((chunk, &a), &b) in row.chunks_mut(per).zip(scale).zip(shift) {
                for v in chunk {
                    *v = a * *v + b;
                }
            }
        });
    x
}

/// Applies an activation row by row.
pub(crate) fn activate(mut x: Array2<f32>, a: Activation) -> Array2<f32> {
    match a {
        Activation::Relu => x.mapv_inplace(|v| v.max(0.0)),
        Activation::Linear => {}
        Activation::Softmax => x
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| {
                let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row /= s;
            }),
    }
    x
}
