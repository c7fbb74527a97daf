//! Writing a [`Graph`] in the layout `nir.write` produces and `nir.read` accepts: `/version` and
//! `/node` (see [`super::read`]); arrays gzip-compressed, integers and strings plain, neuron
//! parameters as arrays of the layer's shape, no attributes.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5_metno as hdf5;
use ndarray::ArrayD;

use super::{Graph, Meta, Neuron, NeuronKind, Node, Padding};
use crate::error::Result;
use crate::io::h5::Ctx;

/// The NIR version written to `/version`: the layout of `nir` 1.0.
pub const NIR_VERSION: &str = "1.0.8";

/// Writes `graph` to `path` (replacing it), as `nir.write` would.
///
/// ```
/// use somnet::io::nir::{read, write, Graph, Node};
/// let mut g = Graph::default();
/// g.nodes.insert("input".into(), Node::Input { shape: vec![2] });
/// g.nodes.insert("output".into(), Node::Output { shape: vec![2] });
/// g.edges.push(("input".into(), "output".into()));
/// let path = std::env::temp_dir().join(format!("doc-{}.nir", std::process::id()));
/// write(&path, &g).unwrap();
/// assert_eq!(read(&path).unwrap().edges, g.edges);
/// ```
pub fn write(path: &Path, graph: &Graph) -> Result<()> {
    let file = crate::io::h5::create(path)?;
    let root = Ctx::root(path);
    string(&file, &root, "version", NIR_VERSION)?;
    let node = file
        .create_group("node")
        .map_err(|e| root.err(format!("creating group 'node': {e}")))?;
    write_graph(&node, &root.child("node"), graph)
}

fn write_graph(group: &hdf5::Group, ctx: &Ctx, graph: &Graph) -> Result<()> {
    string(group, ctx, "type", "NIRGraph")?;
    let names: Vec<VarLenUnicode> = graph
        .edges
        .iter()
        .flat_map(|(a, b)| [a, b])
        .map(|s| s.parse().unwrap_or_default())
        .collect();
    let edges = ndarray::Array2::from_shape_vec((graph.edges.len(), 2), names)
        .map_err(|e| ctx.err(format!("edges: {e}")))?;
    group
        .new_dataset_builder()
        .with_data(&edges)
        .create("edges")
        .map_err(|e| ctx.err(format!("writing 'edges': {e}")))?;
    if !graph.metadata.is_empty() {
        let meta = group
            .create_group("metadata")
            .map_err(|e| ctx.err(format!("creating 'metadata': {e}")))?;
        let mctx = ctx.child("metadata");
        for (name, value) in &graph.metadata {
            match value {
                Meta::Text(s) => string(&meta, &mctx, name, s)?,
                Meta::Number(x) => meta
                    .new_dataset::<f64>()
                    .create(name.as_str())
                    .and_then(|d| d.write_scalar(x))
                    .map(|_| ())
                    .map_err(|e| mctx.err(format!("writing '{name}': {e}")))?,
                Meta::Numbers(v) => meta
                    .new_dataset_builder()
                    .with_data(v.as_slice())
                    .create(name.as_str())
                    .map(|_| ())
                    .map_err(|e| mctx.err(format!("writing '{name}': {e}")))?,
            }
        }
    }
    let nodes = group
        .create_group("nodes")
        .map_err(|e| ctx.err(format!("creating 'nodes': {e}")))?;
    let nctx = ctx.child("nodes");
    for (name, node) in &graph.nodes {
        let g = nodes
            .create_group(name)
            .map_err(|e| nctx.err(format!("creating node '{name}': {e}")))?;
        write_node(&g, &nctx.child(name), node)?;
    }
    Ok(())
}

