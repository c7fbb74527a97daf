//! `somnet export-nir snn.h5 out.nir [knobs]`: a converted network as a NIR graph (see
//! [`somnet::convert::to_nir`]); what NIR cannot say is printed as warnings and kept in the
//! graph's metadata.

use std::path::{Path, PathBuf};

use clap::Args;

use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::Converted;
use somnet::convert::to_nir::to_nir;

/// Arguments of `somnet export-nir`.
#[derive(Debug, Args)]
pub struct ExportNirArgs {
    /// A converted network (`somnet convert --out`).
    model: PathBuf,
    /// The NIR file to write.
    out: PathBuf,
    /// Knobs that change the recorded conversion (as for `somnet evaluate`).
    #[command(flatten)]
    knobs: super::convert_args::ConvertArgs,
}

pub fn run(args: ExportNirArgs) -> anyhow::Result<()> {
    let file = super::model::load(&args.model)?;
    let Some(converted) = Converted::from_file(&args.model, &file)? else {
        anyhow::bail!(
            "{}: a trained network, not a converted one (no conversion recorded); run `somnet \
             convert --model {} --out snn.h5` first",
            args.model.display(),
            args.model.display()
        );
    };
    let options = args.knobs.apply(converted.record.options.clone())?;
    write(&converted, &options, &args.out)
}

/// Exports `converted` under `options` to `out`, printing the warnings (shared with `somnet
/// convert --nir`).
pub fn write(converted: &Converted, options: &ConvertOptions, out: &Path) -> anyhow::Result<()> {
    let export = to_nir(&converted.ann, options, &converted.record.layer_scales)?;
    somnet::io::nir::write(out, &export.graph)?;
    for w in &export.warnings {
        eprintln!("warning: {w}");
    }
    let neurons = export
        .graph
        .nodes
        .values()
        .filter(|n| matches!(n, somnet::io::nir::Node::Neuron(_)))
        .count();
    println!(
        "wrote {} (NIR {}: {} nodes, {neurons} neuron layers; somnet's settings in metadata/)",
        out.display(),
        somnet::io::nir::NIR_VERSION,
        export.graph.nodes.len()
    );
    Ok(())
}
