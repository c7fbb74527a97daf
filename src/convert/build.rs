//! Building a spiking network on the engine from a (folded, normalised) ANN.
//!
//! Each Dense layer becomes a population of unit-threshold neurons (dt = 1 ms) whose weights are a
//! dense projection from the previous population with delay 0, so a spike crosses every layer in
//! the step it is emitted (the schedule of [`crate::network`]); its bias is a constant current.
//! With analog input the first layer receives `W₁·x + b₁` as a current every step (SNN Toolbox's
//! analog coding, Rueckauer et al. 2017); with Poisson input the pixels are spike sources whose
//! draws the model makes every step (named by seed, sample and step). ReLU activations are what
//! the neurons compute; the output activation is replaced by the readout. The knobs are in
//! [`super::options`]. Convolution and pooling layers are not supported yet and are refused with
//! their name.

use ndarray::ArrayView1;

use super::layers::Stage;
use super::offset_spikes::PreRun;
use super::options::{
    ConvertOptions, InitialPotential, InputCoding, NeuronChoice, Readout, ResetChoice,
};
use super::plan::Source;
use crate::ann::Ann;
use crate::error::{Error, Result};
use crate::network::{
    Connection, Connector, Delay, Network, NetworkConfig, PopulationId, StateVar, Weights,
};
use crate::neuron::{IafParams, IntegratorParams, LifParams, NeuronModel, Port, Reset};
use crate::rng::{stream, uniform01, Purpose};

/// Synaptic time constant of converted Izhikevich layers (ms): long enough to smooth a 100 Hz
/// train into a current, short against the tens of steps a decision takes.
const IZH_SYN_TAU_MS: f32 = 5.0;

/// A spiking network built from an ANN.
pub struct SpikingModel {
    /// The network.
    pub net: Network,
    /// The population of each Dense layer, in order (the excitatory copy under Dale's principle).
    pub layers: Vec<PopulationId>,
    /// Under Dale's principle, each hidden layer's inhibitory copy.
    pub inhibitory: Vec<Option<PopulationId>>,
    /// Poisson input: the pixel sources (and their inhibitory copy under Dale's principle).
    input: Option<(PopulationId, Option<PopulationId>)>,
    /// Analog input: the populations that read the input and the currents they get from it.
    analog: Vec<Analog>,
    options: ConvertOptions,
    /// Per step for the Poisson input: probability per pixel.
    pixel_p: Vec<f64>,
    /// The current sample's offset-spike pre-run ([`super::offset_spikes`]).
    pub(crate) pre_run: PreRun,
}

/// The neuron of a converted layer.
fn neuron(options: &ConvertOptions, threshold: f32) -> NeuronModel {
    let reset = match options.reset {
        ResetChoice::Subtract => Reset::BySubtraction,
        ResetChoice::Zero => Reset::ToValue { v_reset_mv: 0.0 },
    };
    let t_ref_ms = options.refractory_steps as f32;
    match options.neuron {
        NeuronChoice::If => NeuronModel::Iaf(IafParams {
            v_th_mv: threshold,
            v_rest_mv: 0.0,
            reset,
            t_ref_ms,
        }),
        NeuronChoice::Lif { tau_mem_ms } => NeuronModel::Lif(LifParams {
            tau_mem_ms,
            v_rest_mv: 0.0,
            v_th_mv: threshold,
            reset,
            t_ref_ms,
        }),
        NeuronChoice::Izhikevich => NeuronModel::Izhikevich(super::calibrate::regular_spiking()),
    }
}

/// How a layer's neurons take drive — the per-step input a unit-threshold IF neuron would get —
/// and how fast they fire for it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drive {
    /// Current added to every neuron (the Izhikevich neuron's silent maximum).
    offset: f32,
    /// Current per unit of drive.
    current_scale: f32,
    /// Synaptic weight per unit of drive carried by one spike per step.
    synapse_scale: f32,
    /// Spikes per step per unit of drive.
    rate: f32,
    /// The receptor port spikes arrive through.
    port: Port,
}

