//! `somnet evaluate --model FILE --dataset mnist --ann [--limit N] [--json]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::data::{self, Split};

/// Arguments of `somnet evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// `mnist`, `fashion-mnist`, `cifar-10` or `folder:PATH[:WxH][:gray]`.
    #[arg(long, default_value = "mnist")]
    dataset: String,
    /// Data folder (default: `$SOMNET_DATA` or the repository's `datasets/`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Evaluate the ANN itself (the spiking evaluation comes with the converter).
    #[arg(long)]
    ann: bool,
    /// The first N test images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    if !args.ann {
        anyhow::bail!("only --ann evaluation is available so far: pass --ann");
    }
    let file = super::model::load(&args.model)?;
    let dir = args.data_dir.clone().unwrap_or_else(data::default_dir);
    let mut test = data::load_named(&args.dataset, &dir, Split::Test)
        .with_context(|| format!("loading {} (test)", args.dataset))?;
    if let Some(n) = args.limit {
        test = test.head(n);
    }
    let t0 = std::time::Instant::now();
    let acc = super::with_threads(args.threads, || file.ann.accuracy(&test))??;
    let secs = t0.elapsed().as_secs_f64();
    if args.json {
        let v = serde_json::json!({ "model": args.model, "dataset": test.name, "images": test.len(), "ann_accuracy": acc, "seconds": secs, "somnet_version": somnet::VERSION });
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!(
            "ANN accuracy on {} images of {}: {:.2} % ({:.2} s)",
            test.len(),
            test.name,
            100.0 * acc,
            secs
        );
    }
    Ok(())
}
