//! Samples run in lanes: B copies of a converted network stepped together
//! ([`crate::network::Lockstep`]), so that each dense weight row is read once per step for all the
//! samples whose pre neuron fired.
//!
//! A lane whose sample is done (T steps, or early exit) reports it and takes the next sample at
//! once, so lanes never idle while samples remain. A sample's numbers do not depend on its lane,
//! its neighbours or B: every lane computes bit for bit what [`SpikingModel::run_sample`] does.

use ndarray::ArrayView1;

use super::build::{Decider, SampleRun, SpikingModel};
use crate::error::{Error, Result};
use crate::network::{Lockstep, Network};

/// A sample for [`run_lanes`]: its number (which names its Poisson draws) and its image.
pub type Sample<'a> = (u64, ArrayView1<'a, f32>);

/// Runs every sample of `samples` for up to `steps` steps on `batch` lanes copied from `model`
/// (which is left as it is), calling `done(position, run, lane)` as each sample finishes, with
/// the lane whose counters (`lane.net.n_events()`, spike counts) still hold that sample's run.
/// Samples finish in an order that depends on early exit, never their numbers.
///
/// ```no_run
/// # fn demo(model: &somnet::convert::build::SpikingModel, images: &[Vec<f32>]) -> somnet::error::Result<()> {
/// use somnet::convert::batch::run_lanes;
/// let samples: Vec<_> = images
///     .iter()
///     .enumerate()
///     .map(|(i, x)| (i as u64, ndarray::ArrayView1::from(&x[..])))
///     .collect();
/// let mut correct = vec![None; samples.len()];
/// run_lanes(model, 16, &samples, 64, |k, run, _lane| {
///     correct[k] = run.decisions.last().copied().flatten();
///     Ok(())
/// })?;
/// # Ok(()) }
/// ```
pub fn run_lanes(
    model: &SpikingModel,
    batch: usize,
    samples: &[Sample<'_>],
    steps: u64,
    mut done: impl FnMut(usize, &SampleRun, &SpikingModel) -> Result<()>,
) -> Result<()> {
    if batch == 0 {
        return Err(Error::param("batch", 0, "at least 1 sample per step"));
    }
    if steps == 0 {
        return Err(Error::param("steps", 0, "at least 1"));
    }
    let n_lanes = batch.min(samples.len()).min(1 << 16);
    let mut lanes: Vec<SpikingModel> = (0..n_lanes)
        .map(|_| model.lane_copy())
        .collect::<Result<_>>()?;
    // Per lane: the position of its sample in `samples`, its decisions, its next step.
    let mut slots: Vec<Option<(usize, Decider, u64)>> = vec![None; n_lanes];
    let mut next = 0;
    for (lane, slot) in lanes.iter_mut().zip(&mut slots) {
        lane.start(samples[next].1, samples[next].0)?;
        *slot = Some((next, lane.decider(steps), 0));
        next += 1;
    }
    let mut together = Lockstep::default();
    let mut scratch = Vec::new();
    loop {
        let mut nets: Vec<&mut Network> = Vec::with_capacity(n_lanes);
        for (lane, slot) in lanes.iter_mut().zip(&slots) {
            if let Some((k, _, t)) = slot {
                lane.inject(samples[*k].0, *t, &mut scratch)?;
                nets.push(&mut lane.net);
            }
        }
        if nets.is_empty() {
            return Ok(());
        }
        match &mut nets[..] {
            // One lane: the network's own step (the same numbers) without the grouping's
            // bookkeeping, which a lane alone does not need.
            [only] => only.step(),
            _ => together.step(&mut nets)?,
        }
        for (lane, slot) in lanes.iter_mut().zip(&mut slots) {
            let Some((k, decider, t)) = slot else {
                continue;
            };
            *t += 1;
            if !lane.decide(decider)? {
                continue;
            }
            done(*k, &decider.run, lane)?;
            *slot = if next < samples.len() {
                lane.start(samples[next].1, samples[next].0)?;
                next += 1;
                Some((next - 1, lane.decider(steps), 0))
            } else {
                None
            };
        }
    }
}
