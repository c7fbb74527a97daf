//! `somnet train --arch … --dataset … --out model.h5`: trains an ANN and saves it.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::init::Init;
use somnet::ann::train::{train, Loss, Optimizer, TrainConfig, TrainRecord};
use somnet::ann::{Activation, DropoutMode};
use somnet::data::{self, Split};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LossArg {
    Ce,
    Mse,
    /// MSE with the output activation's derivative skipped (DeepLearnToolbox's `nnbp`).
    MseSt,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OptArg {
    Sgd,
    Adam,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ActArg {
    Softmax,
    Relu,
    Linear,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DropArg {
    Inverted,
    ScaleAtTest,
}

/// Arguments of `somnet train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// `mlp:784-1200-1200-10`, `lenet`, `bn-cnn`, `vgg-small`, `resnet-small` (`resnet8`), `resnet20`, or a layer spec such as `c16k5-relu-ap2-flat-d10-out` (`rb32s2`: a residual block).
    #[arg(long)]
    arch: String,
    /// `mnist`, `fashion-mnist`, `cifar-10` or `folder:PATH[:WxH][:gray]`.
    #[arg(long, default_value = "mnist")]
    dataset: String,
    /// Data folder (default: `$SOMNET_DATA` or the repository's `datasets/`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Loss: softmax cross-entropy, mean squared error, or MSE whose gradient skips the output
    /// activation (`mse-st`, as the released sleep-replay code trains).
    #[arg(long, value_enum, default_value = "ce")]
    loss: LossArg,
    /// Optimiser.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptArg,
    /// Learning rate (default: 0.001 for Adam, 0.1 for SGD).
    #[arg(long)]
    lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Dropout rate between the hidden layers of `mlp:` architectures.
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Dropout convention.
    #[arg(long, value_enum, default_value = "inverted")]
    dropout_mode: DropArg,
    /// Dense and convolution layers without bias.
    #[arg(long)]
    no_bias: bool,
    /// Initialiser: glorot-uniform, glorot-normal, he-normal, he-uniform, uniform:A,
    /// fan-in-uniform (PyTorch's default, U(±1/√fan_in)).
    #[arg(long, default_value = "glorot-uniform")]
    init: String,
    /// Output activation (`out` in specs).
    #[arg(long, value_enum, default_value = "softmax")]
    output_activation: ActArg,
    /// Train for low-latency conversion: every `relu` becomes a QCFS activation with L levels
    /// and a trainable threshold (Bu et al., ICLR 2022); convert with `--initial half`.
    #[arg(long, value_name = "L")]
    qcfs: Option<u32>,
    /// Train on the first N training images only.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Output model file (somnet HDF5); the epoch log goes beside it as .train.json and .train.csv.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone().unwrap_or_else(data::default_dir);
    let mut train_set = data::load_named(&args.dataset, &dir, Split::Train)
        .with_context(|| format!("loading {} (train)", args.dataset))?;
    let test_set = data::load_named(&args.dataset, &dir, Split::Test)
        .with_context(|| format!("loading {} (test)", args.dataset))?;
    if let Some(n) = args.limit {
        train_set = train_set.head(n);
    }
    let options = ArchOptions {
        bias: !args.no_bias,
        init: Init::parse(&args.init)?,
        dropout: args.dropout,
        output: match args.output_activation {
            ActArg::Softmax => Activation::Softmax,
            ActArg::Relu => Activation::Relu,
            ActArg::Linear => Activation::Linear,
        },
        dropout_mode: match args.dropout_mode {
            DropArg::Inverted => DropoutMode::Inverted,
            DropArg::ScaleAtTest => DropoutMode::ScaleAtTest,
        },
        qcfs: args.qcfs,
    };
    let shape = train_set.shape.to_vec();
    let mut ann = build(
        &args.arch,
        &shape,
        train_set.n_classes(),
        &options,
        args.seed,
    )?;
    let optimizer = match args.optimizer {
        OptArg::Adam => Optimizer::adam(args.lr.unwrap_or(1e-3)),
        OptArg::Sgd => Optimizer::Sgd {
            lr: args.lr.unwrap_or(0.1),
            momentum: args.momentum,
        },
    };
    let loss = match args.loss {
        LossArg::Ce => Loss::CrossEntropy,
        LossArg::Mse => Loss::Mse,
        LossArg::MseSt => Loss::MseStraightThrough,
    };
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        loss,
        optimizer,
        seed: args.seed,
        shuffle: true,
    };
    config.validate(&ann)?;
    eprintln!(
        "training {} ({} parameters, {} MACs per image) on {} images of {}",
        args.arch,
        ann.n_params(),
        ann.macs(),
        train_set.len(),
        train_set.name
    );
    super::progress::install_interrupt_handler();
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("epoch {msg} [{bar:40}] {pos}/{len} batches ({eta})")
                .expect("constant template")
                .progress_chars("=> "),
        );
        b
    });
    let outcome = super::with_threads(args.threads, || {
        train(&mut ann, &train_set, Some(&test_set), &config, |p| {
            match &bar {
                Some(b) => {
                    b.set_length(p.batches as u64);
                    b.set_position(p.batch as u64);
                    b.set_message(format!("{}/{} loss {:.4}", p.epoch, config.epochs, p.loss));
                }
                // Not a terminal (a log file): a line per finished epoch.
                None if p.batch == p.batches => {
                    eprintln!(
                        "epoch {}/{} done, loss {:.4}",
                        p.epoch, config.epochs, p.loss
                    )
                }
                None => {}
            }
            if super::progress::interrupted() {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        })
    })??;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let csv_text = outcome.csv();
    print!("{csv_text}");
    let record = serde_json::to_value(TrainRecord {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        arch: &args.arch,
        dataset: &train_set.name,
        train_images: train_set.len(),
        options: &options,
        config: &config,
        epochs: &outcome.epochs,
        interrupted: outcome.interrupted,
    })?;
    somnet::io::schema::save(&args.out, &ann, record.clone())?;
    let json = args.out.with_extension("train.json");
    somnet::io::report::write_json(&json, &record)?;
    let csv = args.out.with_extension("train.csv");
    somnet::io::report::write_text(&csv, &csv_text)?;
    if outcome.interrupted {
        eprintln!("interrupted: saved the weights after the last finished batch");
    }
    println!(
        "wrote {} ({}, {})",
        args.out.display(),
        json.display(),
        csv.display()
    );
    Ok(())
}
