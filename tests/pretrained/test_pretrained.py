"""The pretrained models shipped in the package: addressed as pretrained:NAME, read-only, small, offline."""

from pathlib import Path

import numpy as np
import pytest

from ganforge import checkpoint, load_run, pretrained
from ganforge.cli import main


def _tree(root: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_every_model_is_shipped_small_and_sampling_only():
    assert {n for n, _, _ in pretrained.available()} == {pretrained.PREFIX + n for n in pretrained.MODELS}
    total = sum(f.stat().st_size for n in pretrained.MODELS for f in (pretrained.ROOT / n).rglob("*") if f.is_file())
    assert total < 9e6  # a few MB in all
    for name in pretrained.MODELS:
        state = checkpoint.load_latest(pretrained.ROOT / name)  # weights_only
        assert "optimizers" not in state and "rng" not in state
        assert set(state["models"]) <= set(pretrained.kept_networks(load_run(pretrained.PREFIX + name).config))
        assert pretrained.scores(name)["model"], name  # measured, shipped beside it


def test_pretrained_works_where_a_run_folder_does(tmp_path, capsys):
    before = _tree(pretrained.ROOT)
    assert main(["sample", "pretrained:mnist", "--n", "16", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert main(["sample", "pretrained:mnist-cond", "--n", "20", "--class", "3",
                 "--out", str(tmp_path / "three.npz")]) == 0
    assert set(np.load(tmp_path / "three.npz")["labels"].tolist()) == {3}
    assert main(["sample", "pretrained:text2image-digits", "--text", "a thick three leaning left", "--n", "8",
                 "--out", str(tmp_path / "three.png")]) == 0
    assert (tmp_path / "three.png").stat().st_size > 0
    assert main(["interpolate", "pretrained:mnist", "--rows", "2", "--steps", "4",
                 "--out", str(tmp_path / "walk.png")]) == 0
    capsys.readouterr()
    assert main(["eval", "pretrained:ring8", "--n", "200"]) == 0
    out = capsys.readouterr().out
    assert "modes" in out and "wrote" not in out
    points = load_run("pretrained:ring8").sample(500, seed=1)
    assert points.shape == (500, 2) and np.isfinite(points).all()
    assert _tree(pretrained.ROOT) == before  # read-only: nothing written into the package


@pytest.mark.parametrize(("argv", "expect"), [
    (["sample", "pretrained:nope", "--out", "x.png"], "unknown pretrained model 'nope'"),
    (["resume", "pretrained:mnist"], "read-only"),
])
def test_pretrained_refusals_are_one_line(argv, expect, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0]


def test_the_listing_shows_scores_against_the_floor(capsys):
    assert main(["pretrained"]) == 0
    out = capsys.readouterr().out
    for name in pretrained.MODELS:
        assert f"pretrained:{name}" in out
    assert "floor" in out


def test_a_pretrained_generator_is_deterministic():
    run = load_run("pretrained:mnist")
    a, b = run.sample(8, seed=5), run.sample(8, seed=5)
    assert a.dtype == np.uint8 and np.array_equal(a, b)
