//! CIFAR-10 binary batches (Krizhevsky 2009): records of 1 label byte and 3 072 pixel bytes
//! (1 024 red, 1 024 green, 1 024 blue, row-major 32×32), i.e. already channel-major.
//! `datasets/fetch.sh` unpacks them into `datasets/cifar-10/`.

use std::path::Path;

use super::{checksum, Dataset, Split};
use crate::error::{Error, Result};

/// CIFAR-10's class names (`batches.meta.txt`).
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

const RECORD: usize = 1 + 3 * 32 * 32;

/// Loads CIFAR-10's `split` from `dir` (`data_batch_1..5.bin` or `test_batch.bin`).
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let files: Vec<String> = match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    };
    let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    let parts = paths
        .iter()
        .map(|p| load_batch(p))
        .collect::<Result<Vec<_>>>()?;
    let sums = dir.join("SHA256SUMS");
    if sums.is_file() {
        for p in &paths {
            checksum::verify(p, &sums)?;
        }
    }
    let mut all = Dataset::concat(&parts.iter().collect::<Vec<_>>())?;
    all.name = format!(
        "cifar-10/{}",
        if split == Split::Train {
            "train"
        } else {
            "test"
        }
    );
    Ok(all)
}

/// Loads one binary batch file.
pub fn load_batch(path: &Path) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_batch(path, &bytes)
}

/// Parses the bytes of one binary batch; `path` names the file in errors.
///
/// ```
/// let mut record = vec![3u8];
/// record.extend(std::iter::repeat(255).take(3072));
/// let batch = somnet::data::cifar::parse_batch("b.bin".as_ref(), &record).unwrap();
/// assert_eq!((batch.labels[0], batch.images[0]), (3, 1.0));
/// ```
pub fn parse_batch(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    // Every pixel byte becomes a float32.
    crate::limits::check(path, "CIFAR-10 pixels as float32", 4 * bytes.len() as u128)?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::file(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= CLASSES.len() {
            return Err(Error::file(
                path,
                format!("record {i}: label {} outside 0..10", rec[0]),
            ));
        }
        labels.push(rec[0]);
        images.extend(rec[1..].iter().map(|&b| b as f32 / 255.0));
    }
    Dataset::new(
        path.display().to_string(),
        images,
        labels,
        [3, 32, 32],
        CLASSES.iter().map(|s| s.to_string()).collect(),
    )
}
