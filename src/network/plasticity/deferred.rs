//! Arrivals whose only effect is a sum read once a period (the derivative of
//! [`AccumulatedStdp`](super::AccumulatedStdp)): each spike's synapses are taken together, once
//! the last of them has been reached, rather than one run of equal delay per step.
//!
//! Spike timing is `timing.rs`'s: a pre spike of step t reaches synapse s at t + d_ax(s), a post
//! spike at t + d_den(s), and each arrival adds `coef` × the other side's trace at the synapse
//! just before it (the other neuron's trace just before the arrival less the other side's delay),
//! rounded to f32. The sums are read only when a period ends, so an arrival need not be taken at
//! its own step: a spike waits until its side's longest delay has passed, and the neuron archives
//! answer for the time asked about. This turns the polychronization network's twenty runs of five
//! synapses per spike into one loop over the spike's hundred.
//!
//! Each side adds into its own array, in its own order of synapses, so that a spike's terms go to
//! consecutive places: pre arrivals into the running totals (storage order; for the rule, its
//! derivative), post arrivals into sums grouped by post neuron, which a period's end adds to the
//! totals. Each array takes a synapse's terms in the order they reach it: the bits of per-arrival
//! hooks that add pre arrivals to the totals as they come and post arrivals apart until the
//! period's end (tested against `timing.rs`).

use std::collections::VecDeque;

use super::archive::Archive;
use super::timing::{checked_size, shared_refused};
use super::{DelayKind, Delays, LayoutSynapses, Pairing, StepSpikes, SynapseLayout};
use crate::error::{Error, Result};

/// A spike whose synapses are not all taken yet: neuron, step, and the delays already taken
/// (those below `from`; a period's end takes the arrivals up to it).
#[derive(Debug, Clone, Copy)]
struct Pending {
    n: u32,
    t: u64,
    from: u32,
}

/// One side's synapses per neuron and its sums.
#[derive(Debug, Clone)]
struct Side {
    /// Neuron n's synapses are places `ptr[n]..ptr[n + 1]`.
    ptr: Vec<usize>,
    /// Per place: the neuron on the other side; one row for all when `shared`.
    other: Vec<u32>,
    /// Per place: the synapse's delay (steps); one row for all when `shared`.
    delay: Vec<u16>,
    /// Whether every neuron's places see the same other neurons with the same delays (a dense
    /// projection): `other` and `delay` then hold that one row, not one per neuron.
    shared: bool,
    /// Whether this side carries the delay: its spike of step t reaches place k at t + delay[k]
    /// and asks for the other side's trace there; otherwise it reaches every place at t and asks
    /// for the other side's trace at t − delay[k].
    delayed: bool,
    /// Steps from a spike to its last arrival (the longest delay when `delayed`, else 0).
    reach: u64,
    /// Per place: the terms so far (pre side: the running totals; post side: this period's).
    sums: Vec<f32>,
    /// Spikes in step order, with arrivals still to take.
    waiting: VecDeque<Pending>,
}

impl Side {
    fn new(
        ptr: Vec<usize>,
        (other, delay, shared): (Vec<u32>, Vec<u16>, bool),
        delayed: bool,
    ) -> Side {
        let reach = match delayed {
            true => delay.iter().copied().max().unwrap_or(0) as u64,
            false => 0,
        };
        let sums = vec![0.0; ptr.last().copied().unwrap_or(0)];
        Side {
            ptr,
            other,
            delay,
            shared,
            delayed,
            reach,
            sums,
            waiting: VecDeque::new(),
        }
    }

    /// A spike of neuron `n` at step `t`: taken at once when this side has no delays (every
    /// arrival is at `t`), else left to wait for its last arrival.
    fn arrive(&mut self, n: u32, t: u64, other: &Archive<1>) {
        let p = Pending { n, t, from: 0 };
        match self.reach {
            0 => self.take(p, t, other),
            _ => self.waiting.push_back(p),
        }
    }

    /// Takes the arrivals of every waiting spike whose last arrival is at or before step `now`.
    fn take_due(&mut self, now: u64, other: &Archive<1>) {
        while let Some(&p) = self.waiting.front() {
            if p.t + self.reach > now {
                break;
            }
            self.waiting.pop_front();
            self.take(p, now, other);
        }
    }

