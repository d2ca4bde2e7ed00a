"""BigGAN networks: shapes, conditioning, hierarchical latents, spectral norm, orthogonal penalty, errors, sizes."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.nets.biggan import (
    SIZES,
    BigGANDiscriminator,
    BigGANGenerator,
    ConditionalBatchNorm2d,
    orthogonal_penalty,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def labels(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes_and_range(size, channels):
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=60, size=size, channels=channels, ngf=4, num_classes=3, shared_dim=8)
    x = G(torch.randn(4, 60), labels(0, 1, 2, 0))
    assert x.shape == (4, channels, size, size)
    assert x.abs().max() <= 1
    assert x.std() > 1e-3  # not a constant image
    assert (G.z_dim, G.size, G.channels, G.num_classes) == (60, size, channels, 3)
    assert G.z_chunks == len(G.blocks) + 1 == {28: 3, 32: 4, 64: 5}[size]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_discriminator_shapes(size, channels):
    D = BigGANDiscriminator(size=size, channels=channels, ndf=4, num_classes=3)
    logits = D(torch.randn(3, channels, size, size), labels(0, 1, 2))
    assert logits.shape == (3,)
    assert len(D.blocks) == {28: 2, 32: 3, 64: 4}[size]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_discriminator_logits_are_raw():
    D = BigGANDiscriminator(size=28, ndf=4, num_classes=2)
    with torch.no_grad():
        D.linear.bias.fill_(50.0)
    assert (D(torch.randn(2, 1, 28, 28), labels(0, 1)) > 1).all()  # no sigmoid


def test_generator_is_conditional():
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=40, size=32, ngf=4, num_classes=4, shared_dim=8).eval()
    z = torch.randn(1, 40).repeat(4, 1)  # the same z four times
    x = G(z, labels(0, 1, 2, 3))
    for i in range(1, 4):
        assert (x[i] - x[0]).abs().max() > 1e-4


def test_discriminator_projection_depends_on_c():
    torch.manual_seed(0)
    D = BigGANDiscriminator(size=32, ndf=4, num_classes=4)
    x = torch.randn(1, 1, 32, 32).repeat(4, 1, 1, 1)
    out = D(x, labels(0, 1, 2, 3))
    assert out.shape == (4,)
    assert (out[1:] - out[0]).abs().min() > 1e-5
    # the projection term is exactly <embed(c), h>: logit(c) - logit(c') = <embed(c) - embed(c'), h>
    h = nn.functional.relu(D.blocks(x[:1])).sum((2, 3))  # (1, F)
    e = D.embed.weight  # (4, F), spectrally normalised
    assert torch.allclose(out - out[0], ((e - e[0]) * h).sum(1), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("size", [28, 32])
def test_each_z_chunk_reaches_its_block(size):
    """Perturbing chunk k (k >= 1) changes block k-1's output but not its input; chunk 0 feeds the stem."""
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=24, size=size, ngf=4, num_classes=3, shared_dim=8).eval()
    chunk = 24 // G.z_chunks
    seen: dict[str, list[torch.Tensor]] = {"in": [], "out": []}

    def hook(module, args, output):
        seen["in"].append(args[0].detach().clone())
        seen["out"].append(output.detach().clone())

    for block in G.blocks:
        block.register_forward_hook(hook)
    z, c = torch.randn(2, 24), labels(0, 2)

    def run(z):
        seen["in"].clear()
        seen["out"].clear()
        x = G(z, c)
        return x, list(seen["in"]), list(seen["out"])

    x0, ins0, outs0 = run(z)
    for k in range(G.z_chunks):
        z2 = z.clone()
        z2[:, k * chunk:(k + 1) * chunk] += 1.0
        x, ins, outs = run(z2)
        assert (x - x0).abs().max() > 1e-4, f"chunk {k} does not reach the image"
        if k == 0:
            assert (ins[0] - ins0[0]).abs().max() > 1e-4  # the stem's map changed
        else:
            j = k - 1
            assert torch.equal(ins[j], ins0[j]), f"chunk {k} leaks into the blocks before block {j}"
            assert (outs[j] - outs0[j]).abs().max() > 1e-4, f"chunk {k} does not reach block {j}"


