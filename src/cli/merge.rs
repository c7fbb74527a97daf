//! `somnet merge DIR… [--out DIR] [--json]`: the shards of `somnet evaluate --shard I/N` (a job
//! array) merged into the record of the whole run.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `somnet merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output folders (or their shard.json files), in any order.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Output folder for result.json, per_step.csv and the plots of the whole run.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let shards = args
        .shards
        .iter()
        .map(|d| somnet::study::report::read_shard(d))
        .collect::<Result<Vec<_>, _>>()?;
    let n = shards.len();
    let e = somnet::convert::shard::merge(shards)?;
    if let Some(out) = &args.out {
        somnet::study::report::write_evaluation(out, &e)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        println!(
            "{n} shards, {} images of {}: ANN {:.2} %, SNN {:.2} % after {} steps; {:.2e} synaptic ops per image; energy SNN/ANN {:.3}",
            e.images,
            e.dataset,
            100.0 * e.ann_accuracy,
            100.0 * e.snn_accuracy,
            e.steps,
            e.synaptic_ops_per_image,
            e.energy_pj.ratio
        );
    }
    Ok(())
}
