"""Crash safety: a real `ganforge train` process killed with SIGKILL (also inside a checkpoint write) resumes
and ends with the same weights as a run that was never interrupted; low disk space; existing run folders."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.errors import CheckpointError
from ganforge.recipes import load_config
from ganforge.runner import resume, train

SRC = str(Path(__file__).resolve().parents[2] / "src")
CFG = [
    "model.g_width=16", "model.d_width=16", "model.g_depth=2", "model.d_depth=2", "train.batch_size=32",
    "train.steps=200", "train.log_every=5", "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=10",
    "train.progress=false", "train.final_eval=false",
]


def _env(**extra):
    return {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", **extra}


def _start(args, **env):
    cmd = [sys.executable, "-m", "ganforge", *args]
    return subprocess.Popen(cmd, env=_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(cond, proc, timeout=60.0):
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, f"training ended early: {proc.stderr.read()}"
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.01)


def _last_logged(run):
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").exists() else []
    steps = []
    for line in lines:
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):
            pass  # a line cut off by the kill
    return max(steps, default=0)


def _kill(proc, run, ckpt_every):
    logged = _last_logged(run)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    saved = [int(p.stem.split("_")[1]) for p in checkpoint.list_checkpoints(run)]
    # the last two are kept; a kill between a checkpoint's rename and the pruning of the oldest leaves one more
    assert len(saved) <= 3
    assert logged - max(saved, default=0) <= ckpt_every, "more than one checkpoint interval was lost"


def test_sigkill_at_random_moments_and_inside_the_write_then_resume_exactly(tmp_path):
    run = tmp_path / "run"
    sets = [a for item in CFG for a in ("--set", item)]
    rng = random.Random(9)

    # 1. killed inside a checkpoint write: the temporary file exists, the rename has not happened
    proc = _start(["train", "ring8", "--out", str(run), "--device", "cpu", *sets], GANFORGE_SLOW_SAVE="0.5")
    ckdir = run / "checkpoints"
    _wait_for(lambda: len(checkpoint.list_checkpoints(run)) >= 1 and any(ckdir.glob(".step_*.tmp")), proc)
    _kill(proc, run, 10)
    assert list(ckdir.glob(".step_*.tmp")), "expected a half-written checkpoint"
    assert checkpoint.load(checkpoint.latest(run))["step"] >= 10  # the previous one is intact

    # 2. killed at a random moment while training (`train --resume` continues the run)
    proc = _start(["train", "ring8", "--out", str(run), "--resume", "--device", "cpu"])
    start = checkpoint.load(checkpoint.latest(run))["step"]
    _wait_for(lambda: _last_logged(run) > start + 10, proc)
    time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is None:
        _kill(proc, run, 10)

    # 3. resume to the end; no leftovers; weights equal a run that was never interrupted
    done = subprocess.run([sys.executable, "-m", "ganforge", "resume", str(run), "--device", "cpu"],
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not list(ckdir.glob("*.tmp"))
    assert len(checkpoint.list_checkpoints(run)) == 2  # any extra one left by a kill is pruned
    straight = train(load_config("ring8", CFG), tmp_path / "straight", device="cpu")
    a = checkpoint.load(checkpoint.latest(straight))
    b = checkpoint.load(checkpoint.latest(run))
    assert b["step"] == 200
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), f"{name}.{k} differs from the uninterrupted run"
    assert a["history"] == b["history"]


def test_newest_checkpoint_unreadable_falls_back_to_the_one_before(tmp_path, tiny, capsys):
    run = train(load_config("ring8", tiny + ["train.sample_every=0", "train.eval_every=0"]), tmp_path / "r")
    newest = checkpoint.latest(run)
    newest.write_bytes(newest.read_bytes()[:100])  # e.g. a disk fault
    assert checkpoint.load_latest(run)["step"] == 20
    assert "truncated or corrupt" in capsys.readouterr().err
    resume(run)
    assert checkpoint.load(checkpoint.latest(run))["step"] == 40


def test_killed_before_the_first_checkpoint_starts_again(tmp_path, tiny, capsys):
    run = train(load_config("ring8", tiny + ["train.sample_every=0", "train.eval_every=0"]), tmp_path / "r")
    for p in checkpoint.list_checkpoints(run):
        p.unlink()
    resume(run)
    assert "no checkpoint yet; starting it from step 0" in capsys.readouterr().err
    assert checkpoint.load(checkpoint.latest(run))["step"] == 40


def test_disk_full_during_training_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, tiny, capsys,
                                                                               monkeypatch):
    run = tmp_path / "r"
    args = ["train", "ring8", "--out", str(run), "--device", "cpu"]
    for item in tiny + ["train.sample_every=0", "train.eval_every=0"]:
        args += ["--set", item]
    real_save = torch.save
    calls = []

    def full_after_first(obj, f, *a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(checkpoint.torch, "save", full_after_first)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device" in err[0] and "previous checkpoint is intact" in err[0]
    monkeypatch.undo()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000020.pt"]
    assert checkpoint.load(run / "checkpoints" / "step_00000020.pt")["step"] == 20


@pytest.mark.parametrize("flag", [[], ["--overwrite"], ["--resume"]])
def test_train_into_an_existing_run_folder(tiny_run, tmp_path, capsys, flag):
    run = tmp_path / "copy"
    import shutil

    shutil.copytree(tiny_run, run)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    args = ["train", "ring8", "--out", str(run), *flag] + [a for item in
                                                           ["train.steps=40", "train.progress=false",
                                                            "train.eval_every=0", "train.sample_every=0"]
                                                           for a in ("--set", item)]
    code = main(args)
    if not flag:
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "already exists" in err and "--overwrite" in err
        assert before == {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}  # nothing touched
    else:
        assert code == 0
        assert checkpoint.load(checkpoint.latest(run))["step"] == 40


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "keep.jpg").write_bytes(b"precious")
    assert main(["train", "ring8", "--out", str(folder), "--overwrite"]) == 2
    assert "keep.jpg, which ganforge did not write" in capsys.readouterr().err
    assert (folder / "keep.jpg").read_bytes() == b"precious"


def test_checkpoint_error_type_is_clear():
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load_latest(Path("/nonexistent/run"))
