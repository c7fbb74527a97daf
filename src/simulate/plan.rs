//! From a flattened NIR graph to what the engine builds: one population per neuron node, and
//! between any two of them (or from the input, or to the output) the composition of the linear
//! nodes on every path, with the paths' biases gathered per target.

use std::collections::{BTreeMap, BTreeSet};

use super::linear::{self, size, Shapes, Sparse};
use super::options::{IntegratorInput, ResetMode, SimOptions};
use crate::error::{Error, Result};
use crate::io::nir::{Graph, Neuron, NeuronKind, Node};
use crate::neuron::{IafParams, IntegratorParams, LifParams, NeuronModel, Port, Reset, SpikeTest};

/// Where a composed map starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    /// The graph's input (one value per element and step).
    Input,
    /// A population, by its index in [`Plan::pops`] (spikes, or the membrane of a non-spiking one).
    Pop(usize),
}

/// Where a composed map ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sink {
    Pop(usize),
    Output,
}

/// A composed linear map: per source element, its (target element, weight) pairs.
#[derive(Debug, Clone)]
pub(crate) struct Map {
    pub source: Source,
    pub sink: Sink,
    /// In steps.
    pub delay: u32,
    pub rows: Vec<Sparse>,
}

/// One neuron node on the engine.
#[derive(Debug, Clone)]
pub(crate) struct PopPlan {
    pub name: String,
    pub kind: NeuronKind,
    pub n: usize,
    pub model: NeuronModel,
    pub ports: Vec<Port>,
    /// Whether it fires at all (I, LI and CubaLI do not: their output is the membrane).
    pub spiking: bool,
    /// Whether input goes into a synaptic current (CubaLI, CubaLIF) rather than the membrane.
    pub synaptic: bool,
    /// Per neuron: what one unit of per-step input adds to the engine's receiving variable
    /// (the membrane jump, or the synaptic current's jump).
    pub gain_event: Vec<f32>,
    /// Per neuron: what one unit of constant input becomes as the engine's external current.
    pub gain_current: Vec<f32>,
    /// Per neuron: the sum of every bias that reaches it (in the node's input units).
    pub bias: Vec<f32>,
    /// A Threshold node: the membrane is each step's input alone.
    pub memoryless: bool,
    /// A spike test of its own (Threshold: `x > θ`), else the options'.
    pub spike_test: Option<SpikeTest>,
}

/// Everything the engine builds for one graph.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// In schedule order.
    pub pops: Vec<PopPlan>,
    pub maps: Vec<Map>,
    /// Bias reaching the output.
    pub output_bias: Vec<f32>,
    /// Edges that close a cycle without a Delay node, made to act one step later.
    pub delayed_cycles: Vec<String>,
    /// Heterogeneous neuron nodes split by parameter set: (node, sets).
    pub split: Vec<(String, usize)>,
    /// Node names and NIR types, for the record.
    pub nodes: Vec<(String, String, Vec<usize>)>,
}

