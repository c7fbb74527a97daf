"""Trained networks and their spiking conversions: the Python face of the library's conversion
pipeline (`convert::pipeline`). Arguments are checked and converted here; the work is the
library's."""

import json
import warnings

import numpy as np

from . import _arrays, _progress, _somnet
from pathlib import Path

from ._errors import Interrupted, SomnetError, SomnetFileError
from ._records import ConversionRecord, Evaluation, Record, Shard


def _knob_text(key, value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    return str(value)


def _knobs(knobs):
    """keyword arguments → (key, text) pairs for the library (`early_exit=8` → `early-exit`)."""
    return [(k.replace("_", "-"), _knob_text(k, v)) for k, v in knobs.items()]


class Model:
    """A trained network (an ANN): from :func:`load`, :func:`from_torch` or :func:`from_keras`."""

    def __init__(self, inner):
        self._inner = inner

    @property
    def input_shape(self):
        """Per-sample input shape: (C, H, W) or (F,)."""
        return tuple(self._inner.input_shape)

    @property
    def output_features(self):
        """Number of outputs (classes)."""
        return self._inner.output_features

    @property
    def source(self):
        """Where the network came from (a file, a traced module)."""
        return self._inner.source

    def summary(self):
        """One :class:`Record` per layer: name, kind, output_shape, params, macs."""
        return [Record(r) for r in json.loads(self._inner.summary_json())]

    @property
    def provenance(self):
        """How the network was made (a dict)."""
        return json.loads(self._inner.provenance_json())

    def predict(self, images, threads=0):
        """The network's outputs for ``images`` ((N, *input_shape) or (N, features)): (N, classes)."""
        x = _arrays.images("images", images, self.input_shape)
        return self._inner.forward(x, threads)

    def accuracy(self, images, labels, threads=0):
        """Fraction of ``images`` whose largest output is the label."""
        out = self.predict(images, threads)
        y = _arrays.labels("labels", labels, out.shape[0])
        # argmax ties go to the lowest index, as in the library.
        return float(np.mean(np.argmax(out, axis=1) == y))

    def save(self, path):
        """Writes the network to ``path`` as a somnet model file (readable by the ``somnet`` CLI)."""
        self._inner.save(str(path))

    def __reduce__(self):
        # Pickled as its model-file bytes (for Dask workers and multiprocessing).
        return (_model_from_bytes, (self._inner.to_bytes(), self._inner.source))

    def __repr__(self):
        return f"Model(source={self.source!r}, input_shape={self.input_shape}, outputs={self.output_features})"


class Converted:
    """A spiking network converted from a trained one: from :func:`convert`, or :func:`load` of
    a file written by ``somnet convert`` or :meth:`save`."""

    def __init__(self, inner):
        self._inner = inner

    @property
    def record(self):
        """How it was converted: :class:`ConversionRecord` (options, λ per layer, calibration)."""
        return ConversionRecord.from_json(self._inner.record_json())

    @property
    def original(self):
        """The trained network as given (:class:`Model`)."""
        return Model(self._inner.original())

    @property
    def normalised(self):
        """The normalised network (batch norm folded, weights scaled for threshold 1)."""
        return Model(self._inner.normalised())

    def save(self, path):
        """Writes the converted network to ``path``, as ``somnet convert --out`` does."""
        self._inner.save(str(path))

    def to_nir(self, path, **knobs):
        """Writes the network as a NIR graph to ``path`` (``nir.read`` loads it; ``somnet export-nir``
        does the same), ``knobs`` overriding the conversion's options as in :meth:`evaluate`.
        What NIR cannot say (reset by subtraction, the θ/2 start, …) goes to the graph's metadata
        and is returned as a list of warnings, each also issued with :func:`warnings.warn`;
        :func:`simulate_nir` reads the metadata back.

        >>> snn.to_nir("snn.nir")  # doctest: +SKIP
        """
        notes = self._inner.to_nir(str(path), _knobs(knobs))
        for note in notes:
            warnings.warn(note, stacklevel=2)
        return notes

    def __reduce__(self):
        # Pickled as the model-file bytes of the converted and the trained network (for Dask
        # workers and multiprocessing): the copy evaluates to the same numbers.
        converted, original = self._inner.to_bytes()
        return (_converted_from_bytes, (converted, original, self._inner.source))

    def evaluate_shard(self, images, labels, steps, index, count, *, threads=0, name="numpy", **knobs):
        """Evaluates shard ``index`` of ``count`` of the images (a contiguous part, as
        ``somnet evaluate --shard I/N`` takes it) and returns its :class:`Shard`;
        :func:`somnet.merge` turns all shards into the :class:`Evaluation` of the whole run."""
        x = _arrays.images("images", images, self.original.input_shape)
        y = _arrays.labels("labels", labels, x.shape[0])
        start, stop = _somnet.shard_range(x.shape[0], index, count)
        return self._evaluate_part(x[start:stop], y[start:stop], start, index, count, steps, threads, name, knobs)

    def _evaluate_part(self, x, y, first, index, count, steps, threads, name, knobs):
        """The shard of already-converted arrays `x`, `y` starting at sample `first`."""
        _arrays.steps(steps)
        text = self._inner.evaluate_part(name, x, y, int(first), int(index), int(count), int(steps),
                                         _knobs(knobs), threads)
        return Shard.from_json(text)

    def evaluate(self, images, labels, steps, *, threads=0, progress=None, name="numpy", **knobs):
        """Simulates every image for ``steps`` time steps and returns an :class:`Evaluation`:
        accuracy after every step, latency, synaptic operations and spikes per layer, energy.

        ``knobs`` override the conversion's simulation options: ``coding`` (rate, ttfs: time to
        first spike, one spike per neuron at most), ``ttfs_steps`` (steps per layer window),
        ``ttfs_clock`` (continuous, steps), ``input`` (analog, poisson, latency),
        ``neuron`` (if, lif, lif:TAU, izhikevich), ``tau_mem``, ``reset`` (subtract, zero),
        ``refractory``, ``initial`` (zero, half), ``dale`` (bool), ``readout`` (spikes,
        membrane), ``early_exit`` (None or K), ``seed``, ``offset_presteps`` (ρ steps of
        offset-spike pre-run per image, Hao et al. 2023; 0 = off). ``progress=True`` shows a bar.
        Ctrl-C raises :class:`Interrupted` whose ``partial`` covers the finished images (``None``
        when none had finished).
        """
        _arrays.steps(steps)
        x = _arrays.images("images", images, self.original.input_shape)
        y = _arrays.labels("labels", labels, x.shape[0])
        callback = _progress.callback(progress, "images")
        text, stopped = self._inner.evaluate(name, x, y, int(steps), _knobs(knobs), threads, callback)
        result = None if text is None else Evaluation.from_json(text)
        if stopped is not None:
            if isinstance(stopped, KeyboardInterrupt):
                done = 0 if result is None else result.images
                raise Interrupted(f"interrupted after {done} images", partial=result) from stopped
            raise stopped
        return result

    def __repr__(self):
        return f"Converted(source={self._inner.source!r}, options={self.record.options.to_dict()})"


def _model_from_bytes(data, source):
    return Model(_somnet.model_from_bytes(data, source))


def _converted_from_bytes(converted, original, source):
    return Converted(_somnet.converted_from_bytes(converted, original, source))


def merge(shards):
    """The :class:`Evaluation` of a whole run from all its shards: :class:`Shard` records from
    :meth:`Converted.evaluate_shard`, or the folders / ``shard.json`` files that
    ``somnet evaluate --shard I/N --out DIR`` wrote, in any order. Equal to the unsharded run in
    every field but the timings."""
    texts = []
    for s in shards:
        if isinstance(s, Shard):
            texts.append(s.to_json())
        else:
            path = Path(s)
            path = path / "shard.json" if path.is_dir() else path
            try:
                texts.append(path.read_text())
            except OSError as e:
                raise SomnetFileError(f"{path}: {e.strerror or e}") from None
    return Evaluation.from_json(_somnet.merge_shards(texts))


def load(path):
    """Reads a somnet model file or a Keras ``.h5`` file: a :class:`Model`, or a
    :class:`Converted` when the file holds a network converted earlier."""
    inner, _format = _somnet.load(str(path))
    return Converted(inner) if isinstance(inner, _somnet.Converted) else Model(inner)


def convert(model, calibration, *, percentile=99.9, norm="layer", threads=0, **knobs):
    """Converts ``model`` to a spiking network: folds batch norm, normalises the weights on the
    ``calibration`` images at ``percentile`` of the non-zero activations (per ``layer`` or per
    ``channel``), and checks the engine can build it with ``knobs`` (see
    :meth:`Converted.evaluate`). The command line uses every 10th training image, at most 6 000."""
    if not isinstance(model, Model):
        raise SomnetError(f"model: expected a somnet.Model (from load, from_torch or from_keras), got {type(model).__name__}")
    x = _arrays.images("calibration", calibration, model.input_shape)
    pairs = [("percentile", _knob_text("percentile", percentile)), ("norm", str(norm))] + _knobs(knobs)
    return Converted(_somnet.convert(model._inner, x, pairs, threads))


def _layer_tuple(record):
    strings, numbers, arrays = {}, {}, {}
    for key, value in record.items():
        if key in ("name", "kind") or value is None:
            continue
        if isinstance(value, str):
            strings[key] = value
        elif isinstance(value, np.ndarray):
            arrays[key] = np.ascontiguousarray(value, dtype=np.float32)
        else:
            numbers[key] = [float(v) for v in np.atleast_1d(value)]
    return record["name"], record["kind"], strings, numbers, arrays


def from_torch(module, input_shape):
    """A :class:`Model` from a PyTorch ``nn.Module`` traced with ``torch.fx`` (in eval mode; no
    file): chains and graphs (torchvision-style residual blocks with ``out += identity`` and a
    ``downsample`` Sequential, ``torch.cat`` on the channel axis) of Linear, Conv2d (any symmetric
    padding), BatchNorm1d/2d, AvgPool2d, MaxPool2d, AdaptiveAvgPool2d(1), ZeroPad2d, Flatten, ReLU,
    Softmax, Dropout, Identity and the functional forms of relu, add, cat, flatten and global
    average pooling. ``input_shape`` is one sample's (C, H, W) or (F,). Anything else is refused
    naming the layer."""
    import torch

    from . import _torch

    shape = tuple(int(d) for d in input_shape)
    try:
        layers = _torch.records(module, shape)
    except ValueError as e:
        raise SomnetError(f"PyTorch module {type(module).__name__}: {e}") from None
    source = f"PyTorch module {type(module).__name__}"
    provenance = json.dumps({"imported_from": source, "torch_version": torch.__version__})
    inner = _somnet.model_from_records(list(shape), [_layer_tuple(r) for r in layers], "inverted", source, provenance)
    return Model(inner)


def from_keras(model):
    """A :class:`Model` from a live Keras 3 model (Sequential, or Functional: chains and graphs such
    as residual networks), read by the same code as a Keras ``.h5`` file, without writing one."""
    from . import _keras

    config, version, backend, weights = _keras.parts(model)
    source = f"Keras model '{model.name}'"
    return Model(_somnet.model_from_keras(config, version, backend, weights, source))
