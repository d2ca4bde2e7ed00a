"""A model's FID and KID beside the real floor, each with a draw-to-draw interval (a bootstrap over groups).

    from ganforge.metrics.intervals import compare_to_floor
    r = compare_to_floor(ref, fake, floor)            # (N, D) feature arrays: reference, generated, other real
    r["model"]["fid"], r["floor"]["fid"]              # point estimates
    r["ci"]["model"]["fid"], r["ci"]["floor"]["kid"]  # [lo, hi]: 95% of the draw-to-draw spread

What an interval means: the range the score takes, 95 times in 100, when the evaluation is repeated on
other images of the same sizes (other generated samples, other real ones), placed around the observed
value. It describes the estimator's spread at this ``n``, not the distance between the distributions at
infinite ``n``: FID is biased upwards by roughly tr(cov) / n, and model and floor at equal sizes share that
bias, which is why they are compared at equal sizes.

How it is computed (a bootstrap, Efron 1979, that resamples groups of samples):

* every feature set is split at random into groups of one size: min(N, n) / ``groups`` samples (more when
  the sides hold over ``MAX_GROUPS`` groups together).
  A replicate draws as many groups as a side has, with replacement, and recomputes the score.
* The model: the reference's groups and the generated ones are drawn independently (the ordinary
  bootstrap). The floor: both sides are drawn from the pooled real groups (reference and floor images
  together), since they are samples of one distribution: the bootstrap under the null hypothesis. Near
  zero a distance's ordinary bootstrap adds the observed noise to new noise and overstates the spread
  (about sqrt(3)x for the floor); the pooled one does not. A model close to the floor keeps some of that
  excess, so its interval errs wide (docs/evaluation.md has the measured calibration).
* Groups, not single samples, so that a replicate's means and covariances are sums of per-group sums:
  ``resamples`` replicates cost ``resamples`` Cholesky and symmetric-eigenvalue problems of size D and
  nothing that grows with n. Its FID uses tr((S_r S_f)^(1/2)) = sum sqrt(eig(L^T S_f L)), S_r = L L^T;
  its KID is the unbiased MMD^2 of the weighted samples over pairs of distinct samples (a sample drawn
  twice is never paired with itself), from per-group sums of the kernel.
* The interval is the replicates' 2.5 and 97.5 percentiles shifted by (point - median of the replicates)
  (the ordinary bootstrap adds FID bias to every replicate), clipped at 0 for FID.

KID here is the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x . y / D + 1)^3 over all pairs
(Binkowski et al., 2018): the exact value that the average over random subsets (``images.kid``) estimates.
Its sides are capped at ``kid_max_n`` images (a fixed random subset), since the cost grows as n^2.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ganforge.metrics.images import _check_feats, _check_same_dim, frechet_distance, precision_recall

__all__ = ["compare_to_floor", "mmd2_unbiased", "percentile_interval", "LEVEL", "GROUPS", "MAX_CI_DIM",
           "KID_MAX_N"]

LEVEL = 0.95  # the intervals' coverage
GROUPS = 100  # groups on the smallest side of a comparison ...
MAX_GROUPS = 400  # ... and at most this many over all sides (each holds a D x D scatter matrix)
MAX_CI_DIM = 512  # no FID interval for wider features (2048-d Inception: the group sums alone take GBs)
KID_MAX_N = 5000  # KID's images per side (all pairs: the cost grows as n^2)
CHUNK_ELEMENTS = 2**22  # kernel entries per chunk (32 MB of float64)


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Many small matrix problems run fastest on one BLAS thread; with several, on a busy CPU, 30x slower."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


# --------------------------------------------------------------------------- the interval

def percentile_interval(point: float, replicates: np.ndarray, level: float = LEVEL,
                        lower: float | None = None) -> list[float]:
    """[lo, hi]: the ``level`` percentile range of ``replicates``, shifted so their median sits on ``point``
    (and clipped below at ``lower`` when given)."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0 or not np.isfinite(point):
        return [float("nan"), float("nan")]
    a = (1 - level) / 2
    q_lo, med, q_hi = np.quantile(r, [a, 0.5, 1 - a])
    lo, hi = point + (q_lo - med), point + (q_hi - med)
    if lower is not None:
        lo = max(lo, lower)
    return [float(lo), float(hi)]


