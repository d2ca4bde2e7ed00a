"""Inference for image runs: generate, grid, interpolate, feature networks (scores: ``ganforge.metrics.sampled``).

    run = ganforge.load_run("runs/mnist")          # an ImageRun: ImageModel + run-folder helpers
    x = run.sample(64)                              # (64, H, W, C) uint8
    x = run.sample(64, labels=7)                    # a conditional run: 64 sevens
    run.save_grid("grid.png", n=64)                 # or one row per class for a conditional run
    run.save_interpolation("strip.gif", steps=10)   # slerp between latent pairs, animated
    run.evaluate()                                  # FID, KID, precision, recall vs the held-out floor

Sampling uses ``G_ema`` when the run kept a moving average, in eval mode (batch norm
uses its running statistics), with its own ``torch.Generator``: it never disturbs the
training RNG, and the same seed gives the same images.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.latent import interpolate, truncate
from ganforge.metrics.sampled import features_for
from ganforge.pixels import to_signed, to_uint8
from ganforge.recipes import recipe_module
from ganforge.sample.limits import check_memory, check_picture
from ganforge.sample.toy import eval_mode

if TYPE_CHECKING:
    from matplotlib.figure import Figure

class ImageModel:
    """An image generator/discriminator pair.

    Args:
        cfg: the run's resolved config.
        models: {"G", "D"} and optionally "G_ema" (then used for sampling).
        extra_state: unused for images (kept for the common interface).
        device: where the models live.

    ``truncation`` (a threshold psi > 0, or None = off) draws z from a normal truncated to [-psi, psi], BigGAN's
    truncation trick (Brock et al., 2019): smaller psi, less variety and higher fidelity.
    """

    truncation: float | None = None  # the default threshold for generate / sample / grids (None = off)

    def __init__(self, cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu") -> None:
        self.config = cfg
        self.G = models["G_ema"] if "G_ema" in models else models["G"]
        self.D = models.get("D")  # (a pretrained model ships without it)
        self.extra = extra_state
        self.device = torch.device(device)
        m = cfg.model  # a DCGAN section has InfoGAN codes and clusters; StyleGAN's and BigGAN's none
        clusters, codes = int(getattr(m, "clusters", 0)), int(getattr(m, "codes", 0))
        # classes a user asks for (the recipe says); a cluster-conditioned model is unconditional to its users
        self.num_classes = int(m.num_classes or 0) if recipe_module(cfg).class_conditional(cfg) else 0
        self.codes = codes or clusters  # G's own label, random unless asked for: InfoGAN code or cluster
        self.prior = extra_state.get("label_prior") if clusters else None  # clusters' frequencies in the data
        self.rows = self.num_classes or codes  # what a grid row or an interpolation row keeps fixed
        self._extractors: dict[str, Any] = {}

    @property
    def capabilities(self) -> frozenset[str]:
        """``images`` (grids, .npz, interpolation), ``features`` (FID & co. in a chosen feature space),
        ``truncation`` (the truncation trick) and ``classes`` for a class-conditional run."""
        return frozenset({"images", "features", "truncation"} | ({"classes"} if self.num_classes else set()))

    def report_pictures(self, run_dir: Path) -> list[tuple[Path, str]]:
        """The report's pictures beyond the sample grids, each with its caption: a latent interpolation strip."""
        strip, rows, steps, seed = run_dir / "interpolation.png", 6, 10, 0
        self.save_interpolation(strip, rows=rows, steps=steps, method="slerp", seed=seed)
        return [(strip, self.interpolation_caption(rows, steps, "slerp", seed))]

    def interpolation_caption(self, rows: int, steps: int, method: str, seed: int, space: str = "z") -> str:
        """What :meth:`save_interpolation`'s strip shows, in words."""
        how = ("slerp: along the great circle between the two, which keeps |z| where Gaussian noise has it"
               if method == "slerp" else "lerp: along the straight line between the two")
        kept = ""
        if self.rows:
            what = "class" if self.num_classes else "code"
            kept = f" Each row keeps one {what} (row i: {what} i mod {self.rows})."
        return (f"Latent interpolation: each of the {rows} rows walks in {steps} images from one random latent "
                f"{space} to another (the pairs drawn with seed {seed}), by {how}.{kept} Gradual changes show "
                "that G maps nearby latents to nearby images rather than memorising a few.")

    def picture_caption(self) -> str:
        """What the training loop's sample picture (``save_picture``) shows, in words."""
        if self.rows:
            what = "class" if self.num_classes else "code"
            return (f"Generated images, one row per {what} (8 each), from the same latent vectors (seed 1234) at "
                    "every step, so the film shows the same samples as training goes on.")
        return ("64 generated images from the same latent vectors (seed 1234) at every step, so the film shows "
                "the same samples as training goes on.")

    def report_commands(self, run_dir: Path) -> list[str]:
        cls = " --class 7" if self.num_classes else ""
        return [f"ganforge sample {run_dir} --n 64 --out grid.png{cls}",
                f"ganforge sample {run_dir} --n 10000 --out samples.npz",
                f"ganforge interpolate {run_dir} --steps 10 --method slerp --out strip.gif"]

    # ---------------------------------------------------------------- generation

    def labels_for(self, n: int, labels: int | list[int] | np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
        """(n,) class labels (conditional runs) or InfoGAN codes (None = random codes, drawn in ``generate``)."""
        if not (self.num_classes or self.codes):
            if labels is not None:
                raise GanforgeError("this run is not conditional (model.cond=none): it takes no class labels")
            return None
        if labels is None:
            return torch.arange(n) % self.num_classes if self.num_classes else None  # every class equally often
        y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if y.numel() == 1:
            y = y.expand(n)
        if y.numel() != n:
            raise GanforgeError(f"got {y.numel()} labels for {n} samples")
        k = self.num_classes or self.codes
        bad = y[(y < 0) | (y >= k)]
        if bad.numel():
            what = "class" if self.num_classes else "code" if self.prior is None else "cluster"
            plural = "classes" if what == "class" else what + "s"
            raise GanforgeError(f"{what} {int(bad[0])} is out of range: this run has {plural} 0..{k - 1}")
        return y

    def generate(self, n: int, seed: int = 0, labels: Any = None, batch: int = 500,
                 z: torch.Tensor | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` images, float32 (n, C, H, W) in [-1, 1] on the CPU. ``z`` (n, z_dim) overrides the noise;
        ``truncation`` psi redraws its entries beyond [-psi, psi] (a given z too, seeded by ``seed`` and z)."""
        y = self.labels_for(n, labels)
        z, g = self.latents(n, seed, z, truncation)
        if y is None and self.codes:  # the code's prior: uniform, or the clusters' frequencies
            y = torch.randint(self.codes, (n,), generator=g) if self.prior is None else \
                torch.multinomial(self.prior.float().cpu(), n, replacement=True, generator=g)
        return self.forward_G(z, y, batch)

    def latents(self, n: int, seed: int = 0, z: torch.Tensor | None = None, truncation: float | None = None
                ) -> tuple[torch.Tensor, torch.Generator]:
        """(z (n, z_dim), the generator seeded by ``seed`` that drew it, for any further draws): ``z`` when
        given, else N(0, I); ``truncation`` psi (or the model's default) redraws the entries beyond [-psi, psi]."""
        if n < 1:
            raise GanforgeError(f"n must be >= 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        psi = self.truncation if truncation is None else truncation
        if z is None:
            z = torch.randn(n, self.G.z_dim, generator=g)
        elif psi is not None:  # redraws of their own for each block of given z (evaluation streams z in blocks)
            g.manual_seed(seed * 1_000_003 + zlib.crc32(z.detach().cpu().float().numpy().tobytes()))
        if psi is not None:
            try:
                z = truncate(z, float(psi), g)
            except ValueError as e:
                raise GanforgeError(f"--truncation: {e}") from None
        return z, g

    def forward_G(self, z: torch.Tensor, cond: torch.Tensor | None, batch: int = 500) -> torch.Tensor:
        """G on ``z`` (and its condition: labels, or sentence embeddings) in blocks of ``batch``, eval mode:
        float32 (n, C, H, W) in [-1, 1] on the CPU."""
        out = []
        with eval_mode(self.G):
            for s in range(0, len(z), batch):
                zb = z[s:s + batch].to(self.device)
                x = self.G(zb) if cond is None else self.G(zb, cond[s:s + batch].to(self.device))  # (b, C, H, W)
                out.append(x.float().cpu())
        return torch.cat(out)

    def _check_sample(self, n: int) -> None:
        """Refuse ``n`` images that cannot fit in memory: float32 batches, joined, then uint8 (n, H, W, C)."""
        size, ch = int(self.config.data.size), int(self.config.data.channels)
        check_memory(n * size * size * ch * 10, f"{n:,} images of {size}x{size}x{ch}",
                     "sample fewer at a time (different seeds)")

    def _check_grid(self, n: int, what: str = "a grid") -> None:
        size = int(self.config.data.size)
        check_picture(n, size, size, what, "save more samples as an array (.npz) instead")

    def sample(self, n: int, seed: int = 0, labels: Any = None, truncation: float | None = None) -> np.ndarray:
        """``n`` images as uint8 (n, H, W, C), the layout image files and outside tools use."""
        self._check_sample(n)
        return to_uint8(self.generate(n, seed, labels, truncation=truncation)).permute(0, 2, 3, 1).numpy()

    def real(self, n: int | None = None, seed: int = 0, split: str = "train") -> torch.Tensor:
        """Real images, float32 (n, C, H, W) in [-1, 1]: a seeded random subset (all of them when n is None)."""
        from ganforge.data import image_data

        data = image_data(self.config.data, split)
        x = data.x
        if n is not None and n < len(x):
            idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
            x = x[idx]
        return to_signed(x)

    # ---------------------------------------------------------------- pictures

    def grid(self, n: int = 64, seed: int = 0, labels: Any = None, nrow: int | None = None,
             truncation: float | None = None) -> torch.Tensor:
        """A picture of samples, float (3 or 1, H, W) in [0, 1]. Conditional runs: one row per class
        (InfoGAN runs: one row per code value)."""
        from ganforge.pixels import make_grid

        if self.rows and labels is None:
            cols = max(1, n // self.rows)
            self._check_grid(self.rows * cols)
            labels = torch.arange(self.rows).repeat_interleave(cols)  # row k = class (or code) k
            n, nrow = len(labels), cols
        self._check_grid(n)
        x = self.generate(n, seed, labels, truncation=truncation)
        return make_grid((x + 1) / 2, nrow=nrow or int(np.ceil(np.sqrt(n))), padding=2, pad_value=1.0)

    def save_grid(self, path: str | Path, n: int = 64, seed: int = 0, labels: Any = None,
                  nrow: int | None = None, truncation: float | None = None) -> Path:
        from ganforge.pixels import save_image

        path = Path(path)
        grid = self.grid(n, seed, labels, nrow, truncation)  # refused sizes leave nothing behind
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        return path

    def save_picture(self, path: str | Path, title: str = "") -> None:
        """The training loop's picture: the same 64 latent vectors at every step, so progress is visible."""
        self.save_grid(path, n=64 if not self.rows else 8 * self.rows, seed=1234)

    def plot(self, n: int = 64, seed: int = 0, labels: Any = None, title: str = "",
             path: str | Path | None = None) -> Figure:
        """The sample grid as a matplotlib figure (for notebooks)."""
        from matplotlib.figure import Figure

        img = self.grid(n, seed, labels).permute(1, 2, 0).numpy()
        fig = Figure(figsize=(6, 6))
        ax = fig.add_subplot(1, 1, 1)
        ax.imshow(img.squeeze(), cmap="gray" if img.shape[2] == 1 else None, vmin=0, vmax=1)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig

    def interpolate(self, rows: int = 4, steps: int = 10, method: str | None = "slerp", seed: int = 0,
                    labels: Any = None) -> torch.Tensor:
        """Walks between random latent pairs: (rows, steps, C, H, W) in [-1, 1]. A row keeps one class."""
        method = method or "slerp"
        if rows < 1:
            raise GanforgeError(f"rows must be >= 1, got {rows}")
        try:
            g = torch.Generator().manual_seed(seed)
            ends = torch.randn(rows, 2, self.G.z_dim, generator=g)  # (rows, 2, z_dim)
            z = torch.cat([interpolate(e[0], e[1], steps, method) for e in ends])  # (rows * steps, z_dim)
        except ValueError as e:
            raise GanforgeError(str(e)) from None
        y = None
        if self.rows:
            row_labels = self.labels_for(rows, labels) if labels is not None else torch.arange(rows) % self.rows
            y = row_labels.repeat_interleave(steps)
        x = self.generate(rows * steps, labels=y, z=z)
        return x.reshape(rows, steps, *x.shape[1:])

    def save_interpolation(self, path: str | Path, rows: int = 4, steps: int = 10, method: str | None = "slerp",
                           seed: int = 0, labels: Any = None, frame_ms: int = 120, **walk: Any) -> Path:
        """A strip (.png: one row per pair) or an animation (.gif / .webp: the rows move together, there and back).
        ``walk``: further arguments of :meth:`interpolate` (a StyleGAN run's ``space``)."""
        from PIL import Image

        from ganforge.pixels import make_grid, save_image

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".png", ".gif", ".webp"):
            raise GanforgeError(f"interpolation output must end in .png, .gif or .webp, got {path.name[:60]!r}")
        self._check_grid(rows * steps, "a strip" if suffix == ".png" else "an animation")
        x = (self.interpolate(rows, steps, method, seed, labels, **walk) + 1) / 2  # (rows, steps, C, H, W) in [0, 1]
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            save_image(make_grid(x.flatten(0, 1), nrow=steps, padding=2, pad_value=1.0), path)
            return path
        frames = []
        for t in list(range(steps)) + list(range(steps - 2, 0, -1)):
            g = make_grid(x[:, t], nrow=rows, padding=2, pad_value=1.0)  # (C, H, W): the rows side by side
            arr = (g * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            frames.append(Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr))
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
        return path

    # ---------------------------------------------------------------- measurement

    def extractor(self, spec: str | None = None) -> Any:
        from ganforge.metrics.features import get_extractor

        spec = spec or features_for(self.config)
        if spec not in self._extractors:
            self._extractors[spec] = get_extractor(spec, self.device)
        return self._extractors[spec]
