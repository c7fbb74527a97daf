//! One entry point per reader of outside data, for fuzzing: each takes arbitrary bytes, runs the
//! reader and must return — an error is the right answer to a bad input, a panic, an abort or an
//! unbounded allocation is a defect. The targets in `fuzz/` (cargo-fuzz, nightly) call these, and
//! the integration test `fuzz_corpus` replays the committed corpus and every crash reproducer
//! through them on stable Rust, so a fixed crash stays fixed.
//!
//! | entry point | reader |
//! |---|---|
//! | [`idx`] | IDX files, raw or gzip ([`crate::data::idx::decode`]) |
//! | [`cifar`] | CIFAR-10 binary batches ([`crate::data::cifar::parse_batch`]) |
//! | [`image()`] | one image of an image folder ([`crate::data::folder::decode_image`]) |
//! | [`arch`] | architecture specs ([`crate::ann::arch::build`]) |
//! | [`grid`] | sweep grids ([`crate::study::sweep::Grid`]) |
//! | [`settings`] | `key=value` settings of conversion, sleep and the incremental experiment |
//! | [`names`] | `--dataset` strings, class lists, shard specs, σ and input-source specs, initialisers |
//! | [`keras_config`] | a Keras `model_config` JSON ([`crate::io::keras::from_config`]) |
//! | [`hdf5_file`] | any bytes as an HDF5 model file (somnet schema, Keras `.h5`) |
//! | [`somnet_h5`], [`keras_h5`] | valid HDF5 containers built from the bytes, with mutated shapes, dtypes, attributes, string types and JSON ([`h5gen`]) |
//! | [`nir_file`] | any bytes as a NIR file, read, planned onto the engine and run |
//! | [`nir_graph`] | NIR graphs built from the bytes ([`nirgen`]: mutated kinds, sizes, parameters, padding, groups, edges, cycles, nesting), written, read back, planned and run |
//!
//! ```
//! // Any bytes: an error or a value, never a panic.
//! somnet::fuzzing::idx(&[0, 0, 8, 3, 255, 255, 255, 255]);
//! somnet::fuzzing::arch(b"\x00c9999999k9999-flat-d10");
//! ```

pub mod h5gen;
pub mod nirgen;

use std::path::{Path, PathBuf};

use crate::data::folder::FolderOptions;

/// The allocation limit the targets run under (256 MiB): far below the fuzzer's memory limit, so
/// that a size check missing anywhere shows as an out-of-memory crash, not a slow run.
pub const FUZZ_MAX_BYTES: u64 = 256 << 20;

