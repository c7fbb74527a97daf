//! The schedule: one step exactly as the module docs of [`super`] state it, runs of many steps,
//! and the reset between samples.

use std::ops::ControlFlow;

use rayon::prelude::*;

use super::plasticity::StepSpikes;
use super::population::{Block, BlockState, StepContext};
use super::projection::Projection;
use super::Network;
use crate::error::Result;
use crate::neuron::SpikeOutput;

impl Network {
    /// Returns the network to step 0: state variables as they were when the first step began
    /// (including values set with [`Network::set_state`]), synaptic variables, delay rings and
    /// counters zeroed, monitors emptied, current schedules rewound. Weights — changed by
    /// plasticity or by hand — are kept. A run after a reset repeats the first run exactly (every
    /// random stream is named by its step), which is how one network serves many samples.
    pub fn reset(&mut self) {
        // Weight changes a rule still holds belong to the run that is ending.
        self.sync_plasticity();
        let Some(initial) = &self.initial else { return };
        for (pop, states) in self.pops.iter_mut().zip(initial) {
            for (blk, state) in pop.blocks.iter_mut().zip(states) {
                blk.state = state.clone();
                if let BlockState::External { pending } = &mut blk.state {
                    pending.clear();
                }
                blk.syn.iter_mut().for_each(|x| x.fill(0.0));
                for ring in &mut blk.rings {
                    ring.all_mut().fill(0.0);
                }
                if let Some(ext) = &mut blk.i_ext {
                    ext.fill(0.0);
                }
                blk.fired.fill(0);
                blk.spikes.clear();
                blk.n_fired = 0;
                blk.flags_set = false;
            }
            pop.spikes.clear();
            pop.n_fired = 0;
            pop.output = SpikeOutput::List;
            pop.lazy_spikes = std::sync::OnceLock::new();
            pop.spike_count = 0;
        }
        for proj in &mut self.projs {
            proj.events = 0;
            if let Some(rule) = &mut proj.plasticity {
                rule.reset();
            }
            if let Some(g) = &mut proj.gate {
                g.reset();
            }
        }
        for m in &mut self.spike_monitors {
            m.events.clear();
        }
        for m in &mut self.state_monitors {
            m.steps.clear();
            m.values.clear();
        }
        for m in &mut self.rate_monitors {
            m.counts.clear();
        }
        self.next_change = 0;
        self.flag_deliveries = 0;
        self.t = 0;
        self.digest = DIGEST_START;
    }

    /// Runs `n_steps` steps.
    pub fn run(&mut self, n_steps: u64) -> Result<()> {
        self.run_with(n_steps, |_| ControlFlow::Continue(()))?;
        Ok(())
    }

    /// Runs up to `n_steps` steps, calling `after_step` with the number of steps done after each;
    /// it can stop the run at that step boundary by returning `Break`. Returns the steps run.
    pub fn run_with(
        &mut self,
        n_steps: u64,
        mut after_step: impl FnMut(u64) -> ControlFlow<()>,
    ) -> Result<u64> {
        for k in 0..n_steps {
            self.step();
            if after_step(k + 1).is_break() {
                self.sync_plasticity();
                return Ok(k + 1);
            }
        }
        self.sync_plasticity();
        Ok(n_steps)
    }

    /// Advances the network one step (the schedule is in the module docs).
    pub fn step(&mut self) {
        let t = self.t;
        let parallel = self.parallel && rayon::current_num_threads() > 1;
        self.begin_step();
        for p in 0..self.pops.len() {
            // 1–2: inputs, integrate, threshold, reset.
            self.update_population(p, parallel, self.flag_delivery);
            // 3: deliver.
            if self.pops[p].n_fired > 0 {
                self.deliver(p, t, parallel);
            }
            // 4: plasticity, monitors.
            self.apply_plasticity(p, t);
            self.record(p, t);
        }
        self.t += 1;
    }

