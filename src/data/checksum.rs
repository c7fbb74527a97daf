//! SHA-256 verification against a `SHA256SUMS` file (the `sha256sum` format: `<hex>  <name>`).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks `file` against its line in `sums`; a file missing from `sums` is an error.
pub fn verify(file: &Path, sums: &Path) -> Result<()> {
    let text = std::fs::read_to_string(sums).map_err(|e| Error::io(sums, e))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = text
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .find(|(_, n)| n.trim_start().trim_start_matches('*') == name)
        .map(|(h, _)| h.to_ascii_lowercase())
        .ok_or_else(|| Error::file(sums, format!("no checksum for '{name}'")))?;
    let got = sha256_file(file)?;
    if got != expected {
        return Err(Error::Checksum {
            path: file.to_path_buf(),
            sums: sums.to_path_buf(),
            expected,
            got,
        });
    }
    Ok(())
}