    /// Takes spike `p`'s arrivals at or before step `upto` (delays from `p.from`).
    fn take(&mut self, p: Pending, upto: u64, other: &Archive<1>) {
        let (lo, hi) = (self.ptr[p.n as usize], self.ptr[p.n as usize + 1]);
        // Where the neuron's row of other neurons and delays starts.
        let at = if self.shared { 0 } else { lo };
        let (others, delays) = (&self.other[at..at + hi - lo], &self.delay[at..at + hi - lo]);
        if p.from == 0 && p.t + self.reach <= upto {
            other.add_traces(others, delays, p.t, self.delayed, &mut self.sums[lo..hi]);
            return;
        }
        // Part of a spike at a period's end (the delays that have passed), or the rest of it
        // after one (those from `from` on).
        let last = match self.delayed {
            true => (upto - p.t).min(u32::MAX as u64) as u32,
            false => u32::MAX,
        };
        let args = (others, delays, p.t, self.delayed);
        other.add_traces_within(args, p.from..=last, &mut self.sums[lo..hi]);
    }

    /// Takes every arrival at or before step `upto`; spikes with later ones wait for them.
    fn take_upto(&mut self, upto: u64, other: &Archive<1>) {
        self.take_due(upto, other);
        let mut waiting = std::mem::take(&mut self.waiting);
        for p in &mut waiting {
            if p.t + p.from as u64 <= upto {
                self.take(*p, upto, other);
                p.from = (upto - p.t + 1) as u32;
            }
        }
        self.waiting = waiting;
    }

    fn clear(&mut self) {
        self.sums.fill(0.0);
        self.waiting.clear();
    }
}

/// The deferred arrivals of one plastic projection whose rule adds `coef_pre` × the post trace
/// at each pre arrival and `coef_post` × the pre trace at each post arrival into per-synapse
/// totals read once a period ([`DeferredSums::drain`]).
#[derive(Debug, Clone)]
pub(super) struct DeferredSums {
    lag: u64,
    pre: Side,
    post: Side,
    pre_archive: Archive<1>,
    post_archive: Archive<1>,
    /// Where each synapse (storage index; pre-side places are storage indices) is on the post
    /// side.
    post_order: PostOrder,
}

/// Where each synapse is on the post side.
#[derive(Debug, Clone)]
enum PostOrder {
    /// Listed, per synapse: its post-side place. A period's end reads the post sums through it
    /// in storage order, rather than adding them to the totals in place order: scattered reads
    /// instead of scattered read-modify-writes (polychronization, 10 s: 0.0230 → 0.0227 s, min
    /// of 15 alternated runs; each total still takes one addition, so the bits are the same).
    Listed(Vec<u32>),
    /// A dense projection: place j·n_pre + i is synapse i·n_post + j.
    Dense { n_pre: usize, n_post: usize },
}

impl DeferredSums {
    /// The machinery for a projection (dense or sparse): traces with time constants `tau_pre_ms`
    /// and `tau_post_ms`, their pairing and the delay convention; `coef_pre` (per unit post trace
    /// at a pre arrival) and `coef_post` (per unit pre trace at a post arrival).
    pub fn new(
        layout: &SynapseLayout<'_>,
        (tau_pre_ms, tau_post_ms): (f64, f64),
        pairing: Pairing,
        kind: DelayKind,
        (coef_pre, coef_post): (f64, f64),
    ) -> Result<Self> {
        let (n_pre, n_post) = (layout.n_pre, layout.n_post);
        let n_syn = checked_size(layout)?;
        let delay_u16 = |d: u32| {
            u16::try_from(d).map_err(|_| {
                Error::Unsupported(format!(
                    "projection {}: delay of {d} steps; a spike-timing rule handles at most {}",
                    layout.projection,
                    u16::MAX
                ))
            })
        };
        // Pre side: storage order, row by row. Post side: by post neuron, in storage order.
        let (row_ptr, col_ptr, pre_row, post_row, post_order) = match layout.synapses {
            LayoutSynapses::Dense { delay_steps, .. } => {
                // Every row sees every post neuron, every column every pre neuron, with one
                // delay: one row each, shared.
                let d = delay_u16(delay_steps)?;
                (
                    (0..=n_pre).map(|i| i * n_post).collect(),
                    (0..=n_post).map(|j| j * n_pre).collect(),
                    ((0..n_post as u32).collect(), vec![d; n_post], true),
                    ((0..n_pre as u32).collect(), vec![d; n_pre], true),
                    PostOrder::Dense { n_pre, n_post },
                )
            }
            LayoutSynapses::Sparse {
                row_ptr,
                post,
                delays,
                ..
            } => {
                let delay = match delays {
                    Delays::Uniform(d) => vec![delay_u16(d)?; n_syn],
                    Delays::PerSynapse(d) => d.to_vec(),
                };
                let row_ptr: Vec<usize> = row_ptr.iter().map(|&p| p as usize).collect();
                let col_ptr = crate::network::projection::target_starts(n_post, post);
                let mut fill = col_ptr.clone();
                let (mut other, mut post_delay, mut place) =
                    (vec![0u32; n_syn], vec![0u16; n_syn], vec![0u32; n_syn]);
                for i in 0..n_pre {
                    for s in row_ptr[i]..row_ptr[i + 1] {
                        let at = &mut fill[post[s] as usize];
                        (other[*at], post_delay[*at], place[s]) = (i as u32, delay[s], *at as u32);
                        *at += 1;
                    }
                }
                (
                    row_ptr,
                    col_ptr,
                    (post.to_vec(), delay, false),
                    (other, post_delay, false),
                    PostOrder::Listed(place),
                )
            }
            LayoutSynapses::Shared { .. } => return Err(shared_refused(layout)),
        };
        let max_delay = pre_row.1.iter().copied().max().unwrap_or(0) as u64;
        let axonal = kind == DelayKind::Axonal;
        let steps = |tau: f64| [tau / layout.dt_ms];
        // Queries reach back the longest delay from a spike taken when its last arrival is due,
        // and a step further for a pre-population that lags.
        let keep = max_delay + 2;
        // The pre archive answers post arrivals, the post archive pre arrivals: each holds the
        // coefficient of the arrivals it answers.
        let pre_archive = Archive::new(n_pre, steps(tau_pre_ms), pairing, keep, coef_post);
        let post_archive = Archive::new(n_post, steps(tau_post_ms), pairing, keep, coef_pre);
        Ok(DeferredSums {
            lag: layout.pre_lag_steps,
            pre: Side::new(row_ptr, pre_row, axonal),
            post: Side::new(col_ptr, post_row, !axonal),
            pre_archive,
            post_archive,
            post_order,
        })
    }

