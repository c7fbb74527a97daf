//! Building the planned network on the engine and running samples through it.

use std::ops::ControlFlow;

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

use super::plan::{Map, Plan, Sink, Source};
use crate::error::{Error, Result};
use crate::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, StateVar, Weights,
};

/// The engine network of a plan, with what the runner feeds and reads outside it.
struct Built {
    net: Network,
    pops: Vec<PopulationId>,
    /// Per population: the input maps into it (input side, computed per step).
    input_maps: Vec<Vec<usize>>,
    /// Per population: whether its external current is set per step.
    per_step_current: Vec<bool>,
    /// Maps into the output.
    output_maps: Vec<usize>,
}

fn build(plan: &Plan, options: &super::SimOptions, parallel: bool) -> Result<Built> {
    let max_delay = plan.maps.iter().map(|m| m.delay).max().unwrap_or(0);
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        max_delay_ms: max_delay as f64,
    })?;
    net.set_parallel(parallel);
    let mut pops = Vec::with_capacity(plan.pops.len());
    for p in &plan.pops {
        let id = net.add_population(&p.name, p.n, p.model.clone(), p.ports.clone())?;
        if p.spiking {
            net.set_spike_test(id, p.spike_test.unwrap_or(options.spike_test))?;
            if p.memoryless {
                net.set_memoryless(id, true)?;
            }
            if options.initial != 0.0 {
                let theta = match &p.model {
                    crate::neuron::NeuronModel::Iaf(m) => m.v_th_mv,
                    crate::neuron::NeuronModel::Lif(m) => m.v_th_mv,
                    _ => f32::INFINITY,
                };
                if theta.is_finite() {
                    net.set_v(id, &vec![options.initial as f32 * theta; p.n])?;
                }
            }
        }
        pops.push(id);
    }
    let mut input_maps = vec![Vec::new(); plan.pops.len()];
    let mut output_maps = Vec::new();
    for (k, m) in plan.maps.iter().enumerate() {
        match (m.source, m.sink) {
            (Source::Input, Sink::Pop(p)) => input_maps[p].push(k),
            (_, Sink::Output) => output_maps.push(k),
            (Source::Pop(q), Sink::Pop(p)) => connect(&mut net, plan, m, pops[q], pops[p], p)?,
        }
    }
    let mut per_step_current = vec![false; plan.pops.len()];
    for (i, p) in plan.pops.iter().enumerate() {
        // Input into the membrane is an external current set every step, with the bias in it;
        // input into a synaptic current is added to that variable, and the bias stays constant.
        per_step_current[i] = !input_maps[i].is_empty() && !p.synaptic;
        if !per_step_current[i] && p.bias.iter().any(|&b| b != 0.0) {
            let values: Vec<f32> = p
                .bias
                .iter()
                .zip(&p.gain_current)
                .map(|(b, g)| b * g)
                .collect();
            net.set_constant_currents(pops[i], &values)?;
        }
    }
    Ok(Built {
        net,
        pops,
        input_maps,
        per_step_current,
        output_maps,
    })
}

