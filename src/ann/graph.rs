//! Running a graph of layers: the values kept alive between a layer and its last reader, the
//! merge layers (Add, Concatenate) and zero padding, forward and backward.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::layer::{Layer, Pad};
use super::{Ann, Node};

/// The outputs of the input and of every layer, each kept until its last reader has run (a chain
/// therefore holds one at a time, as before graphs existed).
pub(crate) struct Values {
    /// Slot 0: the input; slot i + 1: layer i.
    slots: Vec<Option<Array2<f32>>>,
    /// Reads still to come, per slot (a layer reading a node twice counts twice).
    pending: Vec<usize>,
}

impl Values {
    /// Slots for `ann`, holding the input `x`.
    pub(crate) fn new(ann: &Ann, x: Array2<f32>) -> Self {
        let mut pending = vec![0usize; ann.layers.len() + 1];
        for n in ann.inputs.iter().flatten() {
            pending[slot(*n)] += 1;
        }
        let mut slots: Vec<Option<Array2<f32>>> = vec![None; ann.layers.len() + 1];
        slots[0] = Some(x);
        Values { slots, pending }
    }

    /// The value of `node` for its reader: moved out on the last read, copied before.
    pub(crate) fn take(&mut self, node: Node) -> Array2<f32> {
        let s = slot(node);
        self.pending[s] -= 1;
        if self.pending[s] == 0 {
            self.slots[s]
                .take()
                .expect("a value is read after it is made")
        } else {
            self.slots[s]
                .clone()
                .expect("a value is read after it is made")
        }
    }

    /// The values of `nodes`, borrowed (call [`Self::release`] after use).
    pub(crate) fn borrow(&self, nodes: &[Node]) -> Vec<&Array2<f32>> {
        nodes
            .iter()
            .map(|n| {
                self.slots[slot(*n)]
                    .as_ref()
                    .expect("a value is read after it is made")
            })
            .collect()
    }

    /// Marks one read of each of `nodes` done, dropping values nobody will read again.
    pub(crate) fn release(&mut self, nodes: &[Node]) {
        for n in nodes {
            let s = slot(*n);
            self.pending[s] -= 1;
            if self.pending[s] == 0 {
                self.slots[s] = None;
            }
        }
    }

    /// Stores layer `i`'s output if a later layer reads it.
    pub(crate) fn store(&mut self, i: usize, y: Array2<f32>) {
        if self.pending[i + 1] > 0 {
            self.slots[i + 1] = Some(y);
        }
    }
}

fn slot(n: Node) -> usize {
    match n {
        Node::Input => 0,
        Node::Layer(j) => j + 1,
    }
}

/// The output of a merge layer for its inputs (shapes checked at construction).
pub(crate) fn merge_forward(layer: &Layer, inputs: &[&Array2<f32>]) -> Array2<f32> {
    match layer {
        Layer::Add => {
            // Summed in input order, so the result does not depend on the thread count.
            let mut y = inputs[0].clone();
            for x in &inputs[1..] {
                y += *x;
            }
            y
        }
        Layer::Concatenate => {
            // Written row by row so that the result is in standard (row-major) layout.
            let width = inputs.iter().map(|x| x.ncols()).sum();
            let mut y = Array2::zeros((inputs[0].nrows(), width));
            let mut start = 0;
            for x in inputs {
                y.slice_mut(ndarray::s![.., start..start + x.ncols()])
                    .assign(*x);
                start += x.ncols();
            }
            y
        }
        other => unreachable!("{} is not a merge layer", other.kind()),
    }
}

/// The gradient reaching each input of a merge layer from its output gradient `dy`; `widths`
/// are the inputs' features per sample.
pub(crate) fn merge_backward(layer: &Layer, dy: Array2<f32>, widths: &[usize]) -> Vec<Array2<f32>> {
    match layer {
        Layer::Add => {
            let mut out = vec![dy.clone(); widths.len() - 1];
            out.push(dy);
            out
        }
        Layer::Concatenate => {
            let mut start = 0;
            widths
                .iter()
                .map(|&w| {
                    let part = dy.slice(ndarray::s![.., start..start + w]).to_owned();
                    start += w;
                    part
                })
                .collect()
        }
        other => unreachable!("{} is not a merge layer", other.kind()),
    }
}

/// Zero padding of (n, C·H·W) maps of shape `in_shape` = [C, H, W].
pub(crate) fn pad_forward(x: ArrayView2<'_, f32>, in_shape: &[usize], p: &Pad) -> Array2<f32> {
    let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let (oh, ow) = (p.top + h + p.bottom, p.left + w + p.right);
    let mut y = Array2::zeros((x.nrows(), c * oh * ow));
    y.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, img)| {
            let out = out.as_slice_mut().expect("standard layout");
            let img = img.to_slice().expect("standard layout");
            for ch in 0..c {
                for r in 0..h {
                    let src = (ch * h + r) * w;
                    let dst = (ch * oh + r + p.top) * ow + p.left;
                    out[dst..dst + w].copy_from_slice(&img[src..src + w]);
                }
            }
        });
    y
}

/// Gradient of zero padding: the padded gradient cropped back to `in_shape`.
pub(crate) fn pad_backward(dy: ArrayView2<'_, f32>, in_shape: &[usize], p: &Pad) -> Array2<f32> {
    let (c, h, w) = (in_shape[0], in_shape[1], in_shape[2]);
    let (oh, ow) = (p.top + h + p.bottom, p.left + w + p.right);
    let mut dx = Array2::zeros((dy.nrows(), c * h * w));
    dx.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(dy.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut out, grad)| {
            let out = out.as_slice_mut().expect("standard layout");
            let grad = grad.to_slice().expect("standard layout");
            for ch in 0..c {
                for r in 0..h {
                    let dst = (ch * h + r) * w;
                    let src = (ch * oh + r + p.top) * ow + p.left;
                    out[dst..dst + w].copy_from_slice(&grad[src..src + w]);
                }
            }
        });
    dx
}
