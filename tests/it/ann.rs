//! The ANN core: every layer against hand-computed cases, every backward pass against finite
//! differences, training that learns, and thread-count determinism.

use ndarray::{array, Array1, Array2, Array4};
use std::ops::ControlFlow;

use somnet::ann::arch::{build, ArchOptions};
use somnet::ann::train::{loss_and_gradients, train, Loss, Optimizer, TrainConfig};
use somnet::ann::{Activation, Ann, BatchNorm, Conv2d, Dense, DropoutMode, Layer, Padding, Pool};
use somnet::data::{mnist, Split};

fn net(input: Vec<usize>, layers: Vec<Layer>) -> Ann {
    let named = layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| (format!("l{i}"), l))
        .collect();
    Ann::new(input, named, DropoutMode::Inverted).unwrap()
}

fn conv(weights: Array4<f32>, bias: Option<Array1<f32>>, stride: usize, padding: Padding) -> Layer {
    Layer::Conv2d(Conv2d {
        weights,
        bias,
        stride: (stride, stride),
        padding,
    })
}

#[test]
fn conv_valid_matches_hand_computation() {
    // 3×3 input 1..9, 2×2 kernel [[1, 0], [0, −1]], bias 0.5: y = x[i,j] − x[i+1,j+1] + 0.5 = −3.5.
    let k = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, 0.0, 0.0, -1.0]).unwrap();
    let ann = net(
        vec![1, 3, 3],
        vec![conv(k, Some(array![0.5]), 1, Padding::Valid)],
    );
    let y = ann
        .forward(
            Array2::from_shape_vec((1, 9), (1..=9).map(|v| v as f32).collect())
                .unwrap()
                .view(),
        )
        .unwrap();
    assert_eq!(y, array![[-3.5, -3.5, -3.5, -3.5]]);
}

#[test]
fn conv_same_stride_2_follows_tensorflow_padding() {
    // TF 'same', 4×4 input, 3×3 kernel, stride 2: out = ⌈4/2⌉ = 2, total padding
    // (2−1)·2 + 3 − 4 = 1, split 0 before and 1 after. With an all-ones kernel on 1..16:
    // y00 = rows 0–2 × cols 0–2 = 54; y01 = rows 0–2 × cols 2–3 = 45; y10 = rows 2–3 × cols 0–2 = 72;
    // y11 = rows 2–3 × cols 2–3 = 54.
    let k = Array4::ones((1, 1, 3, 3));
    let ann = net(vec![1, 4, 4], vec![conv(k, None, 2, Padding::Same)]);
    let x = Array2::from_shape_vec((1, 16), (1..=16).map(|v| v as f32).collect()).unwrap();
    assert_eq!(
        ann.forward(x.view()).unwrap(),
        array![[54.0, 45.0, 72.0, 54.0]]
    );
    // 5×5, stride 2: out 3, padding 2 split 1/1; the centre output sees rows/cols 1–3.
    let ann = net(
        vec![1, 5, 5],
        vec![conv(Array4::ones((1, 1, 3, 3)), None, 2, Padding::Same)],
    );
    let x = Array2::from_shape_vec((1, 25), (1..=25).map(|v| v as f32).collect()).unwrap();
    let y = ann.forward(x.view()).unwrap();
    assert_eq!(
        y[[0, 4]],
        7.0 + 8.0 + 9.0 + 12.0 + 13.0 + 14.0 + 17.0 + 18.0 + 19.0
    );
    assert_eq!(
        y[[0, 0]],
        1.0 + 2.0 + 6.0 + 7.0,
        "top-left sees one row and column of padding"
    );
}

#[test]
fn a_same_kernel_wider_than_the_input_sees_only_the_input() {
    // 5×5 kernel, 'same', on a 2×1 input (found by fuzzing: kernel columns that reach no input
    // column panicked). Padding 2 on every side; only the kernel's centre column (2, 7, 12, 17,
    // 22) touches the input. Output row 0 sees input rows 0, 1 through kernel rows 2, 3; output
    // row 1 through kernel rows 1, 2.
    let k = Array4::from_shape_vec((1, 1, 5, 5), (0..25).map(|v| v as f32).collect()).unwrap();
    let ann = net(vec![1, 2, 1], vec![conv(k, None, 1, Padding::Same)]);
    let y = ann.forward(array![[1.0f32, 10.0]].view()).unwrap();
    assert_eq!(y, array![[12.0 + 17.0 * 10.0, 7.0 + 12.0 * 10.0]]);
}

