"""Metrics against cases with known answers: a distribution against itself, a dropped mode, a shifted copy."""

import math

import numpy as np
import pytest

from ganforge.data.toy2d import ring
from ganforge.metrics import evaluate_toy, histogram_divergences, mmd_test, mode_stats, wasserstein1

CENTERS = ring(8).numpy().astype(np.float64)


def ring_sample(n, seed, std=0.01, modes=range(8)):
    rng = np.random.default_rng(seed)
    idx = rng.choice(list(modes), size=n)
    return CENTERS[idx] + std * rng.normal(size=(n, 2))


def test_mode_stats_exact_centres():
    s = mode_stats(np.repeat(CENTERS, 10, axis=0), CENTERS, 0.01)
    assert s == {"modes": 8, "hq": 100.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}


def test_mode_stats_dropped_mode_has_known_reverse_kl():
    s = mode_stats(np.repeat(CENTERS[:7], 10, axis=0), CENTERS, 0.01)
    assert s["modes"] == 7 and s["hq"] == 100.0
    assert s["reverse_kl"] == pytest.approx(math.log(8 / 7))  # uniform over 7 of 8 modes


def test_mode_stats_threshold_and_far_samples():
    near = CENTERS[:1] + [[0.029, 0.0]]  # 2.9 std
    far = CENTERS[:1] + [[0.031, 0.0]]  # 3.1 std
    assert mode_stats(near, CENTERS, 0.01)["hq"] == 100.0
    s = mode_stats(far, CENTERS, 0.01)
    assert s["hq"] == 0.0 and s["modes"] == 0 and math.isnan(s["reverse_kl"])
    s = mode_stats(np.zeros((50, 2)), CENTERS, 0.01)  # all at the origin, 100 std from every mode
    assert s["modes"] == 0 and s["hq"] == 0.0


def test_wasserstein_known_values():
    x = np.random.default_rng(0).normal(size=(300, 2))
    assert wasserstein1(x, x) == pytest.approx(0.0, abs=1e-9)
    assert wasserstein1(x, x + [0.7, 0.0]) == pytest.approx(0.7, rel=1e-6)  # a translation moves all mass by d
    assert wasserstein1(np.zeros((3, 2)), np.full((5, 2), [3.0, 4.0])) == pytest.approx(5.0)  # point masses


def test_histogram_divergences():
    x = ring_sample(4000, 0)
    same = histogram_divergences(x, x)
    assert same["kl"] == pytest.approx(0.0, abs=1e-12) and same["jsd"] == pytest.approx(0.0, abs=1e-12)
    far = histogram_divergences(x, x + 10.0)  # disjoint supports
    assert far["jsd"] > 0.9 * math.log(2) and far["jsd"] <= math.log(2) + 1e-12
    assert far["kl"] > 3.0
    a, b = histogram_divergences(x, ring_sample(4000, 1, modes=range(4))), None
    b = histogram_divergences(ring_sample(4000, 1, modes=range(4)), x)
    assert a["jsd"] == pytest.approx(b["jsd"])  # JSD is symmetric, KL is not
    assert a["kl"] != pytest.approx(b["kl"])


def test_mmd_test_power():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    same = mmd_test(x, y, permutations=200, seed=1)
    assert same["p_value"] > 0.05
    shifted = mmd_test(x, y + 0.5, permutations=200, seed=1)
    assert shifted["p_value"] <= 2 / 201
    assert mmd_test(x, y + 1.0)["mmd2"] > shifted["mmd2"] > same["mmd2"]


def test_evaluate_toy_model_vs_floor():
    def real(n, seed):
        return ring_sample(n, 1000 + seed)

    good = evaluate_toy(lambda n: ring_sample(n, 7), real, n=1000, centers=CENTERS, std=0.01, mmd_n=300,
                        permutations=50)
    m, f = good["model"], good["floor"]
    assert m["modes"] == f["modes"] == 8 and m["hq"] > 98
    assert m["w1"] < 2 * f["w1"] + 0.02
    dropped = evaluate_toy(lambda n: ring_sample(n, 7, modes=range(7)), real, n=1000, centers=CENTERS, std=0.01,
                           mmd_n=1000, permutations=50)
    assert dropped["model"]["modes"] == 7 and dropped["model"]["w1"] > 2 * dropped["floor"]["w1"]
    assert dropped["model"]["mmd_p"] < 0.05
    assert good["provenance"]["n_fake"] == 1000


@pytest.mark.parametrize("bad", [np.zeros((5, 3)), np.zeros((0, 2)), np.array([[np.nan, 0.0]]), np.zeros(4)])
def test_bad_input_is_named(bad):
    with pytest.raises(ValueError, match="must have shape|non-finite"):
        mode_stats(bad, CENTERS, 0.01)
    with pytest.raises(ValueError, match="must have shape|non-finite"):
        histogram_divergences(bad, CENTERS)