impl Drive {
    /// IF: drive is the input itself.
    const UNIT: Drive = Drive {
        offset: 0.0,
        current_scale: 1.0,
        synapse_scale: 1.0,
        rate: 1.0,
        port: Port::Delta,
    };
}

/// The analog input of one population: the sum of its input stages' `W·x + b`, as current.
#[derive(Debug, Clone)]
struct Analog {
    /// The population (and its inhibitory copy under Dale's principle).
    pops: Vec<PopulationId>,
    /// The stages that read the input.
    stages: Vec<Stage>,
    /// How the population turns drive into current.
    drive: Drive,
    /// Whether the current carries the drive's offset (when no constant current does).
    offset: bool,
}

/// The empty network of a conversion: dt = 1 ms, the options' seed, every delay 0.
fn converted_network(options: &ConvertOptions) -> Result<Network> {
    Network::new(NetworkConfig {
        dt_ms: 1.0,
        seed: options.seed,
        max_delay_ms: 1.0,
    })
}

/// A delay-0 projection (a spike crosses every converted layer in the step it is emitted).
fn same_step(connector: Connector, weights: Vec<f32>, name: String) -> Connection {
    Connection::new(connector, Weights::Values(weights))
        .delay(Delay::Steps(0))
        .named(name)
}

/// Pre-major weights of `w` (outputs, inputs), times `scale`.
fn pre_major(w: &ndarray::Array2<f32>, scale: f32) -> Vec<f32> {
    w.t().iter().map(|&x| x * scale).collect()
}

/// How each spiking layer of `options` turns drive (the per-step input of a unit-threshold IF
/// neuron) into its own input, and how many spikes per step it emits per unit of drive.
fn spiking_drive(options: &ConvertOptions) -> Result<Drive> {
    let izh = match options.neuron {
        NeuronChoice::Izhikevich => Some(super::calibrate::izhikevich_gain()?),
        _ => None,
    };
    Ok(match options.neuron {
        NeuronChoice::If => Drive::UNIT,
        NeuronChoice::Lif { tau_mem_ms } => {
            // v ← p·(v + input): a current i adds (1 − p)·i, so drive a needs i = a·p/(1 − p).
            let p = (-1.0 / tau_mem_ms as f64).exp();
            Drive {
                current_scale: (p / -(-1.0 / tau_mem_ms as f64).exp_m1()) as f32,
                ..Drive::UNIT
            }
        }
        NeuronChoice::Izhikevich => {
            // Spikes arrive through an exponential current (τ = IZH_SYN_TAU_MS) so that a train
            // at rate r acts like the constant current the f-I calibration measured; a spike of
            // weight w carries w/(1 − e^(−1/τ)) of current in total, hence the factor.
            let g = izh.expect("calibrated above");
            let decay = (-1.0 / IZH_SYN_TAU_MS as f64).exp();
            Drive {
                offset: g.rheobase,
                current_scale: g.current_per_drive,
                synapse_scale: g.current_per_drive * (1.0 - decay) as f32,
                rate: g.max_rate as f32,
                port: Port::Exponential {
                    tau_ms: IZH_SYN_TAU_MS,
                },
            }
        }
    })
}

/// Builds the spiking network with the reference converter's settings.
pub fn build(ann: &Ann) -> Result<SpikingModel> {
    build_with(ann, &ConvertOptions::default())
}