#[test]
fn multi_channel_conv_sums_over_input_channels() {
    // Two input channels, two filters: filter 0 = channel 0 identity, filter 1 = channel 0 + 2·channel 1.
    let mut k = Array4::zeros((2, 2, 1, 1));
    k[[0, 0, 0, 0]] = 1.0;
    k[[1, 0, 0, 0]] = 1.0;
    k[[1, 1, 0, 0]] = 2.0;
    let ann = net(vec![2, 1, 2], vec![conv(k, None, 1, Padding::Valid)]);
    let y = ann
        .forward(array![[1.0f32, 2.0, 10.0, 20.0]].view())
        .unwrap();
    assert_eq!(y, array![[1.0, 2.0, 21.0, 42.0]]);
}

#[test]
fn pooling_matches_hand_computation() {
    let x =
        array![[1.0f32, 5.0, 2.0, 2.0, 3.0, 0.0, 2.0, 1.0, 9.0, 9.0, 4.0, 4.0, 9.0, 9.0, 4.0, 4.0]];
    let p = Pool {
        size: (2, 2),
        stride: (2, 2),
        padding: Padding::Valid,
    };
    let avg = net(vec![1, 4, 4], vec![Layer::AvgPool2d(p)]);
    assert_eq!(
        avg.forward(x.view()).unwrap(),
        array![[2.25, 1.75, 9.0, 4.0]]
    );
    let max = net(vec![1, 4, 4], vec![Layer::MaxPool2d(p)]);
    assert_eq!(max.forward(x.view()).unwrap(), array![[5.0, 2.0, 9.0, 4.0]]);
    // 'same' average pooling on 3×3 with a 2×2 window, stride 2: edge windows average only real cells.
    let p = Pool {
        size: (2, 2),
        stride: (2, 2),
        padding: Padding::Same,
    };
    let avg = net(vec![1, 3, 3], vec![Layer::AvgPool2d(p)]);
    let x = array![[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]];
    assert_eq!(avg.forward(x.view()).unwrap(), array![[3.0, 4.5, 7.5, 9.0]]);
}

#[test]
fn batchnorm_softmax_and_dropout_modes_in_inference() {
    let bn = BatchNorm {
        gamma: array![2.0, 1.0],
        beta: array![1.0, 0.0],
        mean: array![1.0, -1.0],
        var: array![4.0, 1.0],
        eps: 0.0,
        momentum: 0.99,
    };
    let ann = net(vec![2, 1, 1], vec![Layer::BatchNorm(bn)]);
    assert_eq!(
        ann.forward(array![[3.0f32, 0.0]].view()).unwrap(),
        array![[3.0, 1.0]]
    );
    let sm = net(vec![3], vec![Layer::Activation(Activation::Softmax)]);
    let y = sm.forward(array![[0.0f32, 1.0, 2.0]].view()).unwrap();
    let z = 1.0 + 1f32.exp() + 2f32.exp();
    for (k, e) in [1.0, 1f32.exp(), 2f32.exp()].iter().enumerate() {
        assert!((y[[0, k]] - e / z).abs() < 1e-6);
    }
    let mut drop = net(vec![2], vec![Layer::Dropout { rate: 0.25 }]);
    assert_eq!(
        drop.forward(array![[4.0f32, 8.0]].view()).unwrap(),
        array![[4.0, 8.0]]
    );
    drop.dropout_mode = DropoutMode::ScaleAtTest;
    assert_eq!(
        drop.forward(array![[4.0f32, 8.0]].view()).unwrap(),
        array![[3.0, 6.0]]
    );
}

