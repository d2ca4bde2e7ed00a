"""2-D toy distributions and user point sets.

Built-in: ``ring8`` (Gaussians on a circle), ``grid25`` (a square grid of Gaussians),
``spiral``, ``moons``, ``circles``, ``swissroll``; and ``points`` read from a user's
``.npy`` / ``.csv`` file. Mixture defaults follow PacGAN (Lin et al., 2018, Table 1):
ring8 = 8 equal modes at (cos 2*pi*i/8, sin 2*pi*i/8), i = 0..7, std 0.01;
grid25 = 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.

Usage::

    dist = make_distribution(cfg.data)
    x = dist.sample(256, generator)   # (256, 2) float32, data coordinates

All randomness goes through the ``torch.Generator`` passed in, so a run's data order
is part of its checkpoint.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganforge.config import ToyData as DataConfig
from ganforge.data.npfiles import check_file, load_npy, short
from ganforge.errors import DataError

#: user points must lie within +-POINT_LIMIT: training standardises them in float32, whose 24-bit mantissa
#: blurs detail far from 0 (and whose squares overflow near 1e19); shift or rescale data beyond this
POINT_LIMIT = 1e6
_LIMIT = f"{POINT_LIMIT:.0e}".replace("+0", "").replace("+", "")  # "1e6"


@dataclass
class ToyDistribution:
    """A 2-D distribution that can be sampled; ``centers``/``std`` are set for Gaussian mixtures."""

    name: str
    centers: torch.Tensor | None = None  # (M, 2) mixture means, equal weights
    std: float = 0.0
    points: torch.Tensor | None = None  # (N, 2) a finite set sampled with replacement
    noise: float = 0.0

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points, shape (n, 2), float32, in data coordinates."""
        g = generator
        if self.centers is not None:
            idx = torch.randint(len(self.centers), (n,), generator=g)
            return self.centers[idx] + self.std * torch.randn(n, 2, generator=g)
        if self.points is not None:
            idx = torch.randint(len(self.points), (n,), generator=g)
            return self.points[idx].clone()
        return _SHAPES[self.name](n, self.noise, g)

    @property
    def has_modes(self) -> bool:
        return self.centers is not None and self.std > 0


def ring(n_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """(n_modes, 2) centres at angles 2*pi*i/n_modes, i = 0..n_modes-1 (never linspace(0, 2pi, n))."""
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1).float()


def grid(size: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """(size*size, 2) centres on a square grid centred at the origin."""
    ticks = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def _spiral(n: int, noise: float, g: torch.Generator | None) -> torch.Tensor:
    t = torch.sqrt(torch.rand(n, generator=g)) * 3 * math.pi  # uniform along the arm length
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi)
    return x + noise * torch.randn(n, 2, generator=g)


def _moons(n: int, noise: float, g: torch.Generator | None) -> torch.Tensor:
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    return torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=g)


def _circles(n: int, noise: float, g: torch.Generator | None) -> torch.Tensor:
    t = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, 0.5)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1) + noise * torch.randn(n, 2, generator=g)


def _swissroll(n: int, noise: float, g: torch.Generator | None) -> torch.Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (4.5 * math.pi)
    return x + noise * torch.randn(n, 2, generator=g)


_SHAPES = {"spiral": _spiral, "moons": _moons, "circles": _circles, "swissroll": _swissroll}


def load_points(path: str | Path) -> torch.Tensor:
    """Read an (N, 2) point set from ``.npy`` or ``.csv`` (an optional header row is skipped).

    Refused with a DataError naming the file: a missing file or a folder, other shapes, non-real dtypes
    (bool, complex, strings, objects), fewer than 2 points, NaN / inf, and coordinates beyond ``POINT_LIMIT``."""
    p = Path(path).expanduser()
    check_file(p, "points file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(p, "points file")
    elif suffix in (".csv", ".txt"):
        arr = _read_csv(p)
    else:
        raise DataError(f"{p}: points must be a .npy or .csv file, got '{short(suffix or 'no suffix')}'")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(f"{p}: points must have shape (N, 2), got {short(tuple(arr.shape))}")
    if arr.dtype.kind not in "iuf":  # bool, complex, timedelta, strings
        raise DataError(f"{p}: points must be real numbers, got dtype {short(arr.dtype)}")
    if len(arr) < 2:
        raise DataError(f"{p}: need at least 2 points, got {len(arr)}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise DataError(
            f"{p}: {int(bad.sum())} point(s) are NaN or infinite (first at row {int(np.argmax(bad))}); "
            "remove them and try again"
        )
    far = (np.abs(arr.astype(np.float64)) > POINT_LIMIT).any(axis=1)
    if far.any():
        i = int(np.argmax(far))
        raise DataError(f"{p}: {int(far.sum())} point(s) lie outside |x| <= {_LIMIT} (first at row {i}: "
                        f"{short(f'{arr[i, 0]:g}, {arr[i, 1]:g}')}); shift or rescale the data")
    return torch.as_tensor(arr, dtype=torch.float32)


def _read_csv(p: Path) -> np.ndarray:
    rows = []
    lineno = 0
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Excel) is not data
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row or all(not c.strip() for c in row):
                    continue
                try:
                    rows.append([float(c) for c in row])
                except ValueError:
                    if lineno == 1 and not rows:
                        continue  # a header
                    raise DataError(f"{p}, line {lineno}: expected 2 numbers, got {short(','.join(row))!r}") from None
                if len(rows[-1]) != 2:
                    raise DataError(f"{p}, line {lineno}: expected 2 columns, got {len(rows[-1])}")
    except UnicodeDecodeError:
        raise DataError(f"{p} is not UTF-8 text (a byte near line {lineno + 1} is not UTF-8); save it as UTF-8 "
                        "CSV") from None
    except csv.Error as e:
        raise DataError(f"{p}, line {lineno + 1}: not a readable CSV line ({short(e)})") from None
    except OSError as e:
        raise DataError(f"cannot read points file {p}: {e.strerror or e}") from None
    if not rows:
        raise DataError(f"{p} holds no points")
    return np.asarray(rows, dtype=np.float64)


def make_distribution(cfg: DataConfig) -> ToyDistribution:
    """The distribution a data config describes (``cfg`` must be resolved: ``std`` set)."""
    std = float(cfg.std or 0.0)
    if cfg.name == "ring8":
        return ToyDistribution("ring8", centers=ring(cfg.n_modes, cfg.radius), std=std)
    if cfg.name == "grid25":
        return ToyDistribution("grid25", centers=grid(cfg.grid_size, cfg.spacing), std=std)
    if cfg.name == "points":
        return ToyDistribution("points", points=load_points(cfg.path or ""))
    if cfg.name in _SHAPES:
        return ToyDistribution(cfg.name, noise=cfg.noise)
    raise DataError(f"unknown 2-D distribution {cfg.name!r}")


def normaliser(dist: ToyDistribution, n: int = 20000, seed: int = 1234) -> tuple[torch.Tensor, float]:
    """(mean (2,), scale) so that (x - mean) / scale has unit average variance: the training coordinates."""
    x = dist.sample(n, torch.Generator().manual_seed(seed))
    mean = x.mean(0)
    scale = float(x.sub(mean).pow(2).sum(1).mean().div(2).sqrt())
    return mean, max(scale, 1e-6)
