//! somnet HDF5 model files: bit-identical round trips and clear errors for malformed files.

use std::path::{Path, PathBuf};

use hdf5_metno as hdf5;
use somnet::ann::arch::{build, ArchOptions};
use somnet::io::schema;

fn tmp(name: &str) -> PathBuf {
    crate::common::scratch(&format!("schema-{name}.h5"))
}

fn saved(name: &str, spec: &str) -> (PathBuf, somnet::ann::Ann) {
    let ann = build(spec, &[1, 28, 28], 10, &ArchOptions::default(), 3).unwrap();
    let path = tmp(name);
    schema::save(&path, &ann, serde_json::json!({"note": "test"})).unwrap();
    (path, ann)
}

#[test]
fn models_reload_bit_identically_and_predict_identically() {
    for (i, spec) in [
        "mlp:784-32-10",
        "lenet",
        "bn-cnn",
        "c4k3s2same-mp3s2-flat-do0.5-d10-out",
    ]
    .iter()
    .enumerate()
    {
        let (path, ann) = saved(&format!("rt{i}"), spec);
        let file = schema::load(&path).unwrap();
        assert_eq!(file.ann, ann, "{spec}");
        assert_eq!(file.provenance.record["note"], "test");
        let x = ndarray::Array2::from_shape_fn((3, 784), |(i, j)| {
            ((i * 31 + j * 7) % 255) as f32 / 255.0
        });
        assert_eq!(
            file.ann.forward(x.view()).unwrap(),
            ann.forward(x.view()).unwrap()
        );
        assert!(schema::is_somnet_file(&path));
        std::fs::remove_file(path).ok();
    }
}

fn expect_err(path: &Path, needle: &str) {
    let e = schema::load(path).unwrap_err().to_string();
    assert!(e.contains(needle), "expected '{needle}' in: {e}");
    assert!(
        e.contains(&path.display().to_string()),
        "error names the file: {e}"
    );
}

#[test]
fn not_hdf5_and_truncated_files_are_refused() {
    let p = tmp("text");
    std::fs::write(&p, b"hello, not hdf5").unwrap();
    expect_err(&p, "not a readable HDF5 file");
    let (q, _) = saved("trunc", "lenet");
    let bytes = std::fs::read(&q).unwrap();
    std::fs::write(&q, &bytes[..bytes.len() / 2]).unwrap();
    assert!(schema::load(&q).is_err());
    let missing = tmp("missing");
    assert!(schema::load(&missing)
        .unwrap_err()
        .to_string()
        .contains("no such file"));
}

#[test]
fn missing_and_misshaped_datasets_name_the_layer() {
    let (p, _) = saved("missing-ds", "lenet");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.unlink("layers/007/weights").unwrap(); // dense_1
    }
    expect_err(&p, "missing dataset 'weights'");
    expect_err(&p, "dense_1");
    let (p, _) = saved("shape", "lenet");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.unlink("layers/007/bias").unwrap();
        f.group("layers/007")
            .unwrap()
            .new_dataset_builder()
            .with_data(&ndarray::Array1::<f32>::zeros(5))
            .create("bias")
            .unwrap();
    }
    expect_err(&p, "dataset 'bias' has shape [5], expected [128]");
    let (p, _) = saved("chain", "mlp:784-32-10");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.unlink("layers/001/weights").unwrap();
        f.group("layers/001")
            .unwrap()
            .new_dataset_builder()
            .with_data(&ndarray::Array2::<f32>::zeros((32, 100)))
            .create("weights")
            .unwrap();
    }
    expect_err(
        &p,
        "its weights take 100 inputs, the layer before gives 784",
    );
}

#[test]
fn nan_weights_unknown_versions_and_kinds_are_refused() {
    let (p, _) = saved("nan", "mlp:784-32-10");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        let ds = f.dataset("layers/003/weights").unwrap();
        let mut w = ds.read_2d::<f32>().unwrap();
        w[[2, 5]] = f32::NAN;
        ds.write(&w).unwrap();
    }
    expect_err(&p, "layer 'dense_2' weights[69]"); // row 2 of 32 inputs, column 5
    let (p, _) = saved("version", "mlp:784-32-10");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.delete_attr("format_version").unwrap();
        f.new_attr_builder()
            .with_data(&[7i64])
            .create("format_version")
            .unwrap();
    }
    expect_err(&p, "format_version 7 is not supported");
    let (p, _) = saved("kind", "mlp:784-32-10");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        let g = f.group("layers/002").unwrap();
        g.delete_attr("kind").unwrap();
        let v: hdf5::types::VarLenUnicode = "lstm".parse().unwrap();
        g.new_attr::<hdf5::types::VarLenUnicode>()
            .create("kind")
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }
    expect_err(&p, "layer kind 'lstm' is not supported");
    let (p, _) = saved("format", "mlp:784-32-10");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        f.delete_attr("format").unwrap();
    }
    expect_err(&p, "missing attribute 'format'");
}
