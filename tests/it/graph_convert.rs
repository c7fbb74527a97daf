//! Converting graphs: residual junctions, concatenations, global pooling and zero padding on the
//! engine, against the normalised ANN they stand for.

use ndarray::{array, Array2, Axis};
use somnet::ann::{Activation, Ann, Dense, DropoutMode, Layer, Node};
use somnet::convert::options::{ConvertOptions, InitialPotential, Readout};
use somnet::convert::pipeline::convert;
use somnet::data::Dataset;
use somnet::network::StateVar;

fn dense(w: Array2<f32>, b: Option<ndarray::Array1<f32>>) -> Layer {
    Layer::Dense(Dense {
        weights: w,
        bias: b,
    })
}

fn relu() -> Layer {
    Layer::Activation(Activation::Relu)
}

/// A flat data set of `x` (one row per sample), every label 0.
fn flat(x: &Array2<f32>) -> Dataset {
    let n = x.nrows();
    Dataset::new(
        "x",
        x.iter().copied().collect(),
        vec![0; n],
        [x.ncols(), 1, 1],
        vec!["0".into()],
    )
    .unwrap()
}

/// The output of every layer of `ann` for `x`.
fn activations(ann: &Ann, x: &Array2<f32>) -> Vec<Array2<f32>> {
    ann.forward_all(x.view()).unwrap()
}

fn exact_options() -> ConvertOptions {
    ConvertOptions {
        percentile: 100.0,
        initial: InitialPotential::Zero,
        ..ConvertOptions::default()
    }
}

#[test]
fn a_residual_blocks_rates_equal_the_normalised_activations_within_the_analytic_bound() {
    // x → s = relu(A·x + a) → out = relu(B·s + b + s): a block with an identity shortcut behind
    // a first layer. All weights and biases non-negative, so no membrane ever goes below zero; an
    // IF neuron with reset by subtraction and per-step input in [0, 1] then fires exactly
    // ⌊Σ input⌋ times, within 1/T of its mean input. The shortcut carries λ_s/λ_out after
    // normalisation (Hu et al. 2021), so the junction's rate is the normalised B·s + b + s.
    let ann = Ann::graph(
        vec![3],
        vec![
            (
                "a".into(),
                dense(
                    array![[0.6, 0.3, 0.1], [0.2, 0.5, 0.4]],
                    Some(array![0.05, 0.1]),
                ),
                vec![Node::Input],
            ),
            ("s".into(), relu(), vec![Node::Layer(0)]),
            (
                "b".into(),
                dense(array![[0.2, 0.1], [0.05, 0.2]], Some(array![0.02, 0.01])),
                vec![Node::Layer(1)],
            ),
            (
                "sum".into(),
                Layer::Add,
                vec![Node::Layer(2), Node::Layer(1)],
            ),
            ("out".into(), relu(), vec![Node::Layer(3)]),
        ],
        DropoutMode::Inverted,
    )
    .unwrap();
    let x = array![
        [1.0f32, 0.8, 0.3],
        [0.2, 0.9, 0.7],
        [0.5, 0.1, 0.0],
        [0.9, 0.9, 0.9]
    ];
    let options = exact_options();
    let snn = convert(&ann, &flat(&x), &options).unwrap();
    // The shortcut is explicit and carries λ_s/λ_out.
    let names = &snn.ann.names;
    let k = names.iter().position(|n| n == "sum.shortcut1").unwrap();
    let Layer::Dense(shortcut) = &snn.ann.layers[k] else {
        panic!("dense shortcut")
    };
    let lambda = &snn.record.layer_scales;
    let gain = lambda[0][0] / lambda[1][0];
    assert!((shortcut.weights[[0, 0]] - gain).abs() < 1e-6);
    assert_eq!(shortcut.weights[[0, 1]], 0.0);
    // For the exact count every per-step input of the junction must be ≤ 1 even when all of s
    // fires in one step: λ_out is set to that worst case (≥ the largest activation, so still a
    // valid normalisation) instead of the measured maximum.
    let explicit = somnet::convert::shortcuts::explicit_shortcuts(&ann).unwrap();
    let raw = activations(&explicit, &x);
    let s_at = explicit.names.iter().position(|n| n == "s").unwrap();
    let lambda_s = raw[s_at].iter().copied().fold(0.0f32, f32::max);
    let Layer::Dense(b_raw) = &explicit.layers[2] else {
        panic!("b")
    };
    let lambda_out = (0..2)
        .map(|j| b_raw.weights.row(j).sum() * lambda_s + lambda_s + b_raw.bias.as_ref().unwrap()[j])
        .fold(0.0f32, f32::max);
    let normalised = somnet::convert::normalize::apply_channel_scales(
        &explicit,
        &[vec![lambda_s], vec![lambda_out], vec![lambda_out]],
    )
    .unwrap();
    let snn = somnet::convert::pipeline::Converted {
        original: None,
        ann: normalised,
        record: snn.record,
    };
    let names = &snn.ann.names;
    let gain = lambda_s / lambda_out;
    let Layer::Dense(b) = &snn.ann.layers[names.iter().position(|n| n == "b").unwrap()] else {
        panic!()
    };
    for j in 0..2 {
        let worst = b.weights.row(j).sum() + gain + b.bias.as_ref().unwrap()[j];
        assert!(
            worst <= 1.0 + 1e-6,
            "per-step input of junction neuron {j} can reach {worst}"
        );
    }
    let acts = activations(&snn.ann, &x);
    let (i_s, i_out) = (
        names.iter().position(|n| n == "s").unwrap(),
        names.iter().position(|n| n == "out").unwrap(),
    );
    let mut model = somnet::convert::build::build_with(&snn.ann, &options).unwrap();
    assert_eq!(model.layers.len(), 2, "two populations: s and the junction");
    for t in [16u64, 100, 1000] {
        // The junction reads s through B and the shortcut: its error bound adds theirs.
        let reach: Vec<f32> = (0..2)
            .map(|j| b.weights.row(j).iter().map(|w| w.abs()).sum::<f32>() + gain)
            .collect();
        for (row, sample) in x.axis_iter(Axis(0)).enumerate() {
            let mut counts = vec![vec![0u32; 2]; 2];
            model.present(sample).unwrap();
            for step in 0..t {
                model.step(row as u64, step).unwrap();
                for (c, &pop) in counts.iter_mut().zip(&model.layers) {
                    for &i in model.net.population(pop).last_spikes() {
                        c[i as usize] += 1;
                    }
                }
            }
            for (layer, index, bound) in [
                (0usize, i_s, vec![1.0f32; 2]),
                (1, i_out, reach.iter().map(|r| 1.0 + r).collect()),
            ] {
                for j in 0..2 {
                    let rate = counts[layer][j] as f32 / t as f32;
                    let want = acts[index][[row, j]];
                    assert!(
                        (rate - want).abs() <= bound[j] / t as f32 + 1e-6,
                        "T = {t}, sample {row}, layer {layer}, neuron {j}: rate {rate}, \
                         activation {want}, bound {}",
                        bound[j] / t as f32
                    );
                }
            }
        }
    }
}

