"""DiffAugment against the definitions of Zhao et al. 2020 (the authors' reference implementation): the
shift and cutout bounds, zero fill, clipping at the borders, the colour factors' ranges, the draw order
from the global RNG, and gradients."""

import pytest
import torch

from ganforge.augment import diff_augment


def _translation_by_definition(x, seed):
    """Per sample: out[i, j] = x[i + ty, j + tx] (zero outside), ty then tx ~ U{-r..r}, r = round(side / 8)."""
    B, _, H, W = x.shape
    torch.manual_seed(seed)
    ry, rx = int(H * 0.125 + 0.5), int(W * 0.125 + 0.5)
    ty = torch.randint(-ry, ry + 1, (B,))
    tx = torch.randint(-rx, rx + 1, (B,))
    out = torch.zeros_like(x)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                if 0 <= i + ty[b] < H and 0 <= j + tx[b] < W:
                    out[b, :, i, j] = x[b, :, i + ty[b], j + tx[b]]
    return out, ty, tx


def _cutout_by_definition(x, seed):
    """Per sample: a round(side / 2) square centred at (cy, cx), cy ~ U{0..H - (side % 2)}, clipped, zeroed."""
    B, _, H, W = x.shape
    torch.manual_seed(seed)
    ch, cw = int(H * 0.5 + 0.5), int(W * 0.5 + 0.5)
    cy = torch.randint(0, H + 1 - ch % 2, (B,))
    cx = torch.randint(0, W + 1 - cw % 2, (B,))
    out = x.clone()
    for b in range(B):
        y0, x0 = int(cy[b]) - ch // 2, int(cx[b]) - cw // 2
        out[b, :, max(y0, 0):max(y0 + ch, 0), max(x0, 0):max(x0 + cw, 0)] = 0
    return out, cy, cx


@pytest.mark.parametrize("shape", [(32, 3, 16, 16), (16, 1, 28, 28), (16, 2, 12, 20), (8, 3, 7, 9)])
def test_translation_matches_the_definition(shape):
    x = torch.rand(shape) + 0.5  # no zeros of its own
    want, ty, tx = _translation_by_definition(x, 5)
    torch.manual_seed(5)
    got = diff_augment(x, "translation")  # the global RNG, as in training
    assert torch.equal(got, want)
    H, W = shape[2:]
    assert ty.abs().max() <= int(H / 8 + 0.5) and tx.abs().max() <= int(W / 8 + 0.5)


def test_translation_shifts_are_integers_within_the_bound_and_cover_it():
    x = torch.zeros(512, 1, 32, 32)
    x[:, 0, 16, 16] = 1.0
    torch.manual_seed(0)
    y = diff_augment(x, "translation")
    pos = y[:, 0].flatten(1).argmax(1)
    dy, dx = 16 - pos // 32, 16 - pos % 32  # out[i] = x[i + t]: the dot lands at 16 - t
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(512))  # moved whole (integer shift, no interpolation)
    assert set(dy.tolist()) == set(range(-4, 5)) == set(dx.tolist())  # U{-4..4} at 32 px, both ends reached


def test_translation_fills_with_zeros_exactly_the_shifted_in_border():
    x = torch.ones(64, 3, 16, 16)
    want, ty, tx = _translation_by_definition(x, 1)
    zero_rows = (want[:, 0] == 0).all(2).sum(1)  # (B,) fully zero rows
    assert torch.equal(zero_rows, ty.abs())
    torch.manual_seed(1)
    assert torch.equal(diff_augment(x, "translation"), want)


@pytest.mark.parametrize("shape", [(64, 3, 32, 32), (64, 1, 28, 28), (32, 2, 10, 14), (32, 1, 7, 7)])
def test_cutout_matches_the_definition(shape):
    x = torch.rand(shape) + 0.5
    want, _, _ = _cutout_by_definition(x, 3)
    torch.manual_seed(3)
    assert torch.equal(diff_augment(x, "cutout"), want)


def test_cutout_zeroes_a_half_size_square_clipped_at_the_borders():
    torch.manual_seed(0)
    y = diff_augment(torch.ones(2000, 1, 32, 32), "cutout")[:, 0]
    zero = y == 0
    rows, cols = zero.any(2), zero.any(1)  # (B, 32) rows / columns the hole touches
    n_rows, n_cols = rows.sum(1), cols.sum(1)
    assert torch.equal(zero.sum((1, 2)), n_rows * n_cols)  # one axis-aligned rectangle ...
    assert (n_rows >= 8).all() and (n_rows <= 16).all() and (n_cols >= 8).all() and (n_cols <= 16).all()
    inside = (n_rows == 16) & (n_cols == 16)  # ... a 16 x 16 square, or that square cut by a border
    clipped_rows = n_rows < 16
    touches_border = rows[:, 0] | rows[:, -1]
    assert (touches_border[clipped_rows]).all()
    assert 0.1 < inside.float().mean() < 0.5  # centres uniform over 33 x 33 positions: (17/33)^2 = 0.27 inside
    assert zero.float().mean().item() == pytest.approx((13.818 / 32) ** 2, abs=0.01)  # 18.6% zeroed on average


def test_color_factors_match_the_definition():
    x = torch.rand(256, 3, 8, 8) * 2 - 1
    torch.manual_seed(7)
    got = diff_augment(x, "color")
    torch.manual_seed(7)
    b = torch.rand(256, 1, 1, 1) - 0.5  # brightness, then saturation, then contrast
    s = torch.rand(256, 1, 1, 1) * 2
    c = torch.rand(256, 1, 1, 1) + 0.5
    want = x + b
    m = want.mean(1, keepdim=True)
    want = (want - m) * s + m
    m = want.mean((1, 2, 3), keepdim=True)
    want = (want - m) * c + m
    assert torch.allclose(got, want, atol=1e-6)
    shift = (got.mean((1, 2, 3)) - x.mean((1, 2, 3)))  # contrast keeps the mean, saturation the pixel means
    assert shift.min() >= -0.5 and shift.max() <= 0.5 and shift.std() > 0.2  # U(-0.5, 0.5): std 0.29


@pytest.mark.parametrize("policy", ["translation", "cutout", "color,translation,cutout"])
def test_gradient_is_the_mask_of_kept_pixels(policy):
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    torch.manual_seed(2)
    y = diff_augment(x, policy)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if policy == "cutout":
        assert torch.equal(x.grad, (y != 0).to(x.dtype))  # 1 where the pixel is kept, 0 in the hole


def test_uses_the_global_rng_so_a_restored_state_repeats_the_draws():
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(11)
    state = torch.get_rng_state()
    a = diff_augment(x)
    after = torch.get_rng_state()
    torch.set_rng_state(state)
    assert torch.equal(diff_augment(x), a) and torch.equal(torch.get_rng_state(), after)
