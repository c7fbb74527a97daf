//! Spike timing at the synapse, shared by the spike-timing rules: when each pre and post spike
//! reaches each synapse, what the traces of the other side are worth there, and in which order
//! the rule sees the arrivals.
//!
//! A synapse with transmission delay d (steps) is reached by a pre spike of step t_pre at
//! t_pre + d_ax and by a post spike of step t_post (back-propagating) at t_post + d_dend, with
//! (d_ax, d_dend) = (0, d) for [`DelayKind::Dendritic`] (NEST's convention for its STDP synapses)
//! or (d, 0) for [`DelayKind::Axonal`]. A rule sees, in the order the arrivals happen:
//! - a **post arrival** (potentiation) with the pre traces at the synapse just before it,
//! - a **pre arrival** (depression) with the post traces at the synapse just before it,
//!
//! and, at equal times, post arrivals before pre arrivals, neither seeing the other (NEST's order:
//! its `stdp_synapse` facilitates for post spikes up to and including the pre spike's time, then
//! depresses, and pairs only spikes strictly apart). "Just before" is strict: a pre and a post
//! spike that reach the synapse in the same step do not pair.
//!
//! Traces are kept per neuron, not per synapse: each neuron's recent spikes (with its trace values
//! just after each) sit in a short archive, long enough to answer for the longest delay, and the
//! trace at the synapse at time x is the neuron's trace at x − (that side's delay). Arrivals that
//! lie in the future when the spike happens (the delayed side) wait in a ring of per-step lists.
//! Work grows with spikes × fan-out (and fan-in for post spikes), never with the synapse count
//! per step.

use std::collections::VecDeque;

use super::{Delays, LayoutSynapses, StepSpikes, SynapseLayout, SynapsesMut};
use crate::error::{Error, Result};

/// How a trace responds to a spike: how a spike pairs with the other side's earlier spikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pairing {
    /// Each spike adds 1 to its trace: every pre spike pairs with every post spike (NEST
    /// `stdp_synapse`, `stdp_triplet_synapse`).
    #[default]
    AllToAll,
    /// Each spike sets its trace to 1: a spike pairs only with the nearest earlier spike of the
    /// other side, both ways (symmetric nearest-neighbour, Morrison et al. 2008, Fig. 7A; NEST
    /// `stdp_nn_symm_synapse`).
    Nearest,
}

/// Which part of a projection's transmission delay a spike-timing rule puts where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelayKind {
    /// The whole delay is dendritic (NEST's convention for its STDP synapses): a pre spike reaches
    /// the synapse at once, a post spike reaches it d later, so a pre spike at t_pre and a post
    /// spike at t_post pair with Δt = t_post + d − t_pre.
    #[default]
    Dendritic,
    /// The whole delay is axonal (Brian2's `on_pre` delay, Izhikevich's 2006 polychronization
    /// model): a pre spike reaches the synapse d later, a post spike at once: Δt = t_post − t_pre − d.
    Axonal,
}

/// One arrival at a synapse, as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<const K: usize> {
    /// The synapse (storage index).
    pub syn: usize,
    /// The step at which the spike reaches the synapse.
    pub t: u64,
    /// The other side's traces at the synapse just before `t`.
    pub other: [f64; K],
    /// The arriving side's own traces just before its spike (Pfister & Gerstner's `t − ε`).
    pub own: [f64; K],
}

/// What a spike-timing rule does on each arrival.
pub(crate) trait OnArrival<const K: usize> {
    /// A post spike reaches the synapse (potentiation side).
    fn post_arrives(&mut self, a: Arrival<K>, w: &mut f32);
    /// A pre spike reaches the synapse (depression side).
    fn pre_arrives(&mut self, a: Arrival<K>, w: &mut f32);
}

/// Per-neuron archive of recent spikes with `K` traces each.
#[derive(Debug, Clone)]
struct Archive<const K: usize> {
    /// Per trace: `ln` of its decay per step (−dt/τ).
    ln_decay: [f64; K],
    /// `decay[k][n]` = e^{n·ln_decay[k]} for small n.
    table: Vec<[f64; K]>,
    pairing: Pairing,
    /// Steps back that queries can reach.
    keep: u64,
    /// Per neuron: (spike step, trace values just after the spike), oldest first.
    spikes: Vec<VecDeque<(u64, [f64; K])>>,
}

const TABLE: usize = 512;

impl<const K: usize> Archive<K> {
    fn new(n: usize, tau_steps: [f64; K], pairing: Pairing, keep: u64) -> Self {
        let ln_decay = tau_steps.map(|tau| -1.0 / tau);
        let table = (0..TABLE)
            .map(|n| ln_decay.map(|l| (l * n as f64).exp()))
            .collect();
        Archive {
            ln_decay,
            table,
            pairing,
            keep,
            spikes: vec![VecDeque::new(); n],
        }
    }

