//! Neuron models: what a neuron is.
//!
//! Each model is a `*Params` struct (validated, units in the names), a propagator derived once from
//! the parameters, the receptor ports and the time step, and a `step_block` function that advances a
//! contiguous block of neurons held as structure-of-arrays slices. The network owns the arrays; the
//! step is a pure function of state, input and propagator.
//!
//! # Receptor ports
//! A projection delivers into one port of its target population:
//! - [`Port::Delta`]: the summed weights of the spikes arriving this step act once. For IF and LIF
//!   they jump the membrane potential (mV); for Izhikevich they are a current that lasts one step,
//!   as in the program of Izhikevich (2003), Fig. 3.
//! - [`Port::Exponential`]: the weights jump a synaptic variable `x` that decays with `tau_ms`;
//!   `x` drives the membrane (LIF: `x` is a voltage-equivalent R·I in mV; IF: a rate in mV/ms;
//!   Izhikevich: a current in the model's units). Integration is exact.
//! - [`Port::Conductance`] (LIF only): the weights jump a conductance `g` that decays with
//!   `tau_ms` and drives the membrane towards its reversal potential `e_rev_mv`. Conductances are
//!   in units of the leak conductance (g/g_L, dimensionless: 6 nS onto a 10 nS leak is 0.6). The
//!   membrane is then integrated by exponential Euler ([`conductance`]).
//!
//! Input that arrives at step t acts on the state computed at step t: a delta input can make the
//! neuron fire in the step it arrives, and an exponential current is integrated from the start of
//! the step.
//!
//! # Refractoriness
//! A neuron that fires at step t is clamped for the `refractory_steps` steps that follow
//! (t+1 … t+refractory): its membrane does not integrate and delta input is discarded, while its
//! synaptic currents keep decaying and accumulating (as in NEST's `iaf_psc_exp` and Brian2's
//! `unless refractory`).

pub mod conductance;
pub mod iaf;
mod integrate;
pub mod izhikevich;
pub mod lif;
mod spike_test;
mod spikes;

pub use iaf::{IafParams, IafPropagator};
pub use integrate::IntegrateBlock;
pub(crate) use integrate::{
    exp_port_pass, external_drive, general_only, integrate_step, threshold, with_delta, DeltaIn,
    DriveGains, SpikeRule,
};
pub use izhikevich::{IntegrationScheme, IzhikevichParams, IzhikevichPropagator};
pub use lif::{LifParams, LifPropagator};
pub use spike_test::SpikeTest;
#[cfg(test)]
pub(crate) use spikes::for_each_fired;
pub(crate) use spikes::{collect_spikes, count_flags, for_each_fired_at, SpikeOutput};

use crate::error::{Error, Result};
use crate::time::Dt;

/// Most ports with a variable (exponential and conductance ports together) one population may
/// have: the step is specialised for each count.
pub const MAX_EXP_PORTS: usize = 4;

/// A receptor port of a population (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Port {
    /// Weights act once, in the step they arrive.
    Delta,
    /// Weights jump a variable that decays with time constant `tau_ms`.
    Exponential {
        /// Decay time constant in ms.
        tau_ms: f32,
    },
    /// Weights jump a conductance (in units of the leak conductance) that decays with time
    /// constant `tau_ms` and pulls the membrane towards `e_rev_mv` (LIF only).
    Conductance {
        /// Decay time constant in ms.
        tau_ms: f32,
        /// Reversal potential in mV.
        e_rev_mv: f32,
    },
}

impl Port {
    /// Whether the port keeps a decaying variable of its own (exponential and conductance ports;
    /// their variables are numbered in port order, [`crate::network::StateVar::Syn`]).
    pub fn has_variable(&self) -> bool {
        !matches!(self, Port::Delta)
    }

    /// The reversal potential of a conductance port.
    pub fn reversal_mv(&self) -> Option<f32> {
        match self {
            Port::Conductance { e_rev_mv, .. } => Some(*e_rev_mv),
            _ => None,
        }
    }
}

/// What happens to the membrane after a spike.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Reset {
    /// Set the membrane to `v_reset_mv` (must be below threshold).
    ToValue {
        /// The reset potential in mV.
        v_reset_mv: f32,
    },
    /// Subtract the distance from rest to threshold, `v_th_mv − v_rest_mv`, keeping the excess
    /// (the "reset by subtraction" of ANN-to-SNN conversion).
    BySubtraction,
}