/// Builds the spiking network of `ann` with `options`. `ann` must have its batch norm folded
/// (a BatchNorm layer left in is refused by name) and should be normalised, since every threshold
/// is 1: [`crate::convert::pipeline::convert`] does both.
pub fn build_with(ann: &Ann, options: &ConvertOptions) -> Result<SpikingModel> {
    options.validate()?;
    if options.coding == super::options::Coding::Ttfs {
        return Err(Error::Unsupported(
            "time-to-first-spike coding runs on its own single-spike dynamics \
             (convert::ttfs::TtfsNetwork), not on the stepped rate engine"
                .into(),
        ));
    }
    if super::plan::needs_plan(ann) {
        return build_graph(ann, options);
    }
    let chain = super::layers::engine_stages(ann, options.dale)?;
    let mut net = converted_network(options)?;
    let spiking_drive = spiking_drive(options)?;
    let dale = options.dale;
    let n_in = ann.input_features();
    let input = match options.input {
        InputCoding::Analog | InputCoding::Latency => None,
        InputCoding::Poisson => {
            let e = net.add_external_source("input", n_in)?;
            let i = dale
                .then(|| net.add_external_source("input (inhibitory)", n_in))
                .transpose()?;
            Some((e, i))
        }
    };
    let n_layers = chain.len();
    let mut first_drive = spiking_drive;
    // Spikes per step per unit of drive of the layer feeding the next one (Poisson input: 1).
    let mut source_rate = 1.0f32;
    let mut layers: Vec<PopulationId> = Vec::with_capacity(n_layers);
    let mut inhibitory: Vec<Option<PopulationId>> = Vec::with_capacity(n_layers);
    for (k, d) in chain.iter().enumerate() {
        let is_output = k + 1 == n_layers;
        let membrane_out = is_output && options.readout == Readout::Membrane;
        let model = if membrane_out {
            NeuronModel::Integrator(IntegratorParams { v_rest_mv: 0.0 })
        } else {
            neuron(options, 1.0)
        };
        let n = d.n_out();
        let name = format!("layer{}", k + 1);
        // Integrating output neurons are IF: drive adds as it is.
        let drive = if membrane_out {
            Drive::UNIT
        } else {
            spiking_drive
        };
        let e = net.add_population(&name, n, model.clone(), vec![drive.port])?;
        let i = (dale && !is_output)
            .then(|| {
                net.add_population(&format!("{name} (inhibitory)"), n, model, vec![drive.port])
            })
            .transpose()?;
        let targets: Vec<PopulationId> = std::iter::once(e).chain(i).collect();
        // The sources of this layer: the previous layer (or the Poisson input), split by sign
        // under Dale's principle.
        let source = if k == 0 {
            input
        } else {
            Some((layers[k - 1], inhibitory[k - 1]))
        };
        if k == 0 {
            first_drive = drive;
        }
        let weight_scale = drive.synapse_scale / source_rate;
        for &t in &targets {
            if k > 0 || input.is_some() {
                let b: Vec<f32> = match &d.bias() {
                    Some(b) => b
                        .iter()
                        .map(|x| drive.offset + x * drive.current_scale)
                        .collect(),
                    None => vec![drive.offset; n],
                };
                if b.iter().any(|&x| x != 0.0) {
                    net.set_constant_currents(t, &b)?;
                }
            }
            if options.neuron == NeuronChoice::Izhikevich && !membrane_out {
                let (v, u) = super::calibrate::resting_state(drive.offset);
                net.set_state(t, StateVar::V, &vec![v; n])?;
                net.set_state(t, StateVar::U, &vec![u; n])?;
            }
            if options.initial == InitialPotential::HalfThreshold && !membrane_out {
                net.set_v(t, &vec![0.5; n])?;
            }
            let Some((src_e, src_i)) = source else {
                continue;
            };
            match (src_i, d) {
                (Some(src_i), stage) if !stage.is_max_gate() => {
                    // Only the synapses of each sign exist: a sparse projection per copy.
                    let all = stage.synapses();
                    for (src, positive, tag) in
                        [(src_e, true, "excitatory"), (src_i, false, "inhibitory")]
                    {
                        let (pairs, w): (Vec<(u32, u32)>, Vec<f32>) = all
                            .iter()
                            .filter(|s| if positive { s.2 > 0.0 } else { s.2 < 0.0 })
                            .map(|s| ((s.0, s.1), s.2 * weight_scale))
                            .unzip();
                        if pairs.is_empty() {
                            continue;
                        }
                        let name =
                            format!("layer{} ({tag}) -> {}", k + 1, net.population(t).name());
                        net.connect(src, t, same_step(Connector::List(pairs), w, name))?;
                    }
                }
                // A max gate relays positive spikes: under Dale's principle only the excitatory
                // copy of its input feeds it.
                (_, stage) => {
                    connect_stage(
                        &mut net,
                        src_e,
                        t,
                        stage,
                        weight_scale,
                        &format!("layer{}", k + 1),
                    )?;
                }
            }
        }
        layers.push(e);
        inhibitory.push(i);
        source_rate = drive.rate;
    }
    let analog = match input {
        Some(_) => Vec::new(),
        None => vec![Analog {
            pops: std::iter::once(layers[0]).chain(inhibitory[0]).collect(),
            stages: vec![chain[0].clone()],
            drive: first_drive,
            offset: true,
        }],
    };
    Ok(SpikingModel {
        net,
        layers,
        inhibitory,
        input,
        analog,
        options: options.clone(),
        pixel_p: Vec::new(),
        pre_run: PreRun::default(),
    })
}

