"""Beyond one machine: shards merge into the single-process evaluation, from Python (Dask on a
LocalCluster of 2 worker processes, pickled networks) and from the CLI (--shard + merge)."""

import pickle

import pytest

import somnet


def _without_timing(e):
    d = e.to_dict() if hasattr(e, "to_dict") else dict(e)
    d.pop("images_per_second")
    return d


@pytest.fixture(scope="module")
def lenet(root):
    return somnet.load(root / "tests/golden/lenet.snn.h5")


def test_a_pickled_network_evaluates_to_the_same_numbers(lenet, mnist_test):
    images, labels = mnist_test
    copy = pickle.loads(pickle.dumps(lenet))
    assert _without_timing(copy.evaluate(images, labels, steps=8, input="poisson")) == \
        _without_timing(lenet.evaluate(images, labels, steps=8, input="poisson"))


def test_a_pickled_conversion_keeps_its_trained_network(root, mnist_test, calibration):
    images, labels = mnist_test
    snn = somnet.convert(somnet.load(root / "tests/golden/mlp.h5"), calibration)
    copy = pickle.loads(pickle.dumps(snn))
    assert _without_timing(copy.evaluate(images, labels, steps=6)) == _without_timing(snn.evaluate(images, labels, steps=6))


def test_shards_merged_in_python_equal_the_whole_run(lenet, mnist_test):
    images, labels = mnist_test
    whole = lenet.evaluate(images, labels, steps=10, input="poisson", early_exit=4)
    shards = [lenet.evaluate_shard(images, labels, 10, i, 4, input="poisson", early_exit=4) for i in (3, 1, 0, 2)]
    assert _without_timing(somnet.merge(shards)) == _without_timing(whole)
    with pytest.raises(somnet.SomnetError, match="shard 1/4 is missing"):
        somnet.merge(shards[:1] + shards[2:])


def test_dask_local_cluster_equals_the_single_process_run(lenet, mnist_test):
    distributed = pytest.importorskip("dask.distributed")
    images, labels = mnist_test
    whole = lenet.evaluate(images, labels, steps=10, input="poisson")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        result = somnet.distributed.evaluate(client, lenet, images, labels, steps=10, input="poisson", threads=1)
    assert _without_timing(result) == _without_timing(whole)


def test_cli_shards_and_merge_equal_the_unsharded_cli_run(root, cli, tmp_path, lenet, mnist_test):
    args = ["--model", "tests/golden/lenet.snn.h5", "--dataset", "mnist", "--steps", 10, "--limit", 200,
            "--input", "poisson"]
    whole = cli("evaluate", *args, "--json")
    dirs = [tmp_path / f"shard{i}" for i in range(3)]
    for i, d in enumerate(dirs):
        cli("evaluate", *args, "--shard", f"{i}/3", "--out", d, "--json")
    merged = cli("merge", *reversed(dirs), "--out", tmp_path / "all", "--json")
    assert _without_timing(merged) == _without_timing(whole)
    assert (tmp_path / "all" / "result.json").exists()
    # The CLI's shard files merge in Python too, to the Python run's numbers.
    images, labels = mnist_test
    python = lenet.evaluate(images, labels, steps=10, input="poisson")
    from_files = _without_timing(somnet.merge(dirs))
    from_python = _without_timing(python)
    for key in ("model", "dataset"):
        from_files.pop(key), from_python.pop(key)
    assert from_files == from_python
