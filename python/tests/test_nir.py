"""somnet.simulate_nir: NIR graphs from the NIR paper and from other frameworks, run from Python
with the same numbers as the CLI and as the exporting frameworks."""

import json

import nir
import numpy as np
import pytest

import somnet


def test_the_published_lif_fires_in_the_steps_of_its_exact_solution(root):
    exact = np.loadtxt(root / "tests/nir/lif_exact.csv", delimiter=",")
    x = exact[:, :1].astype(np.float32)  # (T, 1): one sample
    y, record = somnet.simulate_nir(root / "tests/nir/lif_norse.nir", x, reset="subtract")
    assert y.shape == (1, len(exact), 1)
    assert list(np.nonzero(y[0, :, 0])[0]) == list(np.nonzero(exact[:, 2])[0])
    assert record.options["reset"] == "subtract" and record.options["from"] == "nir"
    assert record.populations[0]["spikes"] == 4


def test_a_sinabs_export_gives_sinabs_own_spikes_and_the_files_of_the_cli(root, tmp_path):
    d = root / "tests/nir/frameworks"
    x = np.load(d / "sinabs_cnn_input.npy")
    want = np.load(d / "sinabs_cnn_output.npy")
    y, record = somnet.simulate_nir(d / "sinabs_cnn.nir", x, from_="sinabs", threads=2, out=tmp_path,
                                    record=True)
    np.testing.assert_array_equal(y, want)
    assert record.samples == x.shape[0]
    np.testing.assert_array_equal(np.load(tmp_path / "output.npy"), want)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["populations"] == record.to_dict()["populations"]
    assert (tmp_path / "recording.h5").exists()


def test_bad_options_and_inputs_are_named(root):
    lif = root / "tests/nir/lif_norse.nir"
    x = np.zeros((5, 1), np.float32)
    with pytest.raises(somnet.SomnetError, match="reset.*zero or subtract"):
        somnet.simulate_nir(lif, x, reset="soft")
    with pytest.raises(somnet.SomnetError, match="from.*sinabs"):
        somnet.simulate_nir(lif, x, from_="brian")
    with pytest.raises(somnet.SomnetError, match=r"\(T, \[1\]\)"):
        somnet.simulate_nir(lif, np.zeros((5, 3), np.float32))
    with pytest.raises(somnet.SomnetFileError, match="nowhere.nir"):
        somnet.simulate_nir(root / "nowhere.nir", x)


