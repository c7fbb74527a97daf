"""Writing somnet model files (format version 1, see SCHEMA.md) with h5py.

Both exporters build a list of layer records and hand it to `write`. A record is a dict with
`name`, `kind` and the kind's datasets (numpy arrays) and attributes, exactly as SCHEMA.md names
them. Nothing here knows about Keras or PyTorch.
"""

import json

import h5py
import numpy as np

FORMAT = "somnet-model"
FORMAT_VERSION = 1

DATASETS = {
    "dense": ("weights", "bias"),
    "conv2d": ("weights", "bias"),
    "batchnorm": ("gamma", "beta", "moving_mean", "moving_variance"),
    "qcfs": ("lambda",),
}
INT_ARRAYS = ("stride", "size", "pad", "inputs", "levels")
FLOATS = ("eps", "momentum", "rate")
STRINGS = ("padding", "function")


def write(path, input_shape, layers, exporter, provenance=None, dropout_mode="inverted"):
    """Writes `layers` (records as described above) to `path` as a somnet model file."""
    names = [layer["name"] for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names are not unique: {names}")
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["somnet_version"] = exporter
        f.attrs["input_shape"] = np.asarray(input_shape, dtype=np.int64)
        f.attrs["dropout_mode"] = dropout_mode
        if provenance is not None:
            f.attrs["provenance"] = json.dumps({"somnet_version": exporter, "record": provenance})
        for i, layer in enumerate(layers):
            g = f.create_group(f"layers/{i:03d}")
            g.attrs["name"] = layer["name"]
            g.attrs["kind"] = layer["kind"]
            for key in DATASETS.get(layer["kind"], ()):
                value = layer.get(key)
                if value is None:
                    continue
                array = np.ascontiguousarray(value, dtype="<f4")
                if not np.all(np.isfinite(array)):
                    raise ValueError(f"layer '{layer['name']}': {key} holds NaN or infinite values")
                g.create_dataset(key, data=array)
            for key in INT_ARRAYS:
                if key in layer:
                    g.attrs[key] = np.atleast_1d(np.asarray(layer[key], dtype=np.int64))
            for key in FLOATS:
                if key in layer:
                    g.attrs[key] = np.float64(layer[key])
            for key in STRINGS:
                if key in layer:
                    g.attrs[key] = layer[key]


def same_padding_before(size, kernel, stride):
    """TensorFlow's 'same' rule along one axis: (output size, padding before)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def valid_extent(size, kernel, stride):
    """Output size of a 'valid' window along one axis."""
    if size < kernel:
        raise ValueError(f"a window of {kernel} does not fit an input of {size}")
    return (size - kernel) // stride + 1
