//! Importing trained networks: Keras 2 / Keras 3 `.h5` files read directly, and the somnet files
//! written by the Keras and PyTorch exporters, against the frameworks' own outputs stored beside
//! them (`tests/fixtures/README.md` says how each file was made). Malformed files give errors that
//! name the file and the layer.

use std::path::{Path, PathBuf};

use hdf5_metno as hdf5;
use ndarray::{Array2, Ix2};
use somnet::ann::Node;
use somnet::io::{self, keras, ModelFormat};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    crate::common::scratch(&format!("import-{name}"))
}

/// The fixture's inputs (flattened per sample, NCHW order) and the framework's outputs.
pub(crate) fn io_pair(stem: &str) -> (Array2<f32>, Array2<f32>) {
    let path = fixture(&format!("{stem}.io.h5"));
    let file = hdf5::File::open(&path).unwrap();
    let x = file.dataset("x").unwrap().read_dyn::<f32>().unwrap();
    let y = file.dataset("y").unwrap().read_dyn::<f32>().unwrap();
    let n = x.shape()[0];
    let per = x.len() / n;
    let x = x.into_shape_with_order((n, per)).unwrap();
    (x, y.into_dimensionality::<Ix2>().unwrap())
}

fn argmax(row: ndarray::ArrayView1<'_, f32>) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

/// somnet's forward pass on the fixture equals the framework's outputs to 1e-4, argmax exactly.
fn assert_matches_framework(model: &Path, stem: &str) {
    let (file, _) = io::load_model(model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let (x, y) = io_pair(stem);
    let out = file.ann.forward(x.view()).unwrap();
    assert_eq!(out.dim(), y.dim(), "{stem}: output shape");
    for (i, (a, b)) in out.rows().into_iter().zip(y.rows()).enumerate() {
        for (j, (p, q)) in a.iter().zip(b.iter()).enumerate() {
            assert!(
                (p - q).abs() <= 1e-4,
                "{}: sample {i} output {j}: somnet {p}, framework {q}",
                model.display()
            );
        }
        assert_eq!(argmax(a), argmax(b), "{stem}: sample {i} argmax");
    }
}

const MODELS: [&str; 3] = ["mlp", "lenet", "bn"];

#[test]
fn keras2_files_match_tensorflow_outputs() {
    for m in MODELS {
        let stem = format!("keras2_{m}");
        assert_matches_framework(&fixture(&format!("{stem}.h5")), &stem);
    }
}

#[test]
fn keras3_files_match_keras3_outputs() {
    for m in MODELS {
        let stem = format!("keras3_{m}");
        assert_matches_framework(&fixture(&format!("{stem}.h5")), &stem);
    }
}

#[test]
fn pytorch_exports_match_pytorch_outputs() {
    // `resnet`: torchvision basic blocks (out += identity, a downsample Sequential, a ReLU module
    // called twice), PyTorch's symmetric padding of a strided 3×3 convolution written as a zero
    // padding, torch.cat and AdaptiveAvgPool2d: a graph.
    for m in MODELS.iter().chain(&["resnet"]) {
        let stem = format!("torch_{m}");
        assert_matches_framework(&fixture(&format!("{stem}.h5")), &stem);
    }
    let (f, _) = io::load_model(&fixture("torch_resnet.h5")).unwrap();
    assert!(!f.ann.is_chain());
    let kinds: Vec<&str> = f.ann.layers.iter().map(|l| l.kind()).collect();
    for k in ["zeropad2d", "add", "concatenate", "globalavgpool2d"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[test]
fn keras_exports_match_keras_outputs() {
    // Chains, and the graphs: Add of two branches, the residual network (zero padding, shortcuts,
    // concatenation, global pooling), nested models flattened, QCFS layers.
    for prefix in ["keras2", "keras3"] {
        for m in MODELS.iter().chain(&["branch", "resnet", "nested", "qcfs"]) {
            let stem = format!("{prefix}_{m}");
            assert_matches_framework(&fixture(&format!("{stem}.export.h5")), &stem);
        }
    }
}

#[test]
fn the_reader_tells_which_format_and_keras_generation_it_found() {
    let (_, f) = io::load_model(&fixture("keras2_lenet.h5")).unwrap();
    assert_eq!(
        f,
        ModelFormat::Keras {
            version: "2.15.0".into(),
            backend: "tensorflow".into(),
            class_name: "Functional".into()
        }
    );
    let (_, f) = io::load_model(&fixture("keras3_bn.h5")).unwrap();
    assert!(
        matches!(&f, ModelFormat::Keras { version, class_name, .. } if version.starts_with('3') && class_name == "Sequential"),
        "{f:?}"
    );
    let (_, f) = io::load_model(&fixture("torch_bn.h5")).unwrap();
    assert_eq!(f, ModelFormat::Somnet);
    assert!(keras::is_keras_file(&fixture("keras3_mlp.h5")));
    assert!(!keras::is_keras_file(&fixture("torch_mlp.h5")));
}

#[test]
fn keras_layout_becomes_nchw_with_the_flatten_rows_permuted() {
    // LeNet-like: the Dense after Flatten of a 2×2×6 image. Keras' kernel row (y·2 + x)·6 + c must
    // land in somnet's column c·4 + y·2 + x.
    let k = keras::load(&fixture("keras2_lenet.h5")).unwrap();
    let file = hdf5::File::open(fixture("keras2_lenet.h5")).unwrap();
    let kernel = file
        .dataset("model_weights/fc1/fc1/kernel:0")
        .unwrap()
        .read_2d::<f32>()
        .unwrap();
    let dense = k
        .ann
        .layers
        .iter()
        .zip(&k.ann.names)
        .find_map(|(l, n)| match l {
            somnet::ann::Layer::Dense(d) if n == "fc1" => Some(d.weights.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(dense.dim(), (8, 24));
    for c in 0..6 {
        for y in 0..2 {
            for x in 0..2 {
                for j in 0..8 {
                    assert_eq!(
                        dense[[j, c * 4 + y * 2 + x]],
                        kernel[[(y * 2 + x) * 6 + c, j]]
                    );
                }
            }
        }
    }
    assert_eq!(k.ann.input_shape, vec![2, 12, 12]);
    // Activations given inside Conv2D/Dense become their own layers.
    assert!(k.ann.names.iter().any(|n| n == "conv1_relu"));
}

#[test]
fn import_command_writes_a_somnet_file_that_predicts_the_same() {
    let out = tmp("imported.h5");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
        .args(["import", fixture("keras3_bn.h5").to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stderr).contains("Keras model file (Keras 3"));
    let saved = io::schema::load(&out).unwrap();
    assert_eq!(saved.provenance.record["command"], "import");
    assert_matches_framework(&out, "keras3_bn");
}

// ---------------------------------------------------------------- bad input

/// The error of loading `path`, which must name the file and contain every one of `needles`.
fn load_error(path: &Path, needles: &[&str]) -> String {
    let err = io::load_model(path).map(|_| ()).unwrap_err().to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(err.contains(&*name), "error does not name the file: {err}");
    for n in needles {
        assert!(err.contains(n), "error lacks '{n}': {err}");
    }
    err
}

/// A copy of a fixture, to be damaged.
fn copy_of(fixture_name: &str, tag: &str) -> PathBuf {
    let p = tmp(&format!("{tag}.h5"));
    std::fs::copy(fixture(fixture_name), &p).unwrap();
    p
}

/// Rewrites the copy's `model_config` with `edit` applied to its JSON.
fn with_config(
    fixture_name: &str,
    tag: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let p = copy_of(fixture_name, tag);
    let file = hdf5::File::open_rw(&p).unwrap();
    let ctx = io::h5::Ctx::root(&p);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&io::h5::read_str_attr(&file, &ctx, "model_config").unwrap()).unwrap();
    edit(&mut cfg);
    file.delete_attr("model_config").unwrap();
    io::h5::write_str_attr(&file, &ctx, "model_config", &cfg.to_string()).unwrap();
    p
}

/// The config of the layer called `name`.
fn layer<'a>(cfg: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    cfg["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["config"]["name"] == name)
        .unwrap()
}

#[test]
fn not_hdf5_and_truncated_files_are_refused() {
    let p = tmp("text.h5");
    std::fs::write(&p, "this is not an HDF5 file").unwrap();
    load_error(&p, &["not a readable HDF5 file"]);

    let bytes = std::fs::read(fixture("keras2_lenet.h5")).unwrap();
    let p = tmp("truncated.h5");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    load_error(&p, &["HDF5"]);

    let p = tmp("archive.keras");
    std::fs::write(&p, b"PK\x03\x04 a zip archive").unwrap();
    load_error(&p, &[".keras", "zip"]);
}

#[test]
fn missing_model_config_is_named() {
    let p = copy_of("keras2_mlp.h5", "noconfig");
    hdf5::File::open_rw(&p)
        .unwrap()
        .delete_attr("model_config")
        .unwrap();
    // Still recognisably Keras (keras_version), so the Keras reader explains.
    load_error(&p, &["missing attribute 'model_config'"]);
    // An HDF5 file that is neither format.
    let q = tmp("neither.h5");
    hdf5::File::create(&q).unwrap();
    load_error(&q, &["neither a somnet model file", "model_config"]);
}

#[test]
fn missing_or_misshapen_weights_name_the_layer_and_dataset() {
    let p = copy_of("keras2_lenet.h5", "noweight");
    hdf5::File::open_rw(&p)
        .unwrap()
        .group("model_weights/conv2/conv2")
        .unwrap()
        .unlink("kernel:0")
        .unwrap();
    load_error(&p, &["layer 'conv2'", "conv2/kernel:0", "missing"]);

    let p = copy_of("keras3_lenet.h5", "badshape");
    {
        let g = hdf5::File::open_rw(&p)
            .unwrap()
            .group("model_weights/fc1/fc1")
            .unwrap();
        g.unlink("kernel").unwrap();
        g.new_dataset_builder()
            .with_data(&ndarray::Array2::<f32>::zeros((25, 8)))
            .create("kernel")
            .unwrap();
    }
    load_error(&p, &["layer 'fc1'", "shape [25, 8]", "expected [24, 8]"]);
}

#[test]
fn nan_weights_are_refused_with_the_layer() {
    let p = copy_of("keras2_bn.h5", "nan");
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        let ds = f
            .dataset("model_weights/bn2/bn2/moving_variance:0")
            .unwrap();
        let mut v = ds.read_1d::<f32>().unwrap();
        v[2] = f32::NAN;
        ds.write(&v).unwrap();
    }
    load_error(&p, &["layer 'bn2'", "moving_variance", "non-finite"]);
}

#[test]
fn unsupported_layer_classes_are_named() {
    for class in ["LSTM", "Conv2DTranspose", "DepthwiseConv2D"] {
        let p = with_config("keras2_bn.h5", &format!("class-{class}"), |c| {
            layer(c, "conv2")["class_name"] = class.into();
        });
        load_error(
            &p,
            &[
                "layer 'conv2'",
                &format!("layer class '{class}' is not supported"),
            ],
        );
    }
    let p = with_config("keras3_mlp.h5", "tanh", |c| {
        layer(c, "fc1")["config"]["activation"] = "tanh".into();
    });
    load_error(&p, &["layer 'fc1'", "activation 'tanh'"]);
}

#[test]
fn unsupported_options_are_named() {
    let cases: [(&str, &str, serde_json::Value, &str); 6] = [
        (
            "conv2",
            "dilation_rate",
            serde_json::json!([2, 2]),
            "dilation_rate",
        ),
        ("conv2", "groups", serde_json::json!(2), "groups"),
        (
            "conv2",
            "data_format",
            serde_json::json!("channels_first"),
            "channels_first",
        ),
        (
            "conv2",
            "padding",
            serde_json::json!("causal"),
            "padding 'causal'",
        ),
        (
            "pool1",
            "padding",
            serde_json::json!("reflect"),
            "padding 'reflect'",
        ),
        ("bn1", "axis", serde_json::json!([1]), "axis"),
    ];
    for (i, (name, key, value, needle)) in cases.into_iter().enumerate() {
        let p = with_config("keras2_bn.h5", &format!("opt{i}"), |c| {
            layer(c, name)["config"][key] = value;
        });
        load_error(&p, &[&format!("layer '{name}'"), needle]);
    }
}

#[test]
fn keras_residual_graphs_match_the_frameworks_outputs() {
    // ZeroPadding2D, Add on identity and downsample shortcuts, Concatenate, global pooling, batch
    // norm on both paths: within 1e-5 of Keras 2 (TensorFlow) and Keras 3 (PyTorch backend).
    for (prefix, stem) in [
        ("keras2", "resnet"),
        ("keras3", "resnet"),
        ("keras2", "branch"),
        ("keras3", "branch"),
    ] {
        let name = format!("{prefix}_{stem}");
        let model = keras::load(&fixture(&format!("{name}.h5"))).unwrap();
        assert!(!model.ann.is_chain(), "{name}");
        let (x, y) = io_pair(&name);
        let out = model.ann.forward(x.view()).unwrap();
        assert_eq!(out.dim(), y.dim(), "{name}");
        for (p, q) in out.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-5, "{name}: somnet {p}, framework {q}");
        }
    }
    let resnet = keras::load(&fixture("keras2_resnet.h5")).unwrap().ann;
    let kinds: Vec<&str> = resnet.layers.iter().map(|l| l.kind()).collect();
    for k in [
        "zeropad2d",
        "add",
        "concatenate",
        "globalavgpool2d",
        "batchnorm",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}

#[test]
fn nested_keras_models_flatten_and_match_the_frameworks_outputs() {
    // A Sequential and a Functional model used as layers, each with an inner layer named 'conv';
    // the block's shortcut reads the nested model's own input.
    for prefix in ["keras2", "keras3"] {
        let name = format!("{prefix}_nested");
        let model = keras::load(&fixture(&format!("{name}.h5"))).unwrap();
        let names: Vec<&str> = model.ann.names.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "features/conv",
                "features/conv_relu",
                "features/pool",
                "block/conv",
                "block/bn",
                "block/add",
                "block/relu",
                "flat",
                "out"
            ],
            "{name}"
        );
        let add = names.iter().position(|n| *n == "block/add").unwrap();
        assert_eq!(
            model.ann.inputs[add],
            [Node::Layer(add - 1), Node::Layer(2)],
            "{name}: the shortcut reads the features' pooling"
        );
        let (x, y) = io_pair(&name);
        let out = model.ann.forward(x.view()).unwrap();
        for (p, q) in out.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-5, "{name}: somnet {p}, framework {q}");
        }
    }
}

