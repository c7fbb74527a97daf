"""The simulation API: hand-computable networks, analytic traces, and CUBA written in Python
giving the spike digest of `somnet bench cuba`."""

import math

import numpy as np
import pytest

import somnet


def cuba(n, seed, threads=0):
    """CUBA (Brette et al. 2007, benchmark 2) exactly as the library's benchmark builds it."""
    net = somnet.Network(dt_ms=0.1, seed=seed, max_delay_ms=1.0, threads=threads)
    lif = somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-49.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=5.0)
    pop = net.add_population("cuba", n, lif, ports=[somnet.Exponential(5.0), somnet.Exponential(10.0)])
    net.set_v_uniform(pop, -60.0, -50.0)
    n_exc, p = n * 4 // 5, min(80.0 / n, 1.0)
    net.connect(pop[:n_exc], pop, p=p, weight=1.62, delay_steps=1, port=0, name="exc")
    net.connect(pop[n_exc:], pop, p=p, weight=-9.0, delay_steps=1, port=1, name="inh")
    return net, pop


def coba(n, seed, scheme=None):
    """COBA (Brette et al. 2007, benchmark 1) exactly as the library's benchmark builds it."""
    net = somnet.Network(dt_ms=0.1, seed=seed, max_delay_ms=1.0)
    lif = somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-60.0, v_th_mv=-50.0, v_reset_mv=-60.0, t_ref_ms=5.0)
    ports = [somnet.Conductance(5.0, 0.0), somnet.Conductance(10.0, -80.0)]
    pop = net.add_population("coba", n, lif, ports=ports)
    if scheme is not None:
        net.set_conductance_scheme(pop, scheme)
    net.set_v_uniform(pop, -60.0, -50.0)
    # Conductances in units of the 10 nS leak: (4 + 1.5 N(0,1))·10 nS and (20 + 12 N(0,1))·10 nS.
    net.set_state_normal(pop, "syn0", 4.0, 1.5)
    net.set_state_normal(pop, "syn1", 20.0, 12.0)
    n_exc, p = n * 4 // 5, min(80.0 / n, 1.0)
    net.connect(pop[:n_exc], pop, p=p, weight=0.6, delay_steps=1, port=0, name="exc")
    net.connect(pop[n_exc:], pop, p=p, weight=6.7, delay_steps=1, port=1, name="inh")
    return net, pop


def test_coba_from_python_has_the_spike_digest_of_the_cli(cli):
    net, pop = coba(2000, 4)
    net.run(100.0)
    expected = cli("bench", "coba", "--n", 2000, "--t-ms", 100, "--seed", 4)
    assert net.spike_digest() == expected["spike_digest"]
    assert net.n_spikes == expected["spikes"] > 0
    # By forward Euler it is `somnet bench coba-euler`, and it fires otherwise than above.
    euler, _ = coba(2000, 4, "forward-euler")
    euler.run(100.0)
    expected = cli("bench", "coba-euler", "--n", 2000, "--t-ms", 100, "--seed", 4)
    assert euler.spike_digest() == expected["spike_digest"] != net.spike_digest()
    with pytest.raises(ValueError, match="backward-euler"):
        coba(10, 1, "backward-euler")
    # A conductance cannot be negative: the weight is refused, naming the port.
    with pytest.raises(somnet.SomnetError, match="conductance"):
        net2, pop2 = coba(100, 1)
        net2.connect(pop2, pop2, p=0.1, weight=-1.0, delay_steps=1, port=0)


@pytest.mark.parametrize("n, seed", [(4000, 3), (1000, 1)])
def test_cuba_from_python_has_the_spike_digest_of_the_cli(cli, n, seed):
    net, _ = cuba(n, seed)
    net.run(200.0)
    expected = cli("bench", "cuba", "--n", n, "--t-ms", 200, "--seed", seed)
    assert net.spike_digest() == expected["spike_digest"]
    assert net.n_spikes == expected["spikes"] and net.n_synapses == expected["synapses"]


