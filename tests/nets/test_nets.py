"""Network shapes and the mode-collapse remedies' wiring."""

import torch

from ganforge.nets.layers import MinibatchStd
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator


def test_generator_shapes():
    G = MLPGenerator(z_dim=5, width=16, depth=2, batchnorm=True)
    assert G(torch.randn(7, 5)).shape == (7, 2)


def test_discriminator_outputs_logits_per_pack():
    assert MLPDiscriminator(width=16, depth=2)(torch.randn(8, 2)).shape == (8,)
    D = MLPDiscriminator(width=16, depth=2, pack=4)
    assert D(torch.randn(8, 2)).shape == (2,)
    assert D.body[0].in_features == 8  # 4 samples x 2 coordinates


def test_discriminator_has_no_sigmoid():
    D = MLPDiscriminator(width=16, depth=1)
    with torch.no_grad():
        D.head.bias.fill_(50.0)
    assert (D(torch.randn(4, 2)) > 1).all()


def test_minibatch_std_groups_are_consecutive():
    h = torch.cat([torch.zeros(4, 3), torch.arange(12.0).reshape(4, 3)])  # group 0 constant, group 1 varied
    out = MinibatchStd(group=4)(h)
    assert out.shape == (8, 4)
    assert torch.allclose(out[:4, -1], torch.zeros(4), atol=1e-3)
    assert (out[4:, -1] > 1).all()


def test_mbstd_discriminator():
    D = MLPDiscriminator(width=16, depth=2, mbstd=4)
    assert D(torch.randn(8, 2)).shape == (8,)
