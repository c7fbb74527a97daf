//! Each neuron's recent spikes on one side of a plastic projection, with the traces just after
//! each: what the spike-timing machinery (`timing.rs`, and `deferred.rs` in bulk) asks when a spike
//! reaches a synapse.

use std::collections::VecDeque;

use super::timing::Pairing;

/// Per-neuron archive of recent spikes with `K` traces each.
///
/// The latest two spikes of every neuron sit side by side in one flat array: most queries end at
/// the latest (the neuron has not fired since the time asked about), and nearly all others at the
/// one before it (a spike taken after its arrivals, `deferred.rs`, asks about times up to the
/// longest delay back). Older spikes, still within reach of a query, wait in a per-neuron queue.
///
/// The bulk loops of [`Archive::add_traces`] read a compact copy of those two steps: 32 bits
/// each, counted from a base step that moves forward as the run goes on (8 bytes a neuron, not
/// 16: less of the first-level cache for the copy, more for the loops' term table). Under
/// nearest-spike pairing, where a term rounds to zero well within the table, the copy shows a
/// spike too old to add anything, and a neuron that has not fired, as a spike in the table's
/// zero tail (see [`Archive::refresh`]).
#[derive(Debug, Clone)]
pub(super) struct Archive<const K: usize> {
    /// Per trace: `ln` of its decay per step (−dt/τ).
    ln_decay: [f64; K],
    /// `table[n]` = e^{n·ln_decay} per trace, for n up to 200 τ (each entry the same bits
    /// as the call it saves).
    table: Vec<[f64; K]>,
    pairing: Pairing,
    /// Steps back that queries can reach.
    keep: u64,
    /// Per neuron: the steps of its latest spike and of the one before; `NONE` where it has none.
    recent_t: Vec<[u64; 2]>,
    /// Per neuron: its trace values just after those two spikes; empty under nearest-spike
    /// pairing, where every such value is 1.
    recent_v: Vec<[[f64; K]; 2]>,
    /// Per neuron: earlier spikes a query may still need, oldest first.
    older: Vec<VecDeque<(u64, [f64; K])>>,
    /// `recent_t` less `base`, in 32 bits; `HOT_NEVER` for no spike, `HOT_OLD` for one before
    /// `base` (the loops then ask [`Archive::before`], which knows); or, once
    /// [`Archive::refresh`] has seen them, a step in the zero tail for both.
    hot: Vec<[u32; 2]>,
    /// The step `hot` counts from (below 0 at first: see [`BASE_START`]).
    base: i64,
    /// Steps from `base` to the present that move it on (2³¹: every step a query or spike
    /// asks about then lies within 31 bits of it, and differences of two wrap correctly). Half
    /// of it exceeds `keep` and the table's reach by far: a spike before `base` is too old for
    /// any query to find in the table.
    span: u64,
    /// What a reader's arrivals add per unit trace ([`Archive::add_traces`]).
    coef: f64,
    /// `scaled[m]` = (coef × e^{(m+1)·ln_decay₀}) as f32: under nearest-spike pairing, the bits
    /// an arrival m + 1 steps after the other neuron's spike adds (one load instead of a
    /// multiplication and a rounding).
    scaled: Vec<f32>,
    /// The least m from which every term, in the table and past it, is (coef × 0) as f32: the
    /// zero tail.
    zero_from: u64,
    /// Steps between two [`Archive::refresh`]es; 0 for none (all-to-all pairing, whose values
    /// are not 1, or a zero tail too short).
    refresh_every: u64,
    /// The step from which the next refresh is due.
    refresh_at: u64,
}

/// The base at the start: steps count from 2²⁰ in the compact copy, so that a step in the zero
/// tail of a query early in the run is one it can hold (the tail starts at most 4 096 steps
/// and `keep` at most 65 537 steps back).
const BASE_START: i64 = -(1 << 20);

/// The step of a neuron that has not fired: later than any step asked about, so that one
/// comparison tells a latest spike that answers a query from one that does not.
const NONE: u64 = i64::MAX as u64;

