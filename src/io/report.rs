//! The one writer of somnet's records: JSON documents and text tables (CSV) under an output
//! folder, every failure naming the file. Every command and the Python package write through it.
//!
//! Writes are atomic ([`write_atomic`]): the content goes to a temporary file beside the target,
//! is flushed to disk, and only then renamed over the target. An interrupted run or a full disk
//! therefore leaves either the earlier file or the new one, never a truncated record that looks
//! valid.

use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` and its parents if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Writes `record` as pretty-printed JSON with a final newline.
///
/// ```
/// let path = std::env::temp_dir().join("somnet-doc-report.json");
/// somnet::io::report::write_json(&path, &serde_json::json!({ "images": 10 })).unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\n  \"images\": 10\n}\n");
/// ```
pub fn write_json(path: &Path, record: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| Error::file(path, format!("cannot encode the record: {e}")))?;
    write_text(path, &(text + "\n"))
}

/// Writes `text` (a CSV table, a report) to `path`, atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_bytes(path, text.as_bytes())
}

/// Writes `bytes` (an encoded image, any file) to `path`, atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |tmp| {
        use std::io::Write;
        let mut f = std::fs::File::create(tmp).map_err(|e| Error::io(path, e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(path, e))
    })
}

/// The temporary name beside `path` that [`write_atomic`] writes first (hidden, with the process
/// id, and ending in the target's own extension, which some writers read to pick a format).
pub fn temporary_sibling(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}{ext}", std::process::id()))
}

/// Runs `write` on a temporary file beside `path` and renames it over `path` when it succeeded;
/// on failure the temporary file is removed and `path` keeps what it held.
///
/// ```
/// let path = std::env::temp_dir().join("somnet-doc-atomic.txt");
/// somnet::io::report::write_text(&path, "first").unwrap();
/// let failed = somnet::io::report::write_atomic(&path, |_tmp| {
///     Err(somnet::Error::Unsupported("disk full".into()))
/// });
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
/// ```
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temporary_sibling(path);
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
