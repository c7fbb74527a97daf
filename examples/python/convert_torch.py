#!/usr/bin/env python3
"""Train a small PyTorch network on MNIST, convert it to a spiking network in memory and print its
accuracy, synaptic operations and energy after every few time steps.

    python examples/python/convert_torch.py [--steps 64] [--images 2000]
"""

import argparse

import numpy as np
import torch

import somnet

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=64)
parser.add_argument("--images", type=int, default=2000)
args = parser.parse_args()

train, train_labels = somnet.datasets.load("mnist", "train", limit=12000)
test, test_labels = somnet.datasets.load("mnist", "test", limit=args.images)

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(),
                          torch.nn.Linear(256, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x, y = torch.from_numpy(train), torch.from_numpy(train_labels.astype(np.int64))
for epoch in range(3):
    for i in range(0, len(x), 100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[i:i + 100]), y[i:i + 100]).backward()
        opt.step()

model = somnet.from_torch(net.eval(), input_shape=(1, 28, 28))
snn = somnet.convert(model, train[::10][:6000], percentile=99.9)
result = snn.evaluate(test, test_labels, steps=args.steps, progress=True)

print(f"ANN {100 * result.ann_accuracy:.2f} %, SNN {100 * result.snn_accuracy:.2f} % after {args.steps} steps")
for t in range(0, args.steps, max(1, args.steps // 8)):
    print(f"  step {t + 1:4d}: {100 * result.snn_accuracy_per_step[t]:6.2f} %")
print(f"latency to ANN − 1 pp: {result.latency_steps['1pp']} steps; "
      f"{result.synaptic_ops_per_image:.3g} SOPs vs {result.macs_per_image} MACs per image; "
      f"energy SNN/ANN {result.energy_pj.ratio:.3f}")
