//! The spike test: how a membrane is compared with its threshold.

/// How the membrane is compared with the threshold. The engine's neurons fire at `v ≥ θ`
/// ([`SpikeTest::AtLeast`], as NEST and Brian2's defaults); some frameworks fire only above it
/// (`v > θ`: snnTorch, Norse), which matters for inputs that land exactly on θ, as integer
/// spike counts on an integer threshold do. Set per population with
/// [`crate::network::Network::set_spike_test`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum SpikeTest {
    /// Fire when `v ≥ θ`.
    #[default]
    AtLeast,
    /// Fire when `v > θ`.
    Above,
}

impl SpikeTest {
    /// The value the membrane is compared with by `≥`: θ itself, or for `v > θ` the next float
    /// above θ (for finite floats `v > θ` holds exactly when `v ≥ next_up(θ)`), so one
    /// comparison serves both tests and the vectorised loop does not change.
    pub(crate) fn firing_level(self, v_th: f32) -> f32 {
        match self {
            SpikeTest::AtLeast => v_th,
            SpikeTest::Above => v_th.next_up(),
        }
    }
}
