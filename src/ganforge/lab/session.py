"""One live 2-D training session of the lab: settings, training steps and the frames the browser draws.

    session = LabSession()                         # ring8 with the preset's GAN, on the CPU
    session.apply({"loss": "ns", "lr_d": 5e-4})   # checked against SETTINGS; bad values raise LabError
    frame = session.advance(5)                     # 5 training iterations, then one binary frame
    session.save(Path("runs/my-ring"))             # a normal run folder: ganforge resume/sample/eval DIR

Nothing here re-implements training: the config comes from the distribution's preset
(``load_config``) plus the user's settings, checked by ``from_dict`` and ``resolve``;
models, optimisers and phases come from ``recipes.gan.build``; one iteration is
``loop.train_iteration``; pictures of D and metrics go through ``sample.make_sampler``
(:class:`~ganforge.sample.toy.ToyModel`), and "save" writes ``config.yaml`` and a
checkpoint with ``loop.write_config`` / ``loop.save_state``.

A frame is one binary message (little endian)::

    uint32 H | H bytes of JSON header | zero padding to a multiple of 4 | float32 arrays

The header's ``arrays`` lists ``[name, length]`` in payload order: ``real`` and ``fake``
(N x 2 points, data coordinates), ``arrows`` (N x 2: minus the gradient of the generator
loss with respect to each fake point, per sample, in data units), ``heat`` (R x R values of
D over ``bounds``, row i = y_i), ``manifold`` (G on a regular latent grid of
``manifold_shape``, x 2).
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge import losses
from ganforge.checkpoint import atomic_write_text
from ganforge.config import TOY_DISTRIBUTIONS, Config, to_dict
from ganforge.errors import GanforgeError
from ganforge.loop import save_state, seed_everything, train_iteration
from ganforge.losses import ADVERSARIAL as LOSSES
from ganforge.metrics.sampled import quick_metrics
from ganforge.recipes import config_from_dict, gan, load_config, resolve
from ganforge.runfolder import create as create_run_dir
from ganforge.runfolder import write_config
from ganforge.sample import eval_mode, make_sampler
from ganforge.viz import toy_bounds

N_VIEW = 512  # points of each kind in a frame
HEAT_RES = 48  # D's heat map: HEAT_RES x HEAT_RES values
MANIFOLD_1D = 128  # latent grid for z_dim = 1
MANIFOLD_2D = 21  # latent grid side for z_dim >= 2 (a 2-D slice: the other coordinates 0)
Z_RANGE = 2.5  # the latent grid spans [-Z_RANGE, Z_RANGE]
METRICS_SECONDS = 1.0  # wall seconds between metric evaluations while playing (and on Step / Reset): exact W1
# on 512 points costs ~0.1 s, so a fixed frame interval would tie the frame rate to it
HISTORY = 5000  # logged records kept (one per frame): bounded memory
MAX_POINTS = 2000  # user-drawn points
POINT_LIMIT = 100.0  # |coordinate| of a drawn point
DRAW = "draw"  # the distribution name of user-drawn points (trained as data.name=points)
OPEN_ENDED = 1_000_000  # train.steps of a live session: it runs until paused


class LabError(GanforgeError):
    """A setting or message the lab refuses; the message goes back to the browser."""


@dataclass(frozen=True)
class Setting:
    """One control: its config key, and its allowed values (``choices``) or bounds (``lo``..``hi``)."""

    key: str | None  # dotted config key; None = not a config field (handled by the session)
    kind: str  # "choice", "int" or "float"
    choices: tuple[str, ...] = ()
    lo: float = 0.0
    hi: float = 0.0
    live: bool = False  # changes without restarting training
    help: str = ""

    def check(self, name: str, value: Any) -> Any:
        if self.kind == "choice":
            if value not in self.choices:
                raise LabError(f"{name}={value!r} is not allowed; choose one of: {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise LabError(f"{name} must be a number, got {value!r}")
        if self.kind == "int":
            if value != int(value):
                raise LabError(f"{name} must be a whole number, got {value!r}")
            value = int(value)
        if not self.lo <= value <= self.hi:
            raise LabError(f"{name} must be between {self.lo:g} and {self.hi:g}, got {value!r}")
        return float(value) if self.kind == "float" else value


#: Every control the page shows, with the bounds the server enforces. The bounds also cap each
#: session's memory: at most 6 x 512 x 512 weights per network and 1024 points per batch.
SETTINGS: dict[str, Setting] = {
    "distribution": Setting(None, "choice", tuple(d for d in TOY_DISTRIBUTIONS if d != "points") + (DRAW,),
                            help="the real data; 'draw' = the points drawn on the canvas"),
    "loss": Setting("loss.name", "choice", LOSSES, help="adversarial loss"),
    "d_steps": Setting("train.d_steps", "int", lo=1, hi=10, live=True, help="k: D steps per G step"),
    "lr_g": Setting("optim.lr_g", "float", lo=1e-6, hi=0.1, live=True, help="generator learning rate"),
    "lr_d": Setting("optim.lr_d", "float", lo=1e-6, hi=0.1, live=True, help="discriminator learning rate"),
    "optimizer": Setting("optim.name", "choice", ("adam", "rmsprop", "sgd"), help="optimiser for both"),
    "z_dim": Setting("model.z_dim", "int", lo=1, hi=16, help="noise size"),
    "g_width": Setting("model.g_width", "int", lo=2, hi=512, help="generator hidden width"),
    "g_depth": Setting("model.g_depth", "int", lo=1, hi=6, help="generator hidden layers"),
    "d_width": Setting("model.d_width", "int", lo=2, hi=512, help="discriminator hidden width"),
    "d_depth": Setting("model.d_depth", "int", lo=1, hi=6, help="discriminator hidden layers"),
    "remedy": Setting(None, "choice", ("none", "mbstd", "pack"),
                      help="mode-collapse remedy: minibatch-std (group 4) or PacGAN packing (2)"),
    "batch_size": Setting("train.batch_size", "int", lo=8, hi=1024, help="samples per batch (a multiple of 8)"),
    "seed": Setting("seed", "int", lo=0, hi=2**31 - 1, help="random seed of Reset"),
    "speed": Setting(None, "int", lo=1, hi=100, live=True, help="training iterations per frame"),
}


def check_settings(values: Any) -> dict[str, Any]:
    """Checked, typed copies of ``values``; a LabError names the first bad one."""
    if not isinstance(values, dict):
        raise LabError(f"settings must be an object of name: value, got {type(values).__name__}")
    out = {}
    for name, value in values.items():
        if name not in SETTINGS:
            raise LabError(f"unknown setting {name!r}; known: {', '.join(SETTINGS)}")
        out[name] = SETTINGS[name].check(name, value)
    if "batch_size" in out and out["batch_size"] % 8:
        raise LabError(f"batch_size must be a multiple of 8 (for packing and minibatch-std), got {out['batch_size']}")
    return out


def check_points(points: Any) -> np.ndarray:
    """User-drawn points as a (N, 2) float32 array, 2 <= N <= MAX_POINTS, finite and within POINT_LIMIT."""
    if not isinstance(points, list) or not 2 <= len(points) <= MAX_POINTS:
        n = len(points) if isinstance(points, list) else type(points).__name__
        raise LabError(f"points must be a list of 2 to {MAX_POINTS} [x, y] pairs, got {n}")
    for p in points:
        if (not isinstance(p, list) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
            raise LabError(f"each point must be [x, y] with two numbers, got {str(p)[:40]}")
    arr = np.asarray(points, dtype=np.float64)
    if not np.isfinite(arr).all() or np.abs(arr).max() > POINT_LIMIT:
        raise LabError(f"point coordinates must be finite and within +-{POINT_LIMIT:g}")
    return arr.astype(np.float32)


def schema() -> dict[str, Any]:
    """The controls for the page: kind, choices or bounds, whether they apply without a restart."""
    return {name: {"kind": s.kind, "choices": list(s.choices), "lo": s.lo, "hi": s.hi, "live": s.live,
                   "help": s.help} for name, s in SETTINGS.items()}


def encode_frame(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """One binary frame (see the module docstring)."""
    header = dict(header, arrays=[[k, int(v.size)] for k, v in arrays.items()])
    head = json.dumps(header, separators=(",", ":")).encode()
    pad = (-(4 + len(head))) % 4
    body = b"".join(np.ascontiguousarray(v, dtype="<f4").tobytes() for v in arrays.values())
    return struct.pack("<I", len(head)) + head + b" " * pad + body


def decode_frame(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The inverse of :func:`encode_frame` (tests and the benchmark)."""
    (h,) = struct.unpack_from("<I", data)
    header = json.loads(data[4:4 + h])
    offset = 4 + h + ((-(4 + h)) % 4)
    arrays = {}
    for name, n in header["arrays"]:
        arrays[name] = np.frombuffer(data, dtype="<f4", count=n, offset=offset)
        offset += 4 * n
    return header, arrays