    /// The start of a step: the initial state kept at step 0 (for [`Network::reset`]), then the
    /// current changes due at this step.
    #[inline(always)]
    pub(super) fn begin_step(&mut self) {
        let t = self.t;
        if t == 0 && self.initial.is_none() {
            self.initial = Some(
                self.pops
                    .iter()
                    .map(|p| p.blocks.iter().map(|b| b.state.clone()).collect())
                    .collect(),
            );
        }
        self.apply_current_changes(t);
    }

    /// Phases 1–2 of the step for population `p`: its blocks take their input, integrate,
    /// threshold and reset; their spikes become the population's list, counted and hashed into
    /// the digest.
    ///
    /// With `flags` (flag delivery allowed), a population whose last step fired densely enough
    /// keeps its flags for the projections that read them, and builds no spike list when nothing
    /// else reads one ([`Network::spike_output`]).
    #[inline(always)]
    pub(super) fn update_population(&mut self, p: usize, parallel: bool, flags: bool) {
        let t = self.t;
        let output = if flags {
            self.spike_output(p)
        } else {
            SpikeOutput::List
        };
        let pop = &mut self.pops[p];
        let cx = StepContext {
            dynamics: &pop.dynamics,
            noise: pop.noise,
            seed: self.config.seed,
            pop: p as u64,
            t,
            output,
            delta_fed: pop.delta_fed,
            port_rings_fed: pop.port_rings_fed,
        };
        if parallel && pop.blocks.len() > 1 {
            pop.blocks
                .par_iter_mut()
                .enumerate()
                .for_each(|(b, blk)| blk.update(b, &cx));
        } else {
            pop.blocks
                .iter_mut()
                .enumerate()
                .for_each(|(b, blk)| blk.update(b, &cx));
        }
        if let [only] = &mut pop.blocks[..] {
            // One block: its list becomes the population's without a copy (the block clears
            // the list it gets back when it next updates).
            std::mem::swap(&mut pop.spikes, &mut only.spikes);
        } else {
            pop.spikes.clear();
            for blk in &pop.blocks {
                pop.spikes.extend_from_slice(&blk.spikes);
            }
        }
        pop.n_fired = pop.blocks.iter().map(|b| b.n_fired).sum();
        pop.spike_count += pop.n_fired as u64;
        pop.output = output;
        pop.lazy_spikes = std::sync::OnceLock::new();
        if output != SpikeOutput::List {
            // One array for the population: a projection's windows may cross block edges.
            pop.flags.resize(pop.n, 0);
            if let [only] = &mut pop.blocks[..] {
                // One block: its flags become the population's without a copy. The block gets
                // back an earlier step's flags, marked set so that a model that does not write
                // every flag clears them first (IF and LIF write every one).
                std::mem::swap(&mut pop.flags, &mut only.fired);
                only.flags_set = true;
            } else {
                for blk in &pop.blocks {
                    let at = blk.start as usize;
                    pop.flags[at..at + blk.len].copy_from_slice(&blk.fired[..blk.len]);
                }
            }
        }
        if self.hash_spikes && !pop.spikes.is_empty() {
            // The spikes of a step are hashed independently and summed (no chain from one
            // spike to the next, so the hashing pipelines), then chained step by step.
            let step_hash = step_hash(&pop.spikes, t, pop.global_offset);
            self.digest = crate::rng::mix64(self.digest ^ step_hash);
        }
    }

