//! A check of an HDF5 file's global heap, made before libhdf5 reads a variable-length string.
//!
//! HDF5 keeps variable-length strings (the kind h5py, Keras and NIR write for names, configs
//! and node types) in *global heap collections*: a block that starts with `GCOL`, a version byte
//! and its size, then a list of objects, each a header (index, reference count, size) and its
//! bytes (HDF5 File Format Specification 3.0, section III.E "Global Heap"). An attribute or
//! dataset element holding a string stores only a reference: the string's length, the
//! collection's address and the object's index.
//!
//! libhdf5 (Debian's 1.10 and the 2.2 the wheel bundles alike) trusts these numbers: a corrupt
//! collection makes its reader loop forever (a free-space object of size 0 never advances),
//! copy with a negative or overlapping size, or allocate what a corrupt size says; a corrupt
//! reference makes it allocate up to 4 GB for the string before looking at the heap, or copy an
//! object larger than the string into the string's buffer (`fuzz/hdf5-library/README.md` holds
//! the inputs). The format is public and simple, so somnet walks each collection itself first,
//! exactly as libhdf5 will, and refuses a file whose walk would leave the collection, stop
//! advancing, or need more bytes than the file holds:
//! - [`check_file`] (every file [`crate::io::h5::open`] opens): every collection in the file,
//!   found by its signature (a reference may name any address), and the references of every
//!   variable-length string attribute, found by the 8-byte encoding of its datatype and the
//!   attribute message header before it (attribute values live in object headers, which
//!   libhdf5's API does not expose);
//! - [`check_dataset_strings`] (before a string dataset is read): each reference of a contiguous
//!   dataset.
//!
//! A reference must name an object that exists, of exactly the string's length, and no string
//! may be longer than the file. The scan costs about one read of the file from the page cache
//! (70 ms for 400 MB here). What stays out of reach: references in compact or chunked datasets
//! (their collections are checked), and corrupt object headers, which libhdf5 parses itself on
//! opening an object. A byte pattern that merely looks like a string attribute is checked as one;
//! in a valid file that takes the attribute header, a 16-byte datatype encoding and consistent
//! sizes by chance.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use hdf5_metno as hdf5;

use crate::error::{Error, Result};

/// The signature and the only version of a global heap collection.
const COLLECTION: &[u8; 5] = b"GCOL\x01";
/// The smallest collection HDF5 writes (`H5HG_MINSIZE`); libhdf5 computes its object table from
/// the size and underflows below it.
const MIN_COLLECTION: u64 = 4096;
/// Objects are padded to 8 bytes.
const ALIGN: u64 = 8;

/// The widths the superblock declares for addresses and sizes (2, 4, 8, 16 or 32 bytes).
#[derive(Clone, Copy, Debug)]
struct Widths {
    offsets: usize,
    lengths: usize,
}

impl Widths {
    /// The collection header: signature, version, 3 reserved bytes, size; padded to 8.
    fn collection_header(self) -> u64 {
        align(8 + self.lengths as u64)
    }

    /// An object header: index (2), reference count (2), reserved (4), size.
    fn object_header(self) -> u64 {
        8 + self.lengths as u64
    }

    /// A string reference: its length (4), the collection's address, the object's index (4).
    fn reference(self) -> u64 {
        8 + self.offsets as u64
    }
}

fn align(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

/// A little-endian unsigned number of `bytes.len()` bytes; `None` when it exceeds 64 bits.
fn decode(bytes: &[u8]) -> Option<u64> {
    if bytes[8.min(bytes.len())..].iter().any(|&b| b != 0) {
        return None;
    }
    Some(
        bytes
            .iter()
            .take(8)
            .rev()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)),
    )
}

/// The file being checked, with its length.
struct Source<'a> {
    path: &'a Path,
    file: File,
    len: u64,
    /// Bytes of collections still to be read. A valid file's collections do not overlap, so
    /// together they are smaller than the file; signatures inside a collection's strings add
    /// their own. Twice the file keeps a file of nested signatures from costing more than that.
    budget: u64,
}