/// [`build_with`] for a graph ([`super::plan`]): a population per spiking value, every projection
/// into it delay 0, its constant current the biases of the projections that carry spikes; the
/// projections from an analog input are its current, `Σ W·x + b`, set at [`SpikingModel::present`].
fn build_graph(ann: &Ann, options: &ConvertOptions) -> Result<SpikingModel> {
    if options.dale {
        ann.require_chain("Dale's principle (the converter splits chains, not graphs, so far)")?;
        return Err(Error::Unsupported(
            "Dale's principle: the converter splits chains of Dense, Conv2d and pooling layers \
             only so far, not the graph build of global pooling or zero padding"
                .into(),
        ));
    }
    let plan = super::plan::plan(ann)?;
    let mut net = converted_network(options)?;
    let spiking_drive = spiking_drive(options)?;
    let input = match options.input {
        InputCoding::Analog | InputCoding::Latency => None,
        InputCoding::Poisson => Some((
            net.add_external_source("input", ann.input_features())?,
            None,
        )),
    };
    let n_pops = plan.pops.len();
    let mut layers: Vec<PopulationId> = Vec::with_capacity(n_pops);
    let mut analog = Vec::new();
    for (k, pop) in plan.pops.iter().enumerate() {
        let membrane_out = k + 1 == n_pops && options.readout == Readout::Membrane;
        let (model, drive) = if membrane_out {
            (
                NeuronModel::Integrator(IntegratorParams { v_rest_mv: 0.0 }),
                Drive::UNIT,
            )
        } else {
            (neuron(options, 1.0), spiking_drive)
        };
        let e = net.add_population(&pop.name, pop.n, model, vec![drive.port])?;
        let from_analog = |t: &&super::plan::Term| t.from == Source::Input && input.is_none();
        let (analog_terms, spiking_terms): (Vec<_>, Vec<_>) =
            pop.terms.iter().partition(from_analog);
        let pure_analog = spiking_terms.is_empty();
        if !pure_analog {
            let mut b = vec![drive.offset; pop.n];
            for t in &spiking_terms {
                if let Some(bias) = t.stage.bias() {
                    b.iter_mut()
                        .zip(bias)
                        .for_each(|(b, x)| *b += x * drive.current_scale);
                }
            }
            if b.iter().any(|&x| x != 0.0) {
                net.set_constant_currents(e, &b)?;
            }
        }
        if options.neuron == NeuronChoice::Izhikevich && !membrane_out {
            let (v, u) = super::calibrate::resting_state(drive.offset);
            net.set_state(e, StateVar::V, &vec![v; pop.n])?;
            net.set_state(e, StateVar::U, &vec![u; pop.n])?;
        }
        if options.initial == InitialPotential::HalfThreshold && !membrane_out {
            net.set_v(e, &vec![0.5; pop.n])?;
        }
        for t in &spiking_terms {
            let (src, rate) = match t.from {
                Source::Input => (input.expect("spiking input").0, 1.0),
                Source::Pop(j) => (layers[j], spiking_drive.rate),
            };
            let scale = drive.synapse_scale / rate;
            connect_stage(&mut net, src, e, &t.stage, scale, &pop.name)?;
        }
        if !analog_terms.is_empty() {
            analog.push(Analog {
                pops: vec![e],
                stages: analog_terms.iter().map(|t| t.stage.clone()).collect(),
                drive,
                offset: pure_analog,
            });
        }
        layers.push(e);
    }
    Ok(SpikingModel {
        net,
        inhibitory: vec![None; layers.len()],
        layers,
        input,
        analog,
        options: options.clone(),
        pixel_p: Vec::new(),
        pre_run: PreRun::default(),
    })
}

