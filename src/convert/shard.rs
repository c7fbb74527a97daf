//! One evaluation split into shards that run anywhere (a job array, a Dask cluster) and merge into
//! exactly the figures of the whole run.
//!
//! Shard `i` of `n` takes a contiguous range of the samples ([`range`]); each sample keeps its
//! index in the whole data set, which names its random streams, so it draws what it draws in the
//! whole run. A shard's [`Counts`] are whole numbers, and sums of whole numbers do not depend on
//! their order: [`merge`] adds them and derives the figures with the same function as a single run
//! ([`super::pipeline`]), so the merged record equals the unsharded one in every field but the
//! timings.
//!
//! ```
//! use somnet::convert::options::ConvertOptions;
//! use somnet::convert::pipeline::{calibration_set, convert, evaluate};
//! use somnet::convert::shard::{evaluate_shard, merge};
//! use somnet::data::{default_dir, load_named, Split};
//! use std::ops::ControlFlow;
//!
//! let ann = somnet::ann::arch::build("mlp:784-32-10", &[1, 28, 28], 10, &Default::default(), 1)?;
//! let train = load_named("mnist", &default_dir(), Split::Train)?;
//! let test = load_named("mnist", &default_dir(), Split::Test)?.head(30);
//! let options = ConvertOptions::default();
//! let snn = convert(&ann, &calibration_set(&train, 100), &options)?;
//! let go = |_| ControlFlow::Continue(());
//! let shards = (0..3)
//!     .map(|i| evaluate_shard(&snn, &test, i, 3, 8, &options, go))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let whole = evaluate(&snn, &test, 8, &options, go)?;
//! assert_eq!(merge(shards)?.snn_accuracy_per_step, whole.snn_accuracy_per_step);
//! # Ok::<(), somnet::Error>(())
//! ```

use std::ops::{ControlFlow, Range};

use serde::{Deserialize, Serialize};

use super::evaluate::{count as count_samples, Counts, SnnEvaluation};
use super::options::ConvertOptions;
use super::pipeline::{evaluation_record, set_figures, Converted};
use super::record::Evaluation;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// One shard's result: its counts and the record of its own samples (which carries the
/// conversion's constants: options, λ, MACs, energy layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's number, 0-based.
    pub index: usize,
    /// Shards in the split.
    pub count: usize,
    /// Correct ANN decisions on the shard's samples.
    pub ann_correct: u64,
    /// Seconds the shard's simulation took.
    pub seconds: f64,
    /// The exact sums.
    pub counts: Counts,
    /// The record of the shard's samples alone.
    pub evaluation: Evaluation,
}

