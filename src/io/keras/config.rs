//! The model's architecture from its `model_config` JSON: a Sequential list or a Functional
//! graph walked from output to input into a chain of layers.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::h5::Ctx;

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// One layer of the model's chain, as its config describes it.
#[derive(Debug, Clone)]
pub(super) struct KLayer {
    pub(super) class: String,
    pub(super) name: String,
    pub(super) config: Value,
}

impl KLayer {
    pub(super) fn parse(v: &Value, ctx: &Ctx, index: usize) -> Result<KLayer> {
        let class = str_field(v, "class_name")
            .ok_or_else(|| ctx.err(format!("model_config: layer {index} has no 'class_name'")))?
            .to_string();
        let config = v.get("config").cloned().unwrap_or(Value::Null);
        let name = str_field(&config, "name")
            .or_else(|| str_field(v, "name"))
            .ok_or_else(|| ctx.err(format!("model_config: layer {index} ({class}) has no name")))?
            .to_string();
        Ok(KLayer {
            class,
            name,
            config,
        })
    }

    pub(super) fn err(&self, ctx: &Ctx, message: impl std::fmt::Display) -> Error {
        ctx.err(format!("layer '{}' ({}): {message}", self.name, self.class))
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn usize_pair(&self, ctx: &Ctx, key: &str) -> Result<Option<(usize, usize)>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let as_usize = |v: &Value| v.as_u64().filter(|&x| x >= 1).map(|x| x as usize);
        let pair = match v {
            Value::Array(a) if a.len() == 2 => as_usize(&a[0]).zip(as_usize(&a[1])),
            Value::Array(a) if a.len() == 1 => as_usize(&a[0]).map(|x| (x, x)),
            other => as_usize(other).map(|x| (x, x)),
        };
        pair.map(Some).ok_or_else(|| {
            self.err(
                ctx,
                format!("'{key}' is {v}, expected one or two positive integers"),
            )
        })
    }

    pub(super) fn string(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub(super) fn number(&self, ctx: &Ctx, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(ctx, format!("'{key}' is {v}, expected a number"))),
        }
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }
}

/// The layers and the per-sample input shape (Keras order, batch axis removed) of a Sequential.
pub(super) fn sequential(cfg: &Value, ctx: &Ctx) -> Result<(Vec<KLayer>, Option<Vec<usize>>)> {
    // Keras < 2.2 wrote the layer list itself as the config.
    let list = cfg
        .get("layers")
        .or(Some(cfg))
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("model_config: Sequential without a 'layers' list"))?;
    let mut layers = list
        .iter()
        .enumerate()
        .map(|(i, v)| KLayer::parse(v, ctx, i))
        .collect::<Result<Vec<_>>>()?;
    let mut shape = None;
    if let Some(first) = layers.first() {
        shape = batch_shape(&first.config);
    }
    if shape.is_none() {
        shape = cfg.get("build_input_shape").and_then(shape_without_batch);
    }
    if layers.first().is_some_and(|l| l.class == "InputLayer") {
        layers.remove(0);
    }
    Ok((layers, shape))
}

pub(super) fn shape_without_batch(v: &Value) -> Option<Vec<usize>> {
    let dims = v.as_array()?;
    dims.iter()
        .skip(1)
        .map(|d| d.as_u64().map(|x| x as usize))
        .collect()
}

pub(super) fn batch_shape(cfg: &Value) -> Option<Vec<usize>> {
    cfg.get("batch_input_shape")
        .or_else(|| cfg.get("batch_shape"))
        .and_then(shape_without_batch)
}

/// Names of the layers a layer's inbound nodes refer to, one list per node. Keras 2 writes
/// `[[[name, node, tensor, {kwargs}], …], …]`; Keras 3 writes `[{"args": [tensor, …], "kwargs":
/// {…}}, …]` where each tensor carries `config.keras_history = [name, node, tensor]`.
pub(super) fn inbound(layer: &Value) -> Vec<Vec<String>> {
    pub(super) fn histories(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(h) = map.get("keras_history").and_then(Value::as_array) {
                    if let Some(name) = h.first().and_then(Value::as_str) {
                        out.push(name.to_string());
                    }
                    return;
                }
                map.values().for_each(|x| histories(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| histories(x, out)),
            _ => {}
        }
    }
    let Some(nodes) = layer.get("inbound_nodes").and_then(Value::as_array) else {
        return Vec::new();
    };
    nodes
        .iter()
        .map(|node| {
            let mut names = Vec::new();
            match node {
                Value::Array(entries) => {
                    for e in entries {
                        if let Some(name) = e.get(0).and_then(Value::as_str) {
                            names.push(name.to_string());
                        }
                    }
                }
                other => histories(other, &mut names),
            }
            names
        })
        .collect()
}

