//! The fuzz corpus replayed on stable Rust: every committed input of every target in
//! `fuzz/corpus/` and every crash reproducer in `fuzz/regressions/` runs through the same entry
//! point as the fuzzer's (`somnet::fuzzing`), so a crash once found and fixed cannot return.

use std::path::{Path, PathBuf};

use somnet::fuzzing::{self, by_name, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_corpus_input_and_reproducer_is_an_error_or_a_value() {
    let start = std::time::Instant::now();
    let mut total = 0;
    for target in TARGETS {
        let run = by_name(target).expect("listed targets exist");
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(!corpus.is_empty(), "fuzz/corpus/{target} is empty");
        let reproducers = files(&fuzz_dir().join("regressions").join(target));
        for path in corpus.iter().chain(&reproducers) {
            let bytes = std::fs::read(path).unwrap();
            // A panic here names the input that brought it back.
            eprintln!("{}", path.display());
            run(&bytes);
            total += 1;
        }
    }
    eprintln!("{total} inputs in {:.1} s", start.elapsed().as_secs_f64());
}

#[test]
fn the_unmutated_generated_files_load() {
    // Without mutations the structure-aware generators write valid files: the fuzzer starts from
    // files that reach every layer reader, not from the first error.
    let dir = crate::common::scratch("gen");
    std::fs::create_dir_all(&dir).unwrap();
    let somnet_file = dir.join("s.h5");
    fuzzing::h5gen::somnet_file(&somnet_file, &[]).unwrap();
    let (model, _) = somnet::io::load_model(&somnet_file).unwrap();
    assert_eq!(model.ann.input_shape, vec![1, 8, 8]);
    assert_eq!(model.ann.output_features(), 10);
    for (name, choice) in [("k2.h5", 0u8), ("k3.h5", 1)] {
        let keras = dir.join(name);
        fuzzing::h5gen::keras_file(&keras, &[choice, 0]).unwrap();
        let k = somnet::io::keras::load(&keras).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(k.ann.output_features(), 10);
    }
    // The NIR generator: a dense chain with no bytes, a convolutional one with a first byte 3.
    for (bytes, neurons) in [(&[][..], 5 + 5), (&[3u8][..], 4 * 36 + 5)] {
        let graph = fuzzing::nirgen::graph(bytes);
        let path = dir.join("g.nir");
        somnet::io::nir::write(&path, &graph).unwrap();
        let back = somnet::io::nir::read(&path).unwrap();
        let sim = somnet::simulate::Simulation::new(&back, &Default::default())
            .unwrap_or_else(|e| panic!("{bytes:?}: {e}"));
        let total: usize = sim.populations().iter().map(|p| p.2).sum();
        assert_eq!(total, neurons, "{bytes:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}
