//! `somnet info model.h5`: layers, shapes, parameter and MAC counts; `somnet info graph.nir`: a NIR
//! graph's nodes, shapes and edges.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `somnet info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The model file.
    model: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    if somnet::io::nir::is_nir(&args.model) {
        return nir_info(&args);
    }
    let file = super::model::load(&args.model)?;
    let ann = &file.ann;
    let rows = ann.summary();
    if args.json {
        let v = serde_json::json!({
            "input_shape": ann.input_shape,
            "layers": rows,
            "params": ann.n_params(),
            "macs": ann.macs(),
            "dropout_mode": ann.dropout_mode,
            "provenance": file.provenance,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("input {:?}", ann.input_shape);
    println!(
        "{:<16} {:<11} {:<16} {:>10} {:>12}",
        "layer", "kind", "output", "params", "MACs"
    );
    for r in &rows {
        println!(
            "{:<16} {:<11} {:<16} {:>10} {:>12}",
            r.name,
            r.kind,
            format!("{:?}", r.output_shape),
            r.params,
            r.macs
        );
    }
    println!(
        "{:<16} {:<11} {:<16} {:>10} {:>12}",
        "total",
        "",
        "",
        ann.n_params(),
        ann.macs()
    );
    if !file.provenance.somnet_version.is_empty() {
        println!("written by somnet {}", file.provenance.somnet_version);
    }
    Ok(())
}

/// A NIR graph: its nodes (inlined subgraphs as `outer.inner`) with their types and output shapes,
/// the edges, and the populations `somnet simulate` would make under NIR's own discretisation.
fn nir_info(args: &InfoArgs) -> anyhow::Result<()> {
    let graph = somnet::io::nir::read(&args.model)?;
    let flat = graph.flatten()?;
    let plan = somnet::simulate::Simulation::new(&graph, &somnet::simulate::SimOptions::default());
    let shapes: std::collections::BTreeMap<String, Vec<usize>> = match &plan {
        Ok(sim) => sim.nodes().into_iter().map(|n| (n.name, n.shape)).collect(),
        Err(_) => Default::default(),
    };
    if args.json {
        let nodes: Vec<serde_json::Value> = flat
            .nodes
            .iter()
            .map(|(name, node)| {
                serde_json::json!({"name": name, "type": node.kind(), "shape": shapes.get(name)})
            })
            .collect();
        let v = serde_json::json!({
            "nir_version": graph.version,
            "nodes": nodes,
            "edges": flat.edges,
            "runs": plan.as_ref().map(|_| true).unwrap_or(false),
            "refusal": plan.as_ref().err().map(|e| e.to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "NIR graph (version {}): {} nodes, {} edges",
        graph.version.as_deref().unwrap_or("unknown"),
        flat.nodes.len(),
        flat.edges.len()
    );
    println!("{:<24} {:<11} {:<16}", "node", "type", "output");
    for (name, node) in &flat.nodes {
        let shape = shapes
            .get(name)
            .map_or_else(|| "?".to_string(), |s| format!("{s:?}"));
        println!("{name:<24} {:<11} {shape:<16}", node.kind());
    }
    println!("edges:");
    for (a, b) in &flat.edges {
        println!("  {a} -> {b}");
    }
    match plan {
        Ok(sim) => {
            let pops = sim.populations();
            let neurons: usize = pops.iter().map(|p| p.2).sum();
            println!(
                "runs on the engine: {} populations, {neurons} neurons",
                pops.len()
            );
            for c in sim.delayed_cycles() {
                println!("  recurrent edge {c} acts one step later");
            }
        }
        Err(e) => println!("does not run on the engine: {e}"),
    }
    Ok(())
}
