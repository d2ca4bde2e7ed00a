"""Two-sample test: is there evidence that two samples come from different distributions?

    from ganforge.metrics import mmd_test
    mmd_test(fake, real, permutations=200)   # {"mmd2": 0.0012, "p_value": 0.31, "bandwidth": 0.52}

Gaussian-kernel maximum mean discrepancy (Gretton et al., 2012) with a permutation p-value.
Every permutation reuses one pooled kernel matrix, so the P statistics cost one (N, N) x (N, P)
matrix product: N = 2,000 points and P = 200 permutations take a fraction of a second on a CPU.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import pdist, squareform

from ganforge.metrics.toy import check_points


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 200, bandwidth: float | None = None,
             seed: int = 0) -> dict[str, float]:
    """MMD^2 between ``x`` (n, d) and ``y`` (m, d) and its permutation-test p-value.

    Gretton et al. (2012), eq. 5 (biased V-statistic, all pairs with the diagonal):
    MMD_b^2 = 1/n^2 sum k(x_i, x_j) + 1/m^2 sum k(y_i, y_j) - 2/(nm) sum k(x_i, y_j),
    k(a, b) = exp(-||a - b||^2 / (2 h^2)). ``bandwidth`` h defaults to the median pairwise distance of
    the pooled sample (median heuristic). The p-value is (1 + #{permuted MMD^2 >= observed}) / (1 + P):
    small values mean the test tells the samples apart; the smallest possible is 1 / (1 + P).
    """
    x, y = check_points(x, "x", None), check_points(y, "y", None)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 1:
        raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
    if bandwidth is not None and not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a finite number > 0 or None, got {bandwidth!r}")
    n, m = len(x), len(y)
    d2 = pdist(np.concatenate([x, y]), "sqeuclidean")  # (N (N - 1) / 2,) pooled pairs, N = n + m
    if bandwidth is None:
        h = math.sqrt(float(np.median(d2))) if d2.size else 0.0
        bandwidth = h if h > 0 else 1.0  # all points equal: any bandwidth gives MMD^2 = 0
    K = squareform(np.exp(-d2 / (2 * bandwidth**2)))  # (N, N)
    np.fill_diagonal(K, 1.0)  # k(a, a) = 1
    # a^T K a = MMD_b^2 for the signed weights a = +1/n on the "x" points, -1/m on the "y" points.
    # Column 0 is the observed labelling, columns 1..P random relabellings of the pooled sample.
    w = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])  # (N,)
    rng = np.random.default_rng(seed)
    A = np.column_stack([w, rng.permuted(np.tile(w, (permutations, 1)), axis=1).T])  # (N, P + 1)
    stats = np.einsum("ip,ip->p", A, K @ A)  # (P + 1,)
    observed = float(stats[0])
    exceed = int(np.sum(stats[1:] >= observed - 1e-12 * max(1.0, abs(observed))))  # ties count as >=
    return {"mmd2": observed, "p_value": (1 + exceed) / (1 + permutations), "bandwidth": float(bandwidth)}
