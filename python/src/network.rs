//! `somnet.Network`: the engine's high-level API from Python. Populations and their slices are
//! handles; connectors, weights and delays are keyword arguments; monitors return NumPy arrays.
//! Runs release the GIL, show progress and stop on Ctrl-C at a step boundary.

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
};
use pyo3::prelude::*;
use pyo3::types::PySlice;

use somnet::io::recording::Recording;
use somnet::network::monitor::StateVar;
use somnet::network::{
    Connection, Connector, Conv2dGeometry, Delay, ImageLayout, Network, NetworkConfig,
    PopulationId, ProjectionId, RateMonitorId, SpikeMonitorId, StateMonitorId, Target, Weights,
};
use somnet::time::Dt;

use crate::errors::{value, OrPy};
use crate::interrupt;
use crate::models_neuron::{neuron_model, Normal, Uniform};

/// Steps between the run's checks for Ctrl-C and progress updates.
const TICK_STEPS: u64 = 100;

/// A population of a network (index it with a slice for a range of its neurons).
#[pyclass(name = "Population", module = "somnet", frozen)]
#[derive(Clone)]
pub struct PyPopulation {
    id: PopulationId,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    n: usize,
}

#[pymethods]
impl PyPopulation {
    fn __len__(&self) -> usize {
        self.n
    }

    /// Neurons `start..stop` of the population (step 1).
    fn __getitem__(&self, index: &Bound<'_, PySlice>) -> PyResult<Neurons> {
        let i = index.indices(self.n as isize)?;
        if i.step != 1 {
            return Err(value(format!(
                "population '{}': only contiguous slices (step 1) select neurons",
                self.name
            )));
        }
        Ok(Neurons {
            pop: self.clone(),
            start: i.start as u32,
            stop: i.stop.max(i.start) as u32,
        })
    }

    fn __repr__(&self) -> String {
        format!("Population('{}', n={})", self.name, self.n)
    }
}

/// A contiguous range of a population's neurons (`pop[a:b]`).
#[pyclass(name = "Neurons", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Neurons {
    pop: PyPopulation,
    #[pyo3(get)]
    start: u32,
    #[pyo3(get)]
    stop: u32,
}

#[pymethods]
impl Neurons {
    fn __len__(&self) -> usize {
        (self.stop - self.start) as usize
    }

    fn __repr__(&self) -> String {
        format!("{}[{}:{}]", self.pop.name, self.start, self.stop)
    }
}

/// A population or a range of one.
fn target(ob: &Bound<'_, PyAny>, what: &str) -> PyResult<Target> {
    if let Ok(p) = ob.cast::<PyPopulation>() {
        return Ok(p.get().id.into());
    }
    if let Ok(r) = ob.cast::<Neurons>() {
        let r = r.get();
        return Ok(r.pop.id.range(r.start..r.stop));
    }
    Err(value(format!(
        "{what}: expected a Population or a slice of one, got {}",
        ob.get_type().name()?
    )))
}

fn population(ob: &Bound<'_, PyAny>, what: &str) -> PyResult<PopulationId> {
    ob.cast::<PyPopulation>()
        .map(|p| p.get().id)
        .map_err(|_| value(format!("{what}: expected a Population")))
}

/// Weights from a number, `Uniform`, `Normal` or an array (one per synapse).
fn weights(ob: &Bound<'_, PyAny>) -> PyResult<Weights> {
    if let Ok(w) = ob.extract::<f32>() {
        return Ok(Weights::Constant(w));
    }
    if let Ok(u) = ob.cast::<Uniform>() {
        let u = u.get();
        return Ok(Weights::Uniform {
            low: u.low as f32,
            high: u.high as f32,
        });
    }
    if let Ok(n) = ob.cast::<Normal>() {
        let n = n.get();
        return Ok(Weights::Normal {
            mean: n.mean as f32,
            std: n.sd as f32,
        });
    }
    if let Ok(a) = ob.extract::<PyReadonlyArray1<'_, f32>>() {
        return Ok(Weights::Values(a.as_array().to_vec()));
    }
    Err(value(
        "weight: expected a number, somnet.Uniform, somnet.Normal or a float32 array (one per synapse)",
    ))
}

