//! Graph networks: Add, Concatenate, global average pooling and zero padding against hand
//! computation, backward through them against finite differences, the graph checks, files, and
//! batch-norm folding on a graph.

use ndarray::{array, Array1, Array2, Array4};

use somnet::ann::train::Loss;
use somnet::ann::{
    Activation, Ann, BatchNorm, Conv2d, Dense, DropoutMode, Layer, Node, Pad, Padding,
};

fn relu() -> Layer {
    Layer::Activation(Activation::Relu)
}

fn conv(seed: u64, co: usize, ci: usize, k: usize, stride: usize, padding: Padding) -> Layer {
    let mut rng = somnet::rng::stream(seed, somnet::rng::Purpose::User, 1, 0, 0);
    let scale = (2.0 / (ci * k * k) as f32).sqrt();
    Layer::Conv2d(Conv2d {
        weights: Array4::from_shape_fn((co, ci, k, k), |_| {
            (somnet::rng::uniform01(&mut rng) as f32 * 2.0 - 1.0) * scale
        }),
        bias: Some(Array1::from_shape_fn(co, |_| {
            somnet::rng::uniform01(&mut rng) as f32 * 0.2 - 0.1
        })),
        stride: (stride, stride),
        padding,
    })
}

fn dense(seed: u64, out: usize, inp: usize) -> Layer {
    let mut rng = somnet::rng::stream(seed, somnet::rng::Purpose::User, 2, 0, 0);
    Layer::Dense(Dense {
        weights: Array2::from_shape_fn((out, inp), |_| {
            somnet::rng::uniform01(&mut rng) as f32 * 2.0 - 1.0
        }),
        bias: Some(Array1::zeros(out)),
    })
}

