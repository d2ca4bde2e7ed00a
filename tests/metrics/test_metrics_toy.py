"""Metrics against cases with known answers: a distribution against itself, a dropped mode, a shifted copy.

    .venv/bin/pytest -q tests/metrics/test_metrics_toy.py
"""

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ganforge.data.toy2d import ring
from ganforge.metrics import evaluate_toy, histogram_divergences, mmd_test, mode_stats, wasserstein1

CENTERS = ring(8).numpy().astype(np.float64)  # (8, 2): (cos 2 pi i / 8, sin 2 pi i / 8)
STD = 0.01


def ring_sample(n, seed, std=STD, modes=range(8)):
    rng = np.random.default_rng(seed)
    idx = rng.choice(list(modes), size=n)
    return CENTERS[idx] + std * rng.normal(size=(n, 2))


def test_mode_stats_exact_centres():
    s = mode_stats(np.repeat(CENTERS, 10, axis=0), CENTERS, STD)
    assert s == {"modes": 8, "hq": 100.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_mode_stats_dropped_mode_has_known_reverse_kl():
    s = mode_stats(np.repeat(CENTERS[:7], 10, axis=0), CENTERS, STD)
    assert s["modes"] == 7 and s["hq"] == 100.0
    assert s["reverse_kl"] == pytest.approx(7 * (1 / 7) * math.log((1 / 7) / (1 / 8)))  # = log(8 / 7)


def test_mode_stats_threshold_and_far_samples():
    near = CENTERS[:1] + [[2.9 * STD, 0.0]]
    far = CENTERS[:1] + [[3.1 * STD, 0.0]]
    assert mode_stats(near, CENTERS, STD) == {"modes": 1, "hq": 100.0, "reverse_kl": pytest.approx(math.log(8))}
    s = mode_stats(far, CENTERS, STD)
    assert s["hq"] == 0.0 and s["modes"] == 0 and math.isnan(s["reverse_kl"])  # documented: NaN, not 0
    assert mode_stats(far, CENTERS, STD, threshold=3.2)["modes"] == 1
    s = mode_stats(CENTERS * (1 + 10 * STD), CENTERS, STD)  # every sample 10 std out from its mode
    assert s["modes"] == 0 and s["hq"] == 0.0
    half = mode_stats(np.concatenate([CENTERS[:4], CENTERS[4:] * (1 + 10 * STD)]), CENTERS, STD)
    assert half["modes"] == 4 and half["hq"] == 50.0 and half["reverse_kl"] == pytest.approx(math.log(2))


def test_wasserstein_known_values():
    x = np.random.default_rng(0).normal(size=(300, 2))
    assert wasserstein1(x, x) == pytest.approx(0.0, abs=1e-9)
    assert wasserstein1(x, x + [0.7, 0.0]) == pytest.approx(0.7, rel=1e-6)  # a translation moves all mass by d
    assert wasserstein1(np.zeros((3, 2)), np.full((5, 2), [3.0, 4.0])) == pytest.approx(5.0)  # point masses
    # sizes differ: 1/2 of the mass at 0 and at 2 vs all at 1 -> every unit moves 1; any dimension
    assert wasserstein1(np.array([[0.0], [2.0]]), np.ones((3, 1))) == pytest.approx(1.0)
    assert wasserstein1(x[:100], x) == pytest.approx(wasserstein1(x, x[:100]))


def test_histogram_divergences_same_and_symmetry():
    x = ring_sample(4000, 0)
    same = histogram_divergences(x, x)
    assert same["kl"] == pytest.approx(0.0, abs=1e-12) and same["jsd"] == pytest.approx(0.0, abs=1e-12)
    half = ring_sample(4000, 1, modes=range(4))
    a, b = histogram_divergences(x, half), histogram_divergences(half, x)
    assert a["jsd"] == pytest.approx(b["jsd"])  # JSD is symmetric, KL is not
    assert a["kl"] > 1.5 * b["kl"]  # real puts mass where fake has none: KL(real || fake) is the larger
    floor = histogram_divergences(x, ring_sample(4000, 2))
    assert floor["kl"] < 0.1 * a["kl"] and floor["jsd"] < 0.1 * a["jsd"]


@pytest.mark.parametrize("alpha", [0.01, 0.5])
def test_histogram_disjoint_supports_near_log2(alpha):
    n, bins = 4000, 50
    x = ring_sample(n, 0)
    far = histogram_divergences(x, x + 10.0, bins=bins, alpha=alpha)
    eps = bins**2 * alpha / (n + bins**2 * alpha)  # share of each histogram that is pseudo-count
    # mixing both sides with the same uniform share eps can only lower JSD (convexity): <= (1 - eps) log 2
    assert (1 - 2 * eps) * math.log(2) < far["jsd"] <= (1 - eps) * math.log(2) + 1e-12
    assert far["kl"] > math.log(1 / (2 * eps))  # real mass on bins where fake has only pseudo-counts
    assert histogram_divergences(x, x + 10.0, alpha=0.0)["kl"] == math.inf


def test_mmd_statistic_matches_definition():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 2)), rng.normal(0.3, 1.0, size=(60, 2))
    kxx, kyy, kxy = (np.exp(-cdist(a, b, "sqeuclidean") / (2 * 0.8**2)).mean() for a, b in [(x, x), (y, y), (x, y)])
    assert mmd_test(x, y, bandwidth=0.8)["mmd2"] == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    pooled = np.concatenate([x, y])
    median = np.median(cdist(pooled, pooled)[np.triu_indices(100, 1)])
    assert mmd_test(x, y)["bandwidth"] == pytest.approx(median)


