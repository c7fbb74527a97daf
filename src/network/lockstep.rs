//! Lanes: copies of one network stepped together, so that a dense projection reads each weight row
//! once per step for every lane whose pre neuron fired.
//!
//! Converted networks run one sample per network. Simulated alone, a sample fetches a weight row
//! (4.8 kB for 1 200 targets) from the last-level cache for every spike, and the rows of one step
//! are mostly the rows the other samples need too. [`Lockstep::step`] advances B lanes (copies made
//! by [`Network::lane_copy`], sharing their dense weights) through one step: every population of
//! every lane updates exactly as in [`Network::step`]; then, for each dense projection, the step's
//! spikes of all lanes are grouped by pre neuron and each row is added into the accumulator of
//! every lane that needs it while it sits in L1 — or, in a step where at least
//! [`DENSE_CROSSOVER`] of the pre neurons fired per firing lane, the whole matrix is multiplied by
//! the lanes' 0/1 spike matrix ([`super::spike_gemm`]), the choice made from each step's observed
//! firing. Every other projection kind (convolution, sparse, max gate) delivers lane by lane as
//! usual: its weights are small or its reads are not rows.
//!
//! Each lane keeps its own step counter, state, random streams, counters and monitors, and every
//! target of every lane sums the same inputs in the same order (projections in their order, pre
//! neurons increasing), so a lane's numbers are bit for bit those of the network stepped alone,
//! whatever the other lanes do — which lets a lane that has finished its sample start the next one
//! while the others go on.
//!
//! Whether it pays depends on the machine and the firing: the shared row is read once, but every
//! lane's accumulator is written, and with many lanes those no longer fit in L1
//! (`examples/lanes_throughput.rs` measures the trade; [`crate::convert::evaluate::BATCH`] says
//! what it found here).

use std::collections::HashMap;
use std::sync::Arc;

use super::projection::Storage;
use super::schedule::{local_of, localise};
use super::Network;
use crate::error::{Error, Result};

impl Network {
    /// A copy of this network in its current state, for [`Lockstep`]: dense weights are shared
    /// (until either copy changes them), everything else is the copy's own. Plastic networks are
    /// refused: their lanes' weights would part at the first step.
    ///
    /// ```
    /// use somnet::network::{Network, NetworkConfig};
    /// let net = Network::new(NetworkConfig::default()).unwrap();
    /// let lane = net.lane_copy().unwrap();
    /// assert_eq!(lane.current_step(), 0);
    /// ```
    pub fn lane_copy(&self) -> Result<Network> {
        if let Some(p) = self.projs.iter().find(|p| p.plasticity.is_some()) {
            return Err(Error::Unsupported(format!(
                "projection {}: a plastic network cannot be copied into lanes (each lane would \
                 change its own weights)",
                p.name
            )));
        }
        Ok(Network {
            config: self.config.clone(),
            dt: self.dt,
            max_delay_steps: self.max_delay_steps,
            pops: self.pops.clone(),
            projs: self
                .projs
                .iter()
                .map(|p| super::projection::Projection {
                    name: p.name.clone(),
                    pre: p.pre,
                    pre_start: p.pre_start,
                    n_pre: p.n_pre,
                    post: p.post,
                    post_start: p.post_start,
                    n_post: p.n_post,
                    buffer: p.buffer,
                    storage: p.storage.clone(),
                    delay_steps: p.delay_steps,
                    direct: p.direct,
                    plasticity: None,
                    events: p.events,
                    gate: p.gate.clone(),
                    flag_plan: p.flag_plan.clone(),
                })
                .collect(),
            out_by_post: self.out_by_post.clone(),
            plastic_into: self.plastic_into.clone(),
            local_spikes: self.local_spikes.clone(),
            plastic_scratch: Default::default(),
            changes: self.changes.clone(),
            next_change: self.next_change,
            spike_monitors: self.spike_monitors.clone(),
            state_monitors: self.state_monitors.clone(),
            rate_monitors: self.rate_monitors.clone(),
            t: self.t,
            digest: self.digest,
            hash_spikes: self.hash_spikes,
            flag_delivery: self.flag_delivery,
            flag_deliveries: 0,
            initial: self.initial.clone(),
            parallel: self.parallel,
        })
    }
}