/// `"i/n"` (shard i of n, 0-based) as (i, n).
///
/// ```
/// assert_eq!(somnet::convert::shard::parse("2/8").unwrap(), (2, 8));
/// assert!(somnet::convert::shard::parse("8/8").is_err());
/// ```
pub fn parse(text: &str) -> Result<(usize, usize)> {
    let bad = || Error::param("shard", text, "I/N with 0 <= I < N (shard I of N, from 0)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The samples of shard `index` of `count` among `n`: contiguous, sizes differing by at most one.
pub fn range(n: usize, index: usize, count: usize) -> Result<Range<usize>> {
    if count == 0 || index >= count {
        return Err(Error::param(
            "shard",
            format!("{index}/{count}"),
            "I/N with 0 <= I < N",
        ));
    }
    if count > n {
        return Err(Error::param(
            "shard",
            format!("{index}/{count}"),
            format!("at most {n} shards: the data set has {n} samples"),
        ));
    }
    Ok(n * index / count..n * (index + 1) / count)
}

/// Evaluates shard `index` of `count` of `data` (see [`super::pipeline::evaluate`] for the rest).
pub fn evaluate_shard(
    converted: &Converted,
    data: &Dataset,
    index: usize,
    count: usize,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Shard> {
    let r = range(data.len(), index, count)?;
    let mut part = data.select(&r.clone().collect::<Vec<_>>());
    part.name = data.name.clone();
    evaluate_part(
        converted, &part, r.start, index, count, steps, options, on_chunk,
    )
}

/// Evaluates the samples of shard `index` of `count` when only they are at hand (a worker that
/// received its part): `part` holds them, and `first_image` is the index of its first sample in
/// the whole data set ([`range`]`(n, index, count).start`).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_part(
    converted: &Converted,
    part: &Dataset,
    first_image: usize,
    index: usize,
    count: usize,
    steps: u64,
    options: &ConvertOptions,
    on_chunk: impl Fn(usize) -> ControlFlow<()> + Sync,
) -> Result<Shard> {
    options.validate()?;
    let predictions = converted.source().predict(part)?;
    let ann_correct = predictions
        .iter()
        .zip(&part.labels)
        .filter(|(p, &l)| **p == l as usize)
        .count() as u64;
    let t0 = std::time::Instant::now();
    let counts = count_samples(&converted.ann, part, first_image, steps, options, on_chunk)?;
    let seconds = t0.elapsed().as_secs_f64();
    let result = SnnEvaluation::from_counts(&counts)?;
    let ann_accuracy = ann_correct as f64 / part.len() as f64;
    let evaluation = evaluation_record(
        converted,
        part,
        steps,
        options,
        ann_accuracy,
        &result,
        seconds,
    );
    Ok(Shard {
        index,
        count,
        ann_correct,
        seconds,
        counts,
        evaluation,
    })
}

/// Merges every shard of one split into the record of the whole run. Refuses a missing,
/// repeated or foreign shard (another split, model, option set or step count), naming it.
/// `images_per_second` is the total over the shards' own simulation seconds.
pub fn merge(mut shards: Vec<Shard>) -> Result<Evaluation> {
    shards.sort_by_key(|s| s.index);
    let first = shards
        .first()
        .ok_or_else(|| Error::Unsupported("merge: no shards given".into()))?;
    let count = first.count;
    let template = first.evaluation.clone();
    let mut total = Counts {
        correct_per_step: vec![0; first.counts.correct_per_step.len()],
        layer_neurons: first.counts.layer_neurons.clone(),
        layer_synaptic_ops: vec![0; first.counts.layer_neurons.len()],
        layer_spikes: vec![0; first.counts.layer_neurons.len()],
        synaptic_ops_per_step: vec![0; first.counts.correct_per_step.len()],
        ..Counts::default()
    };
    let (mut ann_correct, mut seconds, mut next) = (0u64, 0.0, 0usize);
    for (k, s) in shards.iter().enumerate() {
        let what = format!("shard {}/{}", s.index, s.count);
        let differs = |field: &str| {
            Error::Unsupported(format!(
                "merge: {what} differs from shard {}/{count} in '{field}': not the same evaluation",
                first.index
            ))
        };
        if s.count != count {
            return Err(differs("count"));
        }
        if s.index != k {
            return Err(Error::Unsupported(format!(
                "merge: shard {k}/{count} is missing{}",
                if s.index < k {
                    format!(" and {what} is given twice")
                } else {
                    String::new()
                }
            )));
        }
        let e = &s.evaluation;
        for (field, same) in [
            ("model", e.model == template.model),
            ("dataset", e.dataset == template.dataset),
            ("steps", e.steps == template.steps),
            ("options", e.options == template.options),
            ("layer_scales", e.layer_scales == template.layer_scales),
            (
                "macs_per_image",
                e.macs_per_image == template.macs_per_image,
            ),
            ("layers", s.counts.layer_neurons == total.layer_neurons),
        ] {
            if !same {
                return Err(differs(field));
            }
        }
        if s.counts.first_image != next {
            return Err(Error::Unsupported(format!(
                "merge: {what} starts at sample {}, expected {next}",
                s.counts.first_image
            )));
        }
        next += s.counts.planned_images;
        total.add(&s.counts);
        ann_correct += s.ann_correct;
        seconds += s.seconds;
    }
    if shards.len() != count {
        return Err(Error::Unsupported(format!(
            "merge: {} of {count} shards given; shard {}/{count} is missing",
            shards.len(),
            shards.len()
        )));
    }
    total.planned_images = next;
    let result = SnnEvaluation::from_counts(&total)?;
    let layers: Vec<(String, u64)> = template
        .energy_pj
        .layers
        .iter()
        .map(|l| (l.name.clone(), l.macs))
        .collect();
    let mut e = template;
    set_figures(&mut e, &result, ann_correct as f64 / next as f64, &layers);
    e.images_per_second = result.images as f64 / seconds;
    Ok(e)
}
