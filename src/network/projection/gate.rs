//! Max gates: max pooling on the engine. Each post neuron passes, per step, the spike of one of
//! its pre neurons with the largest cumulative spike count so far.

use super::{Projection, Storage};

/// The state of a max gate: each post neuron passes, per step, the spike of one of its pre
/// neurons with the largest cumulative spike count so far (this step's spikes included).
///
/// Counts only grow, one per spike, so each window's maximum is kept up to date spike by spike
/// (spikes arrive in increasing pre order, a window's members too): a spike that raises its
/// window's maximum becomes the window's candidate, one that ties it becomes the candidate if the
/// window has none yet this step — which is the lowest-index fired member at the maximum, the
/// rule, found in constant work per spike. (Looking at every member of every touched window took
/// more than a quarter of a converted BN-CNN's step.)
#[derive(Debug, Clone)]
pub(crate) struct MaxGate {
    /// Per local pre: spikes so far.
    counts: Vec<u32>,
    /// Per local post: the largest count among its members.
    best: Vec<u32>,
    /// Per local post: the weight of this step's candidate (valid where `touched`).
    candidate: Vec<f32>,
    /// This step's passed spikes: (local post, weight), increasing post.
    pub(super) passed: Vec<(u32, f32)>,
    /// Per local post: whether it has a candidate this step (scratch, cleared by the scan).
    touched: Vec<u8>,
}

impl MaxGate {
    /// A gate for `n_pre` pre neurons and `n_post` windows (the windows are the projection's
    /// CSR rows: pre neuron i belongs to windows `csr.post[row_ptr[i]..row_ptr[i + 1]]`).
    pub(crate) fn new(n_pre: usize, n_post: usize) -> MaxGate {
        MaxGate {
            counts: vec![0; n_pre],
            best: vec![0; n_post],
            candidate: vec![0.0; n_post],
            passed: Vec::new(),
            touched: vec![0; n_post],
        }
    }

    /// Forgets the counts (a new sample).
    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
        self.best.fill(0);
        self.passed.clear();
    }

    /// Spike of pre `s` (count `c`, this step's included) through membership of weight `w` in
    /// window `j`.
    #[inline(always)]
    fn offer(&mut self, j: usize, c: u32, w: f32) {
        // As selects, not branches: whether a spike takes its window is as random as the spikes
        // (a branch here mispredicted on a converted BN-CNN's densely firing first layer).
        let (best, had) = (self.best[j], self.touched[j] != 0);
        let take = (c > best) | ((c == best) & !had);
        self.best[j] = best.max(c);
        let kept = self.candidate[j];
        self.candidate[j] = if take { w } else { kept };
        self.touched[j] = u8::from(had | take);
    }
}

impl Projection {
    /// [`Self::gate_step`] at the vector level `ISA` ([`crate::simd`]).
    #[inline(always)]
    pub(super) fn gate_step_at<const ISA: u8>(&mut self, spikes: &[u32]) -> Option<u64> {
        let Storage::Sparse(csr) = &self.storage else {
            return None;
        };
        let gate = self.gate.as_mut()?;
        gate.passed.clear();
        if csr.one_each {
            for &s in spikes {
                let s = s as usize;
                gate.counts[s] += 1;
                gate.offer(csr.post[s] as usize, gate.counts[s], csr.weights[s]);
            }
        } else {
            for &s in spikes {
                let s = s as usize;
                gate.counts[s] += 1;
                let c = gate.counts[s];
                for k in csr.row_ptr[s] as usize..csr.row_ptr[s + 1] as usize {
                    gate.offer(csr.post[k] as usize, c, csr.weights[k]);
                }
            }
        }
        let MaxGate {
            candidate,
            passed,
            touched,
            ..
        } = gate;
        crate::neuron::for_each_fired_at::<ISA>(touched, |j| {
            passed.push((j as u32, candidate[j]));
        });
        Some(gate.passed.len() as u64)
    }
}
