#!/usr/bin/env python3
"""Sweep conversion knobs of a model and print the Pareto front of accuracy, energy and latency;
writes sweep.csv, sweep.json and pareto.png into --out.

    python examples/python/sweep_pareto.py MODEL.h5 [--steps 64] [--images 1000] [--out sweep-out]
"""

import argparse

import somnet

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model")
parser.add_argument("--steps", type=int, default=64)
parser.add_argument("--images", type=int, default=1000)
parser.add_argument("--out", default="sweep-out")
args = parser.parse_args()

model = somnet.load(args.model)
model = model.original if isinstance(model, somnet.Converted) else model
train, _ = somnet.datasets.load("mnist", "train", limit=6000)
images, labels = somnet.datasets.load("mnist", "test", limit=args.images)
grid = {"input": ["analog", "poisson"], "reset": ["subtract", "zero"], "initial": ["zero", "half"]}
sweep = somnet.sweep(model, train[::10], images, labels, args.steps, grid, out=args.out, progress=True)
print(f"ANN {100 * sweep.ann_accuracy:.2f} %")
for row, front in zip(sweep.rows, sweep.pareto_front()):
    mark = "*" if front else " "
    print(f"{mark} {row.settings:45s} {100 * row.snn_accuracy:6.2f} %  {row.energy_pj.snn:10.3e} pJ  "
          f"latency 0.1 pp: {row.latency_steps['0.1pp']}")