/// A layer of a test graph: name, layer, inputs.
type Spec = (&'static str, Layer, Vec<Node>);

fn graph(input: Vec<usize>, layers: Vec<Spec>) -> somnet::Result<Ann> {
    Ann::graph(
        input,
        layers
            .into_iter()
            .map(|(n, l, i)| (n.to_string(), l, i))
            .collect(),
        DropoutMode::Inverted,
    )
}

use Node::{Input, Layer as L};

#[test]
fn merges_pooling_and_padding_match_hand_computation() {
    // Input [2, 2, 2]: channel 0 = [[1, 2], [3, 4]], channel 1 = [[5, 6], [7, 8]].
    let x = array![[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]];
    let pad = Pad {
        top: 1,
        bottom: 0,
        left: 0,
        right: 2,
    };
    let ann = graph(
        vec![2, 2, 2],
        vec![
            ("pad", Layer::ZeroPad2d(pad), vec![Input]),
            ("gap", Layer::GlobalAvgPool2d, vec![L(0)]),
            ("gap_in", Layer::GlobalAvgPool2d, vec![Input]),
            ("sum", Layer::Add, vec![L(1), L(2), L(2)]),
            ("cat", Layer::Concatenate, vec![L(3), L(2)]),
        ],
    )
    .unwrap();
    let shapes = ann.shapes().unwrap();
    assert_eq!(shapes[0], vec![2, 3, 4]);
    assert_eq!(shapes[4], vec![4]);
    let mut outs = Vec::new();
    ann.forward_each(x.view(), |_, y| outs.push(y.clone()))
        .unwrap();
    // Channel 0 padded: a zero row on top, two zero columns on the right.
    assert_eq!(
        outs[0].row(0).as_slice().unwrap()[..12],
        [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0]
    );
    // The mean over the padded 3×4 map counts the zeros: 10/12 and 26/12.
    assert_eq!(outs[1], array![[10.0 / 12.0, 26.0 / 12.0]]);
    assert_eq!(outs[2], array![[2.5, 6.5]]);
    let sum = array![[10.0f32 / 12.0 + 2.5 + 2.5, 26.0f32 / 12.0 + 6.5 + 6.5]];
    assert_eq!(outs[3], sum);
    assert_eq!(
        outs[4],
        array![[sum[[0, 0]], sum[[0, 1]], 2.5, 6.5]],
        "channels of the first input, then the second"
    );
}

#[test]
fn a_residual_block_computes_its_formula() {
    // y = relu(x + W2·relu(W1·x)) with one-channel 1×1 "convolutions" as dense layers.
    let ann = graph(
        vec![2],
        vec![
            (
                "fc1",
                Layer::Dense(Dense {
                    weights: array![[1.0, -1.0], [2.0, 0.0]],
                    bias: None,
                }),
                vec![Input],
            ),
            ("r1", relu(), vec![L(0)]),
            (
                "fc2",
                Layer::Dense(Dense {
                    weights: array![[0.5, 0.0], [-1.0, 1.0]],
                    bias: Some(array![0.0, -3.0]),
                }),
                vec![L(1)],
            ),
            ("sum", Layer::Add, vec![L(2), Input]),
            ("r2", relu(), vec![L(3)]),
        ],
    )
    .unwrap();
    assert!(!ann.is_chain());
    // x = (1, 3): W1·x = (−2, 2) → relu (0, 2); W2·(0, 2) + b = (0, −1); + x = (1, 2).
    // x = (2, −4): W1·x = (6, 4) → (6, 4); W2 → (3, −5); + x = (5, −9) → (5, 0).
    let y = ann
        .forward(array![[1.0f32, 3.0], [2.0, -4.0]].view())
        .unwrap();
    assert_eq!(y, array![[1.0, 2.0], [5.0, 0.0]]);
}

/// A small ResNet-style graph: padded conv stem, a block with an identity shortcut, a block with a
/// strided 1×1 downsample shortcut, a concatenation of two branches, global pooling, a dense head.
fn resnet_like(seed: u64) -> Ann {
    let bn = |n: usize, s: u64| {
        let mut b = BatchNorm::identity(n);
        b.gamma = Array1::from_shape_fn(n, |i| 0.8 + 0.1 * ((i as u64 + s) % 4) as f32);
        b.beta = Array1::from_shape_fn(n, |i| 0.05 * ((i as u64 + s) % 3) as f32);
        Layer::BatchNorm(b)
    };
    let same = Padding::Same;
    graph(
        vec![2, 6, 6],
        vec![
            (
                "pad",
                Layer::ZeroPad2d(Pad {
                    top: 1,
                    bottom: 1,
                    left: 1,
                    right: 1,
                }),
                vec![Input],
            ),
            ("stem", conv(seed, 3, 2, 3, 1, Padding::Valid), vec![L(0)]), // 1
            ("stem_relu", relu(), vec![L(1)]),                            // 2
            ("b1c1", conv(seed + 1, 3, 3, 3, 1, same), vec![L(2)]),       // 3
            ("b1bn1", bn(3, 1), vec![L(3)]),                              // 4
            ("b1r1", relu(), vec![L(4)]),                                 // 5
            ("b1c2", conv(seed + 2, 3, 3, 3, 1, same), vec![L(5)]),       // 6
            ("b1add", Layer::Add, vec![L(6), L(2)]),                      // 7
            ("b1out", relu(), vec![L(7)]),                                // 8
            ("b2c1", conv(seed + 3, 4, 3, 3, 2, same), vec![L(8)]),       // 9
            ("b2r1", relu(), vec![L(9)]),                                 // 10
            ("b2c2", conv(seed + 4, 4, 4, 3, 1, same), vec![L(10)]),      // 11
            (
                "b2down",
                conv(seed + 5, 4, 3, 1, 2, Padding::Valid),
                vec![L(8)],
            ), // 12
            ("b2add", Layer::Add, vec![L(11), L(12)]),                    // 13
            ("b2out", relu(), vec![L(13)]),                               // 14
            (
                "side",
                conv(seed + 6, 2, 3, 1, 2, Padding::Valid),
                vec![L(8)],
            ), // 15
            ("cat", Layer::Concatenate, vec![L(14), L(15)]),              // 16
            ("gap", Layer::GlobalAvgPool2d, vec![L(16)]),                 // 17
            ("fc", dense(seed + 7, 3, 6), vec![L(17)]),                   // 18
            (
                "softmax",
                Layer::Activation(Activation::Softmax),
                vec![L(18)],
            ),
        ],
    )
    .unwrap()
}

#[test]
fn gradients_through_add_concatenate_pooling_and_padding_match_finite_differences() {
    // Every parameter before a merge gets its gradient only through the merge's backward pass
    // (the stem's through two Adds, a Concatenate, the padding and the pooling).
    super::ann::check_gradients(resnet_like(11), Loss::CrossEntropy, 5);
}

#[test]
fn graphs_train_and_reload_from_files() {
    let ann = resnet_like(3);
    assert_eq!(ann.shapes().unwrap()[16], vec![6, 3, 3]);
    let path = crate::common::scratch("graph.h5");
    somnet::io::schema::save(&path, &ann, serde_json::json!({})).unwrap();
    let back = somnet::io::schema::load(&path).unwrap().ann;
    std::fs::remove_file(&path).ok();
    assert_eq!(back, ann);
    // A chain is stored without input lists (files as before graphs existed).
    let chain = somnet::ann::arch::build("mlp:4-3", &[4], 3, &Default::default(), 1).unwrap();
    somnet::io::schema::save(&path, &chain, serde_json::json!({})).unwrap();
    let file = hdf5_metno::File::open(&path).unwrap();
    assert!(file.group("layers/000").unwrap().attr("inputs").is_err());
    drop(file);
    std::fs::remove_file(&path).ok();
}

#[test]
fn folding_batch_norm_in_a_graph_keeps_the_function() {
    let ann = resnet_like(5);
    let folded = somnet::convert::fold::fold_batchnorm(&ann).unwrap();
    assert_eq!(folded.layers.len(), ann.layers.len() - 1);
    assert!(folded.layers.iter().all(|l| l.kind() != "batchnorm"));
    let x = Array2::from_shape_fn((3, 72), |(i, j)| ((i * 72 + j) % 11) as f32 / 10.0);
    let (a, b) = (
        ann.forward(x.view()).unwrap(),
        folded.forward(x.view()).unwrap(),
    );
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
    // A batch norm after a convolution that another layer also reads cannot be folded.
    let shared = graph(
        vec![1, 4, 4],
        vec![
            ("c", conv(1, 2, 1, 3, 1, Padding::Same), vec![Input]),
            ("bn", Layer::BatchNorm(BatchNorm::identity(2)), vec![L(0)]),
            ("sum", Layer::Add, vec![L(1), L(0)]),
        ],
    )
    .unwrap();
    let err = somnet::convert::fold::fold_batchnorm(&shared)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'bn'") && err.contains("also feeds 'sum'"),
        "{err}"
    );
}