    // Kept out of `step` so that the hot loops of both keep their own code layout (inlined, a
    // small change in either moved CUBA's time by a third).
    #[inline(never)]
    pub(super) fn deliver(&mut self, p: usize, t: u64, parallel: bool) {
        let spikes = std::mem::take(&mut self.pops[p].spikes);
        let kept = self.pops[p].output != SpikeOutput::List;
        let flags = if kept {
            std::mem::take(&mut self.pops[p].flags)
        } else {
            Vec::new()
        };
        let n_fired = self.pops[p].n_fired;
        let flags_now = kept.then_some(&flags[..]);
        let groups = std::mem::take(&mut self.out_by_post[p]);
        let pop_len = self.pops[p].len() as u32;
        for (q, list) in &groups {
            localise(
                &mut self.projs,
                &mut self.local_spikes,
                &spikes,
                flags_now.map(|f| (f, n_fired)),
                list,
                pop_len,
            );
            if kept {
                let projs = &self.projs;
                self.flag_deliveries +=
                    list.iter().filter(|&&j| projs[j].reads_flags()).count() as u64;
            }
            let (projs, locals) = (&self.projs, &self.local_spikes);
            let spikes = &spikes;
            let deliver_block = |(b, blk): (usize, &mut Block)| {
                for &j in list {
                    let proj = &projs[j];
                    if let Some(flags) = flags_now.filter(|_| proj.reads_flags()) {
                        proj.deliver_flags(flags, t, blk);
                        continue;
                    }
                    let local = local_of(proj, spikes, &locals[j], pop_len);
                    if !local.is_empty() {
                        proj.deliver_into(local, t, b, blk);
                    }
                }
            };
            let blocks = &mut self.pops[*q].blocks;
            if parallel && blocks.len() > 1 {
                blocks.par_iter_mut().enumerate().for_each(deliver_block);
            } else {
                blocks.iter_mut().enumerate().for_each(deliver_block);
            }
        }
        self.out_by_post[p] = groups;
        self.pops[p].spikes = spikes;
        self.pops[p].flags = flags;
    }

    /// What population `p`'s coming step leaves of its spikes. Flags are kept when the last step
    /// fired at least [`FLAG_CROSSOVER`] of its neurons and a projection from it reads flags
    /// ([`Projection::reads_flags`]); a list is built unless flag readers are all there is (no
    /// other projection, monitor, plasticity or digest reads it).
    pub(super) fn spike_output(&self, p: usize) -> SpikeOutput {
        let pop = &self.pops[p];
        if pop.n_fired == 0 || (pop.n_fired as f64) < FLAG_CROSSOVER * pop.n as f64 {
            return SpikeOutput::List;
        }
        let (mut flags, mut list) = (false, self.hash_spikes || !self.plastic_into[p].is_empty());
        for (_, js) in &self.out_by_post[p] {
            for &j in js {
                let proj = &self.projs[j];
                if proj.reads_flags() {
                    flags = true;
                } else {
                    list = true;
                }
            }
        }
        list = list || self.spike_monitors.iter().any(|m| m.pop.0 as usize == p);
        match (flags, list) {
            (false, _) => SpikeOutput::List,
            (true, true) => SpikeOutput::ListAndFlags,
            (true, false) => SpikeOutput::Flags,
        }
    }

    /// Brings every plastic projection's weights up to date with the steps run so far (rules
    /// that change weights lazily, such as [`super::plasticity::RewardStdp`], need it; the others
    /// are always current). [`Network::run`] calls it at its end; call it after driving the
    /// network with [`Network::step`] before reading weights.
    pub fn sync_plasticity(&mut self) {
        let t = self.t;
        for proj in &mut self.projs {
            if let Some(mut rule) = proj.plasticity.take() {
                rule.sync(t, proj.synapses_mut());
                proj.plasticity = Some(rule);
            }
        }
    }

    /// Phase 4's plasticity for population `p`: each plastic projection's rule gets the step's
    /// spikes in its local indices (gathered in scratch lists kept by the network).
    pub(super) fn apply_plasticity(&mut self, p: usize, t: u64) {
        for &j in &self.plastic_into[p] {
            let proj = &mut self.projs[j];
            let local = |spikes: &[u32], start: u32, n: u32, out: &mut Vec<u32>| {
                out.clear();
                out.extend(
                    spikes
                        .iter()
                        .filter(|&&s| s >= start && s < start + n)
                        .map(|&s| s - start),
                );
            };
            let Some(mut rule) = proj.plasticity.take() else {
                continue;
            };
            let (pre, post) = &mut self.plastic_scratch;
            local(&self.pops[proj.pre].spikes, proj.pre_start, proj.n_pre, pre);
            local(&self.pops[p].spikes, proj.post_start, proj.n_post, post);
            rule.on_step(StepSpikes { step: t, pre, post }, proj.synapses_mut());
            proj.plasticity = Some(rule);
        }
    }
}

