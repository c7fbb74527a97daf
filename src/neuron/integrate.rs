//! The integrate-and-threshold step shared by IF and LIF: the threshold/reset/refractory clamp,
//! the exponential ports' pass, the delta input, and the block step over them
//! ([`IntegrateBlock`], `integrate_step`).

use super::{collect_spikes, Reset, SpikeOutput};

/// The threshold, reset and refractory clamp shared by IF and LIF, applied inside the membrane
/// update loop (branch-free, so the loop stays vectorised): given the potential `vv` after this
/// step's update, whether the neuron integrated (`active`) and its refractory count `r`, returns
/// (new potential, new refractory count, fired).
#[inline(always)]
pub(crate) fn threshold(rule: &SpikeRule, vv: f32, active: bool, r: u32) -> (f32, u32, bool) {
    let fired = active & (vv >= rule.v_fire);
    // Both resets are computed and one is selected: no branch on a loop-invariant enum per neuron.
    let (subtract, to) = match rule.reset {
        Reset::ToValue { v_reset_mv } => (false, v_reset_mv),
        Reset::BySubtraction => (true, 0.0),
    };
    let after = if subtract {
        vv - (rule.v_th - rule.v_rest)
    } else {
        to
    };
    let v = if fired { after } else { vv };
    let r = if fired {
        rule.refractory_steps
    } else {
        r.saturating_sub(1)
    };
    (v, r, fired)
}

/// What IF and LIF do after a threshold crossing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpikeRule {
    pub v_th: f32,
    /// What `v` is compared with by `≥` ([`SpikeTest::firing_level`]).
    pub v_fire: f32,
    pub v_rest: f32,
    pub reset: Reset,
    pub refractory_steps: u32,
}

/// `drive = gain·i_ext`, or zeros without an external current.
#[inline(always)]
pub(crate) fn external_drive(drive: &mut [f32], i_ext: Option<&[f32]>, gain: f32) {
    match i_ext {
        Some(ext) => {
            for (d, e) in drive.iter_mut().zip(ext) {
                *d = gain * *e;
            }
        }
        None => drive.fill(0.0),
    }
}

