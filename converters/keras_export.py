#!/usr/bin/env python3
"""Export a Keras model (Keras 2 / tf.keras or Keras 3, any backend) to a somnet model file.

    python keras_export.py model.h5 out.h5        # or a Keras 3 .keras archive
    python -c "import keras_export; keras_export.export(model, 'out.h5')"

Keras is channels-last; somnet is NCHW. Convolution kernels are transposed from
(kh, kw, C_in, C_out) to (C_out, C_in, kh, kw), and the features that a Flatten produces in H, W, C
order are reordered to C, H, W order for the Dense layer that reads them (and for a batch norm in
between). Supported layers: InputLayer, Dense, Conv2D, AveragePooling2D, MaxPooling2D, Flatten,
BatchNormalization (channel axis), Activation / ReLU / Softmax (relu, softmax, linear), Dropout,
ZeroPadding2D, GlobalAveragePooling2D, Add, Concatenate (channel axis), and a layer of class `QCFS`
(`levels` in its config, one scalar weight: Bu et al.'s activation). A model may be Sequential or a
Functional graph with one input and one output (residual junctions, concatenations, fan-out);
models used as layers are flattened, their layers named `model/layer`. Anything else, a layer
called twice (shared weights) included, is refused by name.
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


def _histories(value, out):
    """Appends the producing layer name of every Keras 3 tensor record found in `value`."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            out.append(value["config"]["keras_history"][0])
        else:
            for v in value.values():
                _histories(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _histories(v, out)
    return out


def _inbound(entry):
    """The names of the layers read by one Functional config entry (Keras 2 or 3 layout)."""
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise ValueError(f"layer '{entry['name']}' is called {len(nodes)} times: a layer applied more than "
                         "once (shared weights) is not supported")
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return _histories(node.get("args", []), [])
    return [item[0] for item in node]  # Keras 2: [[name, node index, tensor index, kwargs], ...]


def _endpoints(value):
    """Layer names of a config's input_layers / output_layers (one [name, i, j] or a list of them)."""
    if value and isinstance(value[0], str):
        return [value[0]]
    return [v[0] for v in value]


def _nodes(model, refs, prefix, out):
    """Appends (qualified name, layer, [references read]) for every layer of `model` in a topological
    order, models used as layers flattened ('outer/inner' names); returns the reference of the
    model's output. `refs` are the references the model's inputs stand for."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        (ref,) = refs
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            if isinstance(layer, keras.Model):
                ref = _nodes(layer, [ref], f"{prefix}{layer.name}/", out)
            else:
                out.append((prefix + layer.name, layer, [ref]))
                ref = prefix + layer.name
        return ref
    config = model.get_config()
    inputs, outputs = _endpoints(config["input_layers"]), _endpoints(config["output_layers"])
    if len(inputs) != len(refs) or len(outputs) != 1:
        raise ValueError(f"model '{model.name}' has {len(inputs)} inputs and {len(outputs)} outputs: "
                         "one input and one output are supported")
    where = dict(zip(inputs, refs))
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            continue
        read = [where[n] for n in _inbound(entry)]
        layer = model.get_layer(name)
        if isinstance(layer, keras.Model):
            where[name] = _nodes(layer, read, f"{prefix}{name}/", out)
        else:
            out.append((prefix + name, layer, read))
            where[name] = prefix + name
    return where[outputs[0]]


def records(model):
    """(input shape in somnet's order, layer records) for a Keras model: a chain, or a graph whose
    records carry `inputs` (residual Add, channel Concatenate, fan-out, models used as layers)."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        input_shape = model.input_shape
    else:
        shapes = model.input_shape
        if isinstance(shapes, list):
            if len(shapes) != 1:
                raise ValueError(f"model '{model.name}' has {len(shapes)} inputs: one is supported")
            shapes = shapes[0]
        input_shape = shapes
    shape = tuple(int(d) for d in input_shape[1:])
    if len(shape) == 2:
        shape = shape + (1,)
    somnet_shape = [shape[0]] if len(shape) == 1 else [shape[2], shape[0], shape[1]]
    nodes = []
    output = _nodes(model, ["<input>"], "", nodes)
    out = []
    # Per reference: (record index, shape in Keras order, the H, W, C of an image a Flatten turned
    # into features in H, W, C order, or None).
    tensors = {"<input>": (-1, shape, None)}

    def push(name, kind, inputs, **fields):
        out.append(dict(name=name, kind=kind, inputs=inputs, **fields))
        return len(out) - 1

    for name, layer, refs in nodes:
        cls = type(layer).__name__
        cfg = layer.get_config()
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"layer '{name}': data_format {cfg['data_format']} is not supported")
        src = [tensors[r] for r in refs]
        if cls not in ("Add", "Concatenate") and len(src) != 1:
            raise ValueError(f"layer '{name}' ({cls}) reads {len(src)} inputs, expected one")
        index, shape, pending = src[0]
        inputs = [s[0] for s in src]

        def activation(i, fused):
            act = _activation_name(layer)
            if act == "linear":
                return i
            return push(f"{name}_{act}" if fused else name, "activation", [i], function=act)

        if cls == "Dense":
            if len(shape) != 1:
                raise ValueError(f"layer '{name}': Dense on an image needs a Flatten first")
            kernel, *rest = layer.get_weights()
            w = kernel.T
            if pending is not None:
                w = w[:, _chw_from_hwc(*pending)]
            i = push(name, "dense", inputs, weights=w, bias=rest[0] if rest else None)
            tensors[name] = (activation(i, True), (w.shape[0],), None)
        elif cls in ("Conv2D", "Convolution2D"):
            if _pair(cfg.get("dilation_rate", 1)) != (1, 1) or cfg.get("groups", 1) != 1:
                raise ValueError(f"layer '{name}': dilation and groups are not supported")
            if cfg["padding"] not in ("valid", "same"):
                raise ValueError(f"layer '{name}': padding {cfg['padding']} is not supported")
            if len(shape) != 3:
                raise ValueError(f"layer '{name}': Conv2D reads an image, found features of shape {shape}")
            kernel, *rest = layer.get_weights()
            kh, kw, _, c_out = kernel.shape
            sh, sw = _pair(cfg["strides"])
            i = push(name, "conv2d", inputs, weights=kernel.transpose(3, 2, 0, 1),
                     bias=rest[0] if rest else None, stride=(sh, sw), padding=cfg["padding"])
            shape = _spatial(shape, (kh, kw), (sh, sw), cfg["padding"]) + (c_out,)
            tensors[name] = (activation(i, True), shape, None)
        elif cls in ("AveragePooling2D", "AvgPool2D", "MaxPooling2D", "MaxPool2D"):
            size = _pair(cfg["pool_size"])
            stride = _pair(cfg["strides"] or size)
            if cfg["padding"] not in ("valid", "same"):
                raise ValueError(f"layer '{name}': padding {cfg['padding']} is not supported")
            kind = "maxpool2d" if cls.startswith("Max") else "avgpool2d"
            i = push(name, kind, inputs, size=size, stride=stride, padding=cfg["padding"])
            tensors[name] = (i, _spatial(shape, size, stride, cfg["padding"]) + (shape[2],), None)
        elif cls in ("GlobalAveragePooling2D", "GlobalAvgPool2D"):
            if cfg.get("keepdims"):
                raise ValueError(f"layer '{name}': global pooling with keepdims=True is not supported")
            tensors[name] = (push(name, "globalavgpool2d", inputs), (shape[2],), None)
        elif cls == "ZeroPadding2D":
            (top, bottom), (left, right) = (_pair(p) for p in cfg["padding"])
            i = push(name, "zeropad2d", inputs, pad=(top, bottom, left, right))
            tensors[name] = (i, (shape[0] + top + bottom, shape[1] + left + right, shape[2]), None)
        elif cls == "Add":
            if len({s[1] for s in src}) != 1 or len({s[2] for s in src}) != 1:
                raise ValueError(f"layer '{name}': the inputs' shapes {[s[1] for s in src]} differ")
            tensors[name] = (push(name, "add", inputs), shape, pending)
        elif cls == "Concatenate":
            if any(s[2] is not None for s in src):
                raise ValueError(f"layer '{name}': concatenating flattened images is not supported")
            if cfg.get("axis", -1) not in (-1, len(shape)):
                raise ValueError(f"layer '{name}': concatenation along axis {cfg['axis']}; only the "
                                 "channel (last) axis is supported")
            if len({s[1][:-1] for s in src}) != 1:
                raise ValueError(f"layer '{name}': the inputs' shapes {[s[1] for s in src]} differ "
                                 "outside the channel axis")
            shape = shape[:-1] + (sum(s[1][-1] for s in src),)
            tensors[name] = (push(name, "concatenate", inputs), shape, None)
        elif cls == "Flatten":
            if len(shape) == 3:
                i = push(name, "flatten", inputs)
                tensors[name] = (i, (int(np.prod(shape)),), shape)
            else:
                tensors[name] = src[0]
        elif cls == "BatchNormalization":
            axis = cfg["axis"]
            axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
            if axis not in (-1, len(shape)):
                raise ValueError(f"layer '{name}': batch norm over axis {cfg['axis']} is not supported")
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
            i = push(name, "batchnorm", inputs, eps=cfg["epsilon"], momentum=cfg["momentum"], **fields)
            tensors[name] = (i, shape, pending)
        elif cls == "Activation":
            tensors[name] = (activation(index, False), shape, pending)
        elif cls == "ReLU":
            if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                raise ValueError(f"layer '{name}': ReLU with max_value/negative_slope/threshold is not supported")
            tensors[name] = (push(name, "activation", inputs, function="relu"), shape, pending)
        elif cls == "Softmax":
            tensors[name] = (push(name, "activation", inputs, function="softmax"), shape, pending)
        elif cls == "Dropout":
            tensors[name] = (push(name, "dropout", inputs, rate=cfg["rate"]), shape, pending)
        elif cls == "QCFS":
            # Bu et al.'s activation as somnet's importer recognises it: `levels` in the config,
            # the scalar weight `lambda` (its only weight).
            (lam,) = [np.asarray(v, dtype=np.float32).reshape(1) for v in layer.weights]
            i = push(name, "qcfs", inputs, levels=int(cfg["levels"]), **{"lambda": lam})
            tensors[name] = (i, shape, pending)
        else:
            raise ValueError(f"layer '{name}': layer class {cls} is not supported")
    if tensors[output][0] != len(out) - 1:
        raise ValueError(f"the model's output '{output}' is not its last layer: a branch leads nowhere")
    read = {j for r in out for j in r["inputs"]}
    unused = [r["name"] for k, r in enumerate(out[:-1]) if k not in read]
    if unused:
        raise ValueError(f"layers {unused} are not read by any later layer")
    chain = all(r["inputs"] == [k - 1] for k, r in enumerate(out))
    for r in out:
        inputs = r.pop("inputs")
        if not chain:
            r["inputs"] = inputs
    return somnet_shape, out


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