/// Runs `f` under [`FUZZ_MAX_BYTES`] on this thread.
fn bounded(f: impl FnOnce()) {
    crate::limits::with_max_bytes(FUZZ_MAX_BYTES, f)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// IDX bytes, raw or gzip-compressed.
pub fn idx(data: &[u8]) {
    bounded(|| idx_in(data))
}

fn idx_in(data: &[u8]) {
    let _ = crate::data::idx::decode(Path::new("fuzz.idx"), data);
}

/// A CIFAR-10 binary batch.
pub fn cifar(data: &[u8]) {
    bounded(|| cifar_in(data))
}

fn cifar_in(data: &[u8]) {
    let _ = crate::data::cifar::parse_batch(Path::new("fuzz.bin"), data);
}

/// One image file; the first byte picks the options (grayscale, and a resize to at most 64×64).
pub fn image(data: &[u8]) {
    // Decoding cost grows with the declared pixels: a lower bound keeps the fuzzer on the
    // decoders' parsing (the size checks themselves are the same at any bound).
    crate::limits::with_max_bytes(16 << 20, || image_in(data))
}

fn image_in(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let options = FolderOptions {
        grayscale: pick & 1 == 1,
        resize: (pick & 2 == 2)
            .then(|| (1 + (pick >> 2 & 7) as u32 * 9, 1 + (pick >> 5) as u32 * 9)),
    };
    let _ = crate::data::folder::decode_image(Path::new("fuzz.img"), bytes, options);
}

/// An architecture spec; the first byte picks the input (MNIST, CIFAR-10 or flat 784) and the
/// initialiser options.
pub fn arch(data: &[u8]) {
    // Initialising weights is the cost of a spec, not its parsing: a lower bound here keeps the
    // fuzzer on the parser (larger networks only repeat the same code on more numbers).
    crate::limits::with_max_bytes(4 << 20, || arch_in(data))
}

fn arch_in(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(spec) = text(rest) else { return };
    let shape: &[usize] = match pick % 3 {
        0 => &[1, 28, 28],
        1 => &[3, 32, 32],
        _ => &[784],
    };
    let options = crate::ann::arch::ArchOptions {
        bias: pick & 4 == 4,
        ..Default::default()
    };
    if let Ok(ann) = crate::ann::arch::build(spec, shape, 10, &options, 1) {
        let _ = ann.summary();
    }
}

/// A sweep grid, expanded over the default options.
pub fn grid(data: &[u8]) {
    bounded(|| grid_in(data))
}

fn grid_in(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(g) = crate::study::sweep::Grid::parse(t) {
        // The number of points is the product of the axes' lengths: bounded before expanding.
        let n = g
            .axes
            .iter()
            .try_fold(1usize, |a, (_, v)| a.checked_mul(v.len()));
        if n.is_some_and(|n| n <= 4096) {
            let _ = g.points(&crate::convert::options::ConvertOptions::default());
        }
    }
}

/// Lines of `key=value` applied to the conversion, sleep and incremental settings (the first
/// byte picks which), then validated.
pub fn settings(data: &[u8]) {
    bounded(|| settings_in(data))
}

fn settings_in(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(t) = text(rest) else { return };
    let pairs = t.lines().filter_map(|l| l.split_once('='));
    match pick % 3 {
        0 => {
            let mut o = crate::convert::options::ConvertOptions::default();
            for (k, v) in pairs {
                let _ = o.set(k, v);
            }
            let _ = o.validate();
        }
        1 => {
            let mut s = crate::sleep::SleepConfig::mnist();
            for (k, v) in pairs {
                let _ = s.set(k, v);
            }
            let _ = s.validate();
        }
        _ => {
            let mut c = crate::sleep::incremental::IncrementalConfig::released("mnist");
            for (k, v) in pairs {
                let _ = c.set(k, v);
            }
            let _ = c.validate();
        }
    }
}

/// The small text parsers: `--dataset`, class lists, shard specs, σ, input sources, initialisers.
pub fn names(data: &[u8]) {
    bounded(|| names_in(data))
}

fn names_in(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let _ = crate::data::DatasetSpec::parse(t);
    let _ = crate::data::parse_classes(t);
    let _ = crate::convert::shard::parse(t);
    let _ = crate::sleep::config::Sigma::parse(t);
    let _ = crate::sleep::config::InputSource::parse(t);
    let _ = crate::ann::init::Init::parse(t);
}

/// A Keras `model_config` (JSON) without weights: the architecture reader up to the first layer
/// that needs weights.
pub fn keras_config(data: &[u8]) {
    bounded(|| keras_config_in(data))
}

fn keras_config_in(data: &[u8]) {
    if let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = crate::io::keras::from_config(&config, "", "", Default::default(), "fuzz");
    }
}

/// A scratch file for the HDF5 targets, one per process (the HDF5 library reads files by path),
/// in memory where the machine has a tmpfs.
fn scratch(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("somnet-fuzz-{tag}-{}.h5", std::process::id()))
}