    /// One step's spikes: they join the archives and arrive; the arrivals now complete are taken.
    pub fn observe(&mut self, spikes: StepSpikes<'_>) {
        let t = spikes.step;
        // The pre spikes given are those of step t − lag (none exist before step 0).
        let pre = match t >= self.lag {
            true => spikes.pre,
            false => &[],
        };
        let tp = t.saturating_sub(self.lag);
        self.pre_archive.advance(tp);
        self.post_archive.advance(t);
        for &i in pre {
            self.pre_archive.record(i as usize, tp);
        }
        for &j in spikes.post {
            self.post_archive.record(j as usize, t);
        }
        for &i in pre {
            self.pre.arrive(i, tp, &self.post_archive);
        }
        for &j in spikes.post {
            self.post.arrive(j, t, &self.pre_archive);
        }
        self.post.take_due(t, &self.pre_archive);
        self.pre.take_due(t, &self.post_archive);
    }

    /// Takes every arrival at or before step `upto`, adds the post side's sums to the totals
    /// (and starts them again), and returns the totals, per synapse in storage order: the
    /// caller may change them (the rule decays its derivative).
    pub fn drain(&mut self, upto: u64) -> &mut [f32] {
        self.post.take_upto(upto, &self.pre_archive);
        self.pre.take_upto(upto, &self.post_archive);
        let totals = &mut self.pre.sums;
        match &self.post_order {
            PostOrder::Listed(place) => {
                let sums = &mut self.post.sums;
                for (total, &p) in totals.iter_mut().zip(place) {
                    *total += sums[p as usize];
                }
                sums.fill(0.0);
            }
            PostOrder::Dense { n_pre, n_post } => {
                for (j, column) in self.post.sums.chunks_mut((*n_pre).max(1)).enumerate() {
                    for (i, sum) in column.iter_mut().enumerate() {
                        totals[i * n_post + j] += std::mem::take(sum);
                    }
                }
            }
        }
        totals
    }

