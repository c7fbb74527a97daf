//! `somnet convert --model FILE --dataset mnist --out snn.h5 [knobs]`: folds batch norm,
//! normalises on a calibration set and writes the converted network (weights scaled for unit
//! thresholds) with its conversion recorded, ready for `somnet evaluate --model snn.h5 --steps T`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::convert::options::ConvertOptions;
use somnet::convert::pipeline::{calibration_set, convert};
use somnet::convert::record::ConvertedFileRecord;
use somnet::data::{self, Split};

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
    /// Average pooling: spiking neurons (the reference) or folded into the next weighted layer
    /// (exact; fewer layers and steps, for low-latency conversion).
    #[arg(long, value_enum, default_value = "spiking")]
    avgpool: super::convert_args::AvgPoolArg,
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
    /// Also write it as a NIR graph here (as `somnet export-nir` would).
    #[arg(long)]
    nir: Option<PathBuf>,
}

pub fn run(args: ConvertCmdArgs) -> anyhow::Result<()> {
    let file = super::model::load(&args.model)?;
    let options = args.knobs.apply(ConvertOptions {
        percentile: args.percentile,
        normalization: args.norm.into(),
        avg_pool: args.avgpool.into(),
        ..ConvertOptions::default()
    })?;
    let dir = args.data_dir.clone().unwrap_or_else(data::default_dir);
    let train = data::load_named(&args.dataset, &dir, Split::Train)
        .with_context(|| format!("loading {} (train) for calibration", args.dataset))?;
    let calibration = calibration_set(&train, args.calibration_limit);
    let mut c = super::with_threads(args.threads, || convert(&file.ann, &calibration, &options))??;
    c.record.calibration_dataset = Some(args.dataset.clone());
    let record = ConvertedFileRecord {
        somnet_version: somnet::VERSION.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        source_model: args.model.display().to_string(),
        source_provenance: file.provenance.record,
        conversion: c.record,
    };
    somnet::io::schema::save(&args.out, &c.ann, serde_json::to_value(&record)?)?;
    if let Some(nir) = &args.nir {
        let converted = somnet::convert::pipeline::Converted {
            original: None,
            ann: c.ann.clone(),
            record: record.conversion.clone(),
        };
        super::export_nir::write(&converted, &options, nir)?;
    }
    println!(
        "wrote {} (converted: {}, λ = {}, {} calibration images)",
        args.out.display(),
        options.label(),
        record.conversion.scales_summary(),
        record.conversion.calibration_images
    );
    Ok(())
}
