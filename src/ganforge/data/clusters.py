"""Unsupervised labels for image data: k-means clusters of the training images.

    y = cluster_labels(images, k=50, seed=0)     # (N,) int64 cluster ids, cached on disk by data and settings

A conditional GAN trained on these pseudo-labels instead of classes is still an unsupervised model
(no human labels are used), in the spirit of cluster-conditioned GANs (Sage et al., 2018; Liu et
al., 2020, "self-conditioned GAN", who cluster D's features; here the pixels, clustered once):
each cluster is a narrower distribution than the whole data set, so G need not draw the shapes
in between, and sampling draws each cluster as often as the data has it. ``model.clusters=K``
switches it on.

The images are shrunk to at most 16x16 (area averaging) and clustered with scikit-learn's
KMeans (MiniBatchKMeans above 20,000 images), seeded. The labels are cached under the feature
cache folder, keyed by the data's fingerprint, k and the seed, so a resumed run reads exactly
the labels it started with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


def _features(x: torch.Tensor) -> np.ndarray:
    """uint8 images (N, C, H, W) -> float32 (N, C * h * w) in [0, 1], h = w = min(H, 16)."""
    side = min(x.shape[-1], 16)
    small = F.adaptive_avg_pool2d(x.float() / 255.0, side)  # (N, C, side, side)
    return small.flatten(1).numpy().astype(np.float32)


def cluster_labels(x: torch.Tensor, k: int, seed: int = 0, cache_dir: Path | None = None) -> torch.Tensor:
    """k-means cluster ids (N,) int64 of uint8 images ``x`` (N, C, H, W); every cluster is non-empty.

    Args:
        x: the training images.
        k: clusters, 2 <= k <= N.
        seed: the k-means seed.
        cache_dir: folder for the cached labels (None = no cache).
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(x)
    if not 2 <= k <= n:
        raise ValueError(f"clusters must be between 2 and the number of images ({n}), got {k}")
    digest = hashlib.sha1(x.numpy().tobytes()).hexdigest()[:16]
    path = Path(cache_dir) / f"clusters-{digest}-k{k}-s{seed}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        return torch.from_numpy(np.load(path)).long()
    feats = _features(x)
    if n <= 20_000:
        km = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096)
    labels = km.fit_predict(feats).astype(np.int64)
    # renumber by size (largest first) and drop empty ids, so ids are 0..k'-1 with k' = k in practice
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    labels = remap[labels]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, labels)
        tmp.replace(path)
    return torch.from_numpy(labels)
