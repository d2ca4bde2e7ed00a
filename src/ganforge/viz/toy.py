"""Pictures for 2-D toy GANs: decision surfaces, real vs generated scatter plots and training curves.

Usage::

    from ganforge.viz import decision_surface, plot_curves, plot_toy, toy_bounds

    bounds = toy_bounds(real, fake)
    surface = decision_surface(lambda p: critic(torch.from_numpy(p)).squeeze(1).numpy(), bounds)
    plot_toy(real, fake, surface=surface, bounds=bounds, title="step 1000", path="run/samples/01000.png")
    plot_curves(history, path="run/curves.png")

Everything draws on ``matplotlib.figure.Figure`` objects (Agg canvas), never pyplot's global state, so it
works headless, from threads and in notebooks (a returned Figure displays itself in Jupyter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_POINTS = 2000
DPI = 100
Surface = tuple[np.ndarray, np.ndarray, np.ndarray]  # (xs, ys, values) as returned by decision_surface


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=DPI)


def _subsample(points: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
    """At most ``limit`` rows, evenly spaced (deterministic)."""
    points = np.asarray(points).reshape(len(points), -1)
    if len(points) <= limit:
        return points
    return points[np.linspace(0, len(points) - 1, limit).round().astype(int)]


def decision_surface(d_fn: Callable[[np.ndarray], np.ndarray], bounds: tuple[float, float, float, float],
                     res: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate ``d_fn`` on a ``res`` x ``res`` grid over ``bounds = (xmin, xmax, ymin, ymax)``.

    ``d_fn`` takes (N, 2) float32 points and returns (N,) scores.
    Returns ``(xs (res,), ys (res,), values (res, res))`` with ``values[i, j]`` = score at ``(xs[j], ys[i])``.
    """
    xmin, xmax, ymin, ymax = bounds
    xs = np.linspace(xmin, xmax, res, dtype=np.float32)
    ys = np.linspace(ymin, ymax, res, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # gx[i, j] = xs[j], gy[i, j] = ys[i]
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    values = np.asarray(d_fn(pts), dtype=np.float64).reshape(res, res)
    return xs, ys, values


def toy_bounds(*point_sets: np.ndarray, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A square box ``(xmin, xmax, ymin, ymax)`` covering all point sets, padded by ``margin`` * span.

    Non-finite points are ignored; with no finite points the box is (-1, 1, -1, 1).
    """
    pts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in point_sets if np.size(p)]
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return (-1.0, 1.0, -1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2
    half = max(float((hi - lo).max()), 1e-6) * (0.5 + margin)
    (cx, cy) = center.tolist()
    return (cx - half, cx + half, cy - half, cy + half)


def plot_toy(real: np.ndarray, fake: np.ndarray, *, surface: Surface | None = None,
             surface_label: str = "D(x)", title: str = "", path: str | Path | None = None,
             bounds: tuple[float, float, float, float] | None = None) -> Figure:
    """One panel: optional surface heat map with colorbar, real points (grey) and generated points (red).

    At most ``MAX_POINTS`` points of each set are drawn (evenly spaced subsample). Saves a PNG when ``path``
    is given (parent folders are created). Returns the Figure.
    """
    real, fake = _subsample(np.asarray(real)), _subsample(np.asarray(fake))
    if bounds is None:
        bounds = toy_bounds(real, fake)
    fig = _new_figure((6.4 if surface is not None else 5.6, 5.4))
    ax = fig.add_subplot(1, 1, 1)
    if surface is not None:
        xs, ys, values = surface
        mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(values), cmap="viridis", shading="auto", alpha=0.85)
        fig.colorbar(mesh, ax=ax, label=surface_label)
    ax.scatter(real[:, 0], real[:, 1], s=4, c="#333333", alpha=0.6, label="real", linewidths=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=4, c="#e8452c", alpha=0.7, label="generated", linewidths=0)
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title or "real vs generated")
    ax.legend(loc="upper right", markerscale=3, framealpha=0.85)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _groups(history: list[dict[str, float]]) -> dict[str, list[str]]:
    """Ordered panels: Loss, D, Grad, one per Metric/* key, then any other prefix."""
    keys: list[str] = []
    for rec in history:
        keys += [k for k in rec if k != "step" and k not in keys]
    groups: dict[str, list[str]] = {}
    for key in keys:
        head = key.split("/", 1)[0] if "/" in key else "other"
        groups.setdefault(key if head == "Metric" else head, []).append(key)
    order = {"Loss": 0, "D": 1, "Grad": 2}
    return dict(sorted(groups.items(),
                       key=lambda kv: order.get(kv[0], 3 if kv[0].startswith("Metric/") else 4)))


def _finite(x: object) -> bool:
    try:
        return math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def plot_curves(history: list[dict[str, float]], *, path: str | Path | None = None,
                title: str = "") -> Figure:
    """Training curves: one subplot per key group (Loss, D, Grad on a log axis, each Metric/* alone, others).

    x is ``step`` (record index when missing); missing keys and non-finite values are skipped. An empty
    history gives a figure that says "no data yet". Saves a PNG when ``path`` is given. Returns the Figure.
    """
    groups = _groups(history)
    if not groups:
        fig = _new_figure((6, 3))
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        _save(fig, path)
        return fig
    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = _new_figure((4.2 * ncols, 3.2 * nrows))
    for n, (name, keys) in enumerate(groups.items()):
        ax = fig.add_subplot(nrows, ncols, n + 1)
        for key in keys:
            pts = [(rec.get("step", i), rec[key]) for i, rec in enumerate(history)
                   if key in rec and _finite(rec[key]) and _finite(rec.get("step", i))]
            if name == "Grad":
                pts = [(s, v) for s, v in pts if float(v) > 0]
            if pts:
                x, y = zip(*pts, strict=True)
                ax.plot(x, y, label=key.split("/", 1)[-1], lw=1.2, marker="." if len(pts) < 30 else None)
        ys = [float(v) for line in ax.lines for v in line.get_ydata()]
        wide = name.startswith("Metric/") and ys and min(ys) > 0 and max(ys) / min(ys) > 30  # e.g. FID 2500 -> 40
        if (name == "Grad" and ax.lines) or wide:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel("value" + (" (log)" if ax.get_yscale() == "log" else ""))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    return fig