class LabSession:
    """A live 2-D GAN: settings -> config -> recipe, stepped and drawn on request.

    Args:
        settings: initial values of :data:`SETTINGS` (the rest from the distribution's preset).
        device: where to train ("cpu" is the sensible choice for these small networks).
    """

    def __init__(self, settings: dict[str, Any] | None = None, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.tmp = Path(tempfile.mkdtemp(prefix="ganforge-lab-"))  # drawn points live here until close()
        self.points: np.ndarray | None = None
        self.values: dict[str, Any] = {"distribution": "ring8", "remedy": "mbstd", "speed": 5}
        self.values.update(check_settings(settings or {}))
        self.build()

    # ---------------------------------------------------------------- config and models

    def config(self, values: dict[str, Any]) -> Config:
        """The resolved config for ``values``: the distribution's preset, then each setting's key."""
        dist = values["distribution"]
        cfg = to_dict(load_config("points" if dist == DRAW else dist))
        if dist == DRAW:
            if self.points is None:
                raise LabError("draw some points on the canvas first (at least 2)")
            cfg["data"]["path"] = str(self.tmp / "points.npy")
        cfg["optim"]["decay"] = "none"  # a live session is open-ended: no schedule towards a last step
        cfg["train"].update(steps=OPEN_ENDED, ema=0.0, progress=False)
        remedy = values.get("remedy", "none")
        cfg["model"]["mbstd"] = 4 if remedy == "mbstd" else 0
        cfg["model"]["pack"] = 2 if remedy == "pack" else 1
        for name, value in values.items():
            key = SETTINGS[name].key
            if key is not None:
                *parents, leaf = key.split(".")
                node = cfg
                for p in parents:
                    node = node[p]
                node[leaf] = value
        return resolve(config_from_dict(cfg))  # types, bounds and cross-field rules: ConfigError names the value

    def build(self) -> None:
        """(Re)start training from step 0 with the current settings and seed."""
        cfg = self.config(self.values)
        seed_everything(cfg.seed)
        self.cfg = cfg
        self.recipe = gan.build(cfg, self.device)
        self.model = make_sampler(cfg, self.recipe.models, self.recipe.extra_state, self.device)
        self.step, self.frames, self.elapsed = 0, 0, 0.0
        self.accum: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.history: deque[dict[str, float]] = deque(maxlen=HISTORY)
        self.metrics: dict[str, float] = {}
        self.metrics_at = -math.inf
        self.diverged = ""
        g = torch.Generator().manual_seed(cfg.seed + 1)
        self.z_view = torch.randn(N_VIEW, cfg.model.z_dim, generator=g).to(self.device)  # fixed: points move
        self.real = self.model.real(N_VIEW, seed=cfg.seed + 2)  # (N, 2) data coordinates
        self.bounds = toy_bounds(self.model.real(2000, seed=cfg.seed + 3), margin=0.25)
        z_grid, self.manifold_shape = latent_grid(cfg.model.z_dim)
        self.z_grid = z_grid.to(self.device)

    def apply(self, values: Any) -> bool:
        """Change settings; returns True when training restarted (anything but the live settings changed).

        Every value is checked before anything changes: a bad one raises LabError and leaves the session as it was.
        """
        new = check_settings(values)
        merged = {**self.values, **new}
        cfg = self.config(merged)  # raises for a combination the config refuses (e.g. batch vs. pack)
        restart = any(k not in self.values or self.values[k] != v for k, v in new.items() if not SETTINGS[k].live)
        self.values = merged
        if restart:
            self.build()
            return True
        self.cfg = config_from_dict({**to_dict(self.cfg), "optim": to_dict(cfg.optim), "train": to_dict(cfg.train)})
        for phase in self.recipe.phases:
            if phase.module == "D":
                phase.repeats = cfg.train.d_steps
        for name, lr in (("G", cfg.optim.lr_g), ("D", cfg.optim.lr_d)):
            for group in self.recipe.optimizers[name].param_groups:
                group["lr"] = lr
        return False

    def set_points(self, points: Any) -> None:
        """Train on user-drawn points (data coordinates) from step 0."""
        arr = check_points(points)
        np.save(self.tmp / "points.npy", arr)
        self.points = arr
        self.values["distribution"] = DRAW
        self.build()

    def current(self) -> dict[str, Any]:
        """Every setting's value in force: the user's, else the distribution preset's (what the page shows)."""
        out = dict(self.values)
        for name, setting in SETTINGS.items():
            if name not in out and setting.key is not None:
                node: Any = self.cfg
                for part in setting.key.split("."):
                    node = getattr(node, part)
                out[name] = node
        return out

    @property
    def speed(self) -> int:
        return int(self.values["speed"])

    # ---------------------------------------------------------------- training and frames

    def advance(self, iterations: int, metrics: bool | None = None) -> bytes:
        """Run ``iterations`` training iterations, then draw a frame (with metrics every METRICS_SECONDS)."""
        t0 = time.perf_counter()
        for _ in range(iterations):
            train_iteration(self.recipe, self.step, self.accum, self.counts)
            self.step += 1
        self.elapsed += time.perf_counter() - t0
        return self.frame(metrics)

    def _losses(self) -> dict[str, float]:
        """Average logged values since the last frame: the one host sync per frame."""
        if not self.accum:
            return {}
        sums = torch.stack(list(self.accum.values())).tolist()
        out = {k: v / self.counts[k] for k, v in zip(self.accum, sums, strict=True)}
        self.accum.clear()
        self.counts.clear()
        return out

    def frame(self, metrics: bool | None = None) -> bytes:
        """The current state as one binary frame."""
        logs = self._losses()
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        if bad and not self.diverged:
            self.diverged = (f"training diverged at step {self.step}: {bad[0]} = {logs[bad[0]]}; lower the "
                             "learning rates and press Reset")
        if metrics is None:
            metrics = time.perf_counter() - self.metrics_at >= METRICS_SECONDS
        if metrics and not self.diverged:
            self.metrics = quick_metrics(self.model, N_VIEW, seed=self.cfg.seed)
            self.metrics_at = time.perf_counter()
        self.frames += 1
        if logs:
            self.history.append({"step": self.step, **logs, **(self.metrics if metrics else {})})
        fake, arrows = self._fake_and_arrows()
        heat = self._heat()
        manifold = self._to_data(self._generate(self.z_grid))
        header = {
            "step": self.step, "losses": {k: v for k, v in logs.items() if math.isfinite(v)},
            "metrics": self.metrics if metrics else None, "bounds": list(self.bounds), "heat_res": HEAT_RES,
            "heat_range": [float(heat.min()), float(heat.max())], "prob": self.cfg.loss.name in ("minimax", "ns"),
            "manifold_shape": list(self.manifold_shape), "grad_mean": float(np.linalg.norm(arrows, axis=1).mean()),
            "diverged": self.diverged,
        }
        return encode_frame(header, {"real": self.real, "fake": fake, "arrows": arrows, "heat": heat,
                                     "manifold": manifold})

    def _to_data(self, x: torch.Tensor) -> np.ndarray:
        return self.model.to_data(x).float().cpu().numpy()

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.recipe.models["G"]):
            return self.recipe.models["G"](z)  # (N, 2) training coordinates

    def _fake_and_arrows(self) -> tuple[np.ndarray, np.ndarray]:
        """Fake points and minus the gradient of the generator loss w.r.t. each of them (data units)."""
        fake = self._generate(self.z_view).requires_grad_(True)  # (N, 2)
        with torch.enable_grad():
            loss_G = losses.g_loss(self.cfg.loss.name, self.recipe.models["D"](fake))
            (grad,) = torch.autograd.grad(loss_G, fake)  # (N, 2); D's parameters get no gradient
        scale = float(self.recipe.extra_state["data_scale"])
        arrows = (-grad * (len(fake) / scale)).cpu().numpy()  # per-sample loss, in data coordinates
        return self._to_data(fake.detach()), arrows

    def _heat(self) -> np.ndarray:
        """D over a HEAT_RES^2 grid of ``bounds`` (D(x) for minimax/ns, the raw critic otherwise)."""
        xmin, xmax, ymin, ymax = self.bounds
        xs = np.linspace(xmin, xmax, HEAT_RES, dtype=np.float32)
        ys = np.linspace(ymin, ymax, HEAT_RES, dtype=np.float32)
        gx, gy = np.meshgrid(xs, ys)  # gx[i, j] = xs[j], gy[i, j] = ys[i]
        values = self.model.score(np.stack([gx.ravel(), gy.ravel()], 1))  # (R*R,)
        return np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)

    # ---------------------------------------------------------------- saving

    def save(self, run_dir: Path) -> Path:
        """Write a normal run folder: config.yaml, metrics.jsonl and a checkpoint at the current step.

        ``ganforge resume DIR --set train.steps=N``, ``ganforge sample DIR`` and ``ganforge eval DIR`` work
        on it. Drawn points are copied into the folder (``points.npy``) and the config points there.
        """
        run_dir = Path(run_dir)
        cfg = config_from_dict(to_dict(self.cfg))
        cfg.train.steps = max(1, self.step)  # resume with --set train.steps=N to train on
        cfg.train.progress = True
        new = create_run_dir(run_dir, command="lab save")  # refuses a non-empty folder; marked and locked
        try:
            if self.values["distribution"] == DRAW:
                shutil.copyfile(self.tmp / "points.npy", run_dir / "points.npy")
                cfg.data.path = str((run_dir / "points.npy").resolve())
            write_config(cfg, run_dir)
            history = list(self.history)
            atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            save_state(cfg, self.recipe, run_dir, self.step, history, self.accum, self.counts, self.elapsed)
        finally:
            new.close()
        return run_dir

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def latent_grid(z_dim: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """A regular grid in latent space: a line (z_dim 1) or a square in the first two coordinates (others 0)."""
    if z_dim == 1:
        return torch.linspace(-Z_RANGE, Z_RANGE, MANIFOLD_1D)[:, None], (MANIFOLD_1D,)  # (M, 1)
    t = torch.linspace(-Z_RANGE, Z_RANGE, MANIFOLD_2D)
    gu, gv = torch.meshgrid(t, t, indexing="ij")  # row i: u = t_i
    z = torch.zeros(MANIFOLD_2D * MANIFOLD_2D, z_dim)
    z[:, 0], z[:, 1] = gu.reshape(-1), gv.reshape(-1)
    return z, (MANIFOLD_2D, MANIFOLD_2D)  # (M*M, z_dim)