def test_cuba_rate_monitor_and_thread_count(cli):
    one, pop = cuba(2000, 5)
    rate = one.monitor_rate(pop)
    one.run(300.0)
    times, rates = rate.rates()
    assert times.shape == rates.shape == (3000,)
    assert rate.mean_rate_hz() == pytest.approx(one.n_spikes / (2000 * 0.3))
    assert 3.0 < rate.mean_rate_hz() < 9.0  # Brette et al. 2007: about 5.6–5.7 Hz at 4 000 neurons
    single, _ = cuba(2000, 5, threads=1)
    single.run(300.0)
    assert single.spike_digest() == one.spike_digest()


def test_spike_source_through_a_delayed_synapse_fires_the_target_one_step_later():
    net = somnet.Network(dt_ms=0.1, seed=0)
    source = net.add_spike_source("source", [[1.0, 2.5], [4.0]])
    target = net.add_population("target", 2, somnet.IF(v_th_mv=1.0))
    # One-to-one with weight = threshold: each input spike fires its target when it arrives.
    net.connect(source, target, pairs=np.array([[0, 0], [1, 1]]), weight=1.0, delay_ms=0.3)
    spikes = net.monitor_spikes(target)
    net.run(6.0)
    times, ids = spikes.spikes()
    np.testing.assert_allclose(times, [1.3, 2.8, 4.3], atol=1e-9)
    assert ids.tolist() == [0, 0, 1] and ids.dtype == np.uint32


def test_lif_trace_follows_the_closed_form_until_the_first_spike():
    # τ dv/dt = v_rest − v + I with I constant: v(t) = v_rest + I·(1 − e^(−t/τ)).
    tau, rest, theta, current = 10.0, -70.0, -55.0, 20.0
    net = somnet.Network(dt_ms=0.1, seed=0)
    pop = net.add_population("lif", 1, somnet.LIF(tau_mem_ms=tau, v_rest_mv=rest, v_th_mv=theta,
                                                   v_reset_mv=-70.0, t_ref_ms=2.0))
    net.set_current(pop, current)
    v = net.monitor_state(pop, "v", [0])
    spikes = net.monitor_spikes(pop)
    net.run(30.0)
    times, values = v.traces()
    assert values.shape == (300, 1) and values.dtype == np.float32
    # A spike is reported at the start of the step in which v crossed θ; a trace value at the
    # end of its step.
    first = spikes.spikes()[0][0]
    t_cross = -tau * math.log(1 - (theta - rest) / current)  # 13.86 ms
    assert t_cross <= first + 0.1 < t_cross + 0.1 + 1e-9
    np.testing.assert_allclose(times[:3], [0.1, 0.2, 0.3])
    before = times <= first + 1e-9
    analytic = rest + current * (1 - np.exp(-times[before] / tau))
    np.testing.assert_allclose(values[before, 0], analytic, atol=1e-3)


def test_reset_repeats_the_run_exactly():
    net = somnet.Network(dt_ms=0.1, seed=9)
    inputs = net.add_poisson("inputs", 200, 30.0)
    pop = net.add_population("lif", 50, somnet.LIF(), ports=[somnet.Exponential(5.0)])
    net.connect(inputs, pop, p=0.3, weight=somnet.Uniform(1.0, 3.0), delay_ms=somnet.Uniform(0.5, 2.0))
    spikes = net.monitor_spikes(pop)
    net.run(200.0)
    first, digest = spikes.spikes(), net.spike_digest()
    assert len(first[0]) > 0
    net.reset()
    assert net.current_step == 0 and len(spikes.spikes()[0]) == 0
    net.run(200.0)
    assert net.spike_digest() == digest
    np.testing.assert_array_equal(spikes.spikes()[1], first[1])


