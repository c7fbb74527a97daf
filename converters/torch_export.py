#!/usr/bin/env python3
"""Export a PyTorch network to a somnet model file, without ONNX.

    import torch_export
    torch_export.export(net, input_shape=(1, 28, 28), path="net.h5")

The network is traced with torch.fx (python/somnet/_torch.py, the tracer `somnet.from_torch`
uses): an `nn.Sequential`, a module whose `forward` applies its layers one after another, or a
graph such as a torchvision-style ResNet (`out += identity`, a `downsample` Sequential,
`torch.cat(..., 1)`, `AdaptiveAvgPool2d(1)`). Supported modules: Linear, Conv2d, BatchNorm1d,
BatchNorm2d, AvgPool2d, MaxPool2d, AdaptiveAvgPool2d to 1×1, ZeroPad2d, Flatten, ReLU, Dropout,
Softmax, Identity. PyTorch is NCHW like somnet, so weights are written as they are; a
convolution's explicit padding is written as 'same' when it gives exactly TensorFlow's 'same'
result for the traced input size, and as a zero padding before a 'valid' convolution otherwise.
"""

import importlib.util
import os
import sys

import torch

import somnet_h5

# The tracer is the Python package's own (python/somnet/_torch.py), loaded by path so that this
# script needs only torch and h5py, not an installed somnet.
_spec = importlib.util.spec_from_file_location(
    "somnet_torch_trace", os.path.join(os.path.dirname(__file__), "..", "python", "somnet", "_torch.py"))
_trace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trace)
records = _trace.records


def export(net, input_shape, path, provenance=None):
    """Writes `net` (evaluated in eval mode) to `path` as a somnet model file."""
    layers = records(net, input_shape)
    exporter = f"exporter torch_export.py (PyTorch {torch.__version__})"
    somnet_h5.write(path, list(input_shape), layers, exporter, provenance, dropout_mode="inverted")


if __name__ == "__main__":
    sys.exit("import torch_export and call torch_export.export(net, input_shape, path)")
