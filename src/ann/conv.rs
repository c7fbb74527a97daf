//! Convolution by im2col and a matrix product, forward and backward.
//!
//! Each output position of each sample becomes a column of `cols` holding the (C, kh, kw) patch it
//! sees (zeros where the patch hangs over the padding); the convolution of the whole batch is then
//! one product `W₂ · cols`, with `W₂` the kernels as an (out channels, C·kh·kw) matrix.

use ndarray::{Array1, Array2, Array4, ArrayView2, Axis};
use rayon::prelude::*;

use super::gemm::gemm;
use super::layer::{padded_extent, Conv2d, Padding};

/// The geometry of a convolution or pooling window over an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geom {
    /// Input channels, height, width.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Padding above.
    pub pad_top: usize,
    /// Padding on the left.
    pub pad_left: usize,
}

impl Geom {
    /// The geometry, or `None` if the window does not fit.
    pub fn new(
        input: [usize; 3],
        k: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    ) -> Option<Geom> {
        let [c, h, w] = input;
        let (oh, pad_top) = padded_extent(h, k.0, stride.0, padding)?;
        let (ow, pad_left) = padded_extent(w, k.1, stride.1, padding)?;
        Some(Geom {
            c,
            h,
            w,
            kh: k.0,
            kw: k.1,
            sh: stride.0,
            sw: stride.1,
            oh,
            ow,
            pad_top,
            pad_left,
        })
    }

    /// Output positions per channel.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Input row and column of window offset (ky, kx) at output (oy, ox), if inside the input.
    #[inline]
    pub fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let y = (oy * self.sh + ky).checked_sub(self.pad_top)?;
        let x = (ox * self.sw + kx).checked_sub(self.pad_left)?;
        (y < self.h && x < self.w).then_some((y, x))
    }
}

/// The input rows and columns a window offset reaches: for offset `k` along an axis with output
/// size `out`, stride `s`, padding `pad` and input size `len`, the outputs `o` whose source
/// `o·s + k − pad` lies in [0, len), as a range of o.
#[inline]
fn valid_outputs(k: usize, out: usize, s: usize, pad: usize, len: usize) -> std::ops::Range<usize> {
    // o·s + k ≥ pad  and  o·s + k − pad < len
    let lo = pad.saturating_sub(k).div_ceil(s);
    let hi = if len + pad > k {
        ((len + pad - k - 1) / s + 1).min(out)
    } else {
        0
    };
    lo.min(hi)..hi
}

/// Patches as columns: (C·kh·kw, n·positions); column `s·P + p` is the patch of output position p
/// of sample s. Rows are filled in parallel; for stride 1 each row segment is one slice copy.
pub fn im2col(x: ArrayView2<'_, f32>, g: &Geom) -> Array2<f32> {
    let (n, p) = (x.nrows(), g.positions());
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let per_in = g.c * g.h * g.w;
    let mut cols = Array2::zeros((g.c * g.kh * g.kw, n * p));
    cols.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(r, mut row)| {
            let row = row.as_slice_mut().expect("standard layout");
            let (ci, ky, kx) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
            let oys = valid_outputs(ky, g.oh, g.sh, g.pad_top, g.h);
            let oxs = valid_outputs(kx, g.ow, g.sw, g.pad_left, g.w);
            for s in 0..n {
                let img = &xs[s * per_in + ci * g.h * g.w..s * per_in + (ci + 1) * g.h * g.w];
                let out = &mut row[s * p..(s + 1) * p];
                for oy in oys.clone() {
                    let y = oy * g.sh + ky - g.pad_top;
                    let dst = &mut out[oy * g.ow..(oy + 1) * g.ow];
                    let src = &img[y * g.w..(y + 1) * g.w];
                    if g.sw == 1 {
                        // A kernel wider than the padded input can reach no column at all
                        // from this offset; then there is nothing to copy (and no start).
                        if oxs.is_empty() {
                            continue;
                        }
                        let x0 = oxs.start + kx - g.pad_left;
                        dst[oxs.clone()].copy_from_slice(&src[x0..x0 + oxs.len()]);
                    } else {
                        for ox in oxs.clone() {
                            dst[ox] = src[ox * g.sw + kx - g.pad_left];
                        }
                    }
                }
            }
        });
    cols
}

/// The adjoint of [`im2col`]: adds each patch value back to the input position it came from.
pub fn col2im(cols: ArrayView2<'_, f32>, g: &Geom, n: usize) -> Array2<f32> {
    let p = g.positions();
    let per_in = g.c * g.h * g.w;
    let mut x = Array2::zeros((n, per_in));
    // Parallel over samples (disjoint outputs); rows in a fixed order inside a sample.
    x.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(s, mut img)| {
            let img = img.as_slice_mut().expect("standard layout");
            for r in 0..g.c * g.kh * g.kw {
                let (ci, ky, kx) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
                let oys = valid_outputs(ky, g.oh, g.sh, g.pad_top, g.h);
                let oxs = valid_outputs(kx, g.ow, g.sw, g.pad_left, g.w);
                let row = cols.row(r);
                let src = &row.as_slice().expect("standard layout")[s * p..(s + 1) * p];
                let chan = &mut img[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                for oy in oys.clone() {
                    let y = oy * g.sh + ky - g.pad_top;
                    let line = &mut chan[y * g.w..(y + 1) * g.w];
                    for ox in oxs.clone() {
                        line[ox * g.sw + kx - g.pad_left] += src[oy * g.ow + ox];
                    }
                }
            }
        });
    x
}