/// [`NONE`] in the compact copy: later than any step asked about there (those lie below 2³¹),
/// and with m = q − 1 − `HOT_NEVER` at least 2³⁰ − 1 for every one of them, far past the decay
/// table. A neuron that has not fired has no trace: its arrivals add (coef × 0) as f32 without
/// asking [`Archive::before`] (in the polychronization network, a neuron that never fires is
/// asked about a hundred thousand times in 10 s).
const HOT_NEVER: u32 = 3 << 30;

/// A spike before the compact copy's base, in it: as [`HOT_NEVER`] for the comparisons, and
/// answered by [`Archive::before`].
const HOT_OLD: u32 = HOT_NEVER + 1;

impl<const K: usize> Archive<K> {
    /// An archive of `n` neurons whose traces decay with time constants `tau_steps`, for queries
    /// that reach `keep` steps back; its readers' arrivals add `coef` × the trace.
    pub(super) fn new(
        n: usize,
        tau_steps: [f64; K],
        pairing: Pairing,
        keep: u64,
        coef: f64,
    ) -> Self {
        let ln_decay = tau_steps.map(|tau| -1.0 / tau);
        // Intervals up to 200 τ (at most 4096 steps) read the table.
        let longest = tau_steps.iter().fold(0.0f64, |m, &t| m.max(t));
        let len = ((200.0 * longest).ceil() as usize).clamp(512, 4096);
        let table: Vec<[f64; K]> = (0..len)
            .map(|n| ln_decay.map(|l| (l * n as f64).exp()))
            .collect();
        let scaled: Vec<f32> = table[1..].iter().map(|d| (coef * d[0]) as f32).collect();
        let zero = (coef * 0.0) as f32;
        let is_zero = |x: &f32| x.to_bits() == zero.to_bits();
        // The terms shrink as the interval grows: when the first past the table is zero, so are
        // all past it, and the zero tail is the run of zeros that ends the table.
        let first_past = (coef * (ln_decay.first().map_or(0.0, |l| l * len as f64)).exp()) as f32;
        let zero_from = match K > 0 && is_zero(&first_past) {
            true => scaled.len() - scaled.iter().rev().take_while(|x| is_zero(x)).count(),
            false => scaled.len(),
        } as u64;
        // Queries between two refreshes reach from `keep` steps before the first to the second:
        // the steps the tail can hold past that, if enough to be worth a pass over the copy.
        let tail = (scaled.len() as u64).saturating_sub(zero_from + keep + 3);
        let refresh_every = match pairing == Pairing::Nearest && tail >= 64 {
            true => tail,
            false => 0,
        };
        Archive {
            ln_decay,
            table,
            pairing,
            keep,
            recent_t: vec![[NONE; 2]; n],
            recent_v: match pairing {
                Pairing::Nearest => Vec::new(),
                Pairing::AllToAll => vec![[[0.0; K]; 2]; n],
            },
            older: vec![VecDeque::new(); n],
            hot: vec![[HOT_NEVER; 2]; n],
            base: BASE_START,
            span: 1 << 31,
            coef,
            scaled,
            zero_from,
            refresh_every,
            refresh_at: 0,
        }
    }

    /// Keeps the compact copy's base within `span` of step `now` (every step a query or spike
    /// can ask about lies at most the longest delay and a step from the present).
    #[inline]
    pub(super) fn advance(&mut self, now: u64) {
        if now as i64 - self.base >= self.span as i64 {
            self.base = now as i64 - (self.span / 2) as i64;
            // The copy is made again from the steps: the zero tail's stand-ins with it.
            self.refresh_at = now;
            let base = self.base;
            for (h, r) in self.hot.iter_mut().zip(&self.recent_t) {
                *h = match r.map(|t| Self::compact(t, base)) {
                    // Not [HOT_OLD, HOT_NEVER]: a query would take the one spike for a later one
                    // and find none before it.
                    [HOT_OLD, _] => [HOT_OLD; 2],
                    pair => pair,
                };
            }
        }
        if self.refresh_every > 0 && now >= self.refresh_at {
            self.refresh(now);
        }
    }

