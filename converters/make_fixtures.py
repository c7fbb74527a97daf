#!/usr/bin/env python3
"""Make the import fixtures in tests/fixtures/: tiny seeded models saved by their framework, plus
the framework's own outputs for a few inputs.

    python make_fixtures.py keras2 --out ../tests/fixtures   # TensorFlow 2.15 (tf.keras 2)
    KERAS_BACKEND=torch python make_fixtures.py keras3 --out ../tests/fixtures
    python make_fixtures.py torch --out ../tests/fixtures    (add --only resnet for one model)
    KERAS_BACKEND=torch python make_fixtures.py keras3-mnist --out ../tests/fixtures

For every model NAME and framework PREFIX this writes
- `PREFIX_NAME.h5`: the model as its framework saves it (Keras `.h5`), or, for PyTorch, the somnet
  file written by torch_export.py;
- `PREFIX_NAME.export.h5` (Keras only): the somnet file written by keras_export.py;
- `PREFIX_NAME.io.h5`: datasets `x` (inputs in somnet's NCHW order) and `y` (the framework's
  outputs), attributes `framework`, `version`, `seed`.
Models: `mlp` (Dense/Dropout, one layer without bias, softmax), `lenet` (convolutions with bias,
average pooling, Flatten of a 6-channel image; Keras: Functional), `bn` (batch norm after a
convolution, after a Flatten and on a Dense output, max pooling, strided 'same' convolution), and
for Keras `branch` (two Dense layers added); `resnet` (Keras: a residual graph: ZeroPadding2D, Add,
Concatenate, GlobalAveragePooling2D, batch norm on both paths; PyTorch: torchvision basic blocks with
`out += identity` and a `downsample` Sequential, torch.cat, AdaptiveAvgPool2d); `nested` (Keras: a
Sequential and a Functional model used as layers), `qcfs` (Keras: QCFS custom layers of 4 and 8
levels). `--only NAME,…` writes only those
models (the others' random draws are still made, so every model gets the same numbers).
"""

import argparse
import json
import os
import sys

import h5py
import numpy as np

SEED = 20261125
N_SAMPLES = 5


def random_weights(shapes, rng, names):
    """Seeded values: kernels ~ N(0, 1/fan_in), biases and BN shifts small, variances in [0.5, 2]."""
    out = []
    for shape, name in zip(shapes, names):
        if len(shape) == 0:
            out.append(np.ones(shape))  # a scalar (QCFS's λ): set by the model's maker
        elif "variance" in name or "running_var" in name:
            out.append(rng.uniform(0.5, 2.0, shape))
        elif "gamma" in name:
            out.append(rng.uniform(0.5, 1.5, shape))
        elif len(shape) == 1:
            out.append(rng.normal(0.0, 0.3, shape))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) in (2, 4) else shape[0]
            out.append(rng.normal(0.0, 1.5 / np.sqrt(fan_in), shape))
    return [a.astype(np.float32) for a in out]


def save_io(path, x_nchw, y, framework, version):
    with h5py.File(path, "w") as f:
        f["x"] = np.ascontiguousarray(x_nchw, dtype=np.float32)
        f["y"] = np.ascontiguousarray(y, dtype=np.float32)
        f.attrs["framework"] = framework
        f.attrs["version"] = version
        f.attrs["seed"] = np.int64(SEED)


# ---------------------------------------------------------------- Keras (2 and 3)

