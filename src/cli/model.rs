//! Loading a model given with `--model`: a somnet HDF5 file (Keras files come with the importer).

use std::path::Path;

use anyhow::Context;

/// Loads the network in `path`, telling on stderr which format it found.
pub fn load(path: &Path) -> anyhow::Result<somnet::io::schema::ModelFile> {
    if somnet::io::schema::is_somnet_file(path) {
        eprintln!("{}: somnet model file", path.display());
        return somnet::io::schema::load(path)
            .with_context(|| format!("reading model {}", path.display()));
    }
    // Not ours: load() gives the precise reason (not HDF5, wrong format attribute, …).
    somnet::io::schema::load(path).with_context(|| format!("reading model {}", path.display()))
}
