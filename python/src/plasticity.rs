//! Plasticity rules from Python: `somnet.STDP`, `somnet.TripletSTDP` and `somnet.RewardSTDP`
//! hold parameters (checked when made); `Network.set_plasticity` builds the library's rule from
//! them. A `RewardSTDP` also holds the dopamine handle of the rule it builds.

use std::sync::Mutex;

use pyo3::prelude::*;

use somnet::network::plasticity::{
    DelayKind, Dopamine, Pairing, RewardStdp, RewardStdpParams, Stdp, StdpParams, TripletStdp,
    TripletStdpParams,
};
use somnet::network::Plasticity;

use crate::errors::{value, OrPy};

fn pairing(s: &str) -> PyResult<Pairing> {
    match s {
        "all_to_all" => Ok(Pairing::AllToAll),
        "nearest" => Ok(Pairing::Nearest),
        _ => Err(value(format!(
            "pairing: '{s}', expected 'all_to_all' or 'nearest'"
        ))),
    }
}

fn delays(s: &str) -> PyResult<DelayKind> {
    match s {
        "dendritic" => Ok(DelayKind::Dendritic),
        "axonal" => Ok(DelayKind::Axonal),
        _ => Err(value(format!(
            "delays: '{s}', expected 'dendritic' or 'axonal'"
        ))),
    }
}

/// Pair-based STDP with NEST `stdp_synapse`'s weight dependence (mu 0: additive, 1:
/// multiplicative), `pairing` 'all_to_all' or 'nearest', `delays` 'dendritic' (NEST) or 'axonal'.
#[pyclass(name = "STDP", module = "somnet", frozen)]
#[derive(Clone)]
pub struct PyStdp {
    params: StdpParams,
}

#[pymethods]
impl PyStdp {
    #[new]
    #[pyo3(signature = (*, tau_plus_ms=20.0, tau_minus_ms=20.0, lambda_=0.01, alpha=1.0, mu_plus=1.0, mu_minus=1.0, w_max=100.0, pairing="all_to_all", delays="dendritic"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tau_plus_ms: f64,
        tau_minus_ms: f64,
        lambda_: f64,
        alpha: f64,
        mu_plus: f64,
        mu_minus: f64,
        w_max: f64,
        pairing: &str,
        delays: &str,
    ) -> PyResult<Self> {
        let params = StdpParams {
            tau_plus_ms,
            tau_minus_ms,
            lambda: lambda_,
            alpha,
            mu_plus,
            mu_minus,
            w_max,
            pairing: self::pairing(pairing)?,
            delays: self::delays(delays)?,
        };
        params.validate().or_py()?;
        Ok(PyStdp { params })
    }

    fn __repr__(&self) -> String {
        format!("STDP({:?})", self.params)
    }
}

/// Triplet STDP (Pfister & Gerstner 2006); defaults: their minimal all-to-all visual-cortex fit.
#[pyclass(name = "TripletSTDP", module = "somnet", frozen)]
#[derive(Clone)]
pub struct PyTripletStdp {
    params: TripletStdpParams,
}

#[pymethods]
impl PyTripletStdp {
    #[new]
    #[pyo3(signature = (*, tau_plus_ms=16.8, tau_x_ms=101.0, tau_minus_ms=33.7, tau_y_ms=125.0, a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4, w_max=100.0, pairing="all_to_all", delays="dendritic"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        tau_plus_ms: f64,
        tau_x_ms: f64,
        tau_minus_ms: f64,
        tau_y_ms: f64,
        a2_plus: f64,
        a3_plus: f64,
        a2_minus: f64,
        a3_minus: f64,
        w_max: f64,
        pairing: &str,
        delays: &str,
    ) -> PyResult<Self> {
        let params = TripletStdpParams {
            tau_plus_ms,
            tau_x_ms,
            tau_minus_ms,
            tau_y_ms,
            a2_plus,
            a3_plus,
            a2_minus,
            a3_minus,
            w_max,
            pairing: self::pairing(pairing)?,
            delays: self::delays(delays)?,
        };
        params.validate().or_py()?;
        Ok(PyTripletStdp { params })
    }

    fn __repr__(&self) -> String {
        format!("TripletSTDP({:?})", self.params)
    }
}

/// Reward-modulated STDP (Izhikevich 2007): pairs set an eligibility trace, `release(amount)`
/// adds dopamine at the next step, and weights follow eligibility × dopamine. One object per
/// projection: its dopamine reaches the rule it was attached as.
#[pyclass(name = "RewardSTDP", module = "somnet", frozen)]
pub struct PyRewardStdp {
    rule: Mutex<Option<RewardStdp>>,
    dopamine: Dopamine,
}

#[pymethods]
impl PyRewardStdp {
    #[new]
    #[pyo3(signature = (*, a_plus=1.0, a_minus=1.5, tau_plus_ms=20.0, tau_minus_ms=20.0, tau_c_ms=1000.0, tau_d_ms=200.0, tonic=0.0, w_max=4.0, pairing="all_to_all", delays="dendritic"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        a_plus: f64,
        a_minus: f64,
        tau_plus_ms: f64,
        tau_minus_ms: f64,
        tau_c_ms: f64,
        tau_d_ms: f64,
        tonic: f64,
        w_max: f64,
        pairing: &str,
        delays: &str,
    ) -> PyResult<Self> {
        let params = RewardStdpParams {
            a_plus,
            a_minus,
            tau_plus_ms,
            tau_minus_ms,
            tau_c_ms,
            tau_d_ms,
            tonic,
            w_max,
            pairing: self::pairing(pairing)?,
            delays: self::delays(delays)?,
        };
        let (rule, dopamine) = RewardStdp::new(params).or_py()?;
        Ok(PyRewardStdp {
            rule: Mutex::new(Some(rule)),
            dopamine,
        })
    }

    /// Releases `amount` of dopamine (negative: punishment); it joins the next step.
    fn release(&self, amount: f64) {
        self.dopamine.release(amount);
    }
}

/// The library rule for a Python rule object.
pub fn rule(ob: &Bound<'_, PyAny>) -> PyResult<Box<dyn Plasticity>> {
    if let Ok(r) = ob.cast::<PyStdp>() {
        return Ok(Box::new(Stdp::new(r.get().params).or_py()?));
    }
    if let Ok(r) = ob.cast::<PyTripletStdp>() {
        return Ok(Box::new(TripletStdp::new(r.get().params).or_py()?));
    }
    if let Ok(r) = ob.cast::<PyRewardStdp>() {
        let taken = r
            .get()
            .rule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        return match taken {
            Some(rule) => Ok(Box::new(rule)),
            None => Err(value(
                "this RewardSTDP is attached to a projection already: make one per projection",
            )),
        };
    }
    Err(value(
        "rule: expected somnet.STDP, somnet.TripletSTDP or somnet.RewardSTDP",
    ))
}
