//! Neuron models, receptor ports and random distributions as small Python classes with named
//! units (`LIF(tau_mem_ms=20, v_th_mv=-50, …)`); each becomes the library's parameter type, which
//! the network validates when the population is added.

use pyo3::prelude::*;

use somnet::neuron::{
    IafParams, IntegrationScheme, IzhikevichParams, LifParams, NeuronModel, Port, Reset,
};

use crate::errors::value;

/// `reset` and `v_reset_mv` as the library's [`Reset`].
fn reset_of(reset: &str, v_reset_mv: f32) -> PyResult<Reset> {
    match reset {
        "to_value" => Ok(Reset::ToValue { v_reset_mv }),
        "subtract" => Ok(Reset::BySubtraction),
        other => Err(value(format!(
            "reset = '{other}': expected 'to_value' (to v_reset_mv) or 'subtract'"
        ))),
    }
}

/// Leaky integrate-and-fire: τ_m dv/dt = v_rest − v + I, integrated exactly.
#[pyclass(name = "LIF", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Lif(pub LifParams);

#[pymethods]
impl Lif {
    #[new]
    #[pyo3(signature = (*, tau_mem_ms=20.0, v_rest_mv=-70.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=2.0, reset="to_value"))]
    fn new(
        tau_mem_ms: f32,
        v_rest_mv: f32,
        v_th_mv: f32,
        v_reset_mv: f32,
        t_ref_ms: f32,
        reset: &str,
    ) -> PyResult<Self> {
        Ok(Lif(LifParams {
            tau_mem_ms,
            v_rest_mv,
            v_th_mv,
            reset: reset_of(reset, v_reset_mv)?,
            t_ref_ms,
        }))
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// Non-leaky integrate-and-fire: v += I·dt; defaults are the unit-threshold neuron of
/// ANN-to-SNN conversion (θ = 1, rest 0, reset by subtraction).
#[pyclass(name = "IF", module = "somnet", frozen)]
#[derive(Clone)]
pub struct If(pub IafParams);

#[pymethods]
impl If {
    #[new]
    #[pyo3(signature = (*, v_th_mv=1.0, v_rest_mv=0.0, v_reset_mv=0.0, t_ref_ms=0.0, reset="subtract"))]
    fn new(
        v_th_mv: f32,
        v_rest_mv: f32,
        v_reset_mv: f32,
        t_ref_ms: f32,
        reset: &str,
    ) -> PyResult<Self> {
        Ok(If(IafParams {
            v_th_mv,
            v_rest_mv,
            reset: reset_of(reset, v_reset_mv)?,
            t_ref_ms,
        }))
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// Izhikevich's simple model (2003); `a`, `b`, `c`, `d` are one number or one per neuron.
/// `scheme` is `published2003` (the paper's two half-steps for v) or `euler`.
#[pyclass(name = "Izhikevich", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Izhikevich(pub IzhikevichParams);

#[pymethods]
impl Izhikevich {
    #[new]
    #[pyo3(signature = (*, a=None, b=None, c=None, d=None, v_peak_mv=30.0, scheme="published2003"))]
    fn new(
        a: Option<OneOrMany>,
        b: Option<OneOrMany>,
        c: Option<OneOrMany>,
        d: Option<OneOrMany>,
        v_peak_mv: f32,
        scheme: &str,
    ) -> PyResult<Self> {
        // Regular spiking (Izhikevich 2003, Fig. 2) where a parameter is not given.
        let or = |x: Option<OneOrMany>, v: f32| x.map_or(vec![v], |x| x.0);
        let mut p =
            IzhikevichParams::heterogeneous(or(a, 0.02), or(b, 0.2), or(c, -65.0), or(d, 8.0));
        p.v_peak_mv = v_peak_mv;
        p.scheme = match scheme {
            "published2003" => IntegrationScheme::Published2003,
            "euler" => IntegrationScheme::Euler,
            other => {
                return Err(value(format!(
                    "scheme = '{other}': expected 'published2003' or 'euler'"
                )))
            }
        };
        Ok(Izhikevich(p))
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// One number or a sequence of numbers (per neuron).
pub struct OneOrMany(pub Vec<f32>);

impl<'a, 'py> FromPyObject<'a, 'py> for OneOrMany {
    type Error = PyErr;

    fn extract(ob: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(v) = ob.extract::<f32>() {
            return Ok(OneOrMany(vec![v]));
        }
        if let Ok(a) = ob.extract::<numpy::PyReadonlyArray1<'py, f32>>() {
            return Ok(OneOrMany(a.as_array().to_vec()));
        }
        ob.extract::<Vec<f32>>().map(OneOrMany).map_err(|_| {
            value(format!(
                "expected a number or a sequence of numbers, got {}",
                ob.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })
    }
}

/// The neuron model of a Python model object.
pub fn neuron_model(model: &Bound<'_, PyAny>) -> PyResult<NeuronModel> {
    if let Ok(m) = model.cast::<Lif>() {
        return Ok(NeuronModel::Lif(m.get().0));
    }
    if let Ok(m) = model.cast::<If>() {
        return Ok(NeuronModel::Iaf(m.get().0));
    }
    if let Ok(m) = model.cast::<Izhikevich>() {
        return Ok(NeuronModel::Izhikevich(m.get().0.clone()));
    }
    Err(value(format!(
        "model: expected somnet.LIF, somnet.IF or somnet.Izhikevich, got {}",
        model.get_type().name()?
    )))
}

/// A receptor port whose weights act once, in the step they arrive.
#[pyclass(name = "Delta", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Delta;

#[pymethods]
impl Delta {
    #[new]
    fn new() -> Self {
        Delta
    }
}

/// A receptor port whose weights jump a current that decays with `tau_ms`.
#[pyclass(name = "Exponential", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Exponential {
    #[pyo3(get)]
    tau_ms: f32,
}

#[pymethods]
impl Exponential {
    #[new]
    fn new(tau_ms: f32) -> Self {
        Exponential { tau_ms }
    }
}

/// A receptor port (LIF only) whose weights jump a conductance, in units of the leak conductance,
/// that decays with `tau_ms` and pulls the membrane towards `e_rev_mv`.
#[pyclass(name = "Conductance", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Conductance {
    #[pyo3(get)]
    tau_ms: f32,
    #[pyo3(get)]
    e_rev_mv: f32,
}

#[pymethods]
impl Conductance {
    #[new]
    fn new(tau_ms: f32, e_rev_mv: f32) -> Self {
        Conductance { tau_ms, e_rev_mv }
    }
}

/// The ports of a list of `Delta()` / `Exponential(tau_ms)` / `Conductance(tau_ms, e_rev_mv)`.
pub fn ports(items: &[Bound<'_, PyAny>]) -> PyResult<Vec<Port>> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.cast::<Delta>().is_ok() {
                Ok(Port::Delta)
            } else if let Ok(e) = p.cast::<Exponential>() {
                Ok(Port::Exponential {
                    tau_ms: e.get().tau_ms,
                })
            } else if let Ok(c) = p.cast::<Conductance>() {
                Ok(Port::Conductance {
                    tau_ms: c.get().tau_ms,
                    e_rev_mv: c.get().e_rev_mv,
                })
            } else {
                Err(value(format!(
                    "ports[{i}]: expected somnet.Delta(), somnet.Exponential(tau_ms) or \
                     somnet.Conductance(tau_ms, e_rev_mv)"
                )))
            }
        })
        .collect()
}

/// Values drawn uniformly in [low, high) (weights in the target's units, delays in ms).
#[pyclass(name = "Uniform", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Uniform {
    #[pyo3(get)]
    pub low: f64,
    #[pyo3(get)]
    pub high: f64,
}

#[pymethods]
impl Uniform {
    #[new]
    fn new(low: f64, high: f64) -> Self {
        Uniform { low, high }
    }
}

/// Values drawn from a normal distribution (weights).
#[pyclass(name = "Normal", module = "somnet", frozen)]
#[derive(Clone)]
pub struct Normal {
    #[pyo3(get)]
    pub mean: f64,
    #[pyo3(get)]
    pub sd: f64,
}

#[pymethods]
impl Normal {
    #[new]
    fn new(mean: f64, sd: f64) -> Self {
        Normal { mean, sd }
    }
}
