"""Conversion and evaluation from Python give the CLI's numbers exactly."""

import numpy as np
import pytest

import somnet
from conftest import same_evaluation


def test_converting_a_trained_file_matches_the_cli(root, cli, mnist_test, calibration):
    images, labels = mnist_test
    model = somnet.load(root / "tests/golden/mlp.h5")
    snn = somnet.convert(model, calibration, percentile=99.9)
    python = snn.evaluate(images, labels, steps=24)
    expected = cli("evaluate", "--model", "tests/golden/mlp.h5", "--dataset", "mnist", "--steps", 24,
                   "--limit", 200, "--calibration-limit", 600, "--json")
    same_evaluation(python, expected)
    assert isinstance(python.snn_accuracy_per_step, np.ndarray) and python.snn_accuracy_per_step.shape == (24,)
    assert python.images == 200 and not python.interrupted


def test_knobs_reach_the_simulation_as_cli_flags_do(root, cli, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration, norm="channel")
    python = snn.evaluate(images, labels, steps=16, input="poisson", reset="zero", early_exit=4, seed=3, dale=False)
    expected = cli("evaluate", "--model", "tests/golden/mlp.h5", "--dataset", "mnist", "--steps", 16,
                   "--limit", 200, "--calibration-limit", 600, "--norm", "channel", "--input", "poisson",
                   "--reset", "zero", "--early-exit", 4, "--seed", 3, "--json")
    same_evaluation(python, expected)


def test_offset_spike_pre_run_reaches_the_simulation_as_the_cli_flag_does(root, cli, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration, percentile=99.9)
    python = snn.evaluate(images, labels, steps=8, initial="half", offset_presteps=3)
    expected = cli("evaluate", "--model", "tests/golden/mlp.h5", "--dataset", "mnist", "--steps", 8,
                   "--limit", 200, "--calibration-limit", 600, "--initial", "half", "--offset-presteps", 3,
                   "--json")
    same_evaluation(python, expected)
    # The pre-run's 3 steps come first, undecided, then the 8 of the run.
    assert python.snn_accuracy_per_step.shape == (11,)
    assert (python.snn_accuracy_per_step[:3] == 0).all() and python.snn_accuracy_per_step[-1] > 0.8


def test_time_to_first_spike_knobs_reach_the_simulation_as_cli_flags_do(root, cli, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration, percentile=100)
    python = snn.evaluate(images, labels, steps=30, coding="ttfs", ttfs_steps=10, ttfs_clock="steps",
                          input="latency")
    expected = cli("evaluate", "--model", "tests/golden/mlp.h5", "--dataset", "mnist", "--steps", 30,
                   "--limit", 200, "--calibration-limit", 600, "--percentile", 100, "--coding", "ttfs",
                   "--ttfs-steps", 10, "--ttfs-clock", "steps", "--input", "latency", "--json")
    same_evaluation(python, expected)
    # One spike per neuron at most, and the decisions all made by the end of the output window.
    assert all(layer.spikes_per_image <= layer.neurons for layer in python.layers)
    assert python.snn_accuracy_per_step[-1] > 0.8


def test_a_converted_file_loads_as_converted_and_matches_the_cli(root, cli, mnist_test):
    images, labels = mnist_test
    snn = somnet.load(root / "tests/golden/lenet.snn.h5")
    assert isinstance(snn, somnet.Converted)
    assert snn.record.calibration_images == 600
    python = snn.evaluate(images[:50], labels[:50], steps=12)
    expected = cli("evaluate", "--model", "tests/golden/lenet.snn.h5", "--dataset", "mnist", "--steps", 12,
                   "--limit", 50, "--json")
    same_evaluation(python, expected)


def test_saved_conversion_reads_back_to_the_same_evaluation(root, tmp_path, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration)
    snn.save(tmp_path / "snn.h5")
    again = somnet.load(tmp_path / "snn.h5")
    a = snn.evaluate(images, labels, steps=8).to_dict()
    b = again.evaluate(images, labels, steps=8).to_dict()
    for r in (a, b):
        r.pop("images_per_second"), r.pop("model")
    assert a == b


def test_thread_count_does_not_change_the_numbers(root, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration)
    one = snn.evaluate(images, labels, steps=8, input="poisson", threads=1).to_dict()
    two = snn.evaluate(images, labels, steps=8, input="poisson", threads=2).to_dict()
    one.pop("images_per_second"), two.pop("images_per_second")
    assert one == two


def test_progress_callback_sees_every_image(root, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration)
    seen = []
    snn.evaluate(images, labels, steps=4, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (200, 200)
    assert all(b >= a for (a, _), (b, _) in zip(seen, seen[1:]))
