"""somnet.simulate_nir: NIR graphs from the NIR paper and from other frameworks, run from Python
with the same numbers as the CLI and as the exporting frameworks."""

import json

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
