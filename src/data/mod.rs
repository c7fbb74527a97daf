//! Data sets: one [`Dataset`] type and loaders for IDX (MNIST, Fashion-MNIST), CIFAR-10 binary
//! batches and image folders.
//!
//! Images are stored as `f32` in [0, 1], channel-major (C, H, W) per image, images one after the
//! other: the NCHW layout of [`crate::ann`]. Every selection that draws at random takes a seed.
//!
//! ```no_run
//! use somnet::data::{mnist, Split};
//! let test = mnist::load_mnist(&somnet::data::default_dir().join("mnist"), Split::Test).unwrap();
//! let two_classes = test.first_n_of_classes(&[0, 1], 500);
//! assert_eq!(two_classes.len(), 500);
//! ```

pub mod checksum;
pub mod cifar;
pub mod folder;
pub mod idx;
pub mod mnist;

use std::path::PathBuf;

use ndarray::{ArrayView2, ArrayView4};

use crate::error::{Error, Result};
use crate::rng::{below, stream, Purpose};

/// Which part of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Split {
    /// The training set.
    Train,
    /// The test set.
    Test,
}

/// The data folder: `$SOMNET_DATA` if set, else `datasets/` of this repository.
pub fn default_dir() -> PathBuf {
    std::env::var_os("SOMNET_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets"))
}

/// Labelled images.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// A name for reports (e.g. `mnist/test`).
    pub name: String,
    /// Pixels in [0, 1], image-major, each image (C, H, W).
    pub images: Vec<f32>,
    /// Class index of each image.
    pub labels: Vec<u8>,
    /// (C, H, W) of every image.
    pub shape: [usize; 3],
    /// Name of each class.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// A data set from its parts, checking that they agree.
    pub fn new(
        name: impl Into<String>,
        images: Vec<f32>,
        labels: Vec<u8>,
        shape: [usize; 3],
        class_names: Vec<String>,
    ) -> Result<Dataset> {
        let name = name.into();
        let per = shape.iter().product::<usize>();
        if per == 0 || images.len() != per * labels.len() {
            return Err(Error::SizeMismatch {
                what: format!(
                    "data set '{name}': pixels for {} images of shape {shape:?}",
                    labels.len()
                ),
                expected: per * labels.len(),
                got: images.len(),
            });
        }
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(Error::IndexOutOfRange {
                what: format!("data set '{name}': label"),
                index: l as usize,
                len: class_names.len(),
            });
        }
        if let Some(i) = images.iter().position(|x| !x.is_finite()) {
            return Err(Error::param(
                format!("data set '{name}': image {} pixel {}", i / per, i % per),
                images[i],
                "a finite number",
            ));
        }
        Ok(Dataset {
            name,
            images,
            labels,
            shape,
            class_names,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (C·H·W).
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Image `i`, (C, H, W) flattened.
    pub fn image(&self, i: usize) -> &[f32] {
        let f = self.features();
        &self.images[i * f..(i + 1) * f]
    }

    /// All images as an (N, C·H·W) matrix.
    pub fn as_matrix(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.len(), self.features()), &self.images)
            .expect("length checked at construction")
    }

    /// All images as an (N, C, H, W) tensor.
    pub fn as_nchw(&self) -> ArrayView4<'_, f32> {
        let [c, h, w] = self.shape;
        ArrayView4::from_shape((self.len(), c, h, w), &self.images)
            .expect("length checked at construction")
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let f = self.features();
        let mut images = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            name: self.name.clone(),
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            class_names: self.class_names.clone(),
        }
    }

    /// The images whose class is in `classes`, in their original order.
    pub fn filter_classes(&self, classes: &[u8]) -> Dataset {
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| classes.contains(&self.labels[i]))
            .collect();
        self.select(&idx)
    }

    /// The first `n` images (in file order) whose class is in `classes`: the task data of the
    /// class-incremental experiment. Fewer if the data set has fewer.
    pub fn first_n_of_classes(&self, classes: &[u8], n: usize) -> Dataset {
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| classes.contains(&self.labels[i]))
            .take(n)
            .collect();
        self.select(&idx)
    }

    /// The first `n` images.
    pub fn head(&self, n: usize) -> Dataset {
        self.select(&(0..n.min(self.len())).collect::<Vec<_>>())
    }

    /// A seeded permutation of 0..len (Fisher–Yates on the stream (seed, user, 0, purpose_tag)).
    pub fn permutation(&self, seed: u64, tag: u64) -> Vec<usize> {
        let mut rng = stream(seed, Purpose::User, 0, tag, 0);
        let mut p: Vec<usize> = (0..self.len()).collect();
        for i in (1..p.len()).rev() {
            p.swap(i, below(&mut rng, i as u64 + 1) as usize);
        }
        p
    }

    /// `n` images drawn without replacement (seeded), in the drawn order.
    pub fn random_subset(&self, n: usize, seed: u64) -> Dataset {
        let mut p = self.permutation(seed, 1);
        p.truncate(n);
        self.select(&p)
    }

    /// A seeded split: the first part holds `fraction` of the images.
    pub fn split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        crate::error::probability("split fraction", fraction)?;
        let p = self.permutation(seed, 2);
        let k = (fraction * self.len() as f64).round() as usize;
        Ok((self.select(&p[..k]), self.select(&p[k..])))
    }

    /// The data sets one after the other (same image shape and classes).
    pub fn concat(parts: &[&Dataset]) -> Result<Dataset> {
        let first = parts
            .first()
            .ok_or_else(|| Error::Unsupported("concatenating no data sets".into()))?;
        let mut out = Dataset {
            name: first.name.clone(),
            images: Vec::new(),
            labels: Vec::new(),
            shape: first.shape,
            class_names: first.class_names.clone(),
        };
        for d in parts {
            if d.shape != first.shape || d.class_names != first.class_names {
                return Err(Error::Unsupported(format!(
                    "cannot concatenate '{}' ({:?}) with '{}' ({:?})",
                    d.name, d.shape, first.name, first.shape
                )));
            }
            out.images.extend_from_slice(&d.images);
            out.labels.extend_from_slice(&d.labels);
        }
        Ok(out)
    }

    /// Mean image over the data set.
    pub fn mean_image(&self) -> Vec<f32> {
        let f = self.features();
        let mut sum = vec![0.0f64; f];
        for i in 0..self.len() {
            for (s, &x) in sum.iter_mut().zip(self.image(i)) {
                *s += x as f64;
            }
        }
        sum.iter()
            .map(|s| (s / self.len().max(1) as f64) as f32)
            .collect()
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes()];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// A data set named as the `--dataset` option and the Python package name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSpec {
    /// MNIST (from `DIR/mnist`).
    Mnist,
    /// Fashion-MNIST (from `DIR/fashion-mnist`).
    FashionMnist,
    /// CIFAR-10 (from `DIR/cifar-10`).
    Cifar10,
    /// An image folder with its options.
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Resize and colour options.
        options: folder::FolderOptions,
    },
}

