//! NumPy `.npz` archives written as a stream: each array grows in its own `.npy` part file
//! (the header's shape patched when it is complete), and the parts are packed into the archive
//! (stored, ZIP64 where needed) at the end, so memory stays bounded however long the run.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bytes reserved for a part's header (magic, version, length, dictionary, padding): enough for
/// any shape of two 20-digit dimensions, and a multiple of 64 as NumPy aligns.
const HEADER: usize = 128;

/// One array being written: rows of `row` elements of `descr` (`<i8`, `<f8`, `<f4`).
pub(super) struct NpyPart {
    pub key: String,
    path: PathBuf,
    file: BufWriter<File>,
    descr: &'static str,
    /// Elements per row (0 for a 1-D array).
    row: usize,
    rows: u64,
}

impl NpyPart {
    pub fn create(
        dir: &Path,
        key: &str,
        index: usize,
        descr: &'static str,
        row: usize,
    ) -> Result<Self> {
        let path = dir.join(format!("part{index}.npy"));
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut file = BufWriter::new(f);
        file.write_all(&[b' '; HEADER])
            .map_err(|e| Error::io(&path, e))?;
        Ok(NpyPart {
            key: key.to_string(),
            path,
            file,
            descr,
            row,
            rows: 0,
        })
    }

    /// Appends raw little-endian elements (whole rows).
    pub fn append(&mut self, bytes: &[u8], rows: u64) -> Result<()> {
        self.rows += rows;
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Writes the header with the final shape and closes the part.
    pub fn finish(mut self) -> Result<(String, PathBuf)> {
        let shape = if self.row == 0 {
            format!("({},)", self.rows)
        } else {
            format!("({}, {})", self.rows, self.row)
        };
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.descr
        );
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(b"\x93NUMPY\x01\x00");
        header.extend_from_slice(&((HEADER - 10) as u16).to_le_bytes());
        header.extend_from_slice(dict.as_bytes());
        if header.len() >= HEADER {
            return Err(Error::file(
                &self.path,
                "array shape too long for its header",
            ));
        }
        header.resize(HEADER - 1, b' ');
        header.push(b'\n');
        let io = |e| Error::io(&self.path, e);
        self.file.flush().map_err(io)?;
        let f = self.file.get_mut();
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&header).map_err(io)?;
        f.flush().map_err(io)?;
        Ok((self.key, self.path))
    }
}

/// Packs finished parts into the archive at `path` (keys become `<key>.npy`).
pub(super) fn pack(path: &Path, parts: &[(String, PathBuf)]) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let out = File::create(path).map_err(io)?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(out));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (key, part) in parts {
        zip.start_file(format!("{key}.npy"), options)
            .map_err(|e| Error::file(path, format!("writing '{key}': {e}")))?;
        let mut src = File::open(part).map_err(|e| Error::io(part, e))?;
        std::io::copy(&mut src, &mut zip).map_err(io)?;
    }
    zip.finish()
        .map_err(|e| Error::file(path, format!("closing the archive: {e}")))?
        .flush()
        .map_err(io)
}
