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
//! trace at the synapse at time x is the neuron's trace at x − (that side's delay). Each side's
//! synapses are indexed per neuron in runs of equal delay on that side, so a spike reaches one run
//! per step at most; a spike with runs still to come waits as a *wave* (neuron, step, next run),
//! a few bytes per spike rather than per synapse. Work grows with spikes × fan-out (and fan-in for
//! post spikes), never with the synapse count per step.

use super::archive::Archive;

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

/// An index of one side's synapses per neuron, in runs of equal delay on that side with delays
/// increasing: a spike reaches the synapses of one run at one step, the next run later.
#[derive(Debug, Clone)]
enum SideIndex {
    /// One run per neuron, read from the storage's own layout.
    Whole(WholeRun),
    /// Listed synapses grouped by delay.
    Listed(Runs),
}

/// A side whose neurons each have one run, found in the storage's layout without a list.
#[derive(Debug, Clone)]
enum WholeRun {
    /// Dense pre side: neuron i's synapses are `i·n_post + j` (other side j).
    DensePre {
        n_post: usize,
        delay: u32,
        other_delay: u32,
    },
    /// Dense post side: neuron j's synapses are `i·n_post + j` (other side i).
    DensePost {
        n_pre: usize,
        n_post: usize,
        delay: u32,
        other_delay: u32,
    },
    /// Sparse pre side with one delay on this side: the storage's own rows; the post side's
    /// delays are `other_delay` or, if `None`, the per-synapse delays.
    Rows {
        delay: u32,
        other_delay: Option<u32>,
    },
}

/// Synapses listed per neuron and grouped into runs of equal delay.
#[derive(Debug, Clone)]
struct Runs {
    /// Neuron n's runs are `runs[run_ptr[n]..run_ptr[n + 1]]`.
    run_ptr: Vec<u32>,
    /// Each run's delay (steps) and its range in `entries`.
    runs: Vec<(u32, u32, u32)>,
    /// Per entry: synapse (storage index), other-side neuron and the delay (steps) on the other
    /// side, side by side so that a run's entries come in one stream of cache lines (a run
    /// starts at a random place; two or three separate arrays cost a miss each).
    entries: Vec<[u32; 3]>,
}

impl Runs {
    /// Groups `(delay, synapse, other, other side's delay)` entries, listed neuron by neuron
    /// (neuron n's are `entries[ptr[n]..ptr[n + 1]]`), into runs of equal delay; entries of equal
    /// delay keep their order.
    fn build(n: usize, ptr: &[usize], entries: &mut [(u32, u32, u32, u32)]) -> Runs {
        let mut run_ptr = Vec::with_capacity(n + 1);
        let mut runs = Vec::new();
        run_ptr.push(0u32);
        for k in 0..n {
            let slice = &mut entries[ptr[k]..ptr[k + 1]];
            slice.sort_by_key(|e| e.0);
            let mut lo = ptr[k];
            while lo < ptr[k + 1] {
                let d = entries[lo].0;
                let mut hi = lo;
                while hi < ptr[k + 1] && entries[hi].0 == d {
                    hi += 1;
                }
                runs.push((d, lo as u32, hi as u32));
                lo = hi;
            }
            run_ptr.push(runs.len() as u32);
        }
        Runs {
            run_ptr,
            runs,
            entries: entries.iter().map(|e| [e.1, e.2, e.3]).collect(),
        }
    }
}

/// The storage's rows (sparse projections), read each step.
type Storage<'a> = Option<(&'a [u64], &'a [u32])>;

/// Waves whose due runs are looked up and prefetched together (see `SpikeTiming::arrive`).
const ARRIVAL_GROUP: usize = 16;

impl SideIndex {
    /// Neuron `n`'s runs, as the range of run numbers a [`Wave`] steps through (a listed side's
    /// are indices into its runs, so that a wave finds its next run without the neuron's).
    #[inline]
    fn runs_of(&self, n: u32) -> (u32, u32) {
        match self {
            SideIndex::Whole(_) => (0, 1),
            SideIndex::Listed(runs) => (runs.run_ptr[n as usize], runs.run_ptr[n as usize + 1]),
        }
    }