impl Source<'_> {
    fn open(path: &Path) -> Result<Source<'_>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(Source {
            path,
            file,
            len,
            budget: len.saturating_mul(2),
        })
    }

    /// `n` bytes at `at`, which the caller has checked lie in the file.
    fn read(&mut self, at: u64, n: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n as usize];
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| Error::io(self.path, e))?;
        Ok(buf)
    }

    fn corrupt(&self, message: impl std::fmt::Display) -> Error {
        Error::file(
            self.path,
            format!(
                "corrupt HDF5 global heap (where variable-length strings are kept): {message}; \
                 the HDF5 library would crash or hang reading it, so the file is refused"
            ),
        )
    }

    /// The address and size widths from the superblock (at byte 0, 512, 1024, … after a user
    /// block); `None` when there is none to read, which libhdf5 then refuses itself.
    fn widths(&mut self) -> Result<Option<Widths>> {
        const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
        let mut base = 0u64;
        while base + 16 <= self.len {
            let head = self.read(base, 16)?;
            if head[..8] == SIGNATURE[..] {
                // Versions 0 and 1 put the widths at bytes 13 and 14, versions 2 and 3 at 9, 10.
                let (o, l) = if head[8] <= 1 {
                    (head[13], head[14])
                } else {
                    (head[9], head[10])
                };
                let valid = |w: u8| matches!(w, 2 | 4 | 8 | 16 | 32);
                return Ok((valid(o) && valid(l)).then_some(Widths {
                    offsets: o as usize,
                    lengths: l as usize,
                }));
            }
            base = if base == 0 { 512 } else { base * 2 };
        }
        Ok(None)
    }

    /// The objects of the collection at `at` (index → size), walked as libhdf5 walks them; an
    /// error when that walk would misbehave.
    fn collection(&mut self, at: u64, w: Widths) -> Result<HashMap<u64, u64>> {
        let head_len = 8 + w.lengths as u64;
        if at.checked_add(head_len).is_none_or(|end| end > self.len) {
            return Err(self.corrupt(format!(
                "the collection at byte {at} is cut off by the end of the file ({} bytes)",
                self.len
            )));
        }
        let head = self.read(at, head_len)?;
        let Some(size) = decode(&head[8..]).filter(|&s| s >= MIN_COLLECTION) else {
            return Err(self.corrupt(format!(
                "the collection at byte {at} declares a size of {:?} bytes, expected at least \
                 {MIN_COLLECTION}",
                decode(&head[8..])
            )));
        };
        if at.checked_add(size).is_none_or(|end| end > self.len) {
            return Err(self.corrupt(format!(
                "the collection at byte {at} declares {size} bytes, past the end of the file \
                 ({} bytes)",
                self.len
            )));
        }
        self.budget = self.budget.checked_sub(size).ok_or_else(|| {
            self.corrupt("its collections together are more than twice the file's size")
        })?;
        let bytes = self.read(at, size)?;
        walk(&bytes, w).map_err(|m| self.corrupt(format!("the collection at byte {at}: {m}")))
    }
}

