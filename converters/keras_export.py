#!/usr/bin/env python3
"""Export a Keras model (Keras 2 / tf.keras or Keras 3, any backend) to a somnet model file.

    python keras_export.py model.h5 out.h5        # or a Keras 3 .keras archive
    python -c "import keras_export; keras_export.export(model, 'out.h5')"

Keras is channels-last; somnet is NCHW. Convolution kernels are transposed from
(kh, kw, C_in, C_out) to (C_out, C_in, kh, kw), and the features that a Flatten produces in H, W, C
order are reordered to C, H, W order for the first Dense layer after it (and for a batch norm in
between). Supported layers: InputLayer, Dense, Conv2D, AveragePooling2D, MaxPooling2D, Flatten,
BatchNormalization (channel axis), Activation / ReLU / Softmax (relu, softmax, linear), Dropout; a
model must be a chain (Sequential, or Functional without branches).
"""

import argparse
import sys

import numpy as np

import somnet_h5

ACTIVATIONS = {"relu": "relu", "softmax": "softmax", "linear": "linear"}


def _keras():
    try:
        import keras  # Keras 3, or Keras 2 with TF >= 2.13
    except ImportError:  # pragma: no cover - older TensorFlow
        from tensorflow import keras
    return keras


def _activation_name(layer):
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    name = getattr(act, "__name__", str(act))
    if name not in ACTIVATIONS:
        raise ValueError(f"layer '{layer.name}': activation '{name}' is not supported (relu, softmax, linear)")
    return name


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _chw_from_hwc(h, w, c):
    """For each feature in C, H, W order, its index in H, W, C order."""
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def _check_chain(model):
    """Refuses branching Functional models, naming the layer."""
    consumers = {}
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            parents = getattr(node, "parent_nodes", None)
            inbound = getattr(node, "inbound_layers", None)
            names = []
            if parents is not None:
                names = [p.operation.name if hasattr(p, "operation") else p.layer.name for p in parents]
            elif inbound is not None:
                inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
                names = [l.name for l in inbound]
            if len(names) > 1:
                raise ValueError(f"layer '{layer.name}' takes {len(names)} inputs: branching graphs are not supported")
            for n in names:
                consumers.setdefault(n, []).append(layer.name)
    for name, users in consumers.items():
        if len(users) > 1:
            raise ValueError(f"layer '{name}' feeds {users}: branching graphs are not supported")


