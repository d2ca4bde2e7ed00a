"""The Python API mirrors the CLI: ganforge.train / resume / load_run."""

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

import ganforge


def test_train_returns_a_run_and_resume_continues(tmp_path):
    run = ganforge.train("ring8", tmp_path / "r", overrides=TINY, steps=20, loss="hinge", train__log_every=5)
    assert isinstance(run, ganforge.Run) and run.step == 20 and run.config.loss.name == "hinge"
    assert run.history[-1]["step"] == 20 and run.train_seconds > 0
    x = run.sample(64)
    assert x.shape == (64, 2) and x.dtype == np.float32
    assert np.array_equal(x, run.sample(64)) and not np.array_equal(x, run.sample(64, seed=1))
    s = run.score(x)
    assert s.shape == (64,)
    assert run.plot(n=100) is not None and run.curves() is not None
    run = ganforge.resume(tmp_path / "r", steps=30)
    assert run.step == 30 and "Run(" in repr(run)


def test_score_is_a_probability_for_gan_losses(tmp_path):
    run = ganforge.train("ring8", tmp_path / "ns", overrides=TINY, steps=5, loss="ns")
    s = run.score(np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32))
    assert s.shape == (7,) and ((s > 0) & (s < 1)).all()


def test_keyword_mistakes_are_config_errors(tmp_path):
    with pytest.raises(ganforge.ConfigError, match="did you mean"):
        ganforge.train("ring8", tmp_path / "x", stepz=3)
    with pytest.raises(ganforge.ConfigError, match="ambiguous"):
        ganforge.train("ring8", tmp_path / "x", name="ring8")  # data.name and optim.name
    assert not (tmp_path / "x").exists()


def test_list_presets():
    names = dict(ganforge.list_presets())
    assert "ring8" in names and "grid25" in names


def test_train_says_where_it_writes_and_short_runs_get_curve_points(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sets = [o for o in TINY if not o.startswith(("train.eval_every", "train.log_every", "train.sample_every"))]
    run = ganforge.train("ring8", overrides=sets, steps=10, sample_every=0)  # default folder: runs/ring8-<time>
    out = capsys.readouterr().out
    assert run.dir == run.run_dir == Path("runs") / run.dir.name and (tmp_path / run.dir / "config.yaml").is_file()
    assert run.dir.name.startswith("ring8-") and f"run folder: {run.dir} (ring8, 10 steps)" in out
    assert [r["step"] for r in run.history if "Metric/w1" in r] == [2, 4, 6, 8, 10]  # eval_every fitted to 10 steps
    ganforge.train("ring8", "r2", overrides=[*TINY, "train.final_eval=true"], steps=5)
    out = capsys.readouterr().out
    assert "run folder: r2 (ring8, 5 steps)" in out and f"report:     {Path('r2') / 'report.html'}" in out
    ganforge.resume("r2", steps=6)
    assert "run folder: r2 (resumed)" in capsys.readouterr().out
