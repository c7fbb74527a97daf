//! The model's architecture from its `model_config` JSON: a Sequential list or a Functional
//! graph, each layer with the names of the layers it reads, in an order where every layer comes
//! after its inputs.

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
    /// A layer of a nested model: the outermost nested model's layer, whose weight group holds
    /// this layer's variables, and the layer's own name inside its model (`name` is the path
    /// `outer/…/own`, unique in the flattened graph since Keras names hold no '/').
    pub(super) nested: Option<(String, String)>,
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
            nested: None,
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
pub(super) fn sequential(cfg: &Value, ctx: &Ctx) -> Result<(Vec<Wired>, Option<Vec<usize>>)> {
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
    // Each layer reads the one before; the first reads the model input (a name no layer has).
    let mut wired = Vec::with_capacity(layers.len() + 1);
    let mut prev = INPUT.to_string();
    for layer in layers {
        let name = layer.name.clone();
        wired.push(Wired {
            layer,
            reads: vec![std::mem::replace(&mut prev, name)],
        });
    }
    Ok((flatten_nested(wired, ctx)?, shape))
}

/// Whether a layer of the config is itself a model.
fn is_model(class: &str) -> bool {
    matches!(class, "Sequential" | "Functional" | "Model")
}

/// `wired` with every nested model (a Sequential or Functional used as a layer) replaced by its
/// own layers, named `model/layer`: its input becomes what the model layer read and its output
/// what the layers reading the model read. Recursive, so models nested deeper flatten too.
fn flatten_nested(wired: Vec<Wired>, ctx: &Ctx) -> Result<Vec<Wired>> {
    if !wired.iter().any(|w| is_model(&w.layer.class)) {
        return Ok(wired);
    }
    let mut out: Vec<Wired> = Vec::with_capacity(wired.len());
    // A nested model's name → the name of its output layer after flattening.
    let mut renamed: std::collections::HashMap<String, String> = Default::default();
    for w in wired {
        if !is_model(&w.layer.class) {
            out.push(w);
            continue;
        }
        let outer = w.layer.name.clone();
        let mctx = ctx.child(&outer);
        let (inner, _) = match w.layer.class.as_str() {
            "Sequential" => sequential(&w.layer.config, &mctx)?,
            _ => functional(&w.layer.config, &mctx)?,
        };
        let [source] = &w.reads[..] else {
            return Err(w.layer.err(
                ctx,
                format!(
                    "a nested model reads {} tensors; one is supported",
                    w.reads.len()
                ),
            ));
        };
        // The inner model's input: Sequential's placeholder, or a Functional's InputLayer.
        let inputs: Vec<String> = inner
            .iter()
            .filter(|i| i.layer.class == "InputLayer")
            .map(|i| i.layer.name.clone())
            .chain(std::iter::once(INPUT.to_string()))
            .collect();
        let mut last = None;
        for mut i in inner {
            if i.layer.class == "InputLayer" {
                continue;
            }
            let own = i.layer.name.clone();
            i.layer.nested = Some(match i.layer.nested.take() {
                // Deeper nesting: the weights are still in the outermost model's group.
                Some((_, short)) => (outer.clone(), short),
                None => (outer.clone(), own.clone()),
            });
            i.layer.name = format!("{outer}/{own}");
            i.reads = i
                .reads
                .into_iter()
                .map(|r| {
                    if inputs.contains(&r) {
                        source.clone()
                    } else {
                        format!("{outer}/{r}")
                    }
                })
                .collect();
            last = Some(i.layer.name.clone());
            out.push(i);
        }
        let last = last.ok_or_else(|| w.layer.err(ctx, "the nested model has no layers"))?;
        renamed.insert(outer, last);
    }
    for w in &mut out {
        for r in &mut w.reads {
            if let Some(n) = renamed.get(r) {
                *r = n.clone();
            }
        }
    }
    Ok(out)
}

/// The name a Sequential model's first layer reads: its input (Keras names are never empty).
pub(super) const INPUT: &str = "";

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