#[test]
fn keras_qcfs_layers_import_with_their_levels_and_threshold() {
    // The custom layer `QCFS` (config `levels`, scalar weight `lambda`) of Keras 2 and Keras 3:
    // levels 4 and 8, λ 1.3 and 0.7, the framework's outputs within 1e-5.
    for prefix in ["keras2", "keras3"] {
        let name = format!("{prefix}_qcfs");
        let ann = keras::load(&fixture(&format!("{name}.h5"))).unwrap().ann;
        let q: Vec<(u32, f32)> = ann
            .layers
            .iter()
            .filter_map(|l| match l {
                somnet::ann::Layer::Qcfs(q) => Some((q.levels, q.lambda)),
                _ => None,
            })
            .collect();
        assert_eq!(q, [(4, 1.3), (8, 0.7)], "{name}");
        let (x, y) = io_pair(&name);
        let out = ann.forward(x.view()).unwrap();
        for (p, q) in out.iter().zip(&y) {
            assert!((p - q).abs() <= 1e-5, "{name}: somnet {p}, framework {q}");
        }
    }
    let p = with_config("keras3_qcfs.h5", "qlevels", |c| {
        layer(c, "q2")["config"]["levels"] = serde_json::json!(0);
    });
    load_error(&p, &["layer 'q2' (QCFS)", "'levels' is 0"]);
    let p = with_config("keras3_qcfs.h5", "qnolevels", |c| {
        layer(c, "q1")["config"]
            .as_object_mut()
            .unwrap()
            .remove("levels");
    });
    load_error(&p, &["layer 'q1' (QCFS)", "'levels' is missing"]);
    let p = copy_of("keras3_qcfs.h5", "qlambda");
    {
        let file = hdf5::File::open_rw(&p).unwrap();
        let ds = file.dataset("model_weights/q2/qcfs/q2/lambda").unwrap();
        ds.write_scalar(&-0.5f32).unwrap();
    }
    load_error(&p, &["layer 'q2' (QCFS)", "'lambda' is -0.5"]);
}