#[test]
fn malformed_graphs_are_refused_by_name() {
    let d = |o, i| dense(1, o, i);
    let cases: Vec<(Vec<Spec>, &str)> = vec![
        (
            vec![("a", d(3, 4), vec![Input]), ("b", d(3, 4), vec![L(1)])],
            "layer 'b' reads layer 'b', which comes after it",
        ),
        (
            vec![("a", d(3, 4), vec![Input]), ("b", d(3, 3), vec![L(7)])],
            "layer #7, which does not exist",
        ),
        (
            vec![("a", d(3, 4), vec![Input]), ("b", d(3, 4), vec![Input])],
            "layer 'a' (dense) feeds no other layer",
        ),
        (
            vec![
                ("a", d(3, 4), vec![Input]),
                ("b", d(2, 4), vec![Input]),
                ("s", Layer::Add, vec![L(0), L(1)]),
            ],
            "layer 's' (add): its inputs must have one shape, got [3] and [2]",
        ),
        (
            vec![("a", d(3, 4), vec![Input]), ("s", Layer::Add, vec![L(0)])],
            "layer 's' (add) joins two or more inputs, it is given 1",
        ),
        (
            vec![("a", d(3, 4), vec![Input, Input])],
            "layer 'a' (dense) takes one input, it is given 2",
        ),
        (vec![("a", d(3, 4), vec![])], "layer 'a' reads nothing"),
        (
            vec![("g", Layer::GlobalAvgPool2d, vec![Input])],
            "layer 'g' (global average pooling) needs a [C, H, W] input",
        ),
    ];
    for (layers, needle) in cases {
        let err = graph(vec![4], layers).unwrap_err().to_string();
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
    }
    let err = graph(
        vec![1, 2, 2],
        vec![
            (
                "p",
                Layer::ZeroPad2d(Pad {
                    top: 1,
                    ..Default::default()
                }),
                vec![Input],
            ),
            ("c", Layer::Concatenate, vec![L(0), Input]),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("layer 'c' (concatenate): inputs [1, 3, 2] and [1, 2, 2] differ in more than the channel axis"), "{err}");
    // Parts of somnet that take chains only refuse a graph naming the junction.
    let ann = resnet_like(1);
    let calib = somnet::data::Dataset::new(
        "c",
        vec![0.5; 72],
        vec![0],
        [2, 6, 6],
        (0..3).map(|c| c.to_string()).collect(),
    )
    .unwrap();
    let _ = calib;
    let err = somnet::convert::to_nir::to_nir(&ann, &Default::default(), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("NIR export"), "{err}");
    assert!(
        err.contains("layer 'b1add' (add) reads 'b1c2', 'stem_relu'"),
        "{err}"
    );
}

#[test]
fn the_named_resnets_are_he_et_al_s_cifar_networks() {
    use somnet::ann::arch::{build, ArchOptions};
    let options = ArchOptions {
        bias: false,
        ..ArchOptions::default()
    };
    // ResNet-20 has 0.27 M parameters (He et al., CVPR 2016, Table 6; their shortcuts add no
    // parameters, the projections here add 2 560 weights and batch norm its scales and shifts).
    let r20 = build("resnet20", &[3, 32, 32], 10, &options, 1).unwrap();
    let convs = r20.layers.iter().filter(|l| l.kind() == "conv2d").count();
    assert_eq!(
        convs,
        19 + 2,
        "19 3×3 convolutions and 2 projection shortcuts"
    );
    let weights: usize = r20
        .layers
        .iter()
        .filter(|l| matches!(l.kind(), "conv2d" | "dense"))
        .map(|l| l.n_params())
        .sum();
    assert!(
        (weights as f64 - 270e3).abs() < 0.02 * 270e3,
        "{weights} weights"
    );
    assert_eq!(r20.layers.iter().filter(|l| l.kind() == "add").count(), 9);
    // ResNet-8 on 28×28: 28 → 14 → 7 with 'same' strided convolutions, then global pooling.
    let r8 = build("resnet-small", &[1, 28, 28], 10, &ArchOptions::default(), 1).unwrap();
    let shapes = r8.shapes().unwrap();
    let gap = r8
        .layers
        .iter()
        .position(|l| l.kind() == "globalavgpool2d")
        .unwrap();
    assert_eq!(shapes[gap - 1], vec![64, 7, 7]);
    assert_eq!(shapes.last().unwrap(), &vec![10]);
    assert!(!r8.is_chain());
    // VGG-small is a chain ending in global pooling and one output per class.
    let vgg = build("vgg-small", &[3, 32, 32], 7, &ArchOptions::default(), 1).unwrap();
    assert!(vgg.is_chain());
    assert_eq!(vgg.shapes().unwrap().last().unwrap(), &vec![7]);
    for bad in ["resnet9", "resnet2", "rb0", "c8k3same-rb8s0"] {
        assert!(build(bad, &[1, 28, 28], 10, &options, 1).is_err(), "{bad}");
    }
}
