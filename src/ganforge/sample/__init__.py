"""Inference: load a run folder and generate, score, evaluate and draw. The only way in to a trained model.

    import ganforge
    run = ganforge.load_run("runs/ring8")    # 2-D run: run.sample(1000) -> (1000, 2) float32
    run.can("images"), run.capabilities      # what the run's sampler offers (CLI and lab ask this)
    run = ganforge.load_run("runs/mnist")    # image run: run.sample(64) -> (64, H, W, C) uint8
    run.evaluate()                            # model vs the real data's own floor; writes eval.json
    run.plot(); run.curves()                  # pictures for a notebook

The CLI (``ganforge sample`` / ``eval`` / ``interpolate``), the report and the training
loop's pictures all go through :class:`~ganforge.sample.toy.ToyModel` (2-D points) or
:class:`~ganforge.sample.images.ImageModel` (images), :class:`~ganforge.sample.style.StyleModel`
or :class:`~ganforge.sample.translation.TranslationModel`: a :class:`Run` holds one of these samplers. A
model is rebuilt from the checkpoint's config alone; no training code or pickled objects are needed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganforge import checkpoint, pretrained, runfolder
from ganforge.config import Config, to_dict
from ganforge.errors import CheckpointError
from ganforge.recipes import config_from_dict, recipe_module
from ganforge.sample.images import ImageModel
from ganforge.sample.style import StyleModel
from ganforge.sample.toy import ToyModel, eval_mode
from ganforge.sample.translation import TranslationModel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Run", "Sampler", "ToyModel", "ImageModel", "StyleModel", "TranslationModel", "load_run",
           "make_sampler", "eval_mode", "write_run_report"]

Sampler = ToyModel | ImageModel | StyleModel | TranslationModel


def make_sampler(cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu") -> Sampler:
    """The sampler that fits a config: :class:`TranslationModel` for pix2pix / cyclegan, :class:`StyleModel`
    for StyleGAN runs, :class:`ImageModel` for other image runs, :class:`ToyModel` for 2-D points."""
    if cfg.data_kind == "pairs":
        return TranslationModel(cfg, models, extra_state, device)
    if cfg.data_kind == "images":
        if cfg.recipe == "text2image":
            from ganforge.sample.text import TextImageModel

            return TextImageModel(cfg, models, extra_state, device)
        return (StyleModel if cfg.recipe == "stylegan" else ImageModel)(cfg, models, extra_state, device)
    return ToyModel(cfg, models, extra_state, device)


def _strict(obj: Any) -> Any:
    """Strict JSON: NaN / inf (e.g. reverse KL with no high-quality sample) become null."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


