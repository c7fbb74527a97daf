//! Sleep replay consolidation: the scale-factor recursion, the rule by hand, the input statistics,
//! same-step propagation, which weights may change, agreement with a direct transcription of the
//! algorithm, determinism across thread counts, the class-incremental experiment, bad input.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;

use ndarray::{array, Array2};
use somnet::ann::arch::{self, ArchOptions};
use somnet::ann::init::Init;
use somnet::ann::{Activation, Ann, Conv2d, Dense, DropoutMode, Layer, Padding};
use somnet::data::{Dataset, Split};
use somnet::network::plasticity::{Plasticity, StepSpikes, SynapsesMut};
use somnet::sleep::incremental::{run_seed, IncrementalConfig};
use somnet::sleep::{
    scale_factors, sleep, AlphaMode, InputSource, Mask, MaskedInput, Sigma, SleepConfig,
    SleepLength, SleepRule,
};

use crate::common::mnist;

fn dense(w: Array2<f32>) -> Layer {
    Layer::Dense(Dense {
        weights: w,
        bias: None,
    })
}

fn relu() -> Layer {
    Layer::Activation(Activation::Relu)
}

fn named(layers: Vec<Layer>) -> Vec<(String, Layer)> {
    layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("l{i}"), l))
        .collect()
}

/// A bias-free ReLU MLP with U(±0.1) weights (large enough to drive spikes).
fn random_mlp(spec: &str, seed: u64) -> Ann {
    let opts = ArchOptions {
        bias: false,
        init: Init::Uniform { a: 0.1 },
        output: Activation::Relu,
        dropout_mode: DropoutMode::ScaleAtTest,
        ..ArchOptions::default()
    };
    arch::build(spec, &[1, 28, 28], 10, &opts, seed).unwrap()
}

fn classes(n: usize) -> Vec<String> {
    (0..n).map(|c| c.to_string()).collect()
}

fn continue_always(_: u64) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

#[test]
fn scale_factors_follow_the_released_recursion_on_a_hand_built_net() {
    // 2 inputs → 2 (ReLU, dropout 0.5 scaled at test) → 2 → 1.
    let ann = Ann::new(
        vec![2],
        named(vec![
            dense(array![[1.0, 0.5], [-1.0, 2.0]]),
            relu(),
            Layer::Dropout { rate: 0.5 },
            dense(array![[0.5, 0.25], [-0.5, 0.1]]),
            relu(),
            dense(array![[4.0, -1.0]]),
            relu(),
        ]),
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    let data = Dataset::new(
        "hand",
        vec![1.0, 2.0, 0.5, 0.0],
        vec![0, 0],
        [1, 1, 2],
        classes(1),
    )
    .unwrap();
    // Layer 1 on x = (1, 2): (2, 3) → ×0.5 = (1, 1.5); on (0.5, 0): (0.5, 0) → (0.25, 0).
    //   s₁ = max(largest weight 2, largest activation 1.5) = 2.
    // Layer 2 on (1, 1.5): (0.875, −0.35 → 0); s₂ = max(0.5, 0.875) = 0.875.
    // Layer 3 on (0.875, 0): 3.5; s₃ = max(4, 3.5) = 4.
    let sf = scale_factors(&ann, &data).unwrap();
    assert_eq!(sf.s, vec![2.0, 0.875, 4.0]);
    let expected = [1.0 / 2.0, 2.0 / 0.875, 0.875 / (2.0 * 4.0)];
    for (f, e) in sf.f.iter().zip(expected) {
        assert!((f - e).abs() < 1e-6, "{:?} vs {expected:?}", sf.f);
    }
}

/// σ as the specification writes it: 2·(1 − logistic(w/0.001)), and the plain logistic.
fn sigma_released(w: f64) -> f64 {
    2.0 * (1.0 - 1.0 / (1.0 + (-w / 0.001).exp()))
}
fn sigma_increasing(w: f64) -> f64 {
    1.0 / (1.0 + (-w).exp())
}

#[test]
#[allow(clippy::needless_range_loop)] // indices mirror w[post][pre] of the hand computation
fn the_rule_on_a_2x3_matrix_matches_hand_computed_steps_for_both_sigmas() {
    // ANN weights W (post × pre) = 2 × 3; the rule stores them pre-major.
    let w0 = [[0.001, -0.002, 0.0], [0.0005, 0.003, -0.001]];
    let (inc, dec, gain) = (0.5f64, 0.25f64, 3.0f32);
    // (pre spikes, post spikes) per step.
    let steps: [(&[u32], &[u32]); 4] = [
        (&[0, 2], &[1]),
        (&[1], &[0, 1]),
        (&[], &[]),
        (&[0, 1, 2], &[0]),
    ];
    for (sigma, f) in [
        (Sigma::RELEASED, sigma_released as fn(f64) -> f64),
        (Sigma::Increasing { width: 1.0 }, sigma_increasing),
    ] {
        let pre_major: Vec<f32> = (0..3)
            .flat_map(|i| (0..2).map(move |j| w0[j][i] as f32))
            .collect();
        let (mut rule, state) =
            SleepRule::new(pre_major.clone(), 3, gain, inc as f32, dec as f32, sigma);
        let mut engine: Vec<f32> = pre_major.iter().map(|w| gain * w).collect();
        let mut expect = w0;
        for (t, (pre, post)) in steps.iter().enumerate() {
            rule.on_step(
                StepSpikes {
                    step: t as u64,
                    pre,
                    post,
                },
                SynapsesMut::Dense {
                    n_pre: 3,
                    n_post: 2,
                    weights: &mut engine,
                },
            );
            for &j in *post {
                for i in 0..3 {
                    let w = expect[j as usize][i];
                    expect[j as usize][i] = if pre.contains(&(i as u32)) {
                        w + inc * f(w)
                    } else {
                        w - dec * f(w)
                    };
                }
            }
            let got = state.lock().weights.clone();
            if t == 0 && sigma == Sigma::RELEASED {
                // By hand: post 1 fired with pre 0, so w = 0.0005 + 0.5·2/(1 + e^0.5) = 0.3780407.
                assert!((got[1] - 0.3780407).abs() < 1e-6, "{}", got[1]);
            }
            for i in 0..3 {
                for j in 0..2 {
                    let (g, e) = (got[i * 2 + j] as f64, expect[j][i]);
                    assert!(
                        (g - e).abs() < 1e-6 * (1.0 + e.abs()),
                        "{sigma:?} step {t} w[{j}][{i}]: {g} vs {e}"
                    );
                    assert_eq!(engine[i * 2 + j], gain * got[i * 2 + j]);
                }
            }
        }
        let st = state.lock();
        // Potentiations: 2·1 + 1·2 + 0 + 3·1 = 7; depressions: 1·1 + 2·2 + 0 + 0 = 5.
        assert_eq!((st.potentiations, st.depressions), (7, 5));
    }
}

fn constant_images(value: f32, n: usize) -> Dataset {
    Dataset::new(
        "const",
        vec![value; n * 784],
        vec![0; n],
        [1, 28, 28],
        classes(1),
    )
    .unwrap()
}

#[test]
fn the_input_keeps_an_11x11_window_and_spikes_with_the_formula_probability() {
    let config = SleepConfig::mnist();
    let input = MaskedInput::new(&constant_images(0.5, 3), &config).unwrap();
    let (mut min_corner, mut max_corner) = ((99, 99), (0, 0));
    let (mut spikes_total, mut draws) = (0usize, 0usize);
    let mut spikes = Vec::new();
    for step in 0..3000 {
        let image = input.image(step);
        let nonzero: Vec<usize> = (0..784).filter(|&i| image[i] != 0.0).collect();
        assert_eq!(nonzero.len(), 121, "step {step}: an 11×11 window");
        let (y0, x0) = (nonzero[0] / 28, nonzero[0] % 28);
        for &i in &nonzero {
            let (y, x) = (i / 28, i % 28);
            assert!((y0..y0 + 11).contains(&y) && (x0..x0 + 11).contains(&x));
            assert_eq!(image[i], 0.5);
        }
        assert_eq!(input.window(step), ((y0, x0), (11, 11)));
        min_corner = (min_corner.0.min(y0), min_corner.1.min(x0));
        max_corner = (max_corner.0.max(y0), max_corner.1.max(x0));
        spikes.clear();
        input.draw(step, &mut spikes);
        assert!(
            spikes.iter().all(|&i| image[i as usize] > 0.0),
            "spikes only inside the window"
        );
        assert!(spikes.windows(2).all(|w| w[0] < w[1]));
        spikes_total += spikes.len();
        draws += 121;
    }
    // Corners uniform over [0, 17] (28 − 11).
    assert_eq!((min_corner, max_corner), ((0, 0), (17, 17)));
    // P(spike) = 2·dt·max_rate·x = 2·0.001·239.515363·0.5.
    let p = 2.0 * 0.001 * 239.515363 * 0.5;
    let observed = spikes_total as f64 / draws as f64;
    let sd = (p * (1.0 - p) / draws as f64).sqrt();
    assert!(
        (observed - p).abs() < 5.0 * sd,
        "observed {observed} vs {p} ± {sd}"
    );
    // The cap: a rate that would give P > 1 fires every window pixel.
    let hot = SleepConfig {
        max_rate_hz: 2000.0,
        ..SleepConfig::mnist()
    };
    let input = MaskedInput::new(&constant_images(0.6, 1), &hot).unwrap();
    spikes.clear();
    input.draw(5, &mut spikes);
    assert_eq!(spikes.len(), 121);
}

#[test]
fn masked_samples_average_stored_images_inside_the_window() {
    // Two images: all 0.2 and all 0.6; one sample per step shows one of them, two show ~0.4.
    let mut pixels = vec![0.2f32; 784];
    pixels.extend(vec![0.6f32; 784]);
    let data = Dataset::new("two", pixels, vec![0, 1], [1, 28, 28], classes(2)).unwrap();
    let one = SleepConfig {
        input: InputSource::MaskedSamples { samples: 1 },
        ..SleepConfig::mnist()
    };
    let input = MaskedInput::new(&data, &one).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for step in 0..50 {
        let image = input.image(step);
        let vals: std::collections::BTreeSet<u32> = image
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|v| (v * 10.0).round() as u32)
            .collect();
        assert_eq!(vals.len(), 1, "one stored image per step");
        seen.extend(vals);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![2, 6]);
    let mean = MaskedInput::new(&data, &SleepConfig::mnist()).unwrap();
    assert!(mean
        .image(0)
        .iter()
        .filter(|&&v| v > 0.0)
        .all(|&v| (v - 0.4).abs() < 1e-6));
}