    /// Forgets spike history, arrivals not yet taken and the totals.
    pub fn reset(&mut self) {
        self.pre.clear();
        self.post.clear();
        self.pre_archive.clear();
        self.post_archive.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::timing::{Arrival, OnArrival, SpikeTiming};
    use super::super::SynapsesMut;
    use super::super::{DelayKind, Delays, LayoutSynapses, Pairing, StepSpikes, SynapseLayout};
    use super::DeferredSums;
    use crate::rng::{stream, uniform01, Purpose};

    const A_PLUS: f64 = 0.1;
    const A_MINUS: f64 = 0.12;

    /// Per-arrival hooks that add pre arrivals to the totals as they come and keep post
    /// arrivals apart.
    struct Hooks {
        plus: Vec<f32>,
        totals: Vec<f32>,
    }

    impl OnArrival<1> for Hooks {
        fn post_arrives(&mut self, a: Arrival<1>, _w: &mut f32) {
            self.plus[a.syn] += (A_PLUS * a.other[0]) as f32;
        }
        fn pre_arrives(&mut self, a: Arrival<1>, _w: &mut f32) {
            self.totals[a.syn] += (-A_MINUS * a.other[0]) as f32;
        }
    }

    #[test]
    fn deferred_sums_give_the_bits_of_per_arrival_hooks() {
        // 40 → 30 neurons, random sparse wiring with delays 0–7 steps (and a dense projection
        // with one delay), random spikes, both delay conventions, both pairings, a pre side that
        // lags or not, and a period of 37 steps, so that spikes straddle its ends: at every end
        // the sums taken in bulk must equal, bit for bit, those the per-arrival machinery of
        // `timing.rs` gives, and not be all zeros.
        let (n_pre, n_post) = (40usize, 30usize);
        let mut rng = stream(7, Purpose::Connectivity, 0, 0, 0);
        let mut draw = |p: f64| uniform01(&mut rng) < p;
        let mut row_ptr = vec![0u64];
        let (mut post, mut delays) = (Vec::new(), Vec::new());
        for i in 0..n_pre {
            for j in 0..n_post as u32 {
                if draw(0.3) {
                    post.push(j);
                    delays.push(((i as u32 + 3 * j) % 8) as u16);
                }
            }
            row_ptr.push(post.len() as u64);
        }
        let sparse_w = vec![1.0f32; post.len()];
        let dense_w = vec![1.0f32; n_pre * n_post];
        let trains: Vec<(Vec<u32>, Vec<u32>)> = (0..300)
            .map(|_| {
                let pre = (0..n_pre as u32).filter(|_| draw(0.05)).collect();
                let post = (0..n_post as u32).filter(|_| draw(0.05)).collect();
                (pre, post)
            })
            .collect();
        let sparse = LayoutSynapses::Sparse {
            row_ptr: &row_ptr,
            post: &post,
            weights: &sparse_w,
            delays: Delays::PerSynapse(&delays),
        };
        let dense = LayoutSynapses::Dense {
            weights: &dense_w,
            delay_steps: 3,
        };
        for synapses in [sparse, dense] {
            for kind in [DelayKind::Axonal, DelayKind::Dendritic] {
                for pairing in [Pairing::Nearest, Pairing::AllToAll] {
                    for lag in [0, 1] {
                        let layout = SynapseLayout {
                            projection: "test",
                            n_pre,
                            n_post,
                            dt_ms: 1.0,
                            pre_lag_steps: lag,
                            synapses,
                        };
                        let case = format!("{kind:?} {pairing:?} lag {lag}");
                        compare(&layout, &trains, (pairing, kind), &case);
                    }
                }
            }
        }
    }

    /// Drives both machineries through `trains` (per step: pre and post spikes) with a period of
    /// 37 steps and compares the derivative after every period.
    fn compare(
        layout: &SynapseLayout<'_>,
        trains: &[(Vec<u32>, Vec<u32>)],
        (pairing, kind): (Pairing, DelayKind),
        case: &str,
    ) {
        let n = layout.n_synapses();
        let mut bulk =
            DeferredSums::new(layout, (20.0, 20.0), pairing, kind, (-A_MINUS, A_PLUS)).unwrap();
        let mut timing = SpikeTiming::new(layout, [20.0], [20.0], pairing, kind).unwrap();
        let mut hooks = Hooks {
            plus: vec![0.0; n],
            totals: vec![0.0; n],
        };
        let mut w = vec![1.0f32; n];
        let (mut row_ptr, mut post) = (&[][..], &[][..]);
        if let LayoutSynapses::Sparse {
            row_ptr: r,
            post: p,
            ..
        } = layout.synapses
        {
            (row_ptr, post) = (r, p);
        }
        let mut periods = 0;
        for (t, (pre, post_spikes)) in trains.iter().enumerate() {
            let spikes = StepSpikes {
                step: t as u64,
                pre,
                post: post_spikes,
            };
            bulk.observe(spikes);
            let synapses = match layout.synapses {
                LayoutSynapses::Sparse { .. } => SynapsesMut::Sparse {
                    row_ptr,
                    post,
                    weights: &mut w,
                },
                _ => SynapsesMut::Dense {
                    n_pre: layout.n_pre,
                    n_post: layout.n_post,
                    weights: &mut w,
                },
            };
            timing.step(spikes, synapses, &mut hooks);
            if (t + 1) % 37 == 0 {
                let sd_bulk = bulk.drain(t as u64);
                for (x, p) in hooks.totals.iter_mut().zip(&mut hooks.plus) {
                    *x += std::mem::take(p);
                }
                let sd_hooks = &hooks.totals;
                let bits = |sd: &[f32]| sd.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(sd_bulk.iter().any(|&x| x > 0.0), "{case}");
                assert!(sd_bulk.iter().any(|&x| x < 0.0), "{case}");
                assert_eq!(bits(sd_bulk), bits(sd_hooks), "{case}, step {t}");
                periods += 1;
            }
        }
        assert_eq!(periods, 8);
    }
}
