"""The honest ruler: two independently trained digit networks, equal-size floors, and intervals that hold the
estimate, shrink with n and match the spread between independent draws.

    .venv/bin/pytest -q tests/metrics/test_intervals.py
"""

import importlib.resources
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import eval_table
from ganforge.metrics.features import SECOND_RULER, extract_each, get_extractor
from ganforge.metrics.images import frechet_distance, kid
from ganforge.metrics.intervals import _fid_batch, _group_ids, _Moments, compare_to_floor, mmd2_unbiased
from ganforge.metrics.sampled import default_n, evaluate, floor_capacity, floor_lines, floor_plan, floor_ratios
from ganforge.nets.classifier import DigitClassifier, DigitResNet
from ganforge.viz.report import write_report

WEIGHTS = importlib.resources.files("ganforge") / "weights"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1"


def gaussian(n, d=16, seed=0, shift=0.0):
    A = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ A.T + shift


# ---------------------------------------------------------------- the second digit network

def test_second_network_is_another_architecture_with_its_own_features_and_accuracy():
    from ganforge.data.images import load_images

    assert (WEIGHTS / "mnist_classifier2.pt").stat().st_size < 1.5e6
    net1, net2 = get_extractor("mnist"), get_extractor(SECOND_RULER["mnist"])
    assert isinstance(net1.net, DigitClassifier) and isinstance(net2.net, DigitResNet)
    assert net2.name.startswith("mnist-resnet@28px#") and net2.name != net1.name
    assert (net1.dim, net2.dim) == (128, 96)
    meta = torch.load(WEIGHTS / "mnist_classifier2.pt", weights_only=True)
    meta1 = torch.load(WEIGHTS / "mnist_classifier.pt", weights_only=True)
    assert meta["net"] == "resnet" and meta["seed"] != meta1["seed"] and meta["train_n"] < meta1["train_n"]
    test = load_images("mnist", split="test")  # the floor's held-out side: never trained on
    x, y = test.to_float(), test.y
    with torch.no_grad():
        acc = float((net2.logits(x).argmax(1) == y).float().mean())
    assert acc == pytest.approx(net2.test_accuracy, abs=0.01) and acc > 0.95
    f1, f2 = extract_each([net1, net2], x)
    assert f1.shape == (500, 128) and f2.shape == (500, 96)

    def nearest(f):  # each digit's nearest other digit in a feature space
        d = np.linalg.norm(f[:, None] - f[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        return d.argmin(1)

    # the two rulers see digits differently: most digits have another nearest neighbour in each (24% agree)
    assert (nearest(f1) == nearest(f2)).mean() < 0.5


# ---------------------------------------------------------------- estimators and intervals

def _direct_mmd2(a, b):
    """The unbiased MMD^2 written out: every pair, the diagonal left out of the within terms."""
    k = lambda x, y: (x @ y.T / x.shape[1] + 1) ** 3  # noqa: E731
    kaa, kbb = k(a, a), k(b, b)
    n, m = len(a), len(b)
    return ((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
            - 2 * k(a, b).mean())


def test_all_pairs_kid_is_the_subset_average_it_replaces():
    a, b = gaussian(300, seed=1), gaussian(300, seed=2, shift=0.2)
    full = kid(a, b, subsets=1, subset_size=300)[0]  # one "subset" of every sample: the full U-statistic
    assert mmd2_unbiased(a, b) == pytest.approx(full, rel=1e-9)
    assert kid(a, b, subsets=200, subset_size=100)[0] == pytest.approx(full, rel=0.1)  # what subsets estimate
    c = gaussian(170, seed=3)
    assert mmd2_unbiased(a, c) == pytest.approx(_direct_mmd2(a, c), rel=1e-9)  # unequal sizes
    assert abs(mmd2_unbiased(gaussian(400, seed=4), gaussian(400, seed=5))) < 0.1 * full


def test_a_replicate_drawing_every_group_once_is_the_plain_fid():
    rng = np.random.default_rng(0)
    a, b = np.abs(gaussian(600, d=32, seed=1)), np.abs(gaussian(400, d=32, seed=2, shift=0.3))
    shift = a.mean(0)
    ma, mb = (_Moments.of(x, *_group_ids(len(x), 20, rng), shift) for x in (a, b))
    fid = _fid_batch(*ma.stats(np.ones((1, ma.g))), *mb.stats(np.ones((1, mb.g))))[0]
    assert fid == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_intervals_hold_the_estimate_and_narrow_with_more_samples():
    widths = {}
    for n in (200, 2000):
        ref, fake, floor = gaussian(n, seed=1), gaussian(n, seed=2, shift=0.15), gaussian(n, seed=3)
        r = compare_to_floor(ref, fake, floor, resamples=100, pr=False)
        for side in ("model", "floor"):
            for metric in ("fid", "kid"):
                lo, hi = r["ci"][side][metric]
                assert lo <= r[side][metric] <= hi and lo < hi, (n, side, metric)
        assert r["ci"]["floor"]["fid"][0] >= 0  # FID is never negative
        assert r["model"]["fid"] > r["floor"]["fid"]
        widths[n] = {m: np.diff(r["ci"][s][m])[0] for s in ("model", "floor") for m in ("fid", "kid")}
    for m in ("fid", "kid"):
        assert widths[2000][m] < 0.6 * widths[200][m], m  # 10x the samples: a much narrower interval
    assert compare_to_floor(ref, fake, floor, resamples=0, pr=False)["ci"] is None


def test_the_floors_interval_matches_the_spread_of_independent_draws():
    """Over 40 independent draws of three samples of one distribution, the floor's interval is 3.92 standard
    deviations of the floor between draws (pooled bootstrap), while the ordinary bootstrap, what the model
    gets, overstates it near zero by about sqrt(3): why the floor is resampled from the pooled real groups."""
    d, n = 8, 300
    floors, width_floor, same, width_same = [], [], [], []
    for k in range(40):
        ref, other, floor = (gaussian(n, d, seed=10 * k + i) for i in range(3))
        r = compare_to_floor(ref, other, floor, resamples=100, pr=False, seed=k)  # a "model" that is real data
        floors.append(r["floor"]["fid"]), same.append(r["model"]["fid"])
        width_floor.append(np.diff(r["ci"]["floor"]["fid"])[0]), width_same.append(np.diff(r["ci"]["model"]["fid"])[0])
    pooled = np.mean(width_floor) / 3.92 / np.std(floors, ddof=1)
    ordinary = np.mean(width_same) / 3.92 / np.std(same, ddof=1)
    assert 0.75 < pooled < 1.3, pooled
    assert ordinary > 1.3, ordinary  # so a model close to the floor gets an interval that errs wide, never narrow


def test_equal_size_floors_per_data_set():
    assert default_n("mnist", 4500, 500) == 2000  # the bundled digits: 4,500 train, 500 held out
    assert default_n("mnist", 1618, 179) == 898  # digits8: all an equal-size floor allows
    assert default_n("fashion", 60_000, 10_000) == 10_000
    assert default_n("inception", 60_000, 10_000) == 10_000 and default_n("inception", 900, 100) == 100
    assert floor_capacity(4500, 500) == 2500
    plan = floor_plan(2000, 4500, 500)
    assert len(plan["floor_test"]) == 500 and len(plan["floor_train"]) == 1500 and len(plan["ref"]) == 3000
    assert not set(plan["ref"]) & set(plan["floor_train"])  # the floor's training images are not in the reference
    small = floor_plan(100, 4500, 500)
    assert len(small["floor_test"]) == 100 and len(small["floor_train"]) == 0 and len(small["ref"]) == 4500
    assert np.array_equal(floor_plan(2000, 4500, 500)["ref"], plan["ref"])  # fixed: every run meets one floor


# ---------------------------------------------------------------- eval.json and its readers

def test_a_digit_run_reports_both_networks_and_stores_n_and_the_intervals(tmp_path):
    run_dir = tmp_path / "mnist-cond"
    shutil.copytree(FIXTURES / "mnist-cond", run_dir)
    run = ganforge.load_run(run_dir)
    result = run.evaluate(n=60)  # writes eval.json
    saved = json.loads((run_dir / "eval.json").read_text())
    prov = saved["provenance"]
    assert prov["n_fake"] == 60 and prov["n_floor"] == 60 and prov["n_real"] == 4500
    assert prov["features"].startswith("mnist-classifier") and prov["features2"].startswith("mnist-resnet")
    ci = prov["ci"]
    assert ci["level"] == 0.95 and ci["resamples"] == run.config.eval.resamples
    for key in ("fid", "kid", "fid2", "kid2"):
        for side in ("model", "floor"):
            lo, hi = ci[side][key]
            assert lo <= saved[side][key] <= hi, (side, key)
    assert saved["model"]["fid2"] != saved["model"]["fid"]
    assert set(floor_ratios(saved)) == {"fid", "fid2"}
    table = eval_table(result)
    assert "95% interval" in table and "fid2" in table and "at worst" in table
    assert "95% interval" in write_report(run_dir, title="t", config={}, history=[], eval_result=saved).read_text()
    again = evaluate(run.sampler, n=60, resamples=0)
    assert "ci" not in again["provenance"] and again["floor"]["fid"] == saved["floor"]["fid"]  # a fixed floor


OLD_EVAL = {  # an eval.json written before the second network and the intervals
    "model": {"fid": 3.786, "kid": 0.1333, "kid_std": 0.1604, "precision": 0.78, "recall": 0.914},
    "floor": {"fid": 1.053, "kid": -0.1672, "kid_std": 0.1033, "precision": 0.892, "recall": 0.902},
    "provenance": {"features": "mnist-classifier@28px#26ef3695", "n_real": 4500, "n_fake": 500, "n_floor": 500,
                   "split_floor": "test"},
}


def test_an_old_eval_json_still_reads(tmp_path):
    assert floor_ratios(OLD_EVAL) == {"fid": pytest.approx(3.786 / 1.053)}
    assert floor_lines(OLD_EVAL) == ["fid / floor: 3.60x in mnist-classifier@28px#26ef3695"]
    table = eval_table(OLD_EVAL)
    assert "kid_std" in table and "interval" not in table
    html = write_report(tmp_path, title="old", config={}, history=[], eval_result=OLD_EVAL).read_text()
    assert "3.786" in html and "interval" not in html


def test_a_claim_within_nx_holds_only_in_both_networks():
    result = {"model": {"fid": 2.5, "fid2": 0.7}, "floor": {"fid": 1.0, "fid2": 0.2}, "provenance": {}}
    ratios = floor_ratios(result)
    assert ratios == {"fid": 2.5, "fid2": pytest.approx(3.5)}
    assert not max(ratios.values()) <= 3  # within 3x in the first network only: no claim
    assert "at worst 3.50x" in floor_lines(result)[0]