def test_izhikevich_regular_spiking_with_per_neuron_parameters():
    net = somnet.Network(dt_ms=1.0, seed=0)
    # Regular spiking and fast spiking (Izhikevich 2003, Fig. 2) under the same current.
    pop = net.add_population("izh", 2, somnet.Izhikevich(a=[0.02, 0.1], b=0.2, c=-65.0, d=[8.0, 2.0]))
    net.set_current(pop, 10.0)
    spikes = net.monitor_spikes(pop)
    net.run(1000.0)
    _, ids = spikes.spikes()
    rs, fs = np.sum(ids == 0), np.sum(ids == 1)
    assert 0 < rs < fs  # fast spiking fires more often than regular spiking at the same drive


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net, pop: net.connect(pop, pop, p=0.1, in_degree=3), "at most one connector"),
        (lambda net, pop: net.connect(pop, pop, p=1.5), "p"),
        (lambda net, pop: net.connect(pop, "pop"), "post: expected a Population"),
        (lambda net, pop: net.connect(pop, pop, delay_ms=0.05), "0.05"),
        (lambda net, pop: net.monitor_state(pop, "w", [0]), "var = 'w'"),
        (lambda net, pop: net.add_population("x", 3, "lif"), "model: expected somnet.LIF"),
        (lambda net, pop: net.add_population("x", 3, somnet.LIF(v_reset_mv=-40.0)), "v_reset_mv"),
        (lambda net, pop: net.connect(pop, pop, pairs=np.array([[0, 99]])), "99"),
    ],
)
def test_bad_network_arguments_raise_somnet_errors(call, message):
    net = somnet.Network(dt_ms=0.1, seed=0)
    pop = net.add_population("pop", 10, somnet.LIF())
    with pytest.raises(somnet.SomnetError) as e:
        call(net, pop)
    assert message in str(e.value)


def _conv_network(kernel, use_conv):
    """A Poisson image (2 × 5 × 5) through a 3×3 'same' convolution with stride 1 into IF neurons,
    as a weight-shared convolution or as the explicit synapse list built here by hand."""
    c_out, c_in, kh, kw = kernel.shape
    h = w = 5
    net = somnet.Network(dt_ms=1.0, seed=11)
    image = net.add_poisson("image", c_in * h * w, 150.0)
    out = net.add_population("conv", c_out * h * w, somnet.IF(v_th_mv=1.0))
    if use_conv:
        net.connect_conv(image, out, kernel, (c_in, h, w), padding=(1, 1))
    else:
        pairs, weights = [], []
        for o in range(c_out):
            for y in range(h):
                for x in range(w):
                    for c in range(c_in):
                        for ky in range(kh):
                            for kx in range(kw):
                                iy, ix = y - 1 + ky, x - 1 + kx
                                if 0 <= iy < h and 0 <= ix < w:
                                    pairs.append((c * h * w + iy * w + ix, o * h * w + y * w + x))
                                    weights.append(kernel[o, c, ky, kx])
        order = np.argsort([p[0] for p in pairs], kind="stable")  # the engine delivers in pre order
        net.connect(image, out, pairs=np.array(pairs)[order], weight=np.array(weights, np.float32)[order])
    spikes = net.monitor_spikes(out)
    net.run(200.0)
    return spikes.spikes(), net.n_events


def test_weight_shared_convolution_equals_its_explicit_synapse_list():
    rng = np.random.default_rng(5)
    # Multiples of 1/8: every sum is exact, so any difference would be a wrong synapse.
    kernel = (rng.integers(-4, 7, size=(3, 2, 3, 3)) / 8).astype(np.float32)
    (t_conv, id_conv), events_conv = _conv_network(kernel, True)
    (t_list, id_list), events_list = _conv_network(kernel, False)
    assert len(t_conv) > 50
    np.testing.assert_array_equal(t_conv, t_list)
    np.testing.assert_array_equal(id_conv, id_list)
    assert events_conv == events_list
    net = somnet.Network(dt_ms=1.0, seed=0)
    a = net.add_poisson("a", 8, 10.0)
    b = net.add_population("b", 8, somnet.IF())
    with pytest.raises(somnet.SomnetError, match="kernel: 3 input channels"):
        net.connect_conv(a, b, np.zeros((1, 3, 2, 2), np.float32), (2, 2, 2))