class Run:
    """A run folder loaded for inference: its config, history and a sampler over its newest checkpoint.

    The sampler (``run.sampler``: a :class:`ToyModel`, :class:`ImageModel`, :class:`StyleModel` or
    :class:`TranslationModel`, chosen by the run's recipe and data) does the generating and drawing;
    its methods are the run's too (``run.sample(64)`` is ``run.sampler.sample(64)``). What a run can do
    is ``run.capabilities`` (``run.can("translate")``), so callers never test types or attributes.
    """

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        self.read_only = pretrained.is_shipped(run_dir)  # a model shipped in the package: nothing written
        self.run_dir = pretrained.locate(run_dir)
        cfg = runfolder.read_config(self.run_dir)
        state = checkpoint.load_latest(self.run_dir, map_location=device)  # the one before if the newest is bad
        if state.get("recipe") != cfg.recipe:
            raise CheckpointError(f"{self.run_dir}: checkpoint recipe {state.get('recipe')!r} does not match "
                                  f"config recipe {cfg.recipe!r}")
        ckpt_cfg = config_from_dict(state["config"])  # a 0.1 checkpoint's flat config is translated
        models = recipe_module(ckpt_cfg).build_models(ckpt_cfg)
        if self.read_only:  # a pretrained checkpoint keeps only the networks sampling needs (pretrained.KEEP)
            models = {k: m for k, m in models.items() if k in state["models"]}
        try:
            for k, m in models.items():
                m.load_state_dict(state["models"][k])
                m.to(device)
        except (KeyError, RuntimeError) as e:
            raise CheckpointError(f"{self.run_dir}: checkpoint does not fit its config ({str(e)[:200]})") from None
        self.step = int(state["step"])
        self.train_seconds = float(state.get("elapsed", 0.0))  # wall time of the training loop, all sessions
        self.history: list[dict[str, float]] = list(state.get("history", []))
        self.sampler: Sampler = make_sampler(ckpt_cfg, models, state["extra"], device)

    @property
    def config(self) -> Config:
        return self.sampler.config

    @property
    def capabilities(self) -> frozenset[str]:
        """What this run can do: ``points``, ``images``, ``classes``, ``style``, ``translate``, ``features``."""
        return self.sampler.capabilities

    def can(self, what: str) -> bool:
        return what in self.capabilities

    def __getattr__(self, name: str) -> Any:
        if name == "sampler":  # not loaded (yet): no recursion
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __repr__(self) -> str:
        c = self.config
        return (f"Run({str(self.run_dir)!r}, step={self.step}, recipe={c.recipe!r}, loss={c.loss.name!r}, "
                f"data={c.data.name!r})")

    def curves(self, path: str | Path | None = None) -> Figure:
        """Loss, gradient and metric curves over training."""
        from ganforge.viz import plot_curves

        return plot_curves(self.history, path=path, title=str(self.run_dir.name))

    def evaluate(self, n: int | None = None, seed: int = 0, write: bool = True, **kwargs: Any) -> dict[str, Any]:
        """Evaluate against real data (model vs real floor) and, by default, write ``eval.json``:
        :func:`ganforge.metrics.sampled.evaluate` of the run's sampler. Image runs: ``features=...`` (the
        feature space) and ``resamples=...`` (bootstrap replicates of the 95% intervals, 0 = none)."""
        from ganforge.metrics.sampled import evaluate

        result = evaluate(self.sampler, n, seed, **kwargs)
        result["provenance"].update({"step": self.step, "run": str(self.run_dir)})
        if write and not self.read_only:
            checkpoint.atomic_write_text(self.run_dir / "eval.json", json.dumps(_strict(result), indent=2) + "\n")
        return result

    @property
    def dir(self) -> Path:
        """The run folder (``run.dir / "report.html"``)."""
        return self.run_dir

    def report_pictures(self) -> list[tuple[Path, str]]:
        """The report's pictures beside the curves, each with its caption: the sampler's own (an
        interpolation strip, triptychs, a mixing grid)."""
        return self.sampler.report_pictures(self.run_dir)

    def filmstrip(self) -> list[tuple[Path, str]]:
        """Every sample picture the training loop saved (``samples/step_*.png``), oldest first, as
        (path, "step N")."""
        out = []
        for p in sorted((self.run_dir / "samples").glob("step_*.png")):
            digits = p.stem.removeprefix("step_")
            out.append((p, f"step {int(digits)}" if digits.isdigit() else p.stem))
        return out

    def report_commands(self) -> list[str]:
        return [f"ganforge resume {self.run_dir} --set train.steps={self.step * 2}",
                f"ganforge eval {self.run_dir}"] + self.sampler.report_commands(self.run_dir)

    def report(self, eval_result: dict[str, Any] | None = None) -> Path:
        """Write ``report.html``: the headline result beside its floor, the sample grids over training, the
        curves, the evaluation table, the run's own config keys."""
        from ganforge.viz import write_report

        self.curves(self.run_dir / "curves.png")
        t = self.config.train
        curves = (self.run_dir / "curves.png",
                  "Training curves against the step: the losses, D's mean output on real and generated batches, "
                  "the gradient norms (log scale) and each in-training metric (Metric/..., on train.eval_n = "
                  f"{t.eval_n} samples every train.eval_every = {t.eval_every} steps).")
        if eval_result is None and (self.run_dir / "eval.json").is_file():
            eval_result = json.loads((self.run_dir / "eval.json").read_text())
        return write_report(self.run_dir, title=f"ganforge run {self.run_dir.name}", config=to_dict(self.config),
                            history=self.history, eval_result=eval_result,
                            images=self.report_pictures() + [curves], commands=self.report_commands(),
                            filmstrip=self.filmstrip(), filmstrip_caption=self.sampler.picture_caption(),
                            defaults=section_defaults(self.config))


def section_defaults(cfg: Config) -> dict[str, Any]:
    """Every key of ``cfg``'s sections at its plain default (the section class's own), as ``to_dict`` gives
    them: what the report's config dump leaves out."""
    out = {k: v for k, v in to_dict(Config()).items() if not isinstance(v, dict)}
    for name, value in vars(cfg).items():
        if dataclasses.is_dataclass(value):
            out[name] = to_dict(type(value)())
    return out


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load a run folder (its newest checkpoint) for sampling, evaluation and plots."""
    return Run(run_dir, device)


def write_run_report(run_dir: str | Path) -> Path:
    """Evaluate a finished run (writing eval.json) and write its report.html."""
    run = load_run(run_dir)
    return run.report(run.evaluate())
