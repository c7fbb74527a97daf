//! NIR files: the published example graphs read with every field in place, somnet's writer read
//! back unchanged, nested graphs inlined, and bad files refused by name.

use std::path::{Path, PathBuf};

use somnet::io::nir::{read, write, Graph, Neuron, NeuronKind, Node, Padding};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/nir")
        .join(name)
}

/// The NIR paper's exact LIF solution (rows: input current, membrane, spike) and its input as
/// one sample, (1, T, 1).
fn exact_lif() -> (Vec<Vec<f64>>, ndarray::Array3<f32>) {
    let text = std::fs::read_to_string(fixture("lif_exact.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let input = ndarray::Array3::from_shape_fn((1, rows.len(), 1), |(_, k, _)| rows[k][0] as f32);
    (rows, input)
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::common::scratch("nir");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn the_published_lif_example_reads_with_its_parameters() {
    let g = read(&fixture("lif_norse.nir")).unwrap();
    assert_eq!(g.version.as_deref(), Some("0.1.1"));
    assert_eq!(g.nodes.len(), 4);
    assert_eq!(
        g.edges,
        vec![
            ("input".to_string(), "0".to_string()),
            ("0".into(), "1".into()),
            ("1".into(), "output".into())
        ]
    );
    let Node::Neuron(lif) = &g.nodes["1"] else {
        panic!("node 1 is {}", g.nodes["1"].kind())
    };
    assert_eq!(lif.kind, NeuronKind::Lif);
    assert_eq!(lif.shape(), vec![1]);
    assert!((lif.tau_mem.as_ref().unwrap()[0] - 0.0025).abs() < 1e-9);
    assert!((lif.v_threshold.as_ref().unwrap()[0] - 0.1).abs() < 1e-7);
    // Written before v_reset existed.
    assert!(lif.v_reset.is_none());
    assert_eq!(g.nodes["input"], Node::Input { shape: vec![1] });
}

#[test]
fn the_published_sinabs_cnn_reads_layer_by_layer() {
    let g = read(&fixture("cnn_sinabs.nir")).unwrap();
    assert_eq!(g.nodes.len(), 15);
    assert_eq!(g.edges.len(), 14);
    let kinds: Vec<&str> = (0..13).map(|i| g.nodes[&i.to_string()].kind()).collect();
    assert_eq!(
        kinds,
        [
            "Conv2d",
            "IF",
            "Conv2d",
            "IF",
            "SumPool2d",
            "Conv2d",
            "IF",
            "SumPool2d",
            "Flatten",
            "Affine",
            "IF",
            "Affine",
            "IF"
        ]
    );
    let Node::Conv {
        weight,
        stride,
        padding,
        dilation,
        groups,
        input_shape,
        ..
    } = &g.nodes["0"]
    else {
        unreachable!()
    };
    assert_eq!(weight.shape(), &[16, 2, 5, 5]);
    assert_eq!(
        (stride.as_slice(), padding, dilation.as_slice(), *groups),
        (
            [2, 2].as_slice(),
            &Padding::Explicit(vec![1, 1]),
            [1, 1].as_slice(),
            1
        )
    );
    assert_eq!(input_shape.as_deref(), Some([34, 34].as_slice()));
    let Node::Neuron(n) = &g.nodes["1"] else {
        unreachable!()
    };
    assert_eq!((n.kind, n.shape()), (NeuronKind::If, vec![16, 16, 16]));
    assert_eq!(
        g.nodes["8"],
        Node::Flatten {
            start_dim: 0,
            end_dim: -1,
            input_type: Some(vec![8, 4, 4])
        }
    );
    assert_eq!(
        g.nodes["input"],
        Node::Input {
            shape: vec![2, 34, 34]
        }
    );
}

#[test]
fn a_nested_graph_is_inlined_with_its_recurrent_edges() {
    // The published nested file names a node 'lif' in its subgraph's edges that is stored as
    // 'lif1': nir.read refuses it, and so does somnet, naming the edge.
    let published = fixture("braille_noDelay_bias_zero_subgraph.nir");
    let e = read(&published).unwrap().flatten().unwrap_err().to_string();
    assert!(
        e.contains("NIR graph 'lif1': edge input -> lif names 'lif'"),
        "{e}"
    );
    // With the edges mended (written by somnet, read back) it inlines.
    let mut nested = read(&published).unwrap();
    let Node::Graph(sub) = nested.nodes.get_mut("lif1").unwrap() else {
        unreachable!()
    };
    for (a, b) in sub.edges.iter_mut() {
        for end in [a, b] {
            if end == "lif" {
                *end = "lif1".into();
            }
        }
    }
    let path = scratch("nested.nir");
    write(&path, &nested).unwrap();
    let flat = read(&path).unwrap().flatten().unwrap();
    assert_eq!(flat.nodes["lif1.input"], Node::PassThrough);
    assert_eq!(flat.nodes["input"], Node::Input { shape: vec![12] });
    // fc1 now feeds the subgraph's input, the subgraph's output feeds fc2, and the recurrent
    // cycle stays inside.
    for edge in [
        ("fc1", "lif1.input"),
        ("lif1.output", "fc2"),
        ("lif1.lif1", "lif1.lin"),
        ("lif1.lin", "lif1.lif1"),
    ] {
        assert!(
            flat.edges.contains(&(edge.0.into(), edge.1.into())),
            "{edge:?} missing from {:?}",
            flat.edges
        );
    }
    let Node::Neuron(cuba) = &flat.nodes["lif1.lif1"] else {
        unreachable!()
    };
    assert_eq!((cuba.kind, cuba.len()), (NeuronKind::CubaLif, 38));
}

#[test]
fn what_somnet_writes_reads_back_the_same() {
    for name in [
        "cnn_sinabs.nir",
        "braille_noDelay_bias_zero.nir",
        "braille_noDelay_bias_zero_subgraph.nir",
    ] {
        let g = read(&fixture(name)).unwrap();
        let path = scratch(name);
        write(&path, &g).unwrap();
        let mut back = read(&path).unwrap();
        assert_eq!(back.version.as_deref(), Some(somnet::io::nir::NIR_VERSION));
        back.version = g.version.clone();
        // Parameters go out in single precision.
        assert_eq!(back, single_precision(g), "{name}");
    }
}

fn single_precision(mut g: Graph) -> Graph {
    for node in g.nodes.values_mut() {
        match node {
            Node::Neuron(n) => round_neuron(n),
            Node::Graph(sub) => *sub = single_precision(sub.clone()),
            _ => {}
        }
    }
    g
}

fn round_neuron(n: &mut Neuron) {
    let f = |a: &mut ndarray::ArrayD<f64>| a.mapv_inplace(|x| x as f32 as f64);
    f(&mut n.r);
    for a in [
        &mut n.tau_mem,
        &mut n.tau_syn,
        &mut n.v_leak,
        &mut n.v_threshold,
        &mut n.v_reset,
        &mut n.w_in,
    ]
    .into_iter()
    .flatten()
    {
        f(a);
    }
}

/// A one-LIF graph with `edit` applied to the LIF node's group after writing.
fn edited(name: &str, edit: impl FnOnce(&hdf5_metno::Group)) -> PathBuf {
    let path = scratch(name);
    std::fs::copy(fixture("lif_norse.nir"), &path).unwrap();
    let file = hdf5_metno::File::append(&path).unwrap();
    edit(&file.group("node/nodes/1").unwrap());
    drop(file);
    path
}

fn error_of(path: &Path) -> String {
    read(path)
        .and_then(|g| g.flatten())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_files_are_refused_by_file_node_and_field() {
    // Not a NIR file at all.
    let e = error_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mlp.h5"));
    assert!(e.contains("mlp.h5") && e.contains("not a NIR file"), "{e}");
    // Unknown primitive.
    let p = edited("unknown.nir", |g| {
        g.unlink("type").unwrap();
        let v: hdf5_metno::types::VarLenUnicode = "Izhikevich".parse().unwrap();
        g.new_dataset::<hdf5_metno::types::VarLenUnicode>()
            .create("type")
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    });
    let e = error_of(&p);
    assert!(
        e.contains("/node/nodes/1") && e.contains("unknown NIR primitive 'Izhikevich'"),
        "{e}"
    );
    // Missing field.
    let e = error_of(&edited("missing.nir", |g| g.unlink("tau").unwrap()));
    assert!(
        e.contains("/node/nodes/1") && e.contains("missing field 'tau'"),
        "{e}"
    );
    // An extra field nir.read would refuse too.
    let e = error_of(&edited("extra.nir", |g| {
        g.new_dataset_builder()
            .with_data(&[1.0f32])
            .create("tau_syn")
            .unwrap();
    }));
    assert!(e.contains("unknown field 'tau_syn'"), "{e}");
    // Parameters of different shapes.
    let e = error_of(&edited("shape.nir", |g| {
        g.unlink("r").unwrap();
        g.new_dataset_builder()
            .with_data(&[1.0f32, 1.0])
            .create("r")
            .unwrap();
    }));
    assert!(e.contains("has shape [1] but r has [2]"), "{e}");
    // An edge to a node that does not exist.
    let path = scratch("dangling.nir");
    let mut g = read(&fixture("lif_norse.nir")).unwrap();
    g.edges.push(("1".into(), "nowhere".into()));
    write(&path, &g).unwrap();
    let e = error_of(&path);
    assert!(e.contains("edge 1 -> nowhere names 'nowhere'"), "{e}");
    // A negative time constant.
    let e = error_of(&edited("tau.nir", |g| {
        g.unlink("tau").unwrap();
        g.new_dataset_builder()
            .with_data(&[-1.0f32])
            .create("tau")
            .unwrap();
    }));
    assert!(e.contains("tau holds -1") && e.contains("> 0"), "{e}");
}

mod simulate {
    use std::ops::ControlFlow;

    use ndarray::{arr1, arr2, Array3};
    use somnet::io::nir::{Graph, Neuron, NeuronKind, Node};
    use somnet::neuron::SpikeTest;
    use somnet::simulate::{Framework, ResetMode, SimOptions, Simulation};

    use super::fixture;

    fn all(_: usize) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// The NIR paper's LIF example (Norse export; τ = 2.5 ms, θ = 0.1, dt = 0.1 ms, reset by
    /// subtraction in the exact solution): the engine's spikes fall in the steps of the exact
    /// event-driven solution's spike times (`lif_exact.csv`).
    #[test]
    fn the_published_lif_fires_in_the_steps_of_the_exact_solution() {
        let (rows, input) = super::exact_lif();
        let t = rows.len();
        let exact: Vec<usize> = (0..t).filter(|&k| rows[k][2] == 1.0).collect();
        assert_eq!(exact.len(), 4, "the published trace has four spikes");
        let graph = somnet::io::nir::read(&fixture("lif_norse.nir")).unwrap();
        let options = SimOptions {
            reset: ResetMode::Subtract,
            ..Framework::Nir.options()
        };
        let sim = Simulation::new(&graph, &options).unwrap();
        let out = sim.run(input.view(), &all).unwrap().output;
        let ours: Vec<usize> = (0..t).filter(|&k| out[[0, k, 0]] == 1.0).collect();
        assert_eq!(ours.len(), exact.len(), "{ours:?} vs {exact:?}");
        for (a, b) in ours.iter().zip(&exact) {
            assert!(a.abs_diff(*b) <= 1, "spike in step {a}, exact in {b}");
        }
    }

    fn neuron(kind: NeuronKind, n: usize, theta: f64) -> Node {
        let a = |v: f64| ndarray::ArrayD::from_elem(vec![n], v);
        Node::Neuron(Box::new(Neuron {
            kind,
            tau_mem: None,
            tau_syn: None,
            r: a(1.0),
            v_leak: None,
            v_threshold: Some(a(theta)),
            v_reset: Some(a(0.0)),
            w_in: None,
        }))
    }

    /// Input(2) → Affine → IF(2) → Affine → IF(1) → Output.
    fn two_layer_if() -> Graph {
        let mut g = Graph::default();
        g.nodes.insert("in".into(), Node::Input { shape: vec![2] });
        g.nodes.insert(
            "fc1".into(),
            Node::Affine {
                weight: arr2(&[[0.5, 0.0], [0.25, 0.25]]),
                bias: arr1(&[0.0, 0.25]),
            },
        );
        g.nodes.insert("if1".into(), neuron(NeuronKind::If, 2, 1.0));
        g.nodes.insert(
            "fc2".into(),
            Node::Linear {
                weight: arr2(&[[0.5, 0.5]]),
            },
        );
        g.nodes.insert("if2".into(), neuron(NeuronKind::If, 1, 1.0));
        g.nodes
            .insert("out".into(), Node::Output { shape: vec![1] });
        for (a, b) in [
            ("in", "fc1"),
            ("fc1", "if1"),
            ("if1", "fc2"),
            ("fc2", "if2"),
            ("if2", "out"),
        ] {
            g.edges.push((a.into(), b.into()));
        }
        g
    }

    /// The same network stepped by hand: v += W·x + b, spike when the test holds, then reset.
    fn by_hand(x: &[[f32; 2]], subtract: bool, strict: bool) -> Vec<f32> {
        let fires = |v: f32| if strict { v > 1.0 } else { v >= 1.0 };
        let reset = |v: f32| if subtract { v - 1.0 } else { 0.0 };
        let (mut v1, mut v2) = ([0.0f32; 2], 0.0f32);
        let mut out = Vec::new();
        for xt in x {
            let i1 = [0.5 * xt[0], 0.25 * xt[0] + 0.25 * xt[1] + 0.25];
            let mut s1 = [0.0f32; 2];
            for k in 0..2 {
                v1[k] += i1[k];
                if fires(v1[k]) {
                    s1[k] = 1.0;
                    v1[k] = reset(v1[k]);
                }
            }
            v2 += 0.5 * s1[0] + 0.5 * s1[1];
            let s2 = if fires(v2) {
                v2 = reset(v2);
                1.0
            } else {
                0.0
            };
            out.push(s2);
        }
        out
    }

    #[test]
    fn an_if_network_gives_the_hand_computed_spikes_under_each_reset_and_test() {
        let x: Vec<[f32; 2]> = (0..40)
            .map(|k| {
                [
                    ((k * 7) % 3 == 0) as u8 as f32,
                    ((k * 5) % 4 != 1) as u8 as f32,
                ]
            })
            .collect();
        let input = Array3::from_shape_fn((1, x.len(), 2), |(_, t, i)| x[t][i]);
        for (reset, subtract) in [(ResetMode::Zero, false), (ResetMode::Subtract, true)] {
            for (test, strict) in [(SpikeTest::AtLeast, false), (SpikeTest::Above, true)] {
                let options = SimOptions {
                    dt: 1.0,
                    reset,
                    spike_test: test,
                    ..Framework::Sinabs.options()
                };
                let sim = Simulation::new(&two_layer_if(), &options).unwrap();
                let out = sim.run(input.view(), &all).unwrap().output;
                let ours: Vec<f32> = out.iter().copied().collect();
                let expected = by_hand(&x, subtract, strict);
                assert!(
                    expected.iter().sum::<f32>() >= 5.0,
                    "too few spikes to tell"
                );
                assert_eq!(ours, expected, "reset {reset:?}, test {test:?}");
            }
        }
    }

    #[test]
    fn the_published_sinabs_cnn_runs_the_same_on_any_thread_count() {
        let graph = somnet::io::nir::read(&fixture("cnn_sinabs.nir")).unwrap();
        let sim = Simulation::new(&graph, &Framework::Sinabs.options()).unwrap();
        assert_eq!(sim.input_shape(), &[2, 34, 34]);
        assert_eq!(sim.output_shape(), &[10]);
        // Seeded sparse binary events, like N-MNIST frames.
        let mut state = 12345u64;
        let input = Array3::from_shape_fn((3, 30, 2 * 34 * 34), |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33).is_multiple_of(10) as u8 as f32
        });
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| sim.run(input.view(), &all).unwrap())
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.output, two.output);
        assert_eq!(one.spikes, two.spikes);
        let hidden: u64 = one.spikes.iter().map(|(_, s)| s).sum();
        assert!(
            hidden > 100,
            "the conv layers stay silent: {:?}",
            one.spikes
        );
    }

    #[test]
    fn a_recurrent_cuba_network_closes_its_cycle_one_step_later() {
        let graph = somnet::io::nir::read(&fixture("braille_noDelay_bias_zero.nir")).unwrap();
        let sim = Simulation::new(&graph, &Framework::Snntorch.options()).unwrap();
        assert_eq!(sim.delayed_cycles(), &["lif1.lif -> lif1.lif".to_string()]);
        let input = Array3::from_shape_fn((1, 50, 12), |(_, t, i)| {
            (t + i).is_multiple_of(5) as u8 as f32
        });
        let r = sim.run(input.view(), &all).unwrap();
        assert_eq!(r.output.shape(), &[1, 50, 7]);
    }

    /// The synapses a graph composes into are bounded as they grow (here 512 × 512 · 8 bytes
    /// against a 1 MiB limit), before the network is built.
    #[test]
    fn a_graph_composing_more_synapses_than_the_limit_is_refused() {
        let mut g = Graph::default();
        g.nodes.insert("in".into(), Node::Input { shape: vec![4] });
        g.nodes.insert(
            "fc0".into(),
            Node::Linear {
                weight: ndarray::Array2::ones((512, 4)),
            },
        );
        g.nodes.insert("a".into(), neuron(NeuronKind::If, 512, 1.0));
        g.nodes.insert(
            "fc".into(),
            Node::Linear {
                weight: ndarray::Array2::ones((512, 512)),
            },
        );
        g.nodes.insert("b".into(), neuron(NeuronKind::If, 512, 1.0));
        g.nodes
            .insert("out".into(), Node::Output { shape: vec![512] });
        for (a, b) in [
            ("in", "fc0"),
            ("fc0", "a"),
            ("a", "fc"),
            ("fc", "b"),
            ("b", "out"),
        ] {
            g.edges.push((a.into(), b.into()));
        }
        let opts = Framework::Nir.options();
        assert!(Simulation::new(&g, &opts).is_ok());
        let e = somnet::limits::with_max_bytes(1 << 20, || Simulation::new(&g, &opts))
            .unwrap_err()
            .to_string();
        assert!(e.contains("composed synapses"), "{e}");
    }

    #[test]
    fn what_the_engine_cannot_run_is_refused_by_node() {
        let opts = Framework::Nir.options();
        // A Threshold node of the wrong size.
        let mut g = two_layer_if();
        g.nodes.insert(
            "if2".into(),
            Node::Threshold {
                threshold: ndarray::ArrayD::from_elem(vec![2], 0.5),
            },
        );
        let e = Simulation::new(&g, &opts).unwrap_err().to_string();
        assert!(
            e.contains("fc2 -> if2") && e.contains("(Threshold) takes 2"),
            "{e}"
        );
        // Sizes that do not meet.
        let mut g = two_layer_if();
        g.nodes.insert(
            "fc2".into(),
            Node::Linear {
                weight: arr2(&[[0.5, 0.5, 0.5]]),
            },
        );
        let e = Simulation::new(&g, &opts).unwrap_err().to_string();
        assert!(e.contains("if1 -> fc2") && e.contains("takes 3"), "{e}");
        // A loop through linear nodes only.
        let mut g = two_layer_if();
        g.nodes.insert(
            "loop".into(),
            Node::Linear {
                weight: arr2(&[[1.0]]),
            },
        );
        g.edges.push(("fc2".into(), "loop".into()));
        g.edges.push(("loop".into(), "fc2".into()));
        g.nodes.insert(
            "fc2".into(),
            Node::Linear {
                weight: arr2(&[[0.5, 0.5, 0.0]]),
            },
        );
        let e = Simulation::new(&g, &opts)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("fc2") || e.contains("loop"), "{e}");
        // Thresholds that differ within one node run, one population per threshold (the
        // `heterogeneous` module checks the numbers).
        let mut g = two_layer_if();
        if let Some(Node::Neuron(n)) = g.nodes.get_mut("if1") {
            n.v_threshold = Some(ndarray::ArrayD::from_shape_vec(vec![2], vec![1.0, 2.0]).unwrap());
        }
        let sim = Simulation::new(&g, &opts).unwrap();
        assert_eq!(sim.split_nodes(), [("if1".to_string(), 2)]);
        // Input of the wrong width.
        let sim = Simulation::new(&two_layer_if(), &opts).unwrap();
        let e = sim
            .run(Array3::zeros((1, 3, 5)).view(), &all)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'in'") && e.contains('5'), "{e}");
    }
}