def _group_ids(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """(n,) the group of each sample (a random split into groups of ``size`` samples, +-1) and the number of groups."""
    g = max(1, n // max(1, size))
    ids = np.empty(n, dtype=np.int64)
    ids[rng.permutation(n)] = np.arange(n) % g
    return ids, g


def _draws(g: int, resamples: int, rng: np.random.Generator, k: int | None = None) -> np.ndarray:
    """(resamples, g) how often each of g groups is drawn in each replicate of ``k`` draws with replacement
    (default g: a side resampled from itself; fewer or more: a side drawn from a pool)."""
    return rng.multinomial(g if k is None else k, np.full(g, 1.0 / g), size=resamples).astype(np.float64)


# --------------------------------------------------------------------------- FID

class _Moments:
    """Per-group count (g,), sum (g, D) and scatter (g, D, D) of (x - shift): replicates' means and covariances."""

    def __init__(self, count: np.ndarray, sums: np.ndarray, scatter: np.ndarray) -> None:
        self.count, self.sum, self.scatter = count, sums, scatter

    @classmethod
    def of(cls, x: np.ndarray, ids: np.ndarray, g: int, shift: np.ndarray) -> _Moments:
        xc = x - shift  # (n, D); a shared shift keeps the scatter sums well conditioned
        D = x.shape[1]
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(g + 1))
        sums, scatter = np.zeros((g, D)), np.zeros((g, D, D))
        for j in range(g):
            xj = xc[order[bounds[j]:bounds[j + 1]]]  # (n_j, D)
            sums[j], scatter[j] = xj.sum(0), xj.T @ xj
        return cls(np.bincount(ids, minlength=g).astype(np.float64), sums, scatter)

    def __add__(self, other: _Moments) -> _Moments:  # the groups of both: a pooled sample
        return _Moments(*(np.concatenate([a, b]) for a, b in ((self.count, other.count), (self.sum, other.sum),
                                                               (self.scatter, other.scatter))))

    @property
    def g(self) -> int:
        return len(self.count)

    def stats(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group draws c (b, g) -> means (b, D) and unbiased covariances (b, D, D) of the replicates."""
        n = c @ self.count  # (b,)
        mu = (c @ self.sum) / n[:, None]  # (b, D)
        D = mu.shape[1]
        S = (c @ self.scatter.reshape(self.g, -1)).reshape(-1, D, D)  # (b, D, D)
        cov = (S - n[:, None, None] * mu[:, :, None] * mu[:, None, :]) / (n - 1)[:, None, None]
        return mu, cov


def _fid_batch(mu_r: np.ndarray, cov_r: np.ndarray, mu_k: np.ndarray, cov_k: np.ndarray) -> np.ndarray:
    """(b,) FIDs of stacks of Gaussians: tr((S_r S_k)^(1/2)) = sum sqrt(eig(L^T S_k L)), S_r = L L^T (Cholesky)."""
    D = cov_r.shape[-1]
    tr_r, tr_k = np.trace(cov_r, axis1=1, axis2=2), np.trace(cov_k, axis1=1, axis2=2)  # (b,)
    jitter = (1e-9 * np.maximum(tr_r / D, 1e-300))[:, None, None] * np.eye(D)  # dead features: zero variance
    try:
        L = np.linalg.cholesky(cov_r + jitter)  # (b, D, D)
    except np.linalg.LinAlgError:  # not positive definite even with the jitter: a symmetric square root
        w, V = np.linalg.eigh(cov_r)
        L = V * np.sqrt(np.clip(w, 0, None))[:, None, :]  # L L^T = S_r
    root = np.sqrt(np.clip(np.linalg.eigvalsh(np.swapaxes(L, 1, 2) @ cov_k @ L), 0, None)).sum(-1)
    return ((mu_r - mu_k) ** 2).sum(1) + tr_r + tr_k - 2 * root


def _fid_replicates(ref: np.ndarray, fake: np.ndarray, floor: np.ndarray | None, size: int, resamples: int,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """(resamples,) bootstrap FIDs: "model" (ref and fake drawn apart), "floor" (both from ref + floor pooled)."""
    shift = ref.mean(0)
    mom = {k: _Moments.of(x, *_group_ids(len(x), size, rng), shift)
           for k, x in (("ref", ref), ("fake", fake), ("floor", floor)) if x is not None}
    pool = mom["ref"] + mom["floor"] if floor is not None else None
    D = ref.shape[1]
    step = max(1, 2**22 // (D * D))  # replicates per batch: (step, D, D) stacks of ~32 MB
    out: dict[str, list[np.ndarray]] = {"model": [], "floor": []}
    with _one_blas_thread():
        for start in range(0, resamples, step):
            b = min(step, resamples - start)
            out["model"].append(_fid_batch(*mom["ref"].stats(_draws(mom["ref"].g, b, rng)),
                                           *mom["fake"].stats(_draws(mom["fake"].g, b, rng))))
            if pool is not None:
                out["floor"].append(_fid_batch(*pool.stats(_draws(pool.g, b, rng, mom["ref"].g)),
                                               *pool.stats(_draws(pool.g, b, rng, mom["floor"].g))))
    return {k: np.concatenate(v) for k, v in out.items() if v}


# --------------------------------------------------------------------------- KID

def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3  # k(x, y) = (x . y / d + 1)^3: (n, m)


class _Grouped:
    """A set sorted by group: x (n, D) with its group ids, and where each group's rows start ((g + 1,) bounds)."""

    def __init__(self, x: np.ndarray, size: int, rng: np.random.Generator) -> None:
        ids, self.g = _group_ids(len(x), size, rng)
        order = np.argsort(ids, kind="stable")
        self.x, self.ids = x[order], ids[order]
        self.bounds = np.searchsorted(self.ids, np.arange(self.g + 1))  # group j: rows bounds[j]:bounds[j + 1]
        self.count = np.diff(self.bounds).astype(np.float64)  # (g,)
        diag = (np.einsum("nd,nd->n", self.x, self.x) / x.shape[1] + 1.0) ** 3  # (n,) k(x_i, x_i)
        self.diag = np.add.reduceat(diag, self.bounds[:-1])  # (g,)


def _group_kernel_sums(a: _Grouped, b: _Grouped) -> np.ndarray:
    """(g_a, g_b) sums of k(a_i, b_j) over the samples of each pair of groups (all pairs, self-pairs included)."""
    out = np.zeros((a.g, b.g))
    per_chunk = max(1, CHUNK_ELEMENTS // max(1, len(b.x) * int(a.count.max())))  # whole groups of a per chunk
    for j in range(0, a.g, per_chunk):
        lo, hi = a.bounds[j], a.bounds[min(a.g, j + per_chunk)]
        k = np.add.reduceat(_kernel(a.x[lo:hi], b.x), b.bounds[:-1], axis=1)  # (rows, g_b)
        out[j:j + per_chunk] = np.add.reduceat(k, a.bounds[j:min(a.g, j + per_chunk)] - lo, axis=0)
    return out


class _KernelGroups:
    """Two grouped sets for KID, the groups of ``a`` followed by those of ``b``: per group its count and sum of
    k(x_i, x_i), and the (g, g) sums of k between groups (all pairs of samples, self-pairs included).
    ``within_a``: ``_group_kernel_sums(a, a)`` when already computed (a reference shared by two comparisons)."""

    def __init__(self, a: _Grouped, b: _Grouped, within_a: np.ndarray | None = None) -> None:
        self.ga, self.g = a.g, a.g + b.g
        self.count = np.concatenate([a.count, b.count])
        self.diag = np.concatenate([a.diag, b.diag])
        self.sums = np.zeros((self.g, self.g))
        self.sums[:a.g, :a.g] = _group_kernel_sums(a, a) if within_a is None else within_a
        self.sums[a.g:, a.g:] = _group_kernel_sums(b, b)
        self.sums[:a.g, a.g:] = _group_kernel_sums(a, b)
        self.sums[a.g:, :a.g] = self.sums[:a.g, a.g:].T

    def mean_k(self, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """Group weights c1, c2 (r, g) -> (r,) mean of k(x, y) over pairs of distinct samples, x of the sample
        weighted c1 and y of the one weighted c2 (a sample is never paired with itself)."""
        pairs = np.einsum("rg,gh,rh->r", c1, self.sums, c2) - (c1 * c2) @ self.diag
        return pairs / ((c1 @ self.count) * (c2 @ self.count) - (c1 * c2) @ self.count)

    def mmd2(self, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """(r,) unbiased MMD^2 between the samples weighted c1 and c2 (r, g)."""
        return self.mean_k(c1, c1) + self.mean_k(c2, c2) - 2 * self.mean_k(c1, c2)

    def sides(self, r: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Weights (r, g) of ``a`` and of ``b`` as they are: every sample once."""
        c1, c2 = np.zeros((r, self.g)), np.zeros((r, self.g))
        c1[:, :self.ga], c2[:, self.ga:] = 1.0, 1.0
        return c1, c2


def mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    """KID over all pairs: unbiased MMD^2 of (N, D) and (M, D) with the cubic polynomial kernel,
    sum_{i != j} k(a_i, a_j) / (N (N - 1)) + sum_{i != j} k(b_i, b_j) / (M (M - 1)) - 2 sum_{i, j} k(a_i, b_j) / (N M).
    """
    a, b = _check_feats(a, "a"), _check_feats(b, "b")
    _check_same_dim(a, b)
    rng = np.random.default_rng(0)
    kg = _KernelGroups(_Grouped(a, len(a), rng), _Grouped(b, len(b), rng))  # one group per side
    return float(kg.mmd2(*kg.sides())[0])


# --------------------------------------------------------------------------- model vs floor

def compare_to_floor(ref: np.ndarray, fake: np.ndarray, floor: np.ndarray | None = None, *, resamples: int = 200,
                     level: float = LEVEL, groups: int = GROUPS, kid_max_n: int = KID_MAX_N, pr: bool = True,
                     pr_k: int = 3, pr_n: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """FID, KID (and precision / recall) of ``fake`` and of ``floor`` against ``ref``, with intervals.

    Args:
        ref: (N, D) features of the reference real images (the training split).
        fake: (n, D) features of generated images.
        floor: (m, D) features of other real images, none of them in ``ref`` (None: no floor). Compare like
            with like: m = n.
        resamples: bootstrap replicates for the intervals (0 = no intervals).
        level: the intervals' coverage.
        groups: groups on the smallest side in the bootstrap; every side's groups have the same size.
        kid_max_n: KID uses at most this many images per side (a fixed random subset of each).
        pr: also precision and recall (k = ``pr_k``, on at most ``pr_n`` random samples per side).
        seed: every random choice here (subsets, groups, replicates); the real side's subsets depend on it
            and the sizes only, so the floor is the same for every model scored at the same sizes.

    Returns {"model": {"fid", "kid"[, "precision", "recall"]}, "floor": {...} ({} without a floor),
    "ci": {"model": {"fid": [lo, hi], "kid": [lo, hi]}, "floor": {...}} or None (``resamples`` = 0),
    "provenance": {...}}.
    """
    ref, fake = _check_feats(ref, "ref"), _check_feats(fake, "fake")
    _check_same_dim(ref, fake)
    if floor is not None:
        floor = _check_feats(floor, "floor")
        _check_same_dim(ref, floor)
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 0:
        raise ValueError(f"resamples must be an integer >= 0, got {resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    sides = {"model": fake} if floor is None else {"model": fake, "floor": floor}
    rng = np.random.default_rng(seed)
    n_all = len(ref) + sum(len(v) for v in sides.values())
    size = max(1, min(len(ref), *(len(v) for v in sides.values())) // groups, -(-n_all // MAX_GROUPS))  # per group
    # KID: a fixed random subset of each side, the reference's as large as the larger other side
    kid_n = {k: min(len(v), kid_max_n) for k, v in sides.items()}
    n_ref_k = min(len(ref), max(kid_n.values()))
    ref_k = ref[np.sort(rng.choice(len(ref), n_ref_k, replace=False))]
    kid_size = max(1, min(n_ref_k, *kid_n.values()) // groups, -(-(n_ref_k + sum(kid_n.values())) // MAX_GROUPS))
    gr = _Grouped(ref_k, kid_size, rng)
    within_ref = _group_kernel_sums(gr, gr)  # shared by the model's and the floor's KID
    kg = {k: _KernelGroups(gr, _Grouped(v[np.sort(rng.choice(len(v), kid_n[k], replace=False))], kid_size, rng),
                           within_ref) for k, v in sides.items()}
    out: dict[str, dict[str, Any]] = {k: {} for k in sides}
    for k, x in sides.items():
        out[k]["fid"] = frechet_distance(ref, x)
        out[k]["kid"] = float(kg[k].mmd2(*kg[k].sides())[0])
    if pr:
        m = {k: min(pr_n, len(ref), len(v)) for k, v in sides.items()}
        ref_pr = rng.permutation(len(ref))  # one random subset of the reference for the model and the floor
        for k, x in sides.items():
            if m[k] > pr_k:
                pick = np.sort(rng.choice(len(x), m[k], replace=False))
                p, r = precision_recall(ref[np.sort(ref_pr[:m[k]])], x[pick], k=pr_k)
            else:  # a tiny set (<= k images): no k-nearest-neighbour radii, so no score
                p = r = None
            out[k].update({"precision": p, "recall": r})
    ci: dict[str, Any] | None = None
    if resamples:
        ci = {k: {} for k in sides}
        if ref.shape[1] <= MAX_CI_DIM:
            reps = _fid_replicates(ref, fake, floor, size, resamples, rng)
            for k in sides:
                ci[k]["fid"] = percentile_interval(out[k]["fid"], reps[k], level, lower=0.0)
        for k, g in kg.items():
            if k == "model":  # the reference and the generated groups, each drawn from itself
                c1, c2 = np.zeros((resamples, g.g)), np.zeros((resamples, g.g))
                c1[:, :g.ga], c2[:, g.ga:] = _draws(g.ga, resamples, rng), _draws(g.g - g.ga, resamples, rng)
            else:  # both sides drawn from the pooled real groups
                c1, c2 = _draws(g.g, resamples, rng, g.ga), _draws(g.g, resamples, rng, g.g - g.ga)
            ci[k]["kid"] = percentile_interval(out[k]["kid"], g.mmd2(c1, c2), level)
    prov = {"n_real": len(ref), "n_fake": len(fake), "n_floor": None if floor is None else len(floor),
            "kid": f"unbiased MMD^2 over all pairs, cubic kernel; {n_ref_k} reference images vs "
                   + ", ".join(f"{v} {'generated' if k == 'model' else 'floor'}" for k, v in kid_n.items()),
            "seed": int(seed)}
    if pr:
        prov.update({"pr_k": int(pr_k), "pr_n": int(min(pr_n, len(ref), len(fake)))})
    if resamples:
        prov["ci"] = {"method": "bootstrap over groups of samples (the floor's from the pooled real groups), "
                                "percentiles centred on the estimate",
                      "level": level, "resamples": int(resamples), "group_size": int(size),
                      "fid": "yes" if ref.shape[1] <= MAX_CI_DIM else f"none: {ref.shape[1]}-d features "
                                                                      f"(> {MAX_CI_DIM}) cost too much"}
    return {"model": out["model"], "floor": out.get("floor", {}), "ci": ci, "provenance": prov}
