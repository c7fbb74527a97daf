"""PyTorch networks traced with torch.fx into layer records of somnet's model-file schema
(`converters/SCHEMA.md`): a list of dicts with `name`, `kind` and the kind's arrays and attributes.

`somnet.from_torch` hands the records to the library in memory; `converters/torch_export.py`
writes them to a file. Both therefore see the same network. This module imports nothing from the
somnet package, so the exporter can load it by path.

An `nn.Sequential` or a module whose `forward` applies its layers one after another (with
`torch.relu`, `F.relu`, `torch.flatten(x, 1)` or `x.view(x.size(0), -1)` between them) is traced.
Supported modules: Linear, Conv2d, BatchNorm1d, BatchNorm2d, AvgPool2d, MaxPool2d, Flatten, ReLU,
Dropout, Softmax, Identity. PyTorch is NCHW like somnet, so weights are taken as they are; an
explicit convolution padding becomes 'same' when it gives exactly TensorFlow's 'same' result for
the traced input size, and is refused otherwise. Anything else is refused by layer name.
"""

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


class _Chain:
    def __init__(self, input_shape):
        self.shape = tuple(input_shape)
        self.layers = []

    def push(self, name, kind, **fields):
        self.layers.append(dict(name=name, kind=kind, **fields))

    def padding(self, name, size, k, s, p):
        """'valid' or 'same' for an explicit symmetric padding p, or an error."""
        if p == 0:
            return "valid", valid_extent(size, k, s)
        out, before = same_padding_before(size, k, s)
        torch_out = (size + 2 * p - k) // s + 1
        if before == p and torch_out == out:
            return "same", out
        raise ValueError(f"layer '{name}': padding {p} is neither 0 nor TensorFlow's 'same' for input size {size}")

    def module(self, name, m):
        if isinstance(m, nn.Linear):
            if len(self.shape) != 1:
                raise ValueError(f"layer '{name}': Linear on an image needs a Flatten first")
            self.push(name, "dense", weights=_np(m.weight), bias=None if m.bias is None else _np(m.bias))
            self.shape = (m.out_features,)
        elif isinstance(m, nn.Conv2d):
            if _pair(m.dilation) != (1, 1) or m.groups != 1 or m.padding_mode != "zeros":
                raise ValueError(f"layer '{name}': dilation, groups and padding modes are not supported")
            c, h, w = self.shape
            kh, kw = _pair(m.kernel_size)
            sh, sw = _pair(m.stride)
            if m.padding == "same":
                ph, pw = (kh - 1) // 2, (kw - 1) // 2
            elif m.padding == "valid":
                ph, pw = 0, 0
            else:
                ph, pw = _pair(m.padding)
            mode_h, oh = self.padding(name, h, kh, sh, ph)
            mode_w, ow = self.padding(name, w, kw, sw, pw)
            if mode_h != mode_w:
                raise ValueError(f"layer '{name}': padding {m.padding} mixes 'valid' and 'same' axes")
            self.push(name, "conv2d", weights=_np(m.weight), bias=None if m.bias is None else _np(m.bias),
                      stride=(sh, sw), padding=mode_h)
            self.shape = (m.out_channels, oh, ow)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            if self.shape[0] != n or (isinstance(m, nn.BatchNorm2d) != (len(self.shape) == 3)):
                raise ValueError(f"layer '{name}': {type(m).__name__}({n}) does not fit input shape {self.shape}")
            self.push(name, "batchnorm",
                      gamma=_np(m.weight) if m.affine else np.ones(n),
                      beta=_np(m.bias) if m.affine else np.zeros(n),
                      moving_mean=_np(m.running_mean), moving_variance=_np(m.running_var),
                      eps=m.eps, momentum=1.0 - (m.momentum if m.momentum is not None else 0.1))
        elif isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            size = _pair(m.kernel_size)
            stride = _pair(m.stride if m.stride is not None else m.kernel_size)
            if _pair(m.padding) != (0, 0) or m.ceil_mode or _pair(getattr(m, "dilation", 1)) != (1, 1):
                raise ValueError(f"layer '{name}': pooling padding, ceil_mode and dilation are not supported")
            c, h, w = self.shape
            kind = "maxpool2d" if isinstance(m, nn.MaxPool2d) else "avgpool2d"
            self.push(name, kind, size=size, stride=stride, padding="valid")
            self.shape = (c, valid_extent(h, size[0], stride[0]), valid_extent(w, size[1], stride[1]))
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ValueError(f"layer '{name}': Flatten must use start_dim=1, end_dim=-1")
            self.flatten(name)
        elif isinstance(m, nn.ReLU):
            self.push(name, "activation", function="relu")
        elif isinstance(m, nn.Softmax):
            self.push(name, "activation", function="softmax")
        elif isinstance(m, nn.Dropout):
            self.push(name, "dropout", rate=m.p)
        elif isinstance(m, nn.Identity):
            pass
        else:
            raise ValueError(f"layer '{name}': module {type(m).__name__} is not supported")

    def flatten(self, name):
        if len(self.shape) == 3:
            self.push(name, "flatten")
            self.shape = (int(np.prod(self.shape)),)


def records(net, input_shape):
    """The layer records of `net` for one sample of `input_shape` (C, H, W) or (F,)."""
    net = net.eval()
    graph = torch.fx.symbolic_trace(net).graph
    modules = dict(net.named_modules())
    chain = _Chain(input_shape)
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            break
        if node.op == "call_method" and node.target == "size":
            continue
        first = node.args[0] if node.args else None
        others = [a for a in node.args[1:] if isinstance(a, torch.fx.Node)
                  and not (a.op == "call_method" and a.target == "size")]
        if first is not previous or others:
            raise ValueError(f"'{node.name}': the network is not a chain of layers")
        name = node.name.replace("_", ".") if node.op == "call_module" else node.name
        if node.op == "call_module":
            chain.module(str(node.target), modules[node.target])
        elif node.target in (torch.relu, F.relu, "relu"):
            chain.push(name, "activation", function="relu")
        elif node.target in (torch.flatten, "flatten") and tuple(node.args[1:]) in ((1,), (1, -1)):
            chain.flatten(name)
        elif node.target in ("view", "reshape") and len(node.args) == 3 and node.args[2] == -1:
            chain.flatten(name)
        elif node.target in (F.dropout,):
            pass
        else:
            raise ValueError(f"'{node.name}': operation {node.target} is not supported")
        previous = node
    return chain.layers