/// Walks the objects of one collection (`bytes` is all of it) the way libhdf5's
/// `H5HG__cache_heap_deserialize` does: an object of index > 0 takes its header plus its size
/// padded to 8; the free-space object (index 0) takes its size, header included; a tail shorter
/// than an object header is free space. Returns the objects' sizes by index (a repeated index
/// keeps its last object, as libhdf5 does).
fn walk(bytes: &[u8], w: Widths) -> std::result::Result<HashMap<u64, u64>, String> {
    let end = bytes.len() as u64;
    let object_header = w.object_header();
    let mut objects = HashMap::new();
    let mut p = w.collection_header();
    while p < end {
        if p + object_header > end {
            break;
        }
        let at = p as usize;
        let index = u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let size = decode(&bytes[at + 8..at + 8 + w.lengths]);
        let need = size.and_then(|s| {
            if index > 0 {
                s.div_ceil(ALIGN)
                    .checked_mul(ALIGN)?
                    .checked_add(object_header)
            } else {
                Some(s)
            }
        });
        let fits = need.is_some_and(|n| n >= object_header && n <= end - p);
        if !fits {
            return Err(match (index, size) {
                (0, Some(s)) if s < object_header => format!(
                    "its free space at offset {p} has size {s}, less than its own \
                     {object_header}-byte header (reading would never advance)"
                ),
                (_, s) => format!(
                    "object {index} at offset {p} declares {} bytes, past the collection's end \
                     at {end}",
                    s.map_or("more than 2^64".to_string(), |s| s.to_string())
                ),
            });
        }
        if index > 0 {
            objects.insert(index, size.unwrap_or(0));
        }
        p += need.unwrap_or(end);
    }
    Ok(objects)
}

/// Checks every global heap collection in the HDF5 file at `path`, and the string references of
/// every variable-length string attribute, before libhdf5 may read one (see the module's
/// documentation). Collections are found by their signature: a reference may name any address,
/// and libhdf5 loads whatever starts with `GCOL` and version 1 there. Attributes are found by the
/// 8-byte encoding of their datatype, then the attribute message header before it.
pub(crate) fn check_file(path: &Path) -> Result<()> {
    let mut src = Source::open(path)?;
    let Some(w) = src.widths()? else {
        return Ok(());
    };
    let finder = memchr::memmem::Finder::new(COLLECTION);
    // Blocks overlap by as much as the longer signature (8 bytes), so none is split unseen; one
    // in the overlap is found twice and checked once.
    const BLOCK: u64 = 1 << 20;
    const OVERLAP: u64 = 8;
    let mut start = 0u64;
    let (mut collections_to, mut types_to) = (None, None);
    let mut memo = HashMap::new();
    while start < src.len {
        let n = BLOCK.min(src.len - start);
        let block = src.read(start, n)?;
        for at in finder.find_iter(&block).map(|i| start + i as u64) {
            if collections_to.is_none_or(|c| at > c) {
                if let Entry::Vacant(e) = memo.entry(at) {
                    e.insert(src.collection(at, w)?);
                }
                collections_to = Some(at);
            }
        }
        // A variable-length string datatype: class 9 (versions 1–3) and type "string" in its
        // first bytes, then its size, a reference's.
        for i in memchr::memchr3_iter(0x19, 0x29, 0x39, &block) {
            let at = start + i as u64;
            let is_type = block.get(i..i + 8).is_some_and(|t| {
                t[1] & 0x0f == 1
                    && t[3] == 0
                    && u64::from(u32::from_le_bytes([t[4], t[5], t[6], t[7]])) == w.reference()
            });
            if is_type && types_to.is_none_or(|c| at > c) {
                if let Some(attr) = src.attribute_before(at, w)? {
                    let what = format!("attribute '{}' at byte {}", attr.name, attr.data);
                    src.references(attr.data, attr.count, w, &what, &mut memo)?;
                }
                types_to = Some(at);
            }
        }
        if start + n >= src.len {
            break;
        }
        start += n - OVERLAP;
    }
    Ok(())
}

/// An attribute message holding variable-length strings, as found in the file.
struct AttributeAt {
    name: String,
    /// Where its references start.
    data: u64,
    /// How many there are.
    count: u64,
}

