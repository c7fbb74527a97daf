"""Studies: a sweep over conversion knobs and a sleep phase (sleep replay consolidation), each one
library call (`study::sweep`, `sleep::sleep`)."""

import numpy as np

from . import _arrays, _progress, _somnet
from ._errors import Interrupted, SomnetError
from ._models import Model, _knob_text, _knobs
from ._records import Record, Sweep


def grid_text(grid):
    """A grid as the library's text form: a dict ``{"input": ["analog", "poisson"], …}`` (keys
    as keyword arguments: ``early_exit``) or the text ``"input=analog,poisson;…"`` itself."""
    if isinstance(grid, str):
        return grid
    if not isinstance(grid, dict):
        raise SomnetError(f"grid: expected a dict of knob → values or 'key=v1,v2;…', got {type(grid).__name__}")
    parts = []
    for key, values in grid.items():
        values = values if isinstance(values, (list, tuple)) else [values]
        parts.append(f"{key.replace('_', '-')}={','.join(_knob_text(key, v) for v in values)}")
    return ";".join(parts)


def _finish(record, stopped, what):
    if stopped is not None:
        if isinstance(stopped, KeyboardInterrupt):
            raise Interrupted(f"interrupted: {what}", partial=record) from stopped
        raise stopped
    return record


def sweep(model, calibration, images, labels, steps, grid, *, threads=0, progress=None, out=None,
          resume=False, name="numpy", **base):
    """Converts ``model`` with every combination of ``grid`` (on top of the ``base`` knobs) and
    evaluates each on the images for ``steps`` steps: a :class:`Sweep` with one row per grid
    point (accuracy, latency, SOPs, energy) and :meth:`Sweep.pareto_front`. Normalisation runs
    once per (percentile, norm). ``out``: also write sweep.csv, sweep.json and pareto.png there
    (sweep.json and sweep.csv after every grid point). ``resume=True`` continues the sweep recorded
    in ``out``: its finished points are kept (the same model, images, steps, grid and seed are
    required) and the result equals an uninterrupted run's. Ctrl-C raises :class:`Interrupted`
    whose ``partial`` holds the finished grid points.

    >>> s = somnet.sweep(model, calib, images, labels, 64, {"input": ["analog", "poisson"]})  # doctest: +SKIP
    """
    if not isinstance(model, Model):
        raise SomnetError(f"model: expected a somnet.Model, got {type(model).__name__}")
    _arrays.steps(steps)
    c = _arrays.images("calibration", calibration, model.input_shape)
    x = _arrays.images("images", images, model.input_shape)
    y = _arrays.labels("labels", labels, x.shape[0])
    text = grid_text(grid)
    points = len(_somnet.grid_points(text, _knobs(base)))
    callback = _progress.callback(progress, "grid points")
    json_text, stopped = _somnet.sweep(model._inner, c, x, y, name, int(steps), text, _knobs(base), threads,
                                       callback, None if out is None else str(out), bool(resume))
    record = Sweep.from_json(json_text)
    return _finish(record, stopped, f"{len(record.rows)} of {points} grid points finished")