impl Plan {
    /// Plans `graph` (flattened) under `options`.
    pub fn new(graph: &Graph, options: &SimOptions) -> Result<Plan> {
        options.validate()?;
        let flat = graph.flatten()?;
        // Sizes are checked on the graph as written first, so that errors name its own nodes
        // (the Threshold and split nodes below are rewritten).
        let mut written: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (a, b) in &flat.edges {
            written.entry(b.clone()).or_default().push(a.clone());
        }
        linear::shapes(&flat, &written)?;
        let (g, thresholds) = thresholds_as_neurons(flat);
        let (g, split) = super::split::split_heterogeneous(g);
        let mut preds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut succs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (a, b) in &g.edges {
            preds.entry(b.clone()).or_default().push(a.clone());
            succs.entry(a.clone()).or_default().push(b.clone());
        }
        let input_name = g.only_node("Input", "graph")?;
        let output_name = g.only_node("Output", "graph")?;
        let shapes = linear::shapes(&g, &preds)?;
        if let Node::Output { shape } = &g.nodes[&output_name] {
            let got = &shapes.output[&output_name];
            if size(shape) != size(got) {
                return Err(Error::Unsupported(format!(
                    "NIR node '{output_name}' (Output): declared shape {shape:?} but it receives \
                     {got:?}"
                )));
            }
        }
        // Populations, by name.
        let neuron_names: Vec<String> = g
            .nodes
            .iter()
            .filter(|(_, n)| matches!(n, Node::Neuron(_)))
            .map(|(k, _)| k.clone())
            .collect();
        let index: BTreeMap<String, usize> = neuron_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let sink_of = |name: &str| -> Option<Sink> {
            if name == output_name {
                Some(Sink::Output)
            } else {
                index.get(name).map(|&i| Sink::Pop(i))
            }
        };
        let walker = Walker {
            g: &g,
            succs: &succs,
            shapes: &shapes,
            options,
            sink_of: &sink_of,
        };
        // Composed maps from every source, one pre element at a time.
        let mut acc: BTreeMap<(Source, Sink, u32), Vec<Sparse>> = BTreeMap::new();
        let sources: Vec<(Source, &String)> = std::iter::once((Source::Input, &input_name))
            .chain(
                neuron_names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (Source::Pop(i), n)),
            )
            .collect();
        let mut dense = Vec::new();
        // Every composed synapse is held (8 bytes) until the network is built: a graph whose
        // declared sizes compose into more than the limit allows is refused as it grows.
        let mut synapses = 0u128;
        for (source, name) in &sources {
            let n = size(&shapes.output[*name]);
            crate::limits::check(format!("NIR node '{name}'"), "elements", n as u128 * 8)?;
            for i in 0..n {
                crate::limits::check(
                    "NIR graph",
                    "composed synapses (8 bytes each, 24 per source element)",
                    synapses * 8 + n as u128 * 24,
                )?;
                let mut reached = Vec::new();
                walker.forward(
                    name,
                    vec![(i as u32, 1.0)],
                    0,
                    &mut reached,
                    &mut vec![],
                    &mut dense,
                )?;
                for (sink, delay, v) in reached {
                    synapses += v.len() as u128;
                    let rows = acc
                        .entry((*source, sink, delay))
                        .or_insert_with(|| vec![Vec::new(); n]);
                    rows[i].extend(v);
                }
            }
        }
        // Biases: what each linear node with a bias adds, pushed to where it lands.
        let mut bias_at: BTreeMap<Sink, Vec<f32>> = BTreeMap::new();
        for (name, node) in &g.nodes {
            if let Some(b) = linear::bias(name, node, &shapes.output[name])? {
                let mut reached = Vec::new();
                let v: Sparse = b
                    .iter()
                    .enumerate()
                    .filter(|(_, &x)| x != 0.0)
                    .map(|(i, &x)| (i as u32, x))
                    .collect();
                walker.forward(name, v, 0, &mut reached, &mut vec![], &mut dense)?;
                for (sink, _, v) in reached {
                    let len = match sink {
                        Sink::Output => size(&shapes.output[&output_name]),
                        Sink::Pop(i) => size(&shapes.output[&neuron_names[i]]),
                    };
                    let target = bias_at.entry(sink).or_insert_with(|| vec![0.0; len]);
                    for (j, x) in v {
                        target[j as usize] += x;
                    }
                }
            }
        }
        // Schedule: populations in an order where every delay-0 map runs forward.
        let order = schedule(&neuron_names, &acc);
        let position: BTreeMap<usize, usize> =
            order.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let mut maps = Vec::new();
        let mut delayed_cycles = Vec::new();
        // The node each part of a split node comes from.
        let part_of: BTreeMap<String, String> = split
            .iter()
            .flat_map(|(n, k)| (0..*k).map(move |i| (format!("{n}#{i}"), n.clone())))
            .collect();
        for ((source, sink, delay), mut rows) in acc {
            for r in rows.iter_mut() {
                merge(r);
            }
            let mut delay = delay;
            if let (Source::Pop(q), Sink::Pop(p)) = (source, sink) {
                // The parts of a split node keep the node's self-connections one step later.
                let origin = |n: &String| part_of.get(n).unwrap_or(n).clone();
                let same_node = origin(&neuron_names[q]) == origin(&neuron_names[p]);
                if delay == 0 && (position[&p] <= position[&q] || same_node) {
                    delay = 1;
                    delayed_cycles.push(format!("{} -> {}", neuron_names[q], neuron_names[p]));
                }
            }
            let remap = |s: Source| match s {
                Source::Pop(q) => Source::Pop(position[&q]),
                s => s,
            };
            let remap_sink = |s: Sink| match s {
                Sink::Pop(p) => Sink::Pop(position[&p]),
                s => s,
            };
            maps.push(Map {
                source: remap(source),
                sink: remap_sink(sink),
                delay,
                rows,
            });
        }
        let mut pops = Vec::with_capacity(order.len());
        for &i in &order {
            let name = &neuron_names[i];
            let Node::Neuron(n) = &g.nodes[name] else {
                unreachable!("a neuron node")
            };
            let bias = bias_at
                .remove(&Sink::Pop(i))
                .unwrap_or_else(|| vec![0.0; n.len()]);
            let mut pop = population(name, n, bias, options)?;
            let node = part_of.get(name).unwrap_or(name);
            if thresholds.contains(node) {
                // NIR's Threshold: z = [x > θ] of this step's input, no state, no time step.
                pop.memoryless = true;
                pop.spike_test = Some(SpikeTest::Above);
                pop.gain_event.fill(1.0);
                pop.gain_current.fill(1.0);
            }
            pops.push(pop);
        }
        let output_len = size(&shapes.output[&output_name]);
        let output_bias = bias_at
            .remove(&Sink::Output)
            .unwrap_or_else(|| vec![0.0; output_len]);
        let nodes = g
            .nodes
            .iter()
            .map(|(k, n)| (k.clone(), n.kind().to_string(), shapes.output[k].clone()))
            .collect();
        Ok(Plan {
            input_shape: shapes.output[&input_name].clone(),
            output_shape: shapes.output[&output_name].clone(),
            input_name,
            pops,
            maps,
            output_bias,
            delayed_cycles,
            split,
            nodes,
        })
    }

    /// Elements of one step's input.
    pub fn input_len(&self) -> usize {
        size(&self.input_shape)
    }

    /// Elements of one step's output.
    pub fn output_len(&self) -> usize {
        size(&self.output_shape)
    }
}