/// Connects `stage` from `src` to `target` (delay 0), its weights times `scale`: a dense matrix
/// (the projection named after `dense_name`), a shared convolution kernel, or a synapse list
/// (gated by spike count for a max pooling).
fn connect_stage(
    net: &mut Network,
    src: PopulationId,
    target: PopulationId,
    stage: &Stage,
    scale: f32,
    dense_name: &str,
) -> Result<()> {
    match stage {
        Stage::Dense(dense) => {
            let name = format!("{dense_name} -> {}", net.population(target).name());
            let w = pre_major(&dense.weights, scale);
            net.connect(src, target, same_step(Connector::AllToAll, w, name))?;
        }
        Stage::Local {
            pairs,
            weights,
            name,
            max_gate,
            shared,
            ..
        } => {
            let name = format!("{name} -> {}", net.population(target).name());
            if let Some((geometry, kernel)) = shared {
                let k: Vec<f32> = kernel.iter().map(|w| w * scale).collect();
                net.connect_conv(src, target, *geometry, &k, 0, &name)?;
                return Ok(());
            }
            let w = weights.iter().map(|w| w * scale).collect();
            let proj = net.connect(
                src,
                target,
                same_step(Connector::List(pairs.clone()), w, name),
            )?;
            if *max_gate {
                net.set_max_gate(proj)?;
            }
        }
    }
    Ok(())
}

/// What one sample's run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRun {
    /// The decision after every step 1..T (frozen after an early exit); `None` while undecided.
    pub decisions: Vec<Option<usize>>,
    /// Steps simulated (T unless the sample exited early).
    pub steps_used: u64,
    /// Synaptic operations delivered up to the end of every step 1..T (frozen after an early
    /// exit): the cumulative cost behind each decision.
    pub synaptic_ops: Vec<u64>,
}

/// A sample's decisions as its steps run ([`SpikingModel::decide`]).
#[derive(Debug, Clone)]
pub(crate) struct Decider {
    /// Output spikes so far, per output neuron (spike-count readout).
    counts: Vec<u32>,
    /// The decisions so far and the steps used.
    pub(crate) run: SampleRun,
    /// Steps the current decision has held.
    stable: u32,
    /// The sample's steps (T).
    steps: u64,
}

impl SpikingModel {
    /// The output population.
    pub fn output(&self) -> PopulationId {
        *self.layers.last().expect("at least one layer")
    }

    /// The Poisson input sources (excitatory copy), if the input is spiking.
    pub fn input_population(&self) -> Option<PopulationId> {
        self.input.map(|i| i.0)
    }

    /// The options the network was built with.
    pub fn options(&self) -> &ConvertOptions {
        &self.options
    }

    /// Resets the network and presents image `x` (analog current or Poisson probabilities).
    pub fn present(&mut self, x: ArrayView1<'_, f32>) -> Result<()> {
        let currents = self.analog_currents(x);
        self.present_with(x, &currents)
    }

