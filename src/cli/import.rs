//! `somnet import in.h5 --out model.h5`: a Keras `.h5` file rewritten as a somnet model file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `somnet import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Keras `.h5` file (Keras 2 or Keras 3's `model.save("x.h5")`).
    input: PathBuf,
    /// The somnet model file to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let (file, format) = somnet::io::load_model(&args.input)
        .with_context(|| format!("importing {}", args.input.display()))?;
    eprintln!("{}: {format}", args.input.display());
    let record = serde_json::json!({
        "command": "import",
        "source": args.input.display().to_string(),
        "source_format": format.to_string(),
        "source_record": file.provenance.record,
    });
    somnet::io::schema::save(&args.out, &file.ann, record)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {}: {} layers, input {:?}, {} parameters, {} MACs per sample",
        args.out.display(),
        file.ann.layers.len(),
        file.ann.input_shape,
        file.ann.n_params(),
        file.ann.macs()
    );
    Ok(())
}
