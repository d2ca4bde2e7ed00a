"""BigGAN end to end on tiny networks: train through the CLI, resume exactly, sample classes with and without the
truncation trick, evaluate, export; the truncation trick itself (``latent.truncate``)."""

import json

import numpy as np
import pytest
import torch

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.export import load_generator
from ganforge.latent import truncate
from ganforge.sample import load_run

TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.shared_dim=8", "train.batch_size=8",
        "train.steps=4", "train.max_minutes=0", "train.log_every=1", "train.eval_every=0", "train.sample_every=4",
        "train.ckpt_every=2", "train.progress=false", "eval.n=40", "train.threads=1", "train.amp=none"]


def sets(overrides: list[str]) -> list[str]:
    return [a for s in overrides for a in ("--set", s)]


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("big") / "run"
    assert main(["train", "biggan-mnist", "--out", str(out), *sets(TINY)]) == 0
    return out


def test_truncate_keeps_every_entry_within_psi_and_changes_only_those_beyond():
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    t = truncate(z, 0.5, torch.Generator().manual_seed(1))
    assert t.abs().max() <= 0.5 and t.shape == z.shape
    inside = z.abs() <= 0.5
    assert torch.equal(t[inside], z[inside]) and not torch.equal(t[~inside], z[~inside])
    assert float(t.std()) < 0.35  # a normal truncated to [-0.5, 0.5] has sd 0.28
    assert torch.equal(truncate(z, 10.0), z)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="psi"):
            truncate(z, bad)


def test_trains_evaluates_and_reports_classes(big_run):
    run = load_run(big_run)
    assert run.can("classes") and run.can("truncation") and run.config.recipe == "biggan"
    ev = json.loads((big_run / "eval.json").read_text())
    assert "class_acc" in ev["model"] and ev["model"]["fid"] > 0
    assert (big_run / "report.html").is_file() and (big_run / "samples").is_dir()


def test_resume_is_exact(tmp_path):
    quick = TINY + ["train.final_eval=false", "train.sample_every=0"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "biggan-mnist", "--out", str(full), *sets(quick)]) == 0
    assert main(["train", "biggan-mnist", "--out", str(part), *sets(quick + ["train.steps=2"])]) == 0
    assert main(["resume", str(part), "--set", "train.steps=4"]) == 0
    a, b = checkpoint.load(checkpoint.latest(full)), checkpoint.load(checkpoint.latest(part))
    for name in ("G", "D", "G_ema"):
        for k, v in a["models"][name].items():
            torch.testing.assert_close(b["models"][name][k], v, msg=f"{name}.{k}")


def test_sample_a_class_with_the_truncation_trick(big_run, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", str(big_run), "--n", "12", "--class", "3", "--truncation", "0.5", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (12, 32, 32, 1) and (f["labels"] == 3).all()
    run = load_run(big_run)
    plain, cut = run.generate(16, seed=2, labels=1), run.generate(16, seed=2, labels=1, truncation=0.5)
    assert not torch.equal(plain, cut)  # the z entries beyond 0.5 were redrawn
    assert torch.equal(cut, run.generate(16, seed=2, labels=1, truncation=0.5))  # and the same seed gives the same
    assert torch.equal(run.generate(16, seed=2, labels=1, truncation=50.0), plain)  # nothing beyond 50: unchanged
    assert main(["sample", str(big_run), "--n", "4", "--truncation", "0", "--out", str(tmp_path / "x.png")]) == 2
    assert "psi must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_exports_as_a_conditional_generator(big_run, tmp_path):
    run = load_run(big_run)
    z, y = torch.randn(3, run.G.z_dim, generator=torch.Generator().manual_seed(5)), torch.tensor([0, 4, 9])
    want = run.generate(3, labels=y, z=z).numpy()
    for suffix in (".safetensors", ".pt"):
        out = tmp_path / f"g{suffix}"
        assert main(["export", str(big_run), "--out", str(out)]) == 0
        G = load_generator(out)
        with torch.no_grad():
            got = G(z, y).numpy()
        assert np.allclose(got, want, atol=1e-5), suffix
    ort = pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    assert main(["export", str(big_run), "--out", str(tmp_path / "g.onnx")]) == 0
    got = ort.InferenceSession(str(tmp_path / "g.onnx")).run(None, {"z": z.numpy(), "labels": y.numpy()})[0]
    assert np.allclose(got, want, atol=1e-4)


def test_given_z_blocks_get_redraws_of_their_own(big_run, monkeypatch):
    """Evaluation streams given z in blocks: each block's redraws come from a generator seeded by its own z,
    so two blocks never share their replacement values (and the same block always gets the same)."""
    import ganforge.sample.images as images

    seeds = []

    def spy(z, psi, generator=None):
        seeds.append(generator.initial_seed())
        return truncate(z, psi, generator)

    monkeypatch.setattr(images, "truncate", spy)
    run = load_run(big_run)
    z1, z2 = torch.randn(2, 6, run.G.z_dim, generator=torch.Generator().manual_seed(0))
    a = run.generate(6, labels=0, z=z1, truncation=0.5)
    run.generate(6, labels=0, z=z2, truncation=0.5)
    again = run.generate(6, labels=0, z=z1, truncation=0.5)
    assert seeds[0] != seeds[1] and seeds[0] == seeds[2] and torch.equal(a, again)
