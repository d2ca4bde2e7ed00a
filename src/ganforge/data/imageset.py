"""The in-memory image set and the steps every image source shares: conversion and the fraction split.

:class:`ImageSet` is what :func:`ganforge.data.images.load_images` returns, whichever source the
images came from (:mod:`ganforge.data.bundled` or :mod:`ganforge.data.formats`). :func:`convert`
sets channels and size of uint8 images; :func:`random_hflip` mirrors a random half of a batch
(``data.hflip``); :func:`fraction_split` is the fixed train/test split of user data. This module
imports no other data module, so every one of them can import it::

    from ganforge.data.imageset import ImageSet, convert, fraction_split

    x = convert(x, 32, 3)                        # (N, C, H, W) uint8 -> (N, 3, 32, 32) uint8
    idx = fraction_split(len(x), 0.1)["test"]   # sorted indices of the held-out tenth

An :class:`ImageSet` is a ``torch.utils.data.Dataset``: ``images[i]`` is ``(image, label)``, the image a
float32 (C, H, W) tensor in [-1, 1] (as the networks take it) and the label an ``int``, ``-1`` when the
set is unlabelled (so the default collate works either way)::

    loader = DataLoader(load_images("mnist"), batch_size=64, shuffle=True)
    x, y = next(iter(loader))                    # (64, 1, 28, 28) float32 in [-1, 1], (64,) int64
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ganforge.pixels import to_signed

STRIP = 4  # convert: images longer than STRIP:1 are centre-cropped to STRIP:1 before resizing


#: the label :meth:`ImageSet.__getitem__` gives for an image of an unlabelled set
UNLABELLED = -1


@dataclass
class ImageSet(Dataset):
    """A whole split in memory (streamed: memory-mapped from its cache file, ``cache``). ``x`` is uint8 so that
    60k images cost 47 MB, not 188 MB.

    As a ``Dataset``: ``len(s)`` images; ``s[i]`` = (float32 (C, H, W) in [-1, 1], int label or
    ``UNLABELLED`` = -1).
    """

    x: torch.Tensor  # (N, C, H, W) uint8, C in {1, 3}
    y: torch.Tensor | None  # (N,) int64 class labels, or None when unlabelled
    classes: list[str]  # class names, index = label; [] when unlabelled
    name: str  # "mnist", "fashion", "digits8", or the user's path
    split: str  # "train" or "test"
    skipped: list[str] = field(default_factory=list)  # unreadable files of this split left out (skip_bad=True)
    cache: Path | None = None  # streamed (data.stream): the .npy file on disk that x is memory-mapped from
    captions: list[list[str]] | None = None  # captioned sets: one or more captions per image (data/captions.py)
    words: list[dict[str, str | None]] | None = None  # captioned-digits: each image's attribute words

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """Image ``i`` as float32 (C, H, W) in [-1, 1], with its label (``UNLABELLED`` = -1 without labels)."""
        try:
            i = operator.index(i)  # int, numpy or 0-d torch integer
        except TypeError:
            raise TypeError(f"an ImageSet is indexed by one integer, got {type(i).__name__}; slice .x and .y "
                            "for several") from None
        if not -len(self.x) <= i < len(self.x):
            raise IndexError(f"image index {i} is out of range for {len(self.x)} images")
        return to_signed(self.x[i]), UNLABELLED if self.y is None else int(self.y[i])

    def to_float(self) -> torch.Tensor:
        """(N, C, H, W) float32 in [-1, 1]: x / 127.5 - 1."""
        return to_signed(self.x)


def convert(x: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """Set channels and size of a uint8 batch (N, C, H, W) or single image (C, H, W).

    channels: None keeps them; 1 turns RGB into gray (luminance weights), 3 repeats a gray channel.
    size: None keeps the size; otherwise the shorter side is resized to ``size`` (antialiased) and the
        centre ``size`` x ``size`` kept (an image longer than 4:1 is first centre-cropped to 4:1, so a
        1 x 10^7 strip cannot resize into gigabytes). Returns a contiguous uint8 tensor.
    """
    import torchvision.transforms.v2.functional as TF  # here, not at the top: torchvision takes seconds to import
    if channels == 1 and x.shape[-3] == 3:
        x = TF.rgb_to_grayscale(x)  # (.., 1, H, W), weights 0.2989 R + 0.587 G + 0.114 B, rounded
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        h, w = x.shape[-2:]
        if max(h, w) > STRIP * min(h, w):  # a long strip (1 x 10^7 px): cut to 4:1 first, or the resize explodes
            x = TF.center_crop(x, [min(h, STRIP * w), min(w, STRIP * h)])
        x = TF.resize(x, [size], antialias=True)  # shorter side -> size
        x = TF.center_crop(x, [size, size])  # (.., C, size, size)
    if channels == 3 and x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])  # gray -> RGB, after resizing: a third of the work
    return x.contiguous()


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """A batch (B, C, H, W) with each image mirrored left-right with probability 1/2 (``data.hflip``), drawn from
    the global RNG of ``x``'s device (so checkpoints capture the flips)."""
    flip = torch.rand(len(x), device=x.device) < 0.5  # (B,)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def fraction_split(n: int, test_fraction: float) -> dict[str, np.ndarray]:
    """A default_rng(0) permutation of range(n); its first round(test_fraction * n) (>= 1 when n >= 2) are test.

    Returns ``{"train": indices, "test": indices}``, both sorted ascending; the same ``n`` and
    ``test_fraction`` always give the same split.
    """
    n_test = int(round(test_fraction * n))
    if test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    perm = np.random.default_rng(0).permutation(n)
    return {"train": np.sort(perm[n_test:]), "test": np.sort(perm[:n_test])}
