"""Paired SSIM is Wang et al. 2004's: checked against torchmetrics' SSIM (whose defaults are Wang's 11x11
Gaussian window, sigma 1.5, K1 0.01, K2 0.03), an independent implementation. Its SSIM map is averaged
over the pixels whose window lies inside the image, as in Wang's reference code (``filter2(.., 'valid')``);
torchmetrics' own mean also takes in the reflect-padded border, so it is compared here on the same pixels."""

import pytest
import torch

from ganforge.metrics.translation import SSIM_WINDOW, paired_scores

torchmetrics = pytest.importorskip("torchmetrics")


def _reference(fake, target):
    from torchmetrics.functional.image import structural_similarity_index_measure

    _, full = structural_similarity_index_measure(fake.double(), target.double(), data_range=2.0,
                                                  return_full_image=True)  # (N, C, H, W), Wang's defaults
    return full[..., 5:-5, 5:-5].mean((1, 2, 3)).mean().item()  # the valid pixels: 5 = the window's radius


def test_torchmetrics_mean_differs_only_by_its_padded_border():
    from torchmetrics.functional.image import structural_similarity_index_measure

    fake, target = _pair(5, (2, 1, 32, 32), 0.3)
    theirs = structural_similarity_index_measure(fake.double(), target.double(), data_range=2.0).item()
    assert abs(theirs - paired_scores(fake, target)["ssim"]) > 1e-4  # the convention differs ...
    assert paired_scores(fake, target)["ssim"] == pytest.approx(_reference(fake, target), abs=1e-9)  # ... not the map


def _pair(seed, shape, noise):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g) * 2 - 1
    target = torch.nn.functional.avg_pool2d(target, 3, 1, 1)  # some structure for SSIM to see
    fake = (target + noise * torch.randn(shape, generator=g)).clamp(-1, 1)
    return fake, target.clamp(-1, 1)


@pytest.mark.parametrize(("seed", "shape", "noise"), [(0, (4, 1, 28, 28), 0.1), (1, (3, 3, 32, 32), 0.3),
                                                     (2, (2, 3, 64, 48), 0.05), (3, (5, 1, 16, 16), 1.0)])
def test_ssim_equals_torchmetrics_wang(seed, shape, noise):
    fake, target = _pair(seed, shape, noise)
    ours = paired_scores(fake, target)["ssim"]
    assert ours == pytest.approx(_reference(fake, target), abs=1e-6)
    assert -1 < ours < 1


def test_identical_images_score_one_and_the_window_is_named():
    _, target = _pair(4, (2, 3, 32, 32), 0.0)
    assert paired_scores(target, target)["ssim"] == pytest.approx(1.0)
    assert "11x11 Gaussian" in SSIM_WINDOW and "sigma 1.5" in SSIM_WINDOW and "population" in SSIM_WINDOW


def test_paired_evaluation_names_the_ssim_window_in_its_provenance():
    from types import SimpleNamespace

    from ganforge.metrics.sampled import _translation_evaluate

    g = torch.Generator().manual_seed(6)
    held = SimpleNamespace(A=torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8),
                           B=torch.randint(0, 256, (6, 3, 16, 16), generator=g, dtype=torch.uint8))
    cfg = SimpleNamespace(data=SimpleNamespace(name="pairs"), eval=SimpleNamespace(n=0), recipe="pix2pix")
    sampler = SimpleNamespace(config=cfg, held_out=lambda split="test": held, size=16, cyclic=False,
                              translate=lambda x: x.flip(-1))
    result = _translation_evaluate(sampler, None, 0)
    assert result["provenance"]["ssim"] == SSIM_WINDOW
    assert -1 < result["model"]["ssim"] < 1