/// Delays from `delay_ms` (a number, `Uniform` or an array) or `delay_steps`.
fn delay(delay_ms: Option<&Bound<'_, PyAny>>, delay_steps: Option<u32>) -> PyResult<Delay> {
    match (delay_ms, delay_steps) {
        (Some(_), Some(_)) => Err(value("give delay_ms or delay_steps, not both")),
        (None, Some(s)) => Ok(Delay::Steps(s)),
        (None, None) => Ok(Delay::Steps(1)),
        (Some(ob), None) => {
            if let Ok(d) = ob.extract::<f64>() {
                return Ok(Delay::Ms(d));
            }
            if let Ok(u) = ob.cast::<Uniform>() {
                let u = u.get();
                return Ok(Delay::UniformMs {
                    low_ms: u.low,
                    high_ms: u.high,
                });
            }
            if let Ok(a) = ob.extract::<PyReadonlyArray1<'_, f64>>() {
                return Ok(Delay::ValuesMs(a.as_array().to_vec()));
            }
            Err(value(
                "delay_ms: expected a number, somnet.Uniform or a float64 array (one per synapse)",
            ))
        }
    }
}

/// A spiking network on a clock: populations, projections, inputs and monitors; one schedule
/// (see the library's `network` module); the same spikes for a seed on any number of threads.
#[pyclass(name = "Network", module = "somnet")]
pub struct PyNetwork {
    net: Network,
    threads: usize,
}

#[pymethods]
impl PyNetwork {
    #[new]
    #[pyo3(signature = (*, dt_ms=0.1, seed=0, max_delay_ms=100.0, threads=0))]
    fn new(dt_ms: f64, seed: u64, max_delay_ms: f64, threads: usize) -> PyResult<Self> {
        let net = Network::new(NetworkConfig {
            dt_ms,
            seed,
            max_delay_ms,
        })
        .or_py()?;
        Ok(PyNetwork { net, threads })
    }

