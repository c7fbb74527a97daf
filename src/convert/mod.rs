//! ANN → SNN conversion, one file per stage.
//!
//! - [`build`]: the spiking network on the engine (dense, convolution and pooling projections) and
//!   per-step decisions.
//! - [`calibrate`]: the drive-to-current map of converted Izhikevich neurons, from their f-I curve.
//! - [`plan`]: what a graph of layers (residual junctions, concatenations, global pooling)
//!   becomes: its populations and the projections into each.
//! - [`pipeline`]: the whole conversion as two calls: [`pipeline::convert`] (fold, normalise,
//!   check) and [`pipeline::evaluate`] (a typed [`record::Evaluation`]).
//! - [`record`]: the typed records: a converted file's conversion, an evaluation, a table row.
//! - [`energy`]: MACs against synaptic operations in pJ (Horowitz 2014).
//! - [`evaluate`]: accuracy after every step, latency, synaptic operations, over a data set.
//! - [`layers`]: what each Dense, Conv2d and AvgPool2d layer becomes (dense matrix or synapse list).
//! - [`fold`]: batch normalisation folded into the preceding convolution or dense layer.
//! - [`normalize`]: data-based weight/threshold normalisation (max or percentile, per layer or per
//!   channel).
//! - [`shortcuts`]: identity shortcuts of residual junctions made explicit weighted layers, so
//!   that normalisation can reconcile the branches' scales (Hu et al. 2021).
//! - [`to_nir`]: a converted network as a NIR graph, somnet's settings in its metadata.
//! - [`offset_spikes`]: offset-spike calibration, a per-sample pre-run that moves each neuron's
//!   start by one threshold where it fired once too often or too rarely (Hao et al. 2023).
//! - [`options`]: the plausibility knobs (input coding, neuron, reset, refractoriness, initial
//!   potential, Dale's principle, readout, early exit), validated, defaults cited.
//!
//! The stages transform an [`crate::ann::Ann`] into an equivalent one that a spiking network of
//! unit-threshold neurons can run; building and simulating that network follows.

pub mod batch;
pub mod bias_calibration;
pub mod build;
pub mod calibrate;
pub mod energy;
pub mod evaluate;
pub mod fold;
pub mod layers;
pub mod normalize;
pub mod offset_spikes;
pub mod options;
pub mod pipeline;
pub mod plan;
pub mod record;
pub mod shard;
pub mod shortcuts;
pub mod to_nir;
pub mod ttfs;
pub mod weight_calibration;
