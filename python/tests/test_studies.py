"""Sweeps and sleep from Python: the CLI's numbers exactly, grid points split over Dask, the one
text form of the sleep settings."""

import json

import numpy as np
import pytest

import somnet

GRID = {"input": ["analog", "poisson"], "reset": ["subtract", "zero"]}
GRID_TEXT = "input=analog,poisson;reset=subtract,zero"


def _rows(rows):
    out = []
    for r in rows:
        r = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        r.pop("images_per_second")
        out.append(r)
    return out


def test_sweep_matches_the_cli_sweep(root, cli, tmp_path, mnist_test, calibration):
    images, labels = mnist_test
    model = somnet.load(root / "tests/golden/mlp.h5")
    python = somnet.sweep(model, calibration, images, labels, 12, GRID, seed=2, out=tmp_path / "py")
    subprocess_out = tmp_path / "cli"
    import subprocess
    import os
    binary = os.environ.get("SOMNET_BIN", str(root / "target/release/somnet"))
    subprocess.run([binary, "sweep", "--model", "tests/golden/mlp.h5", "--dataset", "mnist", "--grid", GRID_TEXT,
                    "--steps", "12", "--limit", "200", "--calibration-limit", "600", "--seed", "2",
                    "--out", str(subprocess_out)], check=True, capture_output=True, cwd=root)
    expected = json.loads((subprocess_out / "sweep.json").read_text())
    assert [r.settings for r in python.rows] == [r["settings"] for r in expected["rows"]]
    assert _rows(python.rows) == _rows(expected["rows"])
    assert python.ann_accuracy == expected["ann_accuracy"]
    assert len(python.pareto_front()) == 4 and any(python.pareto_front())
    assert (tmp_path / "py" / "pareto.png").exists() and (tmp_path / "py" / "sweep.csv").exists()


def test_a_resumed_sweep_equals_the_uninterrupted_one(root, tmp_path, mnist_test, calibration):
    images, labels = mnist_test
    model = somnet.load(root / "tests/golden/mlp.h5")
    whole = somnet.sweep(model, calibration, images, labels, 12, GRID, seed=3, out=tmp_path / "whole")
    # A run killed after its first grid point leaves this record behind.
    record = json.loads((tmp_path / "whole" / "sweep.json").read_text())
    assert record["points"] == 4 and len(record["rows"]) == 4
    record["rows"] = record["rows"][:1]
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "sweep.json").write_text(json.dumps(record))
    resumed = somnet.sweep(model, calibration, images, labels, 12, GRID, seed=3, out=tmp_path / "part", resume=True)
    assert _rows(resumed.rows) == _rows(whole.rows)
    assert resumed.rows[0].images_per_second == record["rows"][0]["images_per_second"], "the kept row is reused"
    with pytest.raises(somnet.SomnetError, match="sweep.json.*'seed'"):
        somnet.sweep(model, calibration, images, labels, 12, GRID, seed=4, out=tmp_path / "part", resume=True)
    with pytest.raises(somnet.SomnetError, match="resume=True needs out"):
        somnet.sweep(model, calibration, images, labels, 12, GRID, resume=True)


def test_sweep_grid_as_text_or_dict_and_bad_grids(root, mnist_test, calibration):
    images, labels = mnist_test
    model = somnet.load(root / "tests/golden/mlp.h5")
    a = somnet.sweep(model, calibration, images[:50], labels[:50], 4, {"early_exit": [None, 2]})
    b = somnet.sweep(model, calibration, images[:50], labels[:50], 4, "early-exit=none,2")
    assert _rows(a.rows) == _rows(b.rows)
    with pytest.raises(somnet.SomnetError, match="grid"):
        somnet.sweep(model, calibration, images, labels, 4, {"reset": ["sideways"]})


def test_dask_sweep_equals_the_single_process_sweep(root, mnist_test, calibration):
    distributed = pytest.importorskip("dask.distributed")
    images, labels = mnist_test
    model = somnet.load(root / "tests/golden/mlp.h5")
    local = somnet.sweep(model, calibration, images, labels, 8, GRID)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = somnet.distributed.sweep(client, model, calibration, images, labels, 8, GRID, threads=1)
    assert _rows(remote.rows) == _rows(local.rows)
    assert remote.grid == GRID_TEXT and remote.ann_accuracy == local.ann_accuracy


def test_sleep_matches_the_cli_sleep(root, tmp_path):
    train, train_labels = somnet.datasets.load("mnist", "train", limit=6000)
    sleep_images = train[np.isin(train_labels, [0, 1, 2, 3])][:1000]
    model = somnet.load(root / "tests/golden/sleepy.h5")
    slept, report = somnet.sleep(model, sleep_images, steps=300, seed=1, inc=0.01, beta=[14.5, 44.5, 38.0])
    import os
    import subprocess
    binary = os.environ.get("SOMNET_BIN", str(root / "target/release/somnet"))
    subprocess.run([binary, "sleep", "--model", "tests/golden/sleepy.h5", "--dataset", "mnist", "--classes", "0-3",
                    "--images", "1000", "--steps", "300", "--seed", "1", "--inc", "0.01", "--beta", "14.5,44.5,38.0",
                    "--limit", "100", "--out", str(tmp_path / "slept.h5")], check=True, capture_output=True, cwd=root)
    from_cli = somnet.load(tmp_path / "slept.h5")
    test, _ = somnet.datasets.load("mnist", "test", limit=300)
    np.testing.assert_array_equal(slept.predict(test), from_cli.predict(test))
    cli_record = from_cli.provenance
    assert report.steps == 300 and report.config.seed == 1 and report.config.inc == pytest.approx(0.01)
    assert report.to_dict()["layer_spikes"] == cli_record["report"]["layer_spikes"]
    assert model.predict(test[:5]).tolist() != slept.predict(test[:5]).tolist()  # the copy slept, not the model


