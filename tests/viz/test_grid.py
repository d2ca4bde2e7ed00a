"""ganforge.pixels' grid and PNG writer draw exactly what torchvision's would (without importing it)."""

import io

import pytest
import torch
from torchvision.utils import make_grid as tv_grid
from torchvision.utils import save_image as tv_save

from ganforge.pixels import make_grid, save_image


@pytest.mark.parametrize(("shape", "kw"), [
    ((7, 1, 8, 8), {"nrow": 3, "padding": 2, "pad_value": 1.0}),
    ((5, 3, 6, 9), {"nrow": 2, "padding": 2, "pad_value": 1.0}),
    ((1, 3, 5, 5), {"nrow": 2, "padding": 2, "pad_value": 1.0}),
    ((16, 3, 4, 4), {"nrow": 4, "padding": 0, "pad_value": 0.0}),
])
def test_grid_is_torchvisions(shape, kw):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(make_grid(x, **kw), tv_grid(x, **kw))


@pytest.mark.parametrize("shape", [(3, 10, 12), (1, 10, 12), (4, 1, 6, 6)])
def test_png_bytes_are_torchvisions(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    ours, theirs = io.BytesIO(), io.BytesIO()
    save_image(x, ours, format="png")
    tv_save(x, theirs, format="png")
    assert ours.getvalue() == theirs.getvalue()
