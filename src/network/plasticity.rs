//! Plasticity: a rule attached to a projection, called every step with that step's spikes.
//!
//! The network calls [`Plasticity::on_step`] after the projection's post-population has updated
//! (see the schedule in [`crate::network`]). The rule sees the pre and post spikes as indices local
//! to the projection's ranges, and the weights in their storage layout.

/// The weights of a projection, mutable, in storage layout.
pub enum SynapsesMut<'a> {
    /// Dense, pre-major: `weights[pre * n_post + post]`.
    Dense {
        /// Pre-synaptic neurons.
        n_pre: usize,
        /// Post-synaptic neurons.
        n_post: usize,
        /// The weights.
        weights: &'a mut [f32],
    },
    /// CSR by pre-synaptic neuron: row `pre` is `row_ptr[pre] .. row_ptr[pre + 1]`, with local post
    /// indices in `post` (sorted within a row).
    Sparse {
        /// Row starts (n_pre + 1).
        row_ptr: &'a [u64],
        /// Post index of each synapse.
        post: &'a [u32],
        /// Weight of each synapse.
        weights: &'a mut [f32],
    },
    /// A weight-shared convolution: one kernel for every position, stored tap-major
    /// (`taps[((c·kh + ky)·kw + kx)·C_out + o]`).
    Shared {
        /// The convolution's geometry.
        geometry: super::Conv2dGeometry,
        /// The kernel.
        taps: &'a mut [f32],
    },
}

/// What a rule knows about the step.
#[derive(Debug, Clone, Copy)]
pub struct StepSpikes<'a> {
    /// The step.
    pub step: u64,
    /// Pre-synaptic spikes, local indices, increasing. When the pre-population comes later in the
    /// schedule these are its spikes of the previous step.
    pub pre: &'a [u32],
    /// Post-synaptic spikes of this step, local indices, increasing.
    pub post: &'a [u32],
}

/// A plasticity rule.
///
/// ```
/// use somnet::network::plasticity::{Plasticity, StepSpikes, SynapsesMut};
/// /// Adds `eta` to every synapse whose pre and post neurons both fired this step.
/// struct Hebb { eta: f32 }
/// impl Plasticity for Hebb {
///     fn on_step(&mut self, spikes: StepSpikes<'_>, synapses: SynapsesMut<'_>) {
///         if let SynapsesMut::Dense { n_post, weights, .. } = synapses {
///             for &i in spikes.pre { for &j in spikes.post { weights[i as usize * n_post + j as usize] += self.eta; } }
///         }
///     }
/// }
/// ```
pub trait Plasticity: Send + Sync {
    /// Changes weights given this step's spikes.
    fn on_step(&mut self, spikes: StepSpikes<'_>, synapses: SynapsesMut<'_>);
}
