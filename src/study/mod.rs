//! Reports and plots of simulations and studies.

pub mod energy;
pub mod plot;