def test_mmd_test_power():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    same = mmd_test(x, y, permutations=200, seed=1)
    assert same["p_value"] > 0.05
    shifted = mmd_test(x, y + 0.5, permutations=200, seed=1)
    assert shifted["p_value"] <= 2 / 201
    assert mmd_test(x, y + 1.0)["mmd2"] > shifted["mmd2"] > same["mmd2"]
    assert mmd_test(x, y, seed=5) == mmd_test(x, y, seed=5)  # seeded


def real_ring(n, seed):
    return ring_sample(n, 1000 + seed)


def test_evaluate_toy_model_close_to_floor():
    good = evaluate_toy(lambda n: ring_sample(n, 7), real_ring, n=1000, centers=CENTERS, std=STD, mmd_n=300,
                        permutations=50)
    m, f = good["model"], good["floor"]
    assert set(m) == set(f) == {"modes", "hq", "reverse_kl", "w1", "kl", "jsd", "mmd2", "mmd_p"}
    assert m["modes"] == f["modes"] == 8 and m["hq"] > 98 and f["hq"] > 98
    # at n = 1000, real-vs-real W1 itself ranges 0.02-0.09 over seeds (mode weights fluctuate); a dropped mode is > 0.14
    assert m["w1"] < f["w1"] + 0.05 and m["jsd"] < 2 * f["jsd"] + 0.01 and m["reverse_kl"] < 0.02
    assert m["mmd_p"] > 0.02
    assert good["provenance"]["n"] == good["provenance"]["n_fake"] == 1000
    json.dumps(good, allow_nan=False)  # plain Python values
    assert all(type(v) in (int, float) for side in ("model", "floor") for v in good[side].values())


def test_evaluate_toy_dropped_mode():
    dropped = evaluate_toy(lambda n: ring_sample(n, 7, modes=range(7)), real_ring, n=1000, centers=CENTERS,
                           std=STD, mmd_n=1000, permutations=50)
    m, f = dropped["model"], dropped["floor"]
    assert m["modes"] == 7 and f["modes"] == 8
    assert m["w1"] > f["w1"] + 0.1 and m["kl"] > 5 * f["kl"] and m["mmd_p"] < 0.05


def test_evaluate_toy_options():
    r = evaluate_toy(lambda n: ring_sample(n, 7), real_ring, n=200, floor=False, mmd=False)
    assert set(r) == {"model", "provenance"} and set(r["model"]) == {"w1", "kl", "jsd"}  # no centres: no modes


BAD = {"3 columns": np.zeros((5, 3)), "empty": np.zeros((0, 2)), "nan": np.array([[0.0, 0.0], [np.nan, 0.0]]),
       "1-d": np.zeros(4), "inf": np.array([[np.inf, 1.0]])}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_bad_input_is_named(bad):
    with pytest.raises(ValueError, match=r"fake must have shape \(N, 2\) with N >= 1, got shape|fake holds 1 non-fin"):
        histogram_divergences(CENTERS, bad)
    with pytest.raises(ValueError, match=r"fake must have shape \(N, d\)|fake holds 1 non-finite|centers must have"):
        mode_stats(bad, CENTERS, STD)
    with pytest.raises(ValueError, match=r"x must have shape|x holds 1 non-finite|same dimension, got 3 and 2"):
        wasserstein1(bad, CENTERS)
    with pytest.raises(ValueError, match=r"y must have shape|y holds 1 non-finite|same dimension, got 2 and 3"):
        mmd_test(CENTERS, bad)
    with pytest.raises(ValueError, match=r"sample_fn\(8\)"):
        evaluate_toy(lambda n: bad, real_ring, n=8)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match=r"std must be a finite number > 0, got 0"):
        mode_stats(CENTERS, CENTERS, 0)
    with pytest.raises(ValueError, match=r"got shape \(8, 2\)"):
        mode_stats(np.zeros((4, 3)), CENTERS, STD)  # dimension mismatch names the centres' shape
    with pytest.raises(ValueError, match="bins must be an integer >= 1, got 0"):
        histogram_divergences(CENTERS, CENTERS, bins=0)
    with pytest.raises(ValueError, match="bandwidth .* got -1.0"):
        mmd_test(CENTERS, CENTERS, bandwidth=-1.0)
    with pytest.raises(ValueError, match="same dimension"):
        wasserstein1(np.zeros((2, 2)), np.zeros((2, 3)))