/// `g` with every Threshold node (`z = [x > θ]`) as an IF node of its thresholds (R 1), and the
/// names of those nodes: the planner runs them memoryless with the test `v > θ`.
fn thresholds_as_neurons(mut g: Graph) -> (Graph, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    for (name, node) in g.nodes.iter_mut() {
        if let Node::Threshold { threshold } = node {
            let mut n = Neuron::integrate_and_fire(threshold.shape(), 0.0, 0.0);
            n.v_threshold = Some(threshold.clone());
            *node = Node::Neuron(Box::new(n));
            names.insert(name.clone());
        }
    }
    (g, names)
}

/// Sorts a row by target and adds up repeated targets (several paths into one synapse).
fn merge(row: &mut Sparse) {
    row.sort_by_key(|&(j, _)| j);
    let mut out: Sparse = Vec::with_capacity(row.len());
    for &(j, w) in row.iter() {
        match out.last_mut() {
            Some((k, acc)) if *k == j => *acc += w,
            _ => out.push((j, w)),
        }
    }
    out.retain(|&(_, w)| w != 0.0);
    *row = out;
}

/// Orders populations so that delay-0 maps go forward where the graph allows: a depth-first
/// topological order over delay-0 edges, from the populations the input reaches first; an edge
/// closing a cycle points backwards and is then made to act one step later.
fn schedule(names: &[String], acc: &BTreeMap<(Source, Sink, u32), Vec<Sparse>>) -> Vec<usize> {
    let mut next: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut roots = BTreeSet::new();
    for (source, sink, delay) in acc.keys() {
        match (source, sink) {
            (Source::Pop(q), Sink::Pop(p)) if *delay == 0 => {
                next.entry(*q).or_default().insert(*p);
            }
            (Source::Input, Sink::Pop(p)) => {
                roots.insert(*p);
            }
            _ => {}
        }
    }
    let mut done = vec![false; names.len()];
    let mut post = Vec::new();
    fn visit(
        i: usize,
        next: &BTreeMap<usize, BTreeSet<usize>>,
        done: &mut [bool],
        post: &mut Vec<usize>,
    ) {
        // Iterative depth-first search (deep chains must not overflow the stack).
        let mut stack = vec![(i, false)];
        while let Some((k, expanded)) = stack.pop() {
            if expanded {
                post.push(k);
                continue;
            }
            if done[k] {
                continue;
            }
            done[k] = true;
            stack.push((k, true));
            if let Some(ns) = next.get(&k) {
                for &n in ns.iter().rev() {
                    if !done[n] {
                        stack.push((n, false));
                    }
                }
            }
        }
    }
    for &r in &roots {
        visit(r, &next, &mut done, &mut post);
    }
    for i in 0..names.len() {
        visit(i, &next, &mut done, &mut post);
    }
    post.reverse();
    post
}

/// Walks forward from a node's output through linear nodes to populations and the output.
struct Walker<'a> {
    g: &'a Graph,
    succs: &'a BTreeMap<String, Vec<String>>,
    shapes: &'a Shapes,
    options: &'a SimOptions,
    sink_of: &'a dyn Fn(&str) -> Option<Sink>,
}