#[test]
fn the_simulate_command_writes_the_output_per_step_and_a_record() {
    let dir = scratch("cli");
    std::fs::create_dir_all(&dir).unwrap();
    // Two samples of the published LIF's input: (B, T, 1).
    let text = std::fs::read_to_string(fixture("lif_exact.csv")).unwrap();
    let current: Vec<f32> = text
        .lines()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let t = current.len();
    let x = ndarray::Array3::from_shape_fn((2, t, 1), |(b, k, _)| current[k] * (1 + b) as f32);
    let input = dir.join("x.npy");
    somnet::io::npy::write_f32(&input, x.into_dyn().view()).unwrap();
    let out = dir.join("run");
    let (nir, x_arg, out_arg) = (
        fixture("lif_norse.nir").display().to_string(),
        input.display().to_string(),
        out.display().to_string(),
    );
    crate::common::somnet(&[
        "simulate", "--nir", &nir, "--input", &x_arg, "--out", &out_arg, "--reset", "subtract",
    ]);
    let y = somnet::io::npy::read_f32(&out.join("output.npy")).unwrap();
    assert_eq!(y.shape(), &[2, t, 1]);
    let count = |b: usize| (0..t).filter(|&k| y[[b, k, 0]] == 1.0).count();
    // Twice the current fires more often.
    assert_eq!(count(0), 4);
    assert!(count(1) > 4);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(record["options"]["reset"], "subtract");
    assert_eq!(record["options"]["from"], "nir");
    assert_eq!(record["samples"], 2);
    assert_eq!(record["populations"][0]["type"], "LIF");
    assert_eq!(
        record["populations"][0]["spikes"].as_u64().unwrap() as usize,
        count(0) + count(1)
    );
    // An input whose shape does not fit the graph is named.
    let bad = dir.join("bad.npy");
    somnet::io::npy::write_f32(
        &bad,
        ndarray::Array2::<f32>::zeros((10, 3)).into_dyn().view(),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
        .args(["simulate", "--nir", &nir, "--input"])
        .arg(&bad)
        .args(["--out", &out_arg])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        e.contains("bad.npy") && e.contains("[10, 3]") && e.contains("(T, [1])"),
        "{e}"
    );
    // So is an unknown preset.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_somnet"))
        .args([
            "simulate", "--nir", &nir, "--input", &x_arg, "--out", &out_arg,
        ])
        .args(["--from", "brian"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("--from") && e.contains("sinabs"), "{e}");
}

#[test]
fn npy_files_with_bad_headers_are_refused_by_name() {
    let dir = scratch("npy");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "magic.npy",
            b"PK\x03\x04 not npy".to_vec(),
            "no \\x93NUMPY magic",
        ),
        (
            "dtype.npy",
            header(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                16,
            ),
            "dtype '<i8'",
        ),
        (
            "short.npy",
            header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000,), }",
                8,
            ),
            "shape [1000000]",
        ),
        (
            "fortran.npy",
            header(
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                16,
            ),
            "fortran_order",
        ),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = somnet::io::npy::read_f32(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
}