    /// Under nearest-spike pairing with a zero tail: every spike in the compact copy that no
    /// query until the next refresh can find within `zero_from` steps, and every neuron that has
    /// not fired, is shown as one spike in the zero tail of all those queries (it adds (coef × 0)
    /// as f32 there, as the spike or its absence does). The bulk loop then reads the table for
    /// them, not a branch it mispredicted whenever neurons had not fired yet (polychronization,
    /// first second: 0.0040 → 0.0033 s, min of 15 alternated runs) or had been silent for
    /// seconds.
    fn refresh(&mut self, now: u64) {
        // Queries until the next refresh ask about steps from now − keep on: a spike at `bound`
        // or before lies at least `zero_from` + 2 steps before each, and the stand-in, at
        // `bound`, at most `refresh_every` + keep + 2 + `zero_from` steps: within the table.
        let bound = now as i64 - (self.keep + 3 + self.zero_from) as i64;
        let stand_in = (bound - self.base) as u32;
        for (h, r) in self.hot.iter_mut().zip(&self.recent_t) {
            for (h, &t) in h.iter_mut().zip(r) {
                if t == NONE || t as i64 <= bound {
                    *h = stand_in;
                }
            }
        }
        self.refresh_at = now + self.refresh_every;
    }

    /// A step in the compact copy counted from `base`.
    #[inline]
    fn compact(t: u64, base: i64) -> u32 {
        match t {
            NONE => HOT_NEVER,
            _ if (t as i64) < base => HOT_OLD,
            _ => (t as i64 - base) as u32,
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
    #[inline(always)]
    pub(super) fn before(&self, i: usize, x: i64) -> [f64; K] {
        for k in 0..2 {
            let t = self.recent_t[i][k];
            if (t as i64) < x {
                let v = match self.pairing {
                    Pairing::Nearest => [1.0; K],
                    Pairing::AllToAll => self.recent_v[i][k],
                };
                return self.traces(v, (x - t as i64) as u64);
            }
        }
        for &(t, v) in self.older[i].iter().rev() {
            if (t as i64) < x {
                return self.traces(v, (x - t as i64) as u64);
            }
        }
        [0.0; K]
    }

    #[inline(always)]
    fn traces(&self, v: [f64; K], n: u64) -> [f64; K] {
        let d = self.decay(n);
        std::array::from_fn(|k| v[k] * d[k])
    }

    /// For each synapse k of a spike at step `t`: `target[k] += (coef × trace_0 of other[k] just
    /// before q) as f32`, with q = t + delay[k] when `later`, else t − delay[k]: the arrivals of
    /// `deferred.rs` (`coef` that of [`Archive::new`]). The latest spike answers nearly every
    /// query; the others take [`Archive::before`]. `t` lies at most `keep` steps before the
    /// latest step given to [`Archive::advance`] or [`Archive::record`].
    #[inline(always)]
    pub(super) fn add_traces(
        &self,
        other: &[u32],
        delay: &[u16],
        t: u64,
        later: bool,
        target: &mut [f32],
    ) {
        self.dispatch::<false>(later, (other, delay, t, target, 0, u32::MAX));
    }

    /// [`Archive::add_traces`] for the synapses whose delay lies in `delays` only (the others'
    /// targets are left as they are): the part of a spike's arrivals a period's end takes, and
    /// the rest of them after it.
    pub(super) fn add_traces_within(
        &self,
        (other, delay, t, later): (&[u32], &[u16], u64, bool),
        delays: std::ops::RangeInclusive<u32>,
        target: &mut [f32],
    ) {
        let (lo, hi) = (*delays.start(), *delays.end());
        self.dispatch::<true>(later, (other, delay, t, target, lo, hi));
    }

    /// The copy of [`Archive::add_traces_with`] for this archive's pairing and `later`.
    #[inline(always)]
    fn dispatch<const WITHIN: bool>(
        &self,
        later: bool,
        args: (&[u32], &[u16], u64, &mut [f32], u32, u32),
    ) {
        match (self.pairing == Pairing::Nearest, later) {
            (true, true) => self.add_traces_with::<true, true, WITHIN>(args),
            (true, false) => self.add_traces_with::<true, false, WITHIN>(args),
            (false, true) => self.add_traces_with::<false, true, WITHIN>(args),
            (false, false) => self.add_traces_with::<false, false, WITHIN>(args),
        }
    }

    /// [`Archive::add_traces`]; `NEAREST`: every latest spike's value is 1, and 1 × the decay is
    /// the decay, so the values are not read and the term is one entry of `scaled`. Never
    /// inlined: inside a large function the loop kept its invariants on the stack and reloaded
    /// them at every synapse; on its own it keeps them in registers, for one call per spike.
    /// `WITHIN`: only synapses with a delay in `lo..=hi` (the others are skipped).
    #[inline(never)]
    fn add_traces_with<const NEAREST: bool, const LATER: bool, const WITHIN: bool>(
        &self,
        (other, delay, t, target, lo, hi): (&[u32], &[u16], u64, &mut [f32], u32, u32),
    ) {
        let (hot, recent_v, table, scaled) = (
            &self.hot[..],
            &self.recent_v[..],
            &self.table[..],
            &self.scaled[..],
        );
        let coef = self.coef;
        // Steps in the compact copy's 32 bits: differences wrap correctly, and one unsigned
        // comparison of m = q − 1 − spike with the table tells a spike before q within its reach
        // (m = 0: the step before q) from one at or after q (m wraps far past it).
        let t32 = (t as i64).wrapping_sub(self.base) as u32;
        let zero = (coef * 0.0) as f32;
        for ((&o, &d), y) in other.iter().zip(delay).zip(target) {
            if WITHIN && !(lo..=hi).contains(&(d as u32)) {
                continue;
            }
            let q = match LATER {
                true => t32.wrapping_add(d as u32),
                false => t32.wrapping_sub(d as u32),
            };
            // The latest spike, or the one before when the latest is not before q: chosen by a
            // conditional move, not a branch, for which one answers is not predictable (as a
            // branch it cost the polychronization network 15 % of its simulation; as an index,
            // a dependent load, 3 %).
            let [latest, previous] = hot[o as usize];
            let late = latest >= q;
            let k = usize::from(late);
            let last = std::hint::select_unpredictable(late, previous, latest);
            let m = q.wrapping_sub(1).wrapping_sub(last) as usize;
            let hit = match NEAREST {
                true => scaled.get(m).copied(),
                false => table
                    .get(m + 1)
                    .map(|decay| (coef * (recent_v[o as usize][k][0] * decay[0])) as f32),
            };
            *y += match hit {
                Some(x) => x,
                // No spike before q: the latest is not (or is none), and none precedes it.
                None if last == HOT_NEVER => zero,
                None => {
                    let q = match LATER {
                        true => t as i64 + d as i64,
                        false => t as i64 - d as i64,
                    };
                    self.term_cold(o as usize, q)
                }
            };
        }
    }

    /// What an arrival that asks about neuron `i` just before step `x` adds: (coef × its first
    /// trace there) as f32, `coef` that of [`Archive::new`]; out of line, for the bulk loop's
    /// rare answers outside its table.
    #[cold]
    #[inline(never)]
    fn term_cold(&self, i: usize, x: i64) -> f32 {
        (self.coef * self.before(i, x)[0]) as f32
    }

    /// Adds a spike of neuron `i` at step `t` (after every query about times ≤ t is answered).
    pub(super) fn record(&mut self, i: usize, t: u64) {
        let v = match self.pairing {
            Pairing::AllToAll => self.before(i, t as i64).map(|x| x + 1.0),
            Pairing::Nearest => [1.0; K],
        };
        let [latest_t, previous_t] = self.recent_t[i];
        self.recent_t[i] = [t, latest_t];
        let previous_v = match self.pairing {
            Pairing::Nearest => [1.0; K],
            Pairing::AllToAll => {
                let [latest_v, previous_v] = self.recent_v[i];
                self.recent_v[i] = [v, latest_v];
                previous_v
            }
        };
        self.advance(t);
        let [latest_hot, _] = self.hot[i];
        self.hot[i] = [Self::compact(t, self.base), latest_hot];
        let q = &mut self.older[i];
        if latest_t == NONE || latest_t + self.keep < t {
            // The spike before the new one answers every query that the new one does not
            // (queries reach back `keep` steps): nothing older is needed. With spikes farther
            // apart than the longest delay, this is nearly every spike, at no queue work.
            q.clear();
            return;
        }
        if previous_t != NONE {
            q.push_back((previous_t, previous_v));
        }
        // Queries reach back `keep` steps: the newest spike older than that answers them all
        // (one of the recent two itself when it is).
        while !q.is_empty() {
            let next = q.get(1).map_or(latest_t, |e| e.0);
            if next + self.keep < t {
                q.pop_front();
            } else {
                break;
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.recent_t.fill([NONE; 2]);
        self.recent_v.fill([[0.0; K]; 2]);
        self.older.iter_mut().for_each(VecDeque::clear);
        self.hot.fill([HOT_NEVER; 2]);
        self.base = BASE_START;
        self.refresh_at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::timing::Pairing;
    use super::Archive;
    use crate::rng::{stream, uniform01, Purpose};

    #[test]
    fn bulk_terms_equal_single_queries_across_moves_of_the_base() {
        // 11 neurons firing at random (bursts within a query's reach, and silences long past
        // the point where a term rounds to zero), one that never fires and one that fires once,
        // at step 5; queries up to 9 steps either side of a spike: every term the bulk loop adds
        // must have the bits of the single query `before` answers, for both pairings and both
        // directions, while the compact copy's base moves (its span cut from 2³¹ to the least
        // it may be). Traces of 2 steps let the base move often; traces of 100 steps outlast
        // the decay table, so that a spike before the base still adds a term (the one spike of
        // neuron 12 must not be taken for a later one). Under nearest-spike pairing, traces of
        // 2 steps round to zero well within the table: the copy then shows old spikes and
        // neurons that have not fired as stand-ins in the zero tail, refreshed some hundred
        // times, and their zero must have the bits of the query's for either sign of coef.
        for (tau, steps, least_moves, coef, pairing) in [
            (2.0, 30_000u64, 50, -0.12, Pairing::Nearest),
            (2.0, 30_000, 50, 0.1, Pairing::Nearest),
            (2.0, 30_000, 50, -0.12, Pairing::AllToAll),
            (100.0, 60_000, 10, -0.12, Pairing::Nearest),
            (100.0, 60_000, 10, -0.12, Pairing::AllToAll),
        ] {
            let case = format!("tau {tau} coef {coef} {pairing:?}");
            let mut rng = stream(3, Purpose::Connectivity, 0, 0, 0);
            let mut a = Archive::new(13, [tau], pairing, 11, coef);
            a.span = 2 * (a.keep + 2 + a.table.len() as u64);
            let stand_ins = tau < 10.0 && pairing == Pairing::Nearest;
            assert_eq!(a.refresh_every > 0, stand_ins, "{case}");
            let (mut moves, mut base) = (0, 0);
            let (mut nonzero, mut zero) = (0, 0);
            for t in 0..steps {
                let burst = (t / 700) % 2 == 0;
                for i in 1..12 {
                    if uniform01(&mut rng) < if burst { 0.15 } else { 0.001 } {
                        a.record(i, t);
                    }
                }
                if t == 5 {
                    a.record(12, t);
                }
                a.advance(t);
                moves += usize::from(a.base != base);
                base = a.base;
                if t < 12 {
                    continue;
                }
                let other: Vec<u32> = (0..13).collect();
                for later in [false, true] {
                    let delay: Vec<u16> = (0..13)
                        .map(|_| (uniform01(&mut rng) * 10.0) as u16)
                        .collect();
                    let s = if later { t - 9 } else { t };
                    // From −0: each sum then has the bits of its term, signed zeros and all.
                    let mut got = vec![-0.0f32; 13];
                    a.add_traces(&other, &delay, s, later, &mut got);
                    for (k, g) in got.iter().enumerate() {
                        let q = match later {
                            true => s + delay[k] as u64,
                            false => s - delay[k] as u64,
                        };
                        let want = -0.0f32 + (coef * a.before(k, q as i64)[0]) as f32;
                        assert_eq!(g.to_bits(), want.to_bits(), "{case} t {t} k {k}");
                        nonzero += usize::from(want != 0.0);
                        zero += usize::from(want == 0.0);
                    }
                }
            }
            assert!(moves > least_moves, "{case}: {moves}");
            assert!(
                nonzero > 10_000 && zero > 10_000,
                "{case}: {nonzero} {zero}"
            );
        }
    }
}