    /// Adds `n` neurons of `model` (`LIF`, `IF`, `Izhikevich`) with receptor `ports`
    /// (default one `Delta()`).
    #[pyo3(signature = (name, n, model, ports=None))]
    fn add_population(
        &mut self,
        name: &str,
        n: usize,
        model: &Bound<'_, PyAny>,
        ports: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<PyPopulation> {
        let ports = match ports {
            Some(p) => crate::models_neuron::ports(&p)?,
            None => vec![somnet::neuron::Port::Delta],
        };
        let id = self
            .net
            .add_population(name, n, neuron_model(model)?, ports)
            .or_py()?;
        Ok(self.handle(id))
    }

    /// Adds `n` Poisson sources firing at `rate_hz`.
    fn add_poisson(&mut self, name: &str, n: usize, rate_hz: f64) -> PyResult<PyPopulation> {
        let id = self.net.add_poisson(name, n, rate_hz).or_py()?;
        Ok(self.handle(id))
    }

    /// Adds one source per entry of `times_ms` (a sequence of spike-time sequences, in ms).
    fn add_spike_source(&mut self, name: &str, times_ms: Vec<Vec<f64>>) -> PyResult<PyPopulation> {
        let id = self.net.add_spike_source(name, &times_ms).or_py()?;
        Ok(self.handle(id))
    }

    /// A constant current into `target` from step 0 (a number), or one per neuron (an array) for
    /// a whole population, in the model's units (mV for LIF, mV/ms for IF).
    fn set_current(&mut self, target: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(v) = value.extract::<f32>() {
            return self
                .net
                .set_current(self::target(target, "target")?, v)
                .or_py();
        }
        let values: PyReadonlyArray1<'_, f32> = value
            .extract()
            .map_err(|_| crate::errors::value("value: expected a number or a float32 array"))?;
        let pop = population(target, "target (per-neuron currents)")?;
        self.net
            .set_constant_currents(pop, &values.as_array().to_vec())
            .or_py()
    }

    /// A current into `target` that takes each `value` from its time `t_ms` on.
    fn add_stepped_current(
        &mut self,
        target: &Bound<'_, PyAny>,
        steps: Vec<(f64, f32)>,
    ) -> PyResult<()> {
        self.net
            .add_stepped_current(self::target(target, "target")?, &steps)
            .or_py()
    }

    /// Connects `pre` to `post`. The connector is one of `p` (fixed probability), `in_degree`,
    /// `total` or `pairs` ((pre, post) index arrays, or an (S, 2) array); all-to-all if none.
    /// `weight`: a number, `Uniform`, `Normal` or an array (one per synapse). `delay_ms` (a
    /// number, `Uniform` or an array) or `delay_steps` (default 1 step). Returns the projection's
    /// index.
    #[pyo3(signature = (pre, post, *, p=None, in_degree=None, total=None, pairs=None, weight=None, delay_ms=None, delay_steps=None, port=0, autapses=true, name=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        pre: &Bound<'_, PyAny>,
        post: &Bound<'_, PyAny>,
        p: Option<f64>,
        in_degree: Option<u32>,
        total: Option<u64>,
        pairs: Option<PyReadonlyArray2<'_, i64>>,
        weight: Option<&Bound<'_, PyAny>>,
        delay_ms: Option<&Bound<'_, PyAny>>,
        delay_steps: Option<u32>,
        port: usize,
        autapses: bool,
        name: Option<String>,
    ) -> PyResult<u32> {
        let given = [
            p.is_some(),
            in_degree.is_some(),
            total.is_some(),
            pairs.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() > 1 {
            return Err(value(
                "give at most one connector: p, in_degree, total or pairs",
            ));
        }
        let connector = if let Some(p) = p {
            Connector::FixedProbability(p)
        } else if let Some(k) = in_degree {
            Connector::FixedInDegree(k)
        } else if let Some(t) = total {
            Connector::FixedTotalNumber(t)
        } else if let Some(pairs) = pairs {
            let a = pairs.as_array();
            if a.ncols() != 2 {
                return Err(value(format!(
                    "pairs: shape {:?}, expected (S, 2): one (pre, post) row per synapse",
                    a.shape()
                )));
            }
            let list = a
                .rows()
                .into_iter()
                .map(|r| {
                    let ok = |v: i64| u32::try_from(v).ok();
                    ok(r[0]).zip(ok(r[1]))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| value("pairs: indices must lie in 0 .. 2³²"))?;
            Connector::List(list)
        } else {
            Connector::AllToAll
        };
        let weights = match weight {
            Some(w) => weights(w)?,
            None => Weights::Constant(1.0),
        };
        let mut conn = Connection::new(connector, weights)
            .delay(delay(delay_ms, delay_steps)?)
            .port(port);
        if !autapses {
            conn = conn.no_autapses();
        }
        if let Some(n) = name {
            conn = conn.named(n);
        }
        let id = self
            .net
            .connect(target(pre, "pre")?, target(post, "post")?, conn)
            .or_py()?;
        Ok(id.0)
    }

    /// Attaches a plasticity rule (`STDP`, `TripletSTDP` or `RewardSTDP`) to a dense or sparse
    /// projection, replacing any earlier one; weights outside the rule's [0, w_max] are refused.
    fn set_plasticity(&mut self, projection: u32, rule: &Bound<'_, PyAny>) -> PyResult<()> {
        let rule = crate::plasticity::rule(rule)?;
        self.net
            .set_plasticity(self.projection_id(projection)?, rule)
            .or_py()
    }

    /// The synapses of a projection as four arrays in storage order: local pre index (uint32),
    /// local post index (uint32), weight (float32), delay in steps (uint32).
    #[allow(clippy::type_complexity)]
    fn synapses<'py>(
        &self,
        py: Python<'py>,
        projection: u32,
    ) -> PyResult<(
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f32>>,
        Bound<'py, PyArray1<u32>>,
    )> {
        let syn = self
            .net
            .projection(self.projection_id(projection)?)
            .synapses();
        Ok((
            syn.iter().map(|s| s.0).collect::<Vec<_>>().into_pyarray(py),
            syn.iter().map(|s| s.1).collect::<Vec<_>>().into_pyarray(py),
            syn.iter().map(|s| s.2).collect::<Vec<_>>().into_pyarray(py),
            syn.iter().map(|s| s.3).collect::<Vec<_>>().into_pyarray(py),
        ))
    }

    /// Connects `pre` to `post` by a weight-shared 2-D convolution: `pre` holds images of
    /// `input_shape` (C, H, W), `kernel` is (C_out, C_in, kh, kw) float32, `post` holds the
    /// (C_out, H', W') output with H' = (H + 2·pad − kh) / stride + 1. Neurons are numbered
    /// channel-first (c·H·W + y·W + x) on both sides. Memory is the kernel, cost spikes × fan-out;
    /// it delivers exactly what the explicit synapse list would. Returns the projection's index.
    #[pyo3(signature = (pre, post, kernel, input_shape, *, stride=(1, 1), padding=(0, 0), delay_steps=1, name=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect_conv(
        &mut self,
        pre: &Bound<'_, PyAny>,
        post: &Bound<'_, PyAny>,
        kernel: PyReadonlyArrayDyn<'_, f32>,
        input_shape: (usize, usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        delay_steps: u32,
        name: Option<String>,
    ) -> PyResult<u32> {
        let k = kernel.as_array();
        let &[c_out, c_in, kh, kw] = k.shape() else {
            return Err(value(format!(
                "kernel: shape {:?}, expected (C_out, C_in, kh, kw)",
                k.shape()
            )));
        };
        let (c, h, w) = input_shape;
        if c_in != c {
            return Err(value(format!(
                "kernel: {c_in} input channels, input_shape has {c}"
            )));
        }
        let extent = |size: usize, k: usize, s: usize, p: usize| -> PyResult<usize> {
            if s == 0 || size + 2 * p < k {
                return Err(value(format!(
                    "a {k}-wide kernel with stride {s} and padding {p} does not fit an input of {size}"
                )));
            }
            Ok((size + 2 * p - k) / s + 1)
        };
        let geometry = Conv2dGeometry {
            input: input_shape,
            out_channels: c_out,
            kernel: (kh, kw),
            stride,
            pad: padding,
            output: (
                extent(h, kh, stride.0, padding.0)?,
                extent(w, kw, stride.1, padding.1)?,
            ),
            input_layout: ImageLayout::ChannelsFirst,
            output_layout: ImageLayout::ChannelsFirst,
        };
        let weights: Vec<f32> = k.iter().copied().collect();
        let id = self
            .net
            .connect_conv(
                target(pre, "pre")?,
                target(post, "post")?,
                geometry,
                &weights,
                delay_steps,
                name.as_deref().unwrap_or("conv"),
            )
            .or_py()?;
        Ok(id.0)
    }

    /// Turns projection `projection` into a max gate: each window passes only its most active
    /// input (the spiking max pooling of converted networks).
    fn set_max_gate(&mut self, projection: u32) -> PyResult<()> {
        self.net
            .set_max_gate(somnet::network::ProjectionId(projection))
            .or_py()
    }

    /// Sets the membrane potential of every neuron of `pop` (one value each).
    fn set_v(&mut self, pop: &Bound<'_, PyAny>, values: PyReadonlyArray1<'_, f32>) -> PyResult<()> {
        let pop = population(pop, "pop")?;
        self.net.set_v(pop, &values.as_array().to_vec()).or_py()
    }

    /// How the membranes of `pop` (LIF with a conductance port) are integrated:
    /// `"exponential-euler"` (the default) or `"forward-euler"` (the scheme of Brian2's COBA
    /// benchmark script).
    fn set_conductance_scheme(&mut self, pop: &Bound<'_, PyAny>, scheme: &str) -> PyResult<()> {
        use somnet::neuron::conductance::ConductanceScheme;
        let pop = population(pop, "pop")?;
        let scheme = match scheme {
            "exponential-euler" => ConductanceScheme::ExponentialEuler,
            "forward-euler" => ConductanceScheme::ForwardEuler,
            other => {
                return Err(crate::errors::value(format!(
                    "scheme: expected \"exponential-euler\" or \"forward-euler\", got {other:?}"
                )))
            }
        };
        self.net.set_conductance_scheme(pop, scheme).or_py()
    }

    /// Draws every membrane potential of `pop` uniformly in [low_mv, high_mv) (seeded).
    fn set_v_uniform(&mut self, pop: &Bound<'_, PyAny>, low_mv: f32, high_mv: f32) -> PyResult<()> {
        let pop = population(pop, "pop")?;
        self.net.set_v_uniform(pop, low_mv, high_mv).or_py()
    }

    /// Sets a state variable (`v`, `u`, or `syn0`, `syn1`, … for the ports with a variable) of
    /// every neuron of `pop` (one value each).
    fn set_state(
        &mut self,
        pop: &Bound<'_, PyAny>,
        var: &str,
        values: PyReadonlyArray1<'_, f32>,
    ) -> PyResult<()> {
        let pop = population(pop, "pop")?;
        let values = values.as_array().to_vec();
        self.net.set_state(pop, state_var(var)?, &values).or_py()
    }

    /// Draws a state variable of every neuron of `pop` from N(mean, std²) (seeded).
    fn set_state_normal(
        &mut self,
        pop: &Bound<'_, PyAny>,
        var: &str,
        mean: f32,
        std: f32,
    ) -> PyResult<()> {
        let pop = population(pop, "pop")?;
        self.net
            .set_state_normal(pop, state_var(var)?, mean, std)
            .or_py()
    }

    /// A state variable (`v`, `u`, or `syn0`, `syn1`, … for the ports with a variable) of every
    /// neuron.
    fn state<'py>(
        &self,
        py: Python<'py>,
        pop: &Bound<'_, PyAny>,
        var: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let pop = population(pop, "pop")?;
        Ok(self
            .net
            .state(pop, state_var(var)?)
            .or_py()?
            .into_pyarray(py))
    }

