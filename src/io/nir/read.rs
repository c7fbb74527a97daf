//! Reading the HDF5 layout `nir.write` produces: `/version`, and `/node` holding `type`
//! ("NIRGraph"), `edges` ((N, 2) strings) and `nodes/<name>/` with `type` and one dataset per
//! field; a graph's `metadata/` strings and numbers are kept, node metadata is skipped. Like `nir.read`, an unknown field is an error, so that
//! nothing in the file is silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5_metno as hdf5;
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};

use super::{Graph, Meta, Neuron, NeuronKind, Node, Padding};
use crate::error::Result;
use crate::io::h5::{check_size, open, Ctx};

/// Deepest nesting of graphs accepted (a file can link a group into itself).
const MAX_DEPTH: usize = 32;

/// Reads the NIR graph stored at `path`. Errors name the file, the node and the field.
pub fn read(path: &Path) -> Result<Graph> {
    let file = open(path)?;
    let root = Ctx::root(path);
    let version = match file.dataset("version") {
        Ok(ds) => Some(read_string(&ds, &root, "version")?),
        Err(_) => None,
    };
    let node = file.group("node").map_err(|_| {
        root.err("no group '/node': not a NIR file (nir.write puts the graph there)")
    })?;
    let ctx = root.child("node");
    match read_node(&node, &ctx, 0)? {
        Node::Graph(mut g) => {
            g.version = version;
            Ok(g)
        }
        other => Err(ctx.err(format!(
            "the top node is a {}, expected a NIRGraph",
            other.kind()
        ))),
    }
}

fn read_node(group: &hdf5::Group, ctx: &Ctx, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(ctx.err(format!("graphs nested deeper than {MAX_DEPTH} levels")));
    }
    let ty = group
        .dataset("type")
        .map_err(|_| ctx.err("missing dataset 'type' (the primitive's name)"))?;
    let ty = read_string(&ty, ctx, "type")?;
    let f = Fields::new(group, ctx)?;
    let node = match ty.as_str() {
        "NIRGraph" => {
            f.only(&["edges", "nodes"])?;
            let edges = read_edges(group, ctx)?;
            let nodes_group = group
                .group("nodes")
                .map_err(|_| ctx.err("missing group 'nodes'"))?;
            let names = nodes_group
                .member_names()
                .map_err(|e| ctx.err(format!("cannot list 'nodes': {e}")))?;
            let mut nodes = BTreeMap::new();
            for name in names {
                let sub = nodes_group
                    .group(&name)
                    .map_err(|_| ctx.err(format!("nodes/{name} is not a group")))?;
                let node = read_node(&sub, &ctx.child("nodes").child(&name), depth + 1)?;
                nodes.insert(name, node);
            }
            Node::Graph(Graph {
                nodes,
                edges,
                version: None,
                metadata: read_metadata(group, ctx)?,
            })
        }
        "Input" | "Output" => {
            f.only(&["shape"])?;
            let shape = f.usizes("shape")?;
            if ty == "Input" {
                Node::Input { shape }
            } else {
                Node::Output { shape }
            }
        }
        "Affine" => {
            f.only(&["weight", "bias"])?;
            let weight = f.matrix("weight")?;
            let bias = f.vector("bias")?;
            if bias.len() != weight.nrows() {
                return Err(ctx.err(format!(
                    "bias has {} values, expected {} (the rows of weight {:?})",
                    bias.len(),
                    weight.nrows(),
                    weight.shape()
                )));
            }
            Node::Affine { weight, bias }
        }
        "Linear" => {
            f.only(&["weight"])?;
            Node::Linear {
                weight: f.matrix("weight")?,
            }
        }
        "Scale" => {
            f.only(&["scale"])?;
            Node::Scale {
                scale: f.floats("scale")?,
            }
        }
        "Conv1d" | "Conv2d" => {
            f.only(&[
                "weight",
                "stride",
                "padding",
                "dilation",
                "groups",
                "bias",
                "input_shape",
            ])?;
            let dims = if ty == "Conv1d" { 1 } else { 2 };
            let weight = f.floats("weight")?;
            if weight.ndim() != dims + 2 {
                return Err(ctx.err(format!(
                    "weight has shape {:?}, expected {} axes (C_out, C_in/groups, kernel…)",
                    weight.shape(),
                    dims + 2
                )));
            }
            let per_axis = |name: &str| -> Result<Vec<usize>> {
                let v = f.usizes(name)?;
                match v.len() {
                    1 => Ok(vec![v[0]; dims]),
                    n if n == dims => Ok(v),
                    n => Err(ctx.err(format!("{name} has {n} values, expected 1 or {dims}"))),
                }
            };
            let padding = match f.string_if_text("padding")? {
                Some(s) if s == "same" => Padding::Same,
                Some(s) if s == "valid" => Padding::Valid,
                Some(s) => {
                    return Err(ctx.err(format!(
                        "padding is '{s}', expected integers, 'same' or 'valid'"
                    )))
                }
                None => Padding::Explicit(per_axis("padding")?),
            };
            let groups = f.usize("groups")?;
            let bias = if f.has("bias") {
                f.vector("bias")?
            } else {
                Array1::zeros(weight.shape()[0])
            };
            if bias.len() != weight.shape()[0] && !bias.is_empty() {
                return Err(ctx.err(format!(
                    "bias has {} values, expected {} (output channels)",
                    bias.len(),
                    weight.shape()[0]
                )));
            }
            let bias = if bias.is_empty() {
                Array1::zeros(weight.shape()[0])
            } else {
                bias
            };
            let input_shape = if f.has("input_shape") {
                Some(per_axis("input_shape")?)
            } else {
                None
            };
            Node::Conv {
                stride: per_axis("stride")?,
                dilation: per_axis("dilation")?,
                padding,
                groups,
                bias,
                input_shape,
                weight,
            }
        }
        "SumPool2d" | "AvgPool2d" => {
            f.only(&["kernel_size", "stride", "padding"])?;
            let two = |name: &str| -> Result<Vec<usize>> {
                let v = f.usizes(name)?;
                match v.len() {
                    1 => Ok(vec![v[0]; 2]),
                    2 => Ok(v),
                    n => Err(ctx.err(format!("{name} has {n} values, expected 1 or 2"))),
                }
            };
            Node::Pool2d {
                average: ty == "AvgPool2d",
                kernel: two("kernel_size")?,
                stride: two("stride")?,
                padding: two("padding")?,
            }
        }
        "Flatten" => {
            f.only(&["start_dim", "end_dim", "input_type"])?;
            Node::Flatten {
                start_dim: f.int("start_dim")?,
                end_dim: f.int("end_dim")?,
                input_type: if f.has("input_type") {
                    Some(f.usizes("input_type")?)
                } else {
                    None
                },
            }
        }
        "Delay" => {
            f.only(&["delay"])?;
            Node::Delay {
                delay: f.params("delay")?,
            }
        }
        "Threshold" => {
            f.only(&["threshold"])?;
            Node::Threshold {
                threshold: f.params("threshold")?,
            }
        }
        "I" | "IF" | "LI" | "LIF" | "CubaLI" | "CubaLIF" => {
            Node::Neuron(Box::new(read_neuron(&ty, &f)?))
        }
        other => {
            return Err(ctx.err(format!(
                "unknown NIR primitive '{other}' (known: NIRGraph, Input, Output, Affine, \
                 Linear, Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Delay, \
                 Threshold, I, IF, LI, LIF, CubaLI, CubaLIF)"
            )))
        }
    };
    Ok(node)
}