    /// e^{n·ln_decay}, per trace.
    #[inline]
    fn decay(&self, n: u64) -> [f64; K] {
        match self.table.get(n as usize) {
            Some(d) => *d,
            None => self.ln_decay.map(|l| (l * n as f64).exp()),
        }
    }

    /// The neuron's traces just before step `x` (its spikes at steps < x only).
    #[inline]
    fn before(&self, i: usize, x: i64) -> [f64; K] {
        for &(t, v) in self.spikes[i].iter().rev() {
            if (t as i64) < x {
                let d = self.decay((x - t as i64) as u64);
                return std::array::from_fn(|k| v[k] * d[k]);
            }
        }
        [0.0; K]
    }

    /// Adds a spike of neuron `i` at step `t` (after every query about times ≤ t is answered).
    fn record(&mut self, i: usize, t: u64) {
        let v = match self.pairing {
            Pairing::AllToAll => self.before(i, t as i64).map(|x| x + 1.0),
            Pairing::Nearest => [1.0; K],
        };
        let q = &mut self.spikes[i];
        q.push_back((t, v));
        // Queries reach back `keep` steps: the newest spike older than that answers them all.
        while q.len() >= 2 && q[1].0 + self.keep < t {
            q.pop_front();
        }
    }

    fn clear(&mut self) {
        self.spikes.iter_mut().for_each(VecDeque::clear);
    }
}

/// Synapses by post neuron, for post arrivals.
#[derive(Debug, Clone)]
enum ByPost {
    /// Dense: post j's synapses are `i · n_post + j` for every pre i.
    Dense { n_pre: usize, n_post: usize },
    /// Sparse: post j's synapses are `syn[col_ptr[j]..col_ptr[j + 1]]` with pre `pre[..]`.
    Sparse {
        col_ptr: Vec<usize>,
        syn: Vec<u32>,
        pre: Vec<u32>,
    },
}

/// An arrival waiting for its step: (synapse, pre, post).
type Pending = (u32, u32, u32);

/// The spike-timing machinery of one plastic projection with `K` traces per side.
#[derive(Debug, Clone)]
pub(crate) struct SpikeTiming<const K: usize> {
    kind: DelayKind,
    lag: u64,
    by_post: ByPost,
    /// Per-synapse delays (steps) when they differ.
    delays: Option<Vec<u16>>,
    uniform_delay: u32,
    pre: Archive<K>,
    post: Archive<K>,
    /// Arrivals in the future, by step modulo the ring length.
    pending_pre: Vec<Vec<Pending>>,
    pending_post: Vec<Vec<Pending>>,
}

impl<const K: usize> SpikeTiming<K> {
    /// Builds the machinery for a projection: traces with time constants `tau_ms` (per side),
    /// pairing and delay convention.
    pub fn new(
        layout: &SynapseLayout<'_>,
        tau_pre_ms: [f64; K],
        tau_post_ms: [f64; K],
        pairing: Pairing,
        kind: DelayKind,
    ) -> Result<Self> {
        let (by_post, delays, uniform_delay, n_syn) = match layout.synapses {
            LayoutSynapses::Dense {
                weights,
                delay_steps,
            } => (
                ByPost::Dense {
                    n_pre: layout.n_pre,
                    n_post: layout.n_post,
                },
                None,
                delay_steps,
                weights.len(),
            ),
            LayoutSynapses::Sparse {
                row_ptr,
                post,
                delays,
                ..
            } => {
                let mut col_ptr = vec![0usize; layout.n_post + 1];
                for &j in post {
                    col_ptr[j as usize + 1] += 1;
                }
                for j in 0..layout.n_post {
                    col_ptr[j + 1] += col_ptr[j];
                }
                let mut fill = col_ptr.clone();
                let mut syn = vec![0u32; post.len()];
                let mut pre = vec![0u32; post.len()];
                for i in 0..layout.n_pre {
                    let lo = row_ptr[i] as usize;
                    for (k, &j) in post[lo..row_ptr[i + 1] as usize].iter().enumerate() {
                        let j = j as usize;
                        syn[fill[j]] = (lo + k) as u32;
                        pre[fill[j]] = i as u32;
                        fill[j] += 1;
                    }
                }
                let (per, uniform) = match delays {
                    Delays::Uniform(d) => (None, d),
                    Delays::PerSynapse(d) => (Some(d.to_vec()), 0),
                };
                (
                    ByPost::Sparse { col_ptr, syn, pre },
                    per,
                    uniform,
                    post.len(),
                )
            }
        };
        if n_syn > u32::MAX as usize {
            return Err(Error::Unsupported(format!(
                "projection {}: {n_syn} synapses; a spike-timing rule handles at most {} per projection",
                layout.projection,
                u32::MAX
            )));
        }
        let max_delay = match &delays {
            Some(d) => d.iter().copied().max().unwrap_or(0) as u32,
            None => uniform_delay,
        };
        let steps = |tau: f64| tau / layout.dt_ms;
        let keep = max_delay as u64 + 2;
        let ring = max_delay as usize + 1;
        Ok(SpikeTiming {
            kind,
            lag: layout.pre_lag_steps,
            by_post,
            delays,
            uniform_delay,
            pre: Archive::new(layout.n_pre, tau_pre_ms.map(steps), pairing, keep),
            post: Archive::new(layout.n_post, tau_post_ms.map(steps), pairing, keep),
            pending_pre: vec![Vec::new(); ring],
            pending_post: vec![Vec::new(); ring],
        })
    }

