//! How a continuous-time NIR graph becomes steps: the time step, the reset rule, the spike test
//! and the integration scheme, with one preset per exporting framework (`../shared/specs/nir.md`,
//! "NIR is continuous-time; frameworks discretise it differently"). Nothing is guessed from the
//! file: what is not given comes from the chosen preset, and the record says what was used.

use crate::error::{Error, Result};
use crate::neuron::SpikeTest;

/// What a spiking neuron's membrane does after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetMode {
    /// `v := v_reset` (NIR's definition; `v_reset` is 0 in files that have none).
    Zero,
    /// `v := v − θ` (Sinabs; a file cannot say so, NIR has no field for it).
    Subtract,
}

/// How the leaky dynamics are integrated over one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// The exact solution for input held constant over the step: decay `e^(−dt/τ)`.
    Exact,
    /// Forward Euler, as the exporting frameworks step their neurons: decay `1 − dt/τ`
    /// (snnTorch's β, Norse's `dt·τ_inv`).
    Euler,
}

/// How one step of input drives a non-leaky integrator (I, IF: `dv/dt = R·I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegratorInput {
    /// `v += dt·R·I`: the input is held over the step (NIR's equation; SpikingJelly writes
    /// `R = 1/dt` so that one spike adds 1).
    Dt,
    /// `v += R·I`: one step of input is one unit of charge whatever dt is (Norse's and snnTorch's
    /// IF steps, and Sinabs', whose time unit is the step).
    Step,
}

/// The framework a graph came from, for its discretisation preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// NIR's own continuous-time definition: dt 1e-4 s (the NIR paper's examples), reset to
    /// `v_reset`, spike when `v > θ`, exact integration.
    Nir,
    /// Sinabs 3: time in steps (dt = 1, IF adds `r·I` per step), reset by subtraction, spike when
    /// `v ≥ θ`.
    Sinabs,
    /// snnTorch 1.0: dt 1e-4 s (its exporter's fixed value, `τ = dt/(1 − β)`), reset to zero,
    /// spike when `v − θ > 0`, Euler.
    Snntorch,
    /// Norse 1.1: dt 1e-3 s (`from_nir`'s default), reset to `v_reset`, spike when `v > θ`, Euler,
    /// IF adding `R·I` per step; its exporter writes `τ·dt` for every time constant (`dt /
    /// tau_inv`), so the preset reads time constants as `τ_file / dt`.
    Norse,
    /// SpikingJelly 2.0: dt 1e-4 s (`import_from_nir`'s default; its IF has `r = 1/dt`), hard
    /// reset, spike when `v ≥ θ`, Euler.
    Spikingjelly,
    /// somnet's own converted networks (`somnet export-nir`): dt 1e-3 s (one step of 1 ms), reset
    /// by subtraction, spike when `v ≥ θ`, exact, IF adding `R·I` per step. A file somnet wrote
    /// names its own settings in `metadata/` ([`SimOptions::for_graph`] reads them).
    Somnet,
}

impl Framework {
    /// Every preset, by name.
    pub const ALL: [Framework; 6] = [
        Framework::Nir,
        Framework::Sinabs,
        Framework::Snntorch,
        Framework::Norse,
        Framework::Spikingjelly,
        Framework::Somnet,
    ];

