"""The single-device speed options, applied to a built recipe before training or a bench.

    from ganforge import speed
    speed.check_speed_options(cfg, device)     # before building: refuse what cannot work here
    recipe = recipe_module(cfg).build(cfg, device)
    speed.prepare(recipe, cfg, device)         # in place, after the networks are built (and restored)
    with speed.freed_memory_kept(device.type == "cpu" and cfg.train.keep_memory):
        ...                                    # train or measure

:func:`prepare` (through :func:`speed_up`) applies, per ``cfg.train``: ``train.channels_last`` (the
networks and the batches' image tensors in the channels_last layout, :func:`channels_last_batches`),
``train.compile`` (``torch.compile`` of the trained networks, G and D), ``train.amp`` (autocast for the
phases' forward passes, :func:`autocast_for`; ``auto`` = bf16 where it is measured faster than fp32 on
this device, :func:`resolve_amp`), and TF32 matmuls and the cuDNN autotuner on CUDA. On the
CPU ``train.keep_memory`` keeps the memory tensors free in the process (:func:`keep_freed_memory`,
:func:`freed_memory_kept`; glibc's ``mallopt``).

Nothing here knows about processes: under torchrun the loop converts batch norm to SyncBatchNorm
before :func:`prepare` (``torch.compile`` must see the converted modules) and puts DDP around the
compiled networks after it (:mod:`ganforge.dist`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config import Config
from ganforge.errors import ConfigError


def prepare(recipe: Any, cfg: Config, device: torch.device) -> None:
    """In place, after the networks are built (and restored): the speed options, per ``cfg.train``.

    channels_last on the plain modules, then ``torch.compile`` of the trained networks, the
    channels_last batch source and the phases' autocast. The optimisers keep pointing at the same
    parameters.
    """
    trainable = sorted({p.module for p in recipe.phases})
    speed_up(recipe.models, trainable, cfg, device)
    if cfg.train.channels_last:
        recipe.next_batch = channels_last_batches(recipe.next_batch)
    recipe.autocast = autocast_for(cfg, device)
    recipe.precision = resolve_amp(cfg, device)
    recipe.scaler = torch.amp.GradScaler(device.type) if recipe.precision == "fp16" else None


def check_speed_options(cfg: Config, device: torch.device) -> None:
    """Refuse speed options that cannot work on ``device`` or for this recipe, naming the value."""
    tc = cfg.train
    if tc.amp == "fp16" and device.type != "cuda":
        raise ConfigError("train.amp=fp16 runs on CUDA only (with loss scaling); on the CPU use train.amp=bf16, "
                          "or auto (bf16 where this CPU runs it faster than fp32)")
    if tc.amp in ("bf16", "fp16") and cfg.recipe in AMP_REFUSED:
        raise ConfigError(f"train.amp={tc.amp} is refused for recipe {cfg.recipe}: {AMP_REFUSED[cfg.recipe]}; "
                          "use train.amp=none or auto")


# --------------------------------------------------------------------------- mixed precision

#: recipe -> why reduced-precision autocast is refused for it: at equal steps it did not reach fp32's quality
#: within the metric's interval (benchmarks/amp.py); ``train.amp=auto`` runs these in fp32
AMP_REFUSED: dict[str, str] = {}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: a CPU counts as running bf16 faster when both probes (matmul, convolution) are at least this much faster
BF16_MIN_SPEEDUP = 1.15
_PROBE_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
_probed: dict[str, dict[str, Any]] = {}  # this process's probe results, by machine key


def resolve_amp(cfg: Config, device: torch.device) -> str:
    """What ``train.amp`` means on ``device``: ``none``, ``bf16`` or ``fp16``. ``auto``: bf16 on a CUDA device
    that supports it, and on a CPU whose bf16 matmul and convolution beat fp32 in a short probe
    (:func:`cpu_bf16_probe`, cached per machine); fp32 for 2-D runs, for recipes in ``AMP_REFUSED`` and
    everywhere else."""
    amp = cfg.train.amp
    if amp != "auto":
        return amp
    if cfg.recipe in AMP_REFUSED or cfg.data_kind == "toy":
        return "none"  # 2-D runs: their MLPs are so small that autocast's casts cost more than bf16 saves
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "none"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_probe()["bf16"] else "none"
    return "none"


def machine_key() -> str:
    """The CPU model, its bf16-relevant instruction sets, torch's version and the thread count: what the
    probe's result depends on."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    have = "+".join(f for f in _PROBE_FLAGS if f in flags) or "-"
    return f"{model} [{have}] torch {torch.__version__} threads {torch.get_num_threads()}"