    /// The current each analog input group receives for image `x` (none under Poisson input):
    /// the first layer's product, computed once per image even when it is presented twice.
    pub(crate) fn analog_currents(&self, x: ArrayView1<'_, f32>) -> Vec<Vec<f32>> {
        if self.input.is_some() {
            return Vec::new();
        }
        let x: Vec<f32> = x.iter().copied().collect();
        self.analog
            .iter()
            .map(|a| {
                let mut sum = a.stages[0].drive(&x);
                for stage in &a.stages[1..] {
                    sum.iter_mut()
                        .zip(stage.drive(&x))
                        .for_each(|(s, v)| *s += v);
                }
                let d = a.drive;
                let base = if a.offset { d.offset } else { 0.0 };
                sum.iter().map(|c| base + c * d.current_scale).collect()
            })
            .collect()
    }

    /// [`SpikingModel::present`] with the analog currents already computed
    /// ([`SpikingModel::analog_currents`] of the same image).
    pub(crate) fn present_with(
        &mut self,
        x: ArrayView1<'_, f32>,
        currents: &[Vec<f32>],
    ) -> Result<()> {
        self.net.reset();
        match self.input {
            None => {
                for (a, current) in self.analog.iter().zip(currents) {
                    for &p in &a.pops {
                        self.net.set_currents(p, current)?;
                    }
                }
            }
            Some(_) => {
                let max = x.iter().copied().fold(0.0f32, f32::max);
                self.pixel_p = x
                    .iter()
                    .map(|&v| {
                        if max > 0.0 {
                            (v.max(0.0) / max) as f64
                        } else {
                            0.0
                        }
                    })
                    .collect();
            }
        }
        Ok(())
    }

    /// Draws the Poisson input of `step` for sample `sample` and hands it to the input sources.
    pub(crate) fn inject(&mut self, sample: u64, step: u64, spikes: &mut Vec<u32>) -> Result<()> {
        let Some((e, i)) = self.input else {
            return Ok(());
        };
        spikes.clear();
        let mut rng = stream(self.options.seed, Purpose::Poisson, sample, 0, step);
        for (k, &p) in self.pixel_p.iter().enumerate() {
            if p > 0.0 && uniform01(&mut rng) < p {
                spikes.push(k as u32);
            }
        }
        self.net.inject_spikes(e, spikes)?;
        if let Some(i) = i {
            self.net.inject_spikes(i, spikes)?;
        }
        Ok(())
    }

    /// Runs image `x` (sample number `sample`, which names its Poisson draws) for up to `steps`
    /// steps and returns the decision after every step: the readout's argmax (ties to the lowest
    /// index), `None` while no output neuron has fired under spike-count readout (counted as wrong,
    /// as the reference converter does). With early exit the run stops once the decision has been
    /// the same for k steps, and that decision stands for the remaining steps. With offset-spike
    /// calibration the run is preceded by its pre-run of ρ steps ([`SpikingModel::start`]), which
    /// the result counts: ρ + T decisions, the first ρ `None`.
    pub fn run_sample(
        &mut self,
        x: ArrayView1<'_, f32>,
        sample: u64,
        steps: u64,
    ) -> Result<SampleRun> {
        self.start(x, sample)?;
        let mut decider = self.decider(steps);
        let mut spikes = Vec::new();
        for t in 0..steps {
            self.inject(sample, t, &mut spikes)?;
            self.net.step();
            if self.decide(&mut decider)? {
                break;
            }
        }
        Ok(decider.run)
    }

    /// The decisions of a sample about to run for up to `steps` steps, after its pre-run (if
    /// any, [`SpikingModel::start`]): the pre-run's steps come first, undecided, with their
    /// synaptic operations.
    pub(crate) fn decider(&self, steps: u64) -> Decider {
        let pre = self.pre_run.steps();
        let total = steps + pre as u64;
        let mut decisions = Vec::with_capacity(total as usize);
        decisions.resize(pre, None);
        let mut synaptic_ops = Vec::with_capacity(total as usize);
        synaptic_ops.extend_from_slice(&self.pre_run.synaptic_ops);
        Decider {
            counts: vec![0; self.net.population(self.output()).len()],
            run: SampleRun {
                decisions,
                steps_used: total,
                synaptic_ops,
            },
            stable: 0,
            steps: total,
        }
    }