    /// The preset's name (`--from NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Framework::Nir => "nir",
            Framework::Sinabs => "sinabs",
            Framework::Snntorch => "snntorch",
            Framework::Norse => "norse",
            Framework::Spikingjelly => "spikingjelly",
            Framework::Somnet => "somnet",
        }
    }

    /// The preset named `name` (case-insensitive).
    pub fn parse(name: &str) -> Result<Framework> {
        let lower = name.trim().to_ascii_lowercase();
        Framework::ALL
            .into_iter()
            .find(|f| f.name() == lower)
            .ok_or_else(|| {
                Error::param(
                    "--from",
                    name,
                    format!("one of {}", Framework::ALL.map(Framework::name).join(", ")),
                )
            })
    }

    /// The discretisation this framework uses.
    pub fn options(self) -> SimOptions {
        use IntegratorInput::{Dt, Step};
        let (dt, reset, spike_test, scheme, integrator, tau_scale) = match self {
            Framework::Nir => (
                1e-4,
                ResetMode::Zero,
                SpikeTest::Above,
                Scheme::Exact,
                Dt,
                1.0,
            ),
            Framework::Sinabs => (
                1.0,
                ResetMode::Subtract,
                SpikeTest::AtLeast,
                Scheme::Euler,
                Step,
                1.0,
            ),
            Framework::Snntorch => (
                1e-4,
                ResetMode::Zero,
                SpikeTest::Above,
                Scheme::Euler,
                Step,
                1.0,
            ),
            Framework::Norse => (
                1e-3,
                ResetMode::Zero,
                SpikeTest::Above,
                Scheme::Euler,
                Step,
                1e3,
            ),
            Framework::Spikingjelly => (
                1e-4,
                ResetMode::Zero,
                SpikeTest::AtLeast,
                Scheme::Euler,
                Dt,
                1.0,
            ),
            Framework::Somnet => (
                1e-3,
                ResetMode::Subtract,
                SpikeTest::AtLeast,
                Scheme::Exact,
                Step,
                1.0,
            ),
        };
        SimOptions {
            from: self,
            dt,
            reset,
            spike_test,
            scheme,
            integrator,
            tau_scale,
            initial: 0.0,
        }
    }
}

/// The discretisation of a NIR graph on the engine.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimOptions {
    /// The preset the other fields started from.
    pub from: Framework,
    /// The time step, in the time unit of the file's time constants (seconds in every published
    /// file).
    pub dt: f64,
    /// After a spike.
    pub reset: ResetMode,
    /// `v ≥ θ` or `v > θ`.
    pub spike_test: SpikeTest,
    /// Exact or forward-Euler integration of the leak and the synaptic current.
    pub scheme: Scheme,
    /// How a step of input drives I and IF nodes.
    pub integrator: IntegratorInput,
    /// Every time constant of the file is multiplied by this (1 but for files whose exporter
    /// writes them in other units: Norse 1.1's are `τ·dt`, read with `1/dt`).
    pub tau_scale: f64,
    /// Where every spiking neuron's membrane starts (and restarts for each sample), as a fraction
    /// of its threshold (0: at rest; 0.5: the θ/2 start of low-latency conversion, Bu et al.,
    /// ICLR 2022). NIR has no field for it.
    #[serde(default)]
    pub initial: f64,
}

impl Default for SimOptions {
    /// NIR's own definition ([`Framework::Nir`]).
    fn default() -> Self {
        Framework::Nir.options()
    }
}

