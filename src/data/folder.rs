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
            let bytes = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
            let (s, pixels) = decode_image(&f, &bytes, options)?;
            match shape {
                None => shape = Some(s),
                Some(first) if first != s => {
                    return Err(Error::file(
                        &f,
                        format!(
                            "size {}×{} differs from the first image's {}×{}; use a resize option",
                            s[2], s[1], first[2], first[1]
                        ),
                    ));
                }
                _ => {}
            }
            crate::limits::check(
                &f,
                "the image folder's pixels as float32",
                4 * (images.len() + pixels.len()) as u128,
            )?;
            images.extend(pixels);
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

/// Decodes one image file's bytes (PNG, JPEG, BMP, GIF; the format from the content) into
/// channel-major floats in [0, 1] and its `[C, H, W]`, resized and converted as `options` say.
/// The decoder's limits are set from [`crate::limits`] (dimensions up to 65 535, the allocation
/// up to the limit) before anything is decoded; `path` names the file in errors.
///
/// ```
/// use somnet::data::folder::{decode_image, FolderOptions};
/// let mut png = Vec::new();
/// image::GrayImage::from_pixel(3, 2, image::Luma([255u8]))
///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
///     .unwrap();
/// let options = FolderOptions { grayscale: true, ..Default::default() };
/// let (shape, pixels) = decode_image("a.png".as_ref(), &png, options).unwrap();
/// assert_eq!((shape, pixels[0]), ([1, 2, 3], 1.0));
/// ```
pub fn decode_image(
    path: &Path,
    bytes: &[u8],
    options: FolderOptions,
) -> Result<([usize; 3], Vec<f32>)> {
    let c = if options.grayscale { 1 } else { 3 };
    if let Some((w, h)) = options.resize {
        if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
            return Err(Error::param(
                "resize",
                format!("{w}x{h}"),
                format!("sides from 1 to {MAX_SIDE}"),
            ));
        }
        crate::limits::check(
            path,
            &format!("resizing to {w}x{h}"),
            4 * c as u128 * w as u128 * h as u128,
        )?;
    }
    let unreadable = |e: image::ImageError| Error::file(path, format!("unreadable image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(crate::limits::max_bytes());
    reader.limits(limits);
    let img = reader.decode().map_err(unreadable)?;
    let img = match options.resize {
        Some((w, h)) => img.resize_exact(w, h, FilterType::Triangle),
        None => img,
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    crate::limits::check(path, "the image as float32", 4 * (c * w * h) as u128)?;
    let pixels = if options.grayscale {
        img.to_luma8()
            .as_raw()
            .iter()
            .map(|&b| b as f32 / 255.0)
            .collect()
    } else {
        let rgb = img.to_rgb8();
        let mut out = Vec::with_capacity(3 * w * h);
        for ch in 0..3 {
            out.extend(rgb.pixels().map(|p| p.0[ch] as f32 / 255.0));
        }
        out
    };
    Ok(([c, h, w], pixels))
}

/// The largest image side decoded or resized to.
pub const MAX_SIDE: u32 = 65_535;
