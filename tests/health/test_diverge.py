"""Divergence handling (ganforge/health.py): NaN/inf losses and parameters, D winning, stop and rollback."""

import json

import pytest
import torch
from conftest import nan_in_g_ema_at

from ganforge import checkpoint, health
from ganforge.cli import main
from ganforge.errors import TrainingDiverged
from ganforge.recipes import load_config
from ganforge.runner import train

FAST = [
    "model.g_width=16", "model.d_width=16", "model.g_depth=2", "model.d_depth=2", "train.batch_size=32",
    "train.log_every=5", "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=20", "train.progress=false",
]
D_WINS = ["loss=minimax", "optim.lr_g=0", "optim.lr_d=3e-2", "train.diverge_patience=3", "train.steps=200"]


def _events(run):
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in recs if r.get("event") == "diverged"]


def test_d_wins_needs_all_three_signs():
    rec = {"D/real": 7.0, "D/fake": -7.0, "Grad/G": 0.001}
    assert health.d_wins("minimax", rec, grad_peak=0.3)
    assert not health.d_wins("minimax", {**rec, "Grad/G": 0.2}, grad_peak=0.3)  # G still learns
    assert not health.d_wins("minimax", {**rec, "D/fake": 0.0}, grad_peak=0.3)
    assert not health.d_wins("wgan-gp", rec, grad_peak=0.3)  # a critic's output has no scale
    assert health.d_wins("hinge", {"D/real": 1.5, "D/fake": -1.2, "Grad/G": 0.0}, grad_peak=0.0)


def test_nonfinite_parameter_is_named():
    models = {"G": torch.nn.Linear(2, 2), "D": torch.nn.Linear(2, 1)}
    assert health.nonfinite_parameter(models) is None
    with torch.no_grad():
        models["D"].bias.fill_(float("inf"))
    assert health.nonfinite_parameter(models) == "D.bias"


def test_huge_learning_rate_stops_with_a_diagnosis(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "ring8", "--out", str(out), "--device", "cpu"]
    for item in [*FAST, "train.steps=60", "optim.name=sgd", "optim.lr_d=1e3", "optim.lr_g=1e3"]:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ganforge: error: training diverged at step 5: Loss/D = nan; lower the learning rates")
    assert "warning: step 5" in err[-2]
    (event,) = _events(out)
    assert event["kind"] == "nonfinite-loss" and event["action"] == "stopped"


def test_d_winning_completely_is_detected_and_stops(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"discriminator wins completely for 3 logged steps.*D/real = \d"):
        train(load_config("ring8", FAST + D_WINS), tmp_path / "r")
    (event,) = _events(tmp_path / "r")
    assert event["kind"] == "d-wins"


def test_d_winning_is_not_flagged_in_a_healthy_run(tmp_path):
    run = train(load_config("ring8", FAST + ["train.steps=100", "train.diverge_patience=1"]), tmp_path / "r")
    assert _events(run) == []


def test_rollback_is_capped(tmp_path):
    cfg = load_config("ring8", FAST + D_WINS + ["train.on_diverge=rollback", "train.max_rollbacks=1"])
    with pytest.raises(TrainingDiverged, match="gave up after 1 rollbacks"):
        train(cfg, tmp_path / "r")
    events = _events(tmp_path / "r")
    assert [e["action"].split(" with")[0] for e in events] == ["rolled back to step 20", "stopped"]


def test_nan_parameter_rolls_back_with_lower_learning_rates(tmp_path, monkeypatch):
    """A NaN appears once in G_ema at step 25: the run goes back to step 20, halves the rates and finishes."""
    nan_in_g_ema_at(monkeypatch, 25)
    cfg = load_config("ring8", FAST + ["train.steps=60", "train.ema=0.9", "train.on_diverge=rollback"])
    run = train(cfg, tmp_path / "r")
    (event,) = _events(run)
    assert event["kind"] == "nonfinite-param" and "G_ema" in event["diagnosis"]
    assert event["action"].startswith("rolled back to step 20 with learning rates x0.5")
    state = checkpoint.load(checkpoint.latest(run))
    assert state["step"] == 60 and state["health"]["rollbacks"] == 1
    lr0 = load_config("ring8").optim.lr_g
    assert state["optimizers"]["G"]["param_groups"][0]["initial_lr"] == pytest.approx(lr0)  # linear decay
    assert state["schedulers"]["G"]["base_lrs"] == [pytest.approx(lr0 * 0.5)]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "event" not in line]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # nothing logged twice after the rollback
