"""metrics.sampled: scores are functions of a sampler and its real data, chosen by what the sampler can do."""

from __future__ import annotations

import math
from pathlib import Path

import ganforge
from ganforge.metrics.sampled import evaluate, quick_metrics, spread, stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1"


def test_quick_metrics_and_evaluate_follow_the_samplers_capabilities():
    toy = ganforge.load_run(FIXTURES / "ring8").sampler
    q = quick_metrics(toy, 200)
    assert {"Metric/modes", "Metric/w1", "Metric/jsd"} <= set(q) and all(math.isfinite(v) for v in q.values())
    r = evaluate(toy, n=200)
    assert r["model"].keys() == r["floor"].keys() and r["floor"]["modes"] == 8
    images = ganforge.load_run(FIXTURES / "mnist-cond").sampler
    q = quick_metrics(images, 50)
    assert set(q) == {"Metric/fid", "Metric/class_acc"} and q["Metric/fid"] > 0 and 0 <= q["Metric/class_acc"] <= 1
    assert quick_metrics(images, 50) == q  # the same seed, the same figures (training features cached)
    trans = ganforge.load_run(FIXTURES / "cyclegan").sampler
    assert {"Metric/cycle_l1_A", "Metric/cycle_l1_B"} <= set(quick_metrics(trans, 8))
    assert "cycle_l1_A" in evaluate(trans, n=8)["floor"]


def test_stream_continues_and_spread_covers_the_range():
    take = stream(lambda i, k: list(range(i, i + k)))
    assert take(3) == [0, 1, 2] and take(2) == [3, 4]
    assert spread(3, 10).tolist() == [0, 4, 9] and len(spread(50, 10)) == 10
