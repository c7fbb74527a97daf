"""Typed results. The library writes each record as JSON (the same fields as the command line's
``result.json``); here it becomes an object whose numeric lists are NumPy arrays."""

import json

import numpy as np


def _value(v):
    if isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return np.asarray(v, dtype=np.float64 if any(isinstance(x, float) for x in v) else np.int64)
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return [Record(x) for x in v]
    if isinstance(v, dict):
        return Record(v)
    return v


class Record:
    """Fields as attributes (``r.snn_accuracy``) and items (``r["snn_accuracy"]``); numeric
    lists as NumPy arrays; ``to_dict()`` gives plain Python values (JSON-ready)."""

    def __init__(self, fields):
        object.__setattr__(self, "_fields", dict(fields))

    @classmethod
    def from_json(cls, text):
        return cls(json.loads(text))

    def __getattr__(self, name):
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return _value(fields[name])
        raise AttributeError(f"{type(self).__name__} has no field '{name}' (fields: {', '.join(fields)})")

    def __getitem__(self, name):
        return getattr(self, name)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __dir__(self):
        return list(object.__getattribute__(self, "_fields"))

    def keys(self):
        return self._fields.keys()

    def to_json(self):
        """The record as JSON text (what the library wrote)."""
        return json.dumps(self._fields)

    def to_dict(self):
        """A deep copy of the fields as plain Python values."""
        return json.loads(json.dumps(self._fields))

    def __eq__(self, other):
        return isinstance(other, Record) and self._fields == other._fields

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self._fields.items() if not isinstance(v, (list, dict)))
        return f"{type(self).__name__}({shown})"


class Evaluation(Record):
    """A spiking evaluation: ``snn_accuracy_per_step`` (array), ``snn_accuracy``,
    ``ann_accuracy``, ``latency_steps``, ``synaptic_ops_per_image``, ``spikes_per_image``,
    ``layers`` (per layer: SOPs and spikes), ``energy_pj``, ``synaptic_ops_per_step``
    (cumulative, per image), ``energy_at_latency`` (steps, SOPs and pJ where the accuracy first
    comes within 1 / 0.5 / 0.1 pp of the ANN), ``images_per_second``, ``options``,
    ``interrupted``, … (the fields of ``result.json``)."""


class ConversionRecord(Record):
    """How a network was converted: ``options``, ``layer_scales`` (λ per layer),
    ``calibration_images``, ``batchnorm_folded``."""


class Shard(Record):
    """One shard of an evaluation: ``index``, ``count``, ``counts`` (the exact sums),
    ``ann_correct``, ``seconds`` and ``evaluation`` (the record of its own samples). Merge all
    shards with :func:`somnet.merge`."""


class Sweep(Record):
    """A sweep: ``rows`` (one :class:`Record` per grid point: ``settings``, ``options``,
    ``snn_accuracy``, ``latency_steps``, ``synaptic_ops_per_image``, ``energy_pj``, …),
    ``ann_accuracy``, ``grid``, ``steps``, ``images``."""

    def pareto_front(self):
        """Whether each row is on the Pareto front of accuracy, energy and latency."""
        from . import _somnet

        return _somnet.pareto_front(self.to_json())
