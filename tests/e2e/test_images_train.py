"""Image GANs end to end on the CPU in seconds: train -> sample -> eval -> interpolate, conditional runs,
WGAN-GP with DiffAugment, exact resume, and the errors a user can make."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.config import ConfigError
from ganforge.recipes import load_config, resolve
from ganforge.runner import resume, train

TINY_IMG = [
    "model.g_width=8", "model.d_width=8", "model.z_dim=16", "train.batch_size=16", "train.steps=6", "train.log_every=2",
    "train.eval_every=3", "train.eval_n=64", "train.sample_every=3", "train.ckpt_every=3", "train.progress=false",
    "eval.n=100", "eval.resamples=50",
]


@pytest.fixture(scope="module")
def img_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("img") / "mnist"
    return train(load_config("mnist", TINY_IMG + ["train.ema=0.9"]), out)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("img") / "cond"
    return train(load_config("mnist", TINY_IMG + ["model.cond=concat"]), out)


def test_run_folder_has_pictures_metrics_and_eval(img_run):
    for name in ("config.yaml", "metrics.jsonl", "report.html", "eval.json", "curves.png", "interpolation.png"):
        assert (img_run / name).is_file(), name
    assert len(list((img_run / "samples").glob("step_*.png"))) == 2
    records = [json.loads(line) for line in (img_run / "metrics.jsonl").read_text().splitlines()]
    assert any("Metric/fid" in r for r in records)
    result = json.loads((img_run / "eval.json").read_text())
    for key in ("fid", "kid", "precision", "recall"):
        assert key in result["model"] and key in result["floor"], key
    assert result["floor"]["fid"] < result["model"]["fid"]  # 6 steps of training are far from real digits
    prov = result["provenance"]
    assert "mnist" in prov["features"] and prov["n_fake"] == 100 and prov["split_floor"] == "test"
    # the end-of-training evaluation: both digit networks, the floor's size and the intervals
    assert "fid2" in result["model"] and "kid2" in result["floor"] and prov["features2"].startswith("mnist-resnet")
    assert prov["n_floor"] == 100 and prov["ci"]["resamples"] == 50
    lo, hi = prov["ci"]["model"]["fid"]
    assert lo <= result["model"]["fid"] <= hi
    state = checkpoint.load(checkpoint.latest(img_run))
    assert "G_ema" in state["models"]


def test_sample_png_npz_and_interpolate(img_run, tmp_path, capsys):
    assert main(["sample", str(img_run), "--n", "10", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 32
    assert main(["sample", str(img_run), "--n", "7", "--out", str(tmp_path / "s.npz")]) == 0
    z = np.load(tmp_path / "s.npz")
    assert z["images"].shape == (7, 32, 32, 1) and z["images"].dtype == np.uint8
    assert main(["interpolate", str(img_run), "--steps", "5", "--rows", "2", "--out", str(tmp_path / "i.png")]) == 0
    w, h = Image.open(tmp_path / "i.png").size
    assert w > h  # 5 columns, 2 rows
    assert main(["interpolate", str(img_run), "--steps", "4", "--method", "lerp",
                 "--out", str(tmp_path / "i.gif")]) == 0
    assert Image.open(tmp_path / "i.gif").n_frames == 6  # there (4) and back (2)
    assert main(["sample", str(img_run), "--n", "7", "--out", str(tmp_path / "s.npy")]) == 2
    assert main(["sample", str(img_run), "--n", "7", "--class", "3", "--out", str(tmp_path / "c.npz")]) == 2
    assert "not conditional" in capsys.readouterr().err


def test_same_seed_same_images(img_run):
    from ganforge import load_run

    run = load_run(img_run)
    a, b = run.sample(5, seed=3), run.sample(5, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, run.sample(5, seed=4))


def test_conditional_class_and_grid(cond_run, tmp_path, capsys):
    assert main(["sample", str(cond_run), "--n", "6", "--class", "7", "--out", str(tmp_path / "c.npz")]) == 0
    assert (np.load(tmp_path / "c.npz")["labels"] == 7).all()
    assert main(["sample", str(cond_run), "--n", "6", "--class", "12", "--out", str(tmp_path / "c.npz")]) == 2
    assert "out of range" in capsys.readouterr().err
    result = json.loads((cond_run / "eval.json").read_text())
    assert 0 <= result["model"]["class_acc"] <= 1 and result["floor"]["class_acc"] > 0.9
    assert load_config("mnist", TINY_IMG + ["model.cond=concat"]).model.num_classes is None
    saved = resolve(load_config(str(cond_run / "config.yaml")))
    assert saved.model.num_classes == 10 and saved.data.channels == 1  # filled in from the data


@pytest.mark.parametrize("extra", [
    ["loss=wgan-gp", "train.d_steps=2", "train.augment=color,translation,cutout"],
    ["loss=hinge", "model.d_norm=spectral", "model.cond=projection", "model.upsample=resize"],
    ["data.size=28", "model.mbstd=4", "loss=lsgan"],
])
def test_other_losses_and_options_train(tmp_path, extra):
    out = train(load_config("mnist", TINY_IMG + extra + ["train.steps=3", "train.eval_every=0",
                                                        "train.sample_every=0", "train.final_eval=false"]),
                tmp_path / "r")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v) for r in records for v in r.values())
    if "loss=wgan-gp" in extra:
        assert resolve(load_config("mnist", extra)).model.d_norm == "instance"  # no batch norm with a GP
        assert any("Loss/D/gp" in r for r in records)


def test_dcgan_resume_is_bit_identical(tmp_path):
    cfg = TINY_IMG + ["train.eval_every=0", "train.sample_every=0", "train.ema=0.9", "train.augment=translation",
                      "train.final_eval=false"]
    straight = train(load_config("mnist", cfg), tmp_path / "a")
    cut = train(load_config("mnist", cfg), tmp_path / "b")
    checkpoint.latest(cut).unlink()  # died right after the step-3 checkpoint
    resume(cut)
    a, b = checkpoint.load(checkpoint.latest(straight)), checkpoint.load(checkpoint.latest(cut))
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), f"{name}.{k} differs after resume"
    assert a["history"] == b["history"]


def test_user_image_folder_trains(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / cls / f"{i}.png")
    out = train(load_config("mnist", TINY_IMG + [f"data.root={tmp_path / 'photos'}", "model.cond=projection",
                                                 "eval.features=mnist", "train.eval_every=0"]), tmp_path / "r")
    cfg = resolve(load_config(str(out / "config.yaml")))
    assert cfg.data.name == "images" and cfg.data.channels == 3 and cfg.model.num_classes == 2
    from ganforge import load_run

    run = load_run(out)
    assert run.sample(4, labels=1).shape == (4, 32, 32, 3)
    result = json.loads((out / "eval.json").read_text())
    assert result["floor"] == {} and "none" in result["provenance"]["split_floor"]  # 2 held-out images


@pytest.mark.parametrize("items, match", [
    (["data.size=48"], "data.size must be one of 28, 32, 64, 128"),
    (["model.pack=2"], "model.pack.*2-D points"),
    (["data.name=images"], "needs data.root"),
    (["train.augment=flip"], "unknown DiffAugment policy term 'flip'"),
])
def test_image_config_errors(items, match):
    with pytest.raises(ConfigError, match=match):
        resolve(load_config("mnist", items))


def test_conditional_needs_labels(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((8, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match="needs class labels"):
        train(load_config("mnist", TINY_IMG + [f"data.root={tmp_path / 'x.npz'}", "model.cond=concat"]),
              tmp_path / "r")
    assert not (tmp_path / "r").exists()  # refused before anything was written


# ---------------------------------------------------------------- InfoGAN categorical code

def test_infogan_code_trains_samples_by_code_and_evaluates(tmp_path, capsys):
    run = train(load_config("mnist", TINY_IMG + ["model.codes=4", "train.steps=4", "train.eval_every=0"]),
                tmp_path / "info")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(r["Loss/info"] > 0 for r in records if "Loss/info" in r) and any("Loss/info" in r for r in records)
    from ganforge.sample import load_run

    r = load_run(run)
    a, b = r.sample(6, seed=3, labels=1), r.sample(6, seed=3, labels=2)
    assert a.shape == (6, 32, 32, 1) and not np.array_equal(a, b)  # the code changes the image
    assert np.array_equal(r.sample(6, seed=3), r.sample(6, seed=3))  # random codes, still seeded
    assert main(["sample", str(run), "--n", "8", "--class", "3", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["sample", str(run), "--n", "8", "--class", "4", "--out", str(tmp_path / "bad.png")]) == 2
    assert "code 4 is out of range" in capsys.readouterr().err
    assert "fid" in r.evaluate(n=40)["model"]


def test_infogan_code_with_labels_or_points_is_refused():
    with pytest.raises(ConfigError, match="cannot be combined"):
        resolve(load_config("mnist", ["model.codes=10", "model.cond=concat"]))
    with pytest.raises(ConfigError, match="model.codes"):
        resolve(load_config("ring8", ["model.codes=10"]))
    with pytest.raises(ConfigError, match=">= 2"):
        resolve(load_config("mnist", ["model.codes=1"]))


def test_r1_penalty_on_dcgan_is_a_lazy_phase(tmp_path):
    """r1_gamma > 0 adds a D_r1 phase every train.r1_every steps, with D's Adam corrected for the interval;
    it is off in dcgan-paper, on in the mnist presets, and refused where it does not apply."""
    from ganforge.recipes import recipe_module

    assert resolve(load_config("dcgan-paper")).loss.r1_gamma == 0.0
    assert resolve(load_config("mnist")).loss.r1_gamma == 3.0  # the default digit presets have it (docs/images.md)
    cfg = resolve(load_config("mnist", TINY_IMG + ["loss.r1_gamma=1", "train.r1_every=2", "model.cond=concat"]))
    recipe_module(cfg).validate(cfg)
    recipe = recipe_module(cfg).build(cfg, torch.device("cpu"))
    r1 = [p for p in recipe.phases if p.name == "D_r1"]
    assert len(r1) == 1 and r1[0].module == "D" and r1[0].interval == 2
    group = recipe.optimizers["D"].param_groups[0]
    assert group["lr"] == pytest.approx(cfg.optim.lr_d * 2 / 3)
    assert group["betas"][0] == pytest.approx(cfg.optim.beta1 ** (2 / 3))
    assert recipe.optimizers["G"].param_groups[0]["lr"] == pytest.approx(cfg.optim.lr_g)
    out = train(load_config("mnist", TINY_IMG + ["loss.r1_gamma=1", "train.r1_every=2", "train.steps=4",
                                                 "train.log_every=1", "train.eval_every=0", "train.sample_every=0"]),
                tmp_path / "r1")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    r1_logged = [r["Loss/D/r1"] for r in records if "Loss/D/r1" in r]
    assert r1_logged and all(v > 0 and np.isfinite(v) for v in r1_logged)
    with pytest.raises(ConfigError, match="r1_gamma"):
        resolve(load_config("inpaint", ["loss.r1_gamma=1"]))