    /// Records the spikes of `pop` (all neurons, or the listed ones).
    #[pyo3(signature = (pop, neurons=None))]
    fn monitor_spikes(
        slf: &Bound<'_, Self>,
        pop: &Bound<'_, PyAny>,
        neurons: Option<Vec<u32>>,
    ) -> PyResult<SpikeMonitor> {
        let id = population(pop, "pop")?;
        let m = slf.borrow_mut().net.monitor_spikes(id, neurons).or_py()?;
        Ok(SpikeMonitor {
            net: slf.clone().unbind(),
            id: m,
        })
    }

    /// Records `var` (`v`, `u`, `syn0`, …) of the listed neurons every `every` steps.
    #[pyo3(signature = (pop, var, neurons, every=1))]
    fn monitor_state(
        slf: &Bound<'_, Self>,
        pop: &Bound<'_, PyAny>,
        var: &str,
        neurons: Vec<u32>,
        every: u64,
    ) -> PyResult<StateMonitor> {
        let id = population(pop, "pop")?;
        let var = state_var(var)?;
        let m = slf
            .borrow_mut()
            .net
            .monitor_state(id, var, neurons, every)
            .or_py()?;
        Ok(StateMonitor {
            net: slf.clone().unbind(),
            id: m,
        })
    }

    /// Counts the spikes of `pop` in every step.
    fn monitor_rate(slf: &Bound<'_, Self>, pop: &Bound<'_, PyAny>) -> PyResult<RateMonitor> {
        let id = population(pop, "pop")?;
        let m = slf.borrow_mut().net.monitor_rate(id).or_py()?;
        Ok(RateMonitor {
            net: slf.clone().unbind(),
            id: m,
        })
    }

