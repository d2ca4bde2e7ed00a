"""ImageSet as a torch Dataset: len, (image in [-1, 1], label or -1) items, DataLoader batches."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from ganforge.data.images import load_images
from ganforge.data.imageset import UNLABELLED, ImageSet
from ganforge.pixels import to_signed


def test_a_labelled_set_through_a_dataloader():
    s = load_images("digits8", split="test")
    assert isinstance(s, Dataset) and len(s) == len(s.x)
    x, y = s[3]
    assert x.dtype == torch.float32 and x.shape == s.x.shape[1:] and torch.equal(x, to_signed(s.x[3]))
    assert isinstance(y, int) and y == int(s.y[3])
    batches = list(DataLoader(s, batch_size=64, shuffle=False))
    xb = torch.cat([b[0] for b in batches])
    yb = torch.cat([b[1] for b in batches])
    assert torch.equal(xb, to_signed(s.x)) and torch.equal(yb, s.y) and yb.dtype == torch.int64
    assert xb.min() >= -1 and xb.max() <= 1


def test_an_unlabelled_set_gives_minus_one():
    s = ImageSet(torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8), None, [], "pics", "train")
    assert s[0][1] == UNLABELLED == -1
    x, y = next(iter(DataLoader(s, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert x.shape == (4, 3, 8, 8) and torch.equal(y, torch.full((4,), -1))


def test_indexing_accepts_integers_only():
    s = ImageSet(torch.zeros(5, 1, 8, 8, dtype=torch.uint8), torch.arange(5), list("abcde"), "n", "test")
    assert s[-1][1] == 4 and s[np.int64(2)][1] == 2 and s[torch.tensor(1)][1] == 1
    with pytest.raises(IndexError, match="out of range"):
        s[5]
    with pytest.raises(TypeError, match="one integer"):
        s[1:3]
    with pytest.raises(TypeError, match="one integer"):
        s[1.0]
