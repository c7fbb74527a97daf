"""Data sets as NumPy arrays: images (N, C, H, W) float32 in [0, 1] and labels (N,) uint8.

MNIST is bundled; Fashion-MNIST and CIFAR-10 are read from a data directory (``data_dir``, else
``$SOMNET_DATA``; ``datasets/fetch.sh`` of the repository fetches them), image folders from any
path (``folder:PATH[:WxH][:gray]``, split 80/20 with seed 0)."""

import os
from pathlib import Path

from . import _somnet


def data_dir():
    """Where data sets are looked for: ``$SOMNET_DATA``, else the data bundled with the package,
    else the repository's ``datasets/`` (a source checkout)."""
    if os.environ.get("SOMNET_DATA"):
        return Path(os.environ["SOMNET_DATA"])
    bundled = Path(__file__).parent / "data"
    if (bundled / "mnist").is_dir():
        return bundled
    return Path(_somnet.default_data_dir())


def load(name="mnist", split="test", data_dir=None, limit=None):
    """``(images, labels)`` of data set ``name`` (``mnist``, ``fashion-mnist``, ``cifar-10``,
    ``folder:PATH[:WxH][:gray]``), split ``train`` or ``test``; the first ``limit`` images if
    given.

    >>> images, labels = load("mnist", "test", limit=100)
    >>> images.shape, labels.dtype
    ((100, 1, 28, 28), dtype('uint8'))
    """
    images, labels, _ = _somnet.load_dataset(name, str(data_dir or globals()["data_dir"]()), split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def class_names(name="mnist", data_dir=None):
    """The class names of data set ``name``."""
    return _somnet.load_dataset(name, str(data_dir or globals()["data_dir"]()), "test")[2]
