"""Inference: load a run folder and generate, score, evaluate and draw. The only way in to a trained model.

    import ganforge
    run = ganforge.load_run("runs/ring8")    # 2-D run: run.sample(1000) -> (1000, 2) float32
    run = ganforge.load_run("runs/mnist")    # image run: run.sample(64) -> (64, H, W, C) uint8
    run.evaluate()                            # model vs the real data's own floor; writes eval.json
    run.plot(); run.curves()                  # pictures for a notebook

The CLI (``ganforge sample`` / ``eval`` / ``interpolate``), the report and the training
loop's pictures all go through :class:`~ganforge.sample.toy.ToyModel` (2-D points) or
:class:`~ganforge.sample.images.ImageModel` (images). A model is rebuilt from the
checkpoint's config alone; no training code or pickled objects are needed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from ganforge import checkpoint
from ganforge.config import Config, from_dict, is_image, is_translation
from ganforge.errors import CheckpointError
from ganforge.sample.images import ImageModel
from ganforge.sample.style import StyleModel
from ganforge.sample.toy import ToyModel, eval_mode
from ganforge.sample.translation import TranslationModel

__all__ = ["Run", "ToyRun", "ImageRun", "StyleRun", "TranslationRun", "ToyModel", "ImageModel", "StyleModel",
           "TranslationModel", "load_run",
           "make_model", "eval_mode", "write_run_report"]


def make_model(cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
               device: torch.device | str = "cpu") -> ToyModel | ImageModel | TranslationModel:
    """The inference wrapper that fits a config: :class:`TranslationModel` for pix2pix / cyclegan,
    :class:`StyleModel` for StyleGAN runs, :class:`ImageModel` for other image runs, else :class:`ToyModel`."""
    if is_translation(cfg):
        return TranslationModel(cfg, models, extra_state, device)
    cls = (StyleModel if cfg.recipe == "stylegan" else ImageModel) if is_image(cfg) else ToyModel
    return cls(cfg, models, extra_state, device)


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
    """A run folder loaded for inference: its model at the newest checkpoint, config and history.

    ``load_run`` returns a :class:`ToyRun` or an :class:`ImageRun`; both are ``Run``s.
    """

    run_dir: Path
    step: int
    train_seconds: float
    history: list[dict[str, float]]
    config: Config

    def _load(self, run_dir: str | Path, device: str | torch.device) -> tuple[Config, dict, dict]:
        from ganforge.loop import read_run_config, recipe_module

        self.run_dir = Path(run_dir).expanduser()
        cfg = read_run_config(self.run_dir)
        state = checkpoint.load_latest(self.run_dir, map_location=device)  # the one before if the newest is bad
        if state.get("recipe") != cfg.recipe:
            raise CheckpointError(f"{self.run_dir}: checkpoint recipe {state.get('recipe')!r} does not match "
                                  f"config recipe {cfg.recipe!r}")
        ckpt_cfg = from_dict(state["config"])
        models = recipe_module(ckpt_cfg).build_models(ckpt_cfg)
        try:
            for k, m in models.items():
                m.load_state_dict(state["models"][k])
                m.to(device)
        except (KeyError, RuntimeError) as e:
            raise CheckpointError(f"{self.run_dir}: checkpoint does not fit its config ({str(e)[:200]})") from None
        self.step = int(state["step"])
        self.train_seconds = float(state.get("elapsed", 0.0))  # wall time of the training loop, all sessions
        self.history = list(state.get("history", []))
        return ckpt_cfg, models, state["extra"]

    def __repr__(self) -> str:
        c = self.config
        return f"{type(self).__name__}({str(self.run_dir)!r}, step={self.step}, loss={c.loss!r}, data={c.data.name!r})"

    def curves(self, path: str | Path | None = None) -> Figure:
        """Loss, gradient and metric curves over training."""
        from ganforge.viz import plot_curves

        return plot_curves(self.history, path=path, title=str(self.run_dir.name))

    def evaluate(self, n: int | None = None, seed: int = 0, write: bool = True, **kwargs: Any) -> dict[str, Any]:
        """Evaluate against real data (model vs real floor) and, by default, write ``eval.json``."""
        result = super().evaluate(n, seed, **kwargs)  # type: ignore[misc]
        result["provenance"].update({"step": self.step, "run": str(self.run_dir)})
        if write:
            (self.run_dir / "eval.json").write_text(json.dumps(_strict(result), indent=2) + "\n")
        return result

    def report_pictures(self) -> list[Path]:
        """Pictures for the report beside the curves (newest sample picture; models add their own)."""
        pictures = sorted((self.run_dir / "samples").glob("step_*.png"))
        return [pictures[-1]] if pictures else []

    def report_commands(self) -> list[str]:
        return [f"ganforge resume {self.run_dir} --set train.steps={self.step * 2}",
                f"ganforge eval {self.run_dir}"]

    def report(self, eval_result: dict[str, Any] | None = None) -> Path:
        """Write ``report.html``: latest samples, curves, the evaluation table, the config."""
        from ganforge.config import to_dict
        from ganforge.viz import write_report

        self.curves(self.run_dir / "curves.png")
        images = self.report_pictures() + [self.run_dir / "curves.png"]
        if eval_result is None and (self.run_dir / "eval.json").is_file():
            eval_result = json.loads((self.run_dir / "eval.json").read_text())
        return write_report(self.run_dir, title=f"ganforge run {self.run_dir.name}", config=to_dict(self.config),
                            history=self.history, eval_result=eval_result, images=images,
                            commands=self.report_commands())


class ToyRun(Run, ToyModel):
    """A 2-D run folder: :class:`ToyModel` plus config, history, curves, report."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        cfg, models, extra = self._load(run_dir, device)
        ToyModel.__init__(self, cfg, models, extra, device)

    def report_commands(self) -> list[str]:
        return super().report_commands() + [f"ganforge sample {self.run_dir} --n 2500 --out samples.npy"]


