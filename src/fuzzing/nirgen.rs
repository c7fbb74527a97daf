//! A structure-aware generator of NIR graphs for the `nir_graph` target: a valid chain
//! Input → Affine → LIF → Conv-free linear tail → Output (or a small convolutional one) whose
//! node kinds, sizes, parameters, padding, groups and edges the bytes mutate: extra and dangling
//! edges, cycles with and without neurons, nested graphs, shapes that do not meet, zero or huge
//! sizes, non-finite and negative parameters. With no bytes (all zeros) the graph is valid.

use ndarray::{Array1, Array2, ArrayD, IxDyn};

use super::h5gen::Choices;
use crate::io::nir::{Graph, Neuron, NeuronKind, Node, Padding};

/// A parameter array of `shape` (its first axis mutated) holding one value.
fn params(c: &mut Choices, shape: &[usize], value: f64) -> ArrayD<f64> {
    let mut shape = shape.to_vec();
    shape[0] = c.size(shape[0]).min(1 << 12);
    let v = c.number(value);
    ArrayD::from_elem(IxDyn(&shape), v)
}

fn neuron(c: &mut Choices, n: &[usize]) -> Node {
    let kind = match c.below(8) {
        0 => NeuronKind::If,
        1 => NeuronKind::I,
        2 => NeuronKind::Li,
        3 => NeuronKind::CubaLif,
        4 => NeuronKind::CubaLi,
        _ => NeuronKind::Lif,
    };
    let leaky = !matches!(kind, NeuronKind::I | NeuronKind::If);
    let cuba = matches!(kind, NeuronKind::CubaLi | NeuronKind::CubaLif);
    let spiking = matches!(kind, NeuronKind::If | NeuronKind::Lif | NeuronKind::CubaLif);
    Node::Neuron(Box::new(Neuron {
        kind,
        tau_mem: leaky.then(|| params(c, n, 2e-3)),
        tau_syn: cuba.then(|| params(c, n, 1e-3)),
        r: params(c, n, 1.0),
        v_leak: leaky.then(|| params(c, n, 0.0)),
        v_threshold: spiking.then(|| params(c, n, 1.0)),
        v_reset: spiking.then(|| params(c, n, 0.0)),
        w_in: cuba.then(|| params(c, n, 1.0)),
    }))
}

fn matrix(c: &mut Choices, rows: usize, cols: usize) -> Array2<f32> {
    let (rows, cols) = (c.size(rows).min(1 << 10), c.size(cols).min(1 << 10));
    let w = c.number(0.7) as f32;
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        w * (((i * 7 + j * 3) % 5) as f32 - 1.5)
    })
}

/// Builds the graph the bytes describe.
pub fn graph(data: &[u8]) -> Graph {
    let mut c = Choices::new(data);
    let mut g = Graph::default();
    let add = |g: &mut Graph, name: &str, node: Node| {
        g.nodes.insert(name.to_string(), node);
    };
    let conv = c.one_in(3);
    let (n_in, hidden) = (c.size(6).clamp(1, 64), c.size(5).clamp(1, 64));
    if conv {
        add(
            &mut g,
            "input",
            Node::Input {
                shape: vec![2, c.size(6).min(64), 6],
            },
        );
        let k = c.size(3).min(9);
        let w = ArrayD::from_elem(
            IxDyn(&[4, 2 / c.size(1).clamp(1, 2), k.max(1), k.max(1)]),
            c.number(0.5) as f32,
        );
        let padding = match c.below(4) {
            0 => Padding::Same,
            1 => Padding::Valid,
            _ => Padding::Explicit(vec![c.size(1).min(8); 2]),
        };
        add(
            &mut g,
            "conv",
            Node::Conv {
                weight: w,
                stride: vec![c.size(1).min(4); 2],
                padding,
                dilation: vec![c.size(1).min(3); 2],
                groups: c.size(1).min(4),
                bias: Array1::from_elem(4, c.number(0.1) as f32),
                input_shape: None,
            },
        );
        add(&mut g, "lif", neuron(&mut c, &[4, 6, 6]));
        add(
            &mut g,
            "pool",
            Node::Pool2d {
                average: c.one_in(2),
                kernel: vec![c.size(2).min(8); 2],
                stride: vec![c.size(2).min(8); 2],
                padding: vec![c.size(0).min(4); 2],
            },
        );
        add(
            &mut g,
            "flat",
            Node::Flatten {
                start_dim: c.below(3) as i64 - 1,
                end_dim: -1,
                input_type: None,
            },
        );
        add(
            &mut g,
            "fc",
            Node::Affine {
                weight: matrix(&mut c, hidden, 36),
                bias: Array1::zeros(hidden),
            },
        );
        for e in [
            ("input", "conv"),
            ("conv", "lif"),
            ("lif", "pool"),
            ("pool", "flat"),
            ("flat", "fc"),
        ] {
            g.edges.push((e.0.into(), e.1.into()));
        }
    } else {
        add(&mut g, "input", Node::Input { shape: vec![n_in] });
        add(
            &mut g,
            "fc",
            Node::Affine {
                weight: matrix(&mut c, hidden, n_in),
                bias: Array1::from_elem(hidden, c.number(0.1) as f32),
            },
        );
        add(&mut g, "lif", neuron(&mut c, &[hidden]));
        if c.one_in(2) {
            add(
                &mut g,
                "rec",
                Node::Linear {
                    weight: matrix(&mut c, hidden, hidden),
                },
            );
            g.edges.push(("lif".into(), "rec".into()));
            g.edges.push(("rec".into(), "lif".into()));
        }
        g.edges.push(("input".into(), "fc".into()));
        g.edges.push(("fc".into(), "lif".into()));
    }
    add(&mut g, "out_n", neuron(&mut c, &[hidden]));
    add(
        &mut g,
        "output",
        Node::Output {
            shape: vec![c.size(hidden)],
        },
    );
    let (last, mid) = (if conv { "fc" } else { "lif" }, "out_n");
    if conv {
        g.edges.push((last.into(), mid.into()));
    } else {
        add(
            &mut g,
            "fc2",
            Node::Scale {
                scale: ArrayD::from_elem(
                    IxDyn(&[c.size(hidden).min(1 << 12)]),
                    c.number(1.0) as f32,
                ),
            },
        );
        g.edges.push((last.into(), "fc2".into()));
        g.edges.push(("fc2".into(), mid.into()));
    }
    g.edges.push((mid.into(), "output".into()));
    // Mutated wiring.
    let names: Vec<String> = g.nodes.keys().cloned().collect();
    for _ in 0..c.below(3) {
        if c.one_in(2) {
            let a = names[c.below(names.len())].clone();
            let b = names[c.below(names.len())].clone();
            g.edges.push((a, b));
        }
    }
    if c.one_in(11) {
        g.edges.push(("lif".into(), "nowhere".into()));
    }
    if c.one_in(9) {
        add(
            &mut g,
            "delay",
            Node::Delay {
                delay: ArrayD::from_elem(IxDyn(&[hidden]), c.number(2e-4)),
            },
        );
        g.edges.push(("out_n".into(), "delay".into()));
        g.edges.push(("delay".into(), "out_n".into()));
    }
    if c.one_in(13) {
        // Nest everything once.
        let inner = std::mem::take(&mut g);
        g.nodes.insert("sub".into(), Node::Graph(inner));
    }
    g
}
