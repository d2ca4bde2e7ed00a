"""Losses: known values and gradient signs on hand-made logits."""

import math

import pytest
import torch

from ganforge import losses
from ganforge.losses import ADVERSARIAL as LOSSES


def test_known_values_at_zero_logits():
    z = torch.zeros(4)
    assert losses.d_loss("ns", z, z).item() == pytest.approx(2 * math.log(2))
    assert losses.g_loss("ns", z).item() == pytest.approx(math.log(2))
    assert losses.g_loss("minimax", z).item() == pytest.approx(-math.log(2))
    assert losses.d_loss("wgan", torch.ones(3), -torch.ones(3)).item() == pytest.approx(-2.0)
    assert losses.d_loss("hinge", torch.ones(3), -torch.ones(3)).item() == pytest.approx(0.0)
    assert losses.d_loss("hinge", z, z).item() == pytest.approx(2.0)
    assert losses.d_loss("lsgan", torch.ones(3), torch.zeros(3)).item() == pytest.approx(0.0)
    assert losses.g_loss("lsgan", torch.zeros(3)).item() == pytest.approx(0.5)


@pytest.mark.parametrize("kind", LOSSES)
def test_gradient_signs(kind):
    """D's loss falls as real logits rise / fake logits fall; G's loss falls as fake logits rise."""
    real = torch.full((8,), 0.5, requires_grad=True)  # inside every margin (hinge, LSGAN targets 0 and 1)
    fake = torch.full((8,), 0.5, requires_grad=True)
    losses.d_loss(kind, real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake2 = torch.full((8,), 0.5, requires_grad=True)
    losses.g_loss(kind, fake2).backward()
    assert (fake2.grad < 0).all()


def test_minimax_gradient_vanishes_where_ns_does_not():
    """When D confidently rejects fakes (logit -> -inf) the saturating loss gives ~no gradient."""
    grads = {}
    for kind in ("minimax", "ns"):
        l = torch.full((1,), -10.0, requires_grad=True)
        losses.g_loss(kind, l).backward()
        grads[kind] = l.grad.abs().item()
    assert grads["minimax"] < 1e-4
    assert grads["ns"] > 0.99


def test_losses_finite_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for kind in LOSSES:
        assert torch.isfinite(losses.d_loss(kind, big, big))
        assert torch.isfinite(losses.g_loss(kind, big))


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.d_loss("bogus", torch.zeros(1), torch.zeros(1))


def test_gradient_penalty_zero_for_unit_slope_critic():
    D = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[0.6, 0.8]]))  # ||grad|| = 1 everywhere
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    assert losses.gradient_penalty(lambda x: D(x).squeeze(1), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        D.weight.mul_(3.0)  # ||grad|| = 3 -> (3 - 1)^2 = 4
    assert losses.gradient_penalty(lambda x: D(x).squeeze(1), real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_r1_penalty_value():
    D = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[3.0, 4.0]]))
    assert losses.r1_penalty(lambda x: D(x).squeeze(1), torch.randn(5, 2)).item() == pytest.approx(25.0)