    /// Forgets spike history and pending arrivals.
    pub fn reset(&mut self) {
        self.pre.clear();
        self.post.clear();
        self.pending_pre.iter_mut().for_each(Vec::clear);
        self.pending_post.iter_mut().for_each(Vec::clear);
    }

    /// (axonal, dendritic) delay of a synapse, in steps.
    #[inline]
    fn split(&self, syn: usize) -> (u64, u64) {
        let d = match &self.delays {
            Some(d) => d[syn] as u64,
            None => self.uniform_delay as u64,
        };
        match self.kind {
            DelayKind::Dendritic => (0, d),
            DelayKind::Axonal => (d, 0),
        }
    }

    #[inline]
    fn slot(&self, t: u64) -> usize {
        (t % self.pending_pre.len() as u64) as usize
    }

    /// The arrival at step `t` of synapse `(syn, pre, post)`'s pre spike (`post_side` false) or
    /// post spike (true): the other side's traces at the synapse and the arriving side's own,
    /// both just before.
    #[inline]
    fn arrival(&self, (syn, i, j): Pending, t: u64, post_side: bool) -> Arrival<K> {
        let (ax, dend) = self.split(syn as usize);
        let pre = self.pre.before(i as usize, t as i64 - ax as i64);
        let post = self.post.before(j as usize, t as i64 - dend as i64);
        let (other, own) = if post_side { (pre, post) } else { (post, pre) };
        Arrival {
            syn: syn as usize,
            t,
            other,
            own,
        }
    }

    fn post_arrival(&self, rule: &mut impl OnArrival<K>, w: &mut [f32], p: Pending, t: u64) {
        rule.post_arrives(self.arrival(p, t, true), &mut w[p.0 as usize]);
    }

    fn pre_arrival(&self, rule: &mut impl OnArrival<K>, w: &mut [f32], p: Pending, t: u64) {
        rule.pre_arrives(self.arrival(p, t, false), &mut w[p.0 as usize]);
    }

    /// One step: the arrivals of this step's spikes (and of earlier ones now due), in order.
    pub fn step(
        &mut self,
        spikes: StepSpikes<'_>,
        synapses: SynapsesMut<'_>,
        rule: &mut impl OnArrival<K>,
    ) {
        let t = spikes.step;
        let (rows, w): (Rows<'_>, &mut [f32]) = match synapses {
            SynapsesMut::Dense {
                n_post, weights, ..
            } => (Rows::Dense { n_post }, weights),
            SynapsesMut::Sparse {
                row_ptr,
                post,
                weights,
            } => (Rows::Sparse { row_ptr, post }, weights),
            // `Network::set_plasticity` refuses weight-shared projections.
            SynapsesMut::Shared { .. } => return,
        };
        // The pre spikes given are those of step t − lag (none exist before step 0).
        let pre_spikes: &[u32] = if t >= self.lag { spikes.pre } else { &[] };
        let tp = t.saturating_sub(self.lag);
        // 1. Pre spikes: arrivals already past (a pre-population later in the schedule with no
        //    axonal delay) happen now, first; future ones wait; those due now wait for step 4.
        for &i in pre_spikes {
            for (syn, j) in rows.row(i as usize) {
                let x = tp + self.split(syn).0;
                if x < t {
                    self.pre_arrival(rule, w, (syn as u32, i, j), x);
                } else if x > t {
                    let s = self.slot(x);
                    self.pending_pre[s].push((syn as u32, i, j));
                }
            }
        }
        if tp < t {
            for &i in pre_spikes {
                self.pre.record(i as usize, tp);
            }
        }
        // 2. Post arrivals at t: those that waited, then this step's post spikes without
        //    dendritic delay; spikes with one wait.
        let s = self.slot(t);
        let due = std::mem::take(&mut self.pending_post[s]);
        for &p in &due {
            self.post_arrival(rule, w, p, t);
        }
        self.pending_post[s] = reuse(due);
        for &j in spikes.post {
            self.for_each_into(j as usize, |this, syn, i| {
                let dend = this.split(syn).1;
                let p = (syn as u32, i, j);
                if dend == 0 {
                    this.post_arrival(rule, w, p, t);
                } else {
                    let s = this.slot(t + dend);
                    this.pending_post[s].push(p);
                }
            });
        }
        // 3. Pre arrivals at t: those that waited, then the given pre spikes due now.
        let due = std::mem::take(&mut self.pending_pre[s]);
        for &p in &due {
            self.pre_arrival(rule, w, p, t);
        }
        self.pending_pre[s] = reuse(due);
        for &i in pre_spikes {
            for (syn, j) in rows.row(i as usize) {
                if tp + self.split(syn).0 == t {
                    self.pre_arrival(rule, w, (syn as u32, i, j), t);
                }
            }
        }
        if tp == t {
            for &i in pre_spikes {
                self.pre.record(i as usize, t);
            }
        }
        // 4. This step's post spikes join the archive after every query about step t.
        for &j in spikes.post {
            self.post.record(j as usize, t);
        }
    }