#[test]
fn a_spike_crosses_every_layer_in_the_step_it_enters() {
    // 784 → 3 → 3 → 2 with all weights 1: one input spike drives every layer over its tiny
    // threshold in the same step.
    let ann = Ann::new(
        vec![1, 28, 28],
        named(vec![
            Layer::Flatten,
            dense(Array2::from_elem((3, 784), 1.0)),
            relu(),
            dense(Array2::from_elem((3, 3), 1.0)),
            relu(),
            dense(Array2::from_elem((2, 3), 1.0)),
            relu(),
        ]),
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    let config = SleepConfig {
        beta: vec![1e-3; 3],
        inc: 0.0,
        dec: 0.0,
        max_rate_hz: 5.0, // sparse input: a few spikes per step at most
        ..SleepConfig::mnist()
    };
    let mut ann2 = ann.clone();
    let report = sleep(
        &mut ann2,
        &constant_images(0.5, 1),
        200,
        &config,
        0..200,
        continue_always,
    )
    .unwrap();
    let steps_with = |layer: u32| -> std::collections::BTreeSet<u64> {
        report
            .raster
            .iter()
            .filter(|e| e.1 == layer)
            .map(|e| e.0)
            .collect()
    };
    let input_steps = steps_with(0);
    assert!(!input_steps.is_empty());
    for layer in 1..=3 {
        assert_eq!(
            steps_with(layer),
            input_steps,
            "layer {layer} fires exactly in the input's steps"
        );
    }
    assert_eq!(ann2, ann, "inc = dec = 0 leaves the weights alone");
}

#[test]
fn weights_change_only_in_rows_of_neurons_that_spiked() {
    let data = mnist(Split::Train).head(500);
    let before = random_mlp("mlp:784-60-40-10", 3);
    let mut after = before.clone();
    let config = SleepConfig {
        seed: 5,
        ..SleepConfig::mnist()
    };
    let report = sleep(&mut after, &data, 800, &config, 0..800, continue_always).unwrap();
    let dense_of = |ann: &Ann| -> Vec<Array2<f32>> {
        ann.layers
            .iter()
            .filter_map(|l| match l {
                Layer::Dense(d) => Some(d.weights.clone()),
                _ => None,
            })
            .collect()
    };
    let (w0, w1) = (dense_of(&before), dense_of(&after));
    let mut changed_rows = 0;
    for (l, (a, b)) in w0.iter().zip(&w1).enumerate() {
        let fired: std::collections::BTreeSet<u32> = report
            .raster
            .iter()
            .filter(|e| e.1 == l as u32 + 1)
            .map(|e| e.2)
            .collect();
        for j in 0..a.nrows() {
            let changed = a.row(j) != b.row(j);
            if !fired.contains(&(j as u32)) {
                assert!(!changed, "layer {l} row {j}: changed without a spike");
            }
            changed_rows += changed as usize;
        }
    }
    assert!(
        changed_rows > 0,
        "sleep changed something ({:?} spikes)",
        report.layer_spikes
    );
}

#[test]
#[allow(clippy::needless_range_loop)] // the transcription keeps the algorithm's index form
fn the_engine_agrees_with_a_direct_transcription_of_the_algorithm() {
    let data = mnist(Split::Train).head(300);
    let ann = random_mlp("mlp:784-50-30-10", 9);
    let config = SleepConfig {
        seed: 2,
        ..SleepConfig::mnist()
    };
    let steps = 400;
    let mut slept = ann.clone();
    let report = sleep(&mut slept, &data, steps, &config, 0..steps, continue_always).unwrap();

    // The algorithm written out: v ← decay·v + α·W·s; spike at v ≥ θ; reset to 0; the rule.
    let sf = scale_factors(&ann, &data).unwrap();
    let mut w: Vec<Array2<f64>> = ann
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Dense(d) => Some(d.weights.mapv(|x| x as f64)),
            _ => None,
        })
        .collect();
    let alpha: Vec<f64> =
        sf.f.iter()
            .map(|f| (config.alpha_scale * f) as f64)
            .collect();
    let theta: Vec<f64> = config.beta.iter().map(|b| *b as f64).collect();
    let mut v: Vec<Vec<f64>> = w.iter().map(|m| vec![0.0; m.nrows()]).collect();
    let input = MaskedInput::new(&data, &config).unwrap();
    let mut raster = Vec::new();
    let mut drawn = Vec::new();
    for t in 0..steps {
        drawn.clear();
        input.draw(t, &mut drawn);
        let mut s: Vec<f64> = vec![0.0; 784];
        for &i in &drawn {
            s[i as usize] = 1.0;
            raster.push((t, 0u32, i));
        }
        for l in 0..w.len() {
            let mut out = vec![0.0; w[l].nrows()];
            for j in 0..w[l].nrows() {
                let drive: f64 = (0..s.len())
                    .filter(|&i| s[i] > 0.0)
                    .map(|i| w[l][[j, i]])
                    .sum();
                v[l][j] = 0.999 * v[l][j] + alpha[l] * drive;
                if v[l][j] >= theta[l] {
                    out[j] = 1.0;
                    v[l][j] = 0.0;
                    raster.push((t, l as u32 + 1, j as u32));
                }
            }
            for j in (0..out.len()).filter(|&j| out[j] > 0.0) {
                for i in 0..s.len() {
                    let x = w[l][[j, i]];
                    let sig = sigma_released(x);
                    w[l][[j, i]] = if s[i] > 0.0 {
                        x + config.inc as f64 * sig
                    } else {
                        x - config.dec as f64 * sig
                    };
                }
            }
            s = out;
        }
    }
    raster.sort_unstable();
    let mut engine_raster = report.raster.clone();
    engine_raster.sort_unstable();
    assert!(
        raster.iter().filter(|e| e.1 > 0).count() > 20,
        "the test needs spikes"
    );
    assert_eq!(engine_raster, raster, "same spikes in the same steps");
    let got: Vec<&Array2<f32>> = slept
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Dense(d) => Some(&d.weights),
            _ => None,
        })
        .collect();
    for (l, (g, e)) in got.iter().zip(&w).enumerate() {
        for (a, b) in g.iter().zip(e.iter()) {
            assert!((*a as f64 - b).abs() < 1e-5, "layer {l}: {a} vs {b}");
        }
    }
}

