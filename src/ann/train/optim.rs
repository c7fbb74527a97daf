//! Optimisers: SGD with momentum and Adam, with their state per parameter tensor.

use rayon::prelude::*;

use super::backprop::Grads;
use super::Optimizer;
use crate::ann::layer::Layer;
use crate::ann::Ann;

/// The trainable parameters of a layer, as mutable slices in a fixed order.
pub(super) fn params_mut(layer: &mut Layer) -> Vec<&mut [f32]> {
    match layer {
        Layer::Dense(d) => {
            let mut v = vec![d.weights.as_slice_mut().expect("standard layout")];
            if let Some(b) = &mut d.bias {
                v.push(b.as_slice_mut().expect("standard layout"));
            }
            v
        }
        Layer::Conv2d(c) => {
            let mut v = vec![c.weights.as_slice_mut().expect("standard layout")];
            if let Some(b) = &mut c.bias {
                v.push(b.as_slice_mut().expect("standard layout"));
            }
            v
        }
        Layer::BatchNorm(b) => vec![
            b.gamma.as_slice_mut().expect("standard layout"),
            b.beta.as_slice_mut().expect("standard layout"),
        ],
        Layer::Qcfs(q) => vec![std::slice::from_mut(&mut q.lambda)],
        _ => Vec::new(),
    }
}

/// Momentum / moment buffers, one per parameter tensor.
pub(super) struct OptimizerState {
    first: Vec<Vec<Vec<f32>>>,
    second: Vec<Vec<Vec<f32>>>,
    t: i32,
}

impl OptimizerState {
    pub(super) fn new(ann: &mut Ann) -> Self {
        let zeros: Vec<Vec<Vec<f32>>> = ann
            .layers
            .iter_mut()
            .map(|l| params_mut(l).iter().map(|p| vec![0.0; p.len()]).collect())
            .collect();
        OptimizerState {
            first: zeros.clone(),
            second: zeros,
            t: 0,
        }
    }

    pub(super) fn step(&mut self, ann: &mut Ann, grads: &[Grads], opt: &Optimizer) {
        self.t += 1;
        for (li, layer) in ann.layers.iter_mut().enumerate() {
            for (pi, w) in params_mut(layer).into_iter().enumerate() {
                let g = &grads[li][pi];
                let m = &mut self.first[li][pi];
                match *opt {
                    Optimizer::Sgd { lr, momentum } => {
                        w.par_iter_mut()
                            .zip(m.par_iter_mut())
                            .zip(g.par_iter())
                            .for_each(|((w, v), &g)| {
                                *v = momentum * *v + lr * g;
                                *w -= *v;
                            });
                    }
                    Optimizer::Adam {
                        lr,
                        beta1,
                        beta2,
                        eps,
                    } => {
                        let s = &mut self.second[li][pi];
                        let (c1, c2) = (1.0 - beta1.powi(self.t), 1.0 - beta2.powi(self.t));
                        w.par_iter_mut()
                            .zip(m.par_iter_mut())
                            .zip(s.par_iter_mut())
                            .zip(g.par_iter())
                            .for_each(|(((w, m), s), &g)| {
                                *m = beta1 * *m + (1.0 - beta1) * g;
                                *s = beta2 * *s + (1.0 - beta2) * g * g;
                                *w -= lr * (*m / c1) / ((*s / c2).sqrt() + eps);
                            });
                    }
                }
            }
        }
    }
}
