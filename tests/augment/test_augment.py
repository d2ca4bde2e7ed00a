"""DiffAugment: shapes, identity, gradients, what each transform does, seeding, bad policies."""

import pytest
import torch

from ganforge.augment import diff_augment


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_shape_preserved(policy):
    x = torch.randn(4, 3, 16, 20)
    assert diff_augment(x, policy).shape == x.shape


def test_empty_policy_is_identity():
    x = torch.randn(2, 1, 8, 8)
    assert diff_augment(x, "") is x


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradients_flow(policy):
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    diff_augment(x, policy).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_moves_content():
    x = torch.zeros(64, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    y = diff_augment(x, "translation", torch.Generator().manual_seed(0))
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(64))  # the dot is shifted, not lost (shift <= 2 < 8)
    pos = y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 16, pos % 16
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all()  # at most 16 / 8 pixels
    assert ((rows != 8) | (cols != 8)).sum() > 32  # most samples moved
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10  # each sample draws its own shift


def test_translation_pads_with_zeros():
    y = diff_augment(torch.ones(64, 2, 16, 16), "translation", torch.Generator().manual_seed(1))
    assert (y == 0).any() and ((y == 0) | (y == 1)).all()


def test_cutout_zeros_at_most_a_quarter():
    y = diff_augment(torch.ones(16, 3, 32, 32), "cutout", torch.Generator().manual_seed(0))
    zeroed = (y == 0).float().mean((1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 0.25).all()  # a half-side square, clipped at the borders
    assert (y[:, 0] == y[:, 1]).all()  # the same square in every channel


def test_color_changes_each_sample_differently():
    x = torch.rand(8, 3, 8, 8) * 2 - 1
    y = diff_augment(x, "color", torch.Generator().manual_seed(0))
    assert not torch.allclose(x, y)
    shift = (y - x).mean((1, 2, 3))
    assert shift.std() > 0.05


def test_seeded_generator_is_reproducible():
    x = torch.randn(4, 3, 16, 16)
    a = diff_augment(x, generator=torch.Generator().manual_seed(3))
    b = diff_augment(x, generator=torch.Generator().manual_seed(3))
    c = diff_augment(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("policy", ["flip", "color,zoom", "Color"])
def test_unknown_policy_lists_the_valid_terms(policy):
    with pytest.raises(ValueError, match="color, translation, cutout"):
        diff_augment(torch.zeros(1, 1, 8, 8), policy)
