//! Synapse lists stored as CSR rows by pre-synaptic neuron, each row split by target block.

/// CSR rows by pre-synaptic neuron, with each row's split into target blocks.
#[derive(Debug, Clone)]
pub(crate) struct Csr {
    pub row_ptr: Vec<u64>,
    /// Local post index of each synapse.
    pub post: Vec<u32>,
    pub weights: Vec<f32>,
    /// Per-synapse delays in steps, if they differ.
    pub delays: Option<Vec<u16>>,
    /// For row i and target block b: offset of the block's first synapse from the row start,
    /// at `block_ptr[i * (n_blocks + 1) + b]`.
    pub block_ptr: Vec<u32>,
    pub n_blocks: usize,
    /// Every row holds exactly one synapse (`row_ptr[i] = i`): delivery indexes the synapse by
    /// the spike itself, without row and block offsets.
    pub one_each: bool,
    /// The weight of every synapse when all are the same (bit for bit), else `None`. Delivery
    /// then adds it without reading `weights`, half the bytes a spike's row streams in (the
    /// benchmark networks, and many built by hand, have one weight per projection). Cleared by
    /// the one mutable access to the weights, `Projection::synapses_mut`.
    pub uniform: Option<f32>,
}

/// Where each target's synapses start when synapses listed with `targets` (each below `n`) are
/// grouped by target, keeping their order: the `n + 1` pointers of a counting sort.
pub(crate) fn target_starts(n: usize, targets: &[u32]) -> Vec<usize> {
    let mut ptr = vec![0usize; n + 1];
    for &j in targets {
        ptr[j as usize + 1] += 1;
    }
    for j in 0..n {
        ptr[j + 1] += ptr[j];
    }
    ptr
}

/// Spikes whose synapse rows are looked up and prefetched together before any is delivered: enough
/// misses in flight to cover a memory latency, few enough that the first rows' lines are still
/// cached when their additions come (16 and 32 measured alike on CUBA-40 000).
const PREFETCH_GROUP: usize = 16;

impl Csr {
    /// The weight all of `weights` share, bit for bit (`None` if they differ or there are none).
    pub(crate) fn uniform_of(weights: &[f32]) -> Option<f32> {
        let first = *weights.first()?;
        weights
            .iter()
            .all(|w| w.to_bits() == first.to_bits())
            .then_some(first)
    }

    /// Calls `deliver(a, b)` with the synapses `a..b` of each spike's row that target block
    /// `block`, in spike order.
    ///
    /// The rows of a step's spikes lie far apart, in memory no cache holds once a network has
    /// millions of synapses, and a row's part in one block is a line or two. So a group of spikes
    /// first finds its parts (independent loads, which overlap) and asks for their first and last
    /// lines of targets, of weights with `with_weights` and of delays with `with_delays`; the
    /// deliveries come after,
    /// in the same order as one spike at a time, so the sums are the same bit for bit. CUBA-40 000
    /// and COBA-40 000 simulate 20 % faster, CUBA-200 000 25 % (2 threads, AVX-512 EPYC).
    #[inline(always)]
    pub(crate) fn for_each_part(
        &self,
        spikes: &[u32],
        block: usize,
        with_weights: bool,
        with_delays: bool,
        mut deliver: impl FnMut(usize, usize),
    ) {
        use crate::memory::prefetch;
        let stride = self.n_blocks + 1;
        for group in spikes.chunks(PREFETCH_GROUP) {
            let mut parts = [(0usize, 0usize); PREFETCH_GROUP];
            for (part, &s) in parts.iter_mut().zip(group) {
                let s = s as usize;
                let row = self.row_ptr[s] as usize;
                let a = row + self.block_ptr[s * stride + block] as usize;
                let b = row + self.block_ptr[s * stride + block + 1] as usize;
                for k in [a, b.saturating_sub(1).max(a)] {
                    prefetch(self.post.as_ptr().wrapping_add(k));
                    if with_weights {
                        prefetch(self.weights.as_ptr().wrapping_add(k));
                    }
                    if let Some(d) = self.delays.as_ref().filter(|_| with_delays) {
                        prefetch(d.as_ptr().wrapping_add(k));
                    }
                }
                *part = (a, b);
            }
            for &(a, b) in &parts[..group.len()] {
                deliver(a, b);
            }
        }
    }
}

/// Computes `block_ptr` for CSR rows given the post population's block size.
pub(crate) fn block_offsets(
    row_ptr: &[u64],
    post: &[u32],
    post_start: u32,
    block_size: usize,
    n_blocks: usize,
) -> Vec<u32> {
    let n_pre = row_ptr.len() - 1;
    let stride = n_blocks + 1;
    let mut out = vec![0u32; n_pre * stride];
    for i in 0..n_pre {
        let row = &post[row_ptr[i] as usize..row_ptr[i + 1] as usize];
        for b in 0..=n_blocks {
            let bound = (b * block_size) as u64;
            // Posts are sorted within the row, so the block boundary is a partition point.
            out[i * stride + b] =
                row.partition_point(|&j| ((post_start + j) as u64) < bound) as u32;
        }
    }
    out
}