def keras_models(keras):
    L = keras.layers
    mlp = keras.Sequential([
        keras.Input(shape=(20,)),
        L.Dense(16, activation="relu", name="fc1"),
        L.Dropout(0.2, name="drop"),
        L.Dense(12, activation="relu", use_bias=False, name="fc2"),
        L.Dense(5, activation="softmax", name="out"),
    ], name="mlp")

    x = inp = keras.Input(shape=(12, 12, 2), name="image")
    x = L.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = L.AveragePooling2D(2, name="pool1")(x)
    x = L.Conv2D(6, 2, activation="relu", name="conv2")(x)
    x = L.AveragePooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(8, activation="relu", name="fc1")(x)
    x = L.Dense(3, name="out")(x)
    lenet = keras.Model(inp, x, name="lenet")

    bn = keras.Sequential([
        keras.Input(shape=(13, 13, 1)),
        L.Conv2D(4, 3, use_bias=False, name="conv1"),
        L.BatchNormalization(name="bn1"),
        L.ReLU(name="relu1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(6, 3, strides=2, padding="same", name="conv2"),
        L.BatchNormalization(name="bn2"),
        L.Activation("relu", name="relu2"),
        L.Flatten(name="flat"),
        L.BatchNormalization(name="bn_flat"),
        L.Dense(10, name="fc1"),
        L.BatchNormalization(name="bn3"),
        L.ReLU(name="relu3"),
        L.Dense(4, name="out"),
    ], name="bn")

    inp = keras.Input(shape=(6,), name="features")
    a = L.Dense(4, name="left")(inp)
    b = L.Dense(4, name="right")(inp)
    branch = keras.Model(inp, L.Add(name="sum")([a, b]), name="branch")
    return {"mlp": mlp, "lenet": lenet, "bn": bn, "branch": branch, "resnet": keras_resnet(keras),
            "nested": keras_nested(keras), "qcfs": keras_qcfs(keras)}


def keras_resnet(keras):
    """A residual graph: zero-padded stem, a block with an identity shortcut, a PyTorch-style
    downsample block (explicit padding, strided convolution, strided 1×1 shortcut), a side branch
    concatenated on the channel axis, global average pooling, a softmax head."""
    L = keras.layers
    inp = keras.Input(shape=(8, 8, 2), name="image")
    x = L.ZeroPadding2D(1, name="pad")(inp)
    x = L.Conv2D(4, 3, use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    s = L.ReLU(name="stem_relu")(x)
    y = L.Conv2D(4, 3, padding="same", use_bias=False, name="b1c1")(s)
    y = L.BatchNormalization(name="b1bn1")(y)
    y = L.ReLU(name="b1r1")(y)
    y = L.Conv2D(4, 3, padding="same", use_bias=False, name="b1c2")(y)
    y = L.BatchNormalization(name="b1bn2")(y)
    x = L.Add(name="b1add")([y, s])
    b1 = L.Activation("relu", name="b1out")(x)
    y = L.ZeroPadding2D(((0, 1), (1, 0)), name="b2pad")(b1)
    y = L.Conv2D(6, 3, strides=2, activation="relu", name="b2c1")(y)
    y = L.Conv2D(6, 3, padding="same", name="b2c2")(y)
    d = L.Conv2D(6, 1, strides=2, name="b2down")(b1)
    x = L.Add(name="b2add")([y, d])
    x = L.ReLU(name="b2out")(x)
    side = L.Conv2D(2, 1, strides=2, activation="relu", name="side")(b1)
    x = L.Concatenate(name="cat")([x, side])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inp, out, name="resnet")


def keras_nested(keras):
    """Models used as layers: a Sequential feature stage (convolution, max pooling) and a
    Functional residual block whose shortcut reads the block's own input, both named 'conv' inside
    (names are per model), then a Flatten and a Dense head in the outer model."""
    L = keras.layers
    features = keras.Sequential([
        keras.Input(shape=(8, 8, 2)),
        L.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
        L.MaxPooling2D(2, name="pool"),
    ], name="features")
    block_in = keras.Input(shape=(4, 4, 4), name="block_in")
    y = L.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(block_in)
    y = L.BatchNormalization(name="bn")(y)
    y = L.Add(name="add")([y, block_in])
    block = keras.Model(block_in, L.ReLU(name="relu")(y), name="block")
    inp = keras.Input(shape=(8, 8, 2), name="image")
    x = block(features(inp))
    x = L.Flatten(name="flat")(x)
    out = L.Dense(3, name="out")(x)
    return keras.Model(inp, out, name="nested")


def qcfs_layer(keras):
    """Bu et al.'s QCFS activation as a Keras layer, as somnet's importer recognises it: class name
    `QCFS`, `levels` in its config, a trainable scalar `lambda`;
    h(x) = λ·clip(⌊x·L/λ + ½⌋/L, 0, 1)."""
    class QCFS(keras.layers.Layer):
        def __init__(self, levels=4, **kwargs):
            super().__init__(**kwargs)
            self.levels = levels

        def build(self, input_shape):
            self.lam = self.add_weight(name="lambda", shape=(), initializer="ones")

        def call(self, x):
            if hasattr(keras, "ops"):  # Keras 3
                floor, clip = keras.ops.floor, keras.ops.clip
            else:  # Keras 2: TensorFlow's
                import tensorflow as tf
                floor, clip = tf.floor, tf.clip_by_value
            q = floor(x * self.levels / self.lam + 0.5) / self.levels
            return clip(q, 0.0, 1.0) * self.lam

        def get_config(self):
            return {**super().get_config(), "levels": self.levels}

    return QCFS


def keras_qcfs(keras):
    """A dense network with QCFS activations of 4 and 8 levels (their λ set after the draws)."""
    L, QCFS = keras.layers, qcfs_layer(keras)
    return keras.Sequential([
        keras.Input(shape=(6,)),
        L.Dense(10, name="fc1"),
        QCFS(levels=4, name="q1"),
        L.Dense(8, name="fc2"),
        QCFS(levels=8, name="q2"),
        L.Dense(3, name="out"),
    ], name="qcfs")


def make_keras(prefix, out, only=None):
    if prefix == "keras2":
        import tensorflow as tf
        import keras  # the Keras 2.15 package behind tf.keras
        tf.random.set_seed(SEED)
    else:
        import keras
        keras.utils.set_random_seed(SEED)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import keras_export

    version = f"Keras {keras.__version__}, backend {keras.backend.backend()}"
    rng = np.random.default_rng(SEED)
    for name, model in keras_models(keras).items():
        names = [w.name if prefix == "keras2" else w.path for w in model.weights]
        model.set_weights(random_weights([tuple(w.shape) for w in model.weights], rng, names))
        if name == "qcfs":
            model.get_layer("q1").lam.assign(1.3)
            model.get_layer("q2").lam.assign(0.7)
        shape = tuple(model.input_shape[1:])
        x = rng.uniform(0.0, 1.0, (N_SAMPLES,) + shape).astype(np.float32)
        if name == "mlp":
            # One training step so that the file also holds optimizer weights (readers skip them).
            model.compile(optimizer="adam", loss="mse")
            model.fit(x, np.zeros((N_SAMPLES, 5), np.float32), epochs=1, verbose=0)
        if only and name not in only:
            continue  # weights and inputs still drawn, so every model's draws stay the same
        y = np.asarray(model.predict(x, verbose=0))
        path = os.path.join(out, f"{prefix}_{name}.h5")
        model.save(path)
        x_nchw = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
        save_io(os.path.join(out, f"{prefix}_{name}.io.h5"), x_nchw, y, prefix, version)
        keras_export.export(model, os.path.join(out, f"{prefix}_{name}.export.h5"),
                            provenance={"fixture": name, "seed": SEED})
        print(f"{path}: {version}")


def mnist_train(n):
    """The first `n` bundled MNIST training images (N, 28, 28, 1) in [0, 1] and their labels."""
    import gzip
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "mnist")
    with gzip.open(os.path.join(base, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n]
    with gzip.open(os.path.join(base, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def make_keras3_mnist(out):
    """`keras3_mnist_cnn.h5`: a small CNN trained by Keras 3 for 2 epochs on 3 000 MNIST images, so
    that Python and the CLI can be compared on a Keras file of MNIST's shape."""
    import keras
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        L.Conv2D(6, 5, activation="relu", name="conv1"),
        L.AveragePooling2D(2, name="pool1"),
        L.Flatten(name="flat"),
        L.Dense(32, activation="relu", name="fc1"),
        L.Dense(10, activation="softmax", name="out"),
    ], name="mnist_cnn")
    x, y = mnist_train(3000)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=100, verbose=0)
    path = os.path.join(out, "keras3_mnist_cnn.h5")
    model.save(path)
    print(f"{path}: Keras {keras.__version__}, backend {keras.backend.backend()}")