/// Loads `path` as the model commands do (somnet schema or Keras, by the file's markers), and a
/// network that loads is run once and converted.
fn load_all(path: &Path) {
    if let Ok((model, _)) = crate::io::load_model(path) {
        let _ = crate::convert::record::ConversionRecord::from_provenance(
            path,
            &model.provenance.record,
        );
        let ann = &model.ann;
        let x = ndarray::Array2::<f32>::zeros((1, ann.input_features()));
        let _ = ann.forward(x.view());
        let _ = crate::convert::build::build(ann);
    }
}

/// Any bytes as an HDF5 file, read by the somnet-schema and Keras readers.
pub fn hdf5_file(data: &[u8]) {
    bounded(|| hdf5_file_in(data))
}

fn hdf5_file_in(data: &[u8]) {
    load_written("bytes", |path| std::fs::write(path, data).is_ok());
}

/// A somnet model file built from the bytes by [`h5gen::somnet_file`], then read.
pub fn somnet_h5(data: &[u8]) {
    bounded(|| somnet_h5_in(data))
}

fn somnet_h5_in(data: &[u8]) {
    load_written("somnet", |path| h5gen::somnet_file(path, data).is_ok());
}

/// A Keras `.h5` file built from the bytes by [`h5gen::keras_file`], then read.
pub fn keras_h5(data: &[u8]) {
    bounded(|| keras_h5_in(data))
}

fn keras_h5_in(data: &[u8]) {
    load_written("keras", |path| h5gen::keras_file(path, data).is_ok());
}

/// Writes the scratch file `tag` with `write` and, when that succeeded, reads it with [`load_all`].
fn load_written(tag: &str, write: impl FnOnce(&Path) -> bool) {
    let path = scratch(tag);
    if write(&path) {
        load_all(&path);
    }
}

/// Any bytes as a NIR file: read, inlined, planned under NIR's own discretisation and run for
/// a few steps.
pub fn nir_file(data: &[u8]) {
    bounded(|| nir_file_in(data))
}

fn nir_file_in(data: &[u8]) {
    let path = scratch("nir");
    if std::fs::write(&path, data).is_ok() {
        run_nir(&path);
    }
}

/// A NIR graph built from the bytes by [`nirgen::graph`], written by somnet's writer, then read
/// back, planned and run.
pub fn nir_graph(data: &[u8]) {
    bounded(|| nir_graph_in(data))
}

fn nir_graph_in(data: &[u8]) {
    let graph = nirgen::graph(data);
    let path = scratch("nirgen");
    if crate::io::nir::write(&path, &graph).is_ok() {
        run_nir(&path);
    }
}

/// Reads `path` as NIR and, when it plans, runs one sample of a few steps of ones.
fn run_nir(path: &Path) {
    let Ok(graph) = crate::io::nir::read(path) else {
        return;
    };
    let options = crate::simulate::SimOptions::default();
    let Ok(sim) = crate::simulate::Simulation::new(&graph, &options) else {
        return;
    };
    let n = sim.input_len();
    if crate::limits::check(path, "fuzz input", n as u128 * 3 * 4).is_err() {
        return;
    }
    let x = ndarray::Array3::<f32>::ones((1, 3, n));
    let _ = sim.run_recorded(x.view(), &|_| std::ops::ControlFlow::Continue(()));
}

/// The entry point named `target` (the names of `fuzz/fuzz_targets/`).
pub fn by_name(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "idx" => idx,
        "cifar" => cifar,
        "image" => image,
        "arch" => arch,
        "grid" => grid,
        "settings" => settings,
        "names" => names,
        "keras_config" => keras_config,
        "hdf5_file" => hdf5_file,
        "somnet_h5" => somnet_h5,
        "keras_h5" => keras_h5,
        "nir_file" => nir_file,
        "nir_graph" => nir_graph,
        _ => return None,
    })
}

/// Every target's name.
pub const TARGETS: [&str; 13] = [
    "idx",
    "cifar",
    "image",
    "arch",
    "grid",
    "settings",
    "names",
    "keras_config",
    "hdf5_file",
    "somnet_h5",
    "keras_h5",
    "nir_file",
    "nir_graph",
];
