"""Train and resume runs with everything a user sees: the training loop wired to the inference side.

    from ganforge.recipes import load_config
    from ganforge.runner import train, resume
    run_dir = train(load_config("ring8"), "runs/ring8")    # pictures, in-training metrics, eval.json, report.html
    resume(run_dir, ["train.steps=4000"])

:mod:`ganforge.loop` owns the mechanics and imports no inference code; this module hands it the
inference side's :class:`~ganforge.loop.Hooks`: a sampler over the live networks for pictures and
quick metrics, and the final evaluation and report. The CLI, the Python API and the lab call these.
"""

from __future__ import annotations

from pathlib import Path

from ganforge import loop, sample
from ganforge.config import Config
from ganforge.metrics.sampled import quick_metrics


def hooks() -> loop.Hooks:
    """Pictures from the run's sampler and its quick metrics (``metrics.sampled``) during training;
    ``eval.json`` and ``report.html`` at the end."""
    return loop.Hooks(observer=sample.make_sampler, metrics=quick_metrics, finish=sample.write_run_report)


def train(cfg: Config, run_dir: str | Path, *, device: str | None = None, overwrite: bool = False) -> Path:
    """Train a fresh run into ``run_dir`` (see :func:`ganforge.loop.train`); returns the folder."""
    return loop.train(cfg, run_dir, device=device, overwrite=overwrite, hooks=hooks())


def resume(run_dir: str | Path, overrides: list[str] | None = None, *, device: str | None = None) -> Path:
    """Continue a run from its newest checkpoint (see :func:`ganforge.loop.resume`); returns the folder."""
    return loop.resume(run_dir, overrides, device=device, hooks=hooks())