/// A version-1 `.npy` header followed by `data` zero bytes.
fn header(dict: &str, data: usize) -> Vec<u8> {
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    v.extend(std::iter::repeat_n(0u8, data));
    v
}

/// Graphs exported by other frameworks (`tests/nir/frameworks/make.py`) run in somnet under the
/// framework's preset and give the framework's own output spikes on its seeded input.
#[test]
fn exported_graphs_give_the_exporting_frameworks_own_spikes() {
    use somnet::simulate::{Framework, Simulation};
    for (name, framework, tolerance) in [
        // IF network: exact under the Sinabs preset.
        ("sinabs_cnn", Framework::Sinabs, 0.0),
        // LIF networks: the same arithmetic in another order; 0 of 640 differ when measured.
        ("snntorch_lif", Framework::Snntorch, 0.01),
        // Norse writes τ·dt for τ; its preset reads them back.
        ("norse_lif", Framework::Norse, 0.01),
    ] {
        let dir = fixture("frameworks");
        let graph = read(&dir.join(format!("{name}.nir"))).unwrap();
        let x = somnet::io::npy::read_f32(&dir.join(format!("{name}_input.npy"))).unwrap();
        let want = somnet::io::npy::read_f32(&dir.join(format!("{name}_output.npy"))).unwrap();
        let sim = Simulation::new(&graph, &framework.options()).unwrap();
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let x = x.into_shape_with_order((b, t, sim.input_len())).unwrap();
        let got = sim
            .run(x.view(), &|_| std::ops::ControlFlow::Continue(()))
            .unwrap()
            .output;
        let want: Vec<f32> = want.iter().copied().collect();
        let got: Vec<f32> = got.iter().copied().collect();
        assert_eq!(got.len(), want.len(), "{name}");
        let spikes: f32 = want.iter().sum();
        assert!(
            spikes > 50.0,
            "{name}: only {spikes} output spikes to compare"
        );
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert!(
            differ as f64 <= tolerance * want.len() as f64,
            "{name}: {differ} of {} outputs differ from the framework's",
            want.len()
        );
    }
}

