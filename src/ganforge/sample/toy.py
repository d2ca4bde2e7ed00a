"""Inference for 2-D runs: sample points, score them with D, draw (metrics: ``ganforge.metrics.sampled``).

    run = ganforge.load_run("runs/ring8")   # a ToyRun: ToyModel + run-folder helpers
    x = run.sample(1000)                     # (1000, 2) float32 in data coordinates
    scores = run.evaluate()                  # model vs real floor: modes, hq, reverse KL, W1, KL, JSD, MMD
    fig = run.plot()                         # real, generated, D's decision surface
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ganforge.config import Config
from ganforge.data.toy2d import ToyDistribution, make_distribution
from ganforge.sample.limits import check_memory, check_plot_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PROB_LOSSES = ("minimax", "ns")  # D(x) = sigmoid(logit) is a probability only for these


@contextlib.contextmanager
def eval_mode(*modules: torch.nn.Module) -> Iterator[None]:
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, w in zip(modules, was, strict=True):
            m.train(w)


class ToyModel:
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
        self.G, self.D = models.get("G_ema", models["G"]), models["D"]  # sampling uses the moving average
        self.extra = extra_state
        self.device = torch.device(device)
        self._dist: ToyDistribution | None = None

    capabilities = frozenset({"points"})  # sample .npy/.csv, plot real vs generated with D's surface

    def report_pictures(self, run_dir: Path) -> list[tuple[Path, str]]:
        return []

    def picture_caption(self) -> str:
        """What the training loop's picture (``save_picture``) shows, in words."""
        surface = "D(x), its probability that a point is real" if self.config.loss.name in _PROB_LOSSES else \
            "the critic's value (higher: judged more real)"
        return ("1,000 real and 1,000 generated points (the same noise at every step), over the discriminator's "
                f"output, shaded as its colour bar shows: {surface}.")

    def report_commands(self, run_dir: Path) -> list[str]:
        return [f"ganforge sample {run_dir} --n 2500 --out samples.npy"]

    # ---------------------------------------------------------------- data

    @property
    def distribution(self) -> ToyDistribution:
        if self._dist is None:
            self._dist = make_distribution(self.config.data)
        return self._dist

    def real(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` real points drawn with ``seed``: (n, 2) float32."""
        return self.distribution.sample(n, torch.Generator().manual_seed(seed)).numpy()

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Training coordinates (N, 2) -> data coordinates."""
        return x * self.extra["data_scale"].to(x) + self.extra["data_mean"].to(x)

    def from_data(self, x: torch.Tensor) -> torch.Tensor:
        """Data coordinates (N, 2) -> the standardised coordinates G and D work in."""
        return (x - self.extra["data_mean"].to(x)) / self.extra["data_scale"].to(x)

    # ---------------------------------------------------------------- inference

    def sample(self, n: int, seed: int = 0, batch: int = 65536) -> np.ndarray:
        """``n`` generated points, (n, 2) float32 in data coordinates; the same seed gives the same points."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        check_memory(n * 2 * 4 * 3, f"{n:,} points", "sample fewer at a time (different seeds)")
        g = torch.Generator().manual_seed(seed)  # never the global RNG: sampling must not disturb training
        out = []
        with eval_mode(self.G):
            for start in range(0, n, batch):
                z = self.G.noise(min(batch, n - start), generator=g).to(self.device)  # the run's noise distribution
                out.append(self.to_data(self.G(z)).float().cpu())
        return torch.cat(out).numpy()

    def score(self, points: np.ndarray) -> np.ndarray:
        """The discriminator on data-space points: D(x) in (0, 1) for minimax/ns, the raw critic otherwise.

        A packed D (PacGAN) sees each point as a pack of identical copies; with minibatch-std,
        neighbouring points share a group. Both make the surface an approximation of what D
        sees in training, where packs and groups hold different samples.
        """
        x = self.from_data(torch.as_tensor(np.asarray(points), dtype=torch.float32)).to(self.device)  # (N, 2)
        pack, group = self.D.pack, (self.D.mbstd.group if self.D.mbstd is not None else 1)
        n = x.shape[0]
        pad = (-n) % group
        if pad:
            x = torch.cat([x, x[-1:].expand(pad, 2)])
        with eval_mode(self.D):
            logits = self.D(x.repeat_interleave(pack, 0))[:n]  # (N,)
        out = torch.sigmoid(logits) if self.config.loss.name in _PROB_LOSSES else logits
        return out.float().cpu().numpy()

    # ---------------------------------------------------------------- measurement

    # ---------------------------------------------------------------- pictures

    def plot(self, n: int = 1000, seed: int = 0, title: str = "", path: str | Path | None = None) -> Figure:
        """Real points, generated points and the discriminator's decision surface."""
        from ganforge.viz import decision_surface, plot_toy, toy_bounds

        check_plot_points(n, "save more points as an array (.npy) instead")
        real, fake = self.real(n, seed=seed + 1), self.sample(n, seed=seed)
        bounds = toy_bounds(real, fake)
        surface = decision_surface(self.score, bounds)
        label = "D(x)" if self.config.loss.name in _PROB_LOSSES else "critic"
        return plot_toy(real, fake, surface=surface, surface_label=label, title=title, path=path, bounds=bounds)

    def save_picture(self, path: str | Path, title: str = "") -> None:
        self.plot(title=title, path=path)


