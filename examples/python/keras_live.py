#!/usr/bin/env python3
"""Convert a live Keras 3 model (any backend) without saving it, and compare two settings.

    KERAS_BACKEND=torch python examples/python/keras_live.py MODEL.h5|MODEL.keras
"""

import sys

import keras

import somnet

model = keras.models.load_model(sys.argv[1], compile=False)
train, _ = somnet.datasets.load("mnist", "train", limit=6000)
test, labels = somnet.datasets.load("mnist", "test", limit=2000)
snn = somnet.convert(somnet.from_keras(model), train[::10])
for knobs in ({}, {"reset": "zero", "input": "poisson"}):
    r = snn.evaluate(test, labels, steps=128, **knobs)
    print(f"{knobs or 'reference'}: SNN {100 * r.snn_accuracy:.2f} % (ANN {100 * r.ann_accuracy:.2f} %), "
          f"{r.synaptic_ops_per_image:.3g} SOPs/image, energy ratio {r.energy_pj.ratio:.3f}")