#[test]
fn graphs_keras_cannot_give_somnet_are_refused_naming_the_layer() {
    // A layer called twice (shared weights).
    let p = with_config("keras2_branch.h5", "shared", |c| {
        let right = layer(c, "right");
        let node = right["inbound_nodes"][0].clone();
        right["inbound_nodes"].as_array_mut().unwrap().push(node);
    });
    load_error(&p, &["layer 'right'", "called 2 times", "shared layer"]);
    // A branch that does not lead to the output.
    let p = with_config("keras2_lenet.h5", "fanout", |c| {
        let mut extra = layer(c, "out").clone();
        extra["config"]["name"] = "side".into();
        extra["name"] = "side".into();
        c["config"]["layers"].as_array_mut().unwrap().push(extra);
    });
    load_error(&p, &["layer 'side'", "does not depend on this layer"]);
    // Concatenation along a spatial axis.
    let p = with_config("keras2_resnet.h5", "axis", |c| {
        layer(c, "cat")["config"]["axis"] = 1.into();
    });
    load_error(
        &p,
        &[
            "layer 'cat' (Concatenate)",
            "axis 1",
            "channel (last) axis only",
        ],
    );
    // An Add of differently shaped inputs.
    let p = with_config("keras2_resnet.h5", "addshape", |c| {
        // The 1×1 shortcut without its stride: 8×8 against the block's 4×4.
        layer(c, "b2down")["config"]["strides"] = serde_json::json!([1, 1]);
    });
    load_error(&p, &["layer 'b2add' (Add)", "Add needs one shape"]);
    // A Dense reading two layers.
    let p = with_config("keras2_branch.h5", "tworeads", |c| {
        layer(c, "right")["inbound_nodes"] =
            serde_json::json!([[["left", 0, 0, {}], ["features", 0, 0, {}]]]);
    });
    load_error(&p, &["layer 'right' (Dense)", "reads 2 inputs"]);
}
