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
    /// Per neuron: its trace values just after those two spikes (1 under nearest-spike pairing,
    /// which the loops of [`Archive::add_traces`] then do not read).
    recent_v: Vec<[[f64; K]; 2]>,
    /// Per neuron: earlier spikes a query may still need, oldest first.
    older: Vec<VecDeque<(u64, [f64; K])>>,
}

/// The step of a neuron that has not fired: later than any step asked about, so that one
/// comparison tells a latest spike that answers a query from one that does not.
const NONE: u64 = i64::MAX as u64;

impl<const K: usize> Archive<K> {
    pub(super) fn new(n: usize, tau_steps: [f64; K], pairing: Pairing, keep: u64) -> Self {
        let ln_decay = tau_steps.map(|tau| -1.0 / tau);
        // Intervals up to 200 τ (at most 4096 steps) read the table.
        let longest = tau_steps.iter().fold(0.0f64, |m, &t| m.max(t));
        let len = ((200.0 * longest).ceil() as usize).clamp(512, 4096);
        let table = (0..len)
            .map(|n| ln_decay.map(|l| (l * n as f64).exp()))
            .collect();
        Archive {
            ln_decay,
            table,
            pairing,
            keep,
            recent_t: vec![[NONE; 2]; n],
            recent_v: vec![[[0.0; K]; 2]; n],
            older: vec![VecDeque::new(); n],
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
                return self.traces(self.recent_v[i][k], (x - t as i64) as u64);
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
    /// `deferred.rs`. The latest spike answers nearly every query; the others take
    /// [`Archive::before`].
    #[inline(always)]
    pub(super) fn add_traces(
        &self,
        other: &[u32],
        delay: &[u16],
        t: u64,
        later: bool,
        target: &mut [f32],
        coef: f64,
    ) {
        let nearest = self.pairing == Pairing::Nearest;
        let args = (other, delay, t as i64, target, coef);
        match (nearest, later) {
            (true, true) => self.add_traces_with::<true, true>(args),
            (true, false) => self.add_traces_with::<true, false>(args),
            (false, true) => self.add_traces_with::<false, true>(args),
            (false, false) => self.add_traces_with::<false, false>(args),
        }
    }

    /// [`Archive::add_traces`]; `NEAREST`: every latest spike's value is 1, and 1 × the decay is
    /// the decay, so the values are not read. Never inlined: inside a large function the loop
    /// kept its invariants on the stack and reloaded them at every synapse; on its own it keeps
    /// them in registers, for one call per spike.
    #[inline(never)]
    fn add_traces_with<const NEAREST: bool, const LATER: bool>(
        &self,
        (other, delay, t, target, coef): (&[u32], &[u16], i64, &mut [f32], f64),
    ) {
        let (recent_t, recent_v, table) = (&self.recent_t[..], &self.recent_v[..], &self.table[..]);
        for ((&o, &d), y) in other.iter().zip(delay).zip(target) {
            let q = if LATER { t + d as i64 } else { t - d as i64 };
            // The latest spike, or the one before when the latest is not before q: chosen by a
            // conditional move, not a branch, for which one answers is not predictable (as a
            // branch it cost the polychronization network 15 % of its simulation; as an index,
            // a dependent load, 3 %).
            let [latest, previous] = recent_t[o as usize];
            let late = (latest as i64) >= q;
            let k = usize::from(late);
            let last = std::hint::select_unpredictable(late, previous, latest);
            let n = q.wrapping_sub(last as i64) as u64;
            *y += if (last as i64) < q && (n as usize) < table.len() {
                let decay = table[n as usize][0];
                let trace = match NEAREST {
                    true => decay,
                    false => recent_v[o as usize][k][0] * decay,
                };
                (coef * trace) as f32
            } else {
                (coef * self.before_cold(o as usize, q)[0]) as f32
            };
        }
    }

    /// [`Archive::before`] out of line, for loops whose common case is inlined.
    #[cold]
    #[inline(never)]
    fn before_cold(&self, i: usize, x: i64) -> [f64; K] {
        self.before(i, x)
    }

    /// Adds a spike of neuron `i` at step `t` (after every query about times ≤ t is answered).
    pub(super) fn record(&mut self, i: usize, t: u64) {
        let v = match self.pairing {
            Pairing::AllToAll => self.before(i, t as i64).map(|x| x + 1.0),
            Pairing::Nearest => [1.0; K],
        };
        let [latest_t, previous_t] = self.recent_t[i];
        let [latest_v, previous_v] = self.recent_v[i];
        self.recent_t[i] = [t, latest_t];
        self.recent_v[i] = [v, latest_v];
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
    }
}
