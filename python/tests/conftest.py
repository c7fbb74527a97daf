"""Shared fixtures: the repository, the somnet CLI built by `cargo build --release` (the test
command builds it before pytest runs), and small MNIST subsets."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import somnet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    """Runs the somnet CLI with `args` and returns its JSON output (the last stdout line)."""
    binary = Path(os.environ.get("SOMNET_BIN", ROOT / "target" / "release" / "somnet"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --release` first (or set SOMNET_BIN)")

    def run(*args):
        out = subprocess.run([str(binary), *map(str, args)], check=True, capture_output=True, text=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def mnist_test():
    return somnet.datasets.load("mnist", "test", limit=200)


@pytest.fixture(scope="session")
def calibration():
    """What the CLI calibrates on with --calibration-limit 600: every 10th training image."""
    train, _ = somnet.datasets.load("mnist", "train", limit=6000)
    return train[::10]


def same_evaluation(python, cli_json):
    """Every figure of two evaluations is equal (timings, names and the model path aside)."""
    a, b = python.to_dict(), dict(cli_json)
    for key in ("images_per_second", "model", "dataset"):
        a.pop(key, None)
        b.pop(key, None)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], f"field '{key}': Python {a[key]!r} != CLI {b[key]!r}"


def randomise_batch_norm(net, seed):
    """Random running statistics and affine parameters for every torch batch norm in `net`, so
    that none of them is the identity a fresh module would be."""
    import torch
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return net
