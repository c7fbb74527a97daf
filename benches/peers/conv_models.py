"""The conversion peers' view of a model: one somnet model file (converters/SCHEMA.md) read into
layer records, and built as a PyTorch module (for SpikingJelly) or a Keras model (for SNN Toolbox).

Every peer must convert the same network from the same weights. A Keras `.h5` goes to SNN Toolbox
as it is and to the others through `converters/keras_export.py` (run by conversion_driver.py in the
Keras environment); a somnet-trained model goes to SpikingJelly as a PyTorch module built here and
to SNN Toolbox as a Keras model built here. Only what the three benchmark shapes and their kin use
is built: dense, conv2d (valid/same), avg/max pooling (valid), flatten, batch norm, relu, softmax
(dropped: the argmax is the same), dropout (identity, or the 1 − p scale of a `scale-at-test`
file), and for graphs (residual networks; PyTorch only) add, concatenate, global average pooling
and zero padding. Anything else is refused by name.
"""

import gzip
import os

import h5py
import numpy as np


def mnist(root):
    """(x_train, y_train, x_test, y_test) from the IDX files in root: images as float32
    [N, 28, 28, 1] in [0, 1] (channels last, as Keras reads them), labels as uint8."""
    def idx(name):
        with gzip.open(os.path.join(root, name), "rb") as f:
            data = f.read()
        dims = data[3]
        shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
    images = lambda name: idx(name).astype(np.float32)[..., None] / 255.0
    return (images("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz"))


def is_keras_file(path):
    """Whether `path` is a Keras `.h5` (it carries the model's config) rather than a somnet file."""
    with h5py.File(path, "r") as f:
        return "model_config" in f.attrs


def bench_arguments():
    """The command line both peer benchmarks share (each adds its own options)."""
    import argparse
    from pathlib import Path
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "datasets" / "mnist"))
    return ap


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def read(path):
    """(input_shape [C, H, W] or [F], dropout_mode, [layer records]) of a somnet model file."""
    with h5py.File(path, "r") as f:
        if _text(f.attrs.get("format", "")) != "somnet-model":
            raise SystemExit(f"{path}: not a somnet model file (attribute 'format')")
        shape = [int(v) for v in f.attrs["input_shape"]]
        mode = _text(f.attrs.get("dropout_mode", "inverted"))
        layers = []
        for key in sorted(f["layers"].keys()):
            g = f["layers"][key]
            rec = {"name": _text(g.attrs["name"]), "kind": _text(g.attrs["kind"])}
            for ds in g.keys():
                rec[ds] = np.asarray(g[ds], dtype=np.float32)
            for attr in ("stride", "size", "pad", "inputs"):
                if attr in g.attrs:
                    rec[attr] = [int(v) for v in np.atleast_1d(g.attrs[attr])]
            for attr in ("eps", "rate"):
                if attr in g.attrs:
                    rec[attr] = float(g.attrs[attr])
            for attr in ("padding", "function"):
                if attr in g.attrs:
                    rec[attr] = _text(g.attrs[attr])
            layers.append(rec)
    return shape, mode, layers


