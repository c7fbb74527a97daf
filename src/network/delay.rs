//! Ring buffers that hold input until its delay has passed (one per receptor buffer and block).
//!
//! A ring of `n_slots` slots covers delays 0 … n_slots − 1 steps. The input due at step t lives in
//! slot `t mod n_slots`; a spike sent at step t with delay d adds into slot `(t + d) mod n_slots`.
//! The population reads and zeroes its slot when it updates, so a slot is clean before it comes
//! round again (NEST keeps the same ring per target).

/// Delay ring of one receptor buffer for one block of neurons (slot-major).
#[derive(Debug, Clone)]
pub struct Ring {
    len: usize,
    n_slots: usize,
    data: Vec<f32>,
}

impl Ring {
    /// A zeroed ring for `len` neurons and `n_slots` slots.
    pub fn new(len: usize, n_slots: usize) -> Self {
        Ring {
            len,
            n_slots,
            data: vec![0.0; len * n_slots],
        }
    }

    /// Number of slots (max delay + 1).
    pub fn n_slots(&self) -> usize {
        self.n_slots
    }

    /// The slot index of step `t` plus `delay` steps.
    #[inline]
    pub fn slot_of(&self, t: u64, delay: u32) -> usize {
        ((t + delay as u64) % self.n_slots as u64) as usize
    }

    /// The slot's values, one per neuron of the block.
    #[inline]
    pub fn slot_mut(&mut self, slot: usize) -> &mut [f32] {
        &mut self.data[slot * self.len..(slot + 1) * self.len]
    }

    /// All slots, slot-major (for per-synapse delays, which index `slot * len + neuron`).
    #[inline]
    pub fn all_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Neurons per slot.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring holds no neurons.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn slots_wrap_around() {
        let mut r = Ring::new(2, 3);
        assert_eq!(r.slot_of(0, 0), 0);
        assert_eq!(r.slot_of(1, 2), 0);
        assert_eq!(r.slot_of(5, 1), 0);
        r.slot_mut(2)[1] = 4.0;
        assert_eq!(r.all_mut()[5], 4.0);
    }
}
