"""Multi-process training on PyTorch's own engine: ranks, DDP wrapping, all-reduces, the launcher.

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

The single-device speed options (channels_last, ``torch.compile``, bf16 autocast, TF32, the CPU
allocator) live in :mod:`ganforge.speed`. After building, the loop calls, in this order:
:func:`sync_batch_norm` (on the plain modules), :func:`ganforge.speed.prepare` (``torch.compile``),
then :func:`wrap_recipe` (DDP around the compiled networks); before building,
:func:`ganforge.speed.check_speed_options` and :func:`check_ddp_options`.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
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


def local_config(cfg: Config, world: int,
                 check_batch: Callable[[Config, int, str], None] | None = None) -> Config:
    """The config one rank trains with: ``train.batch_size`` split evenly over ``world`` processes.
    ``check_batch(cfg, batch, where)``: the recipe's check of one process's batch (its ``check_batch``)."""
    B = cfg.train.batch_size
    if world <= 1:
        return cfg
    if B % world:
        raise ConfigError(f"train.batch_size ({B}) is the global batch and must be divisible by the number of "
                          f"processes ({world}); e.g. train.batch_size={max(world, B // world * world)}")
    local = B // world
    if check_batch is not None:  # the recipe's own rule for D's batch (packs, minibatch-std groups)
        check_batch(cfg, local, f"each of the {world} processes' share of train.batch_size")
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


# --------------------------------------------------------------------------- preparing a recipe

def sync_batch_norm(recipe: Any, cfg: Config) -> None:
    """In place, on the plain modules before :func:`ganforge.speed.prepare` (``torch.compile`` must see the
    converted networks): SyncBatchNorm in the trained networks, with ``train.sync_bn`` when world > 1."""
    if cfg.train.sync_bn and world_size() > 1:
        for k in _trained(recipe):
            recipe.models[k] = nn.SyncBatchNorm.convert_sync_batchnorm(recipe.models[k])


def wrap_recipe(recipe: Any, device: torch.device) -> None:
    """In place, after :func:`ganforge.speed.prepare`: :func:`wrap` around the recipe's trained networks
    (the compiled modules, when ``train.compile``). The optimisers keep pointing at the same parameters."""
    wrap(recipe.models, _trained(recipe), device)


def _trained(recipe: Any) -> list[str]:
    return sorted({p.module for p in recipe.phases})


def check_ddp_options(cfg: Config, device: torch.device) -> None:
    """Refuse options that cannot work under DDP, naming the value (single-device speed options:
    :func:`ganforge.speed.check_speed_options`)."""
    tc = cfg.train
    if tc.sync_bn and world_size() > 1 and device.type != "cuda":  # one process: nothing to synchronise, harmless
        raise ConfigError("train.sync_bn=true needs CUDA: PyTorch's SyncBatchNorm works with GPU modules only; "
                          "on the CPU each process normalises over its own share of the batch (train.sync_bn=false)")
    if tc.reuse_fake and world_size() > 1:
        raise ConfigError("train.reuse_fake works in one process only: under DDP the G forward of the D phase "
                          "would bypass G's DistributedDataParallel wrapper (train.reuse_fake=false)")


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