def records(model):
    """(input shape in somnet's order, layer records) for a Keras model."""
    _check_chain(model)
    shape = tuple(int(d) for d in model.input_shape[1:])
    if len(shape) == 2:
        shape = shape + (1,)
    input_shape = [shape[0]] if len(shape) == 1 else [shape[2], shape[0], shape[1]]
    out, pending = [], None

    def push(name, kind, **fields):
        out.append(dict(name=name, kind=kind, **fields))

    def activation(layer, fused):
        name = _activation_name(layer)
        if name != "linear":
            push(f"{layer.name}_{name}" if fused else layer.name, "activation", function=name)

    for layer in model.layers:
        cls = type(layer).__name__
        cfg = layer.get_config()
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"layer '{layer.name}': data_format {cfg['data_format']} is not supported")
        if cls == "InputLayer":
            continue
        if cls == "Dense":
            if len(shape) != 1:
                raise ValueError(f"layer '{layer.name}': Dense on an image needs a Flatten first")
            kernel, *rest = layer.get_weights()
            w = kernel.T
            if pending is not None:
                w = w[:, _chw_from_hwc(*pending)]
                pending = None
            push(layer.name, "dense", weights=w, bias=rest[0] if rest else None)
            shape = (w.shape[0],)
            activation(layer, True)
        elif cls in ("Conv2D", "Convolution2D"):
            if _pair(cfg.get("dilation_rate", 1)) != (1, 1) or cfg.get("groups", 1) != 1:
                raise ValueError(f"layer '{layer.name}': dilation and groups are not supported")
            if cfg["padding"] not in ("valid", "same"):
                raise ValueError(f"layer '{layer.name}': padding {cfg['padding']} is not supported")
            kernel, *rest = layer.get_weights()
            kh, kw, _, c_out = kernel.shape
            sh, sw = _pair(cfg["strides"])
            push(layer.name, "conv2d", weights=kernel.transpose(3, 2, 0, 1), bias=rest[0] if rest else None,
                 stride=(sh, sw), padding=cfg["padding"])
            shape = _spatial(shape, (kh, kw), (sh, sw), cfg["padding"]) + (c_out,)
            activation(layer, True)
        elif cls in ("AveragePooling2D", "AvgPool2D", "MaxPooling2D", "MaxPool2D"):
            size = _pair(cfg["pool_size"])
            stride = _pair(cfg["strides"] or size)
            if cfg["padding"] not in ("valid", "same"):
                raise ValueError(f"layer '{layer.name}': padding {cfg['padding']} is not supported")
            kind = "maxpool2d" if cls.startswith("Max") else "avgpool2d"
            push(layer.name, kind, size=size, stride=stride, padding=cfg["padding"])
            shape = _spatial(shape, size, stride, cfg["padding"]) + (shape[2],)
        elif cls == "Flatten":
            if len(shape) == 3:
                pending = shape
                push(layer.name, "flatten")
                shape = (int(np.prod(shape)),)
        elif cls == "BatchNormalization":
            axis = cfg["axis"]
            axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
            if axis not in (-1, len(shape)):
                raise ValueError(f"layer '{layer.name}': batch norm over axis {cfg['axis']} is not supported")
            values = {v.name.split("/")[-1].split(":")[0]: np.asarray(v) for v in layer.weights}
            n = shape[-1]
            fields = dict(
                gamma=values.get("gamma", np.ones(n)),
                beta=values.get("beta", np.zeros(n)),
                moving_mean=values["moving_mean"],
                moving_variance=values["moving_variance"],
            )
            if pending is not None:
                order = _chw_from_hwc(*pending)
                fields = {k: v[order] for k, v in fields.items()}
            push(layer.name, "batchnorm", eps=cfg["epsilon"], momentum=cfg["momentum"], **fields)
        elif cls == "Activation":
            activation(layer, False)
        elif cls == "ReLU":
            if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                raise ValueError(f"layer '{layer.name}': ReLU with max_value/negative_slope/threshold is not supported")
            push(layer.name, "activation", function="relu")
        elif cls == "Softmax":
            push(layer.name, "activation", function="softmax")
        elif cls == "Dropout":
            push(layer.name, "dropout", rate=cfg["rate"])
        else:
            raise ValueError(f"layer '{layer.name}': layer class {cls} is not supported")
    return input_shape, out


def _spatial(shape, k, s, padding):
    h, w = shape[0], shape[1]
    if padding == "same":
        return (somnet_h5.same_padding_before(h, k[0], s[0])[0], somnet_h5.same_padding_before(w, k[1], s[1])[0])
    return (somnet_h5.valid_extent(h, k[0], s[0]), somnet_h5.valid_extent(w, k[1], s[1]))


def export(model, path, provenance=None):
    """Writes `model` to `path` as a somnet model file."""
    keras = _keras()
    input_shape, layers = records(model)
    exporter = f"exporter keras_export.py (Keras {keras.__version__})"
    somnet_h5.write(path, input_shape, layers, exporter, provenance, dropout_mode="inverted")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="Keras model file (.h5 or .keras)")
    parser.add_argument("out", help="somnet model file to write")
    args = parser.parse_args(argv)
    keras = _keras()
    model = keras.models.load_model(args.model, compile=False)
    export(model, args.out, provenance={"exported_from": args.model, "keras_version": keras.__version__})
    print(f"wrote {args.out}: {len(model.layers)} Keras layers")


if __name__ == "__main__":
    sys.exit(main())