/// Steps lanes together (see the module docs); holds the scratch space of the grouping.
///
/// ```
/// use somnet::network::{Lockstep, Network, NetworkConfig};
/// let net = Network::new(NetworkConfig::default()).unwrap();
/// let mut lanes = vec![net.lane_copy().unwrap(), net];
/// let mut together = Lockstep::default();
/// together.step(&mut lanes.iter_mut().collect::<Vec<_>>()).unwrap();
/// assert!(lanes.iter().all(|l| l.current_step() == 1));
/// ```
#[derive(Debug)]
pub struct Lockstep {
    /// Per pre neuron: where its lanes start in `lanes_of` (counting sort).
    starts: Vec<u32>,
    /// Lane numbers grouped by pre neuron.
    lanes_of: Vec<u16>,
    /// Where the next lane of each pre neuron goes while `lanes_of` fills.
    fill: Vec<u32>,
    /// The spike matrix of the dense path: per firing lane, a mask per pre neuron.
    masks: Vec<u32>,
    /// Weights packed in strips for the dense path, per (matrix, first and end column); the
    /// matrix is kept so that its address cannot be reused by another while the entry lives.
    packed: PackedWeights,
    /// Firing density (spikes per pre neuron and firing lane) from which a dense projection's
    /// step is delivered as a product of the spike matrix with the weights.
    crossover: f64,
    /// Dense projection steps delivered event by event and as a spike-matrix product.
    paths: [u64; 2],
}

/// Packed strips ([`super::spike_gemm::pack`]) by (matrix address, first column, end column).
type PackedWeights = HashMap<(usize, usize, usize), (Arc<Vec<f32>>, Vec<f32>)>;

/// The firing density (a step's spikes per pre neuron and per lane with spikes) above which a
/// dense projection's delivery is cheaper as a product of the lanes' spike matrix with the whole
/// weight matrix (a spike-matrix product) than row by row for the fired neurons. Measured with
/// `examples/dense_crossover.rs` (1 200 × 1 200 weights, 100 steps, one thread, the machine
/// otherwise idle) on this project's machine (AMD EPYC Zen 3, AVX2, 2026-12-03): the product runs
/// at about 25 G masked additions/s, the event path at 6–7 G additions/s (10 % firing), and they
/// break even at 30 % firing with 8 and 64 lanes and 40 % with 32 lanes. Converted networks rarely
/// fire that densely (the MLP's and LeNet's hidden layers: 3–10 % per step at T = 256), so there
/// the events keep the delivery.
pub const DENSE_CROSSOVER: f64 = 0.35;

impl Default for Lockstep {
    fn default() -> Self {
        Lockstep::with_dense_crossover(DENSE_CROSSOVER)
    }
}

impl Lockstep {
    /// A `Lockstep` that delivers a dense projection's step as a spike-matrix product when at
    /// least `density` of its pre neurons fired per lane with spikes (0: always; above 1: never).
    /// The numbers are the same either way; only the time differs.
    ///
    /// ```
    /// use somnet::network::Lockstep;
    /// let always_dense = Lockstep::with_dense_crossover(0.0);
    /// assert_eq!(always_dense.dense_paths(), (0, 0));
    /// ```
    pub fn with_dense_crossover(density: f64) -> Lockstep {
        Lockstep {
            starts: Vec::new(),
            lanes_of: Vec::new(),
            fill: Vec::new(),
            masks: Vec::new(),
            packed: HashMap::new(),
            crossover: density,
            paths: [0; 2],
        }
    }

    /// How many (dense projection, block, step) deliveries went event by event and how many as a
    /// spike-matrix product so far.
    pub fn dense_paths(&self) -> (u64, u64) {
        (self.paths[0], self.paths[1])
    }

    /// Advances every lane one step, each exactly as [`Network::step`] would (without splitting
    /// its blocks over threads: the parallelism of lanes lies outside them). The lanes must be
    /// copies of one network ([`Network::lane_copy`]; at most 65 536); they may be at different
    /// steps.
    pub fn step(&mut self, lanes: &mut [&mut Network]) -> Result<()> {
        let Some(first) = lanes.first() else {
            return Ok(());
        };
        let (n_pops, n_projs) = (first.pops.len(), first.projs.len());
        if lanes.len() > 1 << 16 {
            return Err(Error::param("lanes", lanes.len(), "at most 65536"));
        }
        if let Some(k) = lanes
            .iter()
            .position(|l| l.pops.len() != n_pops || l.projs.len() != n_projs)
        {
            return Err(Error::Unsupported(format!(
                "lane {k} is not a copy of lane 0 ({} populations and {} projections, lane 0 has \
                 {n_pops} and {n_projs})",
                lanes[k].pops.len(),
                lanes[k].projs.len()
            )));
        }
        for lane in lanes.iter_mut() {
            lane.begin_step();
        }
        for p in 0..n_pops {
            for lane in lanes.iter_mut() {
                lane.update_population(p, false, false);
            }
            self.deliver(lanes, p);
            for lane in lanes.iter_mut() {
                let t = lane.t;
                lane.apply_plasticity(p, t);
                lane.record(p, t);
            }
        }
        for lane in lanes.iter_mut() {
            lane.t += 1;
        }
        Ok(())
    }

