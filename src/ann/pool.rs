//! Average and max pooling, forward and backward.
//!
//! Averages count only the inputs inside the image (TensorFlow's rule for 'same' padding); max
//! pooling ignores the padding and, on ties, takes the first maximum in row-major window order.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::conv::Geom;

/// The window of output (oy, ox) clipped to the image: (rows, columns) of the input.
#[inline]
fn window(g: &Geom, oy: usize, ox: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let y0 = (oy * g.sh) as isize - g.pad_top as isize;
    let x0 = (ox * g.sw) as isize - g.pad_left as isize;
    let ys = y0.max(0) as usize..((y0 + g.kh as isize).min(g.h as isize)).max(0) as usize;
    let xs = x0.max(0) as usize..((x0 + g.kw as isize).min(g.w as isize)).max(0) as usize;
    (ys, xs)
}

/// Average pooling: (n, C·H·W) → (n, C·OH·OW).
pub fn avg_forward(x: ArrayView2<'_, f32>, g: &Geom) -> Array2<f32> {
    let (hw, p) = (g.h * g.w, g.positions());
    let mut y = Array2::zeros((x.nrows(), g.c * p));
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, img)| {
            let out = out.as_slice_mut().expect("standard layout");
            let img = img.to_slice().expect("standard layout");
            for ci in 0..g.c {
                let chan = &img[ci * hw..(ci + 1) * hw];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let (ys, xs) = window(g, oy, ox);
                        let count = (ys.len() * xs.len()).max(1) as f32;
                        let mut sum = 0.0f32;
                        for yy in ys {
                            for xx in xs.clone() {
                                sum += chan[yy * g.w + xx];
                            }
                        }
                        out[ci * p + oy * g.ow + ox] = sum / count;
                    }
                }
            }
        });
    y
}

/// Gradient of average pooling.
pub fn avg_backward(dy: ArrayView2<'_, f32>, g: &Geom) -> Array2<f32> {
    let (hw, p) = (g.h * g.w, g.positions());
    let mut dx = Array2::zeros((dy.nrows(), g.c * hw));
    dx.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(dy.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, grad)| {
            let out = out.as_slice_mut().expect("standard layout");
            let grad = grad.to_slice().expect("standard layout");
            for ci in 0..g.c {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let (ys, xs) = window(g, oy, ox);
                        let share =
                            grad[ci * p + oy * g.ow + ox] / (ys.len() * xs.len()).max(1) as f32;
                        for yy in ys {
                            for xx in xs.clone() {
                                out[ci * hw + yy * g.w + xx] += share;
                            }
                        }
                    }
                }
            }
        });
    dx
}

/// Max pooling: the output and, per output, the input index of its maximum (for backward).
pub fn max_forward(x: ArrayView2<'_, f32>, g: &Geom) -> (Array2<f32>, Vec<u32>) {
    let per = g.c * g.positions();
    let mut y = Array2::zeros((x.nrows(), per));
    let mut arg = vec![0u32; x.nrows() * per];
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(arg.par_chunks_mut(per))
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|((mut out, arg), img)| {
            let out = out.as_slice_mut().expect("standard layout");
            let img = img.to_slice().expect("standard layout");
            max_sample(img, out, arg, g);
        });
    (y, arg)
}

fn max_sample(img: &[f32], out: &mut [f32], arg: &mut [u32], g: &Geom) {
    let (hw, p) = (g.h * g.w, g.positions());
    let inside = g.pad_top == 0 && g.pad_left == 0;
    for ci in 0..g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let o = ci * p + oy * g.ow + ox;
                if inside {
                    // Valid windows lie inside the image: no clipping to compute.
                    let base = ci * hw + oy * g.sh * g.w + ox * g.sw;
                    let (mut best, mut at) = (img[base], base);
                    for ky in 0..g.kh {
                        let row = base + ky * g.w;
                        for (kx, &v) in img[row..row + g.kw].iter().enumerate() {
                            if v > best {
                                best = v;
                                at = row + kx;
                            }
                        }
                    }
                    out[o] = best;
                    arg[o] = at as u32;
                    continue;
                }
                let (ys, xs) = window(g, oy, ox);
                let (mut best, mut at) = (f32::NEG_INFINITY, None);
                for yy in ys {
                    for xx in xs.clone() {
                        let i = ci * hw + yy * g.w + xx;
                        if at.is_none() || img[i] > best {
                            best = img[i];
                            at = Some(i);
                        }
                    }
                }
                out[o] = best;
                arg[o] = at.unwrap_or(ci * hw) as u32;
            }
        }
    }
}

/// Gradient of max pooling: each output's gradient goes to its maximum.
pub fn max_backward(dy: ArrayView2<'_, f32>, arg: &[u32], g: &Geom) -> Array2<f32> {
    let per = g.c * g.positions();
    let mut dx = Array2::zeros((dy.nrows(), g.c * g.h * g.w));
    dx.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(arg.par_chunks(per))
        .zip(dy.axis_iter(Axis(0)).into_par_iter())
        .for_each(|((mut out, arg), grad)| {
            let out = out.as_slice_mut().expect("standard layout");
            let grad = grad.to_slice().expect("standard layout");
            for (k, &i) in arg.iter().enumerate() {
                out[i as usize] += grad[k];
            }
        });
    dx
}

/// Global average pooling of (n, C·H·W) maps of shape `in_shape` = [C, H, W]: (n, C).
pub fn global_avg_forward(x: ArrayView2<'_, f32>, in_shape: &[usize]) -> Array2<f32> {
    let (c, hw) = (in_shape[0], in_shape[1] * in_shape[2]);
    let mut y = Array2::zeros((x.nrows(), c));
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, img)| {
            let img = img.to_slice().expect("standard layout");
            for (o, chan) in out.iter_mut().zip(img.chunks(hw)) {
                *o = chan.iter().sum::<f32>() / hw as f32;
            }
        });
    y
}

/// Gradient of global average pooling: each channel's gradient shared equally by its positions.
pub fn global_avg_backward(dy: ArrayView2<'_, f32>, in_shape: &[usize]) -> Array2<f32> {
    let (c, hw) = (in_shape[0], in_shape[1] * in_shape[2]);
    let mut dx = Array2::zeros((dy.nrows(), c * hw));
    dx.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(dy.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, grad)| {
            let out = out.as_slice_mut().expect("standard layout");
            for (chan, &g) in out.chunks_mut(hw).zip(grad.iter()) {
                chan.fill(g / hw as f32);
            }
        });
    dx
}