    /// Runs for `ms` of biological time (a whole number of steps). Ctrl-C stops at a step
    /// boundary and raises `somnet.Interrupted` (the network keeps the steps done). With
    /// `record=path` (`.h5`: NIR's data layout, `nir.read_data` reads it; `.npz`: NumPy), every
    /// monitor streams to that file as the run goes (memory stays bounded; the monitors are
    /// emptied as they are written), and an interrupted run still leaves a complete file.
    #[pyo3(signature = (ms, *, progress=None, record=None))]
    fn run(
        &mut self,
        py: Python<'_>,
        ms: f64,
        progress: Option<Py<PyAny>>,
        record: Option<std::path::PathBuf>,
    ) -> PyResult<u64> {
        let steps = Dt::new(self.net.config().dt_ms)
            .and_then(|dt| dt.steps_covering("ms", ms))
            .or_py()?;
        self.run_steps(py, steps, progress, record)
    }

    /// Runs `steps` steps (see `run`); returns the steps run.
    #[pyo3(signature = (steps, *, progress=None, record=None))]
    fn run_steps(
        &mut self,
        py: Python<'_>,
        steps: u64,
        progress: Option<Py<PyAny>>,
        record: Option<std::path::PathBuf>,
    ) -> PyResult<u64> {
        let net = &mut self.net;
        let out = interrupt::run(py, self.threads, steps, progress, |watch| {
            let mut last = 0;
            let mut tick = |k: u64| {
                if k.is_multiple_of(TICK_STEPS) || k == steps {
                    let flow = watch.tick(k - last);
                    last = k;
                    flow
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            };
            match &record {
                None => net.run_with(steps, tick),
                Some(path) => {
                    let mut rec = Recording::create(path, net)?;
                    let done = rec.run(net, steps, &mut tick)?;
                    rec.finish(net)?;
                    Ok(done)
                }
            }
        })?;
        let done = out.value.or_py()?;
        match out.stopped_by {
            None => Ok(done),
            Some(e) if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) => {
                Err(crate::errors::raise(
                    "Interrupted",
                    format!("interrupted after {done} of {steps} steps"),
                ))
            }
            Some(e) => Err(e),
        }
    }

