#!/usr/bin/env python3
"""Train the three MNIST architectures of the conversion benchmark in Keras and save them as Keras
`.h5` files, printing Keras' own test accuracy (the number `somnet evaluate --model FILE` must
reproduce on the imported file).

    venv-k2/bin/python converters/train_reference.py --out /tmp/keras-models [--epochs 3] [--seed 1]

Shapes (the benchmark's three models): MLP 784-1200-1200-10 without bias, with dropout; LeNet
conv5×5(16)-avgpool-conv3×3(32)-avgpool-dense128-dense10; BN-CNN conv3×3(16)+BN-maxpool-
conv3×3(32, stride 2, same)+BN-conv3×3(32, same)+BN-maxpool-dense64+BN-dense10. Pixels are scaled to
[0, 1] like somnet's loader. Writes OUT/{mlp,lenet,bn-cnn}.h5 and OUT/keras_accuracy.json.
"""

import argparse
import gzip
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(root):
    load = lambda name: idx(os.path.join(root, name))
    x_train = load("train-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255.0
    x_test = load("t10k-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255.0
    return x_train, load("train-labels-idx1-ubyte.gz"), x_test, load("t10k-labels-idx1-ubyte.gz")


def models(keras):
    L = keras.layers
    mlp = keras.Sequential([
        keras.Input(shape=(28, 28, 1)), L.Flatten(),
        L.Dense(1200, activation="relu", use_bias=False), L.Dropout(0.5),
        L.Dense(1200, activation="relu", use_bias=False), L.Dropout(0.5),
        L.Dense(10, activation="softmax", use_bias=False),
    ], name="mlp")
    lenet = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        L.Conv2D(16, 5, activation="relu"), L.AveragePooling2D(2),
        L.Conv2D(32, 3, activation="relu"), L.AveragePooling2D(2),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax"),
    ], name="lenet")
    x = inp = keras.Input(shape=(28, 28, 1))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 3)(x)))
    x = L.MaxPooling2D(2)(x)
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(32, 3, strides=2, padding="same")(x)))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(32, 3, padding="same")(x)))
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.ReLU()(L.BatchNormalization()(L.Dense(64)(x)))
    bn_cnn = keras.Model(inp, L.Dense(10, activation="softmax")(x), name="bn_cnn")
    return {"mlp": mlp, "lenet": lenet, "bn-cnn": bn_cnn}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", default=os.path.join(HERE, "..", "datasets", "mnist"))
    args = parser.parse_args()
    import tensorflow as tf
    import keras
    tf.keras.utils.set_random_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    x_train, y_train, x_test, y_test = mnist(args.data)
    report = {"keras_version": keras.__version__, "seed": args.seed, "epochs": args.epochs}
    for name, model in models(tf.keras).items():
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=2)
        _, acc = model.evaluate(x_test, y_test, verbose=0)
        path = os.path.join(args.out, f"{name}.h5")
        model.save(path)
        report[name] = {"file": path, "keras_test_accuracy": float(acc)}
        print(f"{name}: Keras test accuracy {100 * acc:.2f} % -> {path}", flush=True)
    with open(os.path.join(args.out, "keras_accuracy.json"), "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
