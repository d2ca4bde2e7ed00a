"""Multi-process training on PyTorch's own engine, and the single-device speed options.

    torchrun --nproc-per-node 2 -m ganforge train mnist --out runs/ddp   # or: ganforge train ... --nproc 2

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the loop calls :func:`setup`, which
starts the process group (gloo on the CPU, NCCL on CUDA, one GPU per local rank) and
:func:`wrap` puts every trainable network in :class:`~torch.nn.parallel.DistributedDataParallel`
(``G_ema`` stays a plain module: each rank updates it from identical weights). The rules:

* ``train.batch_size`` is the global batch: each rank draws ``batch_size / world_size`` samples
  (it must divide; :func:`local_config`). Ranks are seeded ``seed + rank`` after the networks are
  built, so their data draws and noise differ: the batch source draws random indices from the
  global torch RNG, which for in-memory data is what a ``DistributedSampler`` would give.
* Only the network a phase updates runs through its DDP wrapper (:func:`phase_models`); the others
  run as plain modules. A frozen D in the G phase then never enters DDP's reducer (no
  ``find_unused_parameters``), and WGAN-GP's ``autograd.grad`` through D works: the penalty's double
  backward reaches D's parameters in the one ``loss.backward()`` that DDP all-reduces.
* Logged values are averaged over ranks at the logging interval only (:func:`mean_over_ranks`, one
  all-reduce); pictures, metrics, checkpoints and the report are written by rank 0 (:func:`is_main`).
  Checkpoints hold the unwrapped modules' ``state_dict``s (:func:`unwrap`), so a DDP run resumes in
  one process and the other way round.
* ``train.sync_bn`` converts batch norm in the trained networks to SyncBatchNorm (statistics over the
  global batch); CUDA only (PyTorch's SyncBatchNorm refuses CPU modules), refused with gloo.

Speed options (:func:`speed_up`): ``train.channels_last``, ``train.compile`` (``torch.compile`` of G
and D), ``train.amp=bf16`` (autocast on CUDA only; refused on the CPU, where bf16 matmuls are about
100x slower than fp32 here), and TF32 matmuls on CUDA; on the CPU ``train.keep_memory``
(:func:`keep_freed_memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ganforge.config import Config
from ganforge.errors import ConfigError

_STARTED = False  # whether setup() started the process group (teardown ends only that one)

# --------------------------------------------------------------------------- ranks

def world_size() -> int:
    """Processes in the job: the initialised group's size, else torchrun's ``WORLD_SIZE``, else 1."""
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes files (rank 0, or the only process)."""
    return rank() == 0


def launched() -> bool:
    """Whether this process was started by torchrun for a job of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Start the process group when launched by torchrun; returns this rank's device.

    gloo for the CPU, NCCL for CUDA (with ``cuda:LOCAL_RANK``). A single process returns ``device``
    unchanged and starts nothing.
    """
    if not launched():
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local} has no GPU: {torch.cuda.device_count()} visible; "
                              "start at most one process per GPU (--nproc-per-node)")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    global _STARTED
    if not tdist.is_initialized():
        _STARTED = True
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                 device_id=device if device.type == "cuda" else None)
    return device


def teardown() -> None:
    """End the process group :func:`setup` started (one a caller started itself is left alone)."""
    global _STARTED
    if _STARTED and tdist.is_initialized():
        tdist.destroy_process_group()
    _STARTED = False


def barrier() -> None:
    if world_size() > 1 and tdist.is_initialized():
        tdist.barrier()


def local_config(cfg: Config, world: int) -> Config:
    """The config one rank trains with: ``train.batch_size`` split evenly over ``world`` processes."""
    B = cfg.train.batch_size
    if world <= 1:
        return cfg
    if B % world:
        raise ConfigError(f"train.batch_size ({B}) is the global batch and must be divisible by the number of "
                          f"processes ({world}); e.g. train.batch_size={max(world, B // world * world)}")
    local = B // world
    if cfg.model.mbstd and local % (cfg.model.mbstd * cfg.model.pack):
        raise ConfigError(f"each of the {world} processes gets {local} samples, which model.mbstd group size "
                          f"({cfg.model.mbstd}) times model.pack ({cfg.model.pack}) must divide")
    if cfg.model.pack > 1 and local % cfg.model.pack:
        raise ConfigError(f"each of the {world} processes gets {local} samples, not a multiple of model.pack "
                          f"({cfg.model.pack})")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=local))


def seed_rank(seed: int) -> None:
    """Per-rank randomness for training: rank r draws from ``seed + r`` (the networks were built before)."""
    if world_size() > 1:
        torch.manual_seed(seed + rank())


