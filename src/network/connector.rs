//! Connectors: which synapses a projection has, their weights and their delays.
//!
//! Connectors generate CSR rows by pre-synaptic neuron with post indices sorted within each row, in
//! time and memory proportional to the number of synapses (fixed probability skips geometrically
//! over absent synapses instead of testing N² pairs). Random draws come from streams named by
//! `(seed, purpose, projection, chunk of rows or posts)`, so the result does not depend on threads.

use rand_distr::Distribution;
use rayon::prelude::*;

use crate::error::{probability, Error, Result};
use crate::rng::{below, stream, uniform01, Purpose};

/// Rows (or posts) per random stream in connectors: fixed, so streams do not depend on threads.
const ROWS_PER_STREAM: usize = 1024;

/// Which synapses exist between a pre range of size `n_pre` and a post range of size `n_post`.
#[derive(Debug, Clone, PartialEq)]
pub enum Connector {
    /// Every pre to every post (stored densely when the delay is uniform).
    AllToAll,
    /// Each (pre, post) pair independently with probability `p`.
    FixedProbability(f64),
    /// Each post receives exactly `k` synapses from pre neurons drawn uniformly with replacement.
    FixedInDegree(u32),
    /// Exactly `m` synapses, each (pre, post) drawn uniformly with replacement.
    FixedTotalNumber(u64),
    /// Explicit (pre, post) pairs, local indices.
    List(Vec<(u32, u32)>),
}

/// Initial weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// The same weight everywhere.
    Constant(f32),
    /// Uniform in [low, high).
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound.
        high: f32,
    },
    /// Normal with mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation (≥ 0).
        std: f32,
    },
    /// One weight per synapse: in list order for [`Connector::List`], pre-major (`pre * n_post +
    /// post`) for [`Connector::AllToAll`].
    Values(Vec<f32>),
}

/// Transmission delays.
#[derive(Debug, Clone, PartialEq)]
pub enum Delay {
    /// One delay for the projection, in ms (must be whole steps).
    Ms(f64),
    /// One delay for the projection, in steps.
    Steps(u32),
    /// Per synapse, a whole number of steps drawn uniformly from those in [low_ms, high_ms].
    UniformMs {
        /// Lower bound (ms).
        low_ms: f64,
        /// Upper bound (ms).
        high_ms: f64,
    },
    /// One delay per synapse in ms (whole steps), in the same order as [`Weights::Values`].
    ValuesMs(Vec<f64>),
}

/// CSR rows by pre-synaptic neuron, post indices sorted within rows; no weights yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    pub row_ptr: Vec<u64>,
    pub post: Vec<u32>,
    /// For explicit lists: position of each synapse in the user's list (to place weights/delays).
    pub source_order: Option<Vec<u32>>,
}

