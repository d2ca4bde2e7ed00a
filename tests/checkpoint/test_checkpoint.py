"""Checkpoints: atomic writes, safe loads, exact resume."""

import json
import os
import pickle

import pytest
import torch

from ganforge import checkpoint
from ganforge.errors import CheckpointError
from ganforge.recipes import load_config
from ganforge.runner import train


def _state(step=1):
    return {"format": checkpoint.FORMAT, "version": 1, "step": step, "models": {"w": torch.ones(3)}}


def test_save_is_atomic_and_keeps_the_newest(tmp_path):
    for s in (1, 2, 3):
        checkpoint.save(_state(s), checkpoint.ckpt_path(tmp_path, s), keep=2)
    names = [p.name for p in checkpoint.list_checkpoints(tmp_path)]
    assert names == ["step_00000002.pt", "step_00000003.pt"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert checkpoint.load(checkpoint.latest(tmp_path))["step"] == 3


def test_failed_write_leaves_previous_file(tmp_path, monkeypatch):
    path = checkpoint.ckpt_path(tmp_path, 1)
    checkpoint.save(_state(1), path)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", boom)
    with pytest.raises(CheckpointError, match="no space left.*previous checkpoint is intact"):
        checkpoint.save(_state(2), path)
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_truncated_checkpoint_is_refused_with_its_path(tmp_path):
    path = checkpoint.ckpt_path(tmp_path, 5)
    checkpoint.save(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{path}.*truncated or corrupt"):
        checkpoint.load(path)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": Evil()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="not a ganforge checkpoint"):
        checkpoint.load(path)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        checkpoint.latest(tmp_path)


@pytest.mark.parametrize("extra", [[], ["loss=wgan-gp", "model.pack=2"], ["loss=wgan", "model.g_norm=batch"]])
def test_resume_is_bit_identical(tmp_path, tiny, extra):
    """Stop after the step-20 checkpoint, resume to 40: same weights and metrics as one straight run."""
    from ganforge.runner import resume

    tiny = tiny + ["train.sample_every=0"] + extra
    straight = train(load_config("ring8", tiny), tmp_path / "a")
    cut = train(load_config("ring8", tiny), tmp_path / "b")
    last = checkpoint.latest(cut)
    assert last.name == "step_00000040.pt"
    last.unlink()  # as if the process died right after the step-20 checkpoint
    with (cut / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 30, "Loss/D": 123.0}) + "\n")  # a line logged after it: must vanish
    resume(cut)
    a = checkpoint.load(checkpoint.latest(straight))
    b = checkpoint.load(checkpoint.latest(cut))
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), f"{name}.{k} differs after resume"
    assert (straight / "metrics.jsonl").read_text() == (cut / "metrics.jsonl").read_text()
    assert a["history"] == b["history"]