    /// Calls `f(self, synapse, pre)` for every synapse onto post neuron `j`, in pre order.
    fn for_each_into(&mut self, j: usize, mut f: impl FnMut(&mut Self, usize, u32)) {
        match &self.by_post {
            ByPost::Dense { n_pre, n_post } => {
                let (n_pre, n_post) = (*n_pre, *n_post);
                for i in 0..n_pre {
                    f(self, i * n_post + j, i as u32);
                }
            }
            ByPost::Sparse { col_ptr, .. } => {
                let (lo, hi) = (col_ptr[j], col_ptr[j + 1]);
                for k in lo..hi {
                    let ByPost::Sparse { syn, pre, .. } = &self.by_post else {
                        unreachable!()
                    };
                    let (s, i) = (syn[k] as usize, pre[k]);
                    f(self, s, i);
                }
            }
        }
    }
}

/// An emptied list back, keeping its allocation.
fn reuse(mut v: Vec<Pending>) -> Vec<Pending> {
    v.clear();
    v
}

/// Synapses by pre neuron, read from the storage each step.
#[derive(Clone, Copy)]
enum Rows<'a> {
    Dense { n_post: usize },
    Sparse { row_ptr: &'a [u64], post: &'a [u32] },
}

impl Rows<'_> {
    /// (synapse, post) for every synapse out of pre neuron `i`.
    fn row(&self, i: usize) -> impl Iterator<Item = (usize, u32)> + '_ {
        let rows = *self;
        let (lo, hi) = match rows {
            Rows::Dense { n_post } => (i * n_post, (i + 1) * n_post),
            Rows::Sparse { row_ptr, .. } => (row_ptr[i] as usize, row_ptr[i + 1] as usize),
        };
        (lo..hi).map(move |s| match rows {
            Rows::Dense { .. } => (s, (s - lo) as u32),
            Rows::Sparse { post, .. } => (s, post[s]),
        })
    }
}

/// Checks that every weight lies between 0 and `w_max` (which may be negative, for inhibitory
/// synapses: NEST's rule that a weight and its bound share a sign), naming the first that does not.
pub(crate) fn check_weights(layout: &SynapseLayout<'_>, rule: &str, w_max: f64) -> Result<()> {
    let weights = match layout.synapses {
        LayoutSynapses::Dense { weights, .. } | LayoutSynapses::Sparse { weights, .. } => weights,
    };
    let (lo, hi) = if w_max >= 0.0 {
        (0.0, w_max)
    } else {
        (w_max, 0.0)
    };
    match weights
        .iter()
        .position(|&w| !(lo..=hi).contains(&(w as f64)))
    {
        None => Ok(()),
        Some(k) => Err(Error::param(
            format!("projection {}: synapse {k} weight", layout.projection),
            weights[k],
            format!("a weight in [{lo}, {hi}] for {rule} (w_max = {w_max})"),
        )),
    }
}

/// Checks that a weight bound is finite and not 0 (either sign).
pub(crate) fn bound(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value != 0.0 {
        Ok(())
    } else {
        Err(Error::param(field, value, "a finite number other than 0"))
    }
}

/// Checks that `value` is finite and ≥ 0.
pub(crate) fn non_negative(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(field, value, "a finite number ≥ 0"))
    }
}