    /// Records the decision after the step just run: the readout's argmax (ties to the lowest
    /// index), `None` while no output neuron has fired under spike-count readout. Returns whether
    /// the sample is done: all its steps run, or (early exit) the decision the same for k steps,
    /// which then stands for the remaining steps.
    pub(crate) fn decide(&self, d: &mut Decider) -> Result<bool> {
        let out = self.output();
        let t = d.run.decisions.len() as u64;
        let decision = match self.options.readout {
            Readout::SpikeCount => {
                for &i in self.net.population(out).last_spikes() {
                    d.counts[i as usize] += 1;
                }
                let c = &d.counts;
                let best = (0..c.len()).fold(0, |b, i| if c[i] > c[b] { i } else { b });
                (c[best] > 0).then_some(best)
            }
            Readout::Membrane => {
                let v = self.net.state(out, StateVar::V)?;
                Some(crate::ann::argmax(&v))
            }
        };
        d.stable = match d.run.decisions.last() {
            Some(prev) if *prev == decision && decision.is_some() => d.stable + 1,
            _ => u32::from(decision.is_some()),
        };
        d.run.decisions.push(decision);
        let ops = self.net.n_events() + self.pre_run.total_synaptic_ops();
        d.run.synaptic_ops.push(ops);
        if let Some(k) = self.options.early_exit {
            if d.stable >= k {
                d.run.steps_used = t + 1;
                d.run.decisions.resize(d.steps as usize, decision);
                d.run.synaptic_ops.resize(d.steps as usize, ops);
                return Ok(true);
            }
        }
        Ok(t + 1 >= d.steps)
    }

    /// Per converted layer: the synaptic operations into it and its spikes since the last
    /// reset (the current sample's run; its pre-run's are in [`SpikingModel::pre_run`]).
    pub(crate) fn layer_counters(&self) -> (Vec<u64>, Vec<u64>) {
        let net = &self.net;
        let sops = self
            .layers
            .iter()
            .zip(&self.inhibitory)
            .map(|(&e, &i)| {
                net.projections()
                    .iter()
                    .filter(|p| p.post() == e || Some(p.post()) == i)
                    .map(|p| p.events())
                    .sum()
            })
            .collect();
        let spikes = self
            .layers
            .iter()
            .map(|&p| net.population(p).spike_count())
            .collect();
        (sops, spikes)
    }

    /// A copy for one lane of [`super::batch`]: the same network (dense weights shared, state
    /// its own, [`Network::lane_copy`]) and options.
    pub(crate) fn lane_copy(&self) -> Result<SpikingModel> {
        Ok(SpikingModel {
            net: self.net.lane_copy()?,
            layers: self.layers.clone(),
            inhibitory: self.inhibitory.clone(),
            input: self.input,
            analog: self.analog.clone(),
            options: self.options.clone(),
            pixel_p: self.pixel_p.clone(),
            pre_run: self.pre_run.clone(),
        })
    }

    /// Advances the presented sample (number `sample`, which names its Poisson draws) by step
    /// `step`: draws that step's input spikes, then steps the network. [`SpikingModel::run_sample`]
    /// is [`SpikingModel::present`] followed by this for every step; call it directly to watch
    /// populations (`self.net.population(id).last_spikes()`) step by step.
    pub fn step(&mut self, sample: u64, step: u64) -> Result<()> {
        let mut spikes = Vec::new();
        self.inject(sample, step, &mut spikes)?;
        self.net.step();
        Ok(())
    }

    /// [`SpikingModel::run_sample`] for sample 0, the decisions only.
    pub fn classify(&mut self, x: ArrayView1<'_, f32>, steps: u64) -> Result<Vec<Option<usize>>> {
        Ok(self.run_sample(x, 0, steps)?.decisions)
    }
}
