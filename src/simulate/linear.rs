//! The linear NIR nodes (Affine, Linear, Scale, Conv1d/2d, SumPool2d/AvgPool2d, Flatten, Delay and
//! inlined pass-throughs) as maps on flat vectors in C order (PyTorch's layout: channels, then
//! height, then width), and the shape each node gives its output.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::io::nir::{Graph, Node, Padding};

/// A sparse vector: (index, value) pairs, indices increasing.
pub(crate) type Sparse = Vec<(u32, f32)>;

/// The output shape of every node of a flattened graph, and the input shape of every node that
/// has inputs (all of a node's inputs must have one size).
pub(crate) struct Shapes {
    pub output: BTreeMap<String, Vec<usize>>,
    pub input: BTreeMap<String, Vec<usize>>,
}

pub(crate) fn size(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Infers the shapes, from the Input node and the nodes whose parameters fix their output, until
/// nothing changes; then checks every edge's sizes.
pub(crate) fn shapes(g: &Graph, preds: &BTreeMap<String, Vec<String>>) -> Result<Shapes> {
    let mut output: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut input: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for _ in 0..=g.nodes.len() {
        let mut changed = false;
        for (name, node) in &g.nodes {
            if !input.contains_key(name) {
                if let Some(p) = preds
                    .get(name)
                    .and_then(|ps| ps.iter().find_map(|p| output.get(p)))
                {
                    input.insert(name.clone(), p.clone());
                    changed = true;
                }
            }
            if output.contains_key(name) {
                continue;
            }
            let fixed = own_output(name, node, input.get(name))?;
            if let Some(s) = fixed {
                output.insert(name.clone(), s);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (name, node) in &g.nodes {
        if !output.contains_key(name) {
            return Err(Error::Unsupported(format!(
                "NIR node '{name}' ({}): its shape cannot be inferred (no input reaches it and \
                 its fields do not fix it)",
                node.kind()
            )));
        }
    }
    // Every edge: the source's size is what the target takes.
    for (name, ps) in preds {
        let node = &g.nodes[name];
        let want = match node {
            Node::Affine { weight, .. } | Node::Linear { weight } => Some(weight.ncols()),
            Node::Neuron(n) => Some(n.len()),
            Node::Scale { scale } => Some(scale.len()),
            Node::Delay { delay } => Some(delay.len()),
            Node::Scatter { index, .. } => Some(index.len()),
            Node::Threshold { threshold } => Some(threshold.len()),
            _ => input.get(name).map(|s| size(s)),
        };
        for p in ps {
            let got = size(&output[p]);
            if let Some(want) = want {
                if got != want {
                    return Err(Error::Unsupported(format!(
                        "NIR edge {p} -> {name}: '{p}' gives {got} values ({:?}) but '{name}' \
                         ({}) takes {want}",
                        output[p],
                        node.kind()
                    )));
                }
            }
        }
    }
    Ok(Shapes { output, input })
}

/// The output shape a node gives, when its fields or its (known) input fix it.
fn own_output(name: &str, node: &Node, input: Option<&Vec<usize>>) -> Result<Option<Vec<usize>>> {
    Ok(match node {
        Node::Input { shape } => Some(shape.clone()),
        Node::Affine { weight, .. } | Node::Linear { weight } => Some(vec![weight.nrows()]),
        Node::Scale { scale } => Some(scale.shape().to_vec()),
        Node::Delay { delay } => Some(delay.shape().to_vec()),
        Node::Threshold { threshold } => Some(threshold.shape().to_vec()),
        Node::Neuron(n) => Some(n.shape()),
        Node::Output { .. } | Node::PassThrough => input.cloned(),
        Node::Gather { index } => Some(vec![index.len()]),
        Node::Scatter { shape, .. } => Some(shape.clone()),
        Node::Conv { .. } => conv_geometry(name, node, input)?.map(|c| c.output_shape()),
        Node::Pool2d { .. } => match input {
            Some(s) => Some(pool_geometry(name, node, s)?.output_shape()),
            None => None,
        },
        Node::Flatten {
            start_dim,
            end_dim,
            input_type,
        } => {
            let Some(s) = input_type.as_ref().or(input) else {
                return Ok(None);
            };
            if let (Some(t), Some(i)) = (input_type, input) {
                if size(t) != size(i) {
                    return Err(Error::Unsupported(format!(
                        "NIR node '{name}' (Flatten): input_type {t:?} but its input is {i:?}"
                    )));
                }
            }
            Some(flatten_shape(name, s, *start_dim, *end_dim)?)
        }
        Node::Graph(_) => {
            return Err(Error::Unsupported(format!(
                "NIR node '{name}': nested graphs must be inlined first (Graph::flatten)"
            )))
        }
    })
}

fn flatten_shape(name: &str, s: &[usize], start: i64, end: i64) -> Result<Vec<usize>> {
    let rank = s.len() as i64;
    let fix = |d: i64| if d < 0 { d + rank } else { d };
    let (a, b) = (fix(start), fix(end));
    if rank == 0 || a < 0 || b >= rank || a > b {
        return Err(Error::Unsupported(format!(
            "NIR node '{name}' (Flatten): start_dim {start}, end_dim {end} do not fit an input \
             of shape {s:?}"
        )));
    }
    let (a, b) = (a as usize, b as usize);
    let mut out = s[..a].to_vec();
    out.push(s[a..=b].iter().product());
    out.extend_from_slice(&s[b + 1..]);
    Ok(out)
}

/// A convolution's sizes, spatial axes padded to two (a Conv1d is a 1×W convolution).
#[derive(Debug, Clone)]
pub(crate) struct ConvGeometry {
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    pub dims: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before each axis (after is whatever the output size leaves).
    pub pad: [usize; 2],
    pub output: [usize; 2],
}

impl ConvGeometry {
    fn output_shape(&self) -> Vec<usize> {
        if self.dims == 1 {
            vec![self.c_out, self.output[1]]
        } else {
            vec![self.c_out, self.output[0], self.output[1]]
        }
    }
}

fn two(dims: usize, v: &[usize]) -> [usize; 2] {
    if dims == 1 {
        [1, v[0]]
    } else {
        [v[0], v[1]]
    }
}

pub(crate) fn conv_geometry(
    name: &str,
    node: &Node,
    input: Option<&Vec<usize>>,
) -> Result<Option<ConvGeometry>> {
    let Node::Conv {
        weight,
        stride,
        padding,
        dilation,
        groups,
        input_shape,
        ..
    } = node
    else {
        return Ok(None);
    };
    let err = |m: String| Error::Unsupported(format!("NIR node '{name}' ({}): {m}", node.kind()));
    let dims = weight.ndim() - 2;
    let w = weight.shape();
    if *groups == 0 || w[0] % groups != 0 {
        return Err(err(format!(
            "groups = {groups} does not divide the {} output channels",
            w[0]
        )));
    }
    let c_in = w[1] * groups;
    let spatial: Vec<usize> = match (input_shape, input) {
        (Some(s), Some(i)) => {
            if size(i) != c_in * size(s) {
                return Err(err(format!(
                    "input_shape {s:?} with {c_in} channels is {} values, but its input is {i:?}",
                    c_in * size(s)
                )));
            }
            s.clone()
        }
        (Some(s), None) => s.clone(),
        (None, Some(i)) if i.len() == dims + 1 && i[0] == c_in => i[1..].to_vec(),
        (None, Some(i)) => {
            return Err(err(format!(
                "its input has shape {i:?}, expected ({c_in}, spatial…) with {dims} spatial axes"
            )))
        }
        (None, None) => return Ok(None),
    };
    if spatial.len() != dims {
        return Err(err(format!("input_shape {spatial:?} has not {dims} axes")));
    }
    let kernel = two(dims, &w[2..]);
    let (stride, dilation, input) = (two(dims, stride), two(dims, dilation), two(dims, &spatial));
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err(err("zero stride, dilation or kernel size".into()));
    }
    let reach = |a: usize| dilation[a] * (kernel[a] - 1) + 1;
    let pad = match padding {
        Padding::Explicit(p) => two(dims, p),
        Padding::Valid => [0, 0],
        Padding::Same => {
            if stride != [1, 1] {
                return Err(err("padding 'same' with a stride other than 1".into()));
            }
            [(reach(0) - 1) / 2, (reach(1) - 1) / 2]
        }
    };
    let mut output = [0; 2];
    for a in 0..2 {
        let padded = match padding {
            Padding::Same => input[a] + reach(a) - 1,
            _ => input[a] + 2 * pad[a],
        };
        if padded < reach(a) {
            return Err(err(format!(
                "the kernel (reach {}) is larger than the padded input ({padded})",
                reach(a)
            )));
        }
        output[a] = (padded - reach(a)) / stride[a] + 1;
    }
    Ok(Some(ConvGeometry {
        c_in,
        c_out: w[0],
        groups: *groups,
        dims,
        input,
        kernel,
        stride,
        dilation,
        pad,
        output,
    }))
}

/// A pooling's sizes.
pub(crate) struct PoolGeometry {
    pub channels: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub output: [usize; 2],
    pub average: bool,
}

impl PoolGeometry {
    fn output_shape(&self) -> Vec<usize> {
        vec![self.channels, self.output[0], self.output[1]]
    }
}

pub(crate) fn pool_geometry(name: &str, node: &Node, input: &[usize]) -> Result<PoolGeometry> {
    let Node::Pool2d {
        average,
        kernel,
        stride,
        padding,
    } = node
    else {
        unreachable!("called on a pooling node")
    };
    let err = |m: String| Error::Unsupported(format!("NIR node '{name}' ({}): {m}", node.kind()));
    if input.len() != 3 {
        return Err(err(format!(
            "its input has shape {input:?}, expected (channels, height, width)"
        )));
    }
    let (k, s, p) = (two(2, kernel), two(2, stride), two(2, padding));
    if k.contains(&0) || s.contains(&0) {
        return Err(err("zero kernel size or stride".into()));
    }
    let mut output = [0; 2];
    for a in 0..2 {
        let padded = input[a + 1] + 2 * p[a];
        if padded < k[a] {
            return Err(err(format!(
                "the window {k:?} is larger than the padded input"
            )));
        }
        output[a] = (padded - k[a]) / s[a] + 1;
    }
    Ok(PoolGeometry {
        channels: input[0],
        input: [input[1], input[2]],
        kernel: k,
        stride: s,
        pad: p,
        output,
        average: *average,
    })
}

/// Applies the linear part of `node` (no bias) to the sparse input `x`; returns the output as a
/// sparse vector (exact zeros dropped). `input` is the node's input shape, `out_len` its output
/// size; `dense` is scratch of at least `out_len`.
pub(crate) fn apply(
    name: &str,
    node: &Node,
    input: &[usize],
    x: &[(u32, f32)],
    out_len: usize,
    dense: &mut Vec<f32>,
) -> Result<Sparse> {
    match node {
        Node::Flatten { .. } | Node::PassThrough | Node::Output { .. } | Node::Delay { .. } => {
            return Ok(x.to_vec())
        }
        Node::Gather { index } => {
            // Few elements are picked from a large input: look each input up.
            let mut out: Sparse = Vec::new();
            let at: BTreeMap<u32, f32> = x.iter().copied().collect();
            for (k, i) in index.iter().enumerate() {
                if let Some(&v) = at.get(i) {
                    out.push((k as u32, v));
                }
            }
            return Ok(out);
        }
        Node::Scatter { index, .. } => {
            let mut out: Sparse = x.iter().map(|&(k, v)| (index[k as usize], v)).collect();
            out.sort_by_key(|&(i, _)| i);
            return Ok(out);
        }
        Node::Scale { scale } => {
            let s = scale
                .as_slice_memory_order()
                .map_or_else(|| scale.iter().copied().collect::<Vec<_>>(), |s| s.to_vec());
            return Ok(x.iter().map(|&(i, v)| (i, v * s[i as usize])).collect());
        }
        _ => {}
    }
    dense.clear();
    dense.resize(out_len, 0.0);
    match node {
        Node::Affine { weight, .. } | Node::Linear { weight } => {
            for &(i, v) in x {
                for (o, w) in dense.iter_mut().zip(weight.column(i as usize)) {
                    *o += v * w;
                }
            }
        }
        Node::Conv { weight, .. } => {
            let shape = input.to_vec();
            let g = conv_geometry(name, node, Some(&shape))?.expect("input shape known");
            let w = weight.as_slice().map_or_else(
                || weight.iter().copied().collect::<Vec<_>>(),
                |s| s.to_vec(),
            );
            let (ih, iw) = (g.input[0], g.input[1]);
            let (oh, ow) = (g.output[0], g.output[1]);
            let (kh, kw) = (g.kernel[0], g.kernel[1]);
            let per_group_in = g.c_in / g.groups;
            let per_group_out = g.c_out / g.groups;
            for &(i, v) in x {
                let i = i as usize;
                let c = i / (ih * iw);
                let (y, xx) = ((i / iw) % ih, i % iw);
                let grp = c / per_group_in;
                let ci = c % per_group_in;
                for co in grp * per_group_out..(grp + 1) * per_group_out {
                    for ky in 0..kh {
                        // Output row r reads input row r·s + ky·d − pad.
                        let Some(num) = (y + g.pad[0]).checked_sub(ky * g.dilation[0]) else {
                            continue;
                        };
                        if num % g.stride[0] != 0 || num / g.stride[0] >= oh {
                            continue;
                        }
                        let r = num / g.stride[0];
                        for kx in 0..kw {
                            let Some(num) = (xx + g.pad[1]).checked_sub(kx * g.dilation[1]) else {
                                continue;
                            };
                            if num % g.stride[1] != 0 || num / g.stride[1] >= ow {
                                continue;
                            }
                            let col = num / g.stride[1];
                            let tap = ((co * per_group_in + ci) * kh + ky) * kw + kx;
                            dense[(co * oh + r) * ow + col] += v * w[tap];
                        }
                    }
                }
            }
        }
        Node::Pool2d { .. } => {
            let g = pool_geometry(name, node, input)?;
            let (ih, iw) = (g.input[0], g.input[1]);
            let (oh, ow) = (g.output[0], g.output[1]);
            let scale = if g.average {
                1.0 / (g.kernel[0] * g.kernel[1]) as f32
            } else {
                1.0
            };
            for &(i, v) in x {
                let i = i as usize;
                let c = i / (ih * iw);
                let (y, xx) = ((i / iw) % ih, i % iw);
                for ky in 0..g.kernel[0] {
                    let Some(num) = (y + g.pad[0]).checked_sub(ky) else {
                        continue;
                    };
                    if num % g.stride[0] != 0 || num / g.stride[0] >= oh {
                        continue;
                    }
                    for kx in 0..g.kernel[1] {
                        let Some(numx) = (xx + g.pad[1]).checked_sub(kx) else {
                            continue;
                        };
                        if numx % g.stride[1] != 0 || numx / g.stride[1] >= ow {
                            continue;
                        }
                        dense[(c * oh + num / g.stride[0]) * ow + numx / g.stride[1]] += v * scale;
                    }
                }
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "NIR node '{name}' ({}) is not a linear map",
                other.kind()
            )))
        }
    }
    Ok(dense
        .iter()
        .enumerate()
        .filter(|(_, &v)| v != 0.0)
        .map(|(i, &v)| (i as u32, v))
        .collect())
}

/// The bias a node adds to its output, as a dense vector, if any.
pub(crate) fn bias(name: &str, node: &Node, output: &[usize]) -> Result<Option<Vec<f32>>> {
    Ok(match node {
        Node::Affine { bias, .. } => Some(bias.to_vec()),
        Node::Conv { bias, .. } => {
            let per_channel = size(&output[1..]);
            if bias.iter().all(|&b| b == 0.0) {
                None
            } else {
                let _ = name;
                Some(
                    bias.iter()
                        .flat_map(|&b| std::iter::repeat_n(b, per_channel))
                        .collect(),
                )
            }
        }
        _ => None,
    })
}
