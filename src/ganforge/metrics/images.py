"""Image-generation metrics on feature vectors: FID, KID, precision / recall, classifier scores.

    from ganforge.metrics.features import get_extractor
    from ganforge.metrics.images import classifier_scores, image_scores
    net = get_extractor("mnist", "cpu")
    s = image_scores(net, real_images, lambda k: run.sample(k), n=10_000,
                     ref_cache_dir=".cache/ref", ref_key=fingerprint(test_set))
    s["fid"], s["kid"], s["kid_std"], s["precision"], s["recall"], s["provenance"]
    classifier_scores(net, lambda y: run.sample(len(y), labels=y), n=10_000, num_classes=10)

The distances work on (N, D) float64 feature arrays and can be used alone: ``frechet_distance``,
``fid_from_stats``, ``kid``, ``precision_recall``. The networks that make features (a small digit / clothing
classifier, the TF-FID Inception-v3) and ``extract`` live in ``ganforge.metrics.features``.

Scores from different feature networks are not comparable: each result names its network in ``provenance``.
FID and KID shrink with the number of samples in different ways (FID is biased upwards for small n; KID is
unbiased), so compare runs at the same ``n``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch

from ganforge.checkpoint import atomic_path
from ganforge.metrics.features import extract, to_float_images

__all__ = ["frechet_distance", "fid_from_stats", "feature_stats", "kid", "precision_recall", "image_scores",
           "classifier_scores"]

CHUNK_ELEMENTS = 2**24  # distance-matrix entries per chunk in precision_recall (128 MB of float64)


def _check_feats(f: np.ndarray, what: str, min_rows: int = 2) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < min_rows or f.shape[1] < 1:
        raise ValueError(f"{what} must be a (N, D) array with N >= {min_rows}, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return f


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} and {b.shape[1]} (two different feature networks?)")


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D)."""
    f = _check_feats(feats, "feats")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between the Gaussians N(mu1, s1) and N(mu2, s2) (Heusel et al., 2017, eq. 6):

    d^2 = ||mu1 - mu2||^2 + Tr(s1 + s2 - 2 (s1 s2)^(1/2)).

    ``scipy.linalg.sqrtm`` computes (s1 s2)^(1/2). When it is not finite (singular product), ``eps`` is added to
    both diagonals and it is retried. Its imaginary part, rounding noise for PSD inputs, is dropped when small
    and is an error when not (covariances from too few samples: use more samples than feature dimensions).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"mean / covariance shapes do not match: {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    for name, v in (("mu1", mu1), ("s1", s1), ("mu2", mu2), ("s2", s2)):
        if not np.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # "matrix is singular" (dead ReLU features): checked below instead
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2)  # (D, D), possibly complex
        if not np.isfinite(covmean).all():
            offset = np.eye(d) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        scale = max(1.0, float(np.abs(np.diagonal(covmean).real).max()))
        imag = float(np.abs(np.diagonal(covmean).imag).max())
        if imag > 1e-3 * scale:
            raise ValueError(f"sqrtm(s1 s2) has an imaginary component {imag:.3g} (covariances near singular: "
                             f"use more samples than the {d} feature dimensions)")
        covmean = covmean.real
    fid = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    return max(fid, 0.0)  # >= 0 in exact arithmetic; clip rounding noise


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two feature sets (N, D) and (M, D): the Frechet distance of their fitted Gaussians."""
    a, b = _check_feats(feats_a, "feats_a"), _check_feats(feats_b, "feats_b")
    _check_same_dim(a, b)
    return fid_from_stats(*feature_stats(a), *feature_stats(b))


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3  # k(x, y) = (x . y / d + 1)^3: (n, m)


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al., 2018): mean and std of unbiased MMD^2 over random subsets.

    Each of ``subsets`` rounds draws m = min(subset_size, N, M) rows of each set without replacement and computes
    MMD_u^2 = sum_{i != j} k(a_i, a_j) / (m (m - 1)) + sum_{i != j} k(b_i, b_j) / (m (m - 1))
              - 2 sum_{i, j} k(a_i, b_j) / m^2,
    with the cubic polynomial kernel k(x, y) = (x . y / D + 1)^3. Unbiased: ~0 (and can be < 0) for equal
    distributions. ``std`` is the population std over the subsets (as torchmetrics).
    """
    a, b = _check_feats(feats_a, "feats_a"), _check_feats(feats_b, "feats_b")
    _check_same_dim(a, b)
    for name, v in (("subsets", subsets), ("subset_size", subset_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got subset_size={subset_size}")
    rng = np.random.default_rng(seed)
    scores = np.empty(subsets)
    for s in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]  # (m, D)
        y = b[rng.choice(len(b), m, replace=False)]  # (m, D)
        k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)  # (m, m) each
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        scores[s] = within - 2 * k_xy.sum() / m**2
    return float(scores.mean()), float(scores.std())


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of (N, D) to its k-th nearest other row: (N,)."""
    chunk = max(1, CHUNK_ELEMENTS // len(x))
    # k + 1: each row's nearest row is itself, at distance 0
    return torch.cat([torch.cdist(x[i:i + chunk], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), chunk)])


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of ``points`` (N, D) inside at least one ball (centres (M, D), radii (M,))."""
    chunk = max(1, CHUNK_ELEMENTS // len(centres))
    hits = sum(int((torch.cdist(points[i:i + chunk], centres) <= radii).any(dim=1).sum())  # (chunk, M) -> (chunk,)
               for i in range(0, len(points), chunk))
    return hits / len(points)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019) with k-NN manifold estimates.

    The real manifold is the union of balls around each real feature with radius its distance to the k-th
    nearest other real feature; likewise for fake. precision = fraction of fake inside the real manifold
    (quality); recall = fraction of real inside the fake manifold (coverage). Both in [0, 1].
    """
    r, f = _check_feats(real, "real"), _check_feats(fake, "fake")
    _check_same_dim(r, f)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k >= min(len(r), len(f)):
        raise ValueError(f"k={k} needs more than k samples per side, got {len(r)} real and {len(f)} fake")
    rt, ft = torch.from_numpy(r), torch.from_numpy(f)
    precision = _inside(ft, rt, _knn_radii(rt, k))
    recall = _inside(rt, ft, _knn_radii(ft, k))
    return precision, recall


def _cache_path(ref_cache_dir: str | Path, ref_key: str, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{ref_key}-{name}").strip("_")
    return Path(ref_cache_dir) / f"{safe}.npz"


def real_features(extractor: Any, real: Any, n_real: int | None, batch: int, ref_cache_dir: str | Path | None,
                   ref_key: str | None) -> tuple[np.ndarray, bool]:
    """Features of the real images, from the cache file when it holds the same network and count."""
    name = getattr(extractor, "name", type(extractor).__name__)
    n = len(real) if n_real is None else int(n_real)
    path = _cache_path(ref_cache_dir, ref_key, name) if ref_cache_dir is not None and ref_key is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["features"]) == name and int(z["n_real"]) == n:
                    return z["feats"].astype(np.float64), True
        except (OSError, ValueError, KeyError):
            pass  # unreadable or from another version: recompute and overwrite
    feats = extract(extractor, real, n, batch=batch)  # (n, D)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # atomic: a concurrent reader sees the old file or the new one; the network outputs are float32, so
        # storing float32 loses nothing
        with atomic_path(path, keep_suffix=True) as tmp:
            np.savez(tmp, feats=feats.astype(np.float32), features=np.array(name), n_real=np.array(n),
                     ref_key=np.array(str(ref_key)))
    return feats, False


def image_scores(extractor: Any, real: Any, sample_fn: Callable[[int], torch.Tensor] | torch.Tensor, n: int,
                 ref_cache_dir: str | Path | None = None, ref_key: str | None = None, *, n_real: int | None = None,
                 batch: int = 256, kid_subsets: int = 50, kid_subset_size: int = 1000, pr_k: int = 3,
                 pr_n: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """FID, KID (mean, std), precision and recall of ``n`` generated images against real images.

    Args:
        extractor: a feature network (``ganforge.metrics.features.get_extractor``) with ``name``.
        real: real images (N, C, H, W), float in [-1, 1] or uint8, or a data set with such an ``x`` attribute.
        sample_fn: ``sample_fn(k)`` -> k generated images (k, C, H, W) in [-1, 1]; called repeatedly with
            k <= ``batch`` until n are drawn, so each call must return new images. A tensor of images works too
            (its first n are used): pass held-out real images this way for a real-vs-real floor.
        n: generated images to score.
        ref_cache_dir, ref_key: with both given, the real features are read from / written to
            ``ref_cache_dir / f"{ref_key}-{extractor.name}.npz"`` (name made file-safe). ``ref_key`` must identify
            the real data (``ganforge.data.images.fingerprint``); the count and network are checked on reading.
        n_real: real images to use (the first ``n_real``); None = all.
        batch: images per network pass.
        kid_subsets, kid_subset_size: see ``kid``.
        pr_k, pr_n: precision / recall with k = ``pr_k`` on ``pr_n`` randomly chosen features of each side
            (the cost grows as pr_n^2).
        seed: the random draws of KID's subsets and precision / recall's samples.

    Returns {"fid", "kid", "kid_std", "precision", "recall", "provenance": {"features", "n_real", "n_fake", ...}};
    precision and recall are None when either side has no more than ``pr_k`` images.
    """
    if hasattr(real, "x") and not isinstance(real, (torch.Tensor, np.ndarray)):
        real = real.x  # a data set object (ImageSet): its (N, C, H, W) uint8 images
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if n_real is not None and not 2 <= n_real <= len(real):
        raise ValueError(f"n_real must be in [2, {len(real)}] (the real images given) or None, got {n_real!r}")
    name = getattr(extractor, "name", type(extractor).__name__)
    feats_real, cached = real_features(extractor, real, n_real, batch, ref_cache_dir, ref_key)  # (N, D)
    feats_fake = extract(extractor, sample_fn, n, batch=batch)  # (n, D)
    kid_mean, kid_std = kid(feats_real, feats_fake, kid_subsets, kid_subset_size, seed)
    m = min(pr_n, len(feats_real), len(feats_fake))
    rng = np.random.default_rng(seed)  # a random subset: real data sets are often sorted by class
    precision = recall = None  # a tiny data set (<= k images): no k-nearest-neighbour radii, so no score
    if m > pr_k:
        precision, recall = precision_recall(feats_real[np.sort(rng.choice(len(feats_real), m, replace=False))],
                                             feats_fake[np.sort(rng.choice(len(feats_fake), m, replace=False))],
                                             k=pr_k)
    return {
        "fid": frechet_distance(feats_real, feats_fake), "kid": kid_mean, "kid_std": kid_std,
        "precision": precision, "recall": recall,
        "provenance": {
            "features": name, "dim": int(feats_real.shape[1]), "n_real": len(feats_real), "n_fake": len(feats_fake),
            "kid_subsets": int(kid_subsets), "kid_subset_size": min(int(kid_subset_size), len(feats_real), n),
            "pr_k": int(pr_k), "pr_n": int(m), "seed": int(seed), "ref_key": ref_key, "ref_cached": cached,
        },
    }


@torch.no_grad()
def classifier_scores(clf: Any, sample_fn: Callable[[Any], torch.Tensor], n: int, num_classes: int, *,
                      conditional: bool = True, batch: int = 256) -> dict[str, Any]:
    """How a classifier judges generated images: accuracy on the requested labels and an IS-style score.

    Labels are requested in a balanced order, y_i = i mod num_classes, ``batch`` at a time.

    Args:
        clf: a classifier with ``logits(x)`` -> (B, num_classes) (``ClassifierFeatures``), or a module whose
            forward returns logits (``DigitClassifier``).
        sample_fn: ``conditional``: ``sample_fn(y)`` -> images (len(y), C, H, W) in [-1, 1] of classes ``y``,
            an int64 tensor (k,) on the CPU. Otherwise ``sample_fn(k)`` -> k images (no accuracy then).
        n: images to score.
        num_classes: classes of the generator's labels (and of the classifier).

    Returns {"accuracy" (None if not conditional), "is", "provenance"}. "is" is the Inception Score's formula
    (Salimans et al., 2016) with this classifier instead of Inception: exp(E_x KL(p(y|x) || p(y))), p(y) the
    mean of p(y|x) over the n images; 1 (all images alike or all uncertain) to num_classes (each image
    confidently one class, classes equally often). One split over all n images.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    logits_fn = getattr(clf, "logits", clf)
    if isinstance(clf, torch.nn.Module):
        clf.eval()
    device = next((p.device for p in clf.parameters()), torch.device("cpu")) if isinstance(
        clf, torch.nn.Module) else torch.device("cpu")
    y_all = torch.arange(n) % num_classes  # (n,) balanced requested labels
    probs, correct = [], 0
    for i in range(0, n, batch):
        y = y_all[i:i + batch]  # (k,)
        x = sample_fn(y) if conditional else sample_fn(len(y))
        what = f"sample_fn(<{len(y)} labels>)" if conditional else f"sample_fn({len(y)})"
        x = to_float_images(x, what)
        if len(x) != len(y):
            raise ValueError(f"{what} returned {len(x)} images, expected {len(y)}")
        logits = logits_fn(x.to(device)).double().cpu()  # (k, K)
        if logits.ndim != 2 or logits.shape[1] != num_classes:
            raise ValueError(f"classifier returned logits of shape {tuple(logits.shape)}, expected (k, {num_classes})")
        correct += int((logits.argmax(1) == y).sum())
        probs.append(torch.softmax(logits, dim=1))
    p = torch.cat(probs).numpy()  # (n, K) p(y|x)
    p_y = p.mean(axis=0)  # (K,) marginal p(y)
    kl = np.sum(p * (np.log(np.clip(p, 1e-30, None)) - np.log(np.clip(p_y, 1e-30, None))), axis=1)  # (n,)
    return {
        "accuracy": correct / n if conditional else None,
        "is": float(math.exp(kl.mean())),
        "provenance": {"classifier": getattr(clf, "name", type(clf).__name__), "n_fake": int(n),
                       "num_classes": int(num_classes), "labels": "y_i = i mod num_classes" if conditional else None},
    }
