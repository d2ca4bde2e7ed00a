"""DCGAN networks: shapes for every size and mode, conditioning, norms, the reference parameter counts, init."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganforge.nets.dcgan import SIZES, UPSAMPLE, DCGANDiscriminator, DCGANGenerator, init_dcgan_weights
from ganforge.nets.layers import MinibatchStd2d


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_strided_convs_double_and_halve_the_side():
    x = torch.randn(1, 2, 7, 7)
    assert nn.ConvTranspose2d(2, 2, 4, 2, 1)(x).shape == (1, 2, 14, 14)  # (H - 1) * 2 - 2 + 4 = 2H
    assert nn.Conv2d(2, 2, 4, 2, 1)(torch.randn(1, 2, 14, 14)).shape == (1, 2, 7, 7)  # (H + 2 - 4) // 2 + 1 = H/2


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("upsample", UPSAMPLE)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes_and_range(size, upsample, channels):
    G = DCGANGenerator(z_dim=8, size=size, channels=channels, ngf=4, upsample=upsample)
    x = G(torch.randn(2, 8))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1
    assert (G.z_dim, G.size, G.channels, G.num_classes) == (8, size, channels, 0)


def test_resize_mode_has_no_strided_transposed_convs():
    G = DCGANGenerator(z_dim=8, size=32, ngf=4, upsample="resize")
    strided = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert not strided
    assert sum(isinstance(m, nn.Upsample) for m in G.modules()) == 3  # 4 -> 8 -> 16 -> 32


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_discriminator_shapes(size, channels):
    D = DCGANDiscriminator(size=size, channels=channels, ndf=4)
    logits = D(torch.randn(3, channels, size, size))
    assert logits.shape == (3,)


@pytest.mark.parametrize("norm", ["batch", "none", "spectral", "instance"])
def test_discriminator_norms(norm):
    D = DCGANDiscriminator(size=32, channels=3, ndf=4, norm=norm)
    assert D(torch.randn(2, 3, 32, 32)).shape == (2,)
    has = {t: any(isinstance(m, t) for m in D.modules()) for t in (nn.BatchNorm2d, nn.InstanceNorm2d)}
    assert has[nn.BatchNorm2d] == (norm == "batch")
    assert has[nn.InstanceNorm2d] == (norm == "instance")


def test_discriminator_has_no_sigmoid():
    D = DCGANDiscriminator(size=28, ndf=4, norm="none")
    with torch.no_grad():
        D.head[1].bias.fill_(50.0)
    assert (D(torch.randn(2, 1, 28, 28)) > 1).all()


def test_spectral_norm_parametrizes_every_conv_and_linear():
    D = DCGANDiscriminator(size=28, ndf=4, norm="spectral", num_classes=3, cond="projection")
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert len(layers) == 4  # 2 convs, the linear head, the projection embedding
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    logits = D(torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 0]))
    assert logits.shape == (4,) and torch.isfinite(logits).all()
    init_dcgan_weights(D)  # skips parametrized weights without crashing


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("upsample", UPSAMPLE)
def test_conditional_generator(size, upsample):
    G = DCGANGenerator(z_dim=8, size=size, channels=3, ngf=4, upsample=upsample, num_classes=5, embed_dim=3)
    z = torch.randn(4, 8)
    x0, x1 = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long))
    assert x0.shape == (4, 3, size, size)
    assert not torch.allclose(x0, x1)  # the label changes the image
    assert G.embed.embedding_dim == 3
    assert DCGANGenerator(z_dim=8, size=size, ngf=4, num_classes=5).embed.embedding_dim == 5  # min(K, z_dim)
    assert DCGANGenerator(z_dim=4, size=size, ngf=4, num_classes=5).embed.embedding_dim == 4


@pytest.mark.parametrize("cond", ["concat", "projection"])
@pytest.mark.parametrize("size", [28, 32])
def test_conditional_discriminator(cond, size):
    D = DCGANDiscriminator(size=size, channels=3, ndf=4, num_classes=5, cond=cond)
    x = torch.randn(4, 3, size, size)
    l0, l1 = D(x, torch.zeros(4, dtype=torch.long)), D(x, torch.full((4,), 4))
    assert l0.shape == (4,)
    assert not torch.allclose(l0, l1)  # the label changes the score
    if cond == "concat":
        assert D.body[0].in_channels == 3 + 5  # image channels + one label channel per class


def test_conditional_gradients_reach_generator_and_embeddings():
    G = DCGANGenerator(z_dim=8, size=32, ngf=4, num_classes=3)
    D = DCGANDiscriminator(size=32, ndf=4, num_classes=3, cond="projection")
    c = torch.tensor([0, 1, 2, 1])
    D(G(torch.randn(4, 8), c), c).sum().backward()
    assert G.embed.weight.grad.abs().sum() > 0
    assert D.proj.weight.grad.abs().sum() > 0


def test_labels_are_checked():
    G = DCGANGenerator(z_dim=8, size=32, ngf=4, num_classes=3)
    D = DCGANDiscriminator(size=32, ndf=4, num_classes=3)
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(2, 8))
    with pytest.raises(ValueError, match="conditional"):
        D(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unconditional"):
        DCGANGenerator(z_dim=8, size=32, ngf=4)(torch.randn(2, 8), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("kwargs", [{"size": 48}, {"size": 16}, {"upsample": "bilinear"}])
def test_generator_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=str(next(iter(kwargs.values())))):
        DCGANGenerator(**kwargs)


@pytest.mark.parametrize("kwargs", [{"size": 48}, {"norm": "layer"}, {"cond": "film"}])
def test_discriminator_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=str(next(iter(kwargs.values())))):
        DCGANDiscriminator(**kwargs)


def test_discriminator_rejects_wrong_image_size():
    with pytest.raises(ValueError, match="32"):
        DCGANDiscriminator(size=32, ndf=4)(torch.randn(2, 1, 64, 64))


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("cond", ["concat", "projection"])
def test_mbstd_discriminator(size, cond):
    D = DCGANDiscriminator(size=size, channels=3, ndf=4, mbstd=2, num_classes=2, cond=cond)
    assert D(torch.randn(4, 3, size, size), torch.tensor([0, 1, 0, 1])).shape == (4,)
    D = DCGANDiscriminator(size=size, ndf=4, mbstd=4)
    assert D(torch.randn(2, 1, size, size)).shape == (2,)  # group = min(4, B)


def test_minibatch_std_2d_groups_are_consecutive():
    h = torch.cat([torch.zeros(2, 3, 4, 4), torch.randn(2, 3, 4, 4) * 5])  # group 0 constant, group 1 varied
    out = MinibatchStd2d(group=2)(h)
    assert out.shape == (4, 4, 4, 4)
    assert torch.equal(out[:, :3], h)
    assert torch.allclose(out[:2, 3], torch.zeros(2, 4, 4), atol=1e-3)
    assert (out[2:, 3] > 1).all()
    assert (out[2:, 3] == out[2, 3, 0, 0]).all()  # one value per group, broadcast over H x W
    with pytest.raises(ValueError, match="6"):
        MinibatchStd2d(group=4)(torch.randn(6, 3, 4, 4))


def test_classic_parameter_counts():
    """z=100, ngf=ndf=64, 64 px RGB: the same numbers as pytorch/examples' dcgan."""
    assert n_params(DCGANGenerator(z_dim=100, size=64, channels=3, ngf=64)) == 3_576_704
    assert n_params(DCGANDiscriminator(size=64, channels=3, ndf=64)) == 2_765_568


def test_init_statistics():
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=32, size=32, channels=3, ngf=32)
    D = DCGANDiscriminator(size=32, channels=3, ndf=32, norm="none")
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.weight.numel() >= 10_000:
                assert m.weight.mean().abs() < 0.002
                assert abs(m.weight.std().item() - 0.02) < 0.001
                assert m.bias is None or (m.bias == 0).all()
            if isinstance(m, nn.BatchNorm2d) and m.weight.numel() >= 64:
                assert abs(m.weight.mean().item() - 1) < 0.01
                assert (m.bias == 0).all()


@pytest.mark.parametrize("size", [28, 32, 64])
def test_q_head_predicts_codes_from_the_shared_body(size):
    D = DCGANDiscriminator(size=size, channels=1, ndf=8, codes=5, mbstd=2)
    x = torch.randn(4, 1, size, size)
    logits, code_logits = D(x, info=True)
    assert logits.shape == (4,) and code_logits.shape == (4, 5)
    assert torch.equal(D(x), logits)  # info=False gives the same logits
    with pytest.raises(ValueError, match="codes > 0"):
        DCGANDiscriminator(size=size, ndf=8)(x, info=True)