/// A neuron primitive: its fields, each an array of one shape.
fn read_neuron(ty: &str, f: &Fields<'_>) -> Result<Neuron> {
    let (kind, fields): (NeuronKind, &[&str]) = match ty {
        "I" => (NeuronKind::I, &["r"]),
        "IF" => (NeuronKind::If, &["r", "v_threshold", "v_reset"]),
        "LI" => (NeuronKind::Li, &["tau", "r", "v_leak"]),
        "LIF" => (
            NeuronKind::Lif,
            &["tau", "r", "v_leak", "v_threshold", "v_reset"],
        ),
        "CubaLI" => (
            NeuronKind::CubaLi,
            &["tau_mem", "tau_syn", "r", "v_leak", "w_in"],
        ),
        _ => (
            NeuronKind::CubaLif,
            &[
                "tau_mem",
                "tau_syn",
                "r",
                "v_leak",
                "w_in",
                "v_threshold",
                "v_reset",
            ],
        ),
    };
    f.only(fields)?;
    let optional = ["v_reset"];
    let mut values: BTreeMap<&str, ArrayD<f64>> = BTreeMap::new();
    for &name in fields {
        if optional.contains(&name) && !f.has(name) {
            continue;
        }
        values.insert(name, f.params(name)?);
    }
    let shape = values["r"].shape().to_vec();
    for (name, v) in &values {
        if v.shape() != shape.as_slice() {
            return Err(f.ctx.err(format!(
                "{name} has shape {:?} but r has {shape:?}: every parameter of a {ty} node has \
                 the layer's shape",
                v.shape()
            )));
        }
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            return Err(f
                .ctx
                .err(format!("{name} holds {bad}, expected finite numbers")));
        }
    }
    for name in ["tau", "tau_mem", "tau_syn"] {
        if let Some(v) = values.get(name) {
            if let Some(bad) = v.iter().find(|&&x| x <= 0.0) {
                return Err(f
                    .ctx
                    .err(format!("{name} holds {bad}, expected time constants > 0")));
            }
        }
    }
    if shape.iter().product::<usize>() == 0 {
        return Err(f
            .ctx
            .err(format!("r has shape {shape:?}: a layer of no neurons")));
    }
    let tau_mem = values.get("tau").or_else(|| values.get("tau_mem")).cloned();
    Ok(Neuron {
        kind,
        tau_mem,
        tau_syn: values.get("tau_syn").cloned(),
        r: values["r"].clone(),
        v_leak: values.get("v_leak").cloned(),
        v_threshold: values.get("v_threshold").cloned(),
        v_reset: values.get("v_reset").cloned(),
        w_in: values.get("w_in").cloned(),
    })
}