def sn_modules(m: nn.Module) -> list[nn.Module]:
    return [x for x in m.modules() if parametrize.is_parametrized(x, "weight")]


def test_spectral_norm_is_everywhere_but_the_shared_embedding():
    G = BigGANGenerator(z_dim=40, size=32, ngf=4, num_classes=3, shared_dim=8)
    D = BigGANDiscriminator(size=32, ndf=4, num_classes=3)
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                assert parametrize.is_parametrized(m, "weight"), m
    assert parametrize.is_parametrized(D.embed, "weight")
    assert not parametrize.is_parametrized(G.shared, "weight")
    assert isinstance(G.blocks[0].bn1, ConditionalBatchNorm2d)


def test_spectral_norm_bounds_the_largest_singular_value():
    """Give every SN layer an original weight with sigma_1 about 3 (a rank-one spike of 3 on noise of std 0.02),
    run forward passes in train mode (one power iteration per pass per layer), and check sigma_1 of the
    effective weight. Tolerance: the power-iteration estimate u^T W v is never above sigma_1, so the effective
    sigma_1 is >= 1 up to float32 rounding (1e-4); its excess decays like (sigma_2 / sigma_1)^(2k), with
    sigma_2 <= 0.02 (sqrt(out) + sqrt(in)) < 1.5 here, so < 0.5^(2 * 12) ~ 6e-8 after 12 passes (plus the 15
    iterations at registration, from the old weight): 1e-3 leaves a wide margin and still catches a missing or
    wrong normalisation (sigma_1 would be about 3)."""
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=40, size=32, ngf=4, num_classes=3, shared_dim=8).train()
    D = BigGANDiscriminator(size=32, ndf=4, num_classes=3).train()
    layers = sn_modules(G) + sn_modules(D)
    assert len(layers) > 20
    with torch.no_grad():
        for m in layers:
            W = m.parametrizations.weight.original
            mat = W.reshape(W.shape[0], -1)
            a, b = torch.randn(mat.shape[0]), torch.randn(mat.shape[1])
            spike = 3.0 * torch.outer(a / a.norm(), b / b.norm())
            W.copy_((0.02 * torch.randn_like(mat) + spike).reshape(W.shape))
            assert torch.linalg.matrix_norm(W.reshape(mat.shape), ord=2) > 2.5
    z, c = torch.randn(4, 40), labels(0, 1, 2, 0)
    for _ in range(12):
        D(G(z, c), c)
    for m in layers:
        W = m.weight.detach()
        sigma = torch.linalg.matrix_norm(W.reshape(W.shape[0], -1), ord=2).item()
        assert 1 - 1e-4 < sigma < 1 + 1e-3, (m, sigma)


def test_orthogonal_penalty_zero_for_orthonormal_rows():
    lin = nn.Linear(8, 4)
    nn.init.orthogonal_(lin.weight)  # 4 orthonormal rows
    net = nn.Sequential(nn.Embedding(10, 3), lin, nn.BatchNorm2d(5))  # the embedding's rows are far from it
    assert orthogonal_penalty(net).item() < 1e-10
    with torch.no_grad():
        lin.weight.mul_(torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None])  # still orthogonal rows, other norms
    assert orthogonal_penalty(net).item() < 1e-9  # the norms are free, only the angles count
    conv = nn.Conv2d(2, 3, 3)
    nn.init.orthogonal_(conv.weight)  # rows of the (3, 18) flattening are orthonormal
    assert orthogonal_penalty(conv).item() < 1e-10


def test_orthogonal_penalty_positive_with_gradient_on_the_original_weight():
    torch.manual_seed(0)
    lin = nn.Linear(6, 3, bias=False)
    W = torch.randn(3, 6)
    with torch.no_grad():
        lin.weight.copy_(W)
    spectral_norm(lin)
    p = orthogonal_penalty(lin)
    gram = W @ W.t()
    expected = (gram - torch.diag(torch.diag(gram))).pow(2).sum()
    assert p.item() > 0
    assert torch.allclose(p, expected, rtol=1e-5)  # on the original, not the normalised weight ...
    sigma = torch.linalg.matrix_norm(W, ord=2)
    assert not torch.allclose(p, expected / sigma**4, rtol=1e-2)  # ... which would be sigma^4 smaller
    p.backward()
    grad = lin.parametrizations.weight.original.grad
    assert grad is not None and grad.abs().sum() > 0