#[test]
fn info_describes_a_nir_graph_and_what_the_engine_makes_of_it() {
    let path = fixture("cnn_sinabs.nir").display().to_string();
    let text = crate::common::somnet(&["info", &path]);
    assert!(text.contains("15 nodes, 14 edges"), "{text}");
    assert!(
        text.contains("SumPool2d") && text.contains("[16, 8, 8]"),
        "{text}"
    );
    // 2·16·16·16 + 8·8·8 + 256 + 10 neurons in the five IF layers.
    assert!(text.contains("5 populations, 8970 neurons"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&crate::common::somnet(&["info", &path, "--json"])).unwrap();
    assert_eq!(json["runs"], true);
    assert_eq!(json["nodes"].as_array().unwrap().len(), 15);
}

/// `--record` writes NIR's data layout: the published LIF's membrane follows the exact solution
/// (to float precision until its first spike, within 1 % of θ after it, where the exact solution
/// resets inside a step) and its spikes are events at step · dt.
#[test]
fn the_recording_holds_spikes_as_events_and_the_membrane_per_step() {
    use somnet::simulate::{Framework, ResetMode, SimOptions, Simulation};
    let (rows, input) = exact_lif();
    let t = rows.len();
    let graph = read(&fixture("lif_norse.nir")).unwrap();
    let options = SimOptions {
        reset: ResetMode::Subtract,
        ..Framework::Nir.options()
    };
    let sim = Simulation::new(&graph, &options).unwrap();
    let r = sim
        .run_recorded(input.view(), &|_| std::ops::ControlFlow::Continue(()))
        .unwrap();
    let nodes = r.recording.unwrap();
    assert_eq!(nodes.len(), 1);
    let v = nodes[0].v.as_ref().unwrap();
    let first = (0..t).find(|&k| rows[k][2] == 1.0).unwrap();
    for k in 0..t {
        let err = (v[[0, k, 0]] as f64 - rows[k][1]).abs();
        let bound = if k < first { 1e-6 } else { 1e-3 };
        assert!(
            err < bound,
            "step {k}: {} vs exact {}",
            v[[0, k, 0]],
            rows[k][1]
        );
    }
    let path = scratch("recording.h5");
    somnet::io::nir::write_data(&path, &nodes, t, options.dt).unwrap();
    let file = somnet::io::h5::open(&path).unwrap();
    let spikes = file.group("nodes/1/observables/spikes").unwrap();
    let times: Vec<f64> = spikes.dataset("time").unwrap().read_raw().unwrap();
    let steps: Vec<usize> = times.iter().map(|s| (s / 1e-4).round() as usize).collect();
    let exact: Vec<usize> = (0..t).filter(|&k| rows[k][2] == 1.0).collect();
    assert_eq!(steps, exact);
    let n: i64 = spikes.attr("n_neurons").unwrap().read_scalar().unwrap();
    assert_eq!(n, 1);
    let data = file.dataset("nodes/1/observables/v/data").unwrap();
    assert_eq!(data.shape(), vec![1, t, 1]);
}

/// Delay nodes anywhere, each element with its own delay, against spike steps worked out by hand.
mod delays {
    use ndarray::{arr1, Array2, Array3, ArrayD, IxDyn};
    use somnet::io::nir::{Graph, Neuron, NeuronKind, Node};
    use somnet::simulate::{Framework, Simulation};

    fn if_layer(n: usize) -> Node {
        let full = |v: f64| ArrayD::from_elem(IxDyn(&[n]), v);
        Node::Neuron(Box::new(Neuron {
            kind: NeuronKind::If,
            tau_mem: None,
            tau_syn: None,
            r: full(1.0),
            v_leak: None,
            v_threshold: Some(full(1.0)),
            v_reset: Some(full(0.0)),
            w_in: None,
        }))
    }

    fn delay(steps: &[f64]) -> Node {
        // dt = 1 under the Sinabs preset: delays in steps.
        Node::Delay {
            delay: ArrayD::from_shape_vec(IxDyn(&[steps.len()]), steps.to_vec()).unwrap(),
        }
    }

    /// Steps at which each output element is 1, for one input pulse at step 0.
    fn fire_steps(g: &Graph) -> Vec<Vec<usize>> {
        let sim = Simulation::new(g, &Framework::Sinabs.options()).unwrap();
        let mut x = Array3::zeros((1, 10, 3));
        x.slice_mut(ndarray::s![0, 0, ..]).fill(1.0);
        let y = sim
            .run(x.view(), &|_| std::ops::ControlFlow::Continue(()))
            .unwrap()
            .output;
        (0..3)
            .map(|j| (0..10).filter(|&t| y[[0, t, j]] == 1.0).collect())
            .collect()
    }

    fn chain(nodes: Vec<(&str, Node)>) -> Graph {
        let mut g = Graph::default();
        let names: Vec<String> = nodes.iter().map(|(n, _)| n.to_string()).collect();
        for (name, node) in nodes {
            g.nodes.insert(name.into(), node);
        }
        for w in names.windows(2) {
            g.edges.push((w[0].clone(), w[1].clone()));
        }
        g
    }

    fn identity() -> Node {
        Node::Affine {
            weight: Array2::eye(3),
            bias: arr1(&[0.0, 0.0, 0.0]),
        }
    }

    #[test]
    fn each_element_waits_its_own_delay_on_the_input_side_between_layers_and_on_the_output_side() {
        let input = || Node::Input { shape: vec![3] };
        let output = || Node::Output { shape: vec![3] };
        // Input → Delay [1, 3, 0] → identity → IF: each neuron fires when its pulse arrives.
        let g = chain(vec![
            ("in", input()),
            ("wait", delay(&[1.0, 3.0, 0.0])),
            ("fc", identity()),
            ("if", if_layer(3)),
            ("out", output()),
        ]);
        assert_eq!(fire_steps(&g), vec![vec![1], vec![3], vec![0]]);
        // IF → Delay [0, 2, 5] → identity → IF: the second layer fires as the spikes arrive.
        let g = chain(vec![
            ("in", input()),
            ("fc1", identity()),
            ("if1", if_layer(3)),
            ("wait", delay(&[0.0, 2.0, 5.0])),
            ("fc2", identity()),
            ("if2", if_layer(3)),
            ("out", output()),
        ]);
        assert_eq!(fire_steps(&g), vec![vec![0], vec![2], vec![5]]);
        // IF → Delay [4, 0, 1] → Output: the output reads the spikes of that many steps ago.
        let g = chain(vec![
            ("in", input()),
            ("fc", identity()),
            ("if", if_layer(3)),
            ("wait", delay(&[4.0, 0.0, 1.0])),
            ("out", output()),
        ]);
        assert_eq!(fire_steps(&g), vec![vec![4], vec![0], vec![1]]);
    }
}

/// A node whose neurons differ in τ and θ runs as the same network written by hand as one node
/// per parameter set (plain Linear maps between them, the self-connections one step later).
mod heterogeneous {
    use ndarray::{arr1, arr2, Array2, Array3, ArrayD, IxDyn};
    use somnet::io::nir::{Graph, Neuron, NeuronKind, Node};
    use somnet::simulate::{Framework, Simulation};

    fn lif(tau: &[f64], theta: &[f64]) -> Node {
        let a = |v: &[f64]| ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap();
        let zeros = vec![0.0; tau.len()];
        Node::Neuron(Box::new(Neuron {
            kind: NeuronKind::Lif,
            tau_mem: Some(a(tau)),
            tau_syn: None,
            r: a(&vec![1.0; tau.len()]),
            v_leak: Some(a(&zeros)),
            v_threshold: Some(a(theta)),
            v_reset: Some(a(&zeros)),
            w_in: None,
        }))
    }

    fn graph(nodes: Vec<(&str, Node)>, edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::default();
        for (n, node) in nodes {
            g.nodes.insert(n.into(), node);
        }
        g.edges = edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        g
    }

    fn rows(m: &Array2<f32>, r: &[usize], c: &[usize]) -> Node {
        Node::Linear {
            weight: Array2::from_shape_fn((r.len(), c.len()), |(i, j)| m[[r[i], c[j]]]),
        }
    }

    fn step_delay(n: usize) -> Node {
        Node::Delay {
            delay: ArrayD::from_elem(IxDyn(&[n]), 1e-3),
        }
    }

    #[test]
    fn a_node_with_per_neuron_time_constants_runs_as_one_population_per_parameter_set() {
        let w_in = arr2(&[[0.9f32, 0.3, 0.0], [0.0, 0.6, 0.3], [0.3, 0.0, 1.0]]);
        let w_rec = arr2(&[[0.0f32, 0.5, -0.3], [0.4, 0.2, 0.0], [-0.2, 0.3, 0.0]]);
        let b = arr1(&[0.05f32, 0.0, 0.02]);
        let (tau, theta) = ([0.02, 0.01, 0.02], [1.0, 0.5, 1.0]);
        let het = graph(
            vec![
                ("in", Node::Input { shape: vec![3] }),
                (
                    "fc",
                    Node::Affine {
                        weight: w_in.clone(),
                        bias: b.clone(),
                    },
                ),
                ("lif", lif(&tau, &theta)),
                (
                    "rec",
                    Node::Linear {
                        weight: w_rec.clone(),
                    },
                ),
                ("out", Node::Output { shape: vec![3] }),
            ],
            &[
                ("in", "fc"),
                ("fc", "lif"),
                ("lif", "rec"),
                ("rec", "lif"),
                ("lif", "out"),
            ],
        );
        // By hand: neurons 0 and 2 (τ 20 ms, θ 1) in A, neuron 1 (τ 10 ms, θ 0.5) in B.
        let (a, bb) = ([0usize, 2], [1usize]);
        let place = |idx: &[usize]| Node::Linear {
            weight: Array2::from_shape_fn((3, idx.len()), |(i, j)| {
                f32::from(u8::from(idx[j] == i))
            }),
        };
        let mut nodes = vec![
            ("in", Node::Input { shape: vec![3] }),
            (
                "fcA",
                Node::Affine {
                    weight: match rows(&w_in, &a, &[0, 1, 2]) {
                        Node::Linear { weight } => weight,
                        _ => unreachable!(),
                    },
                    bias: arr1(&[b[0], b[2]]),
                },
            ),
            (
                "fcB",
                Node::Affine {
                    weight: match rows(&w_in, &bb, &[0, 1, 2]) {
                        Node::Linear { weight } => weight,
                        _ => unreachable!(),
                    },
                    bias: arr1(&[b[1]]),
                },
            ),
            ("A", lif(&[0.02, 0.02], &[1.0, 1.0])),
            ("B", lif(&[0.01], &[0.5])),
            ("AA", rows(&w_rec, &a, &a)),
            ("AB", rows(&w_rec, &bb, &a)),
            ("BA", rows(&w_rec, &a, &bb)),
            ("BB", rows(&w_rec, &bb, &bb)),
            ("placeA", place(&a)),
            ("placeB", place(&bb)),
            ("out", Node::Output { shape: vec![3] }),
        ];
        for (d, n) in [("dAA", 2), ("dAB", 1), ("dBA", 2), ("dBB", 1)] {
            nodes.push((d, step_delay(n)));
        }
        let by_hand = graph(
            nodes,
            &[
                ("in", "fcA"),
                ("in", "fcB"),
                ("fcA", "A"),
                ("fcB", "B"),
                ("A", "AA"),
                ("AA", "dAA"),
                ("dAA", "A"),
                ("A", "AB"),
                ("AB", "dAB"),
                ("dAB", "B"),
                ("B", "BA"),
                ("BA", "dBA"),
                ("dBA", "A"),
                ("B", "BB"),
                ("BB", "dBB"),
                ("dBB", "B"),
                ("A", "placeA"),
                ("B", "placeB"),
                ("placeA", "out"),
                ("placeB", "out"),
            ],
        );
        let options = Framework::Norse.options();
        let options = somnet::simulate::SimOptions {
            tau_scale: 1.0,
            ..options
        };
        let mut s = 7u64;
        let x = Array3::from_shape_fn((2, 400, 3), |_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((s >> 40) % 100) as f32 / 25.0
        });
        let run = |g: &Graph| {
            let sim = Simulation::new(g, &options).unwrap();
            let out = sim
                .run(x.view(), &|_| std::ops::ControlFlow::Continue(()))
                .unwrap();
            (out.output, sim.split_nodes().to_vec())
        };
        let (ours, split) = run(&het);
        let (want, none) = run(&by_hand);
        assert_eq!(split, vec![("lif".to_string(), 2)]);
        assert!(none.is_empty());
        assert!(want.sum() > 50.0, "{} spikes", want.sum());
        for j in 0..3 {
            assert!(
                want.slice(ndarray::s![.., .., j]).sum() > 5.0,
                "neuron {j} must fire"
            );
        }
        assert_eq!(ours, want);
    }
}

