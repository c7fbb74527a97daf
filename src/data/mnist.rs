//! MNIST and Fashion-MNIST: four IDX files (gzip or raw), checked against `SHA256SUMS`.
//!
//! MNIST is bundled in `datasets/mnist/`; Fashion-MNIST is fetched by `datasets/fetch.sh` into
//! `datasets/fashion-mnist/` with the same file names.

use std::path::{Path, PathBuf};

use super::{checksum, idx, Dataset, Split};
use crate::error::{Error, Result};

/// Fashion-MNIST's class names (Xiao, Rasul & Vollgraf 2017, Table 1).
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Loads MNIST's `split` from `dir`.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset> {
    let names = (0..10).map(|d| d.to_string()).collect();
    load_idx_pair(dir, split, "mnist", names)
}

/// Loads Fashion-MNIST's `split` from `dir`.
pub fn load_fashion(dir: &Path, split: Split) -> Result<Dataset> {
    load_idx_pair(
        dir,
        split,
        "fashion-mnist",
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect(),
    )
}

/// Finds `stem` as `stem.gz` or `stem` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for candidate in [dir.join(format!("{stem}.gz")), dir.join(stem)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::file(dir, format!("missing '{stem}.gz' (or '{stem}'); run datasets/fetch.sh or point SOMNET_DATA at the data")))
}

/// Loads an images/labels pair of IDX files (the MNIST naming), verifying checksums when the folder
/// has a `SHA256SUMS`.
pub fn load_idx_pair(
    dir: &Path,
    split: Split,
    name: &str,
    class_names: Vec<String>,
) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lab_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let sums = dir.join("SHA256SUMS");
    if sums.is_file() {
        checksum::verify(&img_path, &sums)?;
        checksum::verify(&lab_path, &sums)?;
    }
    let images = idx::read(&img_path)?;
    let labels = idx::read(&lab_path)?;
    if images.dims.len() != 3 {
        return Err(Error::file(
            &img_path,
            format!(
                "expected 3 dimensions (images, rows, columns), found {:?}",
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(Error::file(
            &lab_path,
            format!("expected 1 dimension (labels), found {:?}", labels.dims),
        ));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(Error::file(
            &lab_path,
            format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some(&l) = labels
        .data
        .iter()
        .find(|&&l| l as usize >= class_names.len())
    {
        return Err(Error::file(
            &lab_path,
            format!("label {l} outside 0..{}", class_names.len()),
        ));
    }
    let pixels = images.data.iter().map(|&b| b as f32 / 255.0).collect();
    let split_name = match split {
        Split::Train => "train",
        Split::Test => "test",
    };
    Dataset::new(
        format!("{name}/{split_name}"),
        pixels,
        labels.data,
        [1, images.dims[1], images.dims[2]],
        class_names,
    )
}
