//! Max gates: max pooling on the engine. Each post neuron passes, per step, the spike of one of
//! its pre neurons with the largest cumulative spike count so far.

use super::{Csr, Projection, Storage};

/// The state of a max gate: each post neuron passes, per step, the spike of one of its pre
/// neurons with the largest cumulative spike count so far (this step's spikes included).
#[derive(Debug, Clone)]
pub(crate) struct MaxGate {
    /// Members of local post j: `pre[start[j]..start[j + 1]]` (increasing), with `weight`s.
    start: Vec<u32>,
    pre: Vec<u32>,
    weight: Vec<f32>,
    /// Per local pre: spikes so far.
    counts: Vec<u32>,
    /// Per local pre: whether it fired this step (scratch).
    fired: Vec<bool>,
    /// This step's passed spikes: (local post, weight), increasing post.
    pub(super) passed: Vec<(u32, f32)>,
    /// Per local post: whether a member fired this step (scratch, cleared by the scan).
    touched: Vec<u8>,
}

impl MaxGate {
    /// A gate over the windows given by the transpose of CSR rows.
    pub(crate) fn new(csr: &Csr, n_pre: usize, n_post: usize) -> MaxGate {
        // The transpose, flat: a window's members side by side (no per-window allocation to
        // chase), in increasing pre order.
        let mut start = vec![0u32; n_post + 1];
        for &j in &csr.post {
            start[j as usize + 1] += 1;
        }
        for j in 0..n_post {
            start[j + 1] += start[j];
        }
        let mut fill: Vec<u32> = start[..n_post].to_vec();
        let mut pre = vec![0u32; csr.post.len()];
        let mut weight = vec![0f32; csr.post.len()];
        for i in 0..n_pre {
            for k in csr.row_ptr[i] as usize..csr.row_ptr[i + 1] as usize {
                let j = csr.post[k] as usize;
                pre[fill[j] as usize] = i as u32;
                weight[fill[j] as usize] = csr.weights[k];
                fill[j] += 1;
            }
        }
        MaxGate {
            start,
            pre,
            weight,
            counts: vec![0; n_pre],
            fired: vec![false; n_pre],
            passed: Vec::new(),
            touched: vec![0; n_post],
        }
    }

    /// Forgets the counts (a new sample).
    pub(crate) fn reset(&mut self) {
        self.counts.fill(0);
        self.passed.clear();
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
        for &s in spikes {
            gate.counts[s as usize] += 1;
            gate.fired[s as usize] = true;
        }
        // Mark the windows this step's spikes fall in; the scan visits them in increasing order.
        let MaxGate {
            start,
            pre,
            weight,
            counts,
            fired,
            passed,
            touched,
        } = gate;
        if csr.one_each {
            for &s in spikes {
                touched[csr.post[s as usize] as usize] = 1;
            }
        } else {
            for &s in spikes {
                let row = csr.row_ptr[s as usize] as usize..csr.row_ptr[s as usize + 1] as usize;
                for &j in &csr.post[row] {
                    touched[j as usize] = 1;
                }
            }
        }
        crate::neuron::for_each_fired_at::<ISA>(touched, |j| {
            let members = start[j] as usize..start[j + 1] as usize;
            let best = pre[members.clone()]
                .iter()
                .map(|&i| counts[i as usize])
                .max()
                .unwrap_or(0);
            // The first (lowest-index) member at the maximum that fired passes its spike. Every
            // member is looked at, last to first, so the choice is a select, not a branch.
            let mut pass = usize::MAX;
            for k in members.rev() {
                let i = pre[k] as usize;
                pass = if fired[i] & (counts[i] == best) {
                    k
                } else {
                    pass
                };
            }
            if pass != usize::MAX {
                passed.push((j as u32, weight[pass]));
            }
        });
        for &s in spikes {
            gate.fired[s as usize] = false;
        }
        Some(gate.passed.len() as u64)
    }
}