/// The Keras residual fixture (ZeroPadding2D, identity and downsample shortcuts, Concatenate,
/// global pooling, batch norm) and its five inputs.
fn keras_resnet() -> (Ann, Array2<f32>) {
    let model = somnet::io::keras::load(&crate::import::fixture("keras2_resnet.h5")).unwrap();
    let (x, _) = crate::import::io_pair("keras2_resnet");
    (model.ann, x)
}

fn image_set(ann: &Ann, x: &Array2<f32>) -> Dataset {
    let s = &ann.input_shape;
    Dataset::new(
        "x",
        x.iter().copied().collect(),
        vec![0; x.nrows()],
        [s[0], s[1], s[2]],
        (0..ann.output_features()).map(|c| c.to_string()).collect(),
    )
    .unwrap()
}

/// The largest error of the output membranes (V/T) against the normalised logits at T = 64 and
/// T = 2048, and whether every decision at T = 2048 is the ANN's.
fn logit_errors(ann: &Ann, x: &Array2<f32>, options: &ConvertOptions) -> Vec<f32> {
    let snn = convert(ann, &image_set(ann, x), options).unwrap();
    let acts = activations(&snn.ann, x);
    // The output layer's own values: the logits before a softmax.
    let out = snn
        .ann
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense(_)))
        .unwrap();
    let logits = &acts[out];
    let mut model = somnet::convert::build::build_with(&snn.ann, options).unwrap();
    let mut errors = Vec::new();
    for t in [64u64, 2048] {
        let mut worst = 0.0f32;
        for (row, sample) in x.axis_iter(Axis(0)).enumerate() {
            let run = model.run_sample(sample, row as u64, t).unwrap();
            let v = model.net.state(model.output(), StateVar::V).unwrap();
            for (j, v) in v.iter().enumerate() {
                worst = worst.max((v / t as f32 - logits[[row, j]]).abs());
            }
            if t == 2048 {
                let ann_class = somnet::ann::argmax(&logits.row(row).to_vec());
                assert_eq!(run.decisions.last().copied().flatten(), Some(ann_class));
            }
        }
        errors.push(worst);
    }
    errors
}

