#!/usr/bin/env python3
"""Evaluate a converted network over a Dask cluster (a LocalCluster here; pass a scheduler address
for a real one) and check that the result equals the single-process run.

    python examples/python/distributed_dask.py SNN.h5 [--scheduler tcp://host:8786] [--images 2000]
"""

import argparse

from dask.distributed import Client, LocalCluster

import somnet

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model")
parser.add_argument("--scheduler")
parser.add_argument("--images", type=int, default=2000)
parser.add_argument("--steps", type=int, default=64)
args = parser.parse_args()

if __name__ == "__main__":
    snn = somnet.load(args.model)
    images, labels = somnet.datasets.load("mnist", "test", limit=args.images)
    cluster = None if args.scheduler else LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        result = somnet.distributed.evaluate(client, snn, images, labels, steps=args.steps, threads=1)
    local = snn.evaluate(images, labels, steps=args.steps)
    same = result.snn_accuracy_per_step.tolist() == local.snn_accuracy_per_step.tolist()
    print(f"SNN {100 * result.snn_accuracy:.2f} % after {args.steps} steps; equal to the single-process run: {same}")
    if cluster is not None:
        cluster.close()
