"""Shared pieces of the lecture companion: the context a topic runs in, its result, figures, and small trainers.

    ctx = Context(fast=True, seed=0)
    result = some_topic(ctx)           # TopicResult(numbers={...}, figure=Figure, summary="...")
    recipe, cfg = toy_recipe(ctx, ["loss=minimax"])              # a real recipe on a 2-D toy, stepped by hand
    trained = trained_digits(ctx, "resize")                       # a small DCGAN on digits, cached per process

Everything trains through the project's own code: ``ganforge.recipes.gan.build`` for models, optimisers and
phases and ``ganforge.loop.train_iteration`` for each step, so what a topic shows is what ``ganforge train``
does. Figures are ``matplotlib.figure.Figure`` objects on the Agg canvas (no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from ganforge.config import Config
from ganforge.loop import seed_everything, train_iteration
from ganforge.recipes import gan, load_config, resolve
from ganforge.recipes.base import Recipe
from ganforge.recipes.common import make_optimizer

DPI = 100


@dataclass
class Context:
    """How a topic runs.

    Args:
        fast: shrink every training to a few steps (for tests); the numbers keep their meaning but are noisier.
        seed: seed for every random draw of the topic.
        run_dir: an image run folder to use where a topic needs a trained image generator (latent); None =
            train a small one.
    """

    fast: bool = False
    seed: int = 0
    run_dir: Path | None = None


@dataclass
class Table:
    """A table for the page beside the numbers (e.g. one row per theta): ``rows`` of plain values under
    ``columns``; the string "inf" is shown as infinite."""

    caption: str
    columns: list[str]
    rows: list[list[Any]]
    shows: list[str] = field(default_factory=list)  # number keys this table lays out (the page lists them once)


@dataclass
class TopicResult:
    """What a topic computes: ``numbers`` (plain JSON values), the ``figure`` drawn from them, and a one-line
    ``summary`` of the key numbers."""

    numbers: dict[str, Any]
    figure: Figure
    summary: str
    notes: list[str] = field(default_factory=list)  # extra sentences for the page (e.g. what is not there yet)
    seconds: float = 0.0  # wall time of the computation, filled in by ``run_topic``
    labels: dict[str, str] = field(default_factory=dict)  # number key -> readable name on the page (default: key)
    tables: list[Table] = field(default_factory=list)  # extra tables for the page


def readable(key: str) -> str:
    """A number's key as words for the page when the topic gives no label: 'final_fid_relu-in-D' ->
    'final fid relu-in-D'."""
    return key.replace("_", " ")


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def plain(obj: Any) -> Any:
    """Numbers as JSON can hold them: numpy/torch scalars and arrays become Python values; inf/nan become the
    strings "inf", "-inf", "nan" (strict JSON has no such numbers)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return plain(obj.detach().cpu().numpy())
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


# --------------------------------------------------------------------------- 2-D toys through the real recipe

TOY_NETS = ["model.g_width=64", "model.d_width=64", "model.g_depth=2", "model.d_depth=2", "train.batch_size=128",
            "train.progress=false"]


def toy_recipe(ctx: Context, overrides: list[str], preset: str = "ring8") -> tuple[Recipe, Config]:
    """A seeded recipe (small MLPs) for a 2-D preset: step it with :func:`step`."""
    cfg = resolve(load_config(preset, TOY_NETS + [f"seed={ctx.seed}"] + overrides))
    gan.validate(cfg)
    seed_everything(cfg.seed)
    return gan.build(cfg, torch.device("cpu")), cfg


def step(recipe: Recipe, i: int, log_grads: bool = False) -> dict[str, float]:
    """One training iteration (every due phase) through the loop's own function; returns its logged values."""
    accum: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    train_iteration(recipe, i, accum, counts, log_grads=log_grads)
    return {k: float(v) / counts[k] for k, v in accum.items()}


# --------------------------------------------------------------------------- a small DCGAN on digits

#: variant name -> config overrides; the last three also get a surgery on the built networks (``_surgery``).
#: The ablations start from resize-conv upsampling, which trains steadily on these blurry digits where the
#: transposed-conv generator's FID drifts up within 300 steps (measured: the `upsampling` topic).
DIGIT_VARIANTS: dict[str, list[str]] = {
    "deconv": [],
    "resize": ["model.upsample=resize"],
    "no-batchnorm": ["model.upsample=resize"],
    "relu-in-D": ["model.upsample=resize"],
    "maxpool-in-D": ["model.upsample=resize"],
}