/// NIR's Threshold primitive, `z = [x > θ]` of each step's input with no state, against values
/// worked out by hand.
mod threshold {
    use ndarray::{arr1, arr2, Array2, Array3, ArrayD, IxDyn};
    use somnet::io::nir::{Graph, Node};
    use somnet::simulate::{Framework, Simulation};

    #[test]
    fn a_threshold_node_fires_when_this_steps_input_exceeds_its_threshold_and_keeps_nothing() {
        let mut g = Graph::default();
        g.nodes.insert("in".into(), Node::Input { shape: vec![3] });
        g.nodes.insert(
            "fc".into(),
            Node::Affine {
                weight: Array2::eye(3),
                bias: arr1(&[0.0, 0.0, 0.25]),
            },
        );
        g.nodes.insert(
            "thr".into(),
            Node::Threshold {
                threshold: ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.5, 1.0, 1.0]).unwrap(),
            },
        );
        g.nodes
            .insert("out".into(), Node::Output { shape: vec![3] });
        for (a, b) in [("in", "fc"), ("fc", "thr"), ("thr", "out")] {
            g.edges.push((a.into(), b.into()));
        }
        let x = arr2(&[
            [0.6f32, 1.0, 0.8],
            [0.4, 1.5, 0.7],
            [0.5, 0.9, 0.75],
            [2.0, 2.0, 0.0],
        ]);
        // x + bias > θ, step by step: equality does not fire, and nothing accumulates (an IF
        // neuron would have fired on the sums).
        let want = arr2(&[
            [1.0f32, 0.0, 1.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
        ]);
        // Under presets with v ≥ θ and a dt-scaled integrator alike.
        for f in [Framework::Sinabs, Framework::Nir] {
            let sim = Simulation::new(&g, &f.options()).unwrap();
            let input = Array3::from_shape_fn((1, 4, 3), |(_, t, i)| x[[t, i]]);
            let y = sim
                .run(input.view(), &|_| std::ops::ControlFlow::Continue(()))
                .unwrap()
                .output;
            assert_eq!(y.index_axis(ndarray::Axis(0), 0), want, "{f:?}");
            let kinds: Vec<&str> = sim.populations().iter().map(|p| p.1).collect();
            assert!(kinds.iter().all(|k| *k == "Threshold"), "{kinds:?}");
        }
    }
}
