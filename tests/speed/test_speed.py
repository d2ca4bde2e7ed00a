"""The single-device speed options: train.amp (auto's probe, bf16 on the CPU, fp16's loss scaling),
train.threads, channels_last, train.reuse_fake, and the CPU allocator setting (``train.keep_memory``: glibc
keeps the memory tensors free in the process)."""

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


def test_fp16_is_refused_on_the_cpu_and_bf16_is_not():
    cfg = resolve(load_config("mnist", ["train.amp=fp16"]))
    with pytest.raises(ConfigError, match="fp16.*CUDA"):
        speed.check_speed_options(cfg, torch.device("cpu"))
    for amp in ("auto", "none", "bf16"):
        speed.check_speed_options(resolve(load_config("mnist", [f"train.amp={amp}"])), torch.device("cpu"))


def test_a_refused_recipe_runs_auto_in_fp32_and_refuses_bf16(monkeypatch):
    monkeypatch.setitem(speed.AMP_REFUSED, "gan", "bf16 lost quality at equal steps")
    monkeypatch.setattr(speed, "cpu_bf16_probe", lambda refresh=False: {"bf16": True, "matmul": 3.0, "conv": 2.0})
    with pytest.raises(ConfigError, match="refused for recipe gan"):
        speed.check_speed_options(resolve(load_config("mnist", ["train.amp=bf16"])), torch.device("cpu"))
    cfg = resolve(load_config("mnist", []))
    assert cfg.train.amp == "auto" and speed.resolve_amp(cfg, torch.device("cpu")) == "none"
    assert "refused" in speed.amp_summary(cfg, torch.device("cpu"))


@pytest.mark.parametrize("bf16_faster", [True, False])
def test_auto_follows_the_probe_on_image_runs_and_stays_fp32_on_2d_runs(monkeypatch, bf16_faster):
    monkeypatch.setattr(speed, "cpu_bf16_probe",
                        lambda refresh=False: {"bf16": bf16_faster, "matmul": 2.0 if bf16_faster else 0.1,
                                               "conv": 1.5})
    cpu = torch.device("cpu")
    assert speed.resolve_amp(resolve(load_config("mnist", [])), cpu) == ("bf16" if bf16_faster else "none")
    assert speed.resolve_amp(resolve(load_config("ring8", [])), cpu) == "none"
    assert speed.resolve_amp(resolve(load_config("mnist", ["train.amp=none"])), cpu) == "none"
    assert speed.resolve_amp(resolve(load_config("mnist", ["train.amp=bf16"])), cpu) == "bf16"  # asked for: as asked
    ctx = speed.autocast_for(resolve(load_config("mnist", [])), cpu)()
    assert isinstance(ctx, torch.autocast) == bf16_faster


def test_the_probe_is_measured_once_per_machine_and_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    monkeypatch.setattr(speed, "_probed", {})
    calls = []
    monkeypatch.setattr(speed, "measure_bf16", lambda: calls.append(1) or {"matmul": 1.6, "conv": 1.1})
    first = speed.cpu_bf16_probe()
    assert calls == [1] and first["bf16"] is False  # the convolution is not 1.15x faster: fp32
    assert first["machine"] == speed.machine_key() and "torch" in first["machine"]
    monkeypatch.setattr(speed, "_probed", {})  # a new process: read from the cache file, not measured again
    assert speed.cpu_bf16_probe()["conv"] == 1.1 and calls == [1]
    (tmp_path / "machine" / "bf16-probe.json").write_text("{not json")  # a damaged cache: measured again
    monkeypatch.setattr(speed, "_probed", {})
    assert speed.cpu_bf16_probe()["matmul"] == 1.6 and calls == [1, 1]
    ratios = speed.measure_bf16()  # the real probe: two positive speed ratios
    assert set(ratios) == {"matmul", "conv"} and all(r > 0 for r in ratios.values())


