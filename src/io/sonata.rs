//! SONATA export of engine networks, for NEST (`nest.SonataNetwork`, NEST ≥ 3.5) on threads and
//! MPI processes (`somnet export-sonata`; `../shared/specs/nir.md`, "SONATA into NEST").
//!
//! What is written under the output folder:
//! - `circuit_config.json`, `simulation_config.json` (`run: {tstop, dt}` in ms);
//! - `network/nodes.h5`: one SONATA node population per somnet population (`node_type_id`,
//!   `node_id`, `node_group_id`, `node_group_index`), and `network/node_types.csv` with one node
//!   type per distinct parameter set (NEST takes neuron parameters per type only), its
//!   parameters in `components/cell_models/type_<id>.json`;
//! - `network/edges_<k>.h5` + `network/edge_types_<k>.csv` per projection (`static_synapse`,
//!   per-edge `0/syn_weight` and `0/delay`);
//! - `network/initial_state.h5`: every neuron's initial `V_m` (and `U_m`), which SONATA node
//!   types cannot hold per neuron; the runner script (`benches/peers/sonata_nest.py`, also
//!   written to the folder as `run_nest.py`) sets them after `BuildNetwork()`.
//!
//! # The mapping
//! - LIF with exponential ports → `iaf_psc_exp`. somnet's currents are voltage-equivalent (R·I in
//!   mV, `τ_m dv/dt = −(v − v_rest) + i + Σ x_p`); NEST's are currents (`C_m dV/dt = −(C_m/τ_m)(V −
//!   E_L) + I`), so weights and constant currents are multiplied by `C_m/τ_m` (pF/ms: mV → pA),
//!   with `C_m` = 250 pF unless given. `iaf_psc_exp` routes a spike by the sign of its weight
//!   (positive → `tau_syn_ex`, negative → `tau_syn_in`): each exponential port must receive
//!   weights of one sign (a single port serves both: its τ is used for both).
//! - LIF with only a delta port → `iaf_psc_delta` (weights are voltage jumps in mV, as here).
//! - Izhikevich (the 2003 equations) with a delta port → `izhikevich` (`consistent_integration`
//!   off for the 2003 program's two half steps); one node type per distinct (a, b, c, d).
//! - Delays: a spike somnet delivers `d` steps after it was emitted acts in that step; NEST adds
//!   an arriving spike to `iaf_psc_exp`'s current after the step's membrane update (it acts one
//!   step later) and to `iaf_psc_delta`'s and `izhikevich`'s membrane in the step it arrives. So
//!   the NEST delay is `(d − 1)·dt` into `iaf_psc_exp` and `d·dt` into the others — the same spike
//!   times (checked with NEST 3.10 on [`crate::benchmarks::pair`]). NEST's smallest delay is one
//!   step: shorter ones (CUBA's one-step delay into `iaf_psc_exp`) act later there, named in a
//!   warning.
//! - Refused by name: reset by subtraction (NEST resets to `V_reset`), non-leaky IF and
//!   integrators, spike sources (Poisson, spike arrays, external), noise and stepped currents,
//!   Izhikevich with other coefficients, ports a NEST model cannot map.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5_metno as hdf5;

use crate::error::{Error, Result};
use crate::io::h5::Ctx;
use crate::network::{Network, PopulationId, StateVar};
use crate::neuron::{IntegrationScheme, NeuronModel, Port, Reset, SpikeTest};

/// Choices of a SONATA export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SonataOptions {
    /// Simulated time written to `simulation_config.json` (ms).
    pub tstop_ms: f64,
    /// Membrane capacitance of the current-based NEST models (pF): the factor `C_m/τ_m` turns
    /// somnet's voltage-equivalent currents into NEST's.
    pub c_m_pf: f64,
}

