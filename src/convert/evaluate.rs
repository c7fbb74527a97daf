//! Evaluating a converted network: accuracy after every step, latency, synaptic operations.
//!
//! Samples run in fixed chunks in parallel, each chunk on its own copy of the spiking network
//! (reset between samples), and results are combined in sample order, so the figures do not depend
//! on the thread count.

use rayon::prelude::*;

use super::build::build;
use crate::ann::Ann;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Samples per network copy.
const CHUNK: usize = 250;

/// What a spiking evaluation measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnnEvaluation {
    /// Images evaluated.
    pub images: usize,
    /// Fraction correct after step 1, 2, …, T (decision: most output spikes so far).
    pub snn_accuracy_per_step: Vec<f64>,
    /// Mean synaptic operations (spikes × fan-out) per image over the T steps.
    pub synaptic_ops_per_image: f64,
    /// Mean spikes per image over the T steps (all layers).
    pub spikes_per_image: f64,
}

impl SnnEvaluation {
    /// The first step (1-based) from which the accuracy stays within `pp` percentage points of
    /// `reference`, if any.
    pub fn latency(&self, reference: f64, pp: f64) -> Option<usize> {
        let ok: Vec<bool> = self
            .snn_accuracy_per_step
            .iter()
            .map(|&a| a >= reference - pp / 100.0)
            .collect();
        let last_bad = ok.iter().rposition(|&o| !o);
        match last_bad {
            None if !ok.is_empty() => Some(1),
            Some(i) if i + 1 < ok.len() => Some(i + 2),
            _ => None,
        }
    }
}

/// Runs every image of `data` for `steps` steps through the spiking version of `ann` (already
/// folded and normalised).
pub fn evaluate(
    ann: &Ann,
    data: &Dataset,
    steps: u64,
    on_chunk: impl Fn(usize) + Sync,
) -> Result<SnnEvaluation> {
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    if data.is_empty() {
        return Err(Error::Unsupported(format!(
            "evaluation set '{}' is empty",
            data.name
        )));
    }
    if data.features() != ann.input_features() {
        return Err(Error::SizeMismatch {
            what: format!(
                "images of '{}' for a network with input {:?}",
                data.name, ann.input_shape
            ),
            expected: ann.input_features(),
            got: data.features(),
        });
    }
    build(ann)?; // refuse unsupported networks before starting the workers
    let chunks: Vec<(Vec<u32>, u64, u64)> = (0..data.len().div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| -> Result<(Vec<u32>, u64, u64)> {
            let mut model = build(ann)?;
            let mut correct = vec![0u32; steps as usize];
            let (mut sops, mut spikes) = (0u64, 0u64);
            for i in c * CHUNK..((c + 1) * CHUNK).min(data.len()) {
                let x = ndarray::ArrayView1::from(data.image(i));
                let decisions = model.classify(x, steps)?;
                for (k, d) in decisions.iter().enumerate() {
                    correct[k] += (*d == Some(data.labels[i] as usize)) as u32;
                }
                sops += model.net.n_events();
                spikes += model.net.n_spikes();
            }
            on_chunk(((c + 1) * CHUNK).min(data.len()) - c * CHUNK);
            Ok((correct, sops, spikes))
        })
        .collect::<Result<_>>()?;
    let mut correct = vec![0u64; steps as usize];
    let (mut sops, mut spikes) = (0u64, 0u64);
    for (c, s, n) in chunks {
        for (total, v) in correct.iter_mut().zip(c) {
            *total += v as u64;
        }
        sops += s;
        spikes += n;
    }
    let n = data.len() as f64;
    Ok(SnnEvaluation {
        images: data.len(),
        snn_accuracy_per_step: correct.iter().map(|&c| c as f64 / n).collect(),
        synaptic_ops_per_image: sops as f64 / n,
        spikes_per_image: spikes as f64 / n,
    })
}