def _replace(module: nn.Module, match: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every sub-module for which ``match`` holds by ``make(old)``, in place; returns how many."""
    n = 0
    for name, child in list(module.named_children()):
        if match(child):
            setattr(module, name, make(child))
            n += 1
        else:
            n += _replace(child, match, make)
    return n


def _surgery(variant: str, models: dict[str, nn.Module]) -> int:
    """The architecture ablations of the DCGAN guidelines, applied to built networks (count of replaced layers)."""
    G, D = models["G"], models["D"]
    if variant == "no-batchnorm":  # DCGAN: batch norm in G and D (not G's output, not D's input)
        return sum(_replace(m, lambda c: isinstance(c, nn.BatchNorm2d), lambda c: nn.Identity()) for m in (G, D))
    if variant == "relu-in-D":  # DCGAN: LeakyReLU(0.2) in D
        return _replace(D, lambda c: isinstance(c, nn.LeakyReLU), lambda c: nn.ReLU())
    if variant == "maxpool-in-D":  # DCGAN: strided convolutions instead of pooling
        def pooled(c: nn.Conv2d) -> nn.Module:  # same receptive growth, same output size: conv 3x3 then 2x2 max
            return nn.Sequential(nn.Conv2d(c.in_channels, c.out_channels, 3, 1, 1, bias=c.bias is not None),
                                 nn.MaxPool2d(2))
        return _replace(D.body, lambda c: isinstance(c, nn.Conv2d) and c.stride == (2, 2), pooled)
    return 0


@dataclass
class TrainedDigits:
    cfg: Config
    recipe: Recipe
    history: list[dict[str, float]]  # one record per evaluation: step, fid, and the logged losses / grads
    replaced: int  # layers changed by the variant's surgery


_DIGITS_CACHE: dict[tuple, TrainedDigits] = {}


def digits_settings(fast: bool) -> dict[str, int]:
    if fast:
        return {"steps": 12, "every": 6, "width": 8, "batch": 32, "eval_n": 100}
    return {"steps": 300, "every": 100, "width": 16, "batch": 64, "eval_n": 500}


def digits_overrides(fast: bool, variant: str = "resize") -> list[str]:
    s = digits_settings(fast)
    return ["data.name=digits8", f"model.g_width={s['width']}", f"model.d_width={s['width']}",
            f"train.batch_size={s['batch']}", "train.ema=0", "train.progress=false"] + DIGIT_VARIANTS[variant]


def trained_digits(ctx: Context, variant: str = "resize") -> TrainedDigits:
    """A small DCGAN (32 px, the `dcgan-paper` preset at a small width) trained on scikit-learn's digits, FID measured
    in the shipped MNIST classifier's features every few steps. Cached per (variant, fast, seed) in-process, so
    `explain all` trains each variant once."""
    from ganforge.metrics.sampled import quick_metrics
    from ganforge.sample import make_sampler

    key = (variant, ctx.fast, ctx.seed)
    if key in _DIGITS_CACHE:
        return _DIGITS_CACHE[key]
    s = digits_settings(ctx.fast)
    cfg = resolve(load_config("dcgan-paper", digits_overrides(ctx.fast, variant) + [f"seed={ctx.seed}"]))
    gan.validate(cfg)
    seed_everything(cfg.seed)
    recipe = gan.build(cfg, torch.device("cpu"))
    replaced = _surgery(variant, recipe.models)
    if replaced and variant == "maxpool-in-D":  # new parameters: a fresh optimiser that sees them
        recipe.optimizers["D"] = make_optimizer(cfg, recipe.models["D"].parameters(), cfg.optim.lr_d)
    model = make_sampler(cfg, recipe.models, recipe.extra_state)
    history: list[dict[str, float]] = []
    logs: dict[str, list[float]] = {}
    for i in range(s["steps"]):
        for k, v in step(recipe, i, log_grads=True).items():
            logs.setdefault(k, []).append(v)
        if (i + 1) % s["every"] == 0:
            fid = quick_metrics(model, s["eval_n"], seed=ctx.seed + i)["Metric/fid"]
            history.append({"step": i + 1, "fid": fid, **{k: float(np.mean(v)) for k, v in logs.items()}})
            logs = {}
    out = TrainedDigits(cfg, recipe, history, replaced)
    _DIGITS_CACHE[key] = out
    return out