/// A population-to-population map as a projection: weights scaled by the target's event gain.
fn connect(
    net: &mut Network,
    plan: &Plan,
    m: &Map,
    pre: PopulationId,
    post: PopulationId,
    p: usize,
) -> Result<()> {
    let gain = &plan.pops[p].gain_event;
    let count: usize = m.rows.iter().map(Vec::len).sum();
    crate::limits::check(
        format!("NIR projection into '{}'", plan.pops[p].name),
        "synapses",
        count as u128 * 12,
    )?;
    let mut pairs = Vec::with_capacity(count);
    let mut weights = Vec::with_capacity(count);
    for (i, row) in m.rows.iter().enumerate() {
        for &(j, w) in row {
            pairs.push((i as u32, j));
            weights.push(w * gain[j as usize]);
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let source = match m.source {
        Source::Pop(q) => plan.pops[q].name.as_str(),
        Source::Input => plan.input_name.as_str(),
    };
    let conn = Connection::new(Connector::List(pairs), Weights::Values(weights))
        .delay(Delay::Steps(m.delay))
        .named(format!("{source}->{}", plan.pops[p].name));
    net.connect(pre, post, conn)?;
    Ok(())
}

/// What a run gives back.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// (samples, steps, output elements): the output node's value per step.
    pub output: Array3<f32>,
    /// Per population (schedule order): name and total spikes over all samples.
    pub spikes: Vec<(String, u64)>,
    /// Synapses of the engine network.
    pub synapses: u64,
    /// Synaptic events delivered over all samples.
    pub events: u64,
    /// Samples given.
    pub samples: usize,
    /// Samples that finished (all of them unless stopped).
    pub samples_done: usize,
    /// With recording: every population's spikes and membrane per step (see
    /// [`crate::io::nir::write_data`]), in schedule order.
    pub recording: Option<Vec<crate::io::nir::NodeData>>,
}

/// Runs every sample of `input` (samples, steps, input elements) through the planned network:
/// samples in parallel (one engine network per worker, each sample from the reset state), so the
/// numbers do not depend on the thread count. `on_sample(done)` may stop the run between samples.
pub(crate) fn run(
    plan: &Plan,
    options: &super::SimOptions,
    input: ArrayView3<'_, f32>,
    record: bool,
    on_sample: &(dyn Fn(usize) -> ControlFlow<()> + Sync),
) -> Result<SimResult> {
    let (b, t, n_in) = input.dim();
    if n_in != plan.input_len() {
        return Err(Error::SizeMismatch {
            what: format!("input elements per step (NIR node '{}')", plan.input_name),
            expected: plan.input_len(),
            got: n_in,
        });
    }
    if let Some(bad) = input.iter().find(|x| !x.is_finite()) {
        return Err(Error::param("input", bad, "finite numbers"));
    }
    let n_out = plan.output_len();
    crate::limits::check("simulate", "output array", (b * t * n_out) as u128 * 4)?;
    if record {
        let neurons: usize = plan.pops.iter().map(|p| p.n).sum();
        crate::limits::check(
            "simulate --record",
            "membrane recording (samples × steps × neurons)",
            (b * t) as u128 * neurons as u128 * 4,
        )?;
    }
    let workers = rayon::current_num_threads().clamp(1, b.max(1));
    let chunk = b.div_ceil(workers).max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let parts: Vec<Result<Part>> = (0..b)
        .step_by(chunk)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let end = (start + chunk).min(b);
            let mut built = build(plan, options, b == 1)?;
            let mut out = vec![0.0f32; (end - start) * t * n_out];
            let mut spikes = vec![0u64; plan.pops.len()];
            let mut events = 0;
            let mut finished = 0;
            let mut rec = record.then(|| Recording::new(plan, end - start, t));
            for s in start..end {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let o = &mut out[(s - start) * t * n_out..(s - start + 1) * t * n_out];
                let slot = rec.as_mut().map(|r| (r, s - start));
                run_sample(
                    plan,
                    &mut built,
                    input.index_axis(ndarray::Axis(0), s),
                    o,
                    &mut spikes,
                    slot,
                )?;
                events += built.net.n_events();
                finished += 1;
                let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if on_sample(k).is_break() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok(Part {
                out,
                spikes,
                events,
                synapses: built.net.n_synapses(),
                finished,
                rec,
            })
        })
        .collect();
    let mut output = Vec::with_capacity(b * t * n_out);
    let mut spikes = vec![0u64; plan.pops.len()];
    let (mut events, mut synapses, mut samples_done) = (0, 0, 0);
    let mut complete = true;
    let mut recs = Vec::new();
    for part in parts {
        let Part {
            out: o,
            spikes: s,
            events: e,
            synapses: syn,
            finished,
            rec,
        } = part?;
        // Samples are kept in order up to the first one that did not finish.
        if complete {
            output.extend_from_slice(&o[..finished * t * n_out]);
            samples_done += finished;
            if let Some(r) = rec {
                recs.push((r, finished));
            }
        }
        complete &= finished * t * n_out == o.len();
        for (a, x) in spikes.iter_mut().zip(s) {
            *a += x;
        }
        events += e;
        synapses = syn;
    }
    let output = Array3::from_shape_vec((samples_done, t, n_out), output)
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    let recording = record.then(|| Recording::join(plan, recs, t));
    Ok(SimResult {
        output,
        spikes: plan
            .pops
            .iter()
            .zip(spikes)
            .map(|(p, s)| (p.name.clone(), s))
            .collect(),
        synapses,
        events,
        samples: b,
        samples_done,
        recording,
    })
}

/// One worker's recording: per population, spikes per sample and the membrane per step.
struct Recording {
    spikes: Vec<Vec<Vec<(u32, u32)>>>,
    v: Vec<Vec<f32>>,
}

impl Recording {
    fn new(plan: &Plan, samples: usize, t: usize) -> Recording {
        Recording {
            spikes: plan
                .pops
                .iter()
                .map(|_| vec![Vec::new(); samples])
                .collect(),
            v: plan
                .pops
                .iter()
                .map(|p| vec![0.0; samples * t * p.n])
                .collect(),
        }
    }

    /// The workers' recordings (each with its finished samples), in sample order.
    fn join(
        plan: &Plan,
        parts: Vec<(Recording, usize)>,
        t: usize,
    ) -> Vec<crate::io::nir::NodeData> {
        plan.pops
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut spikes = Vec::new();
                let mut v = Vec::new();
                for (r, finished) in &parts {
                    spikes.extend(r.spikes[i][..*finished].iter().cloned());
                    v.extend_from_slice(&r.v[i][..finished * t * p.n]);
                }
                let samples = spikes.len();
                crate::io::nir::NodeData {
                    name: p.name.clone(),
                    spikes: p.spiking.then_some(spikes),
                    v: Some(Array3::from_shape_vec((samples, t, p.n), v).expect("sizes match")),
                    n_neurons: p.n,
                }
            })
            .collect()
    }
}

