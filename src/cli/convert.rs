//! `somnet convert --model FILE --dataset mnist --out snn.h5 [knobs]`: folds batch norm,
//! normalises on a calibration set and writes the converted network (weights scaled for unit
//! thresholds) with its conversion recorded, ready for `somnet evaluate --model snn.h5 --steps T`.

use std::path::PathBuf;

use clap::Args;

use somnet::data;

/// Arguments of `somnet convert`.
#[derive(Debug, Args)]
pub struct ConvertCmdArgs {
    /// The trained model file.
    #[arg(long)]
    model: PathBuf,
    /// The data set whose training images calibrate the normalisation.
    #[arg(long = "calibration", alias = "dataset", default_value = "mnist")]
    dataset: String,
    /// Data folder (default: `$SOMNET_DATA` or the repository's `datasets/`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Normalisation percentile of non-zero activations, in (0, 100] (100 = max-norm).
    #[arg(long, default_value_t = 99.9)]
    percentile: f64,
    /// Normalisation scale per layer (default) or per channel (Kim et al. 2020).
    #[arg(long, value_enum, default_value_t = super::convert_args::NormArg::Layer)]
    norm: super::convert_args::NormArg,
    /// Calibration images: every 10th training image, at most this many.
    #[arg(long, default_value_t = 6000)]
    calibration_limit: usize,
    #[command(flatten)]
    knobs: super::convert_args::ConvertArgs,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The converted network (somnet HDF5).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ConvertCmdArgs) -> anyhow::Result<()> {
    let file = super::model::load(&args.model)?;
    let dir = args.data_dir.clone().unwrap_or_else(data::default_dir);
    let p = super::evaluate::prepare(
        &file.ann,
        &args.dataset,
        &dir,
        args.calibration_limit,
        args.percentile,
        args.norm.into(),
        args.threads,
    )?;
    let options = args.knobs.apply(p.base_options.clone())?;
    // Refuse what cannot be simulated now rather than at evaluation.
    somnet::convert::build::build_with(&p.norm, &options)?;
    let record = serde_json::json!({
        "somnet_version": somnet::VERSION,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "source_model": args.model,
        "source_provenance": file.provenance.record,
        "conversion": {
            "options": options,
            "threshold": 1.0,
            "layer_scales": p.scales,
            "calibration_dataset": args.dataset,
            "calibration_images": p.calibration_images,
            "batchnorm_folded": true,
        },
    });
    somnet::io::schema::save(&args.out, &p.norm, record)?;
    println!(
        "wrote {} (converted: {}, λ = {}, {} calibration images)",
        args.out.display(),
        options.label(),
        super::evaluate::scales_summary(&p.scales),
        p.calibration_images
    );
    Ok(())
}