    /// Phase 3 for population `p` in every lane.
    fn deliver(&mut self, lanes: &mut [&mut Network], p: usize) {
        let groups = std::mem::take(&mut lanes[0].out_by_post[p]);
        let spikes: Vec<Vec<u32>> = lanes
            .iter_mut()
            .map(|l| std::mem::take(&mut l.pops[p].spikes))
            .collect();
        let pop_len = lanes[0].pops[p].len() as u32;
        for (q, list) in &groups {
            // As in `Network::deliver`, a lane without spikes in `p` does nothing this phase.
            for (lane, s) in lanes.iter_mut().zip(&spikes) {
                if !s.is_empty() {
                    localise(
                        &mut lane.projs,
                        &mut lane.local_spikes,
                        s,
                        None,
                        list,
                        pop_len,
                    );
                }
            }
            // Which projections are shared dense matrices does not change from block to block.
            let shared: Vec<Option<Arc<Vec<f32>>>> =
                list.iter().map(|&j| shared_dense(lanes, j)).collect();
            for b in 0..lanes[0].pops[*q].blocks.len() {
                for (&j, weights) in list.iter().zip(&shared) {
                    match weights {
                        Some(weights) => {
                            self.deliver_dense(lanes, &spikes, j, *q, b, weights, pop_len)
                        }
                        None => {
                            for (lane, s) in lanes.iter_mut().zip(&spikes) {
                                if s.is_empty() {
                                    continue;
                                }
                                let t = lane.t;
                                let proj = &lane.projs[j];
                                let local = local_of(proj, s, &lane.local_spikes[j], pop_len);
                                if !local.is_empty() {
                                    proj.deliver_into(local, t, b, &mut lane.pops[*q].blocks[b]);
                                }
                            }
                        }
                    }
                }
            }
        }
        for (lane, s) in lanes.iter_mut().zip(spikes) {
            lane.pops[p].spikes = s;
        }
        lanes[0].out_by_post[p] = groups;
    }