def test_cuba_built_in_python_goes_out_as_the_sonata_circuit_of_the_cli(root, tmp_path):
    import subprocess

    import h5py

    net, _ = cuba(1000, 2)
    out = net.to_sonata(tmp_path / "py", tstop_ms=200.0)
    assert out["populations"] == [("cuba", "iaf_psc_exp", 1000)]
    assert out["edges"] == net.n_synapses and out["node_types"] == 1
    assert any("later" in w for w in out["warnings"])
    binary = root / "target" / "release" / "somnet"
    subprocess.run([str(binary), "export-sonata", "--network", "cuba:1000", "--seed", "2", "--tstop", "200",
                    str(tmp_path / "cli")], check=True, capture_output=True)
    for k, pop in [(0, "cuba_to_cuba_0"), (1, "cuba_to_cuba_1")]:
        with h5py.File(tmp_path / "py" / f"network/edges_{k}.h5") as a, \
                h5py.File(tmp_path / "cli" / f"network/edges_{k}.h5") as b:
            for field in ["source_node_id", "target_node_id", "0/syn_weight", "0/delay"]:
                np.testing.assert_array_equal(a[f"edges/{pop}/{field}"][()], b[f"edges/{pop}/{field}"][()])
            # mV jumps as NEST currents: × C_m/τ_m = 250/20.
            assert np.allclose(a[f"edges/{pop}/0/syn_weight"][()], [1.62 * 12.5, -9.0 * 12.5][k])
    for name in ["simulation_config.json", "network/node_types.csv", "components/cell_models/type_100.json"]:
        assert (tmp_path / "py" / name).read_text() == (tmp_path / "cli" / name).read_text()


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_a_recorded_run_reads_back_as_the_in_memory_monitors(tmp_path, suffix):
    """`run(record=)` streams the monitors to NIR's data layout (read by `nir.read_data`) or to
    `.npz` (read by NumPy) in chunks; the file holds what the monitors hold after the same run."""
    def build():
        net = somnet.Network(dt_ms=0.5, seed=3)
        src = net.add_poisson("input", 40, rate_hz=50.0)
        lif = net.add_population("lif", 10, somnet.LIF(), ports=[somnet.Exponential(5.0)])
        net.connect(src, lif, p=0.5, weight=4.0, delay_steps=1)
        return net, net.monitor_spikes(lif), net.monitor_state(lif, "v", [0, 4, 9], every=2)

    net, spikes, v = build()
    net.run(1234.5)
    times_ms, ids = spikes.spikes()
    _, traces = v.traces()
    assert len(ids) > 50

    net, _, _ = build()
    path = tmp_path / f"run{suffix}"
    net.run(1234.5, record=str(path))
    if suffix == ".h5":
        import nir

        data = nir.read_data(str(path))
        ev = data.nodes["lif"].observables["spikes"]
        np.testing.assert_array_equal(ev.idx[0], ids)
        np.testing.assert_allclose(ev.time[0] * 1e3, times_ms, rtol=1e-12)
        assert ev.n_neurons == 10 and ev.t_max == pytest.approx(1.2345)
        grid = data.nodes["lif"].observables["v"]
        np.testing.assert_array_equal(grid.data[0], traces)
        assert grid.dt == pytest.approx(1e-3)
    else:
        z = np.load(path)
        np.testing.assert_array_equal(z["lif/spikes/idx"], ids)
        np.testing.assert_allclose(z["lif/spikes/time"] * 1e3, times_ms, rtol=1e-12)
        np.testing.assert_array_equal(z["lif/v/data"], traces)
        np.testing.assert_array_equal(z["lif/v/neurons"], [0, 4, 9])
