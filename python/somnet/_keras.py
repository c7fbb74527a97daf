"""A live Keras model as what a Keras `.h5` file stores: the `model_config` JSON and each layer's
variables. The library reads both with the same reader as a file (`io::keras`), so a model and
its saved `.h5` become the same network."""

import json

import numpy as np


def _encode(o):
    """JSON for the few non-JSON values a Keras config holds (NumPy scalars and arrays, dtypes)."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def parts(model):
    """(config JSON, Keras version, backend, {layer name: [(variable path, float32 array)]})."""
    import keras

    config = {"class_name": type(model).__name__, "config": model.get_config()}
    weights = {}
    for layer in model.layers:
        weights[layer.name] = [
            (str(getattr(v, "path", None) or v.name), np.ascontiguousarray(np.asarray(v), dtype=np.float32))
            for v in layer.weights
        ]
    backend = keras.backend.backend() if hasattr(keras, "backend") else ""
    return json.dumps(config, default=_encode), str(keras.__version__), str(backend), weights