    /// Back to step 0 (weights kept, monitors emptied); the next run repeats the first exactly.
    fn reset(&mut self) {
        self.net.reset();
    }

    /// A hash of the ordered (step, neuron) list of every spike so far: equal digests mean the
    /// same spikes (`somnet bench` prints the same hash).
    fn spike_digest(&self) -> String {
        format!("{:016x}", self.net.spike_digest())
    }

    /// Steps run since the start or the last reset.
    #[getter]
    fn current_step(&self) -> u64 {
        self.net.current_step()
    }

    /// The time step (ms).
    #[getter]
    fn dt_ms(&self) -> f64 {
        self.net.config().dt_ms
    }

    /// Spikes emitted so far.
    #[getter]
    fn n_spikes(&self) -> u64 {
        self.net.n_spikes()
    }

    /// Synapses.
    #[getter]
    fn n_synapses(&self) -> u64 {
        self.net.n_synapses()
    }

    /// Synaptic events delivered so far.
    #[getter]
    fn n_events(&self) -> u64 {
        self.net.n_events()
    }

    /// Neurons (all populations).
    #[getter]
    fn n_neurons(&self) -> usize {
        self.net.n_neurons()
    }

    /// Writes the network (as built, before it runs) as a NIR graph to `path` whose Output is
    /// the spikes of population `output`; its one spike source (if any) becomes the Input.
    /// somnet's stepping (dt, reset rule, spike test) goes to the graph's metadata, which
    /// `simulate_nir` reads back. Returns the warnings (what NIR cannot carry).
    fn to_nir(&self, path: std::path::PathBuf, output: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let id = population(output, "output")?;
        let export = somnet::simulate::network_to_nir(&self.net, id).or_py()?;
        somnet::io::nir::write(&path, &export.graph).or_py()?;
        Ok(export.warnings)
    }

    /// Writes the network (as built, before it runs) as a SONATA circuit for NEST under `dir`:
    /// node and edge files, configs for `tstop_ms`, initial states and `dir/run_nest.py`, which
    /// builds and runs it in NEST. `c_m_pf` turns voltage-equivalent currents into NEST's
    /// currents. Returns a dict: populations (name, NEST model, neurons), node_types, edges and
    /// warnings (what NEST will run differently).
    #[pyo3(signature = (dir, *, tstop_ms=1000.0, c_m_pf=250.0))]
    fn to_sonata<'py>(
        &self,
        py: Python<'py>,
        dir: std::path::PathBuf,
        tstop_ms: f64,
        c_m_pf: f64,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let options = somnet::io::sonata::SonataOptions { tstop_ms, c_m_pf };
        let out = somnet::io::sonata::write(&dir, &self.net, &options).or_py()?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("populations", out.populations)?;
        d.set_item("node_types", out.node_types)?;
        d.set_item("edges", out.edges)?;
        d.set_item("warnings", out.warnings)?;
        Ok(d)
    }
}

