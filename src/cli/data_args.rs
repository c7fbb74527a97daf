//! The data-set arguments shared by the commands that read images.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use somnet::data::{self, Dataset, Split};

/// `--dataset` and `--data-dir`.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// `mnist`, `fashion-mnist`, `cifar-10` or `folder:PATH[:WxH][:gray]`.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Data folder (default: `$SOMNET_DATA` or the repository's `datasets/`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The data folder.
    pub fn dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(data::default_dir)
    }

    /// Loads one split, saying which on failure.
    pub fn load(&self, split: Split) -> anyhow::Result<Dataset> {
        data::load_named(&self.dataset, &self.dir(), split)
            .with_context(|| format!("loading {} ({split:?})", self.dataset))
    }
}