/// The kernels as an (out channels, C·kh·kw) matrix.
fn kernel_matrix(conv: &Conv2d) -> ArrayView2<'_, f32> {
    let (oc, ic, kh, kw) = conv.weights.dim();
    conv.weights
        .view()
        .into_shape_with_order((oc, ic * kh * kw))
        .expect("weights are in standard layout")
}

/// Forward pass: the output (n, OC·OH·OW) in NCHW order, and the patches (kept for training).
pub fn forward(x: ArrayView2<'_, f32>, conv: &Conv2d, g: &Geom) -> (Array2<f32>, Array2<f32>) {
    let n = x.nrows();
    let p = g.positions();
    let oc = conv.weights.dim().0;
    let cols = im2col(x, g);
    let mut yc = Array2::zeros((oc, n * p));
    gemm(1.0, kernel_matrix(conv), cols.view(), 0.0, yc.view_mut());
    let mut y = channel_rows_to_nchw(yc.view(), n, p);
    if let Some(b) = &conv.bias {
        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut row| {
                let row = row.as_slice_mut().expect("standard layout");
                for (o, chunk) in row.chunks_mut(p).enumerate() {
                    chunk.iter_mut().for_each(|v| *v += b[o]);
                }
            });
    }
    (y, cols)
}

/// (OC, n·P) → (n, OC·P): contiguous copies of P values.
fn channel_rows_to_nchw(yc: ArrayView2<'_, f32>, n: usize, p: usize) -> Array2<f32> {
    let oc = yc.nrows();
    let mut y = Array2::zeros((n, oc * p));
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(s, mut out)| {
            let out = out.as_slice_mut().expect("standard layout");
            for o in 0..oc {
                let src = yc.row(o);
                out[o * p..(o + 1) * p]
                    .copy_from_slice(&src.as_slice().expect("standard layout")[s * p..(s + 1) * p]);
            }
        });
    y
}

/// (n, OC·P) → (OC, n·P).
fn nchw_to_channel_rows(y: ArrayView2<'_, f32>, p: usize, oc: usize) -> Array2<f32> {
    let n = y.nrows();
    let y = y.as_standard_layout();
    let ys = y.as_slice().expect("standard layout");
    let mut yc = Array2::zeros((oc, n * p));
    yc.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(o, mut row)| {
            let row = row.as_slice_mut().expect("standard layout");
            for s in 0..n {
                row[s * p..(s + 1) * p]
                    .copy_from_slice(&ys[s * oc * p + o * p..s * oc * p + (o + 1) * p]);
            }
        });
    yc
}

/// Gradients of a convolution.
#[derive(Debug, Clone)]
pub struct ConvGrads {
    /// dL/dW, shaped like the weights.
    pub weights: Array4<f32>,
    /// dL/db, if the layer has a bias.
    pub bias: Option<Array1<f32>>,
    /// dL/dx, (n, C·H·W) (empty when not asked for).
    pub input: Array2<f32>,
}

/// Backward pass from dL/dy (n, OC·OH·OW) and the patches of the forward pass.
pub fn backward(
    dy: ArrayView2<'_, f32>,
    cols: &Array2<f32>,
    conv: &Conv2d,
    g: &Geom,
    need_input: bool,
) -> ConvGrads {
    let (oc, ic, kh, kw) = conv.weights.dim();
    let n = dy.nrows();
    let p = g.positions();
    let dyc = nchw_to_channel_rows(dy, p, oc);
    let mut dw = Array2::zeros((oc, ic * kh * kw));
    gemm(1.0, dyc.view(), cols.t(), 0.0, dw.view_mut());
    let bias = conv.bias.as_ref().map(|_| {
        dyc.rows()
            .into_iter()
            .map(|r| r.iter().sum::<f32>())
            .collect::<Array1<f32>>()
    });
    let input = if need_input {
        let mut dcols = Array2::zeros((ic * kh * kw, n * p));
        gemm(
            1.0,
            kernel_matrix(conv).t(),
            dyc.view(),
            0.0,
            dcols.view_mut(),
        );
        col2im(dcols.view(), g, n)
    } else {
        Array2::zeros((0, 0))
    };
    ConvGrads {
        weights: dw
            .into_shape_with_order((oc, ic, kh, kw))
            .expect("standard layout"),
        bias,
        input,
    }
}