def test_orthogonal_penalty_of_a_generator_has_a_graph():
    G = BigGANGenerator(z_dim=40, size=32, ngf=4, num_classes=3, shared_dim=8)
    p = orthogonal_penalty(G)
    assert p.ndim == 0 and p.requires_grad and p.item() > 0
    (1e-4 * p).backward()
    assert G.blocks[0].conv1.parametrizations.weight.original.grad is not None
    assert G.shared.weight.grad is None  # the shared embedding is skipped
    assert orthogonal_penalty(nn.Sequential(nn.ReLU())).item() == 0


@pytest.mark.parametrize("cls", [BigGANGenerator, BigGANDiscriminator])
def test_bad_size(cls):
    with pytest.raises(ValueError, match="40"):
        cls(size=40)


@pytest.mark.parametrize(("size", "chunks"), [(28, 3), (32, 4), (64, 5)])
def test_z_dim_must_divide_into_chunks(size, chunks):
    with pytest.raises(ValueError, match=rf"\({chunks} for size {size}.*z_dim=121"):
        BigGANGenerator(z_dim=121, size=size, ngf=4)


@pytest.mark.parametrize("kwargs", [{"ngf": 0}, {"channels": 0}, {"num_classes": 0}, {"shared_dim": -1}])
def test_generator_bad_counts(kwargs):
    with pytest.raises(ValueError, match=str(next(iter(kwargs.values())))):
        BigGANGenerator(**kwargs)


def test_label_errors():
    G = BigGANGenerator(z_dim=40, size=32, ngf=4, num_classes=3, shared_dim=8)
    D = BigGANDiscriminator(size=32, ndf=4, num_classes=3)
    z, x = torch.randn(2, 40), torch.randn(2, 1, 32, 32)
    for net, inp in ((G, z), (D, x)):
        with pytest.raises(ValueError, match="num_classes=3"):
            net(inp)
        with pytest.raises(ValueError, match=r"\(2,\), got \(2, 1\)"):
            net(inp, torch.zeros(2, 1, dtype=torch.int64))
        with pytest.raises(ValueError, match=r"\(2,\), got \(3,\)"):
            net(inp, labels(0, 1, 2))
        with pytest.raises(ValueError, match="float32"):
            net(inp, torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B, 40\), got \(2, 41\)"):
        G(torch.randn(2, 41), labels(0, 1))
    with pytest.raises(ValueError, match=r"got \(2, 3, 32, 32\)"):
        D(torch.randn(2, 3, 32, 32), labels(0, 1))


def test_parameter_counts_of_the_cpu_defaults():
    """Bounds: G between 0.3 M and 3 M, D between 50 k and 1 M at 28 and 32 px (CPU-trainable, yet a real
    residual network); the exact numbers are the module docstring's."""
    counts = {}
    for size in (28, 32):
        G = BigGANGenerator(z_dim=120, size=size, channels=1, ngf=32, num_classes=10)
        D = BigGANDiscriminator(size=size, channels=1, ndf=32, num_classes=10)
        counts[size] = (n_params(G), n_params(D))
        assert 300_000 <= counts[size][0] <= 3_000_000
        assert 50_000 <= counts[size][1] <= 1_000_000
    assert counts == {32: (965_249, 298_337), 28: (504_321, 67_873)}
    assert 0.5e6 <= counts[32][0] <= 3e6  # the brief's bound for G at 32 px


def test_orthogonal_penalty_of_a_tall_matrix_is_the_direct_sum():
    """More rows than columns (G's stem): the small-Gram identity gives the off-diagonal sum of W W^T."""
    torch.manual_seed(1)
    lin = nn.Linear(5, 40, bias=False)
    W = lin.weight.detach().double()
    gram = W @ W.t()  # (40, 40)
    expected = (gram - torch.diag(torch.diag(gram))).pow(2).sum()
    got = orthogonal_penalty(lin)
    assert abs(float(got.detach()) - float(expected)) <= 1e-5 * float(expected)
    got.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
