//! Building a spiking network on the engine from a (folded, normalised) ANN.
//!
//! Each Dense layer becomes a population of unit-threshold IF neurons (reset by subtraction, no
//! refractory period, dt = 1 ms): its weights a dense projection from the previous population with
//! delay 0, so a spike crosses every layer in the step it is emitted (the schedule of
//! [`crate::network`]); its bias a constant current. With analog input the first layer receives
//! `W₁·x + b₁` as a constant current every step (SNN Toolbox's analog coding, Rueckauer et al. 2017).
//! ReLU activations are what IF neurons compute; the output activation is replaced by spike counts.
//! Convolution and pooling layers are not supported yet and are refused with their name.

use ndarray::ArrayView1;

use crate::ann::{Activation, Ann, DropoutMode, Layer};
use crate::error::{Error, Result};
use crate::network::{Connection, Connector, Delay, Network, NetworkConfig, PopulationId, Weights};
use crate::neuron::{IafParams, NeuronModel, Port, Reset};

/// A spiking network built from an ANN.
pub struct SpikingModel {
    /// The network (IF populations, one per Dense layer).
    pub net: Network,
    /// The population of each Dense layer, in order.
    pub layers: Vec<PopulationId>,
    /// First layer's weights (outputs, inputs) and bias: the analog input current is `W·x + b`.
    first_weights: ndarray::Array2<f32>,
    first_bias: Option<ndarray::Array1<f32>>,
}

/// The Dense layers of a dense-only ANN with the scale of an inference-time dropout folded into the
/// weights that follow it.
fn dense_chain(ann: &Ann) -> Result<Vec<crate::ann::Dense>> {
    let mut out: Vec<crate::ann::Dense> = Vec::new();
    let mut pending_scale = 1.0f32;
    let last_weighted = ann
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Dense(_) | Layer::Conv2d(_)));
    for (i, (layer, name)) in ann.layers.iter().zip(&ann.names).enumerate() {
        match layer {
            Layer::Dense(d) => {
                let mut d = d.clone();
                d.weights *= pending_scale;
                pending_scale = 1.0;
                out.push(d);
            }
            Layer::Flatten => {}
            Layer::Dropout { rate } => {
                if ann.dropout_mode == DropoutMode::ScaleAtTest {
                    pending_scale *= 1.0 - rate;
                }
            }
            Layer::Activation(Activation::Relu) => {}
            Layer::Activation(_) if Some(i) > last_weighted => {} // the output activation: spike counts replace it
            Layer::Activation(a) => return Err(Error::Unsupported(format!("layer '{name}': a hidden {a:?} activation cannot be converted (IF neurons compute ReLU)"))),
            other => return Err(Error::Unsupported(format!("layer '{name}' ({}) is not supported by the converter yet (Dense, Flatten, ReLU and Dropout are)", other.kind()))),
        }
    }
    if out.is_empty() {
        return Err(Error::Unsupported(
            "the network has no Dense layer to convert".into(),
        ));
    }
    Ok(out)
}

/// Builds the spiking network. `ann` should already be folded and normalised (see
/// [`crate::convert::fold`] and [`crate::convert::normalize`]): thresholds are 1.
pub fn build(ann: &Ann) -> Result<SpikingModel> {
    let chain = dense_chain(ann)?;
    let mut net = Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: 0,
        max_delay_ms: 1.0,
    })?;
    let neuron = NeuronModel::Iaf(IafParams {
        v_th_mv: 1.0,
        v_rest_mv: 0.0,
        reset: Reset::BySubtraction,
        t_ref_ms: 0.0,
    });
    let mut layers = Vec::with_capacity(chain.len());
    for (k, d) in chain.iter().enumerate() {
        let pop = net.add_population(
            &format!("layer{}", k + 1),
            d.weights.nrows(),
            neuron.clone(),
            vec![Port::Delta],
        )?;
        if k > 0 {
            // Bias: a constant current (v += b every step at dt = 1 ms).
            if let Some(b) = &d.bias {
                net.set_constant_currents(pop, b.as_slice().expect("standard layout"))?;
            }
            let pre_major: Vec<f32> = d.weights.t().iter().copied().collect();
            let conn = Connection::new(Connector::AllToAll, Weights::Values(pre_major))
                .delay(Delay::Steps(0))
                .named(format!("dense{}", k + 1));
            net.connect(layers[k - 1], pop, conn)?;
        }
        layers.push(pop);
    }
    Ok(SpikingModel {
        net,
        layers,
        first_weights: chain[0].weights.clone(),
        first_bias: chain[0].bias.clone(),
    })
}

impl SpikingModel {
    /// The output population.
    pub fn output(&self) -> PopulationId {
        *self.layers.last().expect("at least one layer")
    }

    /// Resets the network and sets the analog input current for image `x`.
    pub fn present(&mut self, x: ArrayView1<'_, f32>) -> Result<()> {
        self.net.reset();
        let mut current = self.first_weights.dot(&x);
        if let Some(b) = &self.first_bias {
            current += b;
        }
        self.net
            .set_currents(self.layers[0], current.as_slice().expect("new array"))
    }

    /// Runs `steps` steps on image `x` and returns, per step, the cumulative output spike counts'
    /// decision: the index of the largest count (ties to the lowest), or `None` while no output
    /// neuron has fired (counted as wrong, as the reference converter does).
    pub fn classify(&mut self, x: ArrayView1<'_, f32>, steps: u64) -> Result<Vec<Option<usize>>> {
        self.present(x)?;
        let out = self.output();
        let n_out = self.net.population(out).len();
        let mut counts = vec![0u32; n_out];
        let mut decisions = Vec::with_capacity(steps as usize);
        for _ in 0..steps {
            self.net.step();
            for &i in self.net.population(out).last_spikes() {
                counts[i as usize] += 1;
            }
            let best = (0..n_out).fold(0, |b, i| if counts[i] > counts[b] { i } else { b });
            decisions.push((counts[best] > 0).then_some(best));
        }
        Ok(decisions)
    }
}