#[test]
fn residual_fixtures_convert_and_their_output_membranes_converge_to_the_normalised_logits() {
    // Membrane readout integrates the output layer's input: after T steps V/T is the normalised
    // logits up to the rate errors of the layers below, which shrink as 1/T.
    let options = ConvertOptions {
        readout: Readout::Membrane,
        ..exact_options()
    };
    let (ann, x) = keras_resnet();
    let snn = convert(&ann, &image_set(&ann, &x), &options).unwrap();
    let plan = somnet::convert::plan::plan(&snn.ann).unwrap();
    let names: Vec<&str> = plan.pops.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["stem", "b1c1", "b1add", "b2c1", "b2add", "side", "gap", "out"],
        "a population per spiking value; the junctions' inputs project into them"
    );
    assert_eq!(
        plan.pops[2].layers,
        ["b1c2", "b1add.shortcut1"],
        "the identity shortcut is explicit"
    );
    let torch = somnet::io::load_model(&crate::import::fixture("torch_resnet.h5"))
        .unwrap()
        .0
        .ann;
    let (torch_x, _) = crate::import::io_pair("torch_resnet");
    for (name, ann, x) in [("keras", &ann, &x), ("torch", &torch, &torch_x)] {
        let errors = logit_errors(ann, x, &options);
        assert!(
            errors[1] < 0.02,
            "{name}: logit error at T = 2048: {}",
            errors[1]
        );
        assert!(
            errors[1] < errors[0] / 8.0,
            "{name}: the error shrinks with T (32× more steps): {errors:?}"
        );
    }
    // The pipeline's evaluation reports one row per population, each priced at the MACs of the
    // ANN layers whose work it does.
    let data = image_set(&ann, &x);
    let e = somnet::convert::pipeline::evaluate(&snn, &data, 32, &options, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(e.layers.len(), plan.pops.len());
    let priced = somnet::convert::pipeline::converted_layers(&ann, &snn.ann);
    let macs = |name: &str| {
        ann.summary()
            .into_iter()
            .find(|l| l.name == name)
            .unwrap()
            .macs
    };
    assert_eq!(priced[2], ("b1add".to_string(), macs("b1c2")));
    assert_eq!(priced[4].1, macs("b2c2") + macs("b2down"));
}