def sleep(model, images, *, steps=None, preset="mnist", threads=0, progress=None, **settings):
    """One sleep phase of sleep replay consolidation (Tadros et al., Nat. Commun. 2022) on a copy
    of ``model`` (a bias-free ReLU chain of Dense and Conv2d layers), driven by ``images`` ((N, C, H, W):
    the input window is square on the image). Settings start from the released ``preset``
    (``mnist``, ``fashion-mnist``) and take keyword overrides: ``inc``, ``dec``, ``beta`` (one per
    Dense layer), ``alpha_scale``, ``alpha`` (``data``, or fixed values, one per Dense layer),
    ``max_rate``, ``decay``, ``mask_size``, ``mask`` (``window:SIZE``, ``pixels:FRACTION``), ``sigma``
    (``released``, ``decreasing:W``, ``increasing:W``), ``input`` (``mean``, ``samples:K``,
    ``sequence:N:DWELL``), ``adaptation`` (``off`` or ``STRENGTH:DECAY``), ``sleep_momentum``,
    ``plastic`` (``all`` or ``last:K``: only the last K weighted layers change), ``fixed_layers``
    (``spiking``, or ``ann``: the fixed layers' ANN output is what the plastic head sleeps on, so
    the feature extractor may pool or carry biases), ``refractory_steps``, ``threshold``, ``dt``, ``seed``. ``steps`` defaults to the preset's
    length after one task. Returns ``(slept_model, report)``; the report holds ``steps``, spikes
    per layer and the settings used (``config``)."""
    if not isinstance(model, Model):
        raise SomnetError(f"model: expected a somnet.Model, got {type(model).__name__}")
    a = _arrays._numeric("images", images)
    if a.ndim not in (2, 4):
        raise SomnetError(f"images: shape {a.shape}, expected (N, C, H, W) or (N, features)")
    a = np.ascontiguousarray(a, dtype=np.float32)
    pairs = []
    for key, value in settings.items():
        if key == "beta" and isinstance(value, (list, tuple, np.ndarray)):
            value = ",".join(str(float(b)) for b in value)
        pairs.append((key.replace("_", "-"), _knob_text(key, value)))
    callback = _progress.callback(progress, "sleep steps")
    inner, report, config, stopped = _somnet.sleep(model._inner, a, steps, preset, pairs, threads, callback)
    fields = Record.from_json(report).to_dict()
    fields["config"] = Record.from_json(config).to_dict()
    result = (Model(inner), Record(fields))
    return _finish(result, stopped, f"sleep stopped after {fields['steps']} steps")


def incremental(dataset="mnist", seeds=1, *, preset="released", first_seed=1, test_limit=None, data_dir=None,
                threads=0, progress=None, out=None, resume=False, **settings):
    """The class-incremental experiment of Tadros et al. (Nat. Commun. 2022) with its controls:
    for each seed, a network trained task by task with a sleep phase after each task, the same
    without sleep (sequential) and one trained on all tasks at once (joint). ``seeds``: a number
    of consecutive seeds from ``first_seed``, or a list. Settings start from ``preset``
    (``released``: the authors' driver; ``replication``: the independent PyTorch replication's
    network, training and sleep; ``best``: the best setting of the honest search on the paper's
    network) and take keyword overrides: ``per_task``, ``epochs``, ``joint_epochs``,
    ``joint_images``, ``hidden`` (list of sizes), ``arch`` (an architecture spec, e.g. a small
    CNN), ``controls`` (bool), ``init``, ``output``, ``loss`` (``mse``, ``mse-st``, ``ce``),
    ``dropout``, ``dropout_mode``, ``lr``, ``momentum``, ``batch_size``, ``sleep_data`` (``seen``,
    ``current``), ``interleave`` (sleeps per task) and every sleep setting of :func:`sleep`
    (``adaptation``, ``sleep_momentum`` and ``input="sequence:N:DWELL"`` among them).
    Returns the record (``final_accuracy``, its ``final_accuracy_sd`` over seeds, the curves per
    seed and condition); ``out`` also writes result.json, result.csv and the figures, and keeps
    every seed in ``out/seeds/seed-N.json`` as soon as it finishes. ``resume=True`` reuses the
    seeds kept in ``out`` (the same data and settings are required) and runs only the rest: the
    record equals an uninterrupted run's. Ctrl-C raises :class:`Interrupted` whose ``partial``
    holds the finished seeds."""
    from . import datasets

    seed_list = list(range(first_seed, first_seed + seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    pairs = [("preset", str(preset))]
    for key, value in settings.items():
        if isinstance(value, (list, tuple, np.ndarray)):
            value = ",".join(str(v) for v in value)
        pairs.append((key.replace("_", "-"), _knob_text(key, value)))
    directory = str(data_dir or datasets.data_dir())
    callback = _progress.callback(progress, "stages")
    text, stopped = _somnet.incremental(dataset, directory, seed_list, pairs, test_limit, threads, callback,
                                        None if out is None else str(out), bool(resume))
    record = Record.from_json(text)
    return _finish(record, stopped, f"{len(record.seeds)} of {len(seed_list)} seeds finished")