    /// Dense projection `j` into block `b` of population `q`, grouped by pre neuron.
    #[allow(clippy::too_many_arguments)]
    fn deliver_dense(
        &mut self,
        lanes: &mut [&mut Network],
        spikes: &[Vec<u32>],
        j: usize,
        q: usize,
        b: usize,
        shared: &Arc<Vec<f32>>,
        pop_len: u32,
    ) {
        let weights: &[f32] = shared;
        let proj = &lanes[0].projs[j];
        let (n_pre, n_post) = (proj.n_pre as usize, proj.n_post as usize);
        let (post_start, buffer, delay, direct) =
            (proj.post_start, proj.buffer, proj.delay_steps, proj.direct);
        let blk = &lanes[0].pops[q].blocks[b];
        let (b_start, b_end) = (blk.start, blk.start + blk.len as u32);
        let lo = post_start.max(b_start);
        let hi = (post_start + proj.n_post).min(b_end);
        if lo >= hi {
            return;
        }
        // The step's firing decides the path: every lane that fired, its spikes, their density.
        let (mut total, mut firing) = (0usize, 0usize);
        for (lane, s) in lanes.iter().zip(spikes) {
            if !s.is_empty() {
                let n = local_of(&lane.projs[j], s, &lane.local_spikes[j], pop_len).len();
                total += n;
                firing += (n > 0) as usize;
            }
        }
        if total == 0 {
            return;
        }
        let (a0, a1) = ((lo - b_start) as usize, (hi - b_start) as usize);
        let (c0, c1) = ((lo - post_start) as usize, (hi - post_start) as usize);
        if total as f64 >= self.crossover * (n_pre * firing) as f64 {
            self.paths[1] += 1;
            self.masks.clear();
            self.masks.resize(n_pre * firing, 0);
            let mut accs: Vec<&mut [f32]> = Vec::with_capacity(firing);
            let mut row = 0;
            for (lane, s) in lanes.iter_mut().zip(spikes) {
                if s.is_empty() {
                    continue;
                }
                let local = local_of(&lane.projs[j], s, &lane.local_spikes[j], pop_len);
                if local.is_empty() {
                    continue;
                }
                for &i in local {
                    self.masks[row * n_pre + i as usize] = super::spike_gemm::FIRED;
                }
                row += 1;
                let t = lane.t;
                let blk = &mut lane.pops[q].blocks[b];
                accs.push(&mut blk.input_mut(buffer, t, delay, direct)[a0..a1]);
            }
            let key = (weights.as_ptr() as usize, c0, c1);
            let (_, packed) = self.packed.entry(key).or_insert_with(|| {
                let strips = super::spike_gemm::pack(weights, n_pre, n_post, c0, c1);
                (Arc::clone(shared), strips)
            });
            let masks = &self.masks;
            crate::simd::dispatch!(ISA => super::spike_gemm::add_masked_rows::<ISA>(
                weights, packed, n_post, c0, c1, masks, &mut accs
            ));
            return;
        }
        self.paths[0] += 1;
        // Counting sort of (pre neuron, lane): every lane's list is increasing, so each pre
        // neuron's lanes come out in lane order and each lane sees its pre neurons in order.
        self.starts.clear();
        self.starts.resize(n_pre + 1, 0);
        for (lane, s) in lanes.iter().zip(spikes) {
            if s.is_empty() {
                continue;
            }
            for &i in local_of(&lane.projs[j], s, &lane.local_spikes[j], pop_len) {
                self.starts[i as usize + 1] += 1;
            }
        }
        for i in 0..n_pre {
            self.starts[i + 1] += self.starts[i];
        }
        self.lanes_of.clear();
        self.lanes_of.resize(total, 0);
        self.fill.clear();
        self.fill.extend_from_slice(&self.starts);
        for (k, (lane, s)) in lanes.iter().zip(spikes).enumerate() {
            if s.is_empty() {
                continue;
            }
            for &i in local_of(&lane.projs[j], s, &lane.local_spikes[j], pop_len) {
                let at = &mut self.fill[i as usize];
                self.lanes_of[*at as usize] = k as u16;
                *at += 1;
            }
        }
        // Each lane's accumulator for this block's part of the projection, at its own step.
        let mut accs: Vec<&mut [f32]> = lanes
            .iter_mut()
            .map(|lane| {
                let t = lane.t;
                let blk = &mut lane.pops[q].blocks[b];
                &mut blk.input_mut(buffer, t, delay, direct)[a0..a1]
            })
            .collect();
        let (starts, lanes_of) = (&self.starts, &self.lanes_of);
        crate::simd::dispatch!(ISA => add_rows::<ISA>(
            weights, n_post, c0, c1, starts, lanes_of, &mut accs
        ));
    }
}

/// Adds row `i` (columns `c0..c1`) of the pre-major matrix into the accumulator of every lane
/// listed for pre neuron `i`, for every `i` in order.
#[inline(always)]
fn add_rows<const ISA: u8>(
    weights: &[f32],
    n_post: usize,
    c0: usize,
    c1: usize,
    starts: &[u32],
    lanes_of: &[u16],
    accs: &mut [&mut [f32]],
) {
    for i in 0..starts.len() - 1 {
        let (s, e) = (starts[i] as usize, starts[i + 1] as usize);
        if s == e {
            continue;
        }
        let row = &weights[i * n_post + c0..i * n_post + c1];
        for &k in &lanes_of[s..e] {
            let acc = &mut *accs[k as usize];
            for (a, w) in acc.iter_mut().zip(row) {
                *a += *w;
            }
        }
    }
}

/// Projection `j`'s dense weights when every lane holds the same matrix and none is a max gate.
fn shared_dense(lanes: &[&mut Network], j: usize) -> Option<Arc<Vec<f32>>> {
    let proj = &lanes[0].projs[j];
    let Storage::Dense { weights } = &proj.storage else {
        return None;
    };
    if proj.gate.is_some() {
        return None;
    }
    let shared = lanes[1..].iter().all(|l| match &l.projs[j].storage {
        Storage::Dense { weights: w } => Arc::ptr_eq(w, weights) && l.projs[j].gate.is_none(),
        _ => false,
    });
    shared.then(|| Arc::clone(weights))
}