    /// The delay of run `r` (a number from [`SideIndex::runs_of`]).
    #[inline]
    fn delay(&self, r: u32) -> u32 {
        match self {
            SideIndex::Whole(
                WholeRun::DensePre { delay, .. }
                | WholeRun::DensePost { delay, .. }
                | WholeRun::Rows { delay, .. },
            ) => *delay,
            SideIndex::Listed(runs) => runs.runs[r as usize].0,
        }
    }

    /// Asks for the first and last cache lines of the entries of run `r` (listed runs; a whole
    /// run reads the storage's own rows, which the delivery just read).
    #[inline(always)]
    fn prefetch_run(&self, r: u32) {
        if let SideIndex::Listed(runs) = self {
            if let Some(&(_, lo, hi)) = runs.runs.get(r as usize) {
                let entries = runs.entries.as_ptr();
                crate::memory::prefetch(entries.wrapping_add(lo as usize));
                crate::memory::prefetch(
                    entries.wrapping_add((hi as usize).max(lo as usize + 1) - 1),
                );
            }
        }
    }
}

impl WholeRun {
    /// Calls `f(synapse, other, the other side's delay)` for every synapse of neuron `n`;
    /// `per_synapse` are the projection's delays when they differ.
    #[inline(always)]
    fn for_each(
        &self,
        storage: Storage<'_>,
        per_synapse: Option<&[u16]>,
        n: u32,
        mut f: impl FnMut(usize, u32, u32),
    ) {
        let n = n as usize;
        // One call site for `f`, so that it is inlined; the match is the same on every pass and
        // is hoisted out of the loop.
        let (lo, hi) = match self {
            WholeRun::DensePre { n_post, .. } => (0, *n_post),
            WholeRun::DensePost { n_pre, .. } => (0, *n_pre),
            // `Rows` is built only for sparse projections, which always give their rows.
            WholeRun::Rows { .. } => storage.map_or((0, 0), |(row_ptr, _)| {
                (row_ptr[n] as usize, row_ptr[n + 1] as usize)
            }),
        };
        for k in lo..hi {
            let (syn, other, other_delay) = match self {
                WholeRun::DensePre {
                    n_post,
                    other_delay,
                    ..
                } => (n * n_post + k, k as u32, *other_delay),
                WholeRun::DensePost {
                    n_post,
                    other_delay,
                    ..
                } => (k * n_post + n, k as u32, *other_delay),
                WholeRun::Rows { other_delay, .. } => {
                    let post = storage.map_or(&[][..], |(_, post)| post);
                    let od = match (other_delay, per_synapse) {
                        (Some(d), _) => *d,
                        (None, Some(d)) => d[k] as u32,
                        (None, None) => 0,
                    };
                    (k, post[k], od)
                }
            };
            f(syn, other, other_delay);
        }
    }
}

/// A spike whose later runs have not reached their synapses yet: spike step, neuron, its next
/// run and the end of its runs (see [`SideIndex::runs_of`]).
#[derive(Debug, Clone, Copy)]
struct Wave {
    t: u64,
    n: u32,
    r: u32,
    end: u32,
}

impl Wave {
    /// The waves of neuron `n`'s spike at step `t`, if it has synapses on this side.
    #[inline]
    fn of(index: &SideIndex, n: u32, t: u64) -> Option<Wave> {
        let (r, end) = index.runs_of(n);
        (r < end).then_some(Wave { t, n, r, end })
    }

    /// The step its next run arrives, if it has one.
    #[inline]
    fn due(&self, index: &SideIndex) -> Option<u64> {
        (self.r < self.end).then(|| self.t + index.delay(self.r) as u64)
    }
}

