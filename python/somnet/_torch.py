"""PyTorch networks traced with torch.fx into layer records of somnet's model-file schema
(`converters/SCHEMA.md`): a list of dicts with `name`, `kind` and the kind's arrays and attributes.

`somnet.from_torch` hands the records to the library in memory; `converters/torch_export.py`
writes them to a file. Both therefore see the same network. This module imports nothing from the
somnet package, so the exporter can load it by path.

Chains and graphs are traced: an `nn.Sequential`, a module whose `forward` applies its layers one
after another, and torchvision-style residual networks (`out += identity`, `torch.add`,
`torch.cat(..., 1)`, a `downsample` Sequential, a ReLU module called twice). Supported modules:
Linear, Conv2d, BatchNorm1d, BatchNorm2d, AvgPool2d, MaxPool2d, AdaptiveAvgPool2d to 1×1 (global
average pooling), ZeroPad2d, Flatten, ReLU, Dropout, Softmax, Identity, and QCFS activations
(`_qcfs`: a module class `QCFS` with `levels` and `lambda_`, or Bu et al.'s `IF` with `L` and
`thresh`); functions: relu, add,
cat on the channel axis, flatten, `view(x.size(0), -1)`, `mean((2, 3))`, adaptive average pooling
to 1. PyTorch is NCHW like somnet, so weights are taken as they are. A convolution's explicit
padding becomes 'same' when it gives exactly TensorFlow's 'same' result for the traced input size,
and a zero padding in front of a 'valid' convolution otherwise (PyTorch pads both sides equally).
Anything else is refused by layer name. A chain's records carry no `inputs`; a graph's carry them
on every layer (−1: the network input; k: layer k).
"""

import operator

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F


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


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _np(t):
    return t.detach().cpu().numpy().astype(np.float32)