def _same_pads(size, kernel, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def to_torch(path):
    """The model file as a PyTorch module: a Sequential for a chain, else a graph module."""
    _, _, layers = read(path)
    if any("inputs" in rec for rec in layers):
        return _graph_to_torch(path)
    return _chain_to_torch(path)


def _batch_norm(rec, rank):
    """A torch batch norm (2-D for images, 1-D for features) holding a record's statistics."""
    import torch
    from torch import nn
    c = rec["gamma"].shape[0]
    m = (nn.BatchNorm2d if rank == 3 else nn.BatchNorm1d)(c, eps=rec.get("eps", 1e-3))
    m.weight.data = torch.from_numpy(rec["gamma"].copy())
    m.bias.data = torch.from_numpy(rec["beta"].copy())
    m.running_mean.data = torch.from_numpy(rec["moving_mean"].copy())
    m.running_var.data = torch.from_numpy(rec["moving_variance"].copy())
    return m


def _graph_to_torch(path):
    """A module computing a graph model file's inference function (NCHW input): one module per
    layer (nn.ReLU where SpikingJelly's converter puts its neurons), the junctions as functions in
    `forward`, which torch.fx traces through (the layer lists are
    constants), the final softmax left out."""
    import torch
    from torch import nn

    shape, mode, layers = read(path)
    if mode == "scale-at-test" and any(r["kind"] == "dropout" for r in layers):
        raise SystemExit(f"{path}: 'scale-at-test' dropout is not built for peers")
    shapes = {-1: list(shape)}
    mods, kinds, reads = [], [], []
    for i, rec in enumerate(layers):
        kind, name = rec["kind"], rec["name"]
        ins = rec.get("inputs", [i - 1])
        cur = shapes[ins[0]]
        m = nn.Identity()
        if kind == "dense":
            w = rec["weights"]
            m = nn.Linear(w.shape[1], w.shape[0], bias="bias" in rec)
            out = [w.shape[0]]
        elif kind == "conv2d":
            # SpikingJelly's converter takes neither F.pad nor ZeroPad2d: every padding (the
            # layer's 'same', a zero padding layer it reads) goes into the convolution, an uneven
            # one as an even padding of the larger side with zero taps added to the kernel on the
            # smaller side (the same sums).
            w = rec["weights"]
            stride = rec.get("stride", [1, 1])
            (top, bottom), (left, right) = (0, 0), (0, 0)
            if rec.get("padding", "valid") == "same":
                top, bottom = _same_pads(cur[1], w.shape[2], stride[0])
                left, right = _same_pads(cur[2], w.shape[3], stride[1])
            if kinds[ins[0]:ins[0] + 1] == ["zeropad2d"] if ins[0] >= 0 else False:
                t, b, l, r = layers[ins[0]]["pad"]
                top, bottom, left, right = top + t, bottom + b, left + l, right + r
                ins = reads[ins[0]]
                cur = shapes[ins[0]]
            ph, pw = max(top, bottom), max(left, right)
            kernel = np.zeros((w.shape[0], w.shape[1], w.shape[2] + ph - min(top, bottom),
                               w.shape[3] + pw - min(left, right)), np.float32)
            y0, x0 = ph - top, pw - left
            kernel[:, :, y0:y0 + w.shape[2], x0:x0 + w.shape[3]] = w
            rec = dict(rec, weights=kernel)
            m = nn.Conv2d(w.shape[1], w.shape[0], kernel.shape[2:], stride=tuple(stride), padding=(ph, pw),
                          bias="bias" in rec)
            out = [w.shape[0], (cur[1] + top + bottom - w.shape[2]) // stride[0] + 1,
                   (cur[2] + left + right - w.shape[3]) // stride[1] + 1]
        elif kind in ("avgpool2d", "maxpool2d"):
            if rec.get("padding", "valid") != "valid":
                raise SystemExit(f"{path}: layer '{name}': only 'valid' pooling is built for peers")
            size, stride = tuple(rec["size"]), tuple(rec.get("stride", rec["size"]))
            m = (nn.AvgPool2d if kind == "avgpool2d" else nn.MaxPool2d)(size, stride)
            out = [cur[0], (cur[1] - size[0]) // stride[0] + 1, (cur[2] - size[1]) // stride[1] + 1]
        elif kind == "globalavgpool2d":
            m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            out = [cur[0]]
        elif kind == "zeropad2d":
            top, bottom, left, right = rec["pad"]
            out = [cur[0], cur[1] + top + bottom, cur[2] + left + right]
            readers = [r["name"] for r in layers if i in r.get("inputs", [])]
            if any(r["kind"] != "conv2d" for r in layers if i in r.get("inputs", [])):
                raise SystemExit(f"{path}: layer '{name}': a zero padding read by {readers}: only "
                                 "convolutions can take one for SpikingJelly")
        elif kind == "flatten":
            m = nn.Flatten()
            out = [int(np.prod(cur))]
        elif kind == "batchnorm":
            m = _batch_norm(rec, len(cur))
            out = cur
        elif kind == "activation":
            fn = rec.get("function", "linear")
            if fn == "relu":
                m = nn.ReLU()
            elif not (fn == "linear" or (fn == "softmax" and i == len(layers) - 1)):
                raise SystemExit(f"{path}: layer '{name}': activation '{fn}' is not built for peers")
            out = cur
        elif kind == "add":
            out = cur
        elif kind == "concatenate":
            out = [sum(shapes[j][0] for j in ins)] + cur[1:]
        elif kind == "dropout":
            out = cur
        else:
            raise SystemExit(f"{path}: layer '{name}': kind '{kind}' is not built for peers")
        if kind in ("dense", "conv2d"):
            m.weight.data = torch.from_numpy(rec["weights"].copy())
            if "bias" in rec:
                m.bias.data = torch.from_numpy(rec["bias"].copy())
        shapes[i] = out
        mods.append(m)
        kinds.append(kind)
        reads.append(list(ins))

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(mods)

        def forward(self, x):
            values = {-1: x}
            for i, (m, kind, ins) in enumerate(zip(self.layers, kinds, reads)):
                args = [values[j] for j in ins]
                if kind == "add":
                    y = args[0]
                    for a in args[1:]:
                        y = y + a
                elif kind == "concatenate":
                    y = torch.cat(args, 1)
                elif kind == "zeropad2d":
                    y = args[0]  # taken by the convolutions that read it
                else:
                    y = m(args[0])
                values[i] = y
            return values[len(kinds) - 1]

    return Graph().eval()


def _chain_to_torch(path):
    """A torch.nn.Sequential equal to the model file's inference function (NCHW input), with
    nn.ReLU modules (what SpikingJelly's converter replaces) and the final softmax left out."""
    import torch
    from torch import nn

    shape, mode, layers = read(path)
    mods = []
    cur = list(shape)
    for i, rec in enumerate(layers):
        kind, name = rec["kind"], rec["name"]
        if kind == "dense":
            w = rec["weights"]
            m = nn.Linear(w.shape[1], w.shape[0], bias="bias" in rec)
            m.weight.data = torch.from_numpy(w.copy())
            if "bias" in rec:
                m.bias.data = torch.from_numpy(rec["bias"].copy())
            mods.append(m)
            cur = [w.shape[0]]
        elif kind == "conv2d":
            w = rec["weights"]
            stride = rec.get("stride", [1, 1])
            k = w.shape[2:]
            pad = (0, 0)
            if rec.get("padding", "valid") == "same":
                top, bottom = _same_pads(cur[1], k[0], stride[0])
                left, right = _same_pads(cur[2], k[1], stride[1])
                if top == bottom and left == right:
                    pad = (top, left)  # inside the convolution: SpikingJelly refuses ZeroPad2d
                else:
                    mods.append(nn.ZeroPad2d((left, right, top, bottom)))
                cur = [cur[0], cur[1] + top + bottom, cur[2] + left + right]
            m = nn.Conv2d(w.shape[1], w.shape[0], tuple(k), stride=tuple(stride), padding=pad,
                          bias="bias" in rec)
            m.weight.data = torch.from_numpy(w.copy())
            if "bias" in rec:
                m.bias.data = torch.from_numpy(rec["bias"].copy())
            mods.append(m)
            cur = [w.shape[0], (cur[1] - k[0]) // stride[0] + 1, (cur[2] - k[1]) // stride[1] + 1]
        elif kind in ("avgpool2d", "maxpool2d"):
            if rec.get("padding", "valid") != "valid":
                raise SystemExit(f"{path}: layer '{name}': only 'valid' pooling is built for peers")
            size, stride = tuple(rec["size"]), tuple(rec.get("stride", rec["size"]))
            mods.append((nn.AvgPool2d if kind == "avgpool2d" else nn.MaxPool2d)(size, stride))
            cur = [cur[0], (cur[1] - size[0]) // stride[0] + 1, (cur[2] - size[1]) // stride[1] + 1]
        elif kind == "flatten":
            mods.append(nn.Flatten())
            cur = [int(np.prod(cur))]
        elif kind == "batchnorm":
            mods.append(_batch_norm(rec, len(cur)))
        elif kind == "activation":
            fn = rec.get("function", "linear")
            if fn == "relu":
                mods.append(nn.ReLU())
            elif fn == "softmax" and i == len(layers) - 1:
                pass  # the argmax of the logits is the argmax of the softmax
            elif fn != "linear":
                raise SystemExit(f"{path}: layer '{name}': activation '{fn}' is not built for peers")
        elif kind == "dropout":
            if mode == "scale-at-test":
                raise SystemExit(f"{path}: layer '{name}': 'scale-at-test' dropout is not built for peers")
        else:
            raise SystemExit(f"{path}: layer '{name}': kind '{kind}' is not built for peers")
    return nn.Sequential(*mods).eval()


def to_keras(path, keras):
    """A channels-last Keras model equal to the model file's inference function (for SNN Toolbox,
    which reads Keras): kernels transposed to (kh, kw, in, out); the rows of a dense layer after a
    flatten reordered from somnet's C, H, W order to Keras' H, W, C order."""
    shape, mode, layers = read(path)
    L = keras.layers
    cur = list(shape)
    x = inp = keras.Input(shape=tuple(cur[1:] + cur[:1]) if len(cur) == 3 else tuple(cur))
    pending_weights = []
    flat_from = None  # the [C, H, W] a flatten saw, until the next dense consumes it
    for i, rec in enumerate(layers):
        kind, name = rec["kind"], rec["name"]
        if kind == "dense":
            w = rec["weights"]  # [out, in]
            if flat_from is not None:
                c, h, wd = flat_from
                w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
                flat_from = None
            layer = L.Dense(w.shape[0], use_bias="bias" in rec, name=name)
            x = layer(x)
            pending_weights.append((layer, [w.T] + ([rec["bias"]] if "bias" in rec else [])))
            cur = [w.shape[0]]
        elif kind == "conv2d":
            w = rec["weights"]
            layer = L.Conv2D(w.shape[0], tuple(w.shape[2:]), strides=tuple(rec.get("stride", [1, 1])),
                             padding=rec.get("padding", "valid"), use_bias="bias" in rec, name=name)
            x = layer(x)
            pending_weights.append(
                (layer, [w.transpose(2, 3, 1, 0)] + ([rec["bias"]] if "bias" in rec else [])))
            cur = [w.shape[0]] + list(x.shape[1:3])
        elif kind in ("avgpool2d", "maxpool2d"):
            cls = L.AveragePooling2D if kind == "avgpool2d" else L.MaxPooling2D
            x = cls(tuple(rec["size"]), tuple(rec.get("stride", rec["size"])),
                    padding=rec.get("padding", "valid"), name=name)(x)
            cur = [cur[0]] + list(x.shape[1:3])
        elif kind == "flatten":
            flat_from = list(cur)
            x = L.Flatten(name=name)(x)
            cur = [int(np.prod(cur))]
        elif kind == "batchnorm":
            if flat_from is not None:
                raise SystemExit(f"{path}: layer '{name}': batch norm between flatten and dense")
            layer = L.BatchNormalization(epsilon=rec.get("eps", 1e-3), name=name)
            x = layer(x)
            pending_weights.append((layer, [rec["gamma"], rec["beta"], rec["moving_mean"],
                                            rec["moving_variance"]]))
        elif kind == "activation":
            x = L.Activation(rec.get("function", "linear"), name=name)(x)
        elif kind == "dropout":
            if mode == "scale-at-test":
                raise SystemExit(f"{path}: layer '{name}': 'scale-at-test' dropout is not built for peers")
            x = L.Dropout(rec.get("rate", 0.0), name=name)(x)
        else:
            raise SystemExit(f"{path}: layer '{name}': kind '{kind}' is not built for peers")
    model = keras.Model(inp, x)
    for layer, weights in pending_weights:
        layer.set_weights(weights)
    return model
