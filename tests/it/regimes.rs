//! The 20 regimes of Izhikevich (2004), Fig. 1, each checked by its signature in the figure.

use somnet::neuron::izhikevich::regimes::{Regime, RegimeKind, RegimeTrace};

fn run(kind: RegimeKind) -> (Regime, RegimeTrace) {
    let r = Regime::get(kind);
    let t = r.simulate();
    (r, t)
}

fn isis(t: &[f32]) -> Vec<f32> {
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Bursts: groups of spikes whose intervals are below `gap_ms`.
fn bursts(t: &[f32], gap_ms: f32) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = Vec::new();
    for &s in t {
        match out.last_mut() {
            Some(b) if s - b.last().copied().unwrap_or(f32::MIN) < gap_ms => b.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

fn count_in(t: &[f32], from: f32, to: f32) -> usize {
    t.iter().filter(|&&s| s > from && s < to).count()
}

#[test]
fn every_regime_has_its_panel_and_data() {
    let panels: String = RegimeKind::ALL
        .iter()
        .map(|&k| Regime::get(k).panel)
        .collect();
    assert_eq!(panels, "ABCDEFGHIJKLMNOPQRST");
    for k in RegimeKind::ALL {
        Regime::get(k).params.validate().unwrap();
    }
}

#[test]
fn a_tonic_spiking_fires_regularly_while_stimulated() {
    let (_, t) = run(RegimeKind::TonicSpiking);
    let s = &t.spike_times_ms;
    assert!(s.len() >= 4 && s[0] > 10.0, "{s:?}");
    let i = isis(s);
    let (a, b) = (i[i.len() - 2], i[i.len() - 1]);
    assert!((a - b).abs() / b < 0.05, "late intervals equal: {i:?}");
    assert!(
        100.0 - s[s.len() - 1] < 1.5 * b,
        "still firing at the end: {s:?}"
    );
}

#[test]
fn b_phasic_spiking_fires_once_at_onset() {
    let (_, t) = run(RegimeKind::PhasicSpiking);
    assert_eq!(t.spike_times_ms.len(), 1);
    assert!(t.spike_times_ms[0] > 20.0 && t.spike_times_ms[0] < 60.0);
}

#[test]
fn c_tonic_bursting_repeats_bursts() {
    let (_, t) = run(RegimeKind::TonicBursting);
    let b = bursts(&t.spike_times_ms, 10.0);
    assert!(b.len() >= 3, "{b:?}");
    assert!(b.iter().all(|burst| burst.len() >= 3), "{b:?}");
    let starts: Vec<f32> = b.iter().map(|x| x[0]).collect();
    assert!(
        isis(&starts).iter().all(|&g| g > 40.0),
        "bursts separated by silence: {starts:?}"
    );
}

#[test]
fn d_phasic_bursting_bursts_once_then_stays_silent() {
    let (_, t) = run(RegimeKind::PhasicBursting);
    let b = bursts(&t.spike_times_ms, 15.0);
    assert_eq!(b.len(), 1, "{b:?}");
    assert!(b[0].len() >= 3 && b[0][0] > 20.0);
    assert!(
        *b[0].last().unwrap() < 100.0,
        "silent for the second half of the stimulus"
    );
}

#[test]
fn e_mixed_mode_bursts_then_spikes_tonically() {
    let (_, t) = run(RegimeKind::MixedMode);
    let b = bursts(&t.spike_times_ms, 10.0);
    assert!(b[0].len() >= 2, "initial burst: {b:?}");
    assert!(
        b.len() >= 3 && b[1..].iter().all(|x| x.len() == 1),
        "then single spikes: {b:?}"
    );
}

#[test]
fn f_spike_frequency_adaptation_lengthens_intervals() {
    let (_, t) = run(RegimeKind::SpikeFrequencyAdaptation);
    let i = isis(&t.spike_times_ms);
    assert!(i.len() >= 4);
    assert!(
        i.windows(2).all(|w| w[1] > w[0]),
        "intervals increase: {i:?}"
    );
    assert!(i[i.len() - 1] > 5.0 * i[0]);
}

#[test]
fn g_h_class_1_starts_slow_class_2_starts_fast() {
    // Class 1: the rate grows from near zero as the ramp rises; class 2: firing starts at a
    // relatively high rate.
    let (_, c1) = run(RegimeKind::Class1Excitability);
    let (_, c2) = run(RegimeKind::Class2Excitability);
    let (i1, i2) = (isis(&c1.spike_times_ms), isis(&c2.spike_times_ms));
    assert!(i1.len() >= 5 && i2.len() >= 5);
    let mean = |x: &[f32]| x.iter().sum::<f32>() / x.len() as f32;
    for i in [&i1, &i2] {
        assert!(
            mean(&i[i.len() - 3..]) < mean(&i[..3]),
            "rate rises with the ramp: {i:?}"
        );
    }
    let onset_hz = |i: &[f32]| 1000.0 / i[0];
    assert!(onset_hz(&i1) < 30.0, "class 1 onset {} Hz", onset_hz(&i1));
    assert!(onset_hz(&i2) > 40.0, "class 2 onset {} Hz", onset_hz(&i2));
    assert!(i1[0] / i1[i1.len() - 1] > 2.5 && i2[0] / i2[i2.len() - 1] < 2.0);
}

#[test]
fn i_spike_latency_fires_late_after_a_brief_pulse() {
    let (r, t) = run(RegimeKind::SpikeLatency);
    assert_eq!(t.spike_times_ms.len(), 1);
    let pulse_end = r.protocol.segments[0].to_ms;
    assert!(
        t.spike_times_ms[0] - pulse_end > 5.0,
        "latency after the pulse: {:?}",
        t.spike_times_ms
    );
}

#[test]
fn j_subthreshold_oscillations_ring_after_the_spike() {
    let (r, t) = run(RegimeKind::SubthresholdOscillations);
    assert_eq!(t.spike_times_ms.len(), 1);
    // After the spike, v swings around its rest and the swings decay.
    let start = ((t.spike_times_ms[0] + 5.0) / r.dt_ms) as usize;
    let v = &t.v_mv[start..];
    let rest = v[v.len() - 1];
    let crossings = v
        .windows(2)
        .filter(|w| (w[0] - rest) * (w[1] - rest) < 0.0)
        .count();
    assert!(crossings >= 3, "oscillation crossings: {crossings}");
    let early = v[..v.len() / 3]
        .iter()
        .map(|x| (x - rest).abs())
        .fold(0.0, f32::max);
    let late = v[2 * v.len() / 3..]
        .iter()
        .map(|x| (x - rest).abs())
        .fold(0.0, f32::max);
    assert!(late < early, "damped: {early} then {late}");
}

#[test]
fn k_resonator_fires_only_for_the_resonant_pulse_pair() {
    let (r, t) = run(RegimeKind::Resonator);
    let s = &t.spike_times_ms;
    let seg = &r.protocol.segments;
    assert_eq!(
        count_in(s, 0.0, seg[2].from_ms),
        0,
        "no spike for the 20 ms pair: {s:?}"
    );
    assert_eq!(
        count_in(s, seg[2].from_ms, seg[3].from_ms),
        0,
        "no spike for a single pulse"
    );
    assert_eq!(
        count_in(s, seg[3].from_ms, r.t_end_ms + 1.0),
        1,
        "a spike after the second pulse of the 40 ms pair"
    );
}

#[test]
fn l_integrator_fires_for_close_pulses_only() {
    let (r, t) = run(RegimeKind::Integrator);
    let s = &t.spike_times_ms;
    let seg = &r.protocol.segments;
    assert_eq!(
        count_in(s, 0.0, seg[1].from_ms),
        0,
        "one pulse is not enough"
    );
    assert_eq!(
        count_in(s, seg[1].from_ms, seg[2].from_ms),
        1,
        "two pulses 5 ms apart sum to a spike"
    );
    assert_eq!(
        count_in(s, seg[2].from_ms, r.t_end_ms + 1.0),
        0,
        "pulses 10 ms apart do not: {s:?}"
    );
}

#[test]
fn m_n_rebound_spike_and_rebound_burst_follow_inhibition() {
    let (r, spike) = run(RegimeKind::ReboundSpike);
    let (_, burst) = run(RegimeKind::ReboundBurst);
    let end = r.protocol.segments[0].to_ms;
    assert_eq!(spike.spike_times_ms.len(), 1);
    assert!(spike.spike_times_ms[0] > end);
    let b = bursts(&burst.spike_times_ms, 10.0);
    assert_eq!(b.len(), 1);
    assert!(b[0].len() >= 3 && b[0][0] > end, "{b:?}");
}

#[test]
fn o_threshold_variability_needs_preceding_inhibition() {
    // The same excitatory pulse fails alone and succeeds right after an inhibitory one.
    let (_, t) = run(RegimeKind::ThresholdVariability);
    let s = &t.spike_times_ms;
    assert_eq!(count_in(s, 0.0, 70.0), 0, "{s:?}");
    assert_eq!(count_in(s, 80.0, 100.0), 1, "{s:?}");
}

#[test]
fn p_bistability_switches_on_and_off_with_pulses() {
    let (r, t) = run(RegimeKind::Bistability);
    let s = &t.spike_times_ms;
    let (on, off) = (
        r.protocol.segments[0].from_ms,
        r.protocol.segments[1].from_ms,
    );
    assert_eq!(count_in(s, 0.0, on), 0);
    assert!(
        count_in(s, on, off) >= 4,
        "tonic firing after the first pulse: {s:?}"
    );
    assert_eq!(
        count_in(s, off + 10.0, r.t_end_ms + 1.0),
        0,
        "silent after the second pulse"
    );
}

#[test]
fn q_depolarizing_after_potential_follows_the_spike() {
    let (r, t) = run(RegimeKind::DepolarizingAfterPotential);
    assert_eq!(t.spike_times_ms.len(), 1);
    let k = ((t.spike_times_ms[0] + 1.0) / r.dt_ms) as usize;
    let hump = t.v_mv[k..k + (10.0 / r.dt_ms) as usize]
        .iter()
        .cloned()
        .fold(f32::MIN, f32::max);
    let rest = t.v_mv[(8.0 / r.dt_ms) as usize];
    assert!(
        hump > rest + 5.0,
        "after-potential {hump} mV above the pre-stimulus {rest} mV"
    );
}

#[test]
fn r_accommodation_ignores_a_slow_ramp_but_fires_for_a_fast_one() {
    let (_, t) = run(RegimeKind::Accommodation);
    let s = &t.spike_times_ms;
    assert_eq!(count_in(s, 0.0, 300.0), 0, "slow ramp to 8: {s:?}");
    assert_eq!(count_in(s, 300.0, 330.0), 1, "fast ramp to 4: {s:?}");
}

#[test]
fn s_t_inhibition_induced_spiking_and_bursting() {
    let (_, sp) = run(RegimeKind::InhibitionInducedSpiking);
    let (_, bu) = run(RegimeKind::InhibitionInducedBursting);
    for (name, t) in [("spiking", &sp), ("bursting", &bu)] {
        let s = &t.spike_times_ms;
        assert_eq!(
            count_in(s, 0.0, 50.0) + count_in(s, 252.0, 400.0),
            0,
            "{name}: silent at the high input: {s:?}"
        );
        assert!(
            count_in(s, 50.0, 252.0) >= 2,
            "{name}: fires while inhibited: {s:?}"
        );
    }
    assert!(bursts(&sp.spike_times_ms, 10.0)
        .iter()
        .all(|b| b.len() == 1));
    let b = bursts(&bu.spike_times_ms, 10.0);
    assert!(b.len() >= 2 && b.iter().all(|b| b.len() >= 3), "{b:?}");
}
