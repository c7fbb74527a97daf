//! Issue 14: the runtime-chosen vector kernels give the same spikes on every level the CPU has
//! (AVX-512, AVX2, portable), on whole networks: CUBA (LIF, two exponential ports, delays), COBA
//! by exponential and forward Euler (conductance ports), Izhikevich (all-to-all delta), and
//! converted LeNet / BN-CNN nets (weight-shared convolution, average pooling, max gates, dense
//! rows, analog and Poisson input).

use std::sync::Mutex;

use somnet::simd::{detected, set_level, Level};

/// Tests that switch the level take this, so that two of them do not interleave.
static LEVEL: Mutex<()> = Mutex::new(());

/// What a level's run produced: spike digests and counts.
fn fingerprint() -> Vec<(String, u64, u64)> {
    use somnet::benchmarks::{self, Benchmark};
    use somnet::convert::build::build_with;
    use somnet::convert::options::{ConvertOptions, InputCoding};
    let mut out = Vec::new();
    for (which, n) in [
        (Benchmark::Cuba, 4000),
        (Benchmark::Coba, 4000),
        (Benchmark::CobaEuler, 4000),
        (Benchmark::Izhikevich, 1000),
    ] {
        let r = benchmarks::run(which, n, 300.0, 3, |_, _| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        out.push((r.spike_digest, r.spikes, r.syn_events));
    }
    let test = somnet::data::load_named(
        "mnist",
        &somnet::data::default_dir(),
        somnet::data::Split::Test,
    )
    .unwrap()
    .head(12);
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for model in ["lenet", "bncnn"] {
        let ann = somnet::io::schema::load(&golden.join(format!("{model}.snn.h5")))
            .unwrap()
            .ann;
        for input in [InputCoding::Analog, InputCoding::Poisson] {
            let options = ConvertOptions {
                input,
                seed: 9,
                ..ConvertOptions::default()
            };
            let mut m = build_with(&ann, &options).unwrap();
            for i in 0..test.len() {
                m.run_sample(ndarray::ArrayView1::from(test.image(i)), i as u64, 24)
                    .unwrap();
                out.push((
                    format!("{:016x}", m.net.spike_digest()),
                    m.net.n_spikes(),
                    m.net.n_events(),
                ));
            }
        }
    }
    out
}

#[test]
fn every_vector_level_emits_the_spikes_of_the_portable_path() {
    let _guard = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    let best = detected();
    assert_eq!(set_level(Level::Portable), Level::Portable);
    let portable = fingerprint();
    for level in [Level::Avx2, Level::Avx512] {
        if level > best {
            eprintln!("{} not on this CPU: not compared", level.name());
            continue;
        }
        assert_eq!(set_level(level), level);
        let got = fingerprint();
        for (k, (a, b)) in portable.iter().zip(&got).enumerate() {
            assert_eq!(a, b, "{}: run {k} differs from portable", level.name());
        }
    }
    set_level(best);
}
