"""What a recipe hands to the training loop: models, optimisers, phases and a batch source.

A :class:`Phase` is one kind of update: a name, the model whose parameters it changes,
the optimiser that changes them, how many times it runs per iteration (``repeats``,
e.g. k critic steps) and every how many iterations (``interval``, e.g. lazy R1), and
``step(models, batch) -> (loss, logs)``. The loop does zero_grad/backward/step, freezes
every other model, logs, checkpoints; a recipe never repeats those mechanics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

Batch = dict[str, torch.Tensor]
Models = dict[str, nn.Module]
StepFn = Callable[[Models, Batch], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class BatchState(Protocol):
    """A batch source with a position of its own (streamed data: its sampler's epoch and index), which
    checkpoints keep as ``"data"``; in-memory sources have none (the global RNG is their position)."""

    def state_dict(self) -> dict[str, int]: ...

    def load_state_dict(self, state: dict[str, int]) -> None: ...


@dataclass
class Phase:
    name: str
    module: str  # key in Recipe.models whose parameters this phase updates (and the optimiser's key)
    step: StepFn
    repeats: int = 1
    interval: int = 1
    after_step: Callable[[Models], None] | None = None  # e.g. weight clipping after each critic step


@dataclass
class Recipe:
    models: Models
    optimizers: dict[str, torch.optim.Optimizer]
    phases: list[Phase]
    next_batch: Callable[[], Batch]  # draws from the global torch RNG, so checkpoints capture data order
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = field(default_factory=dict)  # stepped per iteration
    extra_state: dict[str, torch.Tensor] = field(default_factory=dict)  # saved in checkpoints (e.g. data scaling)
    data_state: BatchState | None = None  # next_batch's own position (streamed data), saved in checkpoints
    ema: dict[str, str] = field(default_factory=dict)  # moving-average model -> the model it follows ("G_ema": "G")
    ema_decay: float = 0.0  # beta; the loop updates after each step of the followed model's phase
    # the context the phases' steps run in: speed.prepare sets autocast here per train.amp
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    # fp16 autocast's loss scaling (train.amp=fp16, CUDA); None otherwise
    scaler: torch.amp.GradScaler | None = None
    precision: str = "none"  # what the autocast runs in: none (fp32), bf16 or fp16 (train.amp resolved)


@torch.no_grad()
def ema_update(ema: nn.Module, src: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * src for parameters; buffers (batch-norm statistics) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(src.parameters()), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), src.buffers(), strict=True):
        b_ema.copy_(b)
