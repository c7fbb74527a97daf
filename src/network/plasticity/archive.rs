//! Each neuron's recent spikes on one side of a plastic projection, with the traces just after
//! each: what the spike-timing machinery (`timing.rs`) asks when a spike reaches a synapse.

use std::collections::VecDeque;

use super::timing::Pairing;

/// Per-neuron archive of recent spikes with `K` traces each.
///
/// The latest spike of every neuron sits in one flat array (most queries end there: the neuron
/// has not fired since the time asked about); older spikes, still within reach of a query, in a
/// per-neuron queue.
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
    /// Per neuron: the step of its latest spike; `NONE` if it has none.
    latest_t: Vec<u64>,
    /// Per neuron: its trace values just after its latest spike (1 under nearest-spike pairing,
    /// which the loops of [`Archive::add_linear`] then do not read).
    latest_v: Vec<[f64; K]>,
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
            latest_t: vec![NONE; n],
            latest_v: vec![[0.0; K]; n],
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
        let t = self.latest_t[i];
        if (t as i64) < x {
            return self.traces(self.latest_v[i], (x - t as i64) as u64);
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

    /// For every entry (synapse s, other-side neuron o, its delay d) of a run reaching its
    /// synapses at step `x`: `target[s] += (coef × trace_0 of o just before x − d) as f32`, the
    /// arithmetic of a [`OnArrival::linear`](super::timing::OnArrival::linear) rule's hook with its `Arrival` taken apart. The
    /// latest spike answers nearly every entry; the others take [`Archive::before`].
    #[inline(always)]
    pub(super) fn add_linear(&self, entries: &[[u32; 3]], x: u64, target: &mut [f32], coef: f64) {
        match self.pairing {
            Pairing::Nearest => self.add_linear_with::<true>(entries, x, target, coef),
            Pairing::AllToAll => self.add_linear_with::<false>(entries, x, target, coef),
        }
    }

    /// [`Archive::add_linear`]; `NEAREST`: every latest spike's value is 1, and 1 × the decay is
    /// the decay, so the values are not read. Never inlined: inside the step's large function
    /// its loop kept five of its invariants on the stack and reloaded them at every entry; on
    /// its own it keeps them in registers, for one call per run (the polychronization network,
    /// min of 15 alternated runs: 0.0351 against 0.0329 s, the same spikes).
    #[inline(never)]
    fn add_linear_with<const NEAREST: bool>(
        &self,
        entries: &[[u32; 3]],
        x: u64,
        target: &mut [f32],
        coef: f64,
    ) {
        let (latest_t, latest_v, table) = (&self.latest_t[..], &self.latest_v[..], &self.table[..]);
        for &[s, o, d] in entries {
            let at = x as i64 - d as i64;
            let t = latest_t[o as usize];
            let n = at.wrapping_sub(t as i64) as u64;
            let trace = if (t as i64) < at && (n as usize) < table.len() {
                let decay = table[n as usize][0];
                if NEAREST {
                    decay
                } else {
                    latest_v[o as usize][0] * decay
                }
            } else {
                self.before_cold(o as usize, at)[0]
            };
            target[s as usize] += (coef * trace) as f32;
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
        let previous = (
            std::mem::replace(&mut self.latest_t[i], t),
            std::mem::replace(&mut self.latest_v[i], v),
        );
        let q = &mut self.older[i];
        if previous.0 != NONE {
            q.push_back(previous);
        }
        // Queries reach back `keep` steps: the newest spike older than that answers them all
        // (the latest spike itself when it is).
        while !q.is_empty() {
            let next = q.get(1).map_or(t, |e| e.0);
            if next + self.keep < t {
                q.pop_front();
            } else {
                break;
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.latest_t.fill(NONE);
        self.latest_v.fill([0.0; K]);
        self.older.iter_mut().for_each(VecDeque::clear);
    }
}
