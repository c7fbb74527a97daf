//! Engine networks as NIR graphs: the inverse of this module's mapping, so that a network built on
//! the engine and exported runs again (here, or in a framework that honours somnet's metadata)
//! with the same spikes.
//!
//! - A **spike source** (Poisson, spike array, external) becomes the graph's Input (one at most:
//!   NIR graphs have one input; its spikes are what the user feeds, not part of the file).
//! - A **population** becomes a neuron node of shape `[n]`, its membrane measured from its rest
//!   potential (NIR's IF has no rest; LIF's `v_leak` is then 0): IF → IF (`r = 1`), LIF with its
//!   delta input → LIF (`τ` in seconds, `r = p/(1 − p)` with `p = e^(−dt/τ)`, so that one unit of
//!   input is the engine's jump of one), LIF with one exponential port → CubaLIF (`r = 1`, `w_in
//!   = 1/(1 − e^(−dt/τ_syn))`: the same jump of the synaptic current). Its constant current is
//!   the bias of an Affine from the Input with zero weights.
//! - A **projection** becomes a Linear of its weights (post × pre, as the engine delivers them)
//!   and, for a delay of `d > 0` steps, a Delay node of `d·dt` after it; a projection with several
//!   delays becomes one Linear and Delay per delay.
//! - dt (in seconds), the reset rule, the spike test and the integration go to `metadata/`
//!   ([`super::SimOptions::for_graph`] reads them back).
//!
//! Refused by name: Izhikevich neurons, populations with several exponential ports or with delta
//! and exponential input together, IF with an exponential port, max gates, noise and stepped
//! currents, several spike sources, populations that differ in reset rule or spike
//! test (NIR graphs carry one of each in somnet's metadata).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayD, IxDyn};

use crate::error::{Error, Result};
use crate::io::nir::{Graph, Meta, Neuron, NeuronKind, NirExport, Node};
use crate::network::{Network, PopulationId, StateVar};
use crate::neuron::{NeuronModel, Port, Reset, SpikeTest};

fn refuse(what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("NIR export: {what}"))
}

/// NIR-safe, unique node names for the populations.
fn node_names(net: &Network) -> Vec<String> {
    crate::io::unique_identifiers(
        net.populations().iter().map(|p| p.name()),
        "-",
        &["input", "output"],
    )
}