/// One exponential port over a block: take this step's arrivals into `x`, add `gain·x` to the
/// drive, then decay `x` by one step (arrivals are zeroed for the ring's next round). Empty
/// `arrivals`: the port takes no delayed input, and `x` is used as it is. `FIRST`: the first
/// port when there is no external current, which writes the drive instead of adding to it
/// (0 + g·x = g·x exactly: the same value the zero-then-add order gives).
#[inline(always)]
pub(crate) fn exp_port_pass<const FIRST: bool>(
    x: &mut [f32],
    arrivals: &mut [f32],
    drive: &mut [f32],
    gain: f32,
    decay: f32,
) {
    let add = |d: &mut f32, xv: f32| *d = if FIRST { gain * xv } else { *d + gain * xv };
    if arrivals.is_empty() {
        for (x, d) in x.iter_mut().zip(drive.iter_mut()) {
            add(d, *x);
            *x *= decay;
        }
        return;
    }
    for ((x, a), d) in x.iter_mut().zip(arrivals.iter_mut()).zip(drive.iter_mut()) {
        let xv = *x + *a;
        *a = 0.0;
        add(d, xv);
        *x = xv * decay;
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set this to run the general loops instead of the fast paths on this thread.
    pub(crate) static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the fast paths are switched off (only ever in this crate's unit tests).
#[inline(always)]
pub(crate) fn general_only() -> bool {
    #[cfg(test)]
    return GENERAL_ONLY.with(|g| g.get());
    #[cfg(not(test))]
    false
}

/// A block's delta input over one step, read once per neuron and zeroed behind the read.
///
/// `FED = false`: nothing delivers into the block's delta port (a converted network's first
/// layer, driven by its analog current alone; CUBA's exponential ports), so the input is zero
/// and its array is neither read nor cleared. The update still adds the 0.0 it would have read,
/// so the numbers keep their bits. That saves a load and a store per neuron in passes bound by
/// memory operations.
pub(crate) struct DeltaIn<'a, const FED: bool>(&'a mut [f32]);

impl<'a, const FED: bool> DeltaIn<'a, FED> {
    /// The input of `n` neurons: `delta[..n]` when fed (`delta` is not looked at otherwise).
    #[inline(always)]
    pub(crate) fn new(delta: &'a mut [f32], n: usize) -> Self {
        Self(if FED { &mut delta[..n] } else { &mut [] })
    }

    /// Neuron `i`'s input, zeroed for the ring's next round.
    #[inline(always)]
    pub(crate) fn take(&mut self, i: usize) -> f32 {
        if FED {
            std::mem::replace(&mut self.0[i], 0.0)
        } else {
            0.0
        }
    }

    /// The input of neurons `start..start + len`.
    #[inline(always)]
    pub(crate) fn part(&mut self, start: usize, len: usize) -> DeltaIn<'_, FED> {
        if FED {
            DeltaIn(&mut self.0[start..start + len])
        } else {
            DeltaIn(&mut [])
        }
    }
}

/// Runs `$body` with a const bool named `$fed` saying whether a block's delta slice `$delta` is
/// fed: true unless the slice is empty (see [`IntegrateBlock::delta`]), so that the body can
/// name a [`DeltaIn`] of either kind.
macro_rules! with_delta {
    ($delta:expr, $fed:ident => $body:expr) => {
        if $delta.is_empty() {
            const $fed: bool = false;
            $body
        } else {
            const $fed: bool = true;
            $body
        }
    };
}
pub(crate) use with_delta;

/// The slices of a block of IF or LIF neurons for one step (low-level API).
pub struct IntegrateBlock<'a, const NP: usize> {
    /// Membrane potentials (mV).
    pub v: &'a mut [f32],
    /// Steps of refractoriness left.
    pub refractory_left: &'a mut [u32],
    /// Exponential-port variables.
    pub syn: [&'a mut [f32]; NP],
    /// This step's arrivals per exponential port (zeroed after use). All empty for a block whose
    /// ports take no delayed input (every projection into them delivers straight into the port
    /// variables, see `Network`'s schedule): the arrivals are then zero and are not read. Either
    /// every port's slice is empty or none is.
    pub arrivals: [&'a mut [f32]; NP],
    /// This step's delta input (zeroed after use). Empty for a block that nothing feeds through
    /// a delta port: the input is then zero and is not read.
    pub delta: &'a mut [f32],
    /// External current, if any.
    pub i_ext: Option<&'a [f32]>,
    /// Scratch, one value per neuron (overwritten).
    pub scratch: &'a mut [f32],
    /// Scratch, one byte per neuron, all zero on entry and on exit.
    pub fired: &'a mut [u8],
}

/// How the external current and the exponential ports feed the membrane over one step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DriveGains<'a> {
    /// Gain of the external current.
    pub ext_gain: f32,
    /// Per exponential port: gain of its variable.
    pub syn_gain: &'a [f32],
    /// Per exponential port: decay over one step.
    pub syn_decay: &'a [f32],
}

/// The membrane pass of [`integrate_step`] without a refractory period: no neuron is ever
/// refractory (counts start at 0 and are only ever set to the period), so the counts are neither
/// read nor written. Returns the number of neurons that fired.
///
/// The external current (times `ext_gain`) is sliced to the block's length here, in the function
/// that holds the loop: a closure over a slice of unknown length kept the loop scalar (a bounds
/// check per neuron; a third of LeNet's conversion time went to its first layer's update).
#[inline(never)]
fn membrane_pass<const ISA: u8, const FED: bool>(
    v: &mut [f32],
    delta: DeltaIn<'_, FED>,
    ext: Option<&[f32]>,
    ext_gain: f32,
    fired: &mut [u8],
    rule: &SpikeRule,
    membrane: &impl Fn(f32, f32, f32) -> f32,
) -> u32 {
    // Its own target-feature function: never inlined into the block step (see iaf::step_block).
    crate::simd::run::<ISA, _>(
        #[inline(always)]
        move || match ext {
            None => membrane_pass_body(v, delta, |_| 0.0, fired, rule, membrane),
            Some(ext) => {
                let ext = &ext[..v.len()];
                membrane_pass_body(v, delta, move |i| ext_gain * ext[i], fired, rule, membrane)
            }
        },
    )
}

#[inline(always)]
fn membrane_pass_body<const FED: bool>(
    v: &mut [f32],
    mut delta: DeltaIn<'_, FED>,
    drive: impl Fn(usize) -> f32,
    fired: &mut [u8],
    rule: &SpikeRule,
    membrane: &impl Fn(f32, f32, f32) -> f32,
) -> u32 {
    let n = v.len();
    let fired = &mut fired[..n];
    let mut n_fired = 0u32;
    for i in 0..n {
        let vn = membrane(v[i], delta.take(i), drive(i));
        let (vv, _, fi) = threshold(rule, vn, true, 0);
        v[i] = vv;
        fired[i] = fi as u8;
        n_fired += fi as u32;
    }
    n_fired
}

/// The step shared by IF and LIF: synaptic drive by port passes, then one membrane pass
/// `v ← membrane(v, δ, drive)` for neurons that are not refractory, then threshold and reset.
///
/// Separate passes over the block (currents, then the membrane) keep each loop simple enough to
/// vectorise; the block fits in the core's cache, so the extra passes cost little (a fused loop
/// over a const number of ports measured slower: it did not vectorise).
#[inline(always)]
pub(crate) fn integrate_step<const ISA: u8, const NP: usize>(
    b: IntegrateBlock<'_, NP>,
    gains: DriveGains<'_>,
    rule: SpikeRule,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
    membrane: impl Fn(f32, f32, f32) -> f32,
) -> usize {
    with_delta!(b.delta, FED => integrate_step_fed::<ISA, NP, FED>(
        b, gains, rule, base, spikes, output, membrane
    ))
}

/// [`integrate_step`] with the delta input fed or not (`FED`, see [`DeltaIn`]).
#[inline(always)]
fn integrate_step_fed<const ISA: u8, const NP: usize, const FED: bool>(
    b: IntegrateBlock<'_, NP>,
    gains: DriveGains<'_>,
    rule: SpikeRule,
    base: u32,
    spikes: &mut Vec<u32>,
    output: SpikeOutput,
    membrane: impl Fn(f32, f32, f32) -> f32,
) -> usize {
    let n = b.v.len();
    let DriveGains {
        ext_gain,
        syn_gain,
        syn_decay,
    } = gains;
    let mut delta = DeltaIn::<FED>::new(b.delta, n);
    if NP == 0 && rule.refractory_steps == 0 && !general_only() {
        // Delta input and at most an external current: the drive is computed inside the membrane
        // pass (the same products, so the same numbers) instead of in a pass of its own.
        let (v, fired) = (&mut b.v[..n], &mut b.fired[..n]);
        let n_fired =
            membrane_pass::<ISA, FED>(v, delta, b.i_ext, ext_gain, fired, &rule, &membrane);
        return collect_spikes::<ISA>(fired, n_fired as usize, base, spikes, output);
    }
    let drive = &mut b.scratch[..n];
    let mut ports = b.syn.into_iter().zip(b.arrivals).enumerate();
    // The first port writes the drive, so no zeroing pass is needed without a current.
    match (b.i_ext, ports.next()) {
        (None, Some((k, (x, a)))) => {
            let m = n.min(a.len());
            exp_port_pass::<true>(&mut x[..n], &mut a[..m], drive, syn_gain[k], syn_decay[k])
        }
        (i_ext, first) => {
            external_drive(drive, i_ext, ext_gain);
            if let Some((k, (x, a))) = first {
                let m = n.min(a.len());
                exp_port_pass::<false>(&mut x[..n], &mut a[..m], drive, syn_gain[k], syn_decay[k]);
            }
        }
    }
    for (k, (x, a)) in ports {
        let m = n.min(a.len());
        exp_port_pass::<false>(&mut x[..n], &mut a[..m], drive, syn_gain[k], syn_decay[k]);
    }
    let mut n_fired = 0u32;
    let (v, refr, fired) = (
        &mut b.v[..n],
        &mut b.refractory_left[..n],
        &mut b.fired[..n],
    );
    if rule.refractory_steps == 0 && !general_only() {
        // Gain 1: 1·x = x exactly.
        let n_fired =
            membrane_pass::<ISA, FED>(v, delta, Some(drive), 1.0, fired, &rule, &membrane);
        return collect_spikes::<ISA>(fired, n_fired as usize, base, spikes, output);
    }
    let drive = &drive[..n];
    for i in 0..n {
        let r = refr[i];
        let active = r == 0;
        let vn = membrane(v[i], delta.take(i), drive[i]);
        let vv = if active { vn } else { v[i] };
        let (vv, rr, fi) = threshold(&rule, vv, active, r);
        v[i] = vv;
        refr[i] = rr;
        fired[i] = fi as u8;
        n_fired += fi as u32;
    }
    collect_spikes::<ISA>(fired, n_fired as usize, base, spikes, output)
}

#[cfg(test)]
mod tests {
    use super::IntegrateBlock;
    use crate::neuron::conductance::ConductanceScheme;
    use crate::neuron::for_each_fired;
    use crate::neuron::{iaf, lif, Port, Reset};
    use crate::simd::{self, Level};
    use rand::SeedableRng;

    /// The neuron models the block tests step.
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Model {
        Iaf,
        Lif,
        /// LIF with conductance ports, by exponential Euler.
        LifCond,
        /// LIF with conductance ports, by forward Euler.
        LifCondEuler,
    }

    /// One block's state: v, refractory counts, two exponential ports, delta input.
    #[derive(Clone, PartialEq, Debug)]
    struct State {
        v: Vec<f32>,
        refr: Vec<u32>,
        syn: [Vec<f32>; 2],
        spikes: Vec<u32>,
    }

    /// 40 steps of IF or LIF neurons (`np` exponential or, for the conductance models,
    /// conductance ports, with or without a current) from a seeded random state with random
    /// inputs every step; the state after each step.
    fn run_block(model: Model, np: usize, current: bool, reset: Reset, seed: u64) -> Vec<State> {
        run_block_with(model, np, current, reset, seed, Delta::Random)
    }

    /// The delta input `run_block_with` gives each step.
    #[derive(Clone, Copy, PartialEq)]
    enum Delta {
        Random,
        Zeros,
        /// An empty slice: a block nothing feeds through its delta port.
        Unfed,
    }

    fn run_block_with(
        model: Model,
        np: usize,
        current: bool,
        reset: Reset,
        seed: u64,
        delta_kind: Delta,
    ) -> Vec<State> {
        // Not a multiple of any vector width; two whole chunks of the conductance pass and a part.
        const N: usize = 603;
        let mut rng = crate::rng::Stream::seed_from_u64(seed);
        let mut u = |lo: f32, hi: f32| lo + (hi - lo) * crate::rng::uniform01(&mut rng) as f32;
        let cond = matches!(model, Model::LifCond | Model::LifCondEuler);
        let ports = if cond {
            crate::benchmarks::coba::ports()
        } else {
            vec![
                Port::Exponential { tau_ms: 5.0 },
                Port::Exponential { tau_ms: 10.0 },
            ]
        };
        let dt = crate::time::Dt::new(0.1).unwrap();
        let mut lif_p = lif::LifPropagator::new(
            &crate::neuron::LifParams {
                reset,
                t_ref_ms: 0.0,
                ..Default::default()
            },
            &ports[..np],
            dt,
        )
        .unwrap();
        if let Some(c) = &mut lif_p.conductance {
            if model == Model::LifCondEuler {
                c.scheme = ConductanceScheme::ForwardEuler;
            }
        }
        let iaf_p = iaf::IafPropagator::new(
            &crate::neuron::IafParams {
                v_th_mv: -50.0,
                v_rest_mv: -70.0,
                reset,
                t_ref_ms: 0.0,
            },
            &ports[..np],
            dt,
        )
        .unwrap();
        let mut st = State {
            v: (0..N).map(|_| u(-75.0, -45.0)).collect(),
            refr: vec![0; N],
            syn: [vec![0.0; N], vec![0.0; N]],
            spikes: Vec::new(),
        };
        let i_ext: Vec<f32> = (0..N).map(|_| u(0.0, 30.0)).collect();
        let mut out = Vec::new();
        for step in 0..40 {
            let mut delta: Vec<f32> = (0..N).map(|_| u(-2.0, 6.0)).collect();
            match delta_kind {
                Delta::Random => {}
                Delta::Zeros => delta.fill(0.0),
                Delta::Unfed => delta.clear(),
            }
            let mut arr: [Vec<f32>; 2] =
                std::array::from_fn(|_| (0..N).map(|_| u(-1.0, 3.0)).collect());
            let (mut scratch, mut fired) = (vec![0.0f32; N], vec![0u8; N]);
            let [s0, s1] = &mut st.syn;
            // Every other step the input comes as direct delivery leaves it: already in the port
            // variables, the arrivals empty (the same sums, so the same bits).
            let direct = step % 2 == 1;
            let (a0, a1): (&mut [f32], &mut [f32]) = if direct {
                for (s, a) in [(&mut *s0, &arr[0]), (&mut *s1, &arr[1])]
                    .into_iter()
                    .take(np)
                {
                    s.iter_mut().zip(a).for_each(|(s, a)| *s += a);
                }
                (&mut [], &mut [])
            } else {
                let [a0, a1] = &mut arr;
                (a0, a1)
            };
            st.spikes.clear();
            macro_rules! step {
                ($np:literal, $syn:expr, $arr:expr) => {{
                    let b = IntegrateBlock::<$np> {
                        v: &mut st.v,
                        refractory_left: &mut st.refr,
                        syn: $syn,
                        arrivals: $arr,
                        delta: &mut delta,
                        i_ext: current.then_some(&i_ext[..]),
                        scratch: &mut scratch,
                        fired: &mut fired,
                    };
                    if model != Model::Iaf {
                        lif::step_block(&lif_p, b, 5, &mut st.spikes)
                    } else {
                        iaf::step_block(&iaf_p, b, 5, &mut st.spikes)
                    }
                }};
            }
            match np {
                0 => step!(0, [], []),
                1 => step!(1, [s0], [a0]),
                _ => step!(2, [s0, s1], [a0, a1]),
            }
            out.push(st.clone());
        }
        out
    }

    fn cases() -> Vec<(Model, usize, bool, Reset)> {
        let mut c = Vec::new();
        for model in [Model::Iaf, Model::Lif, Model::LifCond, Model::LifCondEuler] {
            let cond = matches!(model, Model::LifCond | Model::LifCondEuler);
            // A conductance model needs a conductance port.
            for np in [0, 1, 2].into_iter().filter(|&np| np > 0 || !cond) {
                for current in [false, true] {
                    for reset in [Reset::BySubtraction, Reset::ToValue { v_reset_mv: -60.0 }] {
                        c.push((model, np, current, reset));
                    }
                }
            }
        }
        c
    }

    /// Issue 14: the fast paths (the refractory-free membrane pass with its drive computed
    /// inside, LIF's fused two-port step, the conductance pass's G without coefficients) against
    /// the general loops, bit for bit.
    #[test]
    fn fast_paths_give_the_bits_of_the_general_loops() {
        for (k, (model, np, current, reset)) in cases().into_iter().enumerate() {
            let fast = run_block(model, np, current, reset, k as u64);
            super::GENERAL_ONLY.with(|g| g.set(true));
            let general = run_block(model, np, current, reset, k as u64);
            super::GENERAL_ONLY.with(|g| g.set(false));
            let fired: usize = fast.iter().map(|s| s.spikes.len()).sum();
            assert!(fired > 0, "case {k}: no spikes, nothing compared");
            for (t, (f, g)) in fast.iter().zip(&general).enumerate() {
                assert_eq!(
                    f, g,
                    "case {k} ({model:?}, {np} ports, current {current}, {reset:?}), step {t}"
                );
            }
        }
    }

    /// A block told that nothing feeds its delta port (an empty slice) steps as one that reads
    /// zeros, bit for bit, on the fast paths and the general loops; the zeros are left as they
    /// were.
    #[test]
    fn an_unfed_delta_input_steps_as_zeros() {
        for general in [false, true] {
            super::GENERAL_ONLY.with(|g| g.set(general));
            for (k, (model, np, current, reset)) in cases().into_iter().enumerate() {
                let run = |d| run_block_with(model, np, current, reset, 7 + k as u64, d);
                let (zeros, unfed) = (run(Delta::Zeros), run(Delta::Unfed));
                let fired: usize = unfed.iter().map(|s| s.spikes.len()).sum();
                assert!(
                    fired > 0 || !current,
                    "case {k}: no spikes, nothing compared"
                );
                assert_eq!(zeros, unfed, "case {k}, general loops {general}");
            }
        }
        super::GENERAL_ONLY.with(|g| g.set(false));
    }

    /// Issue 14: every vector level the CPU has gives the portable path's bits, on the same
    /// random blocks (spike collection with AVX-512 compress and AVX2 masks included).
    #[test]
    fn every_vector_level_gives_the_portable_bits() {
        let best = simd::detected();
        let run_at = |level| {
            let _guard = simd::tests::LEVEL_LOCK
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            simd::set_level(level);
            let r: Vec<Vec<State>> = cases()
                .into_iter()
                .enumerate()
                .map(|(k, (l, np, c, r))| run_block(l, np, c, r, 100 + k as u64))
                .collect();
            simd::set_level(best);
            r
        };
        let portable = run_at(Level::Portable);
        for level in [Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| l <= best)
        {
            assert_eq!(
                run_at(level),
                portable,
                "{} differs from portable",
                level.name()
            );
        }
    }

    #[test]
    fn collected_spikes_are_the_flagged_neurons_after_what_was_there() {
        // Patterns from empty to every neuron, over a partial last chunk (300 flags; 9 000
        // flags span three summary words of 64 chunks), appended after earlier spikes with an
        // offset base, at every vector level the CPU has (AVX2's table lookups and AVX-512's
        // compress included).
        let best = simd::detected();
        let _guard = simd::tests::LEVEL_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for level in [Level::Portable, Level::Avx2, Level::Avx512] {
            if level > best {
                continue;
            }
            simd::set_level(level);
            for (len, every) in [1usize, 2, 3, 5, 7, 8, 9, 16, 17, 64, 301, 4099]
                .into_iter()
                .flat_map(|every| [(300usize, every), (9000, every)])
            {
                let mut fired: Vec<u8> = (0..len).map(|i| u8::from(i % every == 0)).collect();
                let n = fired.iter().filter(|&&f| f != 0).count();
                let mut spikes = vec![7u32, 9];
                let (f, s) = (&mut fired, &mut spikes);
                crate::simd::dispatch!(ISA => crate::neuron::collect_spikes::<ISA>(f, n, 1000, s, crate::neuron::SpikeOutput::List));
                let want: Vec<u32> = [7, 9]
                    .into_iter()
                    .chain((0..len).filter(|i| i % every == 0).map(|i| 1000 + i as u32))
                    .collect();
                assert_eq!(spikes, want, "{len} flags, every {every}, {}", level.name());
                assert!(fired.iter().all(|&f| f == 0));
            }
        }
        simd::set_level(best);
    }

    #[test]
    fn fired_flags_are_visited_in_order_and_cleared() {
        // 200 flags (a partial last chunk), every 7th set, some with values other than 1.
        let mut fired: Vec<u8> = (0..200)
            .map(|i| u8::from(i % 7 == 0) * (1 + i as u8 % 3))
            .collect();
        let mut seen = Vec::new();
        for_each_fired(&mut fired, |i| seen.push(i));
        assert_eq!(seen, (0..200).filter(|i| i % 7 == 0).collect::<Vec<_>>());
        assert!(fired.iter().all(|&f| f == 0));
    }
}