def test_under_bf16_autocast_losses_and_penalties_are_fp32_and_the_step_keeps_fp32_state(tmp_path):
    """bf16 on the CPU trains: forward passes in bf16, losses, R1 (its double backward) and the parameters,
    gradients, optimiser and EMA state in fp32; the checkpoint records what ran."""
    from ganforge import checkpoint, losses
    from ganforge.runner import train

    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    x = torch.randn(4, 1, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert D(x).dtype == torch.bfloat16  # autocast is on ...
        r1, logits = losses.r1_penalty_and_logits(D, x)
        gp = losses.gradient_penalty(D, x, torch.randn_like(x))
        d = losses.d_loss("ns", D(x), D(x))
    assert r1.dtype == gp.dtype == d.dtype == logits.dtype == torch.float32  # ... but not in these

    cfg = load_config("mnist", TINY_IMAGES + ["train.steps=2", "train.amp=bf16", "loss.r1_gamma=1",
                                              "train.r1_every=1"])
    run = train(cfg, tmp_path / "bf16")
    state = checkpoint.load(checkpoint.latest(run))
    assert state["runtime"]["amp"] == "bf16"
    for name, weights in state["models"].items():
        assert all(v.dtype in (torch.float32, torch.int64) for v in weights.values()), name
    for opt in state["optimizers"].values():
        assert all(t.dtype == torch.float32 for s in opt["state"].values() for t in s.values() if t.dim()), opt
    assert all(torch.isfinite(v).all() for v in state["models"]["G"].values())


def test_fp16_loss_scaling_steps_unscaled_gradients():
    """train.amp=fp16's GradScaler path in the loop (run here on the CPU's scaler): the update equals the
    unscaled fp32 one, and the logged gradient norm is unscaled."""
    from ganforge.loop import train_iteration
    from ganforge.recipes.base import Phase, Recipe

    def run(scaler):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        phase = Phase("D", "D", lambda models, batch: ((models["D"](batch["x"]) ** 2).mean(), {}))
        recipe = Recipe({"D": net}, {"D": opt}, [phase], lambda: {"x": torch.ones(2, 3)}, scaler=scaler)
        accum, counts = {}, {}
        train_iteration(recipe, 0, accum, counts, log_grads=True)
        return net.weight.detach().clone(), accum["Grad/D"]

    w_plain, g_plain = run(None)
    w_scaled, g_scaled = run(torch.amp.GradScaler("cpu", init_scale=2.0**10))
    assert torch.allclose(w_plain, w_scaled) and torch.allclose(g_plain, g_scaled)


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
    default = _faults_per_block()
    if default == 0:
        pytest.skip("this kernel does not count minor page faults (getrusage ru_minflt stays 0)")
    assert default > 0.5 * pages  # glibc's default: each large block is a fresh mmap
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


def test_threads_auto_takes_the_idle_cores_an_explicit_count_and_a_resumed_runs_count(monkeypatch):
    cpu = torch.device("cpu")
    cfg = resolve(load_config("mnist", []))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(speed, "idle_cores", lambda window=0.25: 1.1)  # another process busy on one core
    assert cfg.train.threads is None and speed.choose_threads(cfg, cpu) == 1
    monkeypatch.setattr(speed, "idle_cores", lambda window=0.25: 1.9)  # a quiet machine: torch's default
    assert speed.choose_threads(cfg, cpu) == 2
    monkeypatch.setattr(speed, "idle_cores", lambda window=0.25: 7.0)  # never above the default
    assert speed.choose_threads(cfg, cpu) == 2
    assert speed.choose_threads(cfg, cpu, recorded=1) == 1  # a resume keeps its checkpoint's count
    assert speed.choose_threads(resolve(load_config("mnist", ["train.threads=3"])), cpu, recorded=1) == 3
    assert speed.choose_threads(cfg, torch.device("meta")) is None  # not a CPU run: left alone


@pytest.mark.parametrize(("others", "own", "idle"),
                         [(1.0, 0.0, 1.0), (0.0, 1.0, 2.0), (1.0, 1.0, 1.0), (2.0, 0.0, 0.0)])
def test_idle_cores_counts_other_processes_busy_time_not_its_own(monkeypatch, others, own, idle):
    """/proc/stat's busy share of 2 CPUs over the window, minus this process's own CPU time."""
    clock = {"t": 0.0}
    monkeypatch.setattr(speed.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(speed.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(speed.time, "sleep", lambda s: clock.update(t=clock["t"] + s))
    monkeypatch.setattr(speed.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(speed.time, "process_time", lambda: own * clock["t"])
    # ticks: 2 CPUs x 100 per second in all; busy = (others + own) CPUs' worth
    monkeypatch.setattr(speed, "_cpu_ticks", lambda: ((others + own) * 100 * clock["t"], 200 * clock["t"] + 1))
    assert speed.idle_cores(0.5) == pytest.approx(idle, abs=0.02)


def test_idle_cores_measures_this_machine():
    measured = speed.idle_cores(0.1)
    if measured is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= measured <= len(os.sched_getaffinity(0))


def test_a_run_records_and_restores_its_thread_count(tmp_path):
    from ganforge import checkpoint
    from ganforge.runner import resume, train

    before = torch.get_num_threads()
    run = train(load_config("mnist", TINY_IMAGES + ["train.steps=2", "train.threads=1"]), tmp_path / "t")
    assert torch.get_num_threads() == before  # process-wide setting put back
    assert checkpoint.load(checkpoint.latest(run))["runtime"]["threads"] == 1
    resume(run, ["train.steps=4", "train.threads=null"])  # auto on resume: the checkpoint's count
    assert checkpoint.load(checkpoint.latest(run))["runtime"]["threads"] == 1
