//! Running NIR graphs on the engine (`somnet simulate --nir`).
//!
//! # The mapping
//! A NIR graph is continuous-time; the engine steps. With the options of [`SimOptions`] (time
//! step dt, reset, spike test, scheme; one preset per exporting framework, [`Framework`]):
//!
//! - every **neuron node** becomes one population, run at one engine step per dt: I and IF as
//!   non-leaky integrators (`v += dt·R·I` per step, exact under either scheme), LI and LIF as
//!   LIF with time constant τ/dt steps (exact: decay `e^(−dt/τ)`; Euler: `1 − dt/τ`), CubaLI and
//!   CubaLIF as LIF with one exponential synaptic current (τ_syn), into which input arrives as
//!   `w_in·(1 − decay_syn)` per unit (the decay of the scheme);
//! - input is **held over its step** (a spike is an input of 1 for one step, the convention of
//!   every exporting framework and of the NIR paper's LIF example): a LIF membrane gains
//!   `(1 − decay)·R·I`, the exact solution for a constant current;
//! - the **linear nodes** between two neuron nodes (Affine, Linear, Scale, Conv1d/2d with stride,
//!   padding, dilation and groups, Sum/AvgPool2d, Flatten, Delay) are composed into one
//!   projection per pair and delay (several paths add up); their biases are gathered per target
//!   neuron into a constant current;
//! - the **input side** (Input → linear nodes → neurons) is applied per step to the given input
//!   and enters as a current (or into the synaptic current), so spikes and real-valued currents
//!   are both accepted; the **output side** (neurons → linear nodes → Output) reads spikes (1 per
//!   spike) or, for non-spiking neurons, the membrane after the step;
//! - populations run in an order where delay-0 projections go forward, so a spike crosses every
//!   layer in the step it is emitted (as in the frameworks); an edge that closes a cycle without
//!   a Delay acts one step later, and the record lists those edges.
//!
//! A file somnet wrote ([`crate::convert::to_nir`]) names its own discretisation in its
//! `metadata/`: [`SimOptions::for_graph`] reads it. [`SimOptions::initial`] starts every spiking
//! membrane at a fraction of its threshold (the θ/2 start), which NIR has no field for.
//!
//! Delay nodes may sit anywhere (between neuron layers they become the projections' delays, on
//! the input side the input of that many steps ago is applied, on the output side the values of
//! that many steps ago are read) and may give each element its own delay.
//!
//! Neurons of one node that differ in more than R and `w_in` (per-neuron time constants,
//! thresholds, leak or reset potentials, as trained networks export them) run as one population
//! per parameter set, `node#k`, with the node's elements gathered and scattered around them.
//!
//! A Threshold node (`z = [x > θ]`, no state) runs as memoryless IF neurons: each step the
//! membrane is that step's input alone, compared with `v > θ` whatever the preset's test.
//!
//! What does not map is refused by node name and type: cycles through linear nodes only.
//!
//! ```no_run
//! use somnet::simulate::{Framework, Simulation};
//! let graph = somnet::io::nir::read(std::path::Path::new("cnn.nir")).unwrap();
//! let sim = Simulation::new(&graph, &Framework::Sinabs.options()).unwrap();
//! let x = ndarray::Array3::<f32>::zeros((1, 300, sim.input_len()));
//! let result = sim.run(x.view(), &|_| std::ops::ControlFlow::Continue(())).unwrap();
//! println!("{:?}", result.output.shape());
//! ```

mod export;
mod linear;
mod options;
mod plan;
mod record;
mod run;
mod split;

use std::ops::ControlFlow;

use ndarray::ArrayView3;

pub use export::network_to_nir;
pub use options::{Framework, IntegratorInput, ResetMode, Scheme, SimOptions};
pub use record::{batch_input, write_run, PopulationRecord, SimRecord};
pub use run::SimResult;

use crate::error::Result;
use crate::io::nir::Graph;

/// A NIR graph planned onto the engine under a discretisation.
#[derive(Debug, Clone)]
pub struct Simulation {
    plan: plan::Plan,
    options: SimOptions,
}

/// One node of the graph as the record lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeSummary {
    /// The node's name (`outer.inner` inside inlined subgraphs).
    pub name: String,
    /// Its NIR type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its output shape.
    pub shape: Vec<usize>,
}

impl Simulation {
    /// Plans `graph` under `options`; refuses what cannot be mapped, naming the node.
    pub fn new(graph: &Graph, options: &SimOptions) -> Result<Simulation> {
        Ok(Simulation {
            plan: plan::Plan::new(graph, options)?,
            options: *options,
        })
    }

    /// Runs `input` (samples, steps, input elements) and returns the output per step; samples run
    /// in parallel on the current rayon pool, each from the reset state (the same numbers on
    /// any thread count). `on_sample(done)` is told after each sample and may stop the run: the
    /// result then holds the samples finished in order.
    pub fn run(
        &self,
        input: ArrayView3<'_, f32>,
        on_sample: &(dyn Fn(usize) -> ControlFlow<()> + Sync),
    ) -> Result<SimResult> {
        run::run(&self.plan, &self.options, input, false, on_sample)
    }

    /// [`Simulation::run`], also recording every neuron node's spikes and membrane per step
    /// ([`SimResult::recording`]; memory: samples × steps × neurons × 4 bytes, checked against
    /// [`crate::limits`] first).
    pub fn run_recorded(
        &self,
        input: ArrayView3<'_, f32>,
        on_sample: &(dyn Fn(usize) -> ControlFlow<()> + Sync),
    ) -> Result<SimResult> {
        run::run(&self.plan, &self.options, input, true, on_sample)
    }

    /// The options it runs under.
    pub fn options(&self) -> &SimOptions {
        &self.options
    }

    /// Shape of one step's input (the Input node's).
    pub fn input_shape(&self) -> &[usize] {
        &self.plan.input_shape
    }

    /// Elements of one step's input.
    pub fn input_len(&self) -> usize {
        self.plan.input_len()
    }

    /// Shape of one step's output.
    pub fn output_shape(&self) -> &[usize] {
        &self.plan.output_shape
    }

    /// Every node, name order.
    pub fn nodes(&self) -> Vec<NodeSummary> {
        self.plan
            .nodes
            .iter()
            .map(|(name, kind, shape)| NodeSummary {
                name: name.clone(),
                kind: kind.clone(),
                shape: shape.clone(),
            })
            .collect()
    }

    /// The neuron nodes in the order the engine steps them: name, NIR type, neurons.
    pub fn populations(&self) -> Vec<(String, &'static str, usize)> {
        self.plan
            .pops
            .iter()
            .map(|p| {
                let kind = if p.memoryless {
                    "Threshold"
                } else {
                    p.kind.name()
                };
                (p.name.clone(), kind, p.n)
            })
            .collect()
    }

    /// Edges that close a cycle without a Delay node and act one step later (`from -> to`).
    pub fn delayed_cycles(&self) -> &[String] {
        &self.plan.delayed_cycles
    }

    /// Neuron nodes whose neurons differ in more than R and `w_in`, run as one population per
    /// parameter set (`node#k`): (node, number of sets).
    pub fn split_nodes(&self) -> &[(String, usize)] {
        &self.plan.split
    }
}
