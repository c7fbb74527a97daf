//! The one writer of somnet's records: JSON documents and text tables (CSV) under an output
//! folder, every failure naming the file. Every command and the Python package write through it.

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

/// Writes `text` (a CSV table, a report) to `path`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}
