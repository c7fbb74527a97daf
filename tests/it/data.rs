//! Data loaders against known facts and hand-made fixtures; malformed files give clear errors.

use std::path::{Path, PathBuf};

use somnet::data::{cifar, folder, idx, mnist, Dataset, Split};
use somnet::Error;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/fixtures")
}

fn temp_copy(name: &str, from: &Path) -> PathBuf {
    let dir = crate::common::scratch(name);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn bundled_mnist_has_the_published_sizes_and_class_counts() {
    let dir = somnet::data::default_dir().join("mnist");
    let test = mnist::load_mnist(&dir, Split::Test).unwrap();
    assert_eq!((test.len(), test.shape), (10_000, [1, 28, 28]));
    // Class counts of the MNIST test set (LeCun et al.).
    assert_eq!(
        test.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(test.labels[0], 7);
    let train = mnist::load_mnist(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.labels[..5], [5, 0, 4, 1, 9]);
    assert!(train.images.iter().all(|&x| (0.0..=1.0).contains(&x)));
    assert_eq!(train.images.iter().cloned().fold(0.0, f32::max), 1.0);
}

#[test]
fn tiny_idx_fixture_decodes_to_its_formula() {
    // make_fixtures.py: pixel = (17 i + 5 r + c) mod 256, label = i mod 3; gzip train, raw test.
    for (split, n) in [(Split::Train, 6), (Split::Test, 4)] {
        let d = somnet::data::mnist::load_idx_pair(
            &fixtures().join("tiny-idx"),
            split,
            "tiny",
            vec!["a".into(), "b".into(), "c".into()],
        )
        .unwrap();
        assert_eq!((d.len(), d.shape), (n, [1, 4, 3]));
        for i in 0..n {
            assert_eq!(d.labels[i] as usize, i % 3);
            for r in 0..4 {
                for c in 0..3 {
                    assert_eq!(
                        d.image(i)[r * 3 + c],
                        ((17 * i + 5 * r + c) % 256) as f32 / 255.0
                    );
                }
            }
        }
    }
}

#[test]
fn cifar_batches_are_channel_major() {
    let d = cifar::load(&fixtures().join("tiny-cifar"), Split::Train).unwrap();
    assert_eq!((d.len(), d.shape), (10, [3, 32, 32]));
    assert_eq!(d.labels, (0..10).collect::<Vec<u8>>());
    // pixel byte = (7 i + 50 ch + p) mod 256
    let img = d.image(3);
    assert_eq!(img[0], 21.0 / 255.0);
    assert_eq!(img[1024 + 5], 76.0 / 255.0); // (21 + 50 + 5) mod 256
    assert_eq!(
        cifar::load(&fixtures().join("tiny-cifar"), Split::Test)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn image_folders_give_classes_in_name_order() {
    let root = fixtures().join("folder");
    let e = folder::load(&root, folder::FolderOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("wide.png") && e.to_string().contains("resize"),
        "{e}"
    );
    let d = folder::load(
        &root,
        folder::FolderOptions {
            resize: Some((5, 4)),
            grayscale: false,
        },
    )
    .unwrap();
    assert_eq!(d.class_names, vec!["cat", "dog"]);
    assert_eq!(d.labels, vec![0, 0, 1, 1, 1]);
    assert_eq!(d.shape, [3, 4, 5]);
    // cat/0.png pixel p channel ch = (p·3 + ch) mod 256 (make_fixtures.py).
    assert_eq!(d.image(0)[0], 0.0);
    assert_eq!(d.image(0)[20 + 1], 4.0 / 255.0);
    let g = folder::load(
        &root,
        folder::FolderOptions {
            resize: Some((5, 4)),
            grayscale: true,
        },
    )
    .unwrap();
    assert_eq!(g.shape, [1, 4, 5]);
}

#[test]
fn empty_class_folders_and_unreadable_images_are_named() {
    let root = crate::common::scratch("folder");
    std::fs::remove_dir_all(&root).ok();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::copy(fixtures().join("folder/cat/0.png"), root.join("a/0.png")).unwrap();
    let e = folder::load(&root, Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("empty class folder") && e.to_string().contains("/b"),
        "{e}"
    );
    std::fs::write(root.join("b/x.png"), b"not a png").unwrap();
    let e = folder::load(&root, Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("x.png") && e.to_string().contains("unreadable image"),
        "{e}"
    );
}

#[test]
fn malformed_idx_files_are_refused_with_the_reason() {
    let p = Path::new("x.idx");
    let good = [0u8, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3];
    assert_eq!(idx::parse(p, &good).unwrap().data, vec![1, 2, 3]);
    let e = idx::parse(p, &[0, 0, 9, 1, 0, 0, 0, 1, 0]).unwrap_err();
    assert!(e.to_string().contains("wrong IDX magic 0x00000901"), "{e}");
    assert!(idx::parse(p, &good[..10])
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    assert!(idx::parse(p, &[&good[..], &[9]].concat())
        .unwrap_err()
        .to_string()
        .contains("oversize"));
    assert!(idx::parse(p, &good[..6])
        .unwrap_err()
        .to_string()
        .contains("truncated header"));
    assert!(idx::parse(p, &[])
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    // A truncated gzip stream.
    let dir = temp_copy("gz", &fixtures().join("tiny-idx"));
    let gz = dir.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let e = idx::read(&gz).unwrap_err();
    assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn checksum_and_count_mismatches_are_refused() {
    let classes = || vec!["a".into(), "b".into(), "c".into()];
    // Changed bytes: the SHA256SUMS check names the file.
    let dir = temp_copy("sum", &fixtures().join("tiny-idx"));
    let f = dir.join("t10k-labels-idx1-ubyte");
    let mut b = std::fs::read(&f).unwrap();
    b[8] = 2;
    std::fs::write(&f, &b).unwrap();
    let e = mnist::load_idx_pair(&dir, Split::Test, "t", classes()).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
    // Without SHA256SUMS: 3 labels for 4 images.
    std::fs::remove_file(dir.join("SHA256SUMS")).unwrap();
    std::fs::write(&f, [0u8, 0, 8, 1, 0, 0, 0, 3, 0, 1, 2]).unwrap();
    let e = mnist::load_idx_pair(&dir, Split::Test, "t", classes()).unwrap_err();
    assert!(e.to_string().contains("3 labels for 4 images"), "{e}");
    // A label outside the classes.
    std::fs::write(&f, [0u8, 0, 8, 1, 0, 0, 0, 4, 0, 1, 2, 7]).unwrap();
    assert!(mnist::load_idx_pair(&dir, Split::Test, "t", classes())
        .unwrap_err()
        .to_string()
        .contains("label 7"));
    // A missing file.
    let e = mnist::load_fashion(&std::env::temp_dir().join("nowhere-somnet"), Split::Train)
        .unwrap_err();
    assert!(e.to_string().contains("fetch.sh"), "{e}");
    // CIFAR: a partial record.
    let c = temp_copy("cifar", &fixtures().join("tiny-cifar"));
    std::fs::write(c.join("test_batch.bin"), vec![0u8; 3000]).unwrap();
    assert!(cifar::load(&c, Split::Test)
        .unwrap_err()
        .to_string()
        .contains("3073-byte"));
}

#[test]
fn selections_are_seeded_and_ordered() {
    let d = mnist::load_mnist(&somnet::data::default_dir().join("mnist"), Split::Test).unwrap();
    let t = d.first_n_of_classes(&[2, 3], 300);
    assert_eq!(t.len(), 300);
    assert!(t.labels.iter().all(|&l| l == 2 || l == 3));
    let firsts: Vec<usize> = (0..d.len())
        .filter(|&i| d.labels[i] == 2 || d.labels[i] == 3)
        .take(300)
        .collect();
    assert_eq!(t.image(299), d.image(firsts[299]));
    let (a, b) = d.split(0.8, 3).unwrap();
    assert_eq!((a.len(), b.len()), (8000, 2000));
    assert_eq!(d.random_subset(50, 9).labels, d.random_subset(50, 9).labels);
    assert_ne!(
        d.random_subset(50, 9).labels,
        d.random_subset(50, 10).labels
    );
    assert_eq!(d.filter_classes(&[0]).len(), 980);
    assert!(d.split(1.5, 0).is_err());
    assert!(Dataset::new(
        "bad",
        vec![0.0; 5],
        vec![0, 1],
        [1, 2, 2],
        vec!["a".into(), "b".into()]
    )
    .is_err());
}
