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

import torch
from torch import nn

Batch = dict[str, torch.Tensor]
Models = dict[str, nn.Module]
StepFn = Callable[[Models, Batch], tuple[torch.Tensor, dict[str, torch.Tensor]]]


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
    ema: dict[str, str] = field(default_factory=dict)  # moving-average model -> the model it follows ("G_ema": "G")
    ema_decay: float = 0.0  # beta; the loop updates after each step of the followed model's phase
    # the context the phases' steps run in: the loop sets bf16 autocast here on CUDA with train.amp=bf16
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


@torch.no_grad()
def ema_update(ema: nn.Module, src: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * src for parameters; buffers (batch-norm statistics) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(src.parameters()), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), src.buffers(), strict=True):
        b_ema.copy_(b)
