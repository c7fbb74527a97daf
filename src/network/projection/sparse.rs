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