def test_a_converted_network_goes_out_as_nir_that_nir_reads_and_comes_back_with_its_accuracy(root, tmp_path,
                                                                                             mnist_test):
    import torch

    images, labels = mnist_test
    images, labels = np.asarray(images[:40], np.float32).reshape(-1, 1, 28, 28), np.asarray(labels[:40])
    snn = somnet.load(root / "tests/golden/lenet.snn.h5")
    with pytest.warns(UserWarning, match="subtraction"):
        notes = snn.to_nir(tmp_path / "lenet.nir")
    assert any("subtraction" in n for n in notes)

    # The nir package reads it with its type check on, every layer in its own primitive.
    g = nir.read(tmp_path / "lenet.nir")
    kinds = sorted(type(n).__name__ for n in g.nodes.values())
    assert kinds == sorted(["Input", "Conv2d", "IF", "SumPool2d", "IF", "Conv2d", "IF", "SumPool2d", "IF",
                            "Flatten", "Affine", "IF", "Affine", "IF", "Output"])
    assert g.metadata["reset"] in (b"subtract", "subtract")
    after_pool = {b for a, b in g.edges if isinstance(g.nodes[a], nir.SumPool2d)}
    for name, node in g.nodes.items():
        if isinstance(node, nir.IF):
            # 2×2 sum pooling into threshold 4 is average pooling into threshold 1.
            theta = 4.0 if name in after_pool else 1.0
            assert np.all(node.v_threshold == theta) and np.all(node.r == 1.0) and np.all(node.v_reset == 0.0)

    # Its parameters are the converted network's: the ANN they describe (torch's operators, ReLU
    # at every IF layer but the output) computes what somnet's normalised network computes.
    h, name = torch.from_numpy(images), "input"
    while True:
        name = next(b for a, b in g.edges if a == name)
        node = g.nodes[name]
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.Conv2d):
            h = torch.nn.functional.conv2d(h, torch.from_numpy(node.weight), torch.from_numpy(node.bias),
                                           stride=tuple(node.stride), padding=tuple(node.padding))
        elif isinstance(node, nir.SumPool2d):
            # The threshold k² after it makes it an average pooling.
            k = tuple(node.kernel_size)
            h = torch.nn.functional.avg_pool2d(h, k, tuple(node.stride)) * (k[0] * k[1])
        elif isinstance(node, nir.IF) and not np.all(node.v_threshold == 1.0):
            h = torch.relu(h / torch.from_numpy(node.v_threshold.astype(np.float32)))
        elif isinstance(node, nir.Flatten):
            h = h.flatten(1)
        elif isinstance(node, nir.Affine):
            h = h @ torch.from_numpy(node.weight).T + torch.from_numpy(node.bias)
        elif isinstance(node, nir.IF) and not any(a == name and b == "output" for a, b in g.edges):
            h = torch.relu(h)
    np.testing.assert_allclose(torch.softmax(h, 1).numpy(), snn.normalised.predict(images), rtol=1e-4, atol=1e-5)

    # Simulated again from the file (its metadata names somnet's settings), it decides as the
    # converted network does after every step.
    steps = 12
    x = np.repeat(images[:, None], steps, axis=1)  # (B, T, 1, 28, 28)
    y, record = somnet.simulate_nir(tmp_path / "lenet.nir", x)
    assert record.options["from"] == "somnet" and record.options["reset"] == "subtract"
    counts = np.cumsum(y, axis=1)  # (B, T, 10)
    correct = (counts.max(axis=2) > 0) & (counts.argmax(axis=2) == labels[:, None])
    expected = snn.evaluate(images, labels, steps=steps)
    assert expected.snn_accuracy_per_step[-1] > 0.5
    np.testing.assert_array_equal(correct.mean(axis=0), expected.snn_accuracy_per_step)


def test_a_network_built_in_python_goes_out_as_nir_and_comes_back_with_its_spikes(tmp_path):
    net = somnet.Network(dt_ms=0.1, seed=4, max_delay_ms=2.0)
    src = net.add_poisson("in", 16, 300.0)
    a = net.add_population("a", 20, somnet.LIF(tau_mem_ms=10.0, v_rest_mv=-65.0, v_reset_mv=-62.0, t_ref_ms=0.0))
    b = net.add_population("b", 8, somnet.LIF(tau_mem_ms=20.0, v_rest_mv=-65.0, v_reset_mv=-62.0, t_ref_ms=0.0),
                           ports=[somnet.Exponential(5.0)])
    net.connect(src, a, p=0.4, weight=somnet.Uniform(1.0, 4.0), delay_steps=0)
    net.connect(a, b, p=0.5, weight=somnet.Uniform(5.0, 15.0), delay_steps=5)
    net.connect(b, a, p=1.0, weight=-2.0, delay_steps=3)
    notes = net.to_nir(tmp_path / "net.nir", output=b)
    assert any("source 'in'" in n for n in notes)
    g = nir.read(tmp_path / "net.nir")  # type check on
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Input", "LIF", "CubaLIF", "Linear", "Delay", "Output"}

    steps = 3000
    s_in, s_out = net.monitor_spikes(src), net.monitor_spikes(b)
    net.run(steps * 0.1)

    def raster(monitor, n):
        times, ids = monitor.spikes()
        r = np.zeros((steps, n), np.float32)
        r[np.round(times / 0.1).astype(int), ids] = 1.0
        return r

    want = raster(s_out, 8)
    assert want.sum() > 20
    y, record = somnet.simulate_nir(tmp_path / "net.nir", raster(s_in, 16))
    assert record.options["from"] == "somnet" and record.options["dt"] == pytest.approx(1e-4)
    np.testing.assert_array_equal(y[0], want)