#[test]
fn same_seed_gives_the_same_weights_on_1_and_2_threads() {
    // 5 000 hidden neurons: several blocks, so delivery really runs in parallel.
    let data = mnist(Split::Train).head(200);
    let ann = random_mlp("mlp:784-5000-10", 4);
    let config = SleepConfig {
        beta: vec![14.5, 38.0],
        seed: 8,
        ..SleepConfig::mnist()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut a = ann.clone();
            let r = sleep(&mut a, &data, 300, &config, 0..0, continue_always).unwrap();
            (a, r.layer_spikes)
        })
    };
    let (a1, s1) = run(1);
    let (a2, s2) = run(2);
    assert!(s1[0] > 0, "the test needs hidden spikes");
    assert_eq!(s1, s2);
    assert!(a1 == a2, "weights differ between 1 and 2 threads");
    assert!(a1 != ann, "sleep changed the weights");
}

fn expect_err(result: somnet::Result<impl std::fmt::Debug>, needles: &[&str]) {
    let msg = result.expect_err("must be refused").to_string();
    for n in needles {
        assert!(msg.contains(n), "'{msg}' should mention '{n}'");
    }
}

#[test]
fn unsupported_networks_are_refused_saying_what_src_supports() {
    let data = constant_images(0.5, 2);
    let config = SleepConfig {
        beta: vec![1.0, 1.0],
        ..SleepConfig::mnist()
    };
    let run =
        |ann: &mut Ann, config: &SleepConfig| sleep(ann, &data, 10, config, 0..0, continue_always);
    // A bias.
    let mut with_bias = arch::build(
        "mlp:784-8-10",
        &[1, 28, 28],
        10,
        &ArchOptions {
            output: Activation::Relu,
            ..ArchOptions::default()
        },
        1,
    )
    .unwrap();
    if let Layer::Dense(d) = &mut with_bias.layers[1] {
        d.bias.as_mut().unwrap()[0] = 0.5;
    }
    expect_err(
        run(&mut with_bias, &config),
        &["has a bias", "Dense and Conv2d layers without bias"],
    );
    // Pooling (convolutions sleep; pooling has no weights to change and is refused by name).
    let mut conv = Ann::new(
        vec![1, 28, 28],
        vec![
            (
                "conv".into(),
                Layer::Conv2d(Conv2d {
                    weights: ndarray::Array4::from_elem((2, 1, 3, 3), 0.1),
                    bias: None,
                    stride: (1, 1),
                    padding: Padding::Valid,
                }),
            ),
            ("r".into(), relu()),
            (
                "pool".into(),
                Layer::MaxPool2d(somnet::ann::Pool {
                    size: (2, 2),
                    stride: (2, 2),
                    padding: Padding::Valid,
                }),
            ),
            ("f".into(), Layer::Flatten),
            ("d".into(), dense(Array2::from_elem((10, 2 * 13 * 13), 0.1))),
            ("r2".into(), relu()),
        ],
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    expect_err(run(&mut conv, &config), &["'pool'", "supports"]);
    // A non-ReLU hidden activation.
    let mut linear = Ann::new(
        vec![4],
        named(vec![
            dense(Array2::from_elem((3, 4), 0.1)),
            Layer::Activation(Activation::Linear),
            dense(Array2::from_elem((2, 3), 0.1)),
            relu(),
        ]),
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    let four = Dataset::new("four", vec![0.5; 8], vec![0, 1], [1, 2, 2], classes(2)).unwrap();
    expect_err(
        sleep(&mut linear, &four, 10, &config, 0..0, continue_always),
        &["hidden", "Linear", "supports"],
    );
    // No hidden ReLU at all.
    let mut no_relu = Ann::new(
        vec![4],
        named(vec![
            dense(Array2::from_elem((3, 4), 0.1)),
            dense(Array2::from_elem((2, 3), 0.1)),
        ]),
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    expect_err(
        sleep(&mut no_relu, &four, 10, &config, 0..0, continue_always),
        &["'l0'", "not followed by a ReLU"],
    );
}

#[test]
fn out_of_range_hyper_parameters_and_empty_data_are_refused() {
    let data = constant_images(0.5, 2);
    let mut ann = random_mlp("mlp:784-8-8-10", 1);
    let base = SleepConfig::mnist();
    for (config, field) in [
        (
            SleepConfig {
                decay: 1.5,
                ..base.clone()
            },
            "sleep.decay",
        ),
        (
            SleepConfig {
                decay: 0.0,
                ..base.clone()
            },
            "sleep.decay",
        ),
        (
            SleepConfig {
                inc: -0.1,
                ..base.clone()
            },
            "sleep.inc",
        ),
        (
            SleepConfig {
                dec: f32::NAN,
                ..base.clone()
            },
            "sleep.dec",
        ),
        (
            SleepConfig {
                max_rate_hz: 0.0,
                ..base.clone()
            },
            "sleep.max_rate_hz",
        ),
        (
            SleepConfig {
                alpha_scale: -1.0,
                ..base.clone()
            },
            "sleep.alpha_scale",
        ),
        (
            SleepConfig {
                mask: Mask::Window { size: 0 },
                ..base.clone()
            },
            "sleep.mask.size",
        ),
        (
            SleepConfig {
                mask: Mask::Pixels { fraction: 1.5 },
                ..base.clone()
            },
            "sleep.mask.fraction",
        ),
        (
            SleepConfig {
                alpha: AlphaMode::Fixed(vec![1.0, 2.0]),
                ..base.clone()
            },
            "sleep.alpha",
        ),
        (
            SleepConfig {
                alpha: AlphaMode::Fixed(vec![1.0, 0.0, 2.0]),
                ..base.clone()
            },
            "sleep.alpha[1]",
        ),
        (
            SleepConfig {
                beta: vec![1.0, 0.0, 1.0],
                ..base.clone()
            },
            "sleep.beta[1]",
        ),
        (
            SleepConfig {
                beta: vec![1.0, 1.0],
                ..base.clone()
            },
            "sleep.beta",
        ),
        (
            SleepConfig {
                sigma: Sigma::Decreasing { width: 0.0 },
                ..base.clone()
            },
            "sigma.width",
        ),
        (
            SleepConfig {
                input: InputSource::MaskedSamples { samples: 0 },
                ..base.clone()
            },
            "samples",
        ),
    ] {
        expect_err(
            sleep(&mut ann, &data, 10, &config, 0..0, continue_always),
            &[field],
        );
    }
    expect_err(Sigma::parse("wobbly").map(|_| ()), &["sigma", "released"]);
    expect_err(InputSource::parse("samples:0").map(|_| ()), &["input"]);
    let empty = data.select(&[]);
    expect_err(
        sleep(&mut ann, &empty, 10, &base, 0..0, continue_always),
        &["empty"],
    );
    // An incremental task without training images.
    let train = mnist(Split::Train).head(2000);
    let test = mnist(Split::Test).head(200);
    let config = IncrementalConfig {
        tasks: vec![vec![0, 1], vec![42]],
        ..IncrementalConfig::released("mnist")
    };
    expect_err(
        run_seed(&train, &test, &config, 1, &AtomicBool::new(false), &|_| {}),
        &["task 2", "[42]", "no training images"],
    );
    let config = IncrementalConfig {
        per_task: 0,
        ..IncrementalConfig::released("mnist")
    };
    expect_err(
        run_seed(&train, &test, &config, 1, &AtomicBool::new(false), &|_| {}),
        &["per_task"],
    );
}

fn small_experiment() -> IncrementalConfig {
    IncrementalConfig {
        per_task: 1000,
        hidden: vec![64, 64],
        init: Init::Uniform { a: 0.1 },
        joint_images: Some(5000),
        joint_epochs: 5,
        raster_steps: 100,
        sleep: SleepConfig {
            length: SleepLength {
                base: 600,
                per_task: 200,
            },
            ..SleepConfig::mnist()
        },
        ..IncrementalConfig::released("mnist")
    }
}

#[test]
fn the_class_incremental_experiment_forgets_without_sleep_and_records_everything() {
    let train = mnist(Split::Train);
    let test = mnist(Split::Test).head(2000);
    let config = small_experiment();
    let run = run_seed(&train, &test, &config, 1, &AtomicBool::new(false), &|_| {})
        .unwrap()
        .unwrap();
    for curve in [&run.sleep, &run.before_sleep, &run.sequential] {
        assert_eq!(curve.accuracy.len(), 5);
        assert!(curve.per_task.iter().all(|p| p.len() == 5));
    }
    assert_eq!(run.joint.accuracy.len(), 1);
    assert_eq!(run.sleeps.len(), 5);
    assert_eq!(
        run.sleeps.iter().map(|s| s.steps).collect::<Vec<_>>(),
        vec![600, 800, 1000, 1200, 1400]
    );
    // Sequential training forgets: after task 5 the first task is gone and the last is learned.
    let last = &run.sequential.per_task[4];
    assert!(
        last[0] < 0.2 && last[4] > 0.8,
        "sequential per-task accuracy {last:?}"
    );
    assert!(
        run.sequential.accuracy[4] < 0.3,
        "{:?}",
        run.sequential.accuracy
    );
    // Training on every task at once is the ceiling.
    assert!(
        run.joint.accuracy[0] > 0.75 && run.joint.accuracy[0] > run.sequential.accuracy[4] + 0.4,
        "joint {:?}",
        run.joint.accuracy
    );
    // Before the first sleep both networks are the same one.
    assert_eq!(run.before_sleep.accuracy[0], run.sequential.accuracy[0]);
    assert!(!run.raster.is_empty() && run.raster.iter().all(|e| e.0 < 100));
    // Same seed, same numbers.
    let again = run_seed(&train, &test, &config, 1, &AtomicBool::new(false), &|_| {})
        .unwrap()
        .unwrap();
    assert_eq!(again.sleep, run.sleep);
    assert_eq!(again.sequential, run.sequential);
}

#[test]
fn a_raised_stop_flag_ends_the_experiment_without_a_result() {
    let train = mnist(Split::Train).head(5000);
    let test = mnist(Split::Test).head(200);
    let out = run_seed(
        &train,
        &test,
        &small_experiment(),
        1,
        &AtomicBool::new(true),
        &|_| {},
    )
    .unwrap();
    assert!(out.is_none());
}

#[test]
fn a_pixel_mask_keeps_each_pixel_with_its_fraction_and_spikes_by_the_formula() {
    // The PyTorch replication's mask: every pixel kept with probability 0.25, drawn every step.
    let config = SleepConfig {
        mask: Mask::Pixels { fraction: 0.25 },
        ..SleepConfig::mnist()
    };
    let input = MaskedInput::new(&constant_images(0.5, 3), &config).unwrap();
    let (mut kept, mut spikes_total) = (0usize, 0usize);
    let mut per_pixel = vec![0usize; 784];
    let mut spikes = Vec::new();
    let steps = 2000;
    for step in 0..steps {
        let image = input.image(step);
        for (i, &v) in image.iter().enumerate() {
            assert!(v == 0.0 || v == 0.5);
            if v != 0.0 {
                kept += 1;
                per_pixel[i] += 1;
            }
        }
        assert_eq!(input.window(step), ((0, 0), (28, 28)));
        spikes.clear();
        input.draw(step, &mut spikes);
        assert!(spikes.iter().all(|&i| image[i as usize] > 0.0));
        spikes_total += spikes.len();
    }
    let n = (steps as usize * 784) as f64;
    let sd = (0.25 * 0.75 / n).sqrt();
    let observed = kept as f64 / n;
    assert!((observed - 0.25).abs() < 5.0 * sd, "kept {observed}");
    // No pixel is favoured: every pixel is kept in about a quarter of the steps.
    let sd1 = (0.25 * 0.75 * steps as f64).sqrt();
    assert!(per_pixel
        .iter()
        .all(|&c| (c as f64 - 0.25 * steps as f64).abs() < 6.0 * sd1));
    // Spikes: P = 2·dt·max_rate·x among the kept pixels.
    let p = 2.0 * 0.001 * 239.515363 * 0.5;
    let observed = spikes_total as f64 / kept as f64;
    let sd = (p * (1.0 - p) / kept as f64).sqrt();
    assert!((observed - p).abs() < 5.0 * sd, "{observed} vs {p}");
}

#[test]
fn fixed_input_scales_are_used_as_given_and_measure_nothing() {
    let data = mnist(Split::Train).head(300);
    let mut ann = random_mlp("mlp:784-30-20-10", 4);
    let config = SleepConfig {
        alpha: AlphaMode::Fixed(vec![3.0, 5.0, 7.0]),
        ..SleepConfig::mnist()
    };
    let report = sleep(&mut ann, &data, 50, &config, 0..0, continue_always).unwrap();
    assert_eq!(report.alpha, vec![3.0, 5.0, 7.0]);
    assert!(report.scale.s.is_empty() && report.scale.f.is_empty());
    // Data-based scales on the same net are what the recursion gives, not the fixed values.
    let mut ann2 = random_mlp("mlp:784-30-20-10", 4);
    let data_based = sleep(
        &mut ann2,
        &data,
        50,
        &SleepConfig::mnist(),
        0..0,
        continue_always,
    )
    .unwrap();
    let expected: Vec<f32> = data_based
        .scale
        .f
        .iter()
        .map(|f| SleepConfig::mnist().alpha_scale * f)
        .collect();
    assert_eq!(data_based.alpha, expected);
}

#[test]
fn the_replication_preset_is_the_replications_code() {
    use somnet::ann::train::Loss;
    use somnet::sleep::incremental::{Preset, SleepData};
    // agbld/sleep-replay-consolidation-python (commit 2db2e95, 72.57 %): mnist_exp.py and
    // utils/sleep.py.
    let c = Preset::parse("replication").unwrap().config("mnist");
    assert_eq!(c.hidden, vec![4000, 4000]);
    assert_eq!(
        (c.lr, c.momentum, c.batch_size, c.epochs),
        (0.01, 0.5, 100, 2)
    );
    assert_eq!(
        (c.output, c.loss),
        (Activation::Softmax, Loss::CrossEntropy)
    );
    assert_eq!(c.init, Init::FanInUniform);
    assert_eq!((c.dropout, c.dropout_mode), (0.25, DropoutMode::Inverted));
    assert_eq!(c.sleep_data, SleepData::Current);
    let s = &c.sleep;
    assert_eq!((s.inc, s.dec), (0.001, 0.0001));
    assert_eq!(s.sigma, Sigma::Increasing { width: 1.0 });
    assert_eq!(s.mask, Mask::Pixels { fraction: 0.25 });
    assert_eq!(s.input, InputSource::MaskedSamples { samples: 10 });
    assert_eq!(
        s.alpha,
        AlphaMode::Fixed(vec![14.983829, 253.17746, 7.770772])
    );
    assert_eq!(s.beta, vec![14.548273, 44.560317, 38.046326]);
    assert_eq!(
        (s.decay, s.threshold, s.max_rate_hz),
        (0.999, 1.0, 239.515363)
    );
    // `iterations + task_id * int(iterations / 3)` with iterations = 500.
    assert_eq!(
        (1..=5).map(|k| s.length.after_task(k)).collect::<Vec<_>>(),
        vec![500, 666, 832, 998, 1164]
    );
    c.validate().unwrap();
    // The released driver stays the default.
    let r = Preset::parse("released").unwrap().config("mnist");
    assert_eq!(r, IncrementalConfig::released("mnist"));
    assert_eq!(
        (r.loss, r.sleep_data),
        (Loss::MseStraightThrough, SleepData::Seen)
    );
    assert!(Preset::parse("best-ever").is_err());
}

#[test]
fn sleeping_on_the_current_task_differs_from_sleeping_on_all_seen_tasks() {
    use somnet::sleep::incremental::SleepData;
    let train = mnist(Split::Train).head(6000);
    let test = mnist(Split::Test).head(300);
    let mut seen = small_experiment();
    seen.per_task = 300;
    seen.controls = false;
    seen.tasks = vec![vec![0, 1], vec![2, 3]];
    let current = IncrementalConfig {
        sleep_data: SleepData::Current,
        ..seen.clone()
    };
    let stop = AtomicBool::new(false);
    let a = run_seed(&train, &test, &seen, 1, &stop, &|_| {})
        .unwrap()
        .unwrap();
    let b = run_seed(&train, &test, &current, 1, &stop, &|_| {})
        .unwrap()
        .unwrap();
    // Task 1: the same images either way, so the same sleep.
    assert_eq!(a.sleeps[0].scale, b.sleeps[0].scale);
    assert_eq!(a.sleeps[0].layer_spikes, b.sleeps[0].layer_spikes);
    // Task 2: sleeping on (0, 1, 2, 3) or on (2, 3) alone: other input, other scale factors.
    assert_ne!(a.sleeps[1].scale, b.sleeps[1].scale);
    assert_ne!(a.sleeps[1].input_spikes, b.sleeps[1].input_spikes);
}

/// A one-pixel input that spikes every step (P = min(1, 2·dt·rate·x) = 1) into one IF neuron of
/// threshold 1 whose drive per input spike is α·w = `drive`; inc = dec = 0. Returns the steps at
/// which the neuron fires in the first `steps` steps.
fn one_neuron_spike_steps(drive: f32, steps: u64, set: &[(&str, &str)]) -> Vec<u64> {
    let mut ann = Ann::new(
        vec![1, 1, 1],
        named(vec![Layer::Flatten, dense(array![[drive]]), relu()]),
        DropoutMode::ScaleAtTest,
    )
    .unwrap();
    let data = Dataset::new("one pixel", vec![1.0], vec![0], [1, 1, 1], classes(1)).unwrap();
    let mut config = SleepConfig {
        max_rate_hz: 500.0,
        beta: vec![1.0],
        threshold: 1.0,
        decay: 1.0,
        inc: 0.0,
        dec: 0.0,
        alpha: AlphaMode::Fixed(vec![1.0]),
        ..SleepConfig::mnist()
    };
    for (k, v) in set {
        config.set(k, v).unwrap();
    }
    let report = sleep(&mut ann, &data, steps, &config, 0..steps, continue_always).unwrap();
    assert_eq!(report.input_spikes, steps, "the pixel spikes every step");
    report
        .raster
        .iter()
        .filter(|e| e.1 == 1)
        .map(|e| e.0)
        .collect()
}

#[test]
fn momentum_carries_the_drive_over_as_the_hand_computed_trace_says() {
    // Drive 0.3 per step, threshold 1, reset to 0. Without momentum v = 0.3, 0.6, 0.9, 1.2:
    // a spike every 4th step (3, 7).
    assert_eq!(one_neuron_spike_steps(0.3, 10, &[]), vec![3, 7]);
    // μ = 0.5: m_t = 0.5·m_{t−1} + 0.3 = 0.3, 0.45, 0.525, 0.5625, 0.58125, 0.590625, …
    //   v: 0.3, 0.75, 1.275 → spike at 2 (reset); 0.5625, 1.14375 → spike at 4;
    //   0.590625, 1.18594 → 6; 0.59766, 1.19648 → 8. Twice the rate: compressed time.
    assert_eq!(
        one_neuron_spike_steps(0.3, 10, &[("sleep-momentum", "0.5")]),
        vec![2, 4, 6, 8]
    );
    // Momentum 0 is the released dynamics.
    assert_eq!(
        one_neuron_spike_steps(0.3, 10, &[("sleep-momentum", "0")]),
        vec![3, 7]
    );
}

#[test]
fn adaptation_pushes_a_neuron_that_fired_away_as_the_hand_computed_trace_says() {
    // Drive 0.6, threshold 1: without adaptation v = 0.6, 1.2 → a spike every other step.
    assert_eq!(one_neuron_spike_steps(0.6, 10, &[]), vec![1, 3, 5, 7, 9]);
    // κ = 0.5, ρ = 0.5: A_t = 0.5·A_{t−1} + 0.5·s_{t−1}, subtracted from the drive.
    //   t0 v 0.6; t1 v 1.2 → spike; t2 A 0.5, v 0.1; t3 A 0.25, v 0.45; t4 A 0.125, v 0.925;
    //   t5 A 0.0625, v 1.4625 → spike; t6 A 0.53125, v 0.06875; t7 A 0.265625, v 0.403125;
    //   t8 A 0.1328125, v 0.8703125; t9 A 0.06640625, v 1.40390625 → spike.
    assert_eq!(
        one_neuron_spike_steps(0.6, 10, &[("adaptation", "0.5:0.5")]),
        vec![1, 5, 9]
    );
    // Both together: m as in the momentum trace with drive 0.6 and μ = 0.5 (0.6, 0.9, 1.05, …),
    // minus A. t0 v 0.6; t1 v 1.5 → spike; t2 m 1.05, A 0.5, v 0.55; t3 m 1.125, A 0.25,
    // v 1.425 → spike; t4 m 1.1625, A 0.625, v 0.5375; t5 m 1.18125, A 0.3125, v 1.40625 → spike.
    assert_eq!(
        one_neuron_spike_steps(
            0.6,
            6,
            &[("adaptation", "0.5:0.5"), ("sleep-momentum", "0.5")]
        ),
        vec![1, 3, 5]
    );
}

#[test]
fn sequence_replay_presents_the_newest_images_in_order() {
    // Three images of constant value 0.1, 0.2, 0.3; the last two replayed, 3 steps each.
    let mut pixels = Vec::new();
    for v in [0.1f32, 0.2, 0.3] {
        pixels.extend(std::iter::repeat_n(v, 784));
    }
    let data = Dataset::new("three", pixels, vec![0, 0, 0], [1, 28, 28], classes(1)).unwrap();
    let config = SleepConfig {
        mask: Mask::Window { size: 28 },
        input: InputSource::parse("sequence:2:3").unwrap(),
        ..SleepConfig::mnist()
    };
    let input = MaskedInput::new(&data, &config).unwrap();
    let shown: Vec<f32> = (0..9).map(|t| input.image(t)[0]).collect();
    assert_eq!(shown, vec![0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.2, 0.2, 0.2]);
    // More images asked for than the data holds: all of them.
    let config = SleepConfig {
        input: InputSource::Sequence {
            recent: 10,
            dwell: 1,
        },
        ..config
    };
    let input = MaskedInput::new(&data, &config).unwrap();
    let shown: Vec<f32> = (0..4).map(|t| input.image(t)[0]).collect();
    assert_eq!(shown, vec![0.1, 0.2, 0.3, 0.1]);
    for bad in ["sequence:0", "sequence:5:0", "sequence:x"] {
        assert!(InputSource::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn interleaved_sleep_with_one_phase_is_the_plain_run_and_shares_the_length_out() {
    let train = mnist(Split::Train).head(6000);
    let test = mnist(Split::Test).head(300);
    let mut plain = small_experiment();
    plain.per_task = 300;
    plain.controls = false;
    plain.tasks = vec![vec![0, 1], vec![2, 3]];
    let mut one = plain.clone();
    one.set("interleave", "1").unwrap();
    let mut three = plain.clone();
    three.set("interleave", "3").unwrap();
    let stop = AtomicBool::new(false);
    let run = |c: &IncrementalConfig| {
        run_seed(&train, &test, c, 1, &stop, &|_| {})
            .unwrap()
            .unwrap()
    };
    let (a, b, c) = (run(&plain), run(&one), run(&three));
    assert_eq!(a.sleep, b.sleep);
    assert_eq!(a.before_sleep, b.before_sleep);
    // Every count of every sleep (all but the wall-clock seconds).
    let counts = |r: &somnet::sleep::SleepReport| {
        (
            r.steps,
            r.input_spikes,
            r.layer_spikes.clone(),
            r.potentiations.clone(),
            r.depressions.clone(),
            r.raster.clone(),
        )
    };
    assert_eq!(
        a.sleeps.iter().map(counts).collect::<Vec<_>>(),
        b.sleeps.iter().map(counts).collect::<Vec<_>>()
    );
    // Three phases per task: 600 steps → 200 × 3, 800 → 267, 267, 266.
    assert_eq!(
        c.sleeps.iter().map(|r| r.steps).collect::<Vec<_>>(),
        vec![200, 200, 200, 267, 267, 266]
    );
    assert_eq!(c.sleep.accuracy.len(), 2, "one point per task");
    assert_ne!(c.sleep, a.sleep);
    let mut bad = plain.clone();
    bad.interleave = 0;
    expect_err(
        run_seed(&train, &test, &bad, 1, &stop, &|_| {}),
        &["interleave"],
    );
}

#[test]
fn a_shared_kernel_moves_by_the_rule_averaged_over_the_positions_that_fired() {
    use somnet::network::{Conv2dGeometry, ImageLayout};
    // One 3×3 channel, one 2×2 kernel, stride 1: outputs (0,0) (0,1) (1,0) (1,1); tap t = ky·2 + kx.
    let g = Conv2dGeometry {
        input: (1, 3, 3),
        out_channels: 1,
        kernel: (2, 2),
        stride: (1, 1),
        pad: (0, 0),
        output: (2, 2),
        input_layout: ImageLayout::ChannelsFirst,
        output_layout: ImageLayout::ChannelsFirst,
    };
    let (mut rule, state) = SleepRule::new(vec![0.0; 4], 9, 2.0, 0.5, 0.25, Sigma::RELEASED);
    let mut taps = vec![0.0f32; 4];
    // Pixels 0 = (0,0) and 4 = (1,1) fired; outputs 0 = (0,0) and 3 = (1,1) fired.
    rule.on_step(
        StepSpikes {
            step: 0,
            pre: &[0, 4],
            post: &[0, 3],
        },
        SynapsesMut::Shared {
            geometry: g,
            taps: &mut taps,
        },
    );
    // Output (0,0) reads pixels 0, 1, 3, 4 through taps 0…3: fired, silent, silent, fired.
    // Output (1,1) reads pixels 4, 5, 7, 8: fired, silent, silent, silent.
    // n = 2 positions per tap; f = 2, 0, 0, 1; σ(0) = 1:
    //   Δ = (0.5·f − 0.25·(2 − f))/2 = 0.5, −0.25, −0.25, 0.125.
    let s = state.lock();
    assert_eq!(s.weights, vec![0.5, -0.25, -0.25, 0.125]);
    assert_eq!(taps, vec![1.0, -0.5, -0.5, 0.25], "the engine keeps gain·w");
    assert_eq!((s.potentiations, s.depressions), (3, 5));
}

#[test]
#[allow(clippy::needless_range_loop)] // the transcription keeps the algorithm's index form
fn a_convolutional_network_sleeps_as_a_direct_transcription_of_the_algorithm() {
    let data = mnist(Split::Train).head(300);
    let opts = ArchOptions {
        bias: false,
        init: Init::Uniform { a: 0.1 },
        output: Activation::Relu,
        dropout_mode: DropoutMode::ScaleAtTest,
        ..ArchOptions::default()
    };
    // 1×28×28 → conv 3 × 5×5 stride 3 (8×8) → relu → flat → 10.
    let ann = arch::build("c3k5s3-relu-flat-d10-relu", &[1, 28, 28], 10, &opts, 4).unwrap();
    let config = SleepConfig {
        seed: 3,
        beta: vec![4.0, 8.0],
        ..SleepConfig::mnist()
    };
    let steps = 300;
    let mut slept = ann.clone();
    let report = sleep(&mut slept, &data, steps, &config, 0..steps, continue_always).unwrap();

    let sf = scale_factors(&ann, &data).unwrap();
    let alpha: Vec<f64> =
        sf.f.iter()
            .map(|f| (config.alpha_scale * f) as f64)
            .collect();
    let Layer::Conv2d(c) = &ann.layers[0] else {
        panic!("conv first")
    };
    let mut k = c.weights.mapv(|x| x as f64); // (3, 1, 5, 5)
    let Layer::Dense(d) = &ann.layers[3] else {
        panic!("dense fourth")
    };
    let mut w = d.weights.mapv(|x| x as f64); // (10, 192)
    let (mut v1, mut v2) = (vec![0.0f64; 192], vec![0.0f64; 10]);
    let input = MaskedInput::new(&data, &config).unwrap();
    let mut raster = Vec::new();
    let mut drawn = Vec::new();
    for t in 0..steps {
        drawn.clear();
        input.draw(t, &mut drawn);
        let mut s0 = vec![false; 784];
        for &i in &drawn {
            s0[i as usize] = true;
            raster.push((t, 0u32, i));
        }
        // Conv layer: output (o, oy, ox) = o·64 + oy·8 + ox reads pixel (oy·3 + ky, ox·3 + kx).
        let mut s1 = [false; 192];
        for o in 0..3 {
            for oy in 0..8 {
                for ox in 0..8 {
                    let mut drive = 0.0;
                    for ky in 0..5 {
                        for kx in 0..5 {
                            if s0[(oy * 3 + ky) * 28 + ox * 3 + kx] {
                                drive += k[[o, 0, ky, kx]];
                            }
                        }
                    }
                    let j = o * 64 + oy * 8 + ox;
                    v1[j] = 0.999 * v1[j] + alpha[0] * drive;
                    if v1[j] >= config.beta[0] as f64 {
                        s1[j] = true;
                        v1[j] = 0.0;
                        raster.push((t, 1, j as u32));
                    }
                }
            }
        }
        // The rule on each tap, averaged over the positions of its channel that fired.
        for o in 0..3 {
            for ky in 0..5 {
                for kx in 0..5 {
                    let (mut n, mut f) = (0.0, 0.0);
                    for oy in 0..8 {
                        for ox in 0..8 {
                            if s1[o * 64 + oy * 8 + ox] {
                                n += 1.0;
                                if s0[(oy * 3 + ky) * 28 + ox * 3 + kx] {
                                    f += 1.0;
                                }
                            }
                        }
                    }
                    if n > 0.0 {
                        let x = k[[o, 0, ky, kx]];
                        k[[o, 0, ky, kx]] = x + sigma_released(x)
                            * (config.inc as f64 * f - config.dec as f64 * (n - f))
                            / n;
                    }
                }
            }
        }
        // Dense layer, as in the dense transcription.
        for j in 0..10 {
            let drive: f64 = (0..192).filter(|&i| s1[i]).map(|i| w[[j, i]]).sum();
            v2[j] = 0.999 * v2[j] + alpha[1] * drive;
            if v2[j] >= config.beta[1] as f64 {
                v2[j] = 0.0;
                raster.push((t, 2, j as u32));
                for i in 0..192 {
                    let x = w[[j, i]];
                    w[[j, i]] = if s1[i] {
                        x + config.inc as f64 * sigma_released(x)
                    } else {
                        x - config.dec as f64 * sigma_released(x)
                    };
                }
            }
        }
    }
    raster.sort_unstable();
    let mut engine_raster = report.raster.clone();
    engine_raster.sort_unstable();
    let fired = |l: u32| raster.iter().filter(|e| e.1 == l).count();
    assert!(
        fired(1) > 20 && fired(2) > 5,
        "the test needs spikes: {} {}",
        fired(1),
        fired(2)
    );
    assert_eq!(engine_raster, raster, "same spikes in the same steps");
    let Layer::Conv2d(got) = &slept.layers[0] else {
        panic!()
    };
    assert!(
        got.weights.iter().zip(&c.weights).any(|(a, b)| a != b),
        "the kernel moved"
    );
    for (a, b) in got.weights.iter().zip(k.iter()) {
        assert!((*a as f64 - b).abs() < 1e-5, "kernel: {a} vs {b}");
    }
    let Layer::Dense(got) = &slept.layers[3] else {
        panic!()
    };
    for (a, b) in got.weights.iter().zip(w.iter()) {
        assert!((*a as f64 - b).abs() < 1e-5, "dense: {a} vs {b}");
    }
}

#[test]
fn the_best_preset_is_the_replications_training_on_the_papers_network_with_the_searched_sleep() {
    use somnet::sleep::incremental::{Preset, SleepData};
    let best = Preset::parse("best").unwrap().config("mnist");
    let replication = Preset::parse("replication").unwrap().config("mnist");
    // The paper's network, the replication's training.
    assert_eq!(best.hidden, vec![1200, 1200]);
    assert_eq!(
        (
            best.lr,
            best.loss,
            best.output,
            best.init,
            best.dropout_mode
        ),
        (
            replication.lr,
            replication.loss,
            replication.output,
            replication.init,
            replication.dropout_mode
        )
    );
    // The searched sleep (trial 18 of the second search of benches/sleep_search.sh).
    assert_eq!(best.sleep.input, InputSource::MaskedSamples { samples: 1 });
    assert_eq!((best.sleep.inc, best.sleep.dec), (0.000257992, 0.000199414));
    assert_eq!(best.sleep.momentum, 0.5);
    assert_eq!(
        best.sleep.adaptation,
        Some(somnet::sleep::Adaptation {
            strength: 0.2,
            decay: 0.9
        })
    );
    assert_eq!(best.sleep.alpha, AlphaMode::DataBased);
    assert_eq!(best.sleep.alpha_scale, 56.3578);
    assert_eq!(best.sleep_data, SleepData::Current);
    assert_eq!(best.sleep.length.after_task(5), 1335 + 4 * 529);
    assert_eq!(best.sleep.mask, Mask::Pixels { fraction: 0.25 });
    best.validate().unwrap();
    // Fashion-MNIST has its own search's winner on the same network and training.
    let fashion = Preset::parse("best").unwrap().config("fashion-mnist");
    let fashion_replication = Preset::parse("replication")
        .unwrap()
        .config("fashion-mnist");
    assert_eq!(fashion.hidden, vec![1200, 1200]);
    assert_eq!(fashion.sleep.beta, fashion_replication.sleep.beta);
    assert_eq!(
        fashion.sleep.max_rate_hz,
        fashion_replication.sleep.max_rate_hz
    );
    assert_eq!(
        fashion.sleep.input,
        InputSource::Sequence {
            recent: 500,
            dwell: 10
        }
    );
    assert_eq!(
        (fashion.sleep.inc, fashion.sleep.dec),
        (0.000311998, 0.000123808)
    );
    assert_eq!(fashion.sleep.length.after_task(2), 723 + 745);
    fashion.validate().unwrap();
    assert!(Preset::parse("worst")
        .unwrap_err()
        .to_string()
        .contains("best"));
}

#[test]
fn fixed_feature_layers_keep_their_weights_and_spike_as_without_downstream_plasticity() {
    let data = mnist(Split::Train).head(300);
    let before = random_mlp("mlp:784-60-40-10", 3);
    let run = |plastic: &str| {
        let mut config = SleepConfig {
            seed: 5,
            ..SleepConfig::mnist()
        };
        config.set("plastic", plastic).unwrap();
        let mut ann = before.clone();
        let r = sleep(&mut ann, &data, 600, &config, 0..600, continue_always).unwrap();
        (ann, r)
    };
    let dense_of = |ann: &Ann| -> Vec<Array2<f32>> {
        ann.layers
            .iter()
            .filter_map(|l| match l {
                Layer::Dense(d) => Some(d.weights.clone()),
                _ => None,
            })
            .collect()
    };
    let layer_raster = |r: &somnet::sleep::SleepReport, l: u32| -> Vec<(u64, u32)> {
        r.raster
            .iter()
            .filter(|e| e.1 == l)
            .map(|e| (e.0, e.2))
            .collect()
    };
    let w0 = dense_of(&before);
    let (head, r1) = run("last:1");
    let (two, r2) = run("last:2");
    let (all, r3) = run("all");
    let (three, _) = run("last:3");
    let w1 = dense_of(&head);
    assert_eq!(w1[0], w0[0]);
    assert_eq!(w1[1], w0[1]);
    assert_ne!(w1[2], w0[2], "the head slept");
    assert_eq!(&r1.potentiations[..2], &[0, 0]);
    assert!(r1.potentiations[2] > 0 && r1.layer_spikes[1] > 0);
    // The first hidden layer is fixed in both runs, so its spikes cannot depend on what learns
    // downstream (feed-forward); with all layers plastic they do differ.
    assert_eq!(layer_raster(&r1, 1), layer_raster(&r2, 1));
    assert_ne!(layer_raster(&r1, 1), layer_raster(&r3, 1));
    assert_eq!(dense_of(&two)[0], w0[0]);
    assert_ne!(dense_of(&two)[1], w0[1]);
    assert!(three == all, "last:3 of three layers is all of them");

    let mut config = SleepConfig::mnist();
    config.set("plastic", "last:4").unwrap();
    let mut ann = before.clone();
    expect_err(
        sleep(&mut ann, &data, 10, &config, 0..0, continue_always),
        &["sleep.plastic", "last:4", "3 weighted layers"],
    );
    config.set("plastic", "last:0").unwrap();
    expect_err(config.validate(), &["sleep.plastic", "K ≥ 1"]);
    expect_err(
        config.set("plastic", "first:2"),
        &["sleep.plastic", "last:K"],
    );
}

#[test]
fn a_head_over_ann_features_sleeps_as_the_head_alone_on_those_features() {
    let data = mnist(Split::Train).head(300);
    let before = random_mlp("mlp:784-40-10", 3);
    let mut config = SleepConfig {
        seed: 5,
        beta: vec![14.5, 38.0],
        ..SleepConfig::mnist()
    };
    config.set("plastic", "last:1").unwrap();
    config.set("fixed-layers", "ann").unwrap();
    let mut whole = before.clone();
    let r = sleep(&mut whole, &data, 500, &config, 0..0, continue_always).unwrap();

    // The same by hand: relu(A·x) for every image, over its largest value, as the image of a
    // network that is the head alone.
    let dense_at: Vec<usize> = (0..before.layers.len())
        .filter(|&i| matches!(before.layers[i], Layer::Dense(_)))
        .collect();
    let Layer::Dense(a) = &before.layers[dense_at[0]] else {
        unreachable!()
    };
    let mut features = Vec::new();
    for i in 0..data.len() {
        let x = ndarray::ArrayView1::from(data.image(i));
        features.extend(a.weights.dot(&x).mapv(|v| v.max(0.0)));
    }
    let top = features.iter().copied().fold(0.0f32, f32::max);
    assert!(top > 0.0);
    features.iter_mut().for_each(|v| *v /= top);
    let features =
        Dataset::new("f", features, data.labels.clone(), [40, 1, 1], classes(10)).unwrap();
    let head_layers: Vec<(String, Layer)> = before.layers[dense_at[1]..]
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, l)| (format!("h{i}"), l))
        .collect();
    let mut head = Ann::new(vec![40], head_layers, before.dropout_mode).unwrap();
    let head_config = SleepConfig {
        beta: vec![38.0],
        seed: 5,
        ..SleepConfig::mnist()
    };
    let rh = sleep(
        &mut head,
        &features,
        500,
        &head_config,
        0..0,
        continue_always,
    )
    .unwrap();
    assert!(
        rh.layer_spikes[0] > 0,
        "the head spiked: {:?}",
        rh.layer_spikes
    );
    assert_eq!(r.layer_spikes, rh.layer_spikes);
    let cut = dense_at[1];
    assert_eq!(
        whole.layers[..cut],
        before.layers[..cut],
        "the features stay fixed"
    );
    assert_eq!(whole.layers[cut..], head.layers[..]);
    assert_ne!(whole.layers[cut], before.layers[cut], "the head slept");

    // Without plastic=last:K there are no fixed layers to run as an ANN.
    let mut bad = SleepConfig::mnist();
    bad.set("fixed-layers", "ann").unwrap();
    expect_err(bad.validate(), &["sleep.fixed-layers", "plastic=last:K"]);
    expect_err(
        bad.set("fixed-layers", "frozen"),
        &["sleep.fixed-layers", "spiking or ann"],
    );
}

#[test]
fn fixed_features_may_pool_and_carry_biases_that_spiking_sleep_refuses() {
    // The paper's CIFAR-10 protocol: a convolutional feature extractor with pooling and biases,
    // and a dense head that sleeps.
    let opts = ArchOptions {
        bias: true,
        init: Init::Uniform { a: 0.1 },
        output: Activation::Relu,
        ..ArchOptions::default()
    };
    let mut before = arch::build(
        "c8k3-relu-mp2-flat-d32-relu-dcls-out",
        &[1, 28, 28],
        10,
        &opts,
        2,
    )
    .unwrap();
    for l in before.layers.iter_mut() {
        match l {
            Layer::Conv2d(c) => c.bias.as_mut().unwrap().fill(0.01),
            Layer::Dense(d) => d.bias.as_mut().unwrap().fill(0.01),
            _ => {}
        }
    }
    let data = mnist(Split::Train).head(200);
    let mut config = SleepConfig {
        seed: 1,
        beta: vec![10.0, 14.5, 38.0],
        ..SleepConfig::mnist()
    };
    config.set("plastic", "last:2").unwrap();
    let mut ann = before.clone();
    expect_err(
        sleep(&mut ann, &data, 10, &config, 0..0, continue_always),
        &["has a bias"],
    );
    let mut no_bias = before.clone();
    for l in no_bias.layers.iter_mut() {
        if let Layer::Conv2d(c) = l {
            c.bias = None;
        }
    }
    expect_err(
        sleep(&mut no_bias, &data, 10, &config, 0..0, continue_always),
        &["maxpool2d"],
    );
    config.set("fixed-layers", "ann").unwrap();
    // Biases of the head are refused all the same (the rule has no bias term).
    let mut ann = before.clone();
    expect_err(
        sleep(&mut ann, &data, 10, &config, 0..0, continue_always),
        &["has a bias"],
    );
    // Without the head's biases it sleeps, and only the head changes.
    let mut ann = before.clone();
    for l in ann.layers.iter_mut().skip(4) {
        if let Layer::Dense(d) = l {
            d.bias = None;
        }
    }
    let fixed_part = ann.layers[..4].to_vec();
    let head_before = ann.layers[4..].to_vec();
    let r = sleep(&mut ann, &data, 400, &config, 0..0, continue_always).unwrap();
    assert_eq!(r.layer_sizes, vec![32, 10]);
    assert_eq!(ann.layers[..4], fixed_part[..]);
    assert_ne!(ann.layers[4..], head_before[..]);
}

/// MNIST digits as CIFAR-10-shaped images: 3 × 32 × 32, the digit centred in every channel.
fn mnist_as_cifar(d: &Dataset) -> Dataset {
    let mut images = Vec::with_capacity(d.len() * 3 * 32 * 32);
    for i in 0..d.len() {
        let img = d.image(i);
        for _ in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let inside = (2..30).contains(&y) && (2..30).contains(&x);
                    images.push(if inside {
                        img[(y - 2) * 28 + x - 2]
                    } else {
                        0.0
                    });
                }
            }
        }
    }
    Dataset::new(
        "cifar-shaped",
        images,
        d.labels.clone(),
        [3, 32, 32],
        classes(10),
    )
    .unwrap()
}

#[test]
fn the_cifar_protocol_sleeps_a_dense_head_over_a_pooling_feature_extractor() {
    // The paper's CIFAR-10 protocol on CIFAR-shaped data (3 × 32 × 32): a convolution with max
    // pooling and biases learns the features, only the dense head sleeps, over their ANN output.
    let train = mnist_as_cifar(&mnist(Split::Train).head(6000));
    let test = mnist_as_cifar(&mnist(Split::Test).head(500));
    let mut config = IncrementalConfig {
        per_task: 400,
        controls: false,
        raster_steps: 0,
        ..IncrementalConfig::replication("cifar-10")
    };
    for (k, v) in [
        ("arch", "c8k3s2-relu-mp2-flat-d64-relu-dcls-out"),
        ("beta", "10,14.5,38"),
        ("plastic", "last:2"),
        ("fixed-layers", "ann"),
        ("sleep-base", "300"),
        ("sleep-per-task", "100"),
    ] {
        config.set(k, v).unwrap();
    }
    config.validate().unwrap();
    let run = run_seed(&train, &test, &config, 1, &AtomicBool::new(false), &|_| {})
        .unwrap()
        .unwrap();
    assert_eq!(run.sleeps.len(), 5);
    // The report describes the head: 64 hidden and 10 output neurons, and they spiked.
    for s in &run.sleeps {
        assert_eq!(s.layer_sizes, vec![64, 10]);
    }
    assert!(run.sleeps.iter().any(|s| s.layer_spikes[0] > 0));
    // Each task is learned before its sleep (the features are trained, not random).
    let learned = &run.before_sleep.per_task[0];
    assert!(learned[0] > 0.9, "task 1 after its training: {learned:?}");
}