# ---------------------------------------------------------------- PyTorch

def make_torch(out, only=None):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_export

    torch.manual_seed(SEED)

    class LeNet(nn.Module):
        """A module with a forward of its own (traced by torch.fx), not a Sequential."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 4, 3)
            self.pool1 = nn.AvgPool2d(2)
            self.conv2 = nn.Conv2d(4, 6, 2)
            self.pool2 = nn.AvgPool2d(2)
            self.fc1 = nn.Linear(24, 8)
            self.out = nn.Linear(8, 3)

        def forward(self, x):
            x = self.pool1(F.relu(self.conv1(x)))
            x = self.pool2(torch.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            return self.out(F.relu(self.fc1(x)))

    class BasicBlock(nn.Module):
        """torchvision's ResNet basic block: `out += identity`, a ReLU module called twice, a
        `downsample` Sequential (1×1 strided conv + batch norm) where the shape changes."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        """A stem, an identity block, a strided block (PyTorch's symmetric padding of a stride-2
        3×3 convolution, which is not TensorFlow's 'same'), a side branch joined by torch.cat,
        global average pooling, a classifier."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 4, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(4)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = BasicBlock(4, 4, 1)
            self.layer2 = BasicBlock(4, 6, 2)
            self.side = nn.Conv2d(4, 2, 1, 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            x = self.layer1(self.relu(self.bn1(self.conv1(x))))
            x = torch.cat([self.layer2(x), torch.relu(self.side(x))], 1)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    models = {
        "mlp": (nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 12, bias=False),
                              nn.ReLU(), nn.Linear(12, 5), nn.Softmax(dim=1)), (20,)),
        "lenet": (LeNet(), (2, 12, 12)),
        "bn": (nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(),
                             nn.BatchNorm1d(54), nn.Linear(54, 10), nn.BatchNorm1d(10), nn.ReLU(),
                             nn.Linear(10, 4)), (1, 13, 13)),
        "resnet": (ResNet(), (2, 8, 8)),
    }
    rng = np.random.default_rng(SEED)
    version = f"PyTorch {torch.__version__}"
    for name, (net, shape) in models.items():
        state = net.state_dict()
        keys = [k for k in state if state[k].dtype.is_floating_point]
        # Keras-ordered shapes for the shared initialiser: fan-in first.
        bn = {n for n, m in net.named_modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))}
        roles = []
        for k in keys:
            owner, _, var = k.rpartition(".")
            role = {"weight": "gamma", "bias": "beta", "running_var": "variance"}.get(var, var)
            roles.append(role if owner in bn else k)
        values = random_weights([tuple(reversed(state[k].shape)) for k in keys], rng, roles)
        for k, v in zip(keys, values):
            state[k] = torch.from_numpy(np.ascontiguousarray(v.transpose()))
        net.load_state_dict(state)
        net.eval()
        x = rng.uniform(0.0, 1.0, (N_SAMPLES,) + shape).astype(np.float32)
        with torch.no_grad():
            y = net(torch.from_numpy(x)).numpy()
        if only and name not in only:
            continue
        path = os.path.join(out, f"torch_{name}.h5")
        torch_export.export(net, shape, path, provenance={"fixture": name, "seed": SEED})
        save_io(os.path.join(out, f"torch_{name}.io.h5"), x, y, "torch", version)
        print(f"{path}: {version}")


def main():
    parser = argparse.ArgumentParser(description="Make somnet's import fixtures.")
    parser.add_argument("framework", choices=["keras2", "keras3", "keras3-mnist", "torch"])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    parser.add_argument("--only", default="", help="comma-separated model names to write (default: all)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    os.makedirs(args.out, exist_ok=True)
    if args.framework == "torch":
        make_torch(args.out, only)
    elif args.framework == "keras3-mnist":
        make_keras3_mnist(args.out)
        return
    else:
        make_keras(args.framework, args.out, only)
    if only:
        return
    with open(os.path.join(args.out, f"versions_{args.framework}.json"), "w") as f:
        json.dump({"framework": args.framework, "seed": SEED, "python": sys.version.split()[0]}, f)


if __name__ == "__main__":
    main()