/// The layers of a Functional model in an order where each comes after the layers it reads
/// (the config's own order where it allows), each with the names of its inputs, and the
/// per-sample input shape. The model input reads nothing; the last layer is the output.
pub(super) fn functional(cfg: &Value, ctx: &Ctx) -> Result<(Vec<Wired>, Option<Vec<usize>>)> {
    let list = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("model_config: Functional model without a 'layers' list"))?;
    let inputs = endpoint_names(cfg.get("input_layers"));
    let outputs = endpoint_names(cfg.get("output_layers"));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(ctx.err(format!(
            "model_config: the model has inputs {inputs:?} and outputs {outputs:?}; one input and \
             one output are supported"
        )));
    }
    let mut wired: Vec<Wired> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let kl = KLayer::parse(v, ctx, i)?;
        let nodes = inbound(v);
        if nodes.len() > 1 {
            return Err(kl.err(
                ctx,
                format!(
                    "the layer is called {} times (a shared layer, one set of weights used in \
                     several places); each layer must be used once",
                    nodes.len()
                ),
            ));
        }
        if wired.iter().any(|w| w.layer.name == kl.name) {
            return Err(kl.err(ctx, "two layers have this name"));
        }
        let reads = nodes.into_iter().next().unwrap_or_default();
        if reads.is_empty() && kl.class != "InputLayer" {
            return Err(kl.err(ctx, "the layer has no input (no inbound node)"));
        }
        wired.push(Wired { layer: kl, reads });
    }
    for w in &wired {
        if let Some(missing) = w
            .reads
            .iter()
            .find(|r| !wired.iter().any(|x| x.layer.name == **r))
        {
            return Err(w.layer.err(
                ctx,
                format!("it reads '{missing}', which is not a layer of the model"),
            ));
        }
    }
    // Only what the output depends on, in an order where every layer follows its inputs.
    let mut needed = vec![false; wired.len()];
    let index = |name: &str| wired.iter().position(|w| w.layer.name == name);
    let out = index(&outputs[0]).ok_or_else(|| {
        ctx.err(format!(
            "model_config: output layer '{}' not found",
            outputs[0]
        ))
    })?;
    let mut stack = vec![out];
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut needed[i], true) {
            stack.extend(wired[i].reads.iter().filter_map(|r| index(r)));
        }
    }
    if let Some(off) = (0..wired.len()).find(|&i| !needed[i]) {
        return Err(wired[off].layer.err(
            ctx,
            format!("the model's output '{}' does not depend on this layer (a branch that leads nowhere)", outputs[0]),
        ));
    }
    let input = index(&inputs[0]).filter(|&i| needed[i]).ok_or_else(|| {
        ctx.err(format!(
            "model_config: the output '{}' does not depend on the input '{}'",
            outputs[0], inputs[0]
        ))
    })?;
    let mut placed = vec![false; wired.len()];
    let mut order = Vec::with_capacity(wired.len());
    while order.len() < needed.iter().filter(|n| **n).count() {
        let next = (0..wired.len()).find(|&i| {
            needed[i]
                && !placed[i]
                && wired[i]
                    .reads
                    .iter()
                    .all(|r| index(r).is_some_and(|j| placed[j]))
        });
        let Some(i) = next else {
            return Err(ctx.err("model_config: the layer graph has a cycle"));
        };
        placed[i] = true;
        order.push(i);
    }
    if wired[input].layer.class != "InputLayer" {
        return Err(wired[input]
            .layer
            .err(ctx, "the model input is not an InputLayer"));
    }
    if let Some(stray) = order
        .iter()
        .find(|&&i| wired[i].reads.is_empty() && i != input)
    {
        return Err(wired[*stray]
            .layer
            .err(ctx, format!("a second input besides '{}'", inputs[0])));
    }
    let shape = batch_shape(&wired[input].layer.config);
    let mut slots: Vec<Option<Wired>> = wired.into_iter().map(Some).collect();
    let ordered = order
        .into_iter()
        .map(|i| slots[i].take().expect("each placed once"))
        .collect();
    Ok((flatten_nested(ordered, ctx)?, shape))
}

/// A layer and the names of the layers it reads, in the order it reads them.
#[derive(Debug, Clone)]
pub(super) struct Wired {
    pub(super) layer: KLayer,
    pub(super) reads: Vec<String>,
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
