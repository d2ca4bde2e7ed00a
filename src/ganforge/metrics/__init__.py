"""Metrics that compare distributions through samples. Each takes samples, never a model.

    from ganforge.metrics import evaluate_toy
    result = evaluate_toy(lambda n: run.sample(n), real_fn, centers=centers, std=0.01)
    result["model"]["modes"], result["floor"]["w1"]

``evaluate_toy`` reports every figure twice: generated vs real ("model"), and a second,
independent real sample vs real ("floor"), the best a model can score at this sample size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganforge.metrics.divergences import histogram_divergences, wasserstein1
from ganforge.metrics.toy import mode_stats
from ganforge.metrics.two_sample import mmd_test

__all__ = ["evaluate_toy", "mode_stats", "wasserstein1", "histogram_divergences", "mmd_test"]


def _figures(fake: np.ndarray, real: np.ndarray, centers: np.ndarray | None, std: float | None,
             hq_threshold: float, bins: int, mmd_n: int, permutations: int, seed: int, mmd: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    if centers is not None and std:
        out.update(mode_stats(fake, centers, std, hq_threshold))
    out["w1"] = wasserstein1(fake, real)
    out.update(histogram_divergences(real, fake, bins=bins))
    if mmd:
        t = mmd_test(fake[:mmd_n], real[:mmd_n], permutations=permutations, seed=seed)
        out.update({"mmd2": t["mmd2"], "mmd_p": t["p_value"]})
    return out


def evaluate_toy(sample_fn: Callable[[int], np.ndarray], real_fn: Callable[[int, int], np.ndarray], *,
                 n: int = 2500, centers: np.ndarray | None = None, std: float | None = None,
                 hq_threshold: float = 3.0, bins: int = 50, mmd_n: int = 1000, permutations: int = 200,
                 seed: int = 0, floor: bool = True, mmd: bool = True) -> dict[str, Any]:
    """Generated vs real on every 2-D metric, and (``floor=True``) real vs real for comparison.

    Args:
        sample_fn: ``sample_fn(n)`` -> (n, 2) generated points in data coordinates.
        real_fn: ``real_fn(n, seed)`` -> (n, 2) real points drawn with that seed.
        n: samples per side (PacGAN protocol: 2,500).
        centers, std: the mixture's modes; mode metrics are skipped when not given.
        mmd_n: points per side for the MMD test (its cost grows as mmd_n^2).
    """
    real = np.asarray(real_fn(n, seed))
    args = dict(centers=centers, std=std, hq_threshold=hq_threshold, bins=bins, mmd_n=mmd_n,
                permutations=permutations, seed=seed, mmd=mmd)
    result: dict[str, Any] = {"model": _figures(np.asarray(sample_fn(n)), real, **args)}
    if floor:
        result["floor"] = _figures(np.asarray(real_fn(n, seed + 1)), real, **args)
    result["provenance"] = {"n_fake": n, "n_real": n, "mmd_n": min(mmd_n, n), "bins": bins,
                            "hq_threshold": hq_threshold, "permutations": permutations, "seed": seed,
                            "w1": "exact (POT emd2, Euclidean)",
                            "kl_jsd": "shared histogram, 0.01 pseudo-count per bin"}
    return result
