"""A wall-clock budget without a step count trains until the budget ends (no step cap)."""

import pytest

from ganforge.config import NO_STEP_CAP, step_cap
from ganforge.errors import ConfigError
from ganforge.recipes import load_config, resolve


def test_a_budget_alone_lifts_the_presets_step_count():
    assert load_config("mnist").train.steps == 3000
    cfg = load_config("mnist", ["train.max_minutes=10"])
    assert cfg.train.steps == NO_STEP_CAP and step_cap(cfg.train) is None and cfg.train.max_minutes == 10
    both = load_config("mnist", ["train.max_minutes=10", "train.steps=500"])
    assert both.train.steps == 500 and step_cap(both.train) == 500  # both given: whichever comes first
    assert load_config("mnist", ["train.max_minutes=0"]).train.steps == 3000  # no budget: the preset's steps


def test_a_preset_with_a_budget_and_no_steps_has_no_step_cap():
    assert step_cap(load_config("biggan-mnist").train) is None
    assert load_config("biggan-mnist", ["train.steps=40"]).train.steps == 40
    assert step_cap(load_config("text2image-digits").train) is None


def test_intervals_are_not_shortened_for_an_uncapped_run():
    cfg = load_config("mnist", ["train.max_minutes=1"])
    assert cfg.train.eval_every == 250 and cfg.train.log_every == 25


def test_linear_decay_needs_a_step_count():
    with pytest.raises(ConfigError, match="optim.decay=linear decays over train.steps"):
        resolve(load_config("mnist", ["train.max_minutes=1", "optim.decay=linear"]))
    assert resolve(load_config("mnist", ["train.max_minutes=1", "train.steps=100", "optim.decay=linear"]))


def test_resume_with_a_budget_alone_trains_past_the_old_step_count(tmp_path, capsys):
    from ganforge.cli import main
    from ganforge.runfolder import read_config

    run = tmp_path / "run"
    tiny = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "train.batch_size=8", "train.steps=3",
            "train.progress=false", "train.final_eval=false", "train.sample_every=0", "train.eval_every=0",
            "train.ckpt_every=1"]
    import ganforge

    ganforge.train("mnist", run, overrides=tiny)
    assert "(mnist, 3 steps)" in capsys.readouterr().out
    assert main(["resume", str(run), "--set", "train.max_minutes=0.1"]) == 0
    cfg = read_config(run)
    assert cfg.train.steps == NO_STEP_CAP and cfg.train.max_minutes == 0.1
    from ganforge import checkpoint

    assert checkpoint.load(checkpoint.latest(run))["step"] > 3
    budget = [t for t in tiny if not t.startswith("train.steps")] + ["train.max_minutes=0.01"]
    ganforge.train("mnist", tmp_path / "b", overrides=budget)
    assert "(mnist, a 0.01-minute budget)" in capsys.readouterr().out