def test_bad_sleep_settings_name_the_setting(root):
    model = somnet.load(root / "tests/golden/sleepy.h5")
    images, _ = somnet.datasets.load("mnist", "test", limit=20)
    with pytest.raises(somnet.SomnetError, match="sleep.inc"):
        somnet.sleep(model, images, steps=5, inc="fast")
    with pytest.raises(somnet.SomnetError, match="sleep setting"):
        somnet.sleep(model, images, steps=5, colour=1)
    with pytest.raises(somnet.SomnetError, match="beta"):
        somnet.sleep(model, images, steps=5, beta=[1.0])
    with pytest.raises(somnet.SomnetError, match="Dense"):
        somnet.sleep(somnet.load(root / "tests/golden/lenet.snn.h5").original, images, steps=5)


def _strip_times(value):
    if isinstance(value, dict):
        return {k: _strip_times(v) for k, v in value.items() if k not in ("seconds", "seconds_per_seed", "command")}
    if isinstance(value, list):
        return [_strip_times(v) for v in value]
    return value


def test_incremental_matches_the_cli(root, tmp_path):
    import os
    import subprocess
    small = dict(per_task=400, epochs=2, joint_epochs=2, hidden=[64, 64], sleep_base=400, sleep_per_task=100)
    python = somnet.incremental("mnist", 2, test_limit=600, out=tmp_path / "py", **small)
    binary = os.environ.get("SOMNET_BIN", str(root / "target/release/somnet"))
    subprocess.run([binary, "incremental", "--seeds", "2", "--per-task", "400", "--epochs", "2", "--joint-epochs", "2",
                    "--hidden", "64,64", "--sleep-base", "400", "--sleep-per-task", "100", "--test-limit", "600",
                    "--out", str(tmp_path / "cli")], check=True, capture_output=True, cwd=root)
    expected = json.loads((tmp_path / "cli" / "result.json").read_text())
    assert _strip_times(python.to_dict()) == _strip_times(expected)
    assert python.seeds.tolist() == [1, 2] and (tmp_path / "py" / "result.csv").exists()
    # Joint training on all classes is the upper bound the paper reports (its Fig. 2).
    assert python.final_accuracy.joint > python.final_accuracy.sequential
    # A run that kept seed 2 only, resumed over seeds 1-2, equals the uninterrupted one.
    somnet.incremental("mnist", [2], test_limit=600, out=tmp_path / "part", **small)
    assert (tmp_path / "part" / "seeds" / "seed-2.json").exists()
    resumed = somnet.incremental("mnist", 2, test_limit=600, out=tmp_path / "part", resume=True, **small)
    assert _strip_times(resumed.to_dict()) == _strip_times(python.to_dict())
    with pytest.raises(somnet.SomnetError, match="seed-1.json.*per_task"):
        somnet.incremental("mnist", 2, test_limit=600, out=tmp_path / "part", resume=True,
                           **dict(small, per_task=300))


def test_incremental_settings_are_checked_by_name():
    with pytest.raises(somnet.SomnetError, match="incremental setting"):
        somnet.incremental("mnist", 1, colour="blue")
    with pytest.raises(somnet.SomnetError, match="beta"):
        somnet.incremental("mnist", 1, hidden=[10])


def test_incremental_presets_match_the_cli(root, tmp_path):
    import os
    import subprocess
    # The replication's set-up with a small network: its training, pixel mask, fixed input scales
    # and sleep on the current task, through Python and through the CLI.
    small = dict(per_task=300, hidden=[64, 64], controls=False)
    python = somnet.incremental("mnist", 1, preset="replication", test_limit=400, **small)
    binary = os.environ.get("SOMNET_BIN", str(root / "target/release/somnet"))
    subprocess.run([binary, "incremental", "--preset", "replication", "--seeds", "1", "--per-task", "300",
                    "--hidden", "64,64", "--no-controls", "--test-limit", "400", "--out", str(tmp_path / "cli")],
                   check=True, capture_output=True, cwd=root)
    expected = json.loads((tmp_path / "cli" / "result.json").read_text())
    assert _strip_times(python.to_dict()) == _strip_times(expected)
    assert python.config.sleep.mask.kind == "pixels" and python.config.loss == "cross-entropy"
    with pytest.raises(somnet.SomnetError, match="preset"):
        somnet.incremental("mnist", 1, preset="best-ever")
