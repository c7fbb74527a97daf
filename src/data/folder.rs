//! Image folders: one sub-folder per class (sorted by name), images read with the `image` crate.

use std::path::Path;

use image::imageops::FilterType;

use super::Dataset;
use crate::error::{Error, Result};

/// How to turn files into same-sized tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderOptions {
    /// Resize every image to (width, height); without it all images must have one size.
    pub resize: Option<(u32, u32)>,
    /// Convert to one luminance channel (else three RGB channels).
    pub grayscale: bool,
}

/// Loads `root/<class>/<image>`; classes are the sub-folders in name order, images in name order.
pub fn load(root: &Path, options: FolderOptions) -> Result<Dataset> {
    let mut classes: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(Error::file(root, "no class sub-folders"));
    }
    if classes.len() > 256 {
        return Err(Error::file(
            root,
            format!("{} classes; at most 256 are supported", classes.len()),
        ));
    }
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut shape: Option<[usize; 3]> = None;
    let mut names = Vec::new();
    for (label, dir) in classes.iter().enumerate() {
        names.push(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::file(
                dir,
                "empty class folder: expected at least one image",
            ));
        }
        for f in files {
            let img =
                image::open(&f).map_err(|e| Error::file(&f, format!("unreadable image: {e}")))?;
            let img = match options.resize {
                Some((w, h)) => img.resize_exact(w, h, FilterType::Triangle),
                None => img,
            };
            let (w, h) = (img.width() as usize, img.height() as usize);
            let c = if options.grayscale { 1 } else { 3 };
            let s = [c, h, w];
            match shape {
                None => shape = Some(s),
                Some(first) if first != s => {
                    return Err(Error::file(&f, format!("size {w}×{h} differs from the first image's {}×{}; use a resize option", first[2], first[1])));
                }
                _ => {}
            }
            if options.grayscale {
                images.extend(img.to_luma8().as_raw().iter().map(|&b| b as f32 / 255.0));
            } else {
                let rgb = img.to_rgb8();
                for ch in 0..3 {
                    images.extend(rgb.pixels().map(|p| p.0[ch] as f32 / 255.0));
                }
            }
            labels.push(label as u8);
        }
    }
    Dataset::new(
        root.display().to_string(),
        images,
        labels,
        shape.expect("at least one image"),
        names,
    )
}
