//! `somnet info model.h5`: layers, shapes, parameter and MAC counts.

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
