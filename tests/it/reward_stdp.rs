//! Reward-modulated STDP (Izhikevich 2007): pairs set eligibility, dopamine turns it into weight,
//! and the lazy weight update equals the per-step equations across epoch boundaries.

use somnet::network::plasticity::{Pairing, RewardStdp, RewardStdpParams};

use super::stdp::pair_network;

/// The per-step equations of the module docs, for one synapse, written out directly: pairs
/// (nearest-spike, no delay) add to c, releases join d, then w += c·d·dt (clipped), c and d decay.
fn reference(
    p: &RewardStdpParams,
    dt_ms: f64,
    pre: &[u64],
    post: &[u64],
    releases: &[(u64, f64)],
    w0: f64,
    steps: u64,
) -> f64 {
    let (mc, md) = ((-dt_ms / p.tau_c_ms).exp(), (-dt_ms / p.tau_d_ms).exp());
    let (mut c, mut d, mut w) = (0.0f64, 0.0f64, w0);
    for n in 0..steps {
        if post.contains(&n) {
            if let Some(&tp) = pre.iter().filter(|&&t| t < n).max() {
                c += p.a_plus * (-((n - tp) as f64) * dt_ms / p.tau_plus_ms).exp();
            }
        }
        if pre.contains(&n) {
            if let Some(&tq) = post.iter().filter(|&&t| t < n).max() {
                c -= p.a_minus * (-((n - tq) as f64) * dt_ms / p.tau_minus_ms).exp();
            }
        }
        d += releases
            .iter()
            .filter(|r| r.0 == n)
            .map(|r| r.1)
            .sum::<f64>();
        w = (w + c * (p.tonic + d) * dt_ms / 1000.0).clamp(0.0, p.w_max);
        c *= mc;
        d *= md;
    }
    w
}

/// Runs one synapse with these trains, releasing dopamine before the given steps; returns w.
fn run(
    p: RewardStdpParams,
    pre: &[u64],
    post: &[u64],
    releases: &[(u64, f64)],
    w0: f32,
    steps: u64,
) -> f64 {
    let (rule, dopamine) = RewardStdp::new(p).unwrap();
    let (mut net, proj) = pair_network(
        1.0,
        &[pre.to_vec()],
        &[post.to_vec()],
        &[0],
        &[w0],
        Box::new(rule),
    );
    let mut done = 0;
    for &(at, amount) in releases {
        net.run(at - done).unwrap();
        dopamine.release(amount);
        done = at;
    }
    net.run(steps - done).unwrap();
    net.projection(proj).synapses()[0].2 as f64
}

#[test]
fn weights_change_only_with_reward_and_follow_the_closed_form() {
    let p = RewardStdpParams::default();
    // Pre at 10 ms, post at 15 ms: eligibility 1.0·e^{−5/20}; without dopamine nothing moves.
    assert_eq!(run(p, &[10], &[15], &[], 2.0, 2000), 2.0);
    // Dopamine without any pair moves nothing either.
    assert_eq!(run(p, &[], &[], &[(100, 0.5)], 2.0, 2000), 2.0);
    // A reward 85 ms after the pair: w − w0 = Σ_{n ≥ 100} c₀ μ_c^{n−15} · 0.5 μ_d^{n−100} · 1 ms,
    // summed in closed form here.
    let (mc, md) = ((-1.0f64 / 1000.0).exp(), (-1.0f64 / 200.0).exp());
    let c0 = (-5.0f64 / 20.0).exp();
    let n = 1900.0; // steps 100 … 1999
    let closed = c0 * mc.powi(85) * 0.5 * 0.001 * (1.0 - (mc * md).powf(n)) / (1.0 - mc * md);
    let w = run(p, &[10], &[15], &[(100, 0.5)], 2.0, 2000);
    assert!(
        (w - (2.0 + closed)).abs() < 1e-6,
        "{w} against {}",
        2.0 + closed
    );
    assert!(closed > 0.05, "the reward moved the weight by {closed}");
    // Post before pre: negative eligibility (A₋ = 1.5), the same reward depresses.
    let w = run(p, &[15], &[10], &[(100, 0.5)], 2.0, 2000);
    assert!((w - (2.0 - 1.5 * closed)).abs() < 1e-6, "{w}");
}

#[test]
fn the_lazy_update_equals_the_per_step_equations_across_epochs() {
    // τ_c = 5 ms at dt = 1 ms: an epoch is 60 steps, so 1 200 steps cross 20 of them; rewards of
    // both signs, pairs both ways, nearest-spike pairing (written out in `reference`).
    let p = RewardStdpParams {
        tau_c_ms: 5.0,
        tau_d_ms: 3.0,
        a_plus: 400.0,
        a_minus: 500.0,
        pairing: Pairing::Nearest,
        ..Default::default()
    };
    let pre = [100, 190, 300, 420, 421, 700, 1030];
    let post = [104, 185, 303, 430, 650, 702, 1000];
    let releases = [
        (105, 0.5),
        (188, 1.0),
        (306, -0.4),
        (433, 0.8),
        (704, 0.3),
        (1002, 0.6),
        (1031, 0.2),
    ];
    let ours = run(p, &pre, &post, &releases, 2.0, 1200);
    let expected = reference(&p, 1.0, &pre, &post, &releases, 2.0, 1200);
    assert!(
        (ours - 2.0).abs() > 0.03,
        "weights moved: {ours} (per step: {expected})"
    );
    assert!(
        (ours - expected).abs() < 1e-5,
        "lazy {ours} against per-step {expected}"
    );
}

#[test]
fn bad_reward_parameters_are_refused_by_name() {
    let err = RewardStdp::new(RewardStdpParams {
        tau_c_ms: 0.0,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("reward_stdp.tau_c_ms"), "{err}");
}
