//! Reports and plots of simulations and studies.

pub mod plot;
