//! The 20 firing regimes of Izhikevich (2004), "Which model to use for cortical spiking neurons?",
//! IEEE TNN 15:1063, Fig. 1 (A)–(T), as data: parameters, initial state, step size and input
//! protocol, as the figure's program (`figure1.m`, published with the paper) runs them.
//!
//! Every regime uses the Euler scheme of that program (v first, then u with the new v) at its own
//! step size. Input currents are piecewise linear in time; intervals are open, as the program's
//! strict comparisons make them.
//!
//! ```
//! use somnet::neuron::izhikevich::regimes::{Regime, RegimeKind};
//! let trace = Regime::get(RegimeKind::PhasicSpiking).simulate();
//! assert_eq!(trace.spike_times_ms.len(), 1); // one spike at stimulus onset, then silence
//! ```

use super::{IntegrationScheme, IzhikevichParams, IzhikevichPropagator, Unported};
use crate::time::Dt;

/// The twenty regimes, in the order of the figure's panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub enum RegimeKind {
    TonicSpiking,
    PhasicSpiking,
    TonicBursting,
    PhasicBursting,
    MixedMode,
    SpikeFrequencyAdaptation,
    Class1Excitability,
    Class2Excitability,
    SpikeLatency,
    SubthresholdOscillations,
    Resonator,
    Integrator,
    ReboundSpike,
    ReboundBurst,
    ThresholdVariability,
    Bistability,
    DepolarizingAfterPotential,
    Accommodation,
    InhibitionInducedSpiking,
    InhibitionInducedBursting,
}

impl RegimeKind {
    /// All twenty, panel order.
    pub const ALL: [RegimeKind; 20] = [
        RegimeKind::TonicSpiking,
        RegimeKind::PhasicSpiking,
        RegimeKind::TonicBursting,
        RegimeKind::PhasicBursting,
        RegimeKind::MixedMode,
        RegimeKind::SpikeFrequencyAdaptation,
        RegimeKind::Class1Excitability,
        RegimeKind::Class2Excitability,
        RegimeKind::SpikeLatency,
        RegimeKind::SubthresholdOscillations,
        RegimeKind::Resonator,
        RegimeKind::Integrator,
        RegimeKind::ReboundSpike,
        RegimeKind::ReboundBurst,
        RegimeKind::ThresholdVariability,
        RegimeKind::Bistability,
        RegimeKind::DepolarizingAfterPotential,
        RegimeKind::Accommodation,
        RegimeKind::InhibitionInducedSpiking,
        RegimeKind::InhibitionInducedBursting,
    ];
}

/// A piece of an input protocol: on the open interval (`from_ms`, `to_ms`) the current is
/// `level + slope_per_ms·(t − from_ms)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start (exclusive), ms.
    pub from_ms: f32,
    /// End (exclusive), ms.
    pub to_ms: f32,
    /// Current at the start.
    pub level: f32,
    /// Change per ms.
    pub slope_per_ms: f32,
}

/// An input current protocol: `baseline` outside every segment; the first matching segment wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// Current outside the segments.
    pub baseline: f32,
    /// The stimulus pieces.
    pub segments: Vec<Segment>,
}

impl Protocol {
    /// The current at time `t_ms`.
    pub fn current(&self, t_ms: f32) -> f32 {
        self.segments
            .iter()
            .find(|s| t_ms > s.from_ms && t_ms < s.to_ms)
            .map_or(self.baseline, |s| {
                s.level + s.slope_per_ms * (t_ms - s.from_ms)
            })
    }
}

/// One regime: parameters, initial state, step, duration and input.
#[derive(Debug, Clone, PartialEq)]
pub struct Regime {
    /// Which regime.
    pub kind: RegimeKind,
    /// The panel of Izhikevich (2004), Fig. 1.
    pub panel: char,
    /// Model parameters (Euler scheme).
    pub params: IzhikevichParams,
    /// Initial membrane potential (mV).
    pub v0_mv: f32,
    /// Initial recovery variable.
    pub u0: f32,
    /// Step size (ms): `tau` in `figure1.m`.
    pub dt_ms: f32,
    /// Simulated duration (ms).
    pub t_end_ms: f32,
    /// Input current.
    pub protocol: Protocol,
}

/// The simulated trace of a regime.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimeTrace {
    /// Time of each sample (ms).
    pub t_ms: Vec<f32>,
    /// Membrane potential after each step (mV; the reset value at a spike).
    pub v_mv: Vec<f32>,
    /// Spike times (ms).
    pub spike_times_ms: Vec<f32>,
}