def _best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (oneDNN builds its kernels on the first call)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure_bf16() -> dict[str, float]:
    """fp32 time / bf16 time of a 512^3 matmul and of a DCGAN-sized convolution (batch 32, 64 -> 128 channels,
    4x4 stride 2 at 16x16, channels_last) on the CPU: > 1 means bf16 is faster. About 0.2 s."""
    import torch.nn.functional as F

    out = {}
    with torch.no_grad():
        a, b = torch.randn(512, 512), torch.randn(512, 512)
        x = torch.randn(32, 64, 16, 16).contiguous(memory_format=torch.channels_last)
        w = torch.randn(128, 64, 4, 4)
        probes = {"matmul": (lambda p, q: p @ q, a, b, 6), "conv": (lambda p, q: F.conv2d(p, q, stride=2, padding=1),
                                                                     x, w, 4)}
        for name, (op, p, q, repeats) in probes.items():
            fp32 = _best_seconds(lambda: op(p, q), repeats)  # noqa: B023
            p16, q16 = p.to(torch.bfloat16), q.to(torch.bfloat16)
            bf16 = _best_seconds(lambda: op(p16, q16), repeats)  # noqa: B023
            out[name] = fp32 / max(bf16, 1e-9)
    return out


def cpu_bf16_probe(refresh: bool = False) -> dict[str, Any]:
    """Whether bf16 beats fp32 on this CPU: ``{"bf16": bool, "matmul": ratio, "conv": ratio, "machine": key}``.

    Measured once per machine (:func:`machine_key`) and kept in ``cache_dir("machine")/bf16-probe.json``;
    ``refresh`` measures again. An unwritable cache only costs the probe again next time."""
    from ganforge.cache import cache_dir
    from ganforge.checkpoint import atomic_write_text

    key = machine_key()
    if not refresh and key in _probed:
        return _probed[key]
    path = cache_dir("machine") / "bf16-probe.json"
    try:
        known = json.loads(path.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if refresh or not (isinstance(entry, dict) and isinstance(entry.get("bf16"), bool)):
        ratios = measure_bf16()
        entry = {"bf16": all(r >= BF16_MIN_SPEEDUP for r in ratios.values()), **ratios}
        known[key] = entry
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(known, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass
    result = {**entry, "machine": key}
    _probed[key] = result
    return result


def amp_summary(cfg: Config, device: torch.device) -> str:
    """One line of what ``train.amp`` runs as here and why ("bf16 (auto: bf16 matmul 2.7x, conv 1.8x fp32 on this
    CPU)")."""
    ran = resolve_amp(cfg, device)
    name = "fp32" if ran == "none" else ran
    if cfg.train.amp != "auto":
        return name
    if cfg.recipe in AMP_REFUSED:
        return f"{name} (auto: reduced precision refused for {cfg.recipe})"
    if cfg.data_kind == "toy":
        return f"{name} (auto: 2-D networks are too small to gain from bf16)"
    if device.type == "cpu":
        p = cpu_bf16_probe()
        return f"{name} (auto: bf16 matmul {p['matmul']:.2g}x, conv {p['conv']:.2g}x fp32 speed on this CPU)"
    return f"{name} (auto)"


def speed_up(models: dict[str, nn.Module], trainable: list[str], cfg: Config, device: torch.device) -> None:
    """In place: channels_last layout and ``torch.compile`` for the trained networks, per ``cfg.train``."""
    tc = cfg.train
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if tc.channels_last:
        for m in models.values():
            m.to(memory_format=torch.channels_last)
    if tc.compile:
        for k in trainable:
            models[k] = torch.compile(models[k])


# glibc's mallopt parameters (malloc.h), and the values its own adjustment reaches once large blocks have
# been freed (64-bit: mmap threshold up to 32 MiB, trim threshold twice that, at most 65,536 mmaps)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_GLIBC_SETTLED = {_M_MMAP_THRESHOLD: 32 * 2**20, _M_TRIM_THRESHOLD: 64 * 2**20, _M_MMAP_MAX: 65536}


_USER_KNOBS = ("mmap_max", "mmap_threshold", "trim_threshold", "top_pad")  # MALLOC_*_ / glibc.malloc.* names
_kept = {"depth": 0}  # nesting of keep_freed_memory(True) calls (training inside a bench, threads)
_kept_lock = threading.Lock()


def _glibc() -> ctypes.CDLL | None:
    """glibc's C library, when this process runs on it and the user has not set its thresholds already
    (``MALLOC_MMAP_MAX_``-style environment variables or ``GLIBC_TUNABLES``), else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if any(f"MALLOC_{k.upper()}_" in os.environ or f"glibc.malloc.{k}=" in tunables for k in _USER_KNOBS):
        return None  # the user's own settings of these thresholds win
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_freed_memory(on: bool) -> bool:
    """Process-wide: keep the memory that tensors free in the process for reuse (``on``), or stop doing so
    and return what is free to the OS. Returns whether the setting took (Linux with glibc, malloc not
    tuned by the user through the environment; elsewhere it does nothing and returns False). Calls nest:
    the setting ends with the ``False`` call that matches the first ``True`` one.

    By default glibc serves every block over its mmap threshold (128 KiB, rising to at most 32 MiB)
    with a fresh ``mmap`` and unmaps it on ``free``; a CPU training step allocates and frees the same
    large activations every iteration, so each step faults all of them in again: 30,000-70,000 page
    faults and ~10% system time per step of a plain DCGAN-64 loop on 2 cores here. With ``on``, large
    blocks come from the heap (``M_MMAP_MAX`` = 0) and freed memory stays there (``M_TRIM_THRESHOLD``
    2 GiB): the process keeps its peak working set. ``keep_freed_memory(False)`` calls ``malloc_trim``
    to return what is free, and does not restore glibc's start-up state exactly: once ``mallopt`` has
    been called glibc no longer adjusts its thresholds itself, and its start-up values (128 KiB) would
    leave the process slower than before, so it sets the values that adjustment settles on in a process
    that frees large blocks (mmap above 32 MiB, trim above 64 MiB).
    The training loop turns it on for CPU runs (``train.keep_memory``) and off when it ends.
    """
    libc = _glibc()
    if libc is None:
        return False
    with _kept_lock:
        if on:
            _kept["depth"] += 1
            if _kept["depth"] == 1 and not (libc.mallopt(_M_MMAP_MAX, 0) == 1
                                            and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1):
                _kept["depth"] = 0
                return False
        else:
            if _kept["depth"] == 0:
                return False
            _kept["depth"] -= 1
            if _kept["depth"] == 0:
                for param, value in _GLIBC_SETTLED.items():
                    libc.mallopt(param, value)
                libc.malloc_trim(0)
    return True


@contextlib.contextmanager
def freed_memory_kept(on: bool = True) -> Iterator[bool]:
    """:func:`keep_freed_memory` for the duration of a ``with`` block (which gets whether it took)."""
    took = keep_freed_memory(True) if on else False
    try:
        yield took
    finally:
        if took:
            keep_freed_memory(False)


def channels_last_batches(next_batch: Callable[[], dict[str, torch.Tensor]]) -> Callable[[], dict[str, torch.Tensor]]:
    """A batch source whose image tensors (4-D) come in the channels_last layout."""

    def wrapped() -> dict[str, torch.Tensor]:
        return {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                for k, v in next_batch().items()}

    return wrapped


def autocast_for(cfg: Config, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A context factory for the phases' forward passes: autocast to the dtype :func:`resolve_amp` gives, or
    nothing for fp32. Losses and penalties compute in fp32 inside it (``ganforge.losses``), parameters,
    gradients, batch-norm statistics, EMA and optimiser state stay fp32 (autocast casts per operation)."""
    ran = resolve_amp(cfg, device)
    if ran in AMP_DTYPES:
        dtype = AMP_DTYPES[ran]
        return lambda: torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext


# --------------------------------------------------------------------------- CPU threads

def _cpu_ticks() -> tuple[float, float] | None:
    """(busy, total) clock ticks of all CPUs since boot (``/proc/stat``), or None where it cannot be read."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    return total - idle, total


def idle_cores(window: float = 0.25) -> float | None:
    """How many of this process's CPUs other processes leave idle, measured over ``window`` seconds: the
    CPUs this process may run on minus the busy time of every other process. None where unknown."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    before, own0, t0 = _cpu_ticks(), time.process_time(), time.perf_counter()
    if before is None:
        return None
    time.sleep(window)
    after, own1, t1 = _cpu_ticks(), time.process_time(), time.perf_counter()
    if after is None or after[1] <= before[1]:
        return None
    ncpu = os.cpu_count() or cpus
    busy_cores = (after[0] - before[0]) / (after[1] - before[1]) * ncpu  # every process's, ours included
    others = max(0.0, busy_cores - (own1 - own0) / max(t1 - t0, 1e-9))
    return max(0.0, cpus - others)


def choose_threads(cfg: Config, device: torch.device, recorded: int | None = None) -> int | None:
    """The intra-op thread count a CPU run trains with: ``train.threads`` when set; else the count a
    resumed checkpoint ran with (``recorded``: the same count gives the same bits); else, measured now,
    the cores other processes leave idle (at least 1, at most torch's default). Two threads on 2 cores
    with another busy process ran 0.25x the quiet speed against 0.64x for one thread, as each parallel
    region waits for the thread that shares its core. None: not a CPU run, leave the setting alone."""
    if device.type != "cpu":
        return None
    if cfg.train.threads:
        return int(cfg.train.threads)
    default = torch.get_num_threads()
    if recorded:
        return max(1, min(int(recorded), os.cpu_count() or int(recorded)))
    if default <= 1:
        return default  # nothing to choose (and no quarter second spent measuring)
    idle = idle_cores()
    if idle is None:
        return default
    return max(1, min(default, int(idle + 0.5)))  # another process busy on half a core or more costs a thread


@contextlib.contextmanager
def threads_set(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for a ``with`` block (process-wide state, restored after); None: no change."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