def reseed_after_resume() -> None:
    """After a DDP resume every rank restored rank 0's RNG state: derive distinct per-rank streams from it."""
    if world_size() > 1:
        base = int(torch.randint(0, 2**62, (1,)).item())  # the same on every rank
        torch.manual_seed(base + rank())


# --------------------------------------------------------------------------- models

def unwrap(m: nn.Module) -> nn.Module:
    """The plain module under DDP and ``torch.compile`` wrappers (for state_dicts, EMA and sampling)."""
    while True:
        if isinstance(m, DDP):
            m = m.module
        elif hasattr(m, "_orig_mod"):  # torch.compile's OptimizedModule
            m = m._orig_mod
        else:
            return m


def plain(models: dict[str, nn.Module]) -> dict[str, nn.Module]:
    return {k: unwrap(m) for k, m in models.items()}


def wrap(models: dict[str, nn.Module], trainable: list[str], device: torch.device) -> None:
    """In place: DistributedDataParallel around the ``trainable`` networks, when world > 1.

    DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts equal.
    """
    if world_size() <= 1:
        return
    ids = [device.index] if device.type == "cuda" else None
    for k in trainable:
        models[k] = DDP(models[k], device_ids=ids)


def phase_models(models: dict[str, nn.Module], name: str) -> dict[str, nn.Module]:
    """The models a phase updating ``name`` should call: only ``name`` through its DDP wrapper.

    A frozen network called through DDP would wait for gradients that never come; called plain it
    is an ordinary differentiable function (its input gradients still flow to the trained network).
    """
    if not any(isinstance(m, DDP) for m in models.values()):
        return models
    return {k: (m if k == name else _strip_ddp(m)) for k, m in models.items()}


def _strip_ddp(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The average over ranks of a 1-D tensor of logged sums (one all-reduce), or ``values`` alone."""
    if world_size() <= 1:
        return values
    values = values.clone()
    tdist.all_reduce(values, op=tdist.ReduceOp.SUM)
    return values / world_size()


def agree(flag: bool, sync_point: bool, device: torch.device) -> bool:
    """A stop decision every rank takes together: ``flag`` alone in one process; under DDP only at
    ``sync_point`` steps (the logging interval), true when any rank's ``flag`` is."""
    if world_size() <= 1:
        return flag
    return any_rank(flag, device) if sync_point else False


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on one of them (used for the wall-clock budget)."""
    if world_size() <= 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item())


# --------------------------------------------------------------------------- single-device speed

def prepare(recipe: Any, cfg: Config, device: torch.device) -> None:
    """In place, after the networks are built (and restored): the speed options, then DDP.

    Order: channels_last and SyncBatchNorm on the plain modules, ``torch.compile``, then the DDP
    wrapper around the compiled module. The optimisers keep pointing at the same parameters.
    """
    trainable = sorted({p.module for p in recipe.phases})
    tc = cfg.train
    if tc.sync_bn and world_size() > 1:
        for k in trainable:
            recipe.models[k] = nn.SyncBatchNorm.convert_sync_batchnorm(recipe.models[k])
    speed_up(recipe.models, trainable, cfg, device)
    if tc.channels_last:
        recipe.next_batch = channels_last_batches(recipe.next_batch)
    wrap(recipe.models, trainable, device)
    recipe.autocast = autocast_for(cfg, device)


def check_speed_options(cfg: Config, device: torch.device) -> None:
    """Refuse combinations that cannot work or would be slow, naming the value."""
    tc = cfg.train
    if tc.amp == "bf16" and device.type != "cuda":
        raise ConfigError("train.amp=bf16 runs on CUDA only: on this CPU bf16 matmuls are about 100x slower than "
                          "fp32; use train.amp=none (the default) or --device cuda")
    if tc.sync_bn and world_size() > 1 and device.type != "cuda":  # one process: nothing to synchronise, harmless
        raise ConfigError("train.sync_bn=true needs CUDA: PyTorch's SyncBatchNorm works with GPU modules only; "
                          "on the CPU each process normalises over its own share of the batch (train.sync_bn=false)")
    if tc.reuse_fake and world_size() > 1:
        raise ConfigError("train.reuse_fake works in one process only: under DDP the G forward of the D phase "
                          "would bypass G's DistributedDataParallel wrapper (train.reuse_fake=false)")


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
    """A context factory for the phases' forward passes: bf16 autocast on CUDA when asked, else nothing."""
    if cfg.train.amp == "bf16" and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


# --------------------------------------------------------------------------- launcher

def launch(nproc: int, argv: list[str]) -> int:
    """Run ``ganforge <argv>`` in ``nproc`` processes through torchrun (``torch.distributed.run``).

    Returns the launcher's exit status. ``--standalone`` picks a free local rendezvous port.
    """
    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "ganforge", *argv]
    return subprocess.call(cmd)