/// The `(N, 2)` string dataset `edges`.
fn read_edges(group: &hdf5::Group, ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let ds = group
        .dataset("edges")
        .map_err(|_| ctx.err("missing dataset 'edges'"))?;
    let shape = ds.shape();
    if shape.iter().product::<usize>() == 0 {
        return Ok(Vec::new());
    }
    if shape.len() != 2 || shape[1] != 2 {
        return Err(ctx.err(format!(
            "edges has shape {shape:?}, expected (N, 2): source and target names"
        )));
    }
    check_size(&ds, ctx, "edges")?;
    let names = read_strings(&ds, ctx, "edges")?;
    Ok(names
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

/// The strings and numbers of a graph's `metadata/` group (other entries are left: metadata is
/// non-normative). A numeric entry is size-checked like any field before it is read.
fn read_metadata(group: &hdf5::Group, ctx: &Ctx) -> Result<BTreeMap<String, Meta>> {
    let mut out = BTreeMap::new();
    let Ok(meta) = group.group("metadata") else {
        return Ok(out);
    };
    let ctx = ctx.child("metadata");
    let names = meta
        .member_names()
        .map_err(|e| ctx.err(format!("cannot list the entries: {e}")))?;
    for name in names {
        let Ok(ds) = meta.dataset(&name) else {
            continue;
        };
        let Some(desc) = ds
            .dtype()
            .ok()
            .and_then(|t| crate::io::h5::descriptor(&t).ok())
        else {
            continue;
        };
        let value = match desc {
            TypeDescriptor::Float(_) | TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
                check_size(&ds, &ctx, &name)?;
                let a = ds
                    .read_dyn::<f64>()
                    .map_err(|e| ctx.err(format!("entry '{name}': {e}")))?;
                match a.ndim() {
                    0 => Meta::Number(a.iter().copied().next().unwrap_or(f64::NAN)),
                    1 => Meta::Numbers(a.iter().copied().collect()),
                    _ => continue,
                }
            }
            TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii => {
                Meta::Text(read_string(&ds, &ctx, &name)?)
            }
            _ => continue,
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// One string (variable-length UTF-8 or ASCII, as h5py writes them).
fn read_string(ds: &hdf5::Dataset, ctx: &Ctx, name: &str) -> Result<String> {
    let mut all = read_strings(ds, ctx, name)?;
    if all.len() != 1 {
        return Err(ctx.err(format!(
            "dataset '{name}' holds {} strings, expected one",
            all.len()
        )));
    }
    Ok(all.pop().unwrap_or_default())
}

fn read_strings(ds: &hdf5::Dataset, ctx: &Ctx, name: &str) -> Result<Vec<String>> {
    let bad = |e: hdf5::Error| ctx.err(format!("dataset '{name}': {e}"));
    let desc = crate::io::h5::descriptor(&ds.dtype().map_err(bad)?)
        .map_err(|m| ctx.err(format!("dataset '{name}' is {m}")))?;
    if matches!(
        desc,
        TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii
    ) {
        check_size(ds, ctx, name)?;
        let object = format!("{}: dataset '{name}'", ctx.object);
        crate::io::global_heap::check_dataset_strings(&ctx.path, ds, &object)?;
    }
    match crate::io::h5::read_var_len_strings(ds, &desc) {
        Some(strings) => strings.map_err(bad),
        None => Err(ctx.err(format!(
            "dataset '{name}' is {desc:?}, expected variable-length strings"
        ))),
    }
}

/// The datasets of one node group, read with errors naming the node and the field.
struct Fields<'a> {
    group: &'a hdf5::Group,
    ctx: &'a Ctx,
    names: Vec<String>,
}

impl<'a> Fields<'a> {
    fn new(group: &'a hdf5::Group, ctx: &'a Ctx) -> Result<Self> {
        let names = group
            .member_names()
            .map_err(|e| ctx.err(format!("cannot list the node's fields: {e}")))?;
        Ok(Fields { group, ctx, names })
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Refuses members other than `allowed`, `type` and `metadata`.
    fn only(&self, allowed: &[&str]) -> Result<()> {
        for n in &self.names {
            if n != "type" && n != "metadata" && !allowed.contains(&n.as_str()) {
                return Err(self.ctx.err(format!(
                    "unknown field '{n}' (this primitive has: {})",
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn dataset(&self, name: &str) -> Result<hdf5::Dataset> {
        self.group
            .dataset(name)
            .map_err(|_| self.ctx.err(format!("missing field '{name}'")))
    }

    fn floats(&self, name: &str) -> Result<ArrayD<f32>> {
        let ds = self.dataset(name)?;
        check_size(&ds, self.ctx, name)?;
        let a = ds
            .read_dyn::<f32>()
            .map_err(|e| self.ctx.err(format!("field '{name}' is not numeric: {e}")))?;
        if let Some(bad) = a.iter().find(|x| !x.is_finite()) {
            return Err(self.ctx.err(format!(
                "field '{name}' holds {bad}, expected finite numbers"
            )));
        }
        Ok(a)
    }

    /// Neuron parameters, kept in double precision (time constants set decay factors).
    fn params(&self, name: &str) -> Result<ArrayD<f64>> {
        let ds = self.dataset(name)?;
        check_size(&ds, self.ctx, name)?;
        ds.read_dyn::<f64>()
            .map_err(|e| self.ctx.err(format!("field '{name}' is not numeric: {e}")))
    }

    fn matrix(&self, name: &str) -> Result<Array2<f32>> {
        let a = self.floats(name)?;
        let shape = a.shape().to_vec();
        a.into_dimensionality::<Ix2>().map_err(|_| {
            self.ctx.err(format!(
                "field '{name}' has shape {shape:?}, expected a matrix (out, in)"
            ))
        })
    }

    fn vector(&self, name: &str) -> Result<Array1<f32>> {
        let a = self.floats(name)?;
        let shape = a.shape().to_vec();
        if shape.is_empty() {
            return Ok(Array1::from_elem(
                1,
                a.iter().copied().next().unwrap_or(0.0),
            ));
        }
        a.into_dimensionality::<Ix1>().map_err(|_| {
            self.ctx.err(format!(
                "field '{name}' has shape {shape:?}, expected a vector"
            ))
        })
    }

    fn ints(&self, name: &str) -> Result<Vec<i64>> {
        let ds = self.dataset(name)?;
        check_size(&ds, self.ctx, name)?;
        let a = ds
            .read_dyn::<i64>()
            .map_err(|e| self.ctx.err(format!("field '{name}' is not integer: {e}")))?;
        Ok(a.iter().copied().collect())
    }

    fn int(&self, name: &str) -> Result<i64> {
        match self.ints(name)?.as_slice() {
            [one] => Ok(*one),
            other => Err(self.ctx.err(format!(
                "field '{name}' holds {} values, expected one integer",
                other.len()
            ))),
        }
    }

    fn usizes(&self, name: &str) -> Result<Vec<usize>> {
        self.ints(name)?
            .into_iter()
            .map(|v| {
                usize::try_from(v).map_err(|_| {
                    self.ctx
                        .err(format!("field '{name}' holds {v}, expected sizes ≥ 0"))
                })
            })
            .collect()
    }

    fn usize(&self, name: &str) -> Result<usize> {
        let v = self.int(name)?;
        usize::try_from(v).map_err(|_| {
            self.ctx
                .err(format!("field '{name}' is {v}, expected a size ≥ 0"))
        })
    }

    /// The field as text when it is stored as a string (convolution padding), else `None`.
    fn string_if_text(&self, name: &str) -> Result<Option<String>> {
        let ds = self.dataset(name)?;
        let is_text = ds
            .dtype()
            .ok()
            .and_then(|t| crate::io::h5::descriptor(&t).ok())
            .map(|d| {
                matches!(
                    d,
                    TypeDescriptor::VarLenUnicode
                        | TypeDescriptor::VarLenAscii
                        | TypeDescriptor::FixedAscii(_)
                        | TypeDescriptor::FixedUnicode(_)
                )
            })
            .unwrap_or(false);
        if is_text {
            read_string(&ds, self.ctx, name).map(Some)
        } else {
            Ok(None)
        }
    }
}