impl SimOptions {
    /// Checks the time step.
    pub fn validate(&self) -> Result<()> {
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(Error::param("dt", self.dt, "a time step > 0"));
        }
        if !(self.tau_scale.is_finite() && self.tau_scale > 0.0) {
            return Err(Error::param("tau_scale", self.tau_scale, "a factor > 0"));
        }
        if !(self.initial.is_finite() && (0.0..1.0).contains(&self.initial)) {
            return Err(Error::param(
                "initial",
                self.initial,
                "a fraction of the threshold in [0, 1)",
            ));
        }
        Ok(())
    }

    /// The options a graph asks for: those named in the `metadata/` of a file somnet wrote
    /// (`source` starting with "somnet"; its `dt`, `reset`, `threshold`, `scheme`, `integrator`
    /// and `initial` entries over the [`Framework::Somnet`] preset), else NIR's own definition.
    /// An entry somnet wrote that does not parse is an error naming it.
    ///
    /// ```
    /// use somnet::io::nir::{Graph, Meta};
    /// use somnet::simulate::{Framework, SimOptions};
    /// let mut g = Graph::default();
    /// assert_eq!(SimOptions::for_graph(&g).unwrap().from, Framework::Nir);
    /// g.metadata.insert("source".into(), Meta::Text("somnet convert".into()));
    /// g.metadata.insert("reset".into(), Meta::Text("zero".into()));
    /// let o = SimOptions::for_graph(&g).unwrap();
    /// assert_eq!((o.from, o.reset), (Framework::Somnet, somnet::simulate::ResetMode::Zero));
    /// ```
    pub fn for_graph(graph: &crate::io::nir::Graph) -> Result<SimOptions> {
        let written_by_somnet = graph
            .metadata
            .get("source")
            .and_then(|m| m.as_text())
            .is_some_and(|s| s.starts_with("somnet"));
        if !written_by_somnet {
            return Ok(SimOptions::default());
        }
        let mut o = Framework::Somnet.options();
        for key in [
            "dt",
            "reset",
            "threshold",
            "scheme",
            "integrator",
            "initial",
        ] {
            let Some(value) = graph.metadata.get(key) else {
                continue;
            };
            let text = match value {
                crate::io::nir::Meta::Text(s) => s.clone(),
                other => match other.as_number() {
                    Some(x) => x.to_string(),
                    None => {
                        return Err(Error::param(
                            format!("NIR metadata '{key}'"),
                            format!("{other:?}"),
                            "one value",
                        ))
                    }
                },
            };
            o.set(key, &text)
                .map_err(|e| Error::Unsupported(format!("NIR metadata '{key}': {e}")))?;
        }
        Ok(o)
    }

    /// Sets one option by name, as `--KEY VALUE` on the command line: `dt`, `reset`
    /// (zero|subtract), `threshold` (gt|ge), `scheme` (exact|euler), `integrator` (dt|step),
    /// `tau_scale` (`tau-scale`), `initial` (fraction of θ).
    ///
    /// ```
    /// let mut o = somnet::simulate::Framework::Sinabs.options();
    /// o.set("threshold", "gt").unwrap();
    /// assert_eq!(o.spike_test, somnet::neuron::SpikeTest::Above);
    /// assert!(o.set("reset", "soft").unwrap_err().to_string().contains("zero or subtract"));
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |expected: &str| Error::param(key, value, expected.to_string());
        let number = || -> Result<f64> { value.trim().parse().map_err(|_| bad("a number")) };
        match key {
            "dt" => self.dt = number()?,
            "initial" => self.initial = number()?,
            "tau_scale" | "tau-scale" => self.tau_scale = number()?,
            "reset" => {
                self.reset = match value {
                    "zero" => ResetMode::Zero,
                    "subtract" => ResetMode::Subtract,
                    _ => return Err(bad("zero or subtract")),
                }
            }
            "threshold" => {
                self.spike_test = match value {
                    "gt" => SpikeTest::Above,
                    "ge" => SpikeTest::AtLeast,
                    _ => return Err(bad("gt (v > θ) or ge (v ≥ θ)")),
                }
            }
            "scheme" => {
                self.scheme = match value {
                    "exact" => Scheme::Exact,
                    "euler" => Scheme::Euler,
                    _ => return Err(bad("exact or euler")),
                }
            }
            "integrator" => {
                self.integrator = match value {
                    "dt" => IntegratorInput::Dt,
                    "step" => IntegratorInput::Step,
                    _ => return Err(bad("dt or step")),
                }
            }
            _ => {
                return Err(Error::param(
                    "simulation option",
                    key,
                    "one of dt, reset, threshold, scheme, integrator, tau_scale, initial",
                ))
            }
        }
        self.validate()
    }

    /// The decay of a variable with time constant `tau` over one step, and the engine's time
    /// constant in steps that has it (the engine runs at dt = 1). Euler needs `dt < τ`: at
    /// `dt ≥ τ` its decay `1 − dt/τ` is zero or negative.
    pub(crate) fn decay(&self, tau: f64, what: &str) -> Result<(f64, f64)> {
        let tau = tau * self.tau_scale;
        let x = self.dt / tau;
        match self.scheme {
            Scheme::Exact => Ok(((-x).exp(), tau / self.dt)),
            Scheme::Euler if x < 1.0 => {
                let decay = 1.0 - x;
                Ok((decay, -1.0 / decay.ln()))
            }
            Scheme::Euler => Err(Error::param(
                what,
                tau,
                format!(
                    "a time constant above dt = {} for forward Euler (its decay 1 − dt/τ would be \
                     ≤ 0; use --scheme exact or a smaller --dt)",
                    self.dt
                ),
            )),
        }
    }
}
