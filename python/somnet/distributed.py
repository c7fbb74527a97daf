"""Evaluation split by sample, and sweeps split by grid point, over a ``dask.distributed`` cluster: the existing distributed engine
does the scheduling; somnet only splits and merges. Shard ``i`` of ``n`` takes a contiguous part
of the images (each keeps its index in the whole set, which names its random streams), workers
return the exact sums, and the merge gives the single-process figures in every field but the
timings (the library's ``convert::shard``).

    from dask.distributed import Client
    client = Client("scheduler:8786")            # or Client(LocalCluster(n_workers=4))
    result = somnet.distributed.evaluate(client, snn, images, labels, steps=256)

For clusters without Python services, ``somnet evaluate --shard I/N --out DIR`` per job and
``somnet merge DIR…`` do the same from the command line (README: a Slurm job array).
"""

import json

from . import _arrays, _somnet
from ._records import Evaluation, Sweep


def _run_part(converted, images, labels, first, index, count, steps, threads, name, knobs):
    """On a worker: one shard's record as JSON."""
    return converted._evaluate_part(images, labels, first, index, count, steps, threads, name, knobs).to_json()


def evaluate(client, converted, images, labels, steps, *, shards=None, threads=0, name="numpy", **knobs):
    """The :class:`somnet.Evaluation` of ``converted`` on ``images``/``labels``, computed as
    ``shards`` parts (default: two per worker, at most one per image) on the workers of the Dask
    ``client``, each part on ``threads`` threads (0: all of the worker's cores). ``knobs`` as in
    :meth:`somnet.Converted.evaluate`. Equal to ``converted.evaluate(...)`` but for the timings."""
    x = _arrays.images("images", images, converted.original.input_shape)
    y = _arrays.labels("labels", labels, x.shape[0])
    if shards is None:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        shards = min(x.shape[0], 2 * workers)
    payload = client.scatter(converted, broadcast=True)
    futures = []
    for index in range(shards):
        start, stop = _somnet.shard_range(x.shape[0], index, shards)
        futures.append(client.submit(_run_part, payload, x[start:stop], y[start:stop], start, index, shards,
                                     steps, threads, name, knobs, pure=False))
    return Evaluation.from_json(_somnet.merge_shards(client.gather(futures)))


def _run_point(model, calibration, images, labels, steps, point, threads, name, base):
    """On a worker: a one-point sweep's record as JSON."""
    from ._studies import sweep as run_sweep

    return run_sweep(model, calibration, images, labels, steps, point, threads=threads, name=name, **base).to_json()


def sweep(client, model, calibration, images, labels, steps, grid, *, threads=0, name="numpy", **base):
    """:func:`somnet.sweep` with one grid point per task on the workers of the Dask ``client``;
    the rows come back in grid order, equal to the single-process sweep's but for the timings."""
    from ._models import _knobs
    from ._studies import grid_text

    text = grid_text(grid)
    points = _somnet.grid_points(text, _knobs(base))
    payload = client.scatter([model, calibration, images, labels], broadcast=True)
    futures = [client.submit(_run_point, *payload, steps, one, threads, name, base, pure=False)
               for _, one in points]
    records = [json.loads(t) for t in client.gather(futures)]
    merged = dict(records[0])
    merged["grid"] = text
    merged["points"] = len(points)
    merged["rows"] = [row for r in records for row in r["rows"]]
    return Sweep(merged)
