"""Inference: load a run folder and generate, score, evaluate and draw. The only way in to a trained model.

    import ganforge
    run = ganforge.load_run("runs/ring8")
    x = run.sample(1000)          # (1000, 2) float32 in data coordinates
    scores = run.evaluate()        # model vs real floor: modes, hq, reverse KL, W1, KL, JSD, MMD
    fig = run.plot()               # real, generated, D's decision surface

The CLI (``ganforge sample`` / ``eval``), the report and the training loop's pictures all
go through :class:`TrainedModel`. A model is rebuilt from the checkpoint's config alone;
no training code or pickled objects are needed.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from ganforge import checkpoint
from ganforge.config import Config, from_dict
from ganforge.data.toy2d import ToyDistribution, make_distribution
from ganforge.errors import CheckpointError

_PROB_LOSSES = ("minimax", "ns")  # D(x) = sigmoid(logit) is a probability only for these


@contextlib.contextmanager
def _eval_mode(*modules: torch.nn.Module) -> Iterator[None]:
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, w in zip(modules, was, strict=True):
            m.train(w)


class TrainedModel:
    """A generator/discriminator pair with the data scaling it was trained with.

    Args:
        cfg: the run's resolved config.
        models: {"G": generator, "D": discriminator}.
        extra_state: {"data_mean": (2,), "data_scale": ()} from training.
        device: where the models live.
    """

    def __init__(self, cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu") -> None:
        self.config = cfg
        self.G, self.D = models["G"], models["D"]
        self.extra = extra_state
        self.device = torch.device(device)
        self._dist: ToyDistribution | None = None

    # ---------------------------------------------------------------- data

    @property
    def distribution(self) -> ToyDistribution:
        if self._dist is None:
            self._dist = make_distribution(self.config.data)
        return self._dist

    def real(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` real points drawn with ``seed``: (n, 2) float32."""
        return self.distribution.sample(n, torch.Generator().manual_seed(seed)).numpy()

    def _to_data(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.extra["data_scale"].to(x) + self.extra["data_mean"].to(x)

    def _from_data(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.extra["data_mean"].to(x)) / self.extra["data_scale"].to(x)

    # ---------------------------------------------------------------- inference

    def sample(self, n: int, seed: int = 0, batch: int = 65536) -> np.ndarray:
        """``n`` generated points, (n, 2) float32 in data coordinates; the same seed gives the same points."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        g = torch.Generator().manual_seed(seed)  # never the global RNG: sampling must not disturb training
        out = []
        with _eval_mode(self.G):
            for start in range(0, n, batch):
                z = torch.randn(min(batch, n - start), self.G.z_dim, generator=g).to(self.device)
                out.append(self._to_data(self.G(z)).float().cpu())
        return torch.cat(out).numpy()

    def score(self, points: np.ndarray) -> np.ndarray:
        """The discriminator on data-space points: D(x) in (0, 1) for minimax/ns, the raw critic otherwise.

        A packed D (PacGAN) sees each point as a pack of identical copies; with minibatch-std,
        neighbouring points share a group. Both make the surface an approximation of what D
        sees in training, where packs and groups hold different samples.
        """
        x = self._from_data(torch.as_tensor(np.asarray(points), dtype=torch.float32)).to(self.device)  # (N, 2)
        pack, group = self.D.pack, (self.D.mbstd.group if self.D.mbstd is not None else 1)
        n = x.shape[0]
        pad = (-n) % group
        if pad:
            x = torch.cat([x, x[-1:].expand(pad, 2)])
        with _eval_mode(self.D):
            logits = self.D(x.repeat_interleave(pack, 0))[:n]  # (N,)
        out = torch.sigmoid(logits) if self.config.loss in _PROB_LOSSES else logits
        return out.float().cpu().numpy()

    # ---------------------------------------------------------------- measurement

    def _mode_args(self) -> dict[str, Any]:
        d = self.distribution
        if d.has_modes:
            return {"centers": d.centers.numpy(), "std": d.std}
        return {"centers": None, "std": None}

    def quick_metrics(self, n: int, seed: int = 0) -> dict[str, float]:
        """The cheap metrics logged during training: modes, high-quality %, reverse KL, W1, KL, JSD."""
        from ganforge.metrics import histogram_divergences, mode_stats, wasserstein1

        fake, real = self.sample(n, seed=seed), self.real(n, seed=seed + 1)
        out: dict[str, float] = {}
        m = self._mode_args()
        if m["centers"] is not None:
            stats = mode_stats(fake, m["centers"], m["std"], self.config.eval.hq_threshold)
            out.update({f"Metric/{k}": float(v) for k, v in stats.items()})
        out["Metric/w1"] = wasserstein1(fake, real)
        hist = histogram_divergences(real, fake, bins=self.config.eval.bins)
        out.update({"Metric/kl": hist["kl"], "Metric/jsd": hist["jsd"]})
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def evaluate(self, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        """Full evaluation against a real sample, with the real-vs-real floor for each metric."""
        from ganforge.metrics import evaluate_toy

        e = self.config.eval
        return evaluate_toy(
            lambda k: self.sample(k, seed=seed + 7), self.real, n=n or e.n, hq_threshold=e.hq_threshold,
            bins=e.bins, mmd_n=e.mmd_n, permutations=e.permutations, seed=seed, **self._mode_args(),
        )

    # ---------------------------------------------------------------- pictures

    def plot(self, n: int = 1000, seed: int = 0, title: str = "", path: str | Path | None = None) -> Figure:
        """Real points, generated points and the discriminator's decision surface."""
        from ganforge.viz import decision_surface, plot_toy, toy_bounds

        real, fake = self.real(n, seed=seed + 1), self.sample(n, seed=seed)
        bounds = toy_bounds(real, fake)
        surface = decision_surface(self.score, bounds)
        label = "D(x)" if self.config.loss in _PROB_LOSSES else "critic"
        return plot_toy(real, fake, surface=surface, surface_label=label, title=title, path=path, bounds=bounds)

    def save_picture(self, path: str | Path, title: str = "") -> None:
        self.plot(title=title, path=path)


class Run(TrainedModel):
    """A run folder loaded for inference: its model at the newest checkpoint, config and history."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        from ganforge.loop import read_run_config, recipe_module

        self.run_dir = Path(run_dir).expanduser()
        cfg = read_run_config(self.run_dir)
        state = checkpoint.load(checkpoint.latest(self.run_dir), map_location=device)
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
        super().__init__(ckpt_cfg, models, state["extra"], device)
        self.step = int(state["step"])
        self.train_seconds = float(state.get("elapsed", 0.0))  # wall time of the training loop, all sessions
        self.history: list[dict[str, float]] = list(state.get("history", []))

    def __repr__(self) -> str:
        c = self.config
        return f"Run({str(self.run_dir)!r}, step={self.step}, loss={c.loss!r}, data={c.data.name!r})"

    def curves(self, path: str | Path | None = None) -> Figure:
        """Loss, gradient and metric curves over training."""
        from ganforge.viz import plot_curves

        return plot_curves(self.history, path=path, title=str(self.run_dir.name))

    def evaluate(self, n: int | None = None, seed: int = 0, write: bool = True) -> dict[str, Any]:
        """Evaluate and (by default) write ``eval.json`` into the run folder."""
        result = super().evaluate(n, seed)
        result["provenance"].update({"step": self.step, "run": str(self.run_dir)})
        if write:  # strict JSON: NaN (e.g. reverse KL with no high-quality sample) becomes null
            clean = {k: {m: (None if isinstance(v, float) and not math.isfinite(v) else v) for m, v in d.items()}
                     for k, d in result.items()}
            (self.run_dir / "eval.json").write_text(json.dumps(clean, indent=2) + "\n")
        return result

    def report(self, eval_result: dict[str, Any] | None = None) -> Path:
        """Write ``report.html``: latest samples, curves, the evaluation table, the config."""
        from ganforge.config import to_dict
        from ganforge.viz import write_report

        self.curves(self.run_dir / "curves.png")
        pictures = sorted((self.run_dir / "samples").glob("step_*.png"))
        images = ([pictures[-1]] if pictures else []) + [self.run_dir / "curves.png"]
        if eval_result is None and (self.run_dir / "eval.json").is_file():
            eval_result = json.loads((self.run_dir / "eval.json").read_text())
        commands = [f"ganforge resume {self.run_dir} --set train.steps={self.step * 2}",
                    f"ganforge sample {self.run_dir} --n 2500 --out samples.npy",
                    f"ganforge eval {self.run_dir}"]
        return write_report(self.run_dir, title=f"ganforge run {self.run_dir.name}", config=to_dict(self.config),
                            history=self.history, eval_result=eval_result, images=images, commands=commands)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Load a run folder (its newest checkpoint) for sampling, evaluation and plots."""
    return Run(run_dir, device)


def write_run_report(run_dir: str | Path) -> Path:
    """Evaluate a finished run (writing eval.json) and write its report.html."""
    run = load_run(run_dir)
    return run.report(run.evaluate())
