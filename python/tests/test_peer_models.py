"""benches/peers/conv_models.py, which rebuilds a somnet model file for the conversion peers (a
PyTorch module for SpikingJelly, a Keras model for SNN Toolbox): both compute what somnet's own
ANN computes for the file. A wrong kernel transpose, a Flatten left in somnet's C, H, W order in
front of channels-last Keras, or TensorFlow's 'same' padding placed on the wrong side would
change the outputs far beyond the tolerance."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
nn = torch.nn

import somnet
from conftest import randomise_batch_norm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches" / "peers"))
import conv_models  # noqa: E402


def bncnn_like():
    """Valid and strided 'same' convolutions, batch norm on maps and features, max and average
    pooling, a dense layer after a flatten, dropout and a softmax output: every kind the builders
    handle, with random batch-norm statistics so that none of it is the identity."""
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(16, 10), nn.Softmax(dim=1))
    return randomise_batch_norm(net, 5).eval()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("peers") / "bncnn.h5"
    somnet.from_torch(bncnn_like(), (1, 28, 28)).save(path)
    return path


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).random((8, 1, 28, 28), dtype=np.float32)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_torch_module_computes_what_somnet_computes(model_file, images):
    want = somnet.load(model_file).predict(images)
    with torch.no_grad():
        logits = conv_models.to_torch(model_file)(torch.from_numpy(images)).numpy()
    # The module leaves the final softmax out (the converters read logits); the rest is equal.
    np.testing.assert_allclose(softmax(logits), want, atol=1e-5)
    assert not any(isinstance(m, nn.ZeroPad2d) for m in conv_models.to_torch(model_file).modules())


def test_keras_model_computes_what_somnet_computes(model_file, images):
    want = somnet.load(model_file).predict(images)
    model = conv_models.to_keras(model_file, keras)
    got = keras.ops.convert_to_numpy(model.predict(images.transpose(0, 2, 3, 1), verbose=0))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_what_cannot_be_built_is_refused_by_name(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "converters"))
    import somnet_h5
    path = tmp_path / "same_pool.h5"
    somnet_h5.write(path, [1, 6, 6], [
        {"name": "pool", "kind": "avgpool2d", "size": [2, 2], "stride": [2, 2], "padding": "same"},
        {"name": "flat", "kind": "flatten"},
        {"name": "fc", "kind": "dense", "weights": np.ones((10, 9), np.float32)},
    ], "test")
    with pytest.raises(SystemExit, match="layer 'pool': only 'valid' pooling"):
        conv_models.to_torch(path)
    bad = tmp_path / "bad.h5"
    import h5py
    with h5py.File(bad, "w") as f:
        f.attrs["format"] = "other"
    with pytest.raises(SystemExit, match="not a somnet model file"):
        conv_models.read(bad)