fn seg(from_ms: f32, to_ms: f32, level: f32) -> Segment {
    Segment {
        from_ms,
        to_ms,
        level,
        slope_per_ms: 0.0,
    }
}

fn ramp(from_ms: f32, to_ms: f32, level: f32, slope_per_ms: f32) -> Segment {
    Segment {
        from_ms,
        to_ms,
        level,
        slope_per_ms,
    }
}

impl Regime {
    /// The regime's data, as in Izhikevich (2004), Fig. 1 and its `figure1.m`.
    pub fn get(kind: RegimeKind) -> Regime {
        use RegimeKind::*;
        const INF: f32 = f32::INFINITY;
        // (panel, a, b, c, d, v0, dt, t_end, baseline, segments)
        let (panel, a, b, c, d, v0, dt, t_end, baseline, segments) = match kind {
            TonicSpiking => (
                'A',
                0.02,
                0.2,
                -65.0,
                6.0,
                -70.0,
                0.25,
                100.0,
                0.0,
                vec![seg(10.0, INF, 14.0)],
            ),
            PhasicSpiking => (
                'B',
                0.02,
                0.25,
                -65.0,
                6.0,
                -64.0,
                0.25,
                200.0,
                0.0,
                vec![seg(20.0, INF, 0.5)],
            ),
            TonicBursting => (
                'C',
                0.02,
                0.2,
                -50.0,
                2.0,
                -70.0,
                0.25,
                220.0,
                0.0,
                vec![seg(22.0, INF, 15.0)],
            ),
            PhasicBursting => (
                'D',
                0.02,
                0.25,
                -55.0,
                0.05,
                -64.0,
                0.2,
                200.0,
                0.0,
                vec![seg(20.0, INF, 0.6)],
            ),
            MixedMode => (
                'E',
                0.02,
                0.2,
                -55.0,
                4.0,
                -70.0,
                0.25,
                160.0,
                0.0,
                vec![seg(16.0, INF, 10.0)],
            ),
            SpikeFrequencyAdaptation => (
                'F',
                0.01,
                0.2,
                -65.0,
                8.0,
                -70.0,
                0.25,
                85.0,
                0.0,
                vec![seg(8.5, INF, 30.0)],
            ),
            Class1Excitability => (
                'G',
                0.02,
                -0.1,
                -55.0,
                6.0,
                -60.0,
                0.25,
                300.0,
                0.0,
                vec![ramp(30.0, INF, 0.0, 0.075)],
            ),
            Class2Excitability => (
                'H',
                0.2,
                0.26,
                -65.0,
                0.0,
                -64.0,
                0.25,
                300.0,
                -0.5,
                vec![ramp(30.0, INF, -0.5, 0.015)],
            ),
            SpikeLatency => (
                'I',
                0.02,
                0.2,
                -65.0,
                6.0,
                -70.0,
                0.2,
                100.0,
                0.0,
                vec![seg(10.0, 13.0, 7.04)],
            ),
            SubthresholdOscillations => (
                'J',
                0.05,
                0.26,
                -60.0,
                0.0,
                -62.0,
                0.25,
                200.0,
                0.0,
                vec![seg(20.0, 25.0, 2.0)],
            ),
            Resonator => (
                'K',
                0.1,
                0.26,
                -60.0,
                -1.0,
                -62.0,
                0.25,
                400.0,
                0.0,
                vec![
                    seg(40.0, 44.0, 0.65),
                    seg(60.0, 64.0, 0.65),
                    seg(280.0, 284.0, 0.65),
                    seg(320.0, 324.0, 0.65),
                ],
            ),
            Integrator => {
                let t1 = 100.0 / 11.0;
                let (t2, t3, t4) = (t1 + 5.0, 70.0, 80.0);
                (
                    'L',
                    0.02,
                    -0.1,
                    -55.0,
                    6.0,
                    -60.0,
                    0.25,
                    100.0,
                    0.0,
                    vec![
                        seg(t1, t1 + 2.0, 9.0),
                        seg(t2, t2 + 2.0, 9.0),
                        seg(t3, t3 + 2.0, 9.0),
                        seg(t4, t4 + 2.0, 9.0),
                    ],
                )
            }
            ReboundSpike => (
                'M',
                0.03,
                0.25,
                -60.0,
                4.0,
                -64.0,
                0.2,
                200.0,
                0.0,
                vec![seg(20.0, 25.0, -15.0)],
            ),
            ReboundBurst => (
                'N',
                0.03,
                0.25,
                -52.0,
                0.0,
                -64.0,
                0.2,
                200.0,
                0.0,
                vec![seg(20.0, 25.0, -15.0)],
            ),
            ThresholdVariability => (
                'O',
                0.03,
                0.25,
                -60.0,
                4.0,
                -64.0,
                0.25,
                100.0,
                0.0,
                vec![
                    seg(10.0, 15.0, 1.0),
                    seg(80.0, 85.0, 1.0),
                    seg(70.0, 75.0, -6.0),
                ],
            ),
            Bistability => (
                'P',
                0.1,
                0.26,
                -60.0,
                0.0,
                -61.0,
                0.25,
                300.0,
                0.24,
                vec![seg(37.5, 42.5, 1.24), seg(216.0, 221.0, 1.24)],
            ),
            DepolarizingAfterPotential => (
                'Q',
                1.0,
                0.2,
                -60.0,
                -21.0,
                -70.0,
                0.1,
                50.0,
                0.0,
                vec![seg(9.0, 11.0, 20.0)],
            ),
            Accommodation => (
                'R',
                0.02,
                1.0,
                -55.0,
                4.0,
                -65.0,
                0.5,
                400.0,
                0.0,
                vec![
                    ramp(-1.0, 200.0, -1.0 / 25.0, 1.0 / 25.0),
                    ramp(300.0, 312.5, 0.0, 4.0 / 12.5),
                ],
            ),
            InhibitionInducedSpiking => (
                'S',
                -0.02,
                -1.0,
                -60.0,
                8.0,
                -63.8,
                0.5,
                350.0,
                75.0,
                vec![seg(-1.0, 50.0, 80.0), seg(250.0, INF, 80.0)],
            ),
            InhibitionInducedBursting => (
                'T',
                -0.026,
                -1.0,
                -45.0,
                -2.0,
                -63.8,
                0.5,
                350.0,
                75.0,
                vec![seg(-1.0, 50.0, 80.0), seg(250.0, INF, 80.0)],
            ),
        };
        let mut params = IzhikevichParams::new(a, b, c, d);
        params.scheme = IntegrationScheme::Euler;
        let mut u0 = b * v0;
        match kind {
            // Panels G and L: dv/dt = 0.04v² + 4.1v + 108 − u + I.
            Class1Excitability | Integrator => {
                params.k1 = 4.1;
                params.k0 = 108.0;
            }
            // Panel R: du/dt = a·b·(v + 65), starting from u = −16.
            Accommodation => {
                params.u_v_offset_mv = -65.0;
                params.u_leak = 0.0;
                u0 = -16.0;
            }
            _ => {}
        }
        Regime {
            kind,
            panel,
            params,
            v0_mv: v0,
            u0,
            dt_ms: dt,
            t_end_ms: t_end,
            protocol: Protocol { baseline, segments },
        }
    }