class _Graph:
    """The records traced so far; a value is (index of the layer that made it, −1 for the input;
    its per-sample shape)."""

    def __init__(self):
        self.layers = []
        self.names = set()

    def unique(self, name, fallback):
        """`name`, or `fallback` if a layer has it already (a module called twice)."""
        return fallback if name in self.names else name

    def push(self, name, kind, inputs, shape, **fields):
        """Appends a layer reading `inputs` (values); returns its value of shape `shape`."""
        self.names.add(name)
        self.layers.append(dict(name=name, kind=kind, inputs=[v[0] for v in inputs], **fields))
        return (len(self.layers) - 1, tuple(shape))

    def conv_padding(self, name, size, k, s, p):
        """(mode, pad before/after, output size) for PyTorch's symmetric padding p on one axis:
        'same' when it is exactly TensorFlow's rule here, else 'valid' after a zero padding."""
        if p == 0:
            return "valid", 0, valid_extent(size, k, s)
        out, before = same_padding_before(size, k, s)
        torch_out = (size + 2 * p - k) // s + 1
        if before == p and torch_out == out:
            return "same", 0, out
        return "valid", p, valid_extent(size + 2 * p, k, s)

    def module(self, name, m, x):
        """The value of module `m` called on value `x`."""
        shape = x[1]
        if isinstance(m, nn.Linear):
            if len(shape) != 1:
                raise ValueError(f"layer '{name}': Linear on an image needs a Flatten first")
            return self.push(name, "dense", [x], (m.out_features,), weights=_np(m.weight),
                             bias=None if m.bias is None else _np(m.bias))
        if isinstance(m, nn.Conv2d):
            if _pair(m.dilation) != (1, 1) or m.groups != 1 or m.padding_mode != "zeros":
                raise ValueError(f"layer '{name}': dilation, groups and padding modes are not supported")
            if len(shape) != 3:
                raise ValueError(f"layer '{name}': Conv2d needs an image input, got shape {shape}")
            c, h, w = shape
            kh, kw = _pair(m.kernel_size)
            sh, sw = _pair(m.stride)
            if m.padding == "same":
                ph, pw = (kh - 1) // 2, (kw - 1) // 2
            elif m.padding == "valid":
                ph, pw = 0, 0
            else:
                ph, pw = _pair(m.padding)
            mode_h, pad_h, oh = self.conv_padding(name, h, kh, sh, ph)
            mode_w, pad_w, ow = self.conv_padding(name, w, kw, sw, pw)
            if mode_h != mode_w or (pad_h or pad_w):
                # PyTorch pads both sides equally: a zero padding, then a 'valid' convolution.
                mode_h = "valid"
                pad_h, pad_w = ph, pw
                oh = valid_extent(h + 2 * ph, kh, sh)
                ow = valid_extent(w + 2 * pw, kw, sw)
                x = self.push(self.unique(f"{name}.pad", f"{name}.pad_{len(self.layers)}"), "zeropad2d", [x],
                              (c, h + 2 * ph, w + 2 * pw), pad=(ph, ph, pw, pw))
            return self.push(name, "conv2d", [x], (m.out_channels, oh, ow), weights=_np(m.weight),
                             bias=None if m.bias is None else _np(m.bias), stride=(sh, sw), padding=mode_h)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            if shape[0] != n or (isinstance(m, nn.BatchNorm2d) != (len(shape) == 3)):
                raise ValueError(f"layer '{name}': {type(m).__name__}({n}) does not fit input shape {shape}")
            return self.push(name, "batchnorm", [x], shape,
                             gamma=_np(m.weight) if m.affine else np.ones(n),
                             beta=_np(m.bias) if m.affine else np.zeros(n),
                             moving_mean=_np(m.running_mean), moving_variance=_np(m.running_var),
                             eps=m.eps, momentum=1.0 - (m.momentum if m.momentum is not None else 0.1))
        if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            size = _pair(m.kernel_size)
            stride = _pair(m.stride if m.stride is not None else m.kernel_size)
            if _pair(m.padding) != (0, 0) or m.ceil_mode or _pair(getattr(m, "dilation", 1)) != (1, 1):
                raise ValueError(f"layer '{name}': pooling padding, ceil_mode and dilation are not supported")
            c, h, w = shape
            kind = "maxpool2d" if isinstance(m, nn.MaxPool2d) else "avgpool2d"
            out = (c, valid_extent(h, size[0], stride[0]), valid_extent(w, size[1], stride[1]))
            return self.push(name, kind, [x], out, size=size, stride=stride, padding="valid")
        if isinstance(m, nn.AdaptiveAvgPool2d):
            if _pair(m.output_size) != (1, 1):
                raise ValueError(f"layer '{name}': AdaptiveAvgPool2d to {m.output_size}: only 1×1 (global "
                                 "average pooling) is supported")
            return self.gap(name, x)
        if isinstance(m, nn.ZeroPad2d):
            left, right, top, bottom = (int(p) for p in m.padding)
            c, h, w = shape
            return self.push(name, "zeropad2d", [x], (c, top + h + bottom, left + w + right),
                             pad=(top, bottom, left, right))
        if isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ValueError(f"layer '{name}': Flatten must use start_dim=1, end_dim=-1")
            return self.flatten(name, x)
        if isinstance(m, nn.ReLU):
            return self.push(name, "activation", [x], shape, function="relu")
        if isinstance(m, nn.Softmax):
            return self.push(name, "activation", [x], shape, function="softmax")
        if isinstance(m, nn.Dropout):
            return self.push(name, "dropout", [x], shape, rate=m.p)
        if isinstance(m, nn.Identity):
            return x
        qcfs = _qcfs(name, m)
        if qcfs is not None:
            levels, lam = qcfs
            return self.push(name, "qcfs", [x], shape, levels=levels, **{"lambda": np.array([lam], np.float32)})
        raise ValueError(f"layer '{name}': module {type(m).__name__} is not supported")

    def gap(self, name, x):
        if len(x[1]) != 3:
            raise ValueError(f"layer '{name}': global average pooling needs an image, got shape {x[1]}")
        return self.push(name, "globalavgpool2d", [x], (x[1][0],))

    def flatten(self, name, x):
        # A global pooling's [C] is PyTorch's [C, 1, 1] already flat.
        if len(x[1]) == 3:
            return self.push(name, "flatten", [x], (int(np.prod(x[1])),))
        return x

    def add(self, name, values):
        shapes = {v[1] for v in values}
        if len(shapes) != 1:
            raise ValueError(f"'{name}': adds values of shapes {sorted(shapes)}")
        return self.push(name, "add", values, values[0][1])

    def cat(self, name, values, dim):
        rank = len(values[0][1])
        if dim not in (1, 1 - (rank + 1)) or any(len(v[1]) != rank for v in values):
            raise ValueError(f"'{name}': torch.cat along dim {dim}: only the channel axis (1) is supported")
        if any(v[1][1:] != values[0][1][1:] for v in values):
            raise ValueError(f"'{name}': concatenates shapes {[v[1] for v in values]}")
        shape = (sum(v[1][0] for v in values),) + values[0][1][1:]
        return self.push(name, "concatenate", values, shape)

    def records(self):
        """The records; `inputs` only where the layers do not form a chain."""
        chain = all(r["inputs"] == [i - 1] for i, r in enumerate(self.layers))
        if chain:
            for r in self.layers:
                del r["inputs"]
        return self.layers