/// What one worker's contiguous share of the samples gives.
struct Part {
    out: Vec<f32>,
    spikes: Vec<u64>,
    events: u64,
    synapses: u64,
    finished: usize,
    rec: Option<Recording>,
}

/// One sample from the reset state: per step, the input side's currents, one engine step, the
/// output side's values.
fn run_sample(
    plan: &Plan,
    built: &mut Built,
    x: ndarray::ArrayView2<'_, f32>,
    out: &mut [f32],
    spikes: &mut [u64],
    mut rec: Option<(&mut Recording, usize)>,
) -> Result<()> {
    built.net.reset();
    let n_out = plan.output_len();
    let mut current: Vec<Vec<f32>> = plan.pops.iter().map(|p| vec![0.0; p.n]).collect();
    let mut values: Vec<Vec<f32>> = plan.pops.iter().map(|p| vec![0.0; p.n]).collect();
    // For output maps through Delay nodes: each population's values of the last steps, newest
    // first, as deep as its longest such delay.
    let mut depth = vec![0usize; plan.pops.len()];
    for &k in &built.output_maps {
        if let Source::Pop(q) = plan.maps[k].source {
            depth[q] = depth[q].max(plan.maps[k].delay as usize);
        }
    }
    let mut past: Vec<std::collections::VecDeque<Vec<f32>>> = depth
        .iter()
        .map(|&d| std::collections::VecDeque::with_capacity(d + 1))
        .collect();
    for step in 0..x.nrows() {
        // The input side: per population, the composed maps applied to this step's input.
        for (i, p) in plan.pops.iter().enumerate() {
            if built.input_maps[i].is_empty() {
                continue;
            }
            let c = &mut current[i];
            c.fill(0.0);
            for &k in &built.input_maps[i] {
                // A map through Delay nodes takes the input of `delay` steps ago.
                let d = plan.maps[k].delay as usize;
                if step < d {
                    continue;
                }
                for (xi, row) in x.row(step - d).iter().zip(&plan.maps[k].rows) {
                    if *xi != 0.0 {
                        for &(j, w) in row {
                            c[j as usize] += xi * w;
                        }
                    }
                }
            }
            if built.per_step_current[i] {
                for ((c, b), g) in c.iter_mut().zip(&p.bias).zip(&p.gain_current) {
                    *c = (*c + b) * g;
                }
                built.net.set_currents(built.pops[i], c)?;
            } else {
                // Into the synaptic current, as arriving events would.
                let mut syn = built.net.state(built.pops[i], StateVar::Syn(0))?;
                for ((s, c), g) in syn.iter_mut().zip(c.iter()).zip(&p.gain_event) {
                    *s += c * g;
                }
                built.net.set_state(built.pops[i], StateVar::Syn(0), &syn)?;
            }
        }
        built.net.step();
        for (i, p) in plan.pops.iter().enumerate() {
            let pop = built.net.population(built.pops[i]);
            spikes[i] += pop.last_spikes().len() as u64;
            if let Some((r, s)) = rec.as_mut() {
                r.spikes[i][*s].extend(pop.last_spikes().iter().map(|&j| (step as u32, j)));
                let v = built.net.state(built.pops[i], StateVar::V)?;
                let at = (*s * x.nrows() + step) * p.n;
                r.v[i][at..at + p.n].copy_from_slice(&v);
            }
            let pop = built.net.population(built.pops[i]);
            if p.spiking {
                values[i].fill(0.0);
                for &j in pop.last_spikes() {
                    values[i][j as usize] = 1.0;
                }
            } else {
                values[i] = built.net.state(built.pops[i], StateVar::V)?;
            }
            if depth[i] > 0 {
                past[i].push_front(values[i].clone());
                past[i].truncate(depth[i] + 1);
            }
        }
        // The output side.
        let o = &mut out[step * n_out..(step + 1) * n_out];
        o.copy_from_slice(&plan.output_bias);
        for &k in &built.output_maps {
            let m = &plan.maps[k];
            let d = m.delay as usize;
            let row_of_input;
            let v: &[f32] = match m.source {
                Source::Input if step < d => continue,
                Source::Input => {
                    row_of_input = x.row(step - d).to_vec();
                    &row_of_input
                }
                Source::Pop(q) if d == 0 => &values[q],
                Source::Pop(q) => match past[q].get(d) {
                    Some(v) => v,
                    None => continue,
                },
            };
            for (vi, row) in v.iter().zip(&m.rows) {
                if *vi != 0.0 {
                    for &(j, w) in row {
                        o[j as usize] += vi * w;
                    }
                }
            }
        }
    }
    Ok(())
}