impl Walker<'_> {
    /// `v` is the output of node `from`; every sink it reaches gets (sink, delay, values).
    fn forward(
        &self,
        from: &str,
        v: Sparse,
        delay: u32,
        reached: &mut Vec<(Sink, u32, Sparse)>,
        path: &mut Vec<String>,
        dense: &mut Vec<f32>,
    ) -> Result<()> {
        let Some(next) = self.succs.get(from) else {
            return Ok(());
        };
        for succ in next {
            if let Some(sink) = (self.sink_of)(succ) {
                reached.push((sink, delay, v.clone()));
                continue;
            }
            if path.iter().any(|p| p == succ) {
                return Err(Error::Unsupported(format!(
                    "NIR graph: a cycle through {} -> {succ} passes no neuron (an algebraic loop \
                     has no step to delay; put a neuron node or a Delay in it)",
                    path.join(" -> ")
                )));
            }
            let node = &self.g.nodes[succ.as_str()];
            match node {
                Node::Delay { delay: per_element } => {
                    // Each element waits its own number of steps: the values go on in one group
                    // per delay.
                    let steps = self.delay_steps(succ, per_element)?;
                    let mut groups: BTreeMap<u32, Sparse> = BTreeMap::new();
                    for (j, x) in v.iter().copied() {
                        let d = if steps.len() == 1 {
                            steps[0]
                        } else {
                            steps[j as usize]
                        };
                        groups.entry(d).or_default().push((j, x));
                    }
                    path.push(succ.clone());
                    for (d, part) in groups {
                        self.forward(succ, part, delay + d, reached, path, dense)?;
                    }
                    path.pop();
                    continue;
                }
                Node::Input { .. } => {
                    return Err(Error::Unsupported(format!(
                        "NIR edge {from} -> {succ}: the Input node takes no edges"
                    )))
                }
                _ => {}
            }
            let out = linear::apply(
                succ,
                node,
                &self.shapes.input[succ.as_str()],
                &v,
                size(&self.shapes.output[succ.as_str()]),
                dense,
            )?;
            path.push(succ.clone());
            self.forward(succ, out, delay, reached, path, dense)?;
            path.pop();
        }
        Ok(())
    }

    /// A Delay node's delay in whole steps, per element (one value when the node gives one
    /// for all).
    fn delay_steps(&self, name: &str, delay: &ndarray::ArrayD<f64>) -> Result<Vec<u32>> {
        let n = size(&self.shapes.output[name]);
        if delay.len() != 1 && delay.len() != n {
            return Err(Error::Unsupported(format!(
                "NIR node '{name}' (Delay): {} delays for {n} elements",
                delay.len()
            )));
        }
        delay
            .iter()
            .map(|&d| {
                let steps = d / self.options.dt;
                let whole = steps.round();
                if d.is_nan()
                    || d < 0.0
                    || (steps - whole).abs() > 1e-6 * whole.max(1.0)
                    || whole > 65_535.0
                {
                    return Err(Error::Unsupported(format!(
                        "NIR node '{name}' (Delay): delay {d} is not a whole number of steps of \
                         dt = {} (at most 65 535)",
                        self.options.dt
                    )));
                }
                Ok(whole as u32)
            })
            .collect()
    }
}

/// One value for the whole layer, or an error naming the node and the field.
fn uniform(name: &str, kind: NeuronKind, field: &str, a: &ndarray::ArrayD<f64>) -> Result<f64> {
    let first = a.iter().next().copied().unwrap_or(0.0);
    if a.iter().any(|&x| x != first) {
        return Err(Error::Unsupported(format!(
            "NIR node '{name}' ({}): {field} differs between neurons; the engine takes one {field} \
             per layer (r and w_in may differ per neuron)",
            kind.name()
        )));
    }
    Ok(first)
}

