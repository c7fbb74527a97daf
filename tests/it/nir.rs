//! NIR files: the published example graphs read with every field in place, somnet's writer read
//! back unchanged, nested graphs inlined, and bad files refused by name.

use std::path::{Path, PathBuf};

use somnet::io::nir::{read, write, Graph, Neuron, NeuronKind, Node, Padding};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/nir")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("somnet-nir-{}", std::process::id()));
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