    /// Runs the regime with the low-level step and returns its trace.
    pub fn simulate(&self) -> RegimeTrace {
        let dt = Dt::new(self.dt_ms as f64).expect("regime step sizes are positive constants");
        let prop = IzhikevichPropagator::new(&self.params, &[], dt)
            .expect("regime parameters are valid constants");
        let (mut v, mut u) = ([self.v0_mv], [self.u0]);
        let p = &self.params;
        let (a, b, c, d) = ([p.a[0]], [p.b[0]], [p.c[0]], [p.d[0]]);
        let n_steps = (self.t_end_ms / self.dt_ms).round() as usize + 1;
        let mut trace = RegimeTrace {
            t_ms: Vec::new(),
            v_mv: Vec::new(),
            spike_times_ms: Vec::new(),
        };
        let mut spikes = Vec::new();
        let mut neuron = Unported::new(1);
        for step in 0..n_steps {
            let t = step as f32 * self.dt_ms;
            let i_ext = [self.protocol.current(t)];
            spikes.clear();
            neuron.step(
                &prop,
                (&mut v, &mut u),
                [&a, &b, &c, &d],
                &i_ext,
                &mut spikes,
            );
            if !spikes.is_empty() {
                trace.spike_times_ms.push(t);
            }
            trace.t_ms.push(t);
            trace.v_mv.push(v[0]);
        }
        trace
    }
}