class ImageRun(Run, ImageModel):
    """An image run folder: :class:`ImageModel` plus config, history, curves, report."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        cfg, models, extra = self._load(run_dir, device)
        ImageModel.__init__(self, cfg, models, extra, device)

    def report_pictures(self) -> list[Path]:
        strip = self.run_dir / "interpolation.png"
        self.save_interpolation(strip, rows=6, steps=10, method="slerp")
        return super().report_pictures() + [strip]

    def report_commands(self) -> list[str]:
        cls = " --class 7" if self.num_classes else ""
        return super().report_commands() + [
            f"ganforge sample {self.run_dir} --n 64 --out grid.png{cls}",
            f"ganforge sample {self.run_dir} --n 10000 --out samples.npz",
            f"ganforge interpolate {self.run_dir} --steps 10 --method slerp --out strip.gif",
        ]


class TranslationRun(Run, TranslationModel):
    """A translation run folder (pix2pix, cyclegan): :class:`TranslationModel` plus config, history, report."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        cfg, models, extra = self._load(run_dir, device)
        TranslationModel.__init__(self, cfg, models, extra, device)

    def report_pictures(self) -> list[Path]:
        trip = self.save_triptychs(self.run_dir / "triptychs.png", n=8)
        return super().report_pictures() + [trip]

    def report_commands(self) -> list[str]:
        back = f"ganforge translate {self.run_dir} --input FOLDER --out translated_BtoA --direction BtoA"
        return super().report_commands() + [
            f"ganforge translate {self.run_dir} --input FOLDER --out translated",
            f"ganforge sample {self.run_dir} --n 8 --out triptychs.png",
        ] + ([back] if self.cyclic else [])




class StyleRun(ImageRun, StyleModel):
    """A StyleGAN run folder: :class:`StyleModel` (truncation, mixing, noise, projection) plus the run helpers."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        cfg, models, extra = self._load(run_dir, device)
        StyleModel.__init__(self, cfg, models, extra, device)

    def report_pictures(self) -> list[Path]:
        mix = self.run_dir / "mix.png"
        self.save_mix(mix, rows=4, cols=4, layers="coarse")
        return super().report_pictures() + [mix]

    def report_commands(self) -> list[str]:
        d = self.run_dir
        return super().report_commands() + [
            f"ganforge sample {d} --n 64 --truncation 0.7 --out truncated.png",
            f"ganforge interpolate {d} --space w --steps 10 --out walk_w.png",
            f"ganforge mix {d} --rows 4 --cols 4 --layers fine --out mix_fine.png",
            f"ganforge noise {d} --seed 3 --n 8 --out noise.png",
            f"ganforge project {d} --image photo.png --space w+ --steps 300 --out projection",
        ]


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> ToyRun | ImageRun | StyleRun | TranslationRun:
    """Load a run folder (its newest checkpoint) for sampling, evaluation and plots."""
    from ganforge.loop import read_run_config

    cfg = read_run_config(Path(run_dir).expanduser())
    if is_translation(cfg):
        cls: type[Run] = TranslationRun
    else:
        cls = (StyleRun if cfg.recipe == "stylegan" else ImageRun) if is_image(cfg) else ToyRun
    return cls(run_dir, device)


def write_run_report(run_dir: str | Path) -> Path:
    """Evaluate a finished run (writing eval.json) and write its report.html."""
    run = load_run(run_dir)
    return run.report(run.evaluate())