impl Default for SonataOptions {
    /// 1 s, C_m 250 pF (NEST's default for `iaf_psc_exp`).
    fn default() -> Self {
        SonataOptions {
            tstop_ms: 1000.0,
            c_m_pf: 250.0,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SonataExport {
    /// Node populations (name, NEST model, neurons).
    pub populations: Vec<(String, String, usize)>,
    /// Node types written (distinct parameter sets).
    pub node_types: usize,
    /// Edges written.
    pub edges: u64,
    /// What NEST will run differently from somnet.
    pub warnings: Vec<String>,
}

/// The NEST runner written beside every export.
const RUNNER: &str = include_str!("../../benches/peers/sonata_nest.py");

/// How a population goes to NEST.
struct NodeModel {
    template: &'static str,
    /// Per neuron: its parameter set (JSON text, the node type's identity).
    params: Vec<String>,
    /// Factor from somnet weights to NEST weights.
    weight_scale: f64,
    /// Initial state variables to set after building (name, per neuron).
    initial: Vec<(&'static str, Vec<f32>)>,
}

/// Writes `net` (before it has run) as a SONATA circuit under `dir`, for NEST.
///
/// ```
/// let net = somnet::benchmarks::cuba::build(400, 1).unwrap();
/// let dir = std::env::temp_dir().join(format!("sonata-doc-{}", std::process::id()));
/// let out = somnet::io::sonata::write(&dir, &net, &Default::default()).unwrap();
/// assert_eq!(out.populations[0].1, "iaf_psc_exp");
/// assert_eq!(out.edges, net.n_synapses());
/// ```
pub fn write(dir: &Path, net: &Network, options: &SonataOptions) -> Result<SonataExport> {
    if !(options.tstop_ms.is_finite() && options.tstop_ms > 0.0) {
        return Err(Error::param("tstop", options.tstop_ms, "a time > 0 ms"));
    }
    if !(options.c_m_pf.is_finite() && options.c_m_pf > 0.0) {
        return Err(Error::param("C_m", options.c_m_pf, "a capacitance > 0 pF"));
    }
    let dt = net.config().dt_ms;
    let mut warnings = Vec::new();
    let pops = net.populations();
    let names = population_names(net);
    let mut models = Vec::with_capacity(pops.len());
    for p in 0..pops.len() {
        let id = PopulationId(p as u32);
        models.push(node_model(net, id, options, &mut warnings)?);
    }
    // Port signs of iaf_psc_exp targets, checked before anything is written.
    for proj in net.projections() {
        let post = proj.post().0 as usize;
        check_port(net, proj, &models[post])?;
    }
    let network_dir = dir.join("network");
    let cells_dir = dir.join("components").join("cell_models");
    for d in [
        &network_dir,
        &cells_dir,
        &dir.join("components").join("synaptic_models"),
    ] {
        std::fs::create_dir_all(d).map_err(|e| Error::file(d, format!("cannot create: {e}")))?;
    }
    // Node types: one per distinct (template, parameters).
    let mut types: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut type_ids: Vec<Vec<u32>> = Vec::with_capacity(pops.len());
    for m in &models {
        let ids = m
            .params
            .iter()
            .map(|p| {
                let next = 100 + types.len() as u32;
                *types.entry((m.template, p.as_str())).or_insert(next)
            })
            .collect();
        type_ids.push(ids);
    }
    let mut csv = String::from("node_type_id model_type model_template dynamics_params\n");
    let mut by_id: Vec<(&u32, &(&str, &str))> = types.iter().map(|(k, v)| (v, k)).collect();
    by_id.sort();
    for (id, (template, params)) in by_id {
        let file = format!("type_{id}.json");
        write_text(&cells_dir.join(&file), params)?;
        csv.push_str(&format!("{id} point_process nest:{template} {file}\n"));
    }
    write_text(&network_dir.join("node_types.csv"), &csv)?;
    write_nodes(&network_dir.join("nodes.h5"), &names, &type_ids)?;
    write_initial(&network_dir.join("initial_state.h5"), &names, &models)?;
    // Edges: one file per projection.
    let mut edges_conf = Vec::new();
    let mut edges = 0u64;
    for (k, proj) in net.projections().iter().enumerate() {
        let (pre, post) = (proj.pre().0 as usize, proj.post().0 as usize);
        let scale = models[post].weight_scale;
        let (pre_at, post_at) = (proj.pre_offset(), proj.post_offset());
        let syn: Vec<(u32, u32, f32, u32)> = proj
            .synapses()
            .into_iter()
            .map(|(i, j, w, d)| (i + pre_at, j + post_at, w, d))
            .collect();
        // NEST adds an arriving spike to iaf_psc_exp's current after the step's membrane update,
        // so it acts one step after it arrives; somnet integrates it from the step it arrives.
        let lag = u32::from(models[post].template == "iaf_psc_exp");
        let shortest = syn.iter().map(|s| s.3).min().unwrap_or(lag + 1);
        if shortest < lag + 1 {
            warnings.push(format!(
                "projection '{}': a delay of {shortest} step(s) acts in NEST {} step(s) later (its \
                 smallest delay is one step of {dt} ms{})",
                proj.name(),
                lag + 1 - shortest,
                if lag == 1 {
                    ", and iaf_psc_exp's current starts the step after a spike arrives"
                } else {
                    ""
                }
            ));
        }
        let file = format!("edges_{k}.h5");
        let types_file = format!("edge_types_{k}.csv");
        write_edges(
            &network_dir.join(&file),
            &format!("{}_to_{}_{k}", names[pre], names[post]),
            (&names[pre], &names[post]),
            &syn,
            scale,
            (dt, lag),
        )?;
        write_text(
            &network_dir.join(&types_file),
            "edge_type_id model_template\n100 static_synapse\n",
        )?;
        edges += syn.len() as u64;
        edges_conf.push(serde_json::json!({
            "edges_file": format!("$NETWORK_DIR/{file}"),
            "edge_types_file": format!("$NETWORK_DIR/{types_file}"),
        }));
    }
    let circuit = serde_json::json!({
        "manifest": {
            "$BASE_DIR": ".",
            "$NETWORK_DIR": "$BASE_DIR/network",
            "$COMPONENTS_DIR": "$BASE_DIR/components",
        },
        "components": {
            "point_neuron_models_dir": "$COMPONENTS_DIR/cell_models",
            "synaptic_models_dir": "$COMPONENTS_DIR/synaptic_models",
        },
        "networks": {
            "nodes": [{
                "nodes_file": "$NETWORK_DIR/nodes.h5",
                "node_types_file": "$NETWORK_DIR/node_types.csv",
            }],
            "edges": edges_conf,
        },
        "target_simulator": "NEST",
    });
    let simulation = serde_json::json!({
        "manifest": { "$BASE_DIR": ".", "$OUTPUT_DIR": "$BASE_DIR/output" },
        "run": { "tstop": options.tstop_ms, "dt": dt },
        "target_simulator": "NEST",
        "network": "$BASE_DIR/circuit_config.json",
        "output": { "output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5" },
        "somnet": {
            "version": crate::VERSION,
            "seed": net.config().seed,
            "c_m_pf": options.c_m_pf,
            "initial_state": "network/initial_state.h5",
        },
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON values");
    write_text(&dir.join("circuit_config.json"), &pretty(&circuit))?;
    write_text(&dir.join("simulation_config.json"), &pretty(&simulation))?;
    write_text(&dir.join("run_nest.py"), RUNNER)?;
    Ok(SonataExport {
        populations: names
            .iter()
            .zip(&models)
            .zip(pops)
            .map(|((n, m), p)| (n.clone(), m.template.to_string(), p.len()))
            .collect(),
        node_types: types.len(),
        edges,
        warnings,
    })
}

/// SONATA population names: the somnet names with anything but letters, digits and `_` replaced,
/// made unique.
fn population_names(net: &Network) -> Vec<String> {
    crate::io::unique_identifiers(net.populations().iter().map(|p| p.name()), "", &[])
}

fn unsupported(pop: &str, what: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("SONATA export: population '{pop}': {what}"))
}

/// The NEST model of population `id` and every neuron's parameter set.
fn node_model(
    net: &Network,
    id: PopulationId,
    options: &SonataOptions,
    warnings: &mut Vec<String>,
) -> Result<NodeModel> {
    let pop = net.population(id);
    let name = pop.name();
    if pop.has_noise() {
        return Err(unsupported(name, "a noise current has no SONATA form"));
    }
    let Some(model) = pop.model() else {
        return Err(unsupported(
            name,
            "spike sources (Poisson, spike arrays, external input) are not exported",
        ));
    };
    if net.spike_test(id)? == SpikeTest::Above {
        warnings.push(format!(
            "population '{name}': spikes at v > θ here; NEST's models fire at V_m ≥ V_th"
        ));
    }
    let n = pop.len();
    let currents = net.constant_currents(id)?.unwrap_or_else(|| vec![0.0; n]);
    let v0 = net.state(id, StateVar::V)?;
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into);
    match model {
        NeuronModel::Lif(p) => {
            let v_reset = match p.reset {
                Reset::ToValue { v_reset_mv } => v_reset_mv,
                Reset::BySubtraction => {
                    return Err(unsupported(
                        name,
                        "reset by subtraction (NEST's neurons reset to V_reset)",
                    ))
                }
            };
            if pop.ports().iter().any(|port| port.reversal_mv().is_some()) {
                return Err(unsupported(
                    name,
                    "conductance ports (exported as current-based models only)",
                ));
            }
            let taus: Vec<f32> = pop
                .ports()
                .iter()
                .filter_map(|port| match port {
                    Port::Exponential { tau_ms } => Some(*tau_ms),
                    Port::Delta | Port::Conductance { .. } => None,
                })
                .collect();
            let tau_m = p.tau_mem_ms as f64;
            let scale = if taus.is_empty() {
                1.0
            } else {
                options.c_m_pf / tau_m
            };
            let (template, syn) = match taus.as_slice() {
                [] => ("iaf_psc_delta", None),
                [one] => ("iaf_psc_exp", Some((*one, *one))),
                [a, b] => {
                    let (ex, inh) = port_signs(net, id, *a, *b)?;
                    ("iaf_psc_exp", Some((ex, inh)))
                }
                _ => {
                    return Err(unsupported(
                        name,
                        format!(
                            "{} exponential ports; NEST's iaf_psc_exp has two (excitatory and \
                             inhibitory)",
                            taus.len()
                        ),
                    ))
                }
            };
            if syn.is_some() && pop.ports().contains(&Port::Delta) {
                return Err(unsupported(
                    name,
                    "delta and exponential ports together (iaf_psc_exp has exponential ones only)",
                ));
            }
            let params = currents
                .iter()
                .map(|&i| {
                    let mut m = serde_json::Map::new();
                    m.insert("C_m".into(), num(options.c_m_pf));
                    m.insert("tau_m".into(), num(tau_m));
                    m.insert("E_L".into(), num(p.v_rest_mv as f64));
                    m.insert("V_th".into(), num(p.v_th_mv as f64));
                    m.insert("V_reset".into(), num(v_reset as f64));
                    m.insert("t_ref".into(), num(p.t_ref_ms as f64));
                    m.insert("I_e".into(), num(i as f64 * options.c_m_pf / tau_m));
                    if let Some((ex, inh)) = syn {
                        m.insert("tau_syn_ex".into(), num(ex as f64));
                        m.insert("tau_syn_in".into(), num(inh as f64));
                    }
                    serde_json::Value::Object(m).to_string()
                })
                .collect();
            Ok(NodeModel {
                template,
                params,
                weight_scale: scale,
                initial: vec![("V_m", v0)],
            })
        }
        NeuronModel::Izhikevich(p) => {
            let standard =
                (p.k2, p.k1, p.k0, p.u_v_offset_mv, p.u_leak) == (0.04, 5.0, 140.0, 0.0, 1.0);
            if !standard || pop.ports() != [Port::Delta] {
                return Err(unsupported(
                    name,
                    "NEST's izhikevich takes the 2003 equations (0.04v² + 5v + 140 − u) with one \
                     delta port",
                ));
            }
            warnings.push(format!(
                "population '{name}': NEST's izhikevich adds a spike's weight to V_m; somnet adds \
                 it as a current over one step (Izhikevich 2003), the same to first order in dt"
            ));
            let consistent = p.scheme != IntegrationScheme::Published2003;
            let pick = crate::neuron::IzhikevichParams::pick;
            let params = (0..n)
                .map(|k| {
                    serde_json::json!({
                        "a": pick(&p.a, k),
                        "b": pick(&p.b, k),
                        "c": pick(&p.c, k),
                        "d": pick(&p.d, k),
                        "V_th": p.v_peak_mv,
                        "I_e": currents[k],
                        "consistent_integration": consistent,
                    })
                    .to_string()
                })
                .collect();
            Ok(NodeModel {
                template: "izhikevich",
                params,
                weight_scale: 1.0,
                initial: vec![("V_m", v0), ("U_m", net.state(id, StateVar::U)?)],
            })
        }
        NeuronModel::Iaf(_) | NeuronModel::Integrator(_) => Err(unsupported(
            name,
            "non-leaky integrate-and-fire (NEST's integrate-and-fire models leak)",
        )),
    }
}

/// The (excitatory, inhibitory) time constants of a population with two exponential ports
/// `a` and `b`: the port that receives positive weights is the excitatory one.
fn port_signs(net: &Network, id: PopulationId, a: f32, b: f32) -> Result<(f32, f32)> {
    let mut sign = [0i8; 2];
    for proj in net.projections().iter().filter(|p| p.post() == id) {
        let port = proj.receptor();
        if port > 2 || port == 0 {
            continue;
        }
        for s in proj.synapses() {
            let sg = if s.2 > 0.0 {
                1
            } else if s.2 < 0.0 {
                -1
            } else {
                0
            };
            let slot = &mut sign[port - 1];
            if sg != 0 && *slot != 0 && *slot != sg {
                return Err(unsupported(
                    net.population(id).name(),
                    format!(
                        "its exponential port {} receives weights of both signs (iaf_psc_exp \
                         routes by sign)",
                        port - 1
                    ),
                ));
            }
            if sg != 0 {
                *slot = sg;
            }
        }
    }
    match sign {
        [1, -1] | [1, 0] | [0, -1] | [0, 0] => Ok((a, b)),
        [-1, 1] | [-1, 0] | [0, 1] => Ok((b, a)),
        _ => Err(unsupported(
            net.population(id).name(),
            "both exponential ports receive weights of one sign (iaf_psc_exp routes positive \
             weights to tau_syn_ex and negative ones to tau_syn_in)",
        )),
    }
}

/// A projection must arrive through a port its NEST model has.
fn check_port(net: &Network, proj: &crate::network::Projection, post: &NodeModel) -> Result<()> {
    let target = net.population(proj.post());
    let exponential = proj.receptor() > 0;
    if exponential == (post.template == "iaf_psc_exp") {
        return Ok(());
    }
    Err(Error::Unsupported(format!(
        "SONATA export: projection '{}' arrives through the {} input of '{}', which NEST's {} \
         does not have",
        proj.name(),
        if exponential { "exponential" } else { "delta" },
        target.name(),
        post.template
    )))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    crate::io::report::write_atomic(path, |tmp| {
        std::fs::write(tmp, text).map_err(|e| Error::file(tmp, format!("cannot write: {e}")))
    })
}

fn h5err<'a>(ctx: &'a Ctx, what: &str) -> impl Fn(hdf5::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| ctx.err(format!("{what}: {e}"))
}

fn write_nodes(path: &Path, names: &[String], type_ids: &[Vec<u32>]) -> Result<()> {
    crate::io::report::write_atomic(path, |tmp| {
        let file = crate::io::h5::create(tmp)?;
        let ctx = Ctx::root(path);
        let nodes = file.create_group("nodes").map_err(h5err(&ctx, "nodes"))?;
        for (name, ids) in names.iter().zip(type_ids) {
            let g = nodes.create_group(name).map_err(h5err(&ctx, name))?;
            let n = ids.len() as u64;
            let idx: Vec<u64> = (0..n).collect();
            g.create_group("0").map_err(h5err(&ctx, "group 0"))?;
            let put =
                |ds: &str, r: hdf5::Result<hdf5::Dataset>| r.map(|_| ()).map_err(h5err(&ctx, ds));
            put(
                "node_type_id",
                g.new_dataset_builder()
                    .with_data(ids.as_slice())
                    .create("node_type_id"),
            )?;
            put(
                "node_id",
                g.new_dataset_builder()
                    .with_data(idx.as_slice())
                    .create("node_id"),
            )?;
            put(
                "node_group_index",
                g.new_dataset_builder()
                    .with_data(idx.as_slice())
                    .create("node_group_index"),
            )?;
            let zeros = vec![0u32; ids.len()];
            put(
                "node_group_id",
                g.new_dataset_builder()
                    .with_data(zeros.as_slice())
                    .create("node_group_id"),
            )?;
        }
        Ok(())
    })
}

fn write_initial(path: &Path, names: &[String], models: &[NodeModel]) -> Result<()> {
    crate::io::report::write_atomic(path, |tmp| {
        let file = crate::io::h5::create(tmp)?;
        let ctx = Ctx::root(path);
        let nodes = file.create_group("nodes").map_err(h5err(&ctx, "nodes"))?;
        for (name, m) in names.iter().zip(models) {
            let g = nodes.create_group(name).map_err(h5err(&ctx, name))?;
            for (var, values) in &m.initial {
                g.new_dataset_builder()
                    .with_data(values.as_slice())
                    .create(*var)
                    .map_err(h5err(&ctx, var))?;
            }
        }
        Ok(())
    })
}

fn write_edges(
    path: &Path,
    population: &str,
    (pre, post): (&str, &str),
    syn: &[(u32, u32, f32, u32)],
    scale: f64,
    (dt, lag): (f64, u32),
) -> Result<()> {
    crate::io::report::write_atomic(path, |tmp| {
        let file = crate::io::h5::create(tmp)?;
        let ctx = Ctx::root(path);
        let g = file
            .create_group("edges")
            .and_then(|e| e.create_group(population))
            .map_err(h5err(&ctx, population))?;
        let n = syn.len();
        let src: Vec<u64> = syn.iter().map(|s| s.0 as u64).collect();
        let dst: Vec<u64> = syn.iter().map(|s| s.1 as u64).collect();
        let weight: Vec<f64> = syn.iter().map(|s| s.2 as f64 * scale).collect();
        let delay: Vec<f64> = syn
            .iter()
            .map(|s| s.3.saturating_sub(lag).max(1) as f64 * dt)
            .collect();
        let index: Vec<u64> = (0..n as u64).collect();
        let ds = |name: &str, r: hdf5::Result<hdf5::Dataset>| r.map_err(h5err(&ctx, name));
        for (name, data, pop) in [
            ("source_node_id", &src, pre),
            ("target_node_id", &dst, post),
        ] {
            let d = ds(
                name,
                g.new_dataset_builder()
                    .with_data(data.as_slice())
                    .create(name),
            )?;
            let value: hdf5::types::VarLenUnicode = pop.parse().unwrap_or_default();
            d.new_attr::<hdf5::types::VarLenUnicode>()
                .create("node_population")
                .and_then(|a| a.write_scalar(&value))
                .map_err(h5err(&ctx, "node_population"))?;
        }
        ds(
            "edge_type_id",
            g.new_dataset_builder()
                .with_data(vec![100u32; n].as_slice())
                .create("edge_type_id"),
        )?;
        ds(
            "edge_group_id",
            g.new_dataset_builder()
                .with_data(vec![0u32; n].as_slice())
                .create("edge_group_id"),
        )?;
        ds(
            "edge_group_index",
            g.new_dataset_builder()
                .with_data(index.as_slice())
                .create("edge_group_index"),
        )?;
        let g0 = g.create_group("0").map_err(h5err(&ctx, "group 0"))?;
        ds(
            "syn_weight",
            g0.new_dataset_builder()
                .with_data(weight.as_slice())
                .create("syn_weight"),
        )?;
        ds(
            "delay",
            g0.new_dataset_builder()
                .with_data(delay.as_slice())
                .create("delay"),
        )?;
        Ok(())
    })
}