impl Source<'_> {
    /// The attribute message whose datatype starts at `dt`, if the bytes before it are one
    /// (HDF5 File Format Specification 3.0, IV.A.2.m): version 1 pads the name, datatype and
    /// dataspace to 8 bytes; versions 2 and 3 do not, and 3 adds an encoding byte. `None` for
    /// a datatype elsewhere (a dataset's), a shared datatype or dataspace, or anything that does
    /// not hold together — libhdf5 reads no strings from those through this attribute.
    fn attribute_before(&mut self, dt: u64, w: Widths) -> Result<Option<AttributeAt>> {
        const MAX_NAME: u64 = 1024;
        let from = dt.saturating_sub(MAX_NAME + 9);
        let before = self.read(from, dt - from)?;
        let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
        let end = before.len();
        let mut found = None;
        for ns in 1..=(end.saturating_sub(8)) {
            // (version, header length, name length as stored)
            for (version, head) in [(1u8, 8usize), (2, 8), (3, 9)] {
                let stored = if version == 1 {
                    align(ns as u64) as usize
                } else {
                    ns
                };
                let Some(h) = end.checked_sub(stored + head) else {
                    continue;
                };
                let b = &before[h..];
                let name = &b[head..head + ns];
                let holds = b[0] == version
                    && u16_at(b, 2) == ns as u64
                    && (version == 1 && b[1] == 0 || version > 1 && b[1] & 3 == 0)
                    && name[ns - 1] == 0
                    && !name[..ns - 1].contains(&0);
                if holds {
                    let name = String::from_utf8_lossy(&name[..ns - 1]).into_owned();
                    found = Some((version, name, u16_at(b, 4), u16_at(b, 6)));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some((version, name, dt_size, ds_size)) = found else {
            return Ok(None);
        };
        let padded = |n: u64| if version == 1 { align(n) } else { n };
        let ds = dt + padded(dt_size);
        // The dataspace message (IV.A.2.b): version 1 puts the sizes after 8 bytes, version 2
        // after 4, with a type byte (0 scalar, 1 simple, 2 null).
        let space_len = (8 + 32 * w.lengths as u64).min(self.len.saturating_sub(ds));
        if space_len < 4 {
            return Ok(None);
        }
        let space = self.read(ds, space_len)?;
        let (rank, kind) = (space[1] as usize, space[3]);
        let dims_at = if space[0] == 1 { 8 } else { 4 };
        let count = match space[0] {
            2 if kind == 0 => Some(1),
            2 if kind == 2 => Some(0),
            1 | 2 => (0..rank).try_fold(1u64, |c, d| {
                let at = dims_at as usize + d * w.lengths;
                c.checked_mul(decode(space.get(at..at + w.lengths)?)?)
            }),
            _ => None,
        };
        let Some(count) = count else {
            return Ok(None);
        };
        Ok(Some(AttributeAt {
            name,
            data: ds + padded(ds_size),
            count,
        }))
    }

    /// Checks `count` string references at `at` (`what` names them in errors) against the
    /// collections they name: a string no longer than the file, an object that exists, of exactly
    /// the string's length. `memo` keeps the collections already walked.
    fn references(
        &mut self,
        at: u64,
        count: u64,
        w: Widths,
        what: &str,
        memo: &mut HashMap<u64, HashMap<u64, u64>>,
    ) -> Result<()> {
        let bytes = count
            .checked_mul(w.reference())
            .filter(|&n| at.checked_add(n).is_some_and(|end| end <= self.len));
        let Some(bytes) = bytes else {
            return Err(Error::file(
                self.path,
                format!(
                    "{what}: {count} string references of {} bytes do not fit in the file ({} \
                     bytes), so the file is refused",
                    w.reference(),
                    self.len
                ),
            ));
        };
        let raw = self.read(at, bytes)?;
        for (i, r) in raw.chunks_exact(w.reference() as usize).enumerate() {
            let length = u64::from(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
            let heap = decode(&r[4..4 + w.offsets]).unwrap_or(u64::MAX);
            let tail = &r[4 + w.offsets..];
            let index = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
            if heap == 0 {
                continue; // a null string: nothing is read
            }
            let path = self.path;
            let bad = |message: String| {
                Error::file(
                    path,
                    format!(
                        "{what}: string {i} {message}; the HDF5 library would crash or allocate \
                         that much reading it, so the file is refused"
                    ),
                )
            };
            if length > self.len {
                return Err(bad(format!(
                    "declares {length} bytes in a file of {} bytes",
                    self.len
                )));
            }
            let signature = COLLECTION.len() as u64;
            if heap.checked_add(signature).is_none_or(|e| e > self.len)
                || self.read(heap, signature)? != COLLECTION[..]
            {
                continue; // not a collection: libhdf5 refuses it by its signature
            }
            let objects = match memo.entry(heap) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.collection(heap, w)?),
            };
            match objects.get(&index) {
                Some(&size) if size == length => {}
                Some(&size) => {
                    return Err(bad(format!(
                        "declares {length} bytes but its heap object {index} holds {size}"
                    )))
                }
                None => {
                    return Err(bad(format!(
                        "names heap object {index}, which its collection at byte {heap} lacks"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// Checks each string reference of the variable-length string dataset `ds` (named `object` in
/// errors) against the collection it names, before libhdf5 reads it. Datasets stored compact or
/// chunked are left to [`check_file`]'s collection check (libhdf5 gives no address for them).
pub(crate) fn check_dataset_strings(path: &Path, ds: &hdf5::Dataset, object: &str) -> Result<()> {
    let Some(at) = ds.offset() else {
        return Ok(());
    };
    let mut src = Source::open(path)?;
    let Some(w) = src.widths()? else {
        return Ok(());
    };
    let count = ds.size() as u64;
    if count.saturating_mul(w.reference()) > ds.storage_size() {
        return Err(Error::file(
            path,
            format!(
                "{object}: {count} string references of {} bytes do not fit the dataset's {} \
                 stored bytes",
                w.reference(),
                ds.storage_size()
            ),
        ));
    }
    src.references(at, count, w, object, &mut HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Widths = Widths {
        offsets: 8,
        lengths: 8,
    };

    /// A collection of `size` bytes holding `objects` (index, bytes), then free space.
    fn collection(size: u64, objects: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GCOL\x01\0\0\0");
        b.extend_from_slice(&size.to_le_bytes());
        for &(index, data) in objects {
            b.extend_from_slice(&index.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&(data.len() as u64).to_le_bytes());
            b.extend_from_slice(data);
            b.resize(align(b.len() as u64) as usize, 0);
        }
        let free = size - b.len() as u64;
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&free.to_le_bytes());
        b.resize(size as usize, 0);
        b
    }

    #[test]
    fn a_well_formed_collection_walks_to_its_objects() {
        let c = collection(4096, &[(1, b"LIF"), (2, b"input"), (7, b"")]);
        let objects = walk(&c, W).unwrap();
        assert_eq!(objects, HashMap::from([(1, 3), (2, 5), (7, 0)]));
    }

    #[test]
    fn free_space_of_size_zero_is_refused_not_looped_on() {
        let mut c = collection(4096, &[(1, b"LIF")]);
        // The free-space object starts after the header (16) and object 1 (16 + 8).
        c[40 + 8..40 + 16].copy_from_slice(&0u64.to_le_bytes());
        let err = walk(&c, W).unwrap_err();
        assert!(err.contains("never advance"), "{err}");
    }

    #[test]
    fn an_object_past_the_collection_is_refused() {
        let mut c = collection(4096, &[(1, b"LIF")]);
        c[24..32].copy_from_slice(&5000u64.to_le_bytes());
        assert!(walk(&c, W).unwrap_err().contains("object 1"));
        c[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(walk(&c, W).unwrap_err().contains("past the collection"));
    }

    #[test]
    fn widths_wider_than_64_bits_decode_only_when_small() {
        assert_eq!(decode(&[1, 2, 0, 0]), Some(0x0201));
        assert_eq!(decode(&[0; 16]), Some(0));
        let mut wide = [0u8; 16];
        wide[9] = 1;
        assert_eq!(decode(&wide), None);
    }
}