/// `[[name, 0, 0], …]` or (Keras 3, one tensor) `[name, 0, 0]`.
pub(super) fn endpoint_names(v: Option<&Value>) -> Vec<String> {
    match v.and_then(Value::as_array) {
        Some(a) if a.first().is_some_and(Value::is_string) => {
            vec![a[0].as_str().unwrap_or_default().to_string()]
        }
        Some(a) => a
            .iter()
            .filter_map(|e| e.get(0).and_then(Value::as_str).map(str::to_string))
            .collect(),
        None => Vec::new(),
    }
}

/// The chain of a Functional model, from its input to its output.
pub(super) fn functional(cfg: &Value, ctx: &Ctx) -> Result<(Vec<KLayer>, Option<Vec<usize>>)> {
    let list = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("model_config: Functional model without a 'layers' list"))?;
    let inputs = endpoint_names(cfg.get("input_layers"));
    let outputs = endpoint_names(cfg.get("output_layers"));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(ctx.err(format!(
            "model_config: the model has inputs {inputs:?} and outputs {outputs:?}; only a chain \
             with one input and one output is supported yet"
        )));
    }
    let mut layers = HashMap::new();
    let mut order = Vec::new();
    let mut pred: HashMap<String, String> = HashMap::new();
    let mut consumers: HashMap<String, Vec<String>> = HashMap::new();
    for (i, v) in list.iter().enumerate() {
        let kl = KLayer::parse(v, ctx, i)?;
        let nodes = inbound(v);
        if nodes.len() > 1 {
            return Err(kl.err(
                ctx,
                format!(
                    "the layer is called {} times (a shared layer); only a chain of layers each \
                     used once is supported yet",
                    nodes.len()
                ),
            ));
        }
        if let Some(node) = nodes.first() {
            if node.len() != 1 {
                return Err(kl.err(
                    ctx,
                    format!(
                        "the layer takes {} inputs ({}): branching graphs are not supported yet",
                        node.len(),
                        node.join(", ")
                    ),
                ));
            }
            pred.insert(kl.name.clone(), node[0].clone());
            consumers
                .entry(node[0].clone())
                .or_default()
                .push(kl.name.clone());
        }
        order.push(kl.name.clone());
        layers.insert(kl.name.clone(), kl);
    }
    for name in &order {
        if let Some(c) = consumers.get(name).filter(|c| c.len() > 1) {
            return Err(layers[name].err(
                ctx,
                format!(
                    "its output feeds {} layers ({}): branching graphs are not supported yet",
                    c.len(),
                    c.join(", ")
                ),
            ));
        }
    }
    let mut chain = vec![outputs[0].clone()];
    while chain.last() != Some(&inputs[0]) {
        let last = chain.last().expect("chain starts non-empty");
        let Some(p) = pred.get(last) else {
            return Err(ctx.err(format!(
                "model_config: layer '{last}' is not connected to the input '{}'",
                inputs[0]
            )));
        };
        if chain.contains(p) || chain.len() > order.len() {
            return Err(ctx.err("model_config: the layer graph has a cycle"));
        }
        chain.push(p.clone());
    }
    chain.reverse();
    if let Some(off) = order.iter().find(|n| !chain.contains(n)) {
        return Err(layers[off].err(
            ctx,
            "the layer is not on the path from the input to the output: branching graphs are not \
             supported yet",
        ));
    }
    let input = layers.get(&inputs[0]).ok_or_else(|| {
        ctx.err(format!(
            "model_config: input layer '{}' not found",
            inputs[0]
        ))
    })?;
    let shape = batch_shape(&input.config);
    let chain = chain
        .iter()
        .filter(|n| layers[*n].class != "InputLayer")
        .map(|n| layers[n].clone())
        .collect();
    Ok((chain, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_reads_both_keras_generations() {
        let k2: Value =
            serde_json::from_str(r#"{"inbound_nodes": [[["conv", 0, 0, {}]]]}"#).unwrap();
        assert_eq!(inbound(&k2), vec![vec!["conv".to_string()]]);
        let k3: Value = serde_json::from_str(
            r#"{"inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                "config": {"shape": [null, 4], "keras_history": ["dense", 0, 0]}}], "kwargs": {}}]}"#,
        )
        .unwrap();
        assert_eq!(inbound(&k3), vec![vec!["dense".to_string()]]);
    }
}