/// The spike-timing machinery of one plastic projection with `K` traces per side.
#[derive(Debug, Clone)]
pub(crate) struct SpikeTiming<const K: usize> {
    lag: u64,
    /// Per-synapse delays (steps) when they differ.
    delays: Option<Vec<u16>>,
    pre: Archive<K>,
    post: Archive<K>,
    /// Pre synapses by axonal delay, post synapses by dendritic delay.
    pre_index: SideIndex,
    post_index: SideIndex,
    /// Spikes with arrivals still to come.
    pre_waves: Vec<Wave>,
    post_waves: Vec<Wave>,
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
        let n_syn = checked_size(layout)?;
        let axonal = kind == DelayKind::Axonal;
        // The delay each side of a synapse carries.
        let on_side = |d: u32, pre_side: bool| if pre_side == axonal { d } else { 0 };
        let (pre_index, post_index, delays, uniform_delay) = match layout.synapses {
            LayoutSynapses::Shared { .. } => return Err(shared_refused(layout)),
            LayoutSynapses::Dense { delay_steps, .. } => (
                SideIndex::Whole(WholeRun::DensePre {
                    n_post: layout.n_post,
                    delay: on_side(delay_steps, true),
                    other_delay: on_side(delay_steps, false),
                }),
                SideIndex::Whole(WholeRun::DensePost {
                    n_pre: layout.n_pre,
                    n_post: layout.n_post,
                    delay: on_side(delay_steps, false),
                    other_delay: on_side(delay_steps, true),
                }),
                None,
                delay_steps,
            ),
            LayoutSynapses::Sparse {
                row_ptr,
                post,
                delays,
                ..
            } => {
                let (per, uniform): (Option<&[u16]>, u32) = match delays {
                    Delays::Uniform(d) => (None, d),
                    Delays::PerSynapse(d) => (Some(d), 0),
                };
                let delay_of = |s: usize, pre_side: bool| {
                    on_side(per.map_or(uniform, |d| d[s] as u32), pre_side)
                };
                // A side's delays are one number unless they differ and lie on that side.
                let uniform_on = |pre_side: bool| match per {
                    Some(_) if pre_side == axonal => None,
                    _ => Some(on_side(uniform, pre_side)),
                };
                let pre_index = match uniform_on(true) {
                    None => {
                        let ptr: Vec<usize> = row_ptr.iter().map(|&p| p as usize).collect();
                        let mut entries: Vec<(u32, u32, u32, u32)> = (0..n_syn)
                            .map(|s| (delay_of(s, true), s as u32, post[s], delay_of(s, false)))
                            .collect();
                        let runs = Runs::build(layout.n_pre, &ptr, &mut entries);
                        SideIndex::Listed(runs)
                    }
                    Some(delay) => SideIndex::Whole(WholeRun::Rows {
                        delay,
                        other_delay: uniform_on(false),
                    }),
                };
                // By post neuron, in pre order, then grouped by dendritic delay.
                let ptr = crate::network::projection::target_starts(layout.n_post, post);
                let mut fill = ptr.clone();
                let mut entries = vec![(0u32, 0u32, 0u32, 0u32); n_syn];
                for i in 0..layout.n_pre {
                    let lo = row_ptr[i] as usize;
                    for (s, &j) in (lo..).zip(&post[lo..row_ptr[i + 1] as usize]) {
                        let j = j as usize;
                        let ax = delay_of(s, true);
                        entries[fill[j]] = (delay_of(s, false), s as u32, i as u32, ax);
                        fill[j] += 1;
                    }
                }
                let post_index = SideIndex::Listed(Runs::build(layout.n_post, &ptr, &mut entries));
                (pre_index, post_index, per.map(<[u16]>::to_vec), uniform)
            }
        };
        let max_delay = match &delays {
            Some(d) => d.iter().copied().max().unwrap_or(0) as u32,
            None => uniform_delay,
        };
        let steps = |tau: f64| tau / layout.dt_ms;
        let keep = max_delay as u64 + 2;
        Ok(SpikeTiming {
            lag: layout.pre_lag_steps,
            delays,
            // The per-arrival machinery asks `before` only: no reader's coefficient.
            pre: Archive::new(layout.n_pre, tau_pre_ms.map(steps), pairing, keep, 1.0),
            post: Archive::new(layout.n_post, tau_post_ms.map(steps), pairing, keep, 1.0),
            pre_index,
            post_index,
            pre_waves: Vec::new(),
            post_waves: Vec::new(),
        })
    }

    /// Forgets spike history and pending arrivals.
    pub fn reset(&mut self) {
        self.pre.clear();
        self.post.clear();
        self.pre_waves.clear();
        self.post_waves.clear();
    }

    /// Run `wave.r` of a pre spike (`PRE`) or a post spike reaching its synapses at step `x`:
    /// each synapse sees the other side's traces there just before `x`; the spiking neuron's own
    /// traces are those just before its spike. The two sides differ only in whose archive is
    /// whose and which hook of the rule is called; `PRE` is a constant so that each side's loop
    /// is compiled on its own, with the rule inlined.
    #[inline(always)]
    fn run_arrives<const PRE: bool>(
        &self,
        storage: Storage<'_>,
        w: &mut [f32],
        rule: &mut impl OnArrival<K>,
        wave: Wave,
        x: u64,
    ) {
        let (own_archive, other_archive, index) = if PRE {
            (&self.pre, &self.post, &self.pre_index)
        } else {
            (&self.post, &self.pre, &self.post_index)
        };
        // The spiking neuron's own traces.
        let own = || own_archive.before(wave.n as usize, wave.t as i64);
        // One synapse: the other side's traces where it stands, then the rule.
        #[inline(always)]
        fn one<const K: usize, const PRE: bool>(
            other_archive: &Archive<K>,
            rule: &mut impl OnArrival<K>,
            w: &mut [f32],
            (syn, other_n, at): (usize, u32, i64),
            x: u64,
            own: [f64; K],
        ) {
            let other = other_archive.before(other_n as usize, at);
            let a = Arrival {
                syn,
                t: x,
                other,
                own,
            };
            if PRE {
                rule.pre_arrives(a, &mut w[syn]);
            } else {
                rule.post_arrives(a, &mut w[syn]);
            }
        }
        // Listed runs (every sparse side with per-synapse delays, and every post side) take a
        // loop of their own over the run's slices: a per-entry dispatch and closure call cost
        // half the time of a network with per-synapse delays (the polychronization network, when
        // its rule took this path).
        match index {
            SideIndex::Listed(runs) => {
                let (_, lo, hi) = runs.runs[wave.r as usize];
                let entries = &runs.entries[lo as usize..hi as usize];
                let own = own();
                for &[s, o, d] in entries {
                    let at = x as i64 - d as i64;
                    one::<K, PRE>(other_archive, rule, w, (s as usize, o, at), x, own);
                }
            }
            SideIndex::Whole(whole) => {
                let own = own();
                let per = self.delays.as_deref();
                whole.for_each(storage, per, wave.n, |syn, other_n, other_delay| {
                    let at = x as i64 - other_delay as i64;
                    one::<K, PRE>(other_archive, rule, w, (syn, other_n, at), x, own);
                });
            }
        }
    }

    /// The runs of `waves` that reach their synapses at step `t`; finished waves leave the list.
    /// Arrivals at one step touch distinct synapses, so their order does not matter.
    ///
    /// Waves are taken in groups of [`ARRIVAL_GROUP`]: the group's due runs are found and the
    /// first and last lines of their entries asked for, then the runs are done. A run starts at a
    /// random place in an index larger than the core's cache (the polychronization network's is
    /// 1.2 MB), and waiting on each run's first line in turn cost that network 10 % of its
    /// simulation (0.046 against 0.041 s per 10 simulated seconds, medians of ten alternated
    /// runs). Finished waves leave the list at the end, in order.
    #[inline(always)]
    fn arrive<const PRE: bool>(
        &self,
        waves: &mut Vec<Wave>,
        t: u64,
        storage: Storage<'_>,
        w: &mut [f32],
        rule: &mut impl OnArrival<K>,
    ) {
        let index = if PRE {
            &self.pre_index
        } else {
            &self.post_index
        };
        for group in waves.chunks_mut(ARRIVAL_GROUP) {
            let mut due = [false; ARRIVAL_GROUP];
            for (d, wave) in due.iter_mut().zip(group.iter()) {
                *d = wave.due(index) == Some(t);
                if *d {
                    index.prefetch_run(wave.r);
                }
            }
            for (&d, wave) in due.iter().zip(group.iter_mut()) {
                if d {
                    self.run_arrives::<PRE>(storage, w, rule, *wave, t);
                    wave.r += 1;
                }
            }
        }
        waves.retain(|wave| wave.r < wave.end);
    }

    /// One step: the arrivals of this step's spikes (and of earlier ones now due), in order.
    pub fn step(
        &mut self,
        spikes: StepSpikes<'_>,
        synapses: SynapsesMut<'_>,
        rule: &mut impl OnArrival<K>,
    ) {
        let t = spikes.step;
        let (storage, w): (Storage<'_>, &mut [f32]) = match synapses {
            SynapsesMut::Dense { weights, .. } => (None, weights),
            SynapsesMut::Sparse {
                row_ptr,
                post,
                weights,
            } => (Some((row_ptr, post)), weights),
            // `Network::set_plasticity` refuses weight-shared projections.
            SynapsesMut::Shared { .. } => return,
        };
        // The pre spikes given are those of step t − lag (none exist before step 0).
        let pre_spikes: &[u32] = if t >= self.lag { spikes.pre } else { &[] };
        let tp = t.saturating_sub(self.lag);
        let mut pre_waves = std::mem::take(&mut self.pre_waves);
        let mut post_waves = std::mem::take(&mut self.post_waves);
        // 1. Pre spikes: runs already past (a pre-population later in the schedule with no axonal
        //    delay) arrive now, first; the others wait, those due now for step 3.
        for &i in pre_spikes {
            let Some(mut wave) = Wave::of(&self.pre_index, i, tp) else {
                continue;
            };
            while let Some(x) = wave.due(&self.pre_index) {
                if x >= t {
                    pre_waves.push(wave);
                    break;
                }
                self.run_arrives::<true>(storage, w, rule, wave, x);
                wave.r += 1;
            }
        }
        if tp < t {
            for &i in pre_spikes {
                self.pre.record(i as usize, tp);
            }
        }
        // 2. Post arrivals at t: this step's spikes' undelayed runs and earlier spikes' runs due.
        for &j in spikes.post {
            post_waves.extend(Wave::of(&self.post_index, j, t));
        }
        self.arrive::<false>(&mut post_waves, t, storage, w, rule);
        // 3. Pre arrivals at t.
        self.arrive::<true>(&mut pre_waves, t, storage, w, rule);
        if tp == t {
            for &i in pre_spikes {
                self.pre.record(i as usize, t);
            }
        }
        // 4. This step's post spikes join the archive after every query about step t.
        for &j in spikes.post {
            self.post.record(j as usize, t);
        }
        self.pre_waves = pre_waves;
        self.post_waves = post_waves;
    }
}

