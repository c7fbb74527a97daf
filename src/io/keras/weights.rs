//! The weight datasets of each layer under `/model_weights`.

use std::collections::HashMap;

use hdf5_metno as hdf5;
use ndarray::{Array1, ArrayD};

use super::config::KLayer;
use crate::error::Result;
use crate::io::h5::{self, Ctx};

/// A variable's name without its layer path and Keras 2's ":0" suffix (`dense/kernel:0` → `kernel`).
fn short_name(wname: &str) -> String {
    wname
        .rsplit('/')
        .next()
        .unwrap_or(wname)
        .trim_end_matches(":0")
        .to_string()
}

/// Whether variable `wname` of the weight group that holds `kl`'s variables is one of them: all
/// of a plain layer's; of a nested model's group, those whose path names the layer just before
/// the variable (`block/d1/kernel`, Keras 2's `d1/kernel:0`).
pub(super) fn belongs(kl: &KLayer, wname: &str) -> bool {
    match &kl.nested {
        None => true,
        Some((_, own)) => wname.rsplit('/').nth(1) == Some(own.as_str()),
    }
}

/// The name of the weight group holding `kl`'s variables.
pub(super) fn group_of(kl: &KLayer) -> &str {
    kl.nested.as_ref().map_or(&kl.name, |(group, _)| group)
}

/// The weight datasets of one layer, by variable name (`kernel`, `bias`, `gamma`, …).
pub(super) struct LayerWeights {
    pub(super) vars: HashMap<String, (ArrayD<f32>, String)>,
}

impl LayerWeights {
    pub(super) fn read(weights: &hdf5::Group, wctx: &Ctx, kl: &KLayer) -> Result<LayerWeights> {
        let mut vars = HashMap::new();
        let Ok(group) = weights.group(group_of(kl)) else {
            return Ok(LayerWeights { vars });
        };
        let gctx = wctx.child(group_of(kl));
        let names = h5::read_str_list_attr(&group, &gctx, "weight_names")?;
        for wname in names.into_iter().filter(|w| belongs(kl, w)) {
            let object = format!("{}/{wname}", gctx.object);
            let ds = group.dataset(&wname).map_err(|_| {
                kl.err(
                    &gctx,
                    format!(
                    "weight '{wname}' is listed in weight_names but the dataset {object} is missing"
                ),
                )
            })?;
            h5::check_size(&ds, &gctx, &wname)?;
            let array = ds.read_dyn::<f32>().map_err(|e| {
                kl.err(
                    &gctx,
                    format!("dataset {object} cannot be read as float32: {e}"),
                )
            })?;
            if let Some(i) = array.iter().position(|x| !x.is_finite()) {
                return Err(kl.err(
                    wctx,
                    format!(
                        "dataset {object} holds a non-finite value ({}) at flat index {i}",
                        array.iter().nth(i).expect("index found")
                    ),
                ));
            }
            vars.insert(short_name(&wname), (array, object));
        }
        Ok(LayerWeights { vars })
    }

    /// The variables of a layer held in memory (a live Keras model), checked as a file's are.
    pub(super) fn from_memory(
        root: &Ctx,
        kl: &KLayer,
        arrays: Vec<(String, ArrayD<f32>)>,
    ) -> Result<LayerWeights> {
        let mut vars = HashMap::new();
        for (wname, array) in arrays {
            let object = format!("weight '{wname}'");
            if let Some(i) = array.iter().position(|x| !x.is_finite()) {
                return Err(kl.err(
                    root,
                    format!("{object} holds a non-finite value at flat index {i}"),
                ));
            }
            vars.insert(short_name(&wname), (array, object));
        }
        Ok(LayerWeights { vars })
    }

    /// The variable `name`, checked against `shape`.
    pub(super) fn take(
        &mut self,
        kl: &KLayer,
        ctx: &Ctx,
        name: &str,
        shape: &[usize],
    ) -> Result<ArrayD<f32>> {
        let (array, object) = self.vars.remove(name).ok_or_else(|| {
            kl.err(
                ctx,
                format!("weight '{name}' (shape {shape:?}) is missing from /model_weights"),
            )
        })?;
        if array.shape() != shape {
            return Err(kl.err(
                ctx,
                format!(
                    "dataset {object} has shape {:?}, expected {shape:?}",
                    array.shape()
                ),
            ));
        }
        Ok(array)
    }

    pub(super) fn take_vec(
        &mut self,
        kl: &KLayer,
        ctx: &Ctx,
        name: &str,
        n: usize,
    ) -> Result<Array1<f32>> {
        let a = self.take(kl, ctx, name, &[n])?;
        Ok(a.into_iter().collect())
    }

    pub(super) fn none_left(&self, kl: &KLayer, ctx: &Ctx) -> Result<()> {
        match self.vars.keys().next() {
            None => Ok(()),
            Some(extra) => Err(kl.err(
                ctx,
                format!("unexpected weight '{extra}' for this layer class"),
            )),
        }
    }
}
