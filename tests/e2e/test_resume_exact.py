"""Exact resume: a run interrupted after any checkpoint and resumed equals an uninterrupted one bit for bit
(weights, optimiser and scheduler state, and every logged value), for the 2-D recipe, DCGAN, pix2pix and
CycleGAN (whose history pool of generated images is part of the checkpoint)."""

import pytest
import torch

from ganforge import checkpoint
from ganforge.recipes import load_config
from ganforge.runner import resume, train

TOY = [
    "model.g_width=16", "model.d_width=16", "model.g_depth=2", "model.d_depth=2", "train.batch_size=32",
    "train.steps=40", "train.log_every=3", "train.eval_every=20", "train.eval_n=100", "train.sample_every=0",
    "train.ckpt_every=7", "train.keep_ckpts=10", "train.progress=false", "train.ema=0.9", "train.final_eval=false",
]
IMG = [
    "model.g_width=8", "model.d_width=8", "model.z_dim=16", "train.batch_size=16", "train.steps=6", "train.log_every=1",
    "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=2", "train.keep_ckpts=10",
    "train.progress=false", "train.ema=0.9", "train.augment=color,translation,cutout", "optim.decay=linear",
    "model.cond=projection", "train.final_eval=false",
]
TRANS = [
    "model.g_width=4", "model.d_width=4", "model.blocks=1", "train.batch_size=4", "train.steps=6", "train.log_every=1",
    "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=2", "train.keep_ckpts=10",
    "train.progress=false", "optim.decay=linear", "train.final_eval=false",
]
CASES = [("ring8", TOY, 14), ("mnist", IMG, 2), ("inpaint", TRANS, 2), ("cyclegan-digits", TRANS + ["loss.pool=3"], 4)]


def _assert_same(a_dir, b_dir):
    a = checkpoint.load(checkpoint.latest(a_dir))
    b = checkpoint.load(checkpoint.latest(b_dir))
    assert a["step"] == b["step"]
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), f"{name}.{k} differs after resume"
    for name in a["optimizers"]:
        for pid, st in a["optimizers"][name]["state"].items():
            for k, v in st.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["optimizers"][name]["state"][pid][k]))
    assert a["schedulers"] == b["schedulers"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert a["history"] == b["history"]
    assert a["extra"].keys() == b["extra"].keys()
    for k, v in a["extra"].items():  # e.g. CycleGAN's image pools
        assert torch.equal(v, b["extra"][k]), f"extra state {k} differs after resume"
    assert (a_dir / "metrics.jsonl").read_text() == (b_dir / "metrics.jsonl").read_text()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Uninterrupted runs, by preset."""
    root = tmp_path_factory.mktemp("straight")
    torch.set_num_threads(1)  # as in every test (conftest); module fixtures run before that one
    return {p: train(load_config(p, items), root / p, device="cpu") for p, items, _ in CASES}


@pytest.mark.parametrize(("preset", "items", "cut"), CASES)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, straight, preset, items, cut):
    run = train(load_config(preset, items), tmp_path / "b", device="cpu")
    for p in checkpoint.list_checkpoints(run):
        if int(p.stem.split("_")[1]) > cut:
            p.unlink()  # as if killed just after the checkpoint at step `cut`
    resume(run)
    _assert_same(straight[preset], run)


def test_checkpoint_holds_everything_needed(straight):
    state = checkpoint.load(checkpoint.latest(straight["mnist"]))
    assert set(state["models"]) == {"G", "D", "G_ema"}
    assert set(state["optimizers"]) == set(state["schedulers"]) == {"G", "D"}
    assert set(state["rng"]) >= {"torch", "numpy", "python"}  # data order and augmentation draw from these
    if torch.cuda.is_available():
        assert len(state["rng"]["cuda"]) == torch.cuda.device_count()
    assert state["step"] == 6 and state["history"][-1]["step"] == 6
    toy = checkpoint.load(checkpoint.latest(straight["ring8"]))
    assert any("Metric/modes" in r for r in toy["history"])  # in-training metrics are part of the history
    assert {"accum", "counts", "elapsed", "health", "config", "recipe"} <= set(state)
