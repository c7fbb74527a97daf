//! What somnet checks in an HDF5 file before libhdf5 reads it: the global heap of
//! variable-length strings (its collections and a string dataset's references), a dataset's
//! extent against its maximum, and how many chunks a read would make libhdf5 track. Each input
//! here crashes, hangs or exhausts memory inside libhdf5 1.10 when it is not caught first.

use std::path::{Path, PathBuf};

use hdf5_metno as hdf5;

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch("h5guard");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A somnet model file: its `format` and provenance attributes are variable-length strings.
fn model_file(name: &str) -> PathBuf {
    let path = scratch(name);
    let ann = somnet::ann::arch::build("mlp:4-3-2", &[4], 2, &Default::default(), 1).unwrap();
    somnet::io::schema::save(&path, &ann, serde_json::json!({"note": "x"})).unwrap();
    path
}

fn collection_at(bytes: &[u8]) -> usize {
    bytes
        .windows(5)
        .position(|w| w == b"GCOL\x01")
        .expect("a global heap collection")
}

#[test]
fn a_heap_object_larger_than_its_collection_is_refused_by_name() {
    let path = model_file("object.h5");
    somnet::io::schema::load(&path).expect("the unmodified file loads");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = collection_at(&bytes);
    // The first object's size field: after the 16-byte collection header and 8 bytes of the
    // object's own header.
    bytes[at + 24..at + 32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::schema::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("object.h5")
            && err.contains("global heap")
            && err.contains(&format!("collection at byte {at}"))
            && err.contains(&format!("declares {} bytes", 1u64 << 40)),
        "{err}"
    );
}

#[test]
fn a_free_space_object_that_would_never_advance_is_refused() {
    // libhdf5 walks a collection object by object; a free-space object of size 0 keeps it on
    // the same byte forever (`fuzz/hdf5-library/README.md`: the endless loop of 1.10 and 2.2).
    let path = model_file("loop.h5");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = collection_at(&bytes);
    let size = |b: &[u8], p: usize| u64::from_le_bytes(b[p..p + 8].try_into().unwrap()) as usize;
    let end = at + size(&bytes, at + 8);
    // Walk to the free-space object (index 0) the way the format defines it.
    let mut p = at + 16;
    while u16::from_le_bytes([bytes[p], bytes[p + 1]]) != 0 {
        p += 16 + size(&bytes, p + 8).div_ceil(8) * 8;
        assert!(p + 16 <= end, "no free space in the collection");
    }
    bytes[p + 8..p + 16].copy_from_slice(&0u64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::load_model(&path).unwrap_err().to_string();
    assert!(err.contains("never advance"), "{err}");
}

#[test]
fn a_collection_declared_past_the_end_of_the_file_is_refused() {
    let path = model_file("past.h5");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = collection_at(&bytes);
    bytes[at + 8..at + 16].copy_from_slice(&(1u64 << 33).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::load_model(&path).unwrap_err().to_string();
    assert!(err.contains("past the end of the file"), "{err}");
}

#[test]
fn a_string_attribute_naming_a_missing_heap_object_is_refused_by_its_name() {
    // Attribute values live in object headers, out of reach of libhdf5's API; somnet finds each
    // variable-length string attribute by its encoding. Here the reference of the root attribute
    // 'format' ("somnet-model", 12 bytes) is pointed at heap object 999: libhdf5 1.10 would read
    // through a null object (a segmentation fault, `regressions/hdf5_file/libhdf5-crash-af93…`).
    let path = model_file("attribute.h5");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = collection_at(&bytes);
    // The heap object holding the 12 bytes, and its index.
    let text = bytes
        .windows(12)
        .position(|w| w == b"somnet-model")
        .expect("the format string in the heap");
    let index = u16::from_le_bytes([bytes[text - 16], bytes[text - 15]]) as u32;
    let mut reference = Vec::new();
    reference.extend_from_slice(&12u32.to_le_bytes());
    reference.extend_from_slice(&(at as u64).to_le_bytes());
    reference.extend_from_slice(&index.to_le_bytes());
    let r = bytes
        .windows(16)
        .position(|w| w == reference.as_slice())
        .expect("the attribute's reference");
    bytes[r + 12..r + 16].copy_from_slice(&999u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::load_model(&path).unwrap_err().to_string();
    assert!(
        err.contains("attribute 'format'") && err.contains("names heap object 999"),
        "{err}"
    );
}

/// A copy of a NIR file written by somnet, and the file offset of the string reference of the
/// `type` of its node `input` (a contiguous scalar string dataset, as h5py writes them too).
fn nir_with_type_reference(name: &str) -> (PathBuf, usize) {
    let path = scratch(name);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nir/frameworks/somnet_lenet.nir");
    std::fs::copy(fixture, &path).unwrap();
    somnet::io::nir::read(&path).expect("the unmodified file reads");
    let offset = hdf5::File::open(&path)
        .unwrap()
        .dataset("node/nodes/input/type")
        .unwrap()
        .offset()
        .expect("a contiguous dataset");
    (path, offset as usize)
}

#[test]
fn a_string_declared_longer_than_its_file_is_refused_before_it_is_allocated() {
    // libhdf5 allocates the declared length (up to 4 GiB) before it looks at the heap.
    let (path, at) = nir_with_type_reference("long.nir");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at..at + 4].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::nir::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("/node/nodes/input: dataset 'type'")
            && err.contains("declares 4026531840 bytes"),
        "{err}"
    );
}

#[test]
fn a_string_naming_a_missing_or_shorter_heap_object_is_refused() {
    // libhdf5 copies the heap object's size into a buffer of the string's length.
    let (path, at) = nir_with_type_reference("index.nir");
    let original = std::fs::read(&path).unwrap();
    let mut bytes = original.clone();
    bytes[at + 12..at + 16].copy_from_slice(&999u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::nir::read(&path).unwrap_err().to_string();
    assert!(err.contains("names heap object 999"), "{err}");
    let mut bytes = original;
    let length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    bytes[at..at + 4].copy_from_slice(&(length - 1).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = somnet::io::nir::read(&path).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "declares {} bytes but its heap object",
            length - 1
        )),
        "{err}"
    );
}