/// The NIR graph of `net` (as built, before it runs) whose Output carries the spikes of `output`.
///
/// ```
/// use somnet::network::PopulationId;
/// let net = somnet::benchmarks::pair::build().unwrap();
/// let export = somnet::simulate::network_to_nir(&net, PopulationId(0)).unwrap();
/// assert_eq!(export.graph.nodes["pair"].kind(), "CubaLIF");
/// ```
pub fn network_to_nir(net: &Network, output: PopulationId) -> Result<NirExport> {
    let dt_ms = net.config().dt_ms;
    let dt_s = dt_ms * 1e-3;
    let pops = net.populations();
    if output.0 as usize >= pops.len() {
        return Err(Error::param(
            "output population",
            output.0,
            "a population of the network",
        ));
    }
    let names = node_names(net);
    let mut g = Graph::default();
    let mut warnings = Vec::new();
    let sources: Vec<usize> = (0..pops.len())
        .filter(|&p| pops[p].is_spike_source())
        .collect();
    let input_len = match sources.as_slice() {
        [] => 1,
        [one] => pops[*one].len(),
        _ => {
            return Err(refuse(format!(
                "{} spike sources ({}); a NIR graph has one Input",
                sources.len(),
                sources
                    .iter()
                    .map(|&p| pops[p].name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    g.nodes.insert(
        "input".into(),
        Node::Input {
            shape: vec![input_len],
        },
    );
    // Node name of every population ("input" for the source).
    let mut node_of: Vec<String> = names.clone();
    if let [s] = sources.as_slice() {
        node_of[*s] = "input".into();
        warnings.push(format!(
            "source '{}': its spikes are the graph's input, fed by the user, not stored",
            pops[*s].name()
        ));
    }
    let mut reset_mode: Option<&str> = None;
    let mut test_mode: Option<SpikeTest> = None;
    for (p, pop) in pops.iter().enumerate() {
        if sources.contains(&p) {
            continue;
        }
        let id = PopulationId(p as u32);
        let name = pop.name();
        if pop.has_noise() {
            return Err(refuse(format!(
                "population '{name}': a noise current has no NIR form"
            )));
        }
        let model = pop.model().expect("neurons have a model");
        let (neuron, reset, v_rest, gain_current) =
            neuron_node(name, model, pop.ports(), dt_s, pop.len())?;
        let test = net.spike_test(id)?;
        let other_reset = reset_mode.replace(reset).is_some_and(|r| r != reset);
        let other_test = test_mode.replace(test).is_some_and(|t| t != test);
        if other_reset || other_test {
            return Err(refuse(format!(
                "population '{name}' has another {} than the populations before it; somnet's \
                 NIR metadata carries one",
                if other_reset {
                    "reset rule"
                } else {
                    "spike test"
                }
            )));
        }
        if let Some(t) = model_refractory(model) {
            if t > 0.0 {
                warnings.push(format!(
                    "population '{name}': a refractory period of {t} ms, which NIR neurons do not \
                     have"
                ));
            }
        }
        let v0 = net.state(id, StateVar::V)?;
        if v0.iter().any(|&v| v != v_rest) {
            warnings.push(format!(
                "population '{name}': initial membrane potentials other than rest are not in NIR"
            ));
        }
        g.nodes
            .insert(names[p].clone(), Node::Neuron(Box::new(neuron)));
        if let Some(c) = net.constant_currents(id)? {
            let bias: Array1<f32> = c
                .iter()
                .map(|&x| (x as f64 / gain_current) as f32)
                .collect();
            let node = format!("{}_current", names[p]);
            g.nodes.insert(
                node.clone(),
                Node::Affine {
                    weight: Array2::zeros((pop.len(), input_len)),
                    bias,
                },
            );
            g.edges.push(("input".into(), node.clone()));
            g.edges.push((node, names[p].clone()));
        }
    }
    for (k, proj) in net.projections().iter().enumerate() {
        let (pre, post) = (proj.pre().0 as usize, proj.post().0 as usize);
        if proj.is_max_gate() {
            return Err(refuse(format!(
                "projection '{}' is a max gate, which NIR cannot express",
                proj.name()
            )));
        }
        if sources.contains(&post) {
            continue;
        }
        let (n_pre, n_post) = (pops[pre].len(), pops[post].len());
        crate::limits::check(
            format!("projection '{}'", proj.name()),
            "the weight matrix of its NIR Linear",
            4 * n_pre as u128 * n_post as u128,
        )?;
        let (pre_at, post_at) = (proj.pre_offset() as usize, proj.post_offset() as usize);
        let mut by_delay: BTreeMap<u32, Array2<f32>> = BTreeMap::new();
        for (i, j, w, d) in proj.synapses() {
            let m = by_delay
                .entry(d)
                .or_insert_with(|| Array2::zeros((n_post, n_pre)));
            m[[j as usize + post_at, i as usize + pre_at]] += w;
        }
        for (d, weight) in by_delay {
            let lin = format!("proj{k}_d{d}");
            g.nodes.insert(lin.clone(), Node::Linear { weight });
            g.edges.push((node_of[pre].clone(), lin.clone()));
            let last = if d > 0 {
                let delay = format!("{lin}_delay");
                g.nodes.insert(
                    delay.clone(),
                    Node::Delay {
                        delay: ArrayD::from_elem(IxDyn(&[n_post]), d as f64 * dt_s),
                    },
                );
                g.edges.push((lin, delay.clone()));
                delay
            } else {
                lin
            };
            g.edges.push((last, names[post].clone()));
        }
    }
    let out = output.0 as usize;
    g.nodes.insert(
        "output".into(),
        Node::Output {
            shape: vec![pops[out].len()],
        },
    );
    g.edges.push((node_of[out].clone(), "output".into()));
    let text = |s: &str| Meta::Text(s.to_string());
    g.metadata.insert(
        "source".into(),
        text(&format!("somnet {} (engine network)", crate::VERSION)),
    );
    g.metadata.insert("dt".into(), Meta::Number(dt_s));
    g.metadata.insert("time_unit".into(), text("s"));
    g.metadata
        .insert("reset".into(), text(reset_mode.unwrap_or("zero")));
    g.metadata.insert(
        "threshold".into(),
        text(match test_mode.unwrap_or(SpikeTest::AtLeast) {
            SpikeTest::AtLeast => "ge",
            SpikeTest::Above => "gt",
        }),
    );
    g.metadata.insert("scheme".into(), text("exact"));
    g.metadata.insert("integrator".into(), text("step"));
    if reset_mode == Some("subtract") {
        warnings.push(
            "reset by subtraction: NIR's neurons reset to v_reset; the metadata says reset = \
             subtract"
                .into(),
        );
    }
    for (p, pop) in pops.iter().enumerate() {
        if let Some(m) = pop.model() {
            g.metadata
                .insert(format!("v_rest_{}", names[p]), Meta::Number(rest(m) as f64));
        }
    }
    Ok(NirExport { graph: g, warnings })
}

fn rest(model: &NeuronModel) -> f32 {
    match model {
        NeuronModel::Iaf(p) => p.v_rest_mv,
        NeuronModel::Lif(p) => p.v_rest_mv,
        NeuronModel::Integrator(p) => p.v_rest_mv,
        NeuronModel::Izhikevich(_) => 0.0,
    }
}

fn model_refractory(model: &NeuronModel) -> Option<f32> {
    match model {
        NeuronModel::Iaf(p) => Some(p.t_ref_ms),
        NeuronModel::Lif(p) => Some(p.t_ref_ms),
        _ => None,
    }
}

/// The neuron node of a population, its reset rule, its rest potential (the zero of the node's
/// membrane) and what one unit of the node's bias becomes as the engine's constant current.
fn neuron_node(
    name: &str,
    model: &NeuronModel,
    ports: &[Port],
    dt_s: f64,
    n: usize,
) -> Result<(Neuron, &'static str, f32, f64)> {
    let full = |v: f64| ArrayD::from_elem(IxDyn(&[n]), v);
    if ports.iter().any(|p| p.reversal_mv().is_some()) {
        return Err(refuse(format!(
            "population '{name}': conductance synapses (NIR has no conductance-based neuron)"
        )));
    }
    let taus: Vec<f64> = ports
        .iter()
        .filter_map(|p| match p {
            Port::Exponential { tau_ms } => Some(*tau_ms as f64 * 1e-3),
            Port::Delta | Port::Conductance { .. } => None,
        })
        .collect();
    let has_delta = ports.contains(&Port::Delta);
    let (theta, v_rest, reset, kind_leak) = match model {
        NeuronModel::Iaf(p) => (p.v_th_mv, p.v_rest_mv, p.reset, None),
        NeuronModel::Lif(p) => (
            p.v_th_mv,
            p.v_rest_mv,
            p.reset,
            Some(p.tau_mem_ms as f64 * 1e-3),
        ),
        NeuronModel::Integrator(_) => {
            return Err(refuse(format!(
                "population '{name}': a non-spiking integrator (export its source network instead)"
            )))
        }
        NeuronModel::Izhikevich(_) => {
            return Err(refuse(format!(
                "population '{name}': NIR has no Izhikevich neuron"
            )))
        }
    };
    let (v_reset, mode) = match reset {
        Reset::ToValue { v_reset_mv } => ((v_reset_mv - v_rest) as f64, "zero"),
        Reset::BySubtraction => (0.0, "subtract"),
    };
    let theta = (theta - v_rest) as f64;
    let node = match (kind_leak, taus.as_slice(), has_delta) {
        (None, [], _) => (Neuron::integrate_and_fire(&[n], theta, v_reset), 1.0),
        (Some(tau), [], _) => {
            let p = (-dt_s / tau).exp();
            let r = p / (1.0 - p);
            (
                Neuron {
                    kind: NeuronKind::Lif,
                    tau_mem: Some(full(tau)),
                    tau_syn: None,
                    r: full(r),
                    v_leak: Some(full(0.0)),
                    v_threshold: Some(full(theta)),
                    v_reset: Some(full(v_reset)),
                    w_in: None,
                },
                r,
            )
        }
        (Some(tau), [tau_syn], false) => {
            let w_in = 1.0 / -(-dt_s / tau_syn).exp_m1();
            (
                Neuron {
                    kind: NeuronKind::CubaLif,
                    tau_mem: Some(full(tau)),
                    tau_syn: Some(full(*tau_syn)),
                    r: full(1.0),
                    v_leak: Some(full(0.0)),
                    v_threshold: Some(full(theta)),
                    v_reset: Some(full(v_reset)),
                    w_in: Some(full(w_in)),
                },
                w_in,
            )
        }
        _ => {
            return Err(refuse(format!(
            "population '{name}': {} exponential port(s){} on a{} neuron; NIR's CubaLIF has one \
                 synaptic current and no delta input beside it",
            taus.len(),
            if has_delta { " and a delta input" } else { "" },
            if kind_leak.is_some() { " LIF" } else { "n IF" }
        )))
        }
    };
    Ok((node.0, mode, v_rest, node.1))
}
