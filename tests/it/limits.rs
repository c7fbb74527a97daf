//! Bounded memory: a size declared in a file or spec is checked against the file and the limit
//! (8 GiB by default) before anything is allocated; the error names the file, the field and the
//! size.

use std::io::Write;
use std::path::Path;

use hdf5_metno as hdf5;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn an_idx_header_declaring_terabytes_is_refused_before_decompressing() {
    // 100 000 × 100 000 × 100 bytes = 1 TB declared, a few bytes of body.
    let mut raw = vec![0, 0, 8, 3];
    for d in [100_000u32, 100_000, 100] {
        raw.extend(d.to_be_bytes());
    }
    raw.extend([1, 2, 3]);
    let err = somnet::data::idx::decode(Path::new("big.idx.gz"), &gzip(&raw))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("big.idx.gz") && err.contains("IDX dimensions") && err.contains("limit"),
        "{err}"
    );
}

#[test]
fn a_gzip_bomb_is_read_only_as_far_as_its_header_declares() {
    // The header declares 1 000 values; the stream inflates to 50 MB of zeros (a ~50 kB file).
    let mut raw = vec![0, 0, 8, 1];
    raw.extend(1000u32.to_be_bytes());
    raw.resize(raw.len() + 50_000_000, 0);
    let bomb = gzip(&raw);
    assert!(bomb.len() < 100_000);
    let err = somnet::data::idx::decode(Path::new("bomb.gz"), &bomb)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bomb.gz") && err.contains("oversize"), "{err}");
}

#[test]
fn an_hdf5_dataset_declared_larger_than_the_limit_is_refused_by_name() {
    let dir = crate::common::scratch("limits");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.h5");
    let ann = somnet::ann::arch::build("mlp:4-3-2", &[4], 2, &Default::default(), 1).unwrap();
    somnet::io::schema::save(&path, &ann, serde_json::json!({})).unwrap();
    {
        // Replace the first dense layer's weights by a chunked dataset declaring 2^21 × 2^21
        // float32 (16 TiB) of fill values: a file of a few kB.
        let f = hdf5::File::open_rw(&path).unwrap();
        let g = f.group("layers/001").unwrap();
        g.unlink("weights").unwrap();
        g.new_dataset::<f32>()
            .chunk((16, 16))
            .deflate(1)
            .shape((1 << 21, 1 << 21))
            .create("weights")
            .unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() < 100_000);
    let err = somnet::io::schema::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("huge.h5") && err.contains("dataset 'weights'") && err.contains("TiB"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_image_declaring_huge_dimensions_is_refused_before_decoding() {
    // A PNG header for 60 000 × 60 000 RGB (10.8 GB decoded) with no image data.
    let mut png = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // IHDR's width and height follow the 8-byte signature, the chunk length and "IHDR".
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    // Keep the header's CRC valid, so that only the size can be the reason.
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = somnet::data::folder::decode_image(Path::new("wide.png"), &png, Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wide.png") && err.to_lowercase().contains("limit"),
        "{err}"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn an_architecture_too_large_to_allocate_names_the_layer() {
    let err = somnet::ann::arch::build(
        "mlp:784-100000000-10",
        &[1, 28, 28],
        10,
        &Default::default(),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("d100000000") && err.contains("limit"), "{err}");
}