/// A neuron model with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum NeuronModel {
    /// Non-leaky integrate-and-fire.
    Iaf(IafParams),
    /// Leaky integrate-and-fire.
    Lif(LifParams),
    /// Izhikevich's simple model.
    Izhikevich(IzhikevichParams),
    /// A non-spiking integrator: `v += input` every step and never a spike (the membrane readout
    /// of converted networks, Rueckauer et al. 2017, Sec. 2.2.2).
    Integrator(IntegratorParams),
}

/// Parameters of [`NeuronModel::Integrator`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntegratorParams {
    /// Initial potential (mV).
    pub v_rest_mv: f32,
}

impl IntegratorParams {
    /// The IF dynamics it runs on: the same membrane update with no threshold to cross
    /// (`v ≥ +∞` never holds for a finite potential).
    pub(crate) fn as_iaf(&self) -> IafParams {
        IafParams {
            v_th_mv: f32::INFINITY,
            v_rest_mv: self.v_rest_mv,
            reset: Reset::BySubtraction,
            t_ref_ms: 0.0,
        }
    }
}

impl NeuronModel {
    /// Checks every parameter (and that the ports are valid for the model).
    pub fn validate(&self, ports: &[Port]) -> Result<()> {
        validate_ports(ports)?;
        if !matches!(self, NeuronModel::Lif(_)) {
            if let Some(k) = ports.iter().position(|p| p.reversal_mv().is_some()) {
                return Err(Error::Unsupported(format!(
                    "port[{k}]: conductance ports need a leaky membrane (lif), not {}",
                    self.name()
                )));
            }
        }
        match self {
            NeuronModel::Iaf(p) => p.validate(),
            NeuronModel::Lif(p) => p.validate(),
            NeuronModel::Izhikevich(p) => p.validate(),
            NeuronModel::Integrator(p) => {
                crate::error::finite("integrator.v_rest_mv", p.v_rest_mv as f64)
            }
        }
    }

    /// The model's name as used in error messages and records.
    pub fn name(&self) -> &'static str {
        match self {
            NeuronModel::Iaf(_) => "iaf",
            NeuronModel::Lif(_) => "lif",
            NeuronModel::Izhikevich(_) => "izhikevich",
            NeuronModel::Integrator(_) => "integrator",
        }
    }
}

/// Checks the ports: taus positive, reversal potentials finite, at most [`MAX_EXP_PORTS`]
/// exponential and conductance ones.
pub fn validate_ports(ports: &[Port]) -> Result<()> {
    let mut n_exp = 0;
    for (i, port) in ports.iter().enumerate() {
        match port {
            Port::Delta => continue,
            Port::Exponential { tau_ms } => {
                crate::error::positive(&format!("port[{i}].tau_ms"), *tau_ms as f64)?
            }
            Port::Conductance { tau_ms, e_rev_mv } => {
                crate::error::positive(&format!("port[{i}].tau_ms"), *tau_ms as f64)?;
                crate::error::finite(&format!("port[{i}].e_rev_mv"), *e_rev_mv as f64)?;
            }
        }
        n_exp += 1;
    }
    if n_exp > MAX_EXP_PORTS {
        return Err(Error::param(
            "ports",
            n_exp,
            format!("at most {MAX_EXP_PORTS} exponential and conductance ports"),
        ));
    }
    Ok(())
}

/// Validates a reset against the threshold.
pub(crate) fn validate_reset(model: &'static str, reset: Reset, v_th_mv: f32) -> Result<()> {
    if let Reset::ToValue { v_reset_mv } = reset {
        crate::error::finite(&format!("{model}.v_reset_mv"), v_reset_mv as f64)?;
        if v_reset_mv >= v_th_mv {
            return Err(Error::ResetNotBelowThreshold {
                model,
                v_reset_mv,
                v_th_mv,
            });
        }
    }
    Ok(())
}

/// Decay factors `e^(−dt/τ)` of the ports with a variable, in port order (delta ports skipped).
pub(crate) fn exp_decays(ports: &[Port], dt: Dt) -> Vec<f32> {
    exp_taus(ports)
        .map(|tau| (-dt.ms() / tau).exp() as f32)
        .collect()
}

/// Time constants of the ports with a variable (exponential and conductance), in port order.
pub(crate) fn exp_taus(ports: &[Port]) -> impl Iterator<Item = f64> + '_ {
    ports.iter().filter_map(|p| match p {
        Port::Exponential { tau_ms } | Port::Conductance { tau_ms, .. } => Some(*tau_ms as f64),
        Port::Delta => None,
    })
}
