"""Text-to-image end to end on tiny networks: train through the CLI, resume exactly, sample and interpolate from
sentences, evaluate against the captions; the refusals of --text."""

import json

import numpy as np
import pytest
import torch

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.sample import load_run

TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.proj_dim=8", "train.batch_size=8",
        "train.steps=4", "train.max_minutes=0", "train.log_every=1", "train.eval_every=0", "train.sample_every=4",
        "train.ckpt_every=2", "train.progress=false", "eval.n=40", "train.threads=1", "train.amp=none"]


def sets(overrides: list[str]) -> list[str]:
    return [a for s in overrides for a in ("--set", s)]


@pytest.fixture(scope="module")
def t2i_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("t2i") / "run"
    assert main(["train", "text2image-digits", "--out", str(out), *sets(TINY)]) == 0
    return out


def test_trains_and_evaluates_against_the_captions(t2i_run):
    run = load_run(t2i_run)
    assert run.can("text") and run.config.recipe == "text2image" and not run.can("classes")
    ev = json.loads((t2i_run / "eval.json").read_text())
    for key in ("fid", "fid2", "digit_acc", "digit_acc2", "thickness_acc", "slant_acc", "r_precision",
                "digit_acc_held_out", "thickness_acc_held_out", "slant_acc_held_out"):
        assert key in ev["model"], key
    assert ev["floor"]["digit_acc"] > 0.9 and ev["floor"]["slant_acc"] > 0.9  # real held-out digits read right
    assert ev["provenance"]["n_text"] == 40 and ev["provenance"]["n_text_held_out"] > 0


def test_resume_is_exact(tmp_path):
    quick = TINY + ["train.final_eval=false", "train.sample_every=0"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "text2image-digits", "--out", str(full), *sets(quick)]) == 0
    assert main(["train", "text2image-digits", "--out", str(part), *sets(quick + ["train.steps=2"])]) == 0
    assert main(["resume", str(part), "--set", "train.steps=4"]) == 0
    a, b = checkpoint.load(checkpoint.latest(full)), checkpoint.load(checkpoint.latest(part))
    for name in ("G", "D", "G_ema"):
        for k, v in a["models"][name].items():
            torch.testing.assert_close(b["models"][name][k], v, msg=f"{name}.{k}")


def test_sample_and_interpolate_from_sentences(t2i_run, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", str(t2i_run), "--n", "6", "--text", "a thin four leaning left", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (6, 32, 32, 1)
    run = load_run(t2i_run)
    a = run.generate(6, seed=1, text="a thin four leaning left")
    assert torch.equal(a, run.generate(6, seed=1, text="a thin four leaning left"))  # seeded
    assert not torch.equal(a, run.generate(6, seed=1, text="a thick seven leaning right"))  # the text matters
    assert main(["sample", str(t2i_run), "--n", "4", "--text", "a purple zebra", "--out", str(tmp_path / "z.png")]) == 0
    assert "never saw 'purple', 'zebra'" in capsys.readouterr().err
    walk = tmp_path / "walk.png"
    assert main(["interpolate", str(t2i_run), "--rows", "2", "--steps", "3", "--text", "a thin one",
                 "--to-text", "a thick one", "--out", str(walk)]) == 0 and walk.is_file()
    x = run.interpolate(rows=2, steps=3, text="a thin one", to_text="a thick one")
    assert x.shape == (2, 3, 1, 32, 32)
    torch.testing.assert_close(x[:, 0], run.generate(2, z=torch.randn(2, 8, generator=torch.Generator().manual_seed(
        0)), text="a thin one"))  # the walk starts at the first sentence, z fixed per row


@pytest.mark.parametrize("args, message", [
    (["--text", "  "], "--text must be a non-empty sentence"),
    (["--class", "3"], "conditioned on sentences, not class labels"),
])
def test_bad_text_requests_are_refused(t2i_run, tmp_path, capsys, args, message):
    out = tmp_path / "x.npz"
    assert main(["sample", str(t2i_run), "--n", "2", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_text_is_refused_for_other_runs(tmp_path, capsys):
    assert main(["sample", "pretrained:mnist", "--n", "2", "--text", "a four", "--out", str(tmp_path / "x.png")]) == 2
    assert "--text applies to text-to-image runs" in capsys.readouterr().err
    assert main(["interpolate", "pretrained:mnist", "--to-text", "a four", "--out", str(tmp_path / "w.png")]) == 2
