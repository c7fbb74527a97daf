//! Atomic outputs (issue 19): a write that fails (here: a full disk, a tmpfs of a few KiB) gives an
//! error naming the file and leaves the earlier file as it was, with no partial file behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use somnet::io::report::write_text;

/// A tmpfs of `kib` KiB mounted for one test (`name`) and unmounted when dropped; `None` where
/// this process may not mount (not root, or no mount namespace).
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(name: &str, kib: usize) -> Option<TinyDisk> {
        let dir = crate::common::scratch(&format!("tiny-{name}"));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk(dir))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazily (`-l`): a child process that another test spawned meanwhile may hold a
        // descriptor of a file here (the HDF5 library opens files without close-on-exec), and a
        // plain unmount then fails and leaves the mount behind after the tests.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

#[test]
fn a_full_disk_keeps_the_earlier_record_and_names_the_file() {
    let Some(disk) = TinyDisk::mount("record", 64) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let path = disk.0.join("result.json");
    write_text(&path, "{\"images\": 10}\n").unwrap();
    let err = write_text(&path, &"x".repeat(200_000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("result.json"), "{err}");
    assert!(err.to_lowercase().contains("space"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"images\": 10}\n"
    );
    assert!(leftovers(&disk.0).is_empty(), "{:?}", leftovers(&disk.0));
}

#[test]
fn a_model_file_that_does_not_fit_leaves_the_earlier_model() {
    let Some(disk) = TinyDisk::mount("model", 64) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let small = somnet::ann::arch::build("mlp:4-3-2", &[4], 2, &Default::default(), 1).unwrap();
    let big = somnet::ann::arch::build("mlp:784-100-10", &[1, 28, 28], 10, &Default::default(), 1)
        .unwrap();
    let path = disk.0.join("model.h5");
    somnet::io::schema::save(&path, &small, serde_json::json!({})).unwrap();
    let err = somnet::io::schema::save(&path, &big, serde_json::json!({}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.h5"), "{err}");
    assert_eq!(somnet::io::schema::load(&path).unwrap().ann, small);
    assert!(leftovers(&disk.0).is_empty(), "{:?}", leftovers(&disk.0));
}

#[test]
fn a_plot_that_does_not_fit_leaves_the_earlier_plot() {
    use somnet::study::plot::{lines, Marker, Series, PALETTE};
    let Some(disk) = TinyDisk::mount("plot", 512) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let path = disk.0.join("accuracy.png");
    let plot = |n: usize| {
        let points = (0..n)
            .map(|k| (k as f64, 50.0 + 40.0 * (k as f64 * 0.7).sin(), 0.0))
            .collect();
        let series = [Series {
            name: "SNN".into(),
            color: PALETTE[0],
            points,
            dashed: false,
            marker: Marker::Circle,
        }];
        lines(
            &path,
            "title",
            ("x", "y"),
            0.0..n as f64,
            0.0..100.0,
            &series,
        )
    };
    plot(4).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(&before[1..4], b"PNG");
    // Fill the disk but for a few KiB, then draw a busier figure.
    let free = 512 * 1024 - before.len() - 8 * 1024;
    std::fs::write(disk.0.join("filler"), vec![0u8; free]).ok();
    let err = plot(400).unwrap_err().to_string();
    assert!(err.contains("accuracy.png"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(leftovers(&disk.0).is_empty(), "{:?}", leftovers(&disk.0));
}

#[test]
fn an_output_folder_that_cannot_be_made_is_named() {
    // /dev/null is a file: nothing can be made under it, whoever runs the test.
    let out = Command::new(env!("CARGO_BIN_EXE_somnet"))
        .args([
            "sweep",
            "--grid",
            "reset=zero",
            "--steps",
            "2",
            "--limit",
            "5",
            "--model",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mlp.h5"))
        .args(["--out", "/dev/null/run"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/dev/null/run"),
        "{err}"
    );
}
