//! Writes the seed inputs of the fuzz targets (`fuzz/`): small valid inputs of every reader, from
//! which the fuzzer mutates. `cargo run --release --example fuzz_seeds -- fuzz/corpus` (the
//! committed corpus started from these and grew by fuzzing; see `fuzz/README.md`).

use std::io::Write;
use std::path::Path;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus folder");
    std::fs::write(d.join(name), bytes).expect("seed file");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&dir);

    // IDX: labels (1-D) and images (3-D), raw and gzip.
    let labels = [0u8, 0, 8, 1, 0, 0, 0, 4, 3, 1, 4, 1];
    let mut images = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
    images.extend((0..18).map(|i| (i * 14) as u8));
    put(dir, "idx", "labels", &labels);
    put(dir, "idx", "images", &images);
    put(dir, "idx", "labels.gz", &gzip(&labels));
    put(dir, "idx", "images.gz", &gzip(&images));

    // CIFAR-10: two records.
    let mut batch = Vec::new();
    for label in [6u8, 9] {
        batch.push(label);
        batch.extend((0..3072).map(|i| (i % 251) as u8));
    }
    put(dir, "cifar", "two-records", &batch);

    // Images: a 5×4 gradient in every format the folder reader decodes; the first byte of an
    // input picks the options.
    let img = image::RgbImage::from_fn(5, 4, |x, y| {
        image::Rgb([(x * 50) as u8, (y * 60) as u8, 128])
    });
    for (fmt, name) in [
        (image::ImageFormat::Png, "png"),
        (image::ImageFormat::Jpeg, "jpeg"),
        (image::ImageFormat::Bmp, "bmp"),
        (image::ImageFormat::Gif, "gif"),
    ] {
        let mut bytes = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut bytes), fmt)
            .expect("encodes");
        for options in [0u8, 3] {
            let mut input = vec![options];
            input.extend(&bytes);
            put(dir, "image", &format!("{name}-{options}"), &input);
        }
    }

    // Text parsers.
    for (i, spec) in [
        "\u{0}lenet",
        "\u{0}c8k3s2same-bn-relu-mp2-flat-d32-relu-do0.5-out",
        "\u{1}c16k5-relu-ap2s2-c32k3valid-relu-flat-d10",
        "\u{2}mlp:784-100-10",
        "\u{4}mlp:784-1200-1200-10",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "arch", &format!("spec-{i}"), spec.as_bytes());
    }
    for (i, g) in [
        "input=analog,poisson;neuron=if,lif;reset=subtract,zero",
        "early-exit=none,4;percentile=99.9,100;norm=layer,channel",
        "neuron=lif:20;tau-mem=10;refractory=0,2;dale=off,on;seed=1,2",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "grid", &format!("grid-{i}"), g.as_bytes());
    }
    for (i, s) in [
        "\u{0}input=poisson\nneuron=lif\nreset=zero\ninitial=half\nreadout=membrane\nrefractory=2\nearly-exit=4\npercentile=99.9\nnorm=channel\nseed=3\ndale=on\ntau-mem=20",
        "\u{1}inc=0.001\ndec=0.0001\nbeta=14.5,20,30\nalpha-scale=1\nmax-rate=240\ndecay=0.999\nmask-size=10\nsigma=decreasing:0.001\ninput=samples:10\nrefractory-steps=1\nthreshold=1\ndt=0.001\nseed=2",
        "\u{2}per-task=500\nepochs=2\njoint-epochs=4\njoint-images=2000\nhidden=64,64\ncontrols=false\nsleep-base=300",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "settings", &format!("settings-{i}"), s.as_bytes());
    }
    for (i, s) in [
        "mnist",
        "folder:pics:32x32:gray",
        "0-3,7",
        "2/8",
        "increasing:1",
        "samples:10",
        "uniform:0.1",
        "he-normal",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "names", &format!("name-{i}"), s.as_bytes());
    }

    // Keras model_config JSON, Sequential and Functional.
    let seq = serde_json::json!({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "name": "in"}},
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "activation": "relu", "use_bias": true}},
        {"class_name": "AveragePooling2D", "config": {"name": "p", "pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}},
        {"class_name": "Flatten", "config": {"name": "f"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 10, "activation": "softmax", "use_bias": false}}]}});
    put(
        dir,
        "keras_config",
        "sequential.json",
        seq.to_string().as_bytes(),
    );
    let fun = serde_json::json!({"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"batch_input_shape": [null, 784], "name": "in"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 10, "activation": "relu", "use_bias": true}, "inbound_nodes": [[["in", 0, 0, {}]]]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}});
    put(
        dir,
        "keras_config",
        "functional.json",
        fun.to_string().as_bytes(),
    );

    // HDF5: the unmutated generated files, as bytes and as (empty) choices.
    let tmp = std::env::temp_dir().join(format!("somnet-seeds-{}.h5", std::process::id()));
    somnet::fuzzing::h5gen::somnet_file(&tmp, &[]).expect("writes");
    put(
        dir,
        "hdf5_file",
        "somnet.h5",
        &std::fs::read(&tmp).expect("written"),
    );
    somnet::fuzzing::h5gen::keras_file(&tmp, &[]).expect("writes");
    put(
        dir,
        "hdf5_file",
        "keras.h5",
        &std::fs::read(&tmp).expect("written"),
    );
    std::fs::remove_file(&tmp).ok();
    put(dir, "somnet_h5", "unmutated", &[0; 64]);
    put(dir, "keras_h5", "unmutated-keras2", &[0; 64]);
    put(dir, "keras_h5", "unmutated-keras3", &[1, 0, 0, 0]);
}
