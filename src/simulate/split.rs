//! Neuron nodes whose neurons differ in more than R and `w_in` (trained per-neuron time
//! constants, thresholds, leak or reset potentials), split into one node per parameter set: the
//! engine takes those parameters per population.
//!
//! A node `n` with K parameter sets becomes K neuron nodes `n#k` (their neurons in the node's
//! order), each fed by a [`Node::Gather`] of its neurons' inputs and feeding a [`Node::Scatter`]
//! back to the node's elements, which meet in `n` itself, now a pass-through: the edges into and
//! out of `n` keep their meaning, and the planner composes the gathers and scatters into the
//! projections like any linear node.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};

use crate::io::nir::{Graph, Neuron, Node};

/// Neurons per parameter set, in order of first appearance.
fn groups(n: &Neuron) -> Vec<Vec<usize>> {
    let fields: Vec<Vec<f64>> = [
        &n.tau_mem,
        &n.tau_syn,
        &n.v_leak,
        &n.v_threshold,
        &n.v_reset,
    ]
    .into_iter()
    .flatten()
    .map(|a| a.iter().copied().collect())
    .collect();
    let mut index: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in 0..n.len() {
        let key: Vec<u64> = fields
            .iter()
            .map(|f| f.get(i).or(f.first()).map_or(0, |x| x.to_bits()))
            .collect();
        let k = *index.entry(key).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[k].push(i);
    }
    out
}

/// The neurons `idx` of `n` as a node of shape `[idx.len()]`.
fn subset(n: &Neuron, idx: &[usize]) -> Neuron {
    let pick = |a: &ArrayD<f64>| -> ArrayD<f64> {
        let v: Vec<f64> = a.iter().copied().collect();
        let one = v.len() == 1;
        ArrayD::from_shape_vec(
            IxDyn(&[idx.len()]),
            idx.iter().map(|&i| if one { v[0] } else { v[i] }).collect(),
        )
        .expect("one value per neuron")
    };
    Neuron {
        kind: n.kind,
        tau_mem: n.tau_mem.as_ref().map(pick),
        tau_syn: n.tau_syn.as_ref().map(pick),
        r: pick(&n.r),
        v_leak: n.v_leak.as_ref().map(pick),
        v_threshold: n.v_threshold.as_ref().map(pick),
        v_reset: n.v_reset.as_ref().map(pick),
        w_in: n.w_in.as_ref().map(pick),
    }
}

/// `g` (flattened) with every heterogeneous neuron node split by parameter set; the names of
/// the nodes split and their number of sets.
pub(crate) fn split_heterogeneous(mut g: Graph) -> (Graph, Vec<(String, usize)>) {
    let mut split = Vec::new();
    let names: Vec<String> = g.nodes.keys().cloned().collect();
    for name in names {
        let Some(Node::Neuron(n)) = g.nodes.get(&name) else {
            continue;
        };
        let sets = groups(n);
        if sets.len() < 2 {
            continue;
        }
        let n = (**n).clone();
        let shape = n.shape();
        let inputs: Vec<String> = g
            .edges
            .iter()
            .filter(|(_, b)| *b == name)
            .map(|(a, _)| a.clone())
            .collect();
        g.edges.retain(|(_, b)| *b != name);
        for (k, idx) in sets.iter().enumerate() {
            let part = format!("{name}#{k}");
            let (gather, scatter) = (format!("{part}.in"), format!("{part}.out"));
            let index: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
            g.nodes.insert(
                gather.clone(),
                Node::Gather {
                    index: index.clone(),
                },
            );
            g.nodes
                .insert(part.clone(), Node::Neuron(Box::new(subset(&n, idx))));
            g.nodes.insert(
                scatter.clone(),
                Node::Scatter {
                    index,
                    shape: shape.clone(),
                },
            );
            for a in &inputs {
                let from = if *a == name { name.clone() } else { a.clone() };
                g.edges.push((from, gather.clone()));
            }
            g.edges.push((gather, part.clone()));
            g.edges.push((part, scatter.clone()));
            g.edges.push((scatter, name.clone()));
        }
        g.nodes.insert(name.clone(), Node::PassThrough);
        split.push((name, sets.len()));
    }
    (g, split)
}