fn write_node(g: &hdf5::Group, ctx: &Ctx, node: &Node) -> Result<()> {
    if let Node::Graph(sub) = node {
        return write_graph(g, ctx, sub);
    }
    string(g, ctx, "type", node.kind())?;
    let ints = |name: &str, v: &[usize]| {
        let v: Vec<i64> = v.iter().map(|&x| x as i64).collect();
        int_array(g, ctx, name, &v)
    };
    match node {
        Node::Input { shape } | Node::Output { shape } => ints("shape", shape),
        Node::Affine { weight, bias } => {
            floats(g, ctx, "weight", &weight.clone().into_dyn())?;
            floats(g, ctx, "bias", &bias.clone().into_dyn())
        }
        Node::Linear { weight } => floats(g, ctx, "weight", &weight.clone().into_dyn()),
        Node::Scale { scale } => floats(g, ctx, "scale", scale),
        Node::Conv {
            weight,
            stride,
            padding,
            dilation,
            groups,
            bias,
            input_shape,
        } => {
            floats(g, ctx, "weight", weight)?;
            floats(g, ctx, "bias", &bias.clone().into_dyn())?;
            ints("stride", stride)?;
            ints("dilation", dilation)?;
            int_scalar(g, ctx, "groups", *groups as i64)?;
            match padding {
                Padding::Explicit(p) => ints("padding", p)?,
                Padding::Same => string(g, ctx, "padding", "same")?,
                Padding::Valid => string(g, ctx, "padding", "valid")?,
            }
            match input_shape {
                Some(s) => ints("input_shape", s),
                None => Ok(()),
            }
        }
        Node::Pool2d {
            kernel,
            stride,
            padding,
            ..
        } => {
            ints("kernel_size", kernel)?;
            ints("stride", stride)?;
            ints("padding", padding)
        }
        Node::Flatten {
            start_dim,
            end_dim,
            input_type,
        } => {
            int_scalar(g, ctx, "start_dim", *start_dim)?;
            int_scalar(g, ctx, "end_dim", *end_dim)?;
            match input_type {
                Some(s) => ints("input_type", s),
                None => Ok(()),
            }
        }
        Node::Delay { delay } => doubles(g, ctx, "delay", delay),
        Node::Threshold { threshold } => doubles(g, ctx, "threshold", threshold),
        Node::Neuron(n) => write_neuron(g, ctx, n),
        Node::Graph(_) | Node::PassThrough | Node::Gather { .. } | Node::Scatter { .. } => {
            Err(ctx.err("a pass-through node exists only in a flattened graph and has no NIR form"))
        }
    }
}

fn write_neuron(g: &hdf5::Group, ctx: &Ctx, n: &Neuron) -> Result<()> {
    let cuba = matches!(n.kind, NeuronKind::CubaLi | NeuronKind::CubaLif);
    let tau_name = if cuba { "tau_mem" } else { "tau" };
    let fields: [(&str, Option<&ArrayD<f64>>); 7] = [
        (tau_name, n.tau_mem.as_ref()),
        ("tau_syn", n.tau_syn.as_ref()),
        ("r", Some(&n.r)),
        ("v_leak", n.v_leak.as_ref()),
        ("w_in", n.w_in.as_ref()),
        ("v_threshold", n.v_threshold.as_ref()),
        ("v_reset", n.v_reset.as_ref()),
    ];
    for (name, v) in fields {
        if let Some(v) = v {
            doubles(g, ctx, name, v)?;
        }
    }
    Ok(())
}

fn string(loc: &hdf5::Group, ctx: &Ctx, name: &str, value: &str) -> Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| ctx.err(format!("'{name}': {e}")))?;
    loc.new_dataset::<VarLenUnicode>()
        .create(name)
        .and_then(|d| d.write_scalar(&v))
        .map_err(|e| ctx.err(format!("writing '{name}': {e}")))
}

fn int_scalar(g: &hdf5::Group, ctx: &Ctx, name: &str, v: i64) -> Result<()> {
    g.new_dataset::<i64>()
        .create(name)
        .and_then(|d| d.write_scalar(&v))
        .map_err(|e| ctx.err(format!("writing '{name}': {e}")))
}

fn int_array(g: &hdf5::Group, ctx: &Ctx, name: &str, v: &[i64]) -> Result<()> {
    g.new_dataset_builder()
        .with_data(v)
        .create(name)
        .map(|_| ())
        .map_err(|e| ctx.err(format!("writing '{name}': {e}")))
}

fn floats(g: &hdf5::Group, ctx: &Ctx, name: &str, v: &ArrayD<f32>) -> Result<()> {
    compressed(g, ctx, name, v)
}

fn doubles(g: &hdf5::Group, ctx: &Ctx, name: &str, v: &ArrayD<f64>) -> Result<()> {
    // Parameters go out in single precision, as every exporting framework writes them.
    compressed(g, ctx, name, &v.mapv(|x| x as f32))
}

fn compressed(g: &hdf5::Group, ctx: &Ctx, name: &str, v: &ArrayD<f32>) -> Result<()> {
    let b = g.new_dataset_builder();
    // A scalar (0-d) dataset cannot be chunked, so only arrays are compressed.
    let result = if v.ndim() > 0 && !v.is_empty() {
        b.deflate(4).with_data(v).create(name)
    } else {
        b.with_data(v).create(name)
    };
    result
        .map(|_| ())
        .map_err(|e| ctx.err(format!("writing '{name}': {e}")))
}