/// The engine population of a neuron node under `options` (see the module docs of
/// [`crate::simulate`] for the mapping).
fn population(name: &str, n: &Neuron, bias: Vec<f32>, options: &SimOptions) -> Result<PopPlan> {
    let kind = n.kind;
    let field = |f: &str| format!("NIR node '{name}' ({}): {f}", kind.name());
    let spiking = matches!(kind, NeuronKind::If | NeuronKind::Lif | NeuronKind::CubaLif);
    let synaptic = matches!(kind, NeuronKind::CubaLi | NeuronKind::CubaLif);
    let theta = match &n.v_threshold {
        Some(t) => uniform(name, kind, "v_threshold", t)?,
        None => f64::INFINITY,
    };
    let v_reset = match &n.v_reset {
        Some(v) => uniform(name, kind, "v_reset", v)?,
        None => 0.0,
    };
    let v_leak = match &n.v_leak {
        Some(v) => uniform(name, kind, "v_leak", v)?,
        None => 0.0,
    };
    let reset = match options.reset {
        ResetMode::Zero => Reset::ToValue {
            v_reset_mv: v_reset as f32,
        },
        ResetMode::Subtract => {
            if spiking && v_leak != 0.0 {
                return Err(Error::Unsupported(format!(
                    "{}: reset by subtraction with v_leak = {v_leak} (the engine subtracts θ − \
                     v_leak, the frameworks θ; use --reset zero)",
                    field("v_leak")
                )));
            }
            Reset::BySubtraction
        }
    };
    let r: Vec<f64> = n.r.iter().copied().collect();
    let (model, gain_event, gain_current): (NeuronModel, Vec<f64>, Vec<f64>) = match kind {
        NeuronKind::I | NeuronKind::If => {
            // dv/dt = R·I: one step adds dt·R·I, exactly, whatever the scheme (or R·I where the
            // framework counts input per step).
            let per_step = match options.integrator {
                IntegratorInput::Dt => options.dt,
                IntegratorInput::Step => 1.0,
            };
            let g: Vec<f64> = r.iter().map(|r| per_step * r).collect();
            let model = if spiking {
                NeuronModel::Iaf(IafParams {
                    v_th_mv: theta as f32,
                    v_rest_mv: 0.0,
                    reset,
                    t_ref_ms: 0.0,
                })
            } else {
                NeuronModel::Integrator(IntegratorParams { v_rest_mv: 0.0 })
            };
            (model, g.clone(), g)
        }
        _ => {
            let tau = uniform(name, kind, "tau", n.tau_mem.as_ref().expect("leaky"))?;
            let (decay, tau_steps) = options.decay(tau, &field("tau"))?;
            let model = NeuronModel::Lif(LifParams {
                tau_mem_ms: tau_steps as f32,
                v_rest_mv: v_leak as f32,
                v_th_mv: theta as f32,
                reset,
                t_ref_ms: 0.0,
            });
            if synaptic {
                let tau_syn = uniform(name, kind, "tau_syn", n.tau_syn.as_ref().expect("cuba"))?;
                let (syn_decay, _) = options.decay(tau_syn, &field("tau_syn"))?;
                let w_in: Vec<f64> = n.w_in.as_ref().expect("cuba").iter().copied().collect();
                // Input held over a step raises the synaptic current by w_in·(1 − decay)·S.
                let ev = r
                    .iter()
                    .zip(&w_in)
                    .map(|(r, w)| r * w * (1.0 - syn_decay))
                    .collect();
                let cur = r.iter().zip(&w_in).map(|(r, w)| r * w).collect();
                (model, ev, cur)
            } else {
                // Input held over a step adds (1 − decay)·R·I after the decay; the engine adds
                // a jump before it, hence the division by the decay.
                let ev = r.iter().map(|r| (1.0 - decay) * r / decay).collect();
                (model, ev, r.clone())
            }
        }
    };
    model
        .validate(&[])
        .map_err(|e| Error::Unsupported(format!("NIR node '{name}' ({}): {e}", kind.name())))?;
    let ports = if synaptic {
        let tau_syn = uniform(name, kind, "tau_syn", n.tau_syn.as_ref().expect("cuba"))?;
        let (_, steps) = options.decay(tau_syn, &field("tau_syn"))?;
        vec![Port::Exponential {
            tau_ms: steps as f32,
        }]
    } else {
        vec![Port::Delta]
    };
    let to32 = |v: Vec<f64>| -> Result<Vec<f32>> {
        v.into_iter()
            .map(|x| {
                let y = x as f32;
                if y.is_finite() {
                    Ok(y)
                } else {
                    Err(Error::Unsupported(format!(
                        "{}: the input gain {x} under dt = {} is not a finite single-precision \
                         number",
                        field("r"),
                        options.dt
                    )))
                }
            })
            .collect()
    };
    Ok(PopPlan {
        name: name.to_string(),
        kind,
        n: n.len(),
        model,
        ports,
        spiking,
        synaptic,
        gain_event: to32(gain_event)?,
        gain_current: to32(gain_current)?,
        bias,
        memoryless: false,
        spike_test: None,
    })
}