#[test]
fn graphs_the_converter_cannot_run_are_refused_by_name() {
    let (ann, x) = keras_resnet();
    let data = image_set(&ann, &x);
    // Dale's principle splits chains only so far.
    let e = convert(
        &ann,
        &data,
        &ConvertOptions {
            dale: true,
            ..exact_options()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Dale's principle") && e.contains("graph"), "{e}");
    // A junction reading a pre-activation that another layer reads too.
    let ann = Ann::graph(
        vec![2],
        vec![
            ("a".into(), dense(Array2::eye(2), None), vec![Node::Input]),
            ("ra".into(), relu(), vec![Node::Layer(0)]),
            (
                "b".into(),
                dense(Array2::eye(2), None),
                vec![Node::Layer(1)],
            ),
            (
                "sum".into(),
                Layer::Add,
                vec![Node::Layer(2), Node::Layer(0)],
            ),
            ("out".into(), relu(), vec![Node::Layer(3)]),
        ],
        DropoutMode::Inverted,
    )
    .unwrap();
    let e = convert(&ann, &flat(&array![[1.0f32, 0.5]]), &exact_options())
        .unwrap_err()
        .to_string();
    for part in ["Add 'sum'", "'a' (dense)", "also feeds 'ra'"] {
        assert!(e.contains(part), "{part} in: {e}");
    }
}

#[test]
fn a_converted_graph_gives_the_same_counts_in_lanes_as_alone_with_poisson_input() {
    // Lanes share the junctions' and concatenations' projections; each sample's numbers must not
    // depend on its lane, its neighbours or B, with seeded Poisson input drawn per sample.
    let (ann, x) = keras_resnet();
    let data = image_set(&ann, &x);
    let options = ConvertOptions {
        input: somnet::convert::options::InputCoding::Poisson,
        ..exact_options()
    };
    let snn = convert(&ann, &data, &options).unwrap();
    let count = |batch| {
        somnet::convert::evaluate::count_batched(&snn.ann, &data, 0, 40, &options, batch, |_| {
            std::ops::ControlFlow::Continue(())
        })
        .unwrap()
    };
    let alone = count(1);
    assert!(alone.synaptic_ops > 0);
    assert_eq!(count(3), alone);
    assert_eq!(count(7), alone);
}

#[test]
fn global_pooling_folds_exactly_into_the_dense_layer_after_it() {
    let (ann, x) = keras_resnet();
    let folded = somnet::convert::fold::fold_average_pooling(
        &somnet::convert::fold::fold_batchnorm(&ann).unwrap(),
    )
    .unwrap();
    assert!(folded.layers.iter().all(|l| l.kind() != "globalavgpool2d"));
    let (a, b) = (
        ann.forward(x.view()).unwrap(),
        folded.forward(x.view()).unwrap(),
    );
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
    // Converted with pooling folded, the global pooling is no population.
    let options = ConvertOptions {
        avg_pool: somnet::convert::options::AvgPoolChoice::Fold,
        ..exact_options()
    };
    let snn = convert(&ann, &image_set(&ann, &x), &options).unwrap();
    let plan = somnet::convert::plan::plan(&snn.ann).unwrap();
    assert!(plan.pops.iter().all(|p| p.name != "gap"));
    assert_eq!(plan.pops.last().unwrap().name, "out");
}

#[test]
fn bias_calibration_of_a_graph_corrects_every_spiking_population_front_to_back() {
    // At T = 8 the spiking layers of the Keras ResNet fall short of the normalised activations;
    // calibration moves each population's bias (a junction's: its first branch's) by the mean
    // shortfall of its channels (Li et al. 2021), which a second pass finds smaller.
    let (ann, x) = keras_resnet();
    let data = image_set(&ann, &x);
    let options = exact_options();
    let snn = convert(&ann, &data, &options).unwrap();
    let once = somnet::convert::pipeline::calibrate_biases(&snn, &data, 8, &options).unwrap();
    let layers = &once.record.bias_calibration.as_ref().unwrap().layers;
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["stem", "b1c1", "b1c2", "b2c1", "b2c2", "side", "out"]
    );
    // The stem's shift, recomputed here: per channel, the mean over images and positions of
    // the clipped normalised activation minus the spike rate over 8 steps.
    let stem_relu = snn.ann.names.iter().position(|n| n == "stem_relu").unwrap();
    let acts = activations(&snn.ann, &x);
    let (c, per) = (4usize, 64usize);
    let mut target = vec![0.0f64; c];
    for row in acts[stem_relu].axis_iter(Axis(0)) {
        for (f, a) in row.iter().enumerate() {
            target[f / per] += a.clamp(0.0, 1.0) as f64;
        }
    }
    let mut model = somnet::convert::build::build_with(&snn.ann, &options).unwrap();
    let mut rate = vec![0.0f64; c];
    for (s, sample) in x.axis_iter(Axis(0)).enumerate() {
        model.present(sample).unwrap();
        for t in 0..8 {
            model.step(s as u64, t).unwrap();
            // Hidden image populations are numbered channels-last.
            for &i in model.net.population(model.layers[0]).last_spikes() {
                rate[i as usize % c] += 1.0 / 8.0;
            }
        }
    }
    let n = (x.nrows() * per) as f64;
    for ch in 0..c {
        let want = ((target[ch] - rate[ch]) / n) as f32;
        assert!(
            (layers[0].bias_shift[ch] - want).abs() < 1e-6,
            "channel {ch}: {} vs {want}",
            layers[0].bias_shift[ch]
        );
    }
    // The junction's shift lands on its first branch's bias; the shortcut has none.
    let bias =
        |a: &Ann, name: &str| match &a.layers[a.names.iter().position(|n| n == name).unwrap()] {
            Layer::Conv2d(c) => c.bias.clone(),
            _ => panic!("{name}"),
        };
    let moved = bias(&once.ann, "b1c2").unwrap() - bias(&snn.ann, "b1c2").unwrap();
    for (m, s) in moved.iter().zip(&layers[2].bias_shift) {
        assert!((m - s).abs() < 1e-6);
    }
    assert!(bias(&once.ann, "b1add.shortcut1").is_none());
}