impl DatasetSpec {
    /// Parses `mnist`, `fashion-mnist`, `cifar-10` (or `cifar10`) or `folder:PATH[:WxH][:gray]`.
    ///
    /// ```
    /// use somnet::data::DatasetSpec;
    /// let spec = DatasetSpec::parse("folder:pics:32x24:gray").unwrap();
    /// let DatasetSpec::Folder { options, .. } = spec else { panic!() };
    /// assert_eq!((options.resize, options.grayscale), (Some((32, 24)), true));
    /// assert!(DatasetSpec::parse("folder:pics:0x24").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<DatasetSpec> {
        match name {
            "mnist" => Ok(DatasetSpec::Mnist),
            "fashion-mnist" => Ok(DatasetSpec::FashionMnist),
            "cifar-10" | "cifar10" => Ok(DatasetSpec::Cifar10),
            other => {
                let Some(rest) = other.strip_prefix("folder:") else {
                    return Err(Error::param(
                        "dataset",
                        other,
                        "mnist, fashion-mnist, cifar-10 or folder:PATH[:WxH][:gray]",
                    ));
                };
                let mut parts = rest.split(':');
                let path = parts.next().unwrap_or_default();
                if path.is_empty() {
                    return Err(Error::param(
                        "dataset",
                        other,
                        "folder:PATH[:WxH][:gray] with a PATH",
                    ));
                }
                let mut options = folder::FolderOptions::default();
                for opt in parts {
                    if opt == "gray" {
                        options.grayscale = true;
                    } else if let Some((w, h)) = opt
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
                        .filter(|&(w, h)| {
                            (1..=folder::MAX_SIDE).contains(&w)
                                && (1..=folder::MAX_SIDE).contains(&h)
                        })
                    {
                        options.resize = Some((w, h));
                    } else {
                        return Err(Error::param(
                            "dataset",
                            other,
                            format!(
                                "folder:PATH[:WxH][:gray] with sides W, H from 1 to {}",
                                folder::MAX_SIDE
                            ),
                        ));
                    }
                }
                Ok(DatasetSpec::Folder {
                    path: path.into(),
                    options,
                })
            }
        }
    }

    /// Loads `split` (data sets with files from `dir`; an image folder is split 80/20 into
    /// train/test with seed 0).
    pub fn load(&self, dir: &std::path::Path, split: Split) -> Result<Dataset> {
        match self {
            DatasetSpec::Mnist => mnist::load_mnist(&dir.join("mnist"), split),
            DatasetSpec::FashionMnist => mnist::load_fashion(&dir.join("fashion-mnist"), split),
            DatasetSpec::Cifar10 => cifar::load(&dir.join("cifar-10"), split),
            DatasetSpec::Folder { path, options } => {
                let all = folder::load(path, *options)?;
                let (train, test) = all.split(0.8, 0)?;
                Ok(if split == Split::Train { train } else { test })
            }
        }
    }
}

/// Loads a data set by name: `mnist`, `fashion-mnist`, `cifar-10` (from `dir`), or
/// `folder:PATH[:WxH][:gray]` (an image folder, split 80/20 into train/test with seed 0).
pub fn load_named(name: &str, dir: &std::path::Path, split: Split) -> Result<Dataset> {
    DatasetSpec::parse(name)?.load(dir, split)
}

/// Parses a list of classes: `0-3`, `0,2,5` or a mix (`0-2,7`), sorted without repeats.
///
/// ```
/// assert_eq!(somnet::data::parse_classes("4,0-2,2").unwrap(), vec![0, 1, 2, 4]);
/// assert!(somnet::data::parse_classes("3-1").is_err());
/// ```
pub fn parse_classes(text: &str) -> Result<Vec<u8>> {
    let bad = || Error::param("classes", text, "e.g. 0-3 or 0,2,5 (class numbers 0-255)");
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u8, u8) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().map_err(|_| bad())?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