def _qcfs_class(m):
    """Whether `m` is a QCFS activation module (traced whole, not through its forward)."""
    kind = type(m).__name__
    return kind.lower() == "qcfs" or (kind == "IF" and getattr(m, "T", 0) == 0)


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping QCFS activation modules whole."""

    def is_leaf_module(self, m, qualname):
        return _qcfs_class(m) or super().is_leaf_module(m, qualname)


def _qcfs(name, m):
    """(levels, λ) of a QCFS activation module, or None. Recognised: a module whose class is named
    `QCFS` with attributes `levels` (or `L`) and a one-element threshold `lambda_` (or `thresh`,
    `up`), and the activation of Bu et al.'s code (ICLR 2022), a class `IF` with `L` and `thresh`
    used as an ANN activation (its `T` 0)."""
    kind = type(m).__name__
    if not _qcfs_class(m):
        return None
    levels = next((getattr(m, a) for a in ("levels", "L") if hasattr(m, a)), None)
    lam = next((getattr(m, a) for a in ("lambda_", "thresh", "up") if hasattr(m, a)), None)
    if levels is None or lam is None:
        raise ValueError(f"layer '{name}': a {kind} module needs `levels` (or `L`) and a threshold "
                         "`lambda_` (or `thresh`, `up`) to be read as a QCFS activation")
    lam = torch.as_tensor(lam).detach().cpu().reshape(-1)
    if lam.numel() != 1 or not float(lam[0]) > 0 or int(levels) < 1:
        raise ValueError(f"layer '{name}': QCFS threshold {lam.tolist()} and levels {levels}: expected one "
                         "threshold > 0 and levels ≥ 1")
    return int(levels), float(lam[0])


def _is_size(a):
    return isinstance(a, torch.fx.Node) and a.op == "call_method" and a.target == "size"


def records(net, input_shape):
    """The layer records of `net` for one sample of `input_shape` (C, H, W) or (F,)."""
    net = net.eval()
    graph = _Tracer().trace(net)
    modules = dict(net.named_modules())
    g = _Graph()
    values = {}
    output = None

    def value(a, node):
        if not isinstance(a, torch.fx.Node) or a not in values:
            raise ValueError(f"'{node.name}': reads {a!r}, which is not a traced tensor")
        return values[a]

    for node in graph.nodes:
        if node.op == "placeholder":
            if values:
                raise ValueError(f"'{node.name}': the network takes more than one input")
            values[node] = (-1, tuple(input_shape))
            continue
        if node.op == "output":
            output = value(node.args[0], node)
            break
        if _is_size(node):
            continue
        args = node.args
        tensors = [a for a in args if isinstance(a, torch.fx.Node) and not _is_size(a)]
        target = node.target
        if node.op == "call_module":
            name = g.unique(str(target), node.name)
            out = g.module(name, modules[target], value(args[0], node))
        elif target in (torch.relu, F.relu, "relu", "relu_"):
            out = g.push(node.name, "activation", [value(args[0], node)], value(args[0], node)[1], function="relu")
        elif target in (operator.add, operator.iadd, torch.add, "add", "add_"):
            if len(tensors) != 2 or len(args) != 2 or node.kwargs:
                raise ValueError(f"'{node.name}': only the sum of two tensors is supported")
            out = g.add(node.name, [value(a, node) for a in tensors])
        elif target is torch.cat:
            parts = args[0]
            dim = args[1] if len(args) > 1 else node.kwargs.get("dim", 0)
            out = g.cat(node.name, [value(a, node) for a in parts], dim)
        elif target in (torch.flatten, "flatten") and tuple(args[1:]) in ((1,), (1, -1)):
            out = g.flatten(node.name, value(args[0], node))
        elif target in ("view", "reshape") and len(args) == 3 and args[2] == -1:
            out = g.flatten(node.name, value(args[0], node))
        elif target is F.adaptive_avg_pool2d and _pair(args[1] if len(args) > 1 else node.kwargs["output_size"]) == (1, 1):
            out = g.gap(node.name, value(args[0], node))
        elif target in (torch.mean, "mean") and tuple(args[1] if len(args) > 1 else node.kwargs.get("dim", ())) in (
                (2, 3), (-2, -1)):
            out = g.gap(node.name, value(args[0], node))
        elif target is F.dropout:
            out = value(args[0], node)
        else:
            raise ValueError(f"'{node.name}': operation {target} is not supported")
        values[node] = out
    if output is None or output[0] != len(g.layers) - 1:
        raise ValueError("the network's output is not its last traced layer")
    return g.records()