/// For each projection of `list` (all from one population, whose step's spikes are `spikes`):
/// its spikes in local pre indices, kept in `local_spikes` unless it reads the whole population
/// ([`local_of`]), and its synaptic events of the step (a max gate decides here what passes).
/// A projection that reads the population's `flags` (when kept) counts its events from them.
#[inline(always)]
pub(super) fn localise(
    projs: &mut [Projection],
    local_spikes: &mut [Vec<u32>],
    spikes: &[u32],
    flags: Option<(&[u8], usize)>,
    list: &[usize],
    pop_len: u32,
) {
    for &j in list {
        let proj = &mut projs[j];
        if let Some((flags, n_fired)) = flags.filter(|_| proj.reads_flags()) {
            // One synapse per pre neuron: an event per fired pre neuron it reads.
            let whole = proj.pre_start == 0 && proj.n_pre == pop_len;
            proj.events += if whole {
                n_fired as u64
            } else {
                proj.events_of_flags(flags)
            };
            continue;
        }
        let local = &mut local_spikes[j];
        local.clear();
        // A projection from the whole population reads its spikes as they are; one from a
        // range gets them shifted to local indices.
        let whole = proj.pre_start == 0 && proj.n_pre == pop_len;
        if !whole {
            let lo = spikes.partition_point(|&s| s < proj.pre_start);
            let hi = spikes.partition_point(|&s| s < proj.pre_start + proj.n_pre);
            local.extend(spikes[lo..hi].iter().map(|&s| s - proj.pre_start));
        }
        let local: &[u32] = if whole { spikes } else { local };
        proj.events += match proj.gate_step(local) {
            Some(passed) => passed,
            None => proj.events_of(local),
        };
    }
}

/// The spikes `proj` delivers this step: the population's list when it reads the whole
/// population, else its local list from [`localise`].
#[inline(always)]
pub(super) fn local_of<'a>(
    proj: &Projection,
    spikes: &'a [u32],
    local: &'a [u32],
    pop_len: u32,
) -> &'a [u32] {
    if proj.pre_start == 0 && proj.n_pre == pop_len {
        spikes
    } else {
        local
    }
}

/// The hash of one step's spikes: each spike's mix summed (integer sums in any order agree, so
/// the vector paths give the same value; AVX-512 multiplies 64-bit lanes, which the baseline
/// cannot, and the hash ran 3× slower there).
fn step_hash(spikes: &[u32], t: u64, offset: u64) -> u64 {
    crate::simd::dispatch!(ISA => step_hash_at::<ISA>(spikes, t, offset))
}

#[inline(always)]
fn step_hash_at<const ISA: u8>(spikes: &[u32], t: u64, offset: u64) -> u64 {
    spikes.iter().fold(0u64, |h, &i| {
        h.wrapping_add(crate::rng::mix64((t << 32) | (offset + i as u64)))
    })
}

/// The firing, as a fraction of a population's neurons in its last step, from which projections
/// that can read flags ([`Projection::reads_flags`]) read them. A flag-read projection costs a
/// vector select-and-add per 16 synapses whether or not they fired, about 0.15 cycles a synapse;
/// a spike costs its list entry and a scattered addition, about 2.5 cycles (perf, converted
/// LeNet, AVX-512); the two meet near 6 %, and a population that then needs no list also saves
/// the pass that builds it, so the switch comes earlier.
pub(crate) const FLAG_CROSSOVER: f64 = 0.03;

/// Initial value of the spike digest (any constant; this one is FNV's offset basis).
pub(super) const DIGEST_START: u64 = 0xcbf2_9ce4_8422_2325;