impl Connector {
    /// Checks the connector's parameters against the ranges it connects.
    pub(crate) fn validate(&self, what: &str, n_pre: usize, n_post: usize) -> Result<()> {
        match self {
            Connector::FixedProbability(p) => {
                probability(&format!("{what}: connection probability"), *p)
            }
            Connector::FixedInDegree(_) | Connector::FixedTotalNumber(_)
                if n_pre == 0 || n_post == 0 =>
            {
                Err(Error::Unsupported(format!(
                    "{what}: cannot draw synapses between empty ranges"
                )))
            }
            Connector::List(pairs) => {
                for &(i, j) in pairs {
                    if i as usize >= n_pre {
                        return Err(Error::IndexOutOfRange {
                            what: format!("{what}: pre index"),
                            index: i as usize,
                            len: n_pre,
                        });
                    }
                    if j as usize >= n_post {
                        return Err(Error::IndexOutOfRange {
                            what: format!("{what}: post index"),
                            index: j as usize,
                            len: n_post,
                        });
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Generates the rows. `self_pair(i)` is the post index that is neuron i itself when pre and
    /// post ranges overlap and autapses are excluded.
    pub(crate) fn rows(
        &self,
        seed: u64,
        proj: u64,
        n_pre: usize,
        n_post: usize,
        self_pair: impl Fn(u32) -> Option<u32> + Sync,
    ) -> Rows {
        match self {
            Connector::AllToAll => {
                let mut row_ptr = Vec::with_capacity(n_pre + 1);
                let mut post = Vec::new();
                row_ptr.push(0);
                for i in 0..n_pre as u32 {
                    post.extend((0..n_post as u32).filter(|&j| self_pair(i) != Some(j)));
                    row_ptr.push(post.len() as u64);
                }
                Rows {
                    row_ptr,
                    post,
                    source_order: None,
                }
            }
            Connector::FixedProbability(p) => {
                fixed_probability(seed, proj, n_pre, n_post, *p, &self_pair)
            }
            Connector::FixedInDegree(k) => {
                let pairs = fixed_in_degree(seed, proj, n_pre, n_post, *k, &self_pair);
                rows_from_pairs(n_pre, pairs, false)
            }
            Connector::FixedTotalNumber(m) => {
                let mut rng = stream(seed, Purpose::Connectivity, proj, 0, 0);
                let mut pairs = Vec::with_capacity(*m as usize);
                while (pairs.len() as u64) < *m {
                    let i = below(&mut rng, n_pre as u64) as u32;
                    let j = below(&mut rng, n_post as u64) as u32;
                    if self_pair(i) != Some(j) {
                        pairs.push((i, j));
                    }
                }
                rows_from_pairs(n_pre, pairs, false)
            }
            Connector::List(pairs) => rows_from_pairs(n_pre, pairs.clone(), true),
        }
    }
}

/// Geometric skipping: the gap to the next present synapse is Geometric(p), so the cost is
/// proportional to the synapses drawn, not to n_pre·n_post.
fn fixed_probability(
    seed: u64,
    proj: u64,
    n_pre: usize,
    n_post: usize,
    p: f64,
    self_pair: &(dyn Fn(u32) -> Option<u32> + Sync),
) -> Rows {
    let chunks: Vec<(Vec<u32>, Vec<u32>)> = (0..n_pre.div_ceil(ROWS_PER_STREAM))
        .into_par_iter()
        .map(|c| {
            let mut rng = stream(seed, Purpose::Connectivity, proj, c as u64, 0);
            let rows = c * ROWS_PER_STREAM..((c + 1) * ROWS_PER_STREAM).min(n_pre);
            let mut lens = Vec::with_capacity(rows.len());
            let mut post =
                Vec::with_capacity((rows.len() as f64 * n_post as f64 * p * 1.1) as usize);
            // ln(1 − p) accurately for small p; zero only when p is below f64 resolution (no synapses).
            let log_q = (-p).ln_1p();
            for i in rows {
                let before = post.len();
                if p >= 1.0 {
                    post.extend(0..n_post as u32);
                } else if log_q < 0.0 {
                    let mut j = -1.0f64;
                    loop {
                        // 1 − U is in (0, 1], so its log is finite; the gap is computed in f64 so a
                        // tiny p (gap near infinity) ends the row instead of overflowing.
                        j += ((1.0 - uniform01(&mut rng)).ln() / log_q).floor() + 1.0;
                        if j >= n_post as f64 {
                            break;
                        }
                        post.push(j as u32);
                    }
                }
                if let Some(own) = self_pair(i as u32) {
                    let row = &mut post[before..];
                    if let Ok(pos) = row.binary_search(&own) {
                        post.remove(before + pos);
                    }
                }
                lens.push((post.len() - before) as u32);
            }
            (lens, post)
        })
        .collect();
    let mut row_ptr = Vec::with_capacity(n_pre + 1);
    row_ptr.push(0u64);
    let total: usize = chunks.iter().map(|c| c.1.len()).sum();
    let mut post = Vec::with_capacity(total);
    for (lens, p) in chunks {
        for l in lens {
            let last = *row_ptr.last().expect("row_ptr starts with 0");
            row_ptr.push(last + l as u64);
        }
        post.extend_from_slice(&p);
    }
    Rows {
        row_ptr,
        post,
        source_order: None,
    }
}

/// Draws `k` pre neurons for every post; returns (pre, post) pairs in post order.
fn fixed_in_degree(
    seed: u64,
    proj: u64,
    n_pre: usize,
    n_post: usize,
    k: u32,
    self_pair: &(dyn Fn(u32) -> Option<u32> + Sync),
) -> Vec<(u32, u32)> {
    let chunks: Vec<Vec<(u32, u32)>> = (0..n_post.div_ceil(ROWS_PER_STREAM))
        .into_par_iter()
        .map(|c| {
            let mut rng = stream(seed, Purpose::Connectivity, proj, c as u64, 0);
            let posts = c * ROWS_PER_STREAM..((c + 1) * ROWS_PER_STREAM).min(n_post);
            let mut out = Vec::with_capacity(posts.len() * k as usize);
            for j in posts {
                let mut drawn = 0;
                while drawn < k {
                    let i = below(&mut rng, n_pre as u64) as u32;
                    if self_pair(i) != Some(j as u32) {
                        out.push((i, j as u32));
                        drawn += 1;
                    }
                }
            }
            out
        })
        .collect();
    chunks.concat()
}

/// Counting sort of (pre, post) pairs into rows; rows are then sorted by post (stable, so the
/// user's order survives among duplicates of the same pair).
fn rows_from_pairs(n_pre: usize, pairs: Vec<(u32, u32)>, keep_order: bool) -> Rows {
    let mut counts = vec![0u64; n_pre + 1];
    for &(i, _) in &pairs {
        counts[i as usize + 1] += 1;
    }
    for i in 0..n_pre {
        counts[i + 1] += counts[i];
    }
    let row_ptr = counts.clone();
    let mut fill = counts;
    let mut post = vec![0u32; pairs.len()];
    let mut order = vec![0u32; if keep_order { pairs.len() } else { 0 }];
    for (s, &(i, j)) in pairs.iter().enumerate() {
        let at = fill[i as usize] as usize;
        post[at] = j;
        if keep_order {
            order[at] = s as u32;
        }
        fill[i as usize] += 1;
    }
    for i in 0..n_pre {
        let (a, b) = (row_ptr[i] as usize, row_ptr[i + 1] as usize);
        if keep_order {
            let mut idx: Vec<(u32, u32)> = post[a..b]
                .iter()
                .copied()
                .zip(order[a..b].iter().copied())
                .collect();
            idx.sort_by_key(|&(j, _)| j);
            for (k, (j, o)) in idx.into_iter().enumerate() {
                post[a + k] = j;
                order[a + k] = o;
            }
        } else {
            post[a..b].sort_unstable();
        }
    }
    Rows {
        row_ptr,
        post,
        source_order: keep_order.then_some(order),
    }
}

impl Weights {
    /// Checks the parameters; `n` is the number of synapses for [`Weights::Values`].
    pub(crate) fn validate(&self, what: &str, n: usize) -> Result<()> {
        let fin =
            |name: &str, x: f32| crate::error::finite(&format!("{what}: weights.{name}"), x as f64);
        match self {
            Weights::Constant(w) => fin("constant", *w),
            Weights::Uniform { low, high } => {
                fin("low", *low)?;
                fin("high", *high)?;
                if low > high {
                    return Err(Error::param(
                        format!("{what}: weights.low"),
                        low,
                        format!("<= high = {high}"),
                    ));
                }
                Ok(())
            }
            Weights::Normal { mean, std } => {
                fin("mean", *mean)?;
                fin("std", *std)?;
                if *std < 0.0 {
                    return Err(Error::param(format!("{what}: weights.std"), std, ">= 0"));
                }
                Ok(())
            }
            Weights::Values(v) => {
                if v.len() != n {
                    return Err(Error::SizeMismatch {
                        what: format!("{what}: weights"),
                        expected: n,
                        got: v.len(),
                    });
                }
                match v.iter().position(|x| !x.is_finite()) {
                    Some(i) => Err(Error::param(
                        format!("{what}: weights[{i}]"),
                        v[i],
                        "a finite number",
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    /// Draws one weight per synapse in CSR order (`rows.source_order` maps values of a list).
    pub(crate) fn draw(&self, seed: u64, proj: u64, rows: &Rows) -> Vec<f32> {
        let n = rows.post.len();
        match self {
            Weights::Constant(w) => vec![*w; n],
            Weights::Values(v) => match &rows.source_order {
                Some(order) => order.iter().map(|&o| v[o as usize]).collect(),
                None => v.clone(),
            },
            Weights::Uniform { low, high } => {
                draw_per_row(seed, proj, Purpose::Weights, rows, |rng| {
                    low + (high - low) * uniform01(rng) as f32
                })
            }
            Weights::Normal { mean, std } => {
                let normal =
                    rand_distr::Normal::new(*mean, *std).expect("std validated >= 0 and finite");
                draw_per_row(seed, proj, Purpose::Weights, rows, |rng| normal.sample(rng))
            }
        }
    }
}

/// One value per synapse in CSR order, from a stream per chunk of rows (parallel, deterministic).
pub(crate) fn draw_per_row<T: Send + Default + Clone>(
    seed: u64,
    proj: u64,
    purpose: Purpose,
    rows: &Rows,
    f: impl Fn(&mut crate::rng::Stream) -> T + Sync,
) -> Vec<T> {
    let n_pre = rows.row_ptr.len() - 1;
    let mut out = vec![T::default(); rows.post.len()];
    let mut pieces: Vec<&mut [T]> = Vec::new();
    let mut rest = out.as_mut_slice();
    for c in 0..n_pre.div_ceil(ROWS_PER_STREAM) {
        let end_row = ((c + 1) * ROWS_PER_STREAM).min(n_pre);
        let len = (rows.row_ptr[end_row] - rows.row_ptr[c * ROWS_PER_STREAM]) as usize;
        let (head, tail) = rest.split_at_mut(len);
        pieces.push(head);
        rest = tail;
    }
    pieces.into_par_iter().enumerate().for_each(|(c, piece)| {
        let mut rng = stream(seed, purpose, proj, c as u64, 0);
        for x in piece.iter_mut() {
            *x = f(&mut rng);
        }
    });
    out
}