#[test]
fn lenet_parameter_and_mac_counts() {
    let ann = build("lenet", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
    // conv 16·25+16, conv 32·16·9+32, dense 800·128+128, dense 128·10+10.
    assert_eq!(ann.n_params(), 416 + 4640 + 102_528 + 1290);
    // 24²·16·25 + 10²·32·144 + 800·128 + 128·10.
    assert_eq!(ann.macs(), 230_400 + 460_800 + 102_400 + 1280);
    let bn = build("bn-cnn", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
    let shapes = bn.shapes().unwrap();
    assert_eq!(shapes[3], vec![16, 13, 13]);
    assert_eq!(
        shapes[4],
        vec![32, 7, 7],
        "stride-2 'same' conv: ⌈13/2⌉ = 7"
    );
    assert_eq!(shapes[10], vec![32, 3, 3]);
}

/// Central finite differences against the analytic gradients on a sample of parameters.
pub(crate) fn check_gradients(mut ann: Ann, loss: Loss, seed: u64) {
    let n = 4;
    let features = ann.input_features();
    let mut rng = somnet::rng::stream(seed, somnet::rng::Purpose::User, 0, 0, 0);
    let x = Array2::from_shape_fn((n, features), |_| somnet::rng::uniform01(&mut rng) as f32);
    let labels: Vec<u8> = (0..n).map(|i| (i % ann.output_features()) as u8).collect();
    let (_, grads) = loss_and_gradients(&mut ann, x.view(), &labels, loss, 7, 0).unwrap();
    let eval = |a: &Ann| {
        let mut a = a.clone();
        loss_and_gradients(&mut a, x.view(), &labels, loss, 7, 0)
            .unwrap()
            .0
    };
    let (mut checked, mut kinks) = (0, 0);
    for (li, layer_grads) in grads.iter().enumerate() {
        for (pi, g) in layer_grads.iter().enumerate() {
            for idx in (0..g.len()).step_by((g.len() / 7).max(1)) {
                let numeric = |h: f32| {
                    let (mut plus, mut minus) = (ann.clone(), ann.clone());
                    *param(&mut plus.layers[li], pi, idx) += h;
                    *param(&mut minus.layers[li], pi, idx) -= h;
                    (eval(&plus) - eval(&minus)) / (2.0 * h as f64)
                };
                let (n1, n2) = (numeric(2e-3), numeric(1e-3));
                // A ReLU or max-pool kink inside ±h makes the two step sizes disagree: skip it.
                if (n1 - n2).abs() > 2e-3 + 0.05 * n1.abs().max(n2.abs()) {
                    kinks += 1;
                    continue;
                }
                let analytic = g[idx] as f64;
                let tol = 1e-3 + 2e-2 * n2.abs().max(analytic.abs());
                assert!(
                    (n2 - analytic).abs() < tol,
                    "layer {} ({}) param {pi}[{idx}]: numeric {n2}, analytic {analytic}",
                    li,
                    ann.layers[li].kind()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 10 && kinks * 5 < checked,
        "{checked} checked, {kinks} skipped at kinks"
    );
}

fn param(layer: &mut Layer, pi: usize, idx: usize) -> &mut f32 {
    match (layer, pi) {
        (Layer::Dense(d), 0) => &mut d.weights.as_slice_mut().unwrap()[idx],
        (Layer::Dense(d), 1) => &mut d.bias.as_mut().unwrap()[idx],
        (Layer::Conv2d(c), 0) => &mut c.weights.as_slice_mut().unwrap()[idx],
        (Layer::Conv2d(c), 1) => &mut c.bias.as_mut().unwrap()[idx],
        (Layer::BatchNorm(b), 0) => &mut b.gamma[idx],
        (Layer::BatchNorm(b), 1) => &mut b.beta[idx],
        _ => unreachable!(),
    }
}

#[test]
fn gradients_of_conv_same_stride_maxpool_dense_match_finite_differences() {
    let opts = ArchOptions {
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    let ann = build(
        "c3k3s2same-relu-mp2-flat-d5-relu-d3-softmax",
        &[2, 7, 7],
        3,
        &opts,
        3,
    )
    .unwrap();
    check_gradients(ann, Loss::CrossEntropy, 1);
}

#[test]
fn gradients_of_batchnorm_avgpool_and_dropout_match_finite_differences() {
    let opts = ArchOptions {
        init: somnet::ann::init::Init::HeNormal,
        ..Default::default()
    };
    let ann = build(
        "c4k2-bn-relu-ap2-flat-d6-bn-relu-do0.3-d3-softmax",
        &[1, 6, 6],
        3,
        &opts,
        4,
    )
    .unwrap();
    check_gradients(ann, Loss::CrossEntropy, 2);
}

#[test]
fn gradients_of_mse_mlp_without_bias_match_finite_differences() {
    let opts = ArchOptions {
        bias: false,
        output: Activation::Relu,
        dropout: 0.25,
        dropout_mode: DropoutMode::ScaleAtTest,
        init: somnet::ann::init::Init::HeUniform,
        qcfs: None,
    };
    let ann = build("mlp:12-8-8-4", &[12], 4, &opts, 5).unwrap();
    check_gradients(ann, Loss::Mse, 3);
    let ann = build(
        "flat-d6-linear-d4-softmax-d3-out",
        &[12],
        3,
        &ArchOptions::default(),
        6,
    )
    .unwrap();
    check_gradients(ann, Loss::CrossEntropy, 4); // softmax inside the network, not fused with the loss
}

fn mnist_subset(n_train: usize, n_test: usize) -> (somnet::data::Dataset, somnet::data::Dataset) {
    (
        crate::common::mnist(Split::Train).head(n_train),
        crate::common::mnist(Split::Test).head(n_test),
    )
}

#[test]
fn training_learns_mnist_subsets() {
    // 3 000 training images, 2 epochs: a plain MLP passes 85 % on 1 000 test images (chance: 10 %),
    // the sleep-replay configuration (no bias, ReLU output, MSE, SGD 0.1/0.5, dropout ×(1−p) at test)
    // passes 80 %.
    let (tr, te) = mnist_subset(3000, 1000);
    let (_, acc) = crate::common::train_quick("mlp:784-128-10", 1, &tr, Some(&te));
    let acc = acc.unwrap();
    assert!(acc > 0.85, "MLP test accuracy {acc}");
    // The sleep-replay configuration (no bias, ReLU output, MSE, SGD 0.1/0.5, U(±0.01), dropout
    // scaled by (1 − p) at test) on the first task of the class-incremental experiment: the first
    // training images of classes 0 and 1 (the spec: 5 000), 2 epochs; > 95 % on their test images.
    let dir = somnet::data::default_dir().join("mnist");
    let task = mnist::load_mnist(&dir, Split::Train)
        .unwrap()
        .first_n_of_classes(&[0, 1], 5000);
    let task_test = mnist::load_mnist(&dir, Split::Test)
        .unwrap()
        .filter_classes(&[0, 1]);
    let src = ArchOptions {
        bias: false,
        output: Activation::Relu,
        dropout: 0.25,
        dropout_mode: DropoutMode::ScaleAtTest,
        init: somnet::ann::init::Init::Uniform { a: 0.01 },
        qcfs: None,
    };
    let mut ann = build("mlp:784-1200-1200-10", &[1, 28, 28], 10, &src, 1).unwrap();
    let cfg = TrainConfig {
        epochs: 2,
        batch_size: 100,
        loss: Loss::Mse,
        optimizer: Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.5,
        },
        seed: 1,
        shuffle: true,
    };
    let log = train(&mut ann, &task, Some(&task_test), &cfg, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let acc = log.epochs.last().unwrap().test_accuracy.unwrap();
    assert!(
        acc > 0.95,
        "sleep-replay MLP accuracy on classes 0/1: {acc}"
    );
}

#[test]
fn training_is_identical_on_1_and_2_threads() {
    let (tr, _) = mnist_subset(400, 0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut ann = build(
                "c4k3-bn-relu-mp2-flat-d16-relu-do0.2-d10-softmax",
                &[1, 28, 28],
                10,
                &ArchOptions::default(),
                2,
            )
            .unwrap();
            let cfg = TrainConfig {
                epochs: 1,
                batch_size: 32,
                loss: Loss::CrossEntropy,
                optimizer: Optimizer::adam(1e-3),
                seed: 9,
                shuffle: true,
            };
            train(&mut ann, &tr, None, &cfg, |_| ControlFlow::Continue(())).unwrap();
            ann
        })
    };
    let (a, b) = (run(1), run(2));
    for (i, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        assert!(
            la == lb,
            "layer {i} ({}) differs between 1 and 2 threads",
            a.names[i]
        );
    }
}

#[test]
fn bad_specs_and_settings_are_refused() {
    let o = ArchOptions::default();
    let e = build("mlp:100-10", &[1, 28, 28], 10, &o, 0).unwrap_err();
    assert!(e.to_string().contains("784"), "{e}");
    assert!(build("mlp:784-10", &[1, 28, 28], 3, &o, 0)
        .unwrap_err()
        .to_string()
        .contains("3 classes"));
    assert!(build("c8k3-d10-out", &[1, 28, 28], 10, &o, 0)
        .unwrap_err()
        .to_string()
        .contains("flat"));
    assert!(build("c8q3", &[1, 28, 28], 10, &o, 0)
        .unwrap_err()
        .to_string()
        .contains("token 1"));
    assert!(build("c8k40-flat-d10-out", &[1, 28, 28], 10, &o, 0)
        .unwrap_err()
        .to_string()
        .contains("does not fit"));
    assert!(build("mlp:784-x-10", &[1, 28, 28], 10, &o, 0).is_err());
    let mut ann = build(
        "mlp:4-3",
        &[4],
        3,
        &ArchOptions {
            output: Activation::Relu,
            ..o
        },
        0,
    )
    .unwrap();
    let data = somnet::data::Dataset::new(
        "d",
        vec![0.0; 8],
        vec![0, 1],
        [1, 1, 4],
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    let mut cfg = TrainConfig {
        epochs: 1,
        batch_size: 2,
        loss: Loss::CrossEntropy,
        optimizer: Optimizer::adam(1e-3),
        seed: 0,
        shuffle: false,
    };
    assert!(
        train(&mut ann, &data, None, &cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("softmax")
    );
    cfg.loss = Loss::Mse;
    cfg.optimizer = Optimizer::Sgd {
        lr: -1.0,
        momentum: 0.5,
    };
    assert!(
        train(&mut ann, &data, None, &cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("learning rate")
    );
    cfg.optimizer = Optimizer::Sgd {
        lr: 0.1,
        momentum: 1.5,
    };
    assert!(
        train(&mut ann, &data, None, &cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("momentum = 1.5")
    );
    // Issue 14: each Adam setting is named when it is the wrong one (not always β₁).
    for (beta1, beta2, eps, named) in [
        (1.0, 0.999, 1e-7, "beta1 = 1"),
        (0.9, -0.5, 1e-7, "beta2 = -0.5"),
        (0.9, 0.999, 0.0, "eps = 0"),
    ] {
        cfg.optimizer = Optimizer::Adam {
            lr: 1e-3,
            beta1,
            beta2,
            eps,
        };
        let e = train(&mut ann, &data, None, &cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(named), "{e}");
    }
    cfg.optimizer = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.5,
    };
    let empty = data.head(0);
    assert!(
        train(&mut ann, &empty, None, &cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    let d = Dense {
        weights: array![[f32::NAN]],
        bias: None,
    };
    assert!(Ann::new(
        vec![1],
        vec![("fc".into(), Layer::Dense(d))],
        DropoutMode::Inverted
    )
    .unwrap_err()
    .to_string()
    .contains("layer 'fc' weights[0]"));
}

#[test]
fn straight_through_mse_skips_the_output_relu_where_the_exact_gradient_is_zero() {
    // One Dense 2→2 without bias and a ReLU output; sample x = (1, 2), label 0.
    // Pre-activations z = W·x = (−1·1 + 0·2, 0.5·1 + 0.25·2) = (−1, 1): unit 0 is clamped to 0.
    let w = array![[-1.0f32, 0.0], [0.5, 0.25]];
    let make = || {
        Ann::new(
            vec![2],
            vec![
                (
                    "fc".into(),
                    Layer::Dense(Dense {
                        weights: w.clone(),
                        bias: None,
                    }),
                ),
                ("out".into(), Layer::Activation(Activation::Relu)),
            ],
            DropoutMode::Inverted,
        )
        .unwrap()
    };
    let x = array![[1.0f32, 2.0]];
    let (loss, exact) = loss_and_gradients(&mut make(), x.view(), &[0], Loss::Mse, 1, 0).unwrap();
    let (loss_st, st) =
        loss_and_gradients(&mut make(), x.view(), &[0], Loss::MseStraightThrough, 1, 0).unwrap();
    // y = (0, 1), t = (1, 0): loss ½·(1 + 1) = 1 either way.
    assert_eq!((loss, loss_st), (1.0, 1.0));
    // dL/dy = y − t = (−1, 1). Exact: unit 0's gradient stops at the ReLU; row 1 gets 1·x.
    assert_eq!(exact[0][0], vec![0.0, 0.0, 1.0, 2.0]);
    // Straight through (DeepLearnToolbox's d{n} = −e): row 0 gets −1·x as well.
    assert_eq!(st[0][0], vec![-1.0, -2.0, 1.0, 2.0]);
}

#[test]
fn fan_in_uniform_draws_within_one_over_root_fan_in() {
    use somnet::ann::init::Init;
    let mut rng = somnet::rng::stream(3, somnet::rng::Purpose::Weights, 0, 0, 0);
    let mut w = vec![0.0f32; 40_000];
    Init::FanInUniform.fill(&mut w, 400, 100, &mut rng);
    let bound = 1.0 / 400f32.sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound));
    let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(max > 0.99 * bound, "max {max} vs {bound}");
    // Uniform: variance bound²/3.
    let var = w.iter().map(|v| (v * v) as f64).sum::<f64>() / w.len() as f64;
    assert!((var / (bound as f64 * bound as f64 / 3.0) - 1.0).abs() < 0.03);
    assert_eq!(Init::parse("torch").unwrap(), Init::FanInUniform);
}
