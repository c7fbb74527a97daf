"""NumPy inputs checked and converted once, here: images become C-contiguous float32 of shape
(N, features), labels uint8. Anything that cannot be read as numbers is refused naming the
argument, its dtype and its shape."""

import numpy as np

from ._errors import SomnetError


def _numeric(name, x):
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise SomnetError(f"{name}: cannot be read as an array ({e})") from None
    if a.dtype.kind not in "biuf":
        raise SomnetError(f"{name}: dtype {a.dtype} is not numeric (expected bool, integer or float)")
    return a


def images(name, x, input_shape):
    """`x` as (N, prod(input_shape)) float32: (N, *input_shape), (N, features) or one sample."""
    a = _numeric(name, x)
    per = int(np.prod(input_shape))
    if a.ndim == len(input_shape) and a.shape == tuple(input_shape):
        a = a[None]
    if a.ndim < 1 or a.size % per != 0 or (a.ndim > 1 and int(np.prod(a.shape[1:])) != per):
        raise SomnetError(
            f"{name}: shape {a.shape} does not fit the network's input {tuple(input_shape)} "
            f"(expected (N, {', '.join(map(str, input_shape))}) or (N, {per}))")
    out = np.ascontiguousarray(a.reshape(a.shape[0], per), dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise SomnetError(f"{name}: holds NaN or infinite values")
    return out


def steps(value):
    """`value` as a number of time steps (a whole number ≥ 1), or a SomnetError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SomnetError(f"steps = {value!r}: expected a whole number ≥ 1")
    return int(value)


def labels(name, y, n):
    """`y` as n class indices (uint8)."""
    a = _numeric(name, y).reshape(-1)
    if a.shape[0] != n:
        raise SomnetError(f"{name}: {a.shape[0]} labels for {n} images")
    if a.dtype.kind == "f" and not np.all(a == np.round(a)):
        raise SomnetError(f"{name}: labels must be whole numbers")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise SomnetError(f"{name}: labels must lie in 0..255, found {a.min()}..{a.max()}")
    return np.ascontiguousarray(a, dtype=np.uint8)