#[test]
fn tiny_chunks_over_a_large_shape_are_refused_by_their_count() {
    // 4 096 one-value chunks: 16 kB of values, but ≈ 1 KiB of libhdf5 bookkeeping each.
    let path = model_file("chunks.h5");
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        let g = f.group("layers/001").unwrap();
        g.unlink("weights").unwrap();
        g.new_dataset::<f32>()
            .chunk(1)
            .shape(4096)
            .create("weights")
            .unwrap();
    }
    let err = somnet::limits::with_max_bytes(1 << 20, || somnet::io::schema::load(&path))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dataset 'weights'") && err.contains("4096 chunks of [1]"),
        "{err}"
    );
}

#[test]
fn the_libhdf5_crashers_somnet_can_see_are_refused_by_its_checks() {
    // The fuzz findings that crashed or hung libhdf5 and that somnet now catches first are kept
    // as `libhdf5-*` in the regressions (replayed by `fuzz_corpus` as well); each must be
    // refused by one of the checks above, not by luck further on.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for target in ["hdf5_file", "nir_file"] {
        let mut inputs: Vec<_> = std::fs::read_dir(root.join(target))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("libhdf5-"))
            })
            .collect();
        inputs.sort();
        for input in inputs {
            let path = scratch(&format!("{target}.h5"));
            std::fs::copy(&input, &path).unwrap();
            let err = if target == "nir_file" {
                somnet::io::nir::read(&path).map(|_| ()).unwrap_err()
            } else {
                somnet::io::load_model(&path).map(|_| ()).unwrap_err()
            }
            .to_string();
            assert!(
                err.contains("global heap")
                    || err.contains("the file is refused")
                    || err.contains("exceeds its maximum extent"),
                "{}: {err}",
                input.display()
            );
            eprintln!("{}: {err}", input.display());
            seen += 1;
        }
    }
    assert!(seen >= 30, "only {seen} libhdf5 reproducers");
}
