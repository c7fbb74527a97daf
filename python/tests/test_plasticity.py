"""Plasticity rules from Python: the pair window worked by hand, reward gating, and refusals."""

import math

import numpy as np
import pytest

import somnet


def pair_network(rule, pre_ms, post_ms, delay_steps, w0):
    """One synapse whose pre and post neurons fire exactly at the given times (dt 1 ms): the post
    neuron is an IF relay that only its own source can make fire."""
    net = somnet.Network(dt_ms=1.0)
    pre = net.add_spike_source("pre", [pre_ms])
    post = net.add_spike_source("post", [post_ms])
    relay = net.add_population("relay", 1, somnet.IF(v_th_mv=1e9, reset="to_value", v_reset_mv=0.0))
    pairs = np.array([[0, 0]])
    net.connect(post, relay, pairs=pairs, weight=2e9, delay_steps=0)
    proj = net.connect(pre, relay, pairs=pairs, weight=w0, delay_steps=delay_steps)
    net.set_plasticity(proj, rule)
    return net, proj


@pytest.mark.parametrize("delays, expected_dt", [("dendritic", 12 + 3 - 10), ("axonal", 12 - 10 - 3)])
def test_stdp_pair_follows_its_window_with_the_delay_where_documented(delays, expected_dt):
    rule = somnet.STDP(mu_plus=0.0, mu_minus=0.0, lambda_=0.01, w_max=100.0, delays=delays)
    net, proj = pair_network(rule, [10.0], [12.0], 3, 50.0)
    net.run(40.0)
    _, _, w, d = net.synapses(proj)
    assert d[0] == 3
    e = math.exp(-abs(expected_dt) / 20.0)
    expected = 50.0 + e if expected_dt > 0 else 50.0 - e
    assert w[0] == pytest.approx(expected, abs=1e-5)


def test_reward_stdp_changes_weights_only_after_dopamine():
    for reward in [0.0, 0.5]:
        rule = somnet.RewardSTDP()
        net, proj = pair_network(rule, [10.0], [15.0], 0, 2.0)
        net.run(100.0)
        if reward:
            rule.release(reward)
        net.run(1900.0)
        w = net.synapses(proj)[2][0]
        if reward:
            mc, md = math.exp(-1 / 1000), math.exp(-1 / 200)
            c0 = math.exp(-5 / 20)
            closed = c0 * mc**85 * 0.5 * 0.001 * (1 - (mc * md) ** 1900) / (1 - mc * md)
            assert w == pytest.approx(2.0 + closed, abs=1e-6)
        else:
            assert w == 2.0
    # One rule object per projection: its dopamine reaches the rule it became.
    with pytest.raises(somnet.SomnetError, match="attached to a projection already"):
        net.set_plasticity(proj, rule)


def test_rules_refuse_bad_arguments_by_name():
    with pytest.raises(somnet.SomnetError, match="stdp.tau_plus_ms"):
        somnet.STDP(tau_plus_ms=-1.0)
    with pytest.raises(somnet.SomnetError, match="pairing"):
        somnet.STDP(pairing="closest")
    with pytest.raises(somnet.SomnetError, match="triplet.a3_plus"):
        somnet.TripletSTDP(a3_plus=float("nan"))
    net = somnet.Network(dt_ms=1.0)
    pre = net.add_spike_source("pre", [[10.0]])
    post = net.add_population("post", 1, somnet.IF())
    proj = net.connect(pre, post, pairs=np.array([[0, 0]]), weight=500.0, name="ff")
    with pytest.raises(somnet.SomnetError, match="projection ff: synapse 0 weight"):
        net.set_plasticity(proj, somnet.STDP(w_max=100.0))
    with pytest.raises(somnet.SomnetError, match="projection 7"):
        net.set_plasticity(7, somnet.STDP())
