"""The single-device speed options: bf16 refused on the CPU, channels_last, train.reuse_fake, and the CPU
allocator setting (``train.keep_memory``: glibc keeps the memory tensors free in the process)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ganforge import speed
from ganforge.errors import ConfigError
from ganforge.recipes import load_config, resolve

TINY_IMAGES = ["model.g_width=8", "model.d_width=8", "train.batch_size=16", "train.eval_every=0",
               "train.sample_every=0", "train.log_every=2", "train.ckpt_every=4", "train.progress=false", "eval.n=100",
               "device=cpu"]


def test_amp_is_refused_on_the_cpu():
    cfg = resolve(load_config("mnist", ["train.amp=bf16"]))
    with pytest.raises(ConfigError, match="bf16.*CUDA"):
        speed.check_speed_options(cfg, torch.device("cpu"))
    speed.check_speed_options(resolve(load_config("mnist", [])), torch.device("cpu"))


def test_speed_options_train_the_same_networks_on_cpu(tmp_path):
    """channels_last changes the layout, not the model: a tiny run trains and its checkpoint has plain keys."""
    from ganforge import checkpoint
    from ganforge.runner import train

    cfg = load_config("mnist", TINY_IMAGES + ["train.steps=2", "train.channels_last=true"])
    run = train(cfg, tmp_path / "cl")
    state = checkpoint.load(checkpoint.latest(run))
    assert state["step"] == 2 and "net.1.weight" in state["models"]["G"]


def test_reuse_fake_draws_one_g_forward_per_iteration_and_still_trains_g():
    """train.reuse_fake: the G phase back-propagates through the D phase's fake; D's update is unchanged."""
    from ganforge.loop import seed_everything, train_iteration
    from ganforge.recipes import gan

    def one_iteration(reuse: bool):
        cfg = resolve(load_config("mnist", TINY_IMAGES + [f"train.reuse_fake={str(reuse).lower()}", "train.ema=0"]))
        gan.validate(cfg)
        seed_everything(0)
        recipe = gan.build(cfg, torch.device("cpu"))
        calls = []
        recipe.models["G"].register_forward_hook(lambda *_: calls.append(1))
        g0 = [p.detach().clone() for p in recipe.models["G"].parameters()]
        train_iteration(recipe, 0, {}, {})
        moved = max((p - q).abs().max().item() for p, q in zip(recipe.models["G"].parameters(), g0, strict=True))
        return len(calls), moved, [p.detach().clone() for p in recipe.models["D"].parameters()]

    calls_reuse, moved_reuse, d_reuse = one_iteration(True)
    calls_new, moved_new, d_new = one_iteration(False)
    assert (calls_reuse, calls_new) == (1, 2)
    assert moved_reuse > 0 and moved_new > 0
    for a, b in zip(d_reuse, d_new, strict=True):  # the D phase draws the same noise and makes the same update
        torch.testing.assert_close(a, b)
    with pytest.raises(ConfigError, match="d_steps=1"):
        resolve(load_config("mnist", ["loss=wgan-gp", "train.reuse_fake=true"]))


def _faults_per_block(mb: int = 64, n: int = 4) -> float:
    """Minor page faults per allocate-touch-free cycle of an ``mb`` MiB tensor."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        t = torch.ones(mb * 2**18)  # written: every page touched
        del t
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n


def _resident_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(speed._glibc() is None, reason="glibc's mallopt only")
def test_keep_freed_memory_stops_large_tensors_faulting_in_again_and_is_undone():
    pages = 64 * 2**20 / 4096
    assert _faults_per_block() > 0.5 * pages  # glibc's default: each large block is a fresh mmap
    with speed.freed_memory_kept() as took:
        assert took
        _faults_per_block()  # the heap grows once
        assert _faults_per_block() < 0.05 * pages  # then the freed block is reused
        with speed.freed_memory_kept():  # nested (a bench inside a training run): its exit does not end it
            pass
        assert _faults_per_block() < 0.05 * pages
        kept = _resident_mb()
    assert _resident_mb() < kept - 32  # on exit the free 64 MiB goes back to the OS


def test_keep_freed_memory_leaves_the_users_own_malloc_settings_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert speed.keep_freed_memory(True) is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    assert speed.keep_freed_memory(True) is False


@pytest.mark.skipif(speed._glibc() is None, reason="glibc's mallopt only")
def test_training_keeps_freed_memory_only_while_it_runs(tmp_path, monkeypatch):
    from ganforge.runner import train

    calls = []
    real = speed.keep_freed_memory
    monkeypatch.setattr(speed, "keep_freed_memory", lambda on: calls.append(on) or real(on))
    train(load_config("mnist", TINY_IMAGES + ["train.steps=2"]), tmp_path / "on")
    train(load_config("mnist", TINY_IMAGES + ["train.steps=2", "train.keep_memory=false"]), tmp_path / "off")
    assert calls == [True, False]  # on, then off when the first run ended; the second run never touched it