impl PyNetwork {
    fn projection_id(&self, projection: u32) -> PyResult<ProjectionId> {
        if (projection as usize) < self.net.projections().len() {
            Ok(ProjectionId(projection))
        } else {
            Err(value(format!(
                "projection {projection}: the network has {} projections",
                self.net.projections().len()
            )))
        }
    }

    fn handle(&self, id: PopulationId) -> PyPopulation {
        let p = self.net.population(id);
        PyPopulation {
            id,
            name: p.name().to_string(),
            n: p.len(),
        }
    }
}

fn state_var(var: &str) -> PyResult<StateVar> {
    match var {
        "v" => Ok(StateVar::V),
        "u" => Ok(StateVar::U),
        other => other
            .strip_prefix("syn")
            .and_then(|k| k.parse().ok())
            .map(StateVar::Syn)
            .ok_or_else(|| value(format!("var = '{other}': expected 'v', 'u' or 'synK'"))),
    }
}

/// The spikes of a population as NumPy arrays.
#[pyclass(name = "SpikeMonitor", module = "somnet", frozen)]
pub struct SpikeMonitor {
    net: Py<PyNetwork>,
    id: SpikeMonitorId,
}

#[pymethods]
impl SpikeMonitor {
    /// `(times_ms, neurons)`: float64 spike times and uint32 neuron indices, in time order.
    fn spikes<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<u32>>) {
        let net = self.net.borrow(py);
        let dt = net.net.config().dt_ms;
        let events = &net.net.spike_monitor(self.id).events;
        let times: Vec<f64> = events.iter().map(|&(t, _)| t as f64 * dt).collect();
        let ids: Vec<u32> = events.iter().map(|&(_, i)| i).collect();
        (times.into_pyarray(py), ids.into_pyarray(py))
    }
}

/// Sample times and values (T, neurons).
type Traces<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f32>>);

/// Sampled traces of a state variable as NumPy arrays.
#[pyclass(name = "StateMonitor", module = "somnet", frozen)]
pub struct StateMonitor {
    net: Py<PyNetwork>,
    id: StateMonitorId,
}

#[pymethods]
impl StateMonitor {
    /// `(times_ms, values)`: float64 sample times (T,) and float32 values (T, neurons). A value
    /// is recorded after its step's update, so it holds for the end of the step: step k is
    /// reported at (k + 1)·dt (spikes are reported at k·dt, the start of the step that fired).
    fn traces<'py>(&self, py: Python<'py>) -> PyResult<Traces<'py>> {
        let net = self.net.borrow(py);
        let dt = net.net.config().dt_ms;
        let m = net.net.state_monitor(self.id);
        let times: Vec<f64> = m.steps.iter().map(|&t| (t + 1) as f64 * dt).collect();
        let values = numpy::ndarray::Array2::from_shape_vec(
            (m.steps.len(), m.neurons.len()),
            m.values.clone(),
        )
        .expect("a state monitor stores one value per neuron per sample");
        Ok((times.into_pyarray(py), values.into_pyarray(py)))
    }
}

/// The population rate per step as NumPy arrays.
#[pyclass(name = "RateMonitor", module = "somnet", frozen)]
pub struct RateMonitor {
    net: Py<PyNetwork>,
    id: RateMonitorId,
}

#[pymethods]
impl RateMonitor {
    /// `(times_ms, rates_hz)`: the population rate in every step.
    fn rates<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let net = self.net.borrow(py);
        let dt = net.net.config().dt_ms;
        let m = net.net.rate_monitor(self.id);
        let times: Vec<f64> = (0..m.counts.len()).map(|t| t as f64 * dt).collect();
        (times.into_pyarray(py), m.rate_hz().into_pyarray(py))
    }

    /// The mean population rate over the recorded steps (Hz).
    fn mean_rate_hz(&self, py: Python<'_>) -> f64 {
        self.net.borrow(py).net.rate_monitor(self.id).mean_rate_hz()
    }
}
