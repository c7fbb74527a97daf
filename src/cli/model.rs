//! Loading a model given with `--model`: a somnet model file or a Keras `.h5` file.

use std::path::Path;

use anyhow::Context;

/// Loads the network in `path`, telling on stderr which format it found.
pub fn load(path: &Path) -> anyhow::Result<somnet::io::schema::ModelFile> {
    let (file, format) = somnet::io::load_model(path)
        .with_context(|| format!("reading model {}", path.display()))?;
    eprintln!("{}: {format}", path.display());
    Ok(file)
}
