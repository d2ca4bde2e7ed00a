"""The single-device speed options, applied to a built recipe before training or a bench.

    from ganforge import speed
    speed.check_speed_options(cfg, device)     # before building: refuse what cannot work here
    recipe = recipe_module(cfg).build(cfg, device)
    speed.prepare(recipe, cfg, device)         # in place, after the networks are built (and restored)
    with speed.freed_memory_kept(device.type == "cpu" and cfg.train.keep_memory):
        ...                                    # train or measure

:func:`prepare` (through :func:`speed_up`) applies, per ``cfg.train``: ``train.channels_last`` (the
networks and the batches' image tensors in the channels_last layout, :func:`channels_last_batches`),
``train.compile`` (``torch.compile`` of the trained networks, G and D), ``train.amp=bf16`` (autocast
for the phases' forward passes on CUDA only, :func:`autocast_for`; refused on the CPU, where bf16
matmuls are about 100x slower than fp32 here), and TF32 matmuls and the cuDNN autotuner on CUDA. On the
CPU ``train.keep_memory`` keeps the memory tensors free in the process (:func:`keep_freed_memory`,
:func:`freed_memory_kept`; glibc's ``mallopt``).

Nothing here knows about processes: under torchrun the loop converts batch norm to SyncBatchNorm
before :func:`prepare` (``torch.compile`` must see the converted modules) and puts DDP around the
compiled networks after it (:mod:`ganforge.dist`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterator
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


def check_speed_options(cfg: Config, device: torch.device) -> None:
    """Refuse speed options that cannot work or would be slow on ``device``, naming the value."""
    tc = cfg.train
    if tc.amp == "bf16" and device.type != "cuda":
        raise ConfigError("train.amp=bf16 runs on CUDA only: on this CPU bf16 matmuls are about 100x slower than "
                          "fp32; use train.amp=none (the default) or --device cuda")


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