/// The number of synapses of a projection, refused above what a spike-timing rule indexes
/// (`u32::MAX`).
pub(super) fn checked_size(layout: &SynapseLayout<'_>) -> Result<usize> {
    let n_syn = layout.n_synapses();
    if n_syn > u32::MAX as usize {
        return Err(Error::Unsupported(format!(
            "projection {}: {n_syn} synapses; a spike-timing rule handles at most {} per projection",
            layout.projection,
            u32::MAX
        )));
    }
    Ok(n_syn)
}

/// The refusal of a weight-shared convolution, which has no synapse of its own per pair.
pub(super) fn shared_refused(layout: &SynapseLayout<'_>) -> Error {
    Error::Unsupported(format!(
        "projection {}: a weight-shared convolution has no per-synapse spike timing",
        layout.projection
    ))
}

/// Checks that every weight lies between 0 and `w_max` (which may be negative, for inhibitory
/// synapses: NEST's rule that a weight and its bound share a sign), naming the first that does not.
pub(crate) fn check_weights(layout: &SynapseLayout<'_>, rule: &str, w_max: f64) -> Result<()> {
    let weights = match layout.synapses {
        LayoutSynapses::Dense { weights, .. } | LayoutSynapses::Sparse { weights, .. } => weights,
        LayoutSynapses::Shared { .. } => {
            return Err(Error::Unsupported(format!(
                "projection {}: a weight-shared convolution has one kernel for every position,                  while {rule} needs a weight per synapse (use a sparse projection)",
                layout.projection
            )))
        }
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
