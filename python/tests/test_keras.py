"""`from_keras`: a live Keras 3 model becomes the same network as its saved `.h5` file (one
reader for both), computes what Keras computes, and converts to the CLI's numbers."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")

import somnet
from conftest import same_evaluation


@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, activation="relu"),
        keras.layers.AveragePooling2D(2),
        keras.layers.Conv2D(12, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(10, activation="softmax"),
    ])
    images, labels = somnet.datasets.load("mnist", "train", limit=2000)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(images.transpose(0, 2, 3, 1), labels.astype(np.int64), epochs=2, batch_size=100, verbose=0)
    return model


def test_live_model_computes_what_keras_computes(lenet, mnist_test):
    images, _ = mnist_test
    model = somnet.from_keras(lenet)
    expected = np.asarray(lenet.predict(images.transpose(0, 2, 3, 1), verbose=0))
    np.testing.assert_allclose(model.predict(images), expected, atol=1e-5, rtol=1e-5)


def test_live_model_is_the_network_of_its_saved_file(lenet, tmp_path, mnist_test):
    images, _ = mnist_test
    lenet.save(tmp_path / "lenet.h5")
    np.testing.assert_array_equal(somnet.from_keras(lenet).predict(images),
                                  somnet.load(tmp_path / "lenet.h5").predict(images))


def test_live_model_converts_to_the_cli_numbers_of_its_saved_file(lenet, tmp_path, cli, mnist_test, calibration):
    images, labels = mnist_test
    lenet.save(tmp_path / "lenet.h5")
    python = somnet.convert(somnet.from_keras(lenet), calibration).evaluate(images, labels, steps=16)
    expected = cli("evaluate", "--model", tmp_path / "lenet.h5", "--dataset", "mnist", "--steps", 16,
                   "--limit", 200, "--calibration-limit", 600, "--json")
    same_evaluation(python, expected)


@pytest.mark.parametrize("name", ["mlp", "lenet", "bn", "branch", "resnet", "nested"])
def test_fixture_models_loaded_by_keras_match_keras_outputs(root, name):
    # Chains, and Functional graphs: two Dense layers added; a residual network with zero padding,
    # identity and downsample shortcuts, a concatenation and global pooling; a Sequential and a
    # Functional model used as layers (flattened into the graph).
    model = keras.models.load_model(root / f"tests/fixtures/keras3_{name}.h5", compile=False)
    with h5py.File(root / f"tests/fixtures/keras3_{name}.io.h5") as f:
        x, y = f["x"][()], f["y"][()]
    np.testing.assert_allclose(somnet.from_keras(model).predict(x), y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "lenet", "bn", "branch", "resnet", "nested", "qcfs"])
def test_keras_export_writes_files_that_compute_what_keras_computes(root, tmp_path, name):
    # converters/keras_export.py (standalone: Keras and h5py, no somnet) on chains and graphs:
    # residual Add, channel Concatenate, zero padding, global pooling, fan-out, nested models
    # flattened, QCFS layers. The file it writes, read by somnet, gives Keras' outputs.
    import sys

    sys.path.insert(0, str(root / "converters"))
    import keras_export

    model = keras.models.load_model(root / f"tests/fixtures/keras3_{name}.h5", compile=False,
                                    custom_objects={"QCFS": qcfs_class()})
    keras_export.export(model, tmp_path / "export.h5")
    with h5py.File(root / f"tests/fixtures/keras3_{name}.io.h5") as f:
        x, y = f["x"][()], f["y"][()]
    np.testing.assert_allclose(somnet.load(tmp_path / "export.h5").predict(x), y, atol=1e-5, rtol=1e-5)
    with h5py.File(tmp_path / "export.h5") as f:
        graph = any("inputs" in g.attrs for g in f["layers"].values())
    assert graph == (name in ("branch", "resnet", "nested")), "inputs are written for graphs only"


def test_keras_export_refuses_a_shared_layer_by_name(root, tmp_path):
    import sys

    sys.path.insert(0, str(root / "converters"))
    import keras_export

    inp = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(inp, shared(shared(inp)))
    with pytest.raises(ValueError, match="'shared' is called 2 times"):
        keras_export.export(model, tmp_path / "x.h5")


def test_fixture_keras_file_converted_from_python_gives_the_cli_numbers(root, cli, mnist_test, calibration):
    images, labels = mnist_test
    path = root / "tests/fixtures/keras3_mnist_cnn.h5"
    expected = cli("evaluate", "--model", "tests/fixtures/keras3_mnist_cnn.h5", "--dataset", "mnist", "--steps", 24,
                   "--limit", 200, "--calibration-limit", 600, "--json")
    from_file = somnet.convert(somnet.load(path), calibration).evaluate(images, labels, steps=24)
    same_evaluation(from_file, expected)
    live = keras.models.load_model(path, compile=False)
    from_live = somnet.convert(somnet.from_keras(live), calibration).evaluate(images, labels, steps=24)
    same_evaluation(from_live, expected)


def qcfs_class():
    """The QCFS layer the fixtures are made with (converters/make_fixtures.py): one definition."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "converters"))
    from make_fixtures import qcfs_layer

    return qcfs_layer(keras)


def test_live_qcfs_layers_become_qcfs_activations(tmp_path):
    keras.utils.set_random_seed(5)
    QCFS = qcfs_class()
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16), QCFS(4, name="q"),
                              keras.layers.Dense(3)])
    model.get_layer("q").lam.assign(1.7)
    x = np.random.default_rng(1).uniform(0, 1, (64, 12)).astype(np.float32)
    live = somnet.from_keras(model)
    np.testing.assert_allclose(live.predict(x), model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)
    model.save(tmp_path / "q.h5")
    np.testing.assert_array_equal(somnet.load(tmp_path / "q.h5").predict(x), live.predict(x))
