//! Plasticity: a rule attached to a projection, called every step with that step's spikes.
//!
//! The network calls [`Plasticity::on_step`] after the projection's post-population has updated
//! (see the schedule in [`crate::network`]). The rule sees the pre and post spikes as indices local
//! to the projection's ranges, and the weights in their storage layout.
//!
//! The rules here, one file each:
//! - [`Stdp`] (`stdp.rs`): pair-based STDP with NEST `stdp_synapse`'s weight dependence
//!   (additive, multiplicative, Gütig's power law), all-to-all or nearest-spike pairing;
//! - [`TripletStdp`] (`triplet.rs`): Pfister & Gerstner (2006);
//! - [`RewardStdp`] (`reward.rs`): STDP into an eligibility trace, gated by dopamine
//!   (Izhikevich 2007);
//! - [`AccumulatedStdp`] (`accumulated.rs`): STDP into a weight derivative applied once a period
//!   (Izhikevich 2006, the polychronization network).
//!
//! All of them see spikes *at the synapse*: `timing.rs` moves each pre and post spike by its part
//! of the synapse's delay ([`DelayKind`]) and pairs them in the order they arrive there;
//! `deferred.rs` gives the same arrivals in bulk to a rule that only sums them for a period's end.

mod accumulated;
mod archive;
mod deferred;
mod reward;
mod stdp;
mod timing;
mod triplet;

pub use accumulated::{AccumulatedStdp, AccumulatedStdpParams};
pub use reward::{Dopamine, RewardStdp, RewardStdpParams};
pub use stdp::{Stdp, StdpParams};
pub use timing::{DelayKind, Pairing};
pub use triplet::{TripletStdp, TripletStdpParams};

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

impl SynapsesMut<'_> {
    /// The same synapses borrowed again, for a shorter time: to hand them to a helper and keep
    /// using them afterwards.
    pub fn reborrow(&mut self) -> SynapsesMut<'_> {
        match self {
            SynapsesMut::Dense {
                n_pre,
                n_post,
                weights,
            } => SynapsesMut::Dense {
                n_pre: *n_pre,
                n_post: *n_post,
                weights,
            },
            SynapsesMut::Sparse {
                row_ptr,
                post,
                weights,
            } => SynapsesMut::Sparse {
                row_ptr,
                post,
                weights,
            },
            SynapsesMut::Shared { geometry, taps } => SynapsesMut::Shared {
                geometry: *geometry,
                taps,
            },
        }
    }
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

    /// Called once when the rule is attached to a projection ([`crate::network::Network::set_plasticity`]),
    /// with the projection's structure: a rule checks the weights it is given and builds what it
    /// needs (an index by post neuron, per-synapse state). An error refuses the attachment.
    fn attach(&mut self, layout: &SynapseLayout<'_>) -> crate::error::Result<()> {
        let _ = layout;
        Ok(())
    }

    /// Called by [`crate::network::Network::reset`]: forget spike history and pending events (the
    /// network's step counter restarts at 0). Weights are kept, as the network keeps them.
    fn reset(&mut self) {}

    /// Brings the weights up to date as of the start of step `step` (all steps before it run),
    /// for rules that apply weight changes lazily; called at the end of every
    /// [`crate::network::Network::run`]. Rules whose weights are always current need nothing.
    fn sync(&mut self, step: u64, synapses: SynapsesMut<'_>) {
        let _ = (step, synapses);
    }
}

/// What a rule learns about its projection when it is attached ([`Plasticity::attach`]).
#[derive(Debug, Clone, Copy)]
pub struct SynapseLayout<'a> {
    /// The projection's name (for error messages).
    pub projection: &'a str,
    /// Pre-synaptic neurons (local indices `0..n_pre`).
    pub n_pre: usize,
    /// Post-synaptic neurons.
    pub n_post: usize,
    /// The network's time step in ms.
    pub dt_ms: f64,
    /// How many steps the pre spikes a rule is given lag its post spikes: 0 when the
    /// pre-population comes before the post-population in the schedule (or is it), 1 when it comes
    /// later (its latest spikes are then those of the previous step).
    pub pre_lag_steps: u64,
    /// The synapses.
    pub synapses: LayoutSynapses<'a>,
}

impl SynapseLayout<'_> {
    /// How many synapses the projection has (the length of its weight storage).
    pub fn n_synapses(&self) -> usize {
        match self.synapses {
            LayoutSynapses::Dense { weights, .. } | LayoutSynapses::Sparse { weights, .. } => {
                weights.len()
            }
            LayoutSynapses::Shared { taps, .. } => taps.len(),
        }
    }
}

/// The synapses of a projection, read-only, in storage layout (see [`SynapsesMut`]).
#[derive(Debug, Clone, Copy)]
pub enum LayoutSynapses<'a> {
    /// Dense, pre-major, one delay.
    Dense {
        /// The weights, `weights[pre * n_post + post]`.
        weights: &'a [f32],
        /// The projection's delay in steps.
        delay_steps: u32,
    },
    /// CSR by pre-synaptic neuron.
    Sparse {
        /// Row starts (n_pre + 1).
        row_ptr: &'a [u64],
        /// Post index of each synapse.
        post: &'a [u32],
        /// Weight of each synapse.
        weights: &'a [f32],
        /// Delays.
        delays: Delays<'a>,
    },
    /// A weight-shared convolution: one kernel for every position (see [`SynapsesMut::Shared`]).
    /// Rules that need a weight per synapse refuse it in [`Plasticity::attach`].
    Shared {
        /// The convolution's geometry.
        geometry: super::Conv2dGeometry,
        /// The kernel, tap-major.
        taps: &'a [f32],
        /// The projection's delay in steps.
        delay_steps: u32,
    },
}

/// Transmission delays of a projection, in steps.
#[derive(Debug, Clone, Copy)]
pub enum Delays<'a> {
    /// One delay for every synapse.
    Uniform(u32),
    /// One per synapse, in storage order.
    PerSynapse(&'a [u16]),
}
