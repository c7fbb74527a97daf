//! Typed handles: a population, a projection, and one end of a projection (a population or a
//! range of its neurons).

use std::ops::Range;

/// A population's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PopulationId(pub u32);

/// A projection's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectionId(pub u32);

impl PopulationId {
    /// The neurons `range` of this population, as a projection end.
    pub fn range(self, range: Range<u32>) -> Target {
        Target {
            pop: self,
            range: Some(range),
        }
    }
}

/// One end of a projection: a population, or a contiguous range of its neurons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The population.
    pub pop: PopulationId,
    /// The neurons; `None` is all of them.
    pub range: Option<Range<u32>>,
}

impl From<PopulationId> for Target {
    fn from(pop: PopulationId) -> Self {
        Target { pop, range: None }
    }
}
