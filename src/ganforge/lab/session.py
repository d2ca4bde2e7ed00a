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
``manifold_shape``, x 2). Every header has ``flow`` (what each box of the page's model graph
shows: the noise, the fakes' spread and how many lie outside ``bounds``, mean D on real and fake).

Step by step (Goodfellow et al., Algorithm 1, one iteration split into its sub-steps)::

    session.substep()                 # the next of SUBSTEPS: draw noise, generate, classify, D loss, D update
    session.substep("g_update")       # ... up to and including G's update (the iteration ends: step + 1)

The k rounds of ``noise .. d_update`` and then ``g_forward .. g_update`` do exactly what one
``train_iteration`` does: the sub-steps that only show (noise, generate, classify, losses,
gradient arrows) save the global RNG state before they draw the batch and the noise, and each
update restores it and runs the recipe's own phase (``D`` or ``G``: its step function, one
optimiser step of that network only), so the phase draws the same batch and noise the
sub-steps showed, and step-by-step training follows the same trajectory as Step.
A sub-step frame's header has ``substep`` (its name, label, box, round, the numbers it
computed) and extra arrays ``step_real``, ``step_fake``, ``step_arrows`` (the batch, data
coordinates) and ``step_z`` (the noise batch's first two coordinates).
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
from ganforge.loop import accumulate, save_state, seed_everything, train_iteration, update_phase
from ganforge.losses import ADVERSARIAL as LOSSES
from ganforge.metrics.sampled import quick_metrics
from ganforge.nets.layers import Z_DISTS
from ganforge.recipes import config_from_dict, gan, load_config, resolve
from ganforge.runfolder import create as create_run_dir
from ganforge.runfolder import write_config
from ganforge.sample import eval_mode, make_sampler
from ganforge.viz import toy_bounds

N_VIEW = 512  # points of each kind in a frame
HEAT_RES = 48  # D's heat map: HEAT_RES x HEAT_RES values
REAL_STRIDE = 4  # the graph's mean D(real) scores every REAL_STRIDE-th shown real point (frame cost)
MANIFOLD_1D = 128  # latent grid for z_dim = 1
MANIFOLD_2D = 21  # latent grid side for z_dim >= 2 (a 2-D slice: the other coordinates 0)
#: per noise distribution: the latent grid spans [-r, r] and the page's noise inset [-r', r'] (r, r')
Z_RANGES = {"gaussian": (2.5, 3.0), "uniform": (1.0, 1.2)}
METRICS_SECONDS = 1.0  # wall seconds between metric evaluations while playing (and on Step / Reset): exact W1
# on 512 points costs ~0.1 s, so a fixed frame interval would tie the frame rate to it
HISTORY = 5000  # logged records kept (one per frame): bounded memory
MAX_POINTS = 2000  # user-drawn points
POINT_LIMIT = 100.0  # |coordinate| of a drawn point
DRAW = "draw"  # the distribution name of user-drawn points (trained as data.name=points)
OPEN_ENDED = 1_000_000  # train.steps of a live session: it runs until paused
PROB_LOSSES = ("minimax", "ns")  # D(x) = sigmoid(logit) is a probability: a discriminator, not a critic

#: The sub-steps of one iteration (Goodfellow et al., Algorithm 1): name -> (graph box, label).
#: The D sub-steps run k = train.d_steps times, then the G sub-steps once.
D_SUBSTEPS = ("noise", "generate", "classify", "d_loss", "d_update")
G_SUBSTEPS = ("g_forward", "g_loss", "g_grad", "g_update")
SUBSTEPS: dict[str, tuple[str, str]] = {
    "noise": ("z", "draw noise z ~ p(z) and a real batch x ~ p_data"),
    "generate": ("G", "generate fakes G(z)"),
    "classify": ("D", "classify real and fake: D(x), D(G(z))"),
    "d_loss": ("loss", "D's loss on real and fake"),
    "d_update": ("D", "update D: one optimiser step of D only (G frozen)"),
    "g_forward": ("G", "G forward: new noise z, fakes G(z), scored by D"),
    "g_loss": ("loss", "G's loss on D(G(z))"),
    "g_grad": ("x", "gradient arrows: minus d loss_G / d x on each fake"),
    "g_update": ("G", "update G: one optimiser step of G only (D frozen)"),
}


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
    "z_dist": Setting("model.z_dist", "choice", Z_DISTS, help="noise distribution: Gaussian N(0, I) or uniform "
                      "on [-1, 1]"),
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
        G = self.recipe.models["G"]
        self.z_view = G.noise(N_VIEW, generator=g).to(self.device)  # fixed: the points move as G learns
        self.z_stats = {"dist": G.z_dist, "range": Z_RANGES[G.z_dist][1], "dim": int(cfg.model.z_dim),
                        "mean": float(self.z_view.mean()), "std": float(self.z_view.std())}
        self.real = self.model.real(N_VIEW, seed=cfg.seed + 2)  # (N, 2) data coordinates
        self.bounds = toy_bounds(self.model.real(2000, seed=cfg.seed + 3), margin=0.25)
        z_grid, self.manifold_shape = latent_grid(cfg.model.z_dim, cfg.model.z_dist)
        self.z_grid = z_grid.to(self.device)
        self.cycle = 0  # sub-steps done in the current iteration (0: at an iteration's start)
        self.pending: dict[str, Any] = {}  # what the last sub-steps computed (tensors), for the frame
        self.step_info: dict[str, float] = {}  # the numbers this iteration's sub-steps computed

    def apply(self, values: Any) -> bool:
        """Change settings; returns True when training restarted (anything but the live settings changed).

        Every value is checked before anything changes: a bad one raises LabError and leaves the session as it was.
        """
        new = check_settings(values)
        merged = {**self.values, **new}
        cfg = self.config(merged)  # raises for a combination the config refuses (e.g. batch vs. pack)
        restart = any(k not in self.values or self.values[k] != v for k, v in new.items() if not SETTINGS[k].live)
        if not restart and self.cycle:
            self.finish_cycle()  # a half-done iteration ends with the old k before k or a rate changes
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
        if self.cycle:  # a half-done step-by-step iteration is finished first: it counts as one of them
            self.finish_cycle()
            iterations -= 1
        for _ in range(iterations):
            train_iteration(self.recipe, self.step, self.accum, self.counts)
            self.step += 1
        self.pending.clear()  # the frame shows training, not a sub-step
        self.elapsed += time.perf_counter() - t0
        return self.frame(metrics)

    # ---------------------------------------------------------------- step by step (Algorithm 1)

    def substeps(self) -> list[tuple[str, int]]:
        """The current iteration's sub-steps as (name, round): k rounds of D_SUBSTEPS, then G_SUBSTEPS."""
        k = int(self.cfg.train.d_steps)
        return [(n, r) for r in range(k) for n in D_SUBSTEPS] + [(n, 0) for n in G_SUBSTEPS]

    def next_substep(self) -> tuple[str, int]:
        """(name, round) of the sub-step the next :meth:`substep` call runs."""
        return self.substeps()[self.cycle]

    def finish_cycle(self) -> None:
        """Run the rest of a half-done step-by-step iteration (nothing at an iteration's start)."""
        while self.cycle:
            self._substep()

    def substep(self, name: str | None = None) -> bytes:
        """Run the next sub-step of the iteration (or every one up to and including the next ``name``); a frame.

        The frame's header ``substep`` says what ran; LabError for an unknown name.
        """
        if name is not None and name not in SUBSTEPS:
            raise LabError(f"unknown sub-step {str(name)[:40]!r}; known: {', '.join(SUBSTEPS)}")
        if self.diverged:
            raise LabError(self.diverged)
        t0 = time.perf_counter()
        for _ in range(len(self.substeps())):
            done = self._substep()
            if name is None or done == name:
                break
        self.elapsed += time.perf_counter() - t0
        return self.frame(self.cycle == 0)

    def _rng(self) -> Any:
        return torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None

    def _save_rng(self) -> None:
        self.pending["rng"] = (torch.get_rng_state(), self._rng())

    def _restore_rng(self) -> None:
        cpu, dev = self.pending["rng"]
        torch.set_rng_state(cpu)
        if dev is not None:
            torch.cuda.set_rng_state(dev, self.device)

    def _phase(self, name: str) -> Any:
        return next(p for p in self.recipe.phases if p.name == name)

    def _run_phase_once(self, phase: Any) -> dict[str, float]:
        """One update of ``phase`` exactly as ``loop.train_iteration`` runs it (one of its repeats, with
        the EMA); its logged values also go into the frame's averages."""
        logs = update_phase(self.recipe, phase, self.step)
        accumulate(self.accum, self.counts, logs)
        return {k: float(v) for k, v in logs.items()}

    def _d_of(self, logits: torch.Tensor) -> torch.Tensor:
        """D's output as the page shows it: a probability for minimax/ns, the raw score otherwise."""
        return torch.sigmoid(logits) if self.cfg.loss.name in PROB_LOSSES else logits

    def _substep(self) -> str:
        """Run one sub-step; returns its name. The display sub-steps compute without touching any parameter."""
        name, r = self.next_substep()
        p, kind = self.pending, self.cfg.loss.name
        B = self.cfg.train.batch_size
        G, D = self.recipe.models["G"], self.recipe.models["D"]
        info: dict[str, float] = {}
        if name in ("noise", "g_forward"):
            if self.cycle == 0:
                self.step_info = {}  # the numbers of this iteration's sub-steps so far
            p.clear()
            self._save_rng()  # the update replays from here: the phase draws this batch and this noise
            batch = self.recipe.next_batch()  # what train_iteration draws before the phase's step
            z = G.noise(B, device=self.device)  # the phase's noise (gan.d_step / g_step draw it so)
            self._restore_rng()  # nothing else draws from this state before the update replays it
            p["z"] = z
            if name == "noise":
                p["real"] = batch["x"]
            else:
                with torch.no_grad():
                    p["fake"] = G(z)  # (B, 2) training coordinates
                    p["logits_fake"] = D(p["fake"])
                info["D_fake"] = float(self._d_of(p["logits_fake"]).mean())
            info["z_mean"], info["z_std"] = float(z.mean()), float(z.std())
        elif name == "generate":
            with torch.no_grad():
                p["fake"] = G(p["z"])  # detached, as in D's phase: no graph into G
        elif name == "classify":
            with torch.no_grad():
                logits = D(torch.cat([p["real"], p["fake"]]))  # one pass over (2B, 2), as gan.d_step does
            p["logits_real"], p["logits_fake"] = logits.chunk(2)
            info["D_real"] = float(self._d_of(p["logits_real"]).mean())
            info["D_fake"] = float(self._d_of(p["logits_fake"]).mean())
        elif name == "d_loss":
            info["loss_D"] = float(losses.d_loss(kind, p["logits_real"], p["logits_fake"]))
        elif name == "d_update":
            self._restore_rng()
            logs = self._run_phase_once(self._phase("D"))
            info["loss_D_update"] = logs.get("Loss/D", math.nan)
            if r == self.cfg.train.d_steps - 1:  # other D phases due now (lazy R1), after the k updates
                for phase in self.recipe.phases:
                    if phase.name not in ("D", "G") and self.step % phase.interval == 0:
                        self._run_phase_once(phase)
        elif name == "g_loss":
            info["loss_G"] = float(losses.g_loss(kind, p["logits_fake"]))
        elif name == "g_grad":
            fake = p["fake"].detach().requires_grad_(True)  # (B, 2)
            with torch.enable_grad():
                (grad,) = torch.autograd.grad(losses.g_loss(kind, D(fake)), fake)  # D's parameters get none
            scale = float(self.recipe.extra_state["data_scale"])
            p["arrows"] = -grad * (len(fake) / scale)  # per sample, data coordinates (as the frame's arrows)
            info["grad_mean"] = float(p["arrows"].norm(dim=1).mean())
        elif name == "g_update":
            self._restore_rng()
            logs = self._run_phase_once(self._phase("G"))
            info["loss_G_update"] = logs.get("Loss/G", math.nan)
            for sched in self.recipe.schedulers.values():
                sched.step()
            self.step += 1
        self.step_info.update(info)
        p["last"], p["round"] = name, r
        self.cycle = (self.cycle + 1) % len(self.substeps())
        return name

    def _substep_header(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The ``substep`` header entry and extra arrays of the last sub-step (empty when none ran)."""
        p = self.pending
        if "last" not in p:
            return {}, {}
        name = p["last"]
        box, label = SUBSTEPS[name]
        nxt, nxt_round = self.next_substep()
        header = {"name": name, "label": label, "box": box, "round": p["round"], "k": int(self.cfg.train.d_steps),
                  "next": nxt, "next_round": nxt_round, "cycle": self.cycle, "length": len(self.substeps()),
                  "info": {k: v for k, v in self.step_info.items() if math.isfinite(v)},
                  "params": self.param_sums()}
        arrays: dict[str, np.ndarray] = {}
        if "real" in p:
            arrays["step_real"] = self._to_data(p["real"])
        if "fake" in p and name not in ("noise",):
            arrays["step_fake"] = self._to_data(p["fake"].detach())
        if "arrows" in p:
            arrays["step_arrows"] = p["arrows"].detach().cpu().numpy()
        if "z" in p:
            z = p["z"][:, :2] if p["z"].shape[1] >= 2 else torch.cat([p["z"], torch.zeros_like(p["z"])], 1)
            arrays["step_z"] = z.cpu().numpy()
        return header, arrays

    def param_sums(self) -> dict[str, float]:
        """A fingerprint of each network's parameters (sum of |w|, float64): tests see which network moved."""
        return {name: float(sum(p.detach().double().abs().sum() for p in self.recipe.models[name].parameters()))
                for name in ("G", "D")}

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
        fake, arrows, d_fake = self._fake_and_arrows()
        heat, d_real = self._heat()
        manifold = self._to_data(self._generate(self.z_grid))
        xmin, xmax, ymin, ymax = self.bounds
        inside = (fake[:, 0] >= xmin) & (fake[:, 0] <= xmax) & (fake[:, 1] >= ymin) & (fake[:, 1] <= ymax)
        finite = np.isfinite(fake).all(axis=1)
        flow = {"z": self.z_stats,
                "fake": {"n": len(fake), "outside": int(len(fake) - inside.sum()),
                         "mean": np.nan_to_num(fake[finite].mean(0) if finite.any() else np.zeros(2)).tolist(),
                         "std": np.nan_to_num(fake[finite].std(0) if finite.any() else np.zeros(2)).tolist()},
                "D": {"real": d_real, "fake": d_fake}, "loss": self.cfg.loss.name, "k": int(self.cfg.train.d_steps),
                "G": [int(self.cfg.model.g_depth), int(self.cfg.model.g_width)],
                "Dnet": [int(self.cfg.model.d_depth), int(self.cfg.model.d_width)],
                "batch": int(self.cfg.train.batch_size)}
        sub, extra = self._substep_header()
        header = {
            "step": self.step, "losses": {k: v for k, v in logs.items() if math.isfinite(v)},
            "metrics": self.metrics if metrics else None, "bounds": list(self.bounds), "heat_res": HEAT_RES,
            "heat_range": [float(heat.min()), float(heat.max())], "prob": self.cfg.loss.name in ("minimax", "ns"),
            "manifold_shape": list(self.manifold_shape), "grad_mean": float(np.linalg.norm(arrows, axis=1).mean()),
            "diverged": self.diverged, "flow": flow, "substep": sub or None,
        }
        return encode_frame(header, {"real": self.real, "fake": fake, "arrows": arrows, "heat": heat,
                                     "manifold": manifold, **extra})

    def _to_data(self, x: torch.Tensor) -> np.ndarray:
        return self.model.to_data(x).float().cpu().numpy()

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.recipe.models["G"]):
            return self.recipe.models["G"](z)  # (N, 2) training coordinates

    def _fake_and_arrows(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Fake points, minus the gradient of the generator loss w.r.t. each of them (data units), mean D(fake)."""
        fake = self._generate(self.z_view).requires_grad_(True)  # (N, 2)
        with torch.enable_grad():
            logits = self.recipe.models["D"](fake)  # (N, 1)
            loss_G = losses.g_loss(self.cfg.loss.name, logits)
            (grad,) = torch.autograd.grad(loss_G, fake)  # (N, 2); D's parameters get no gradient
        scale = float(self.recipe.extra_state["data_scale"])
        arrows = (-grad * (len(fake) / scale)).cpu().numpy()  # per-sample loss, in data coordinates
        d_fake = float(self._d_of(logits.detach()).mean())
        return self._to_data(fake.detach()), arrows, d_fake if math.isfinite(d_fake) else 0.0

    def _heat(self) -> tuple[np.ndarray, float]:
        """D over a HEAT_RES^2 grid of ``bounds`` (D(x) for minimax/ns, the raw critic otherwise), mean D(real)."""
        xmin, xmax, ymin, ymax = self.bounds
        xs = np.linspace(xmin, xmax, HEAT_RES, dtype=np.float32)
        ys = np.linspace(ymin, ymax, HEAT_RES, dtype=np.float32)
        gx, gy = np.meshgrid(xs, ys)  # gx[i, j] = xs[j], gy[i, j] = ys[i]
        real = self.real[::REAL_STRIDE]  # mean D(real) for the graph: every 4th shown real point is enough
        values = self.model.score(np.concatenate([np.stack([gx.ravel(), gy.ravel()], 1), real]))  # (R*R + N/4,)
        d_real = float(values[HEAT_RES * HEAT_RES:].mean())
        heat = values[:HEAT_RES * HEAT_RES]
        return (np.nan_to_num(heat.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0),
                d_real if math.isfinite(d_real) else 0.0)

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


def latent_grid(z_dim: int, dist: str = "gaussian") -> tuple[torch.Tensor, tuple[int, ...]]:
    """A regular grid in latent space: a line (z_dim 1) or a square in the first two coordinates (others 0),
    over where ``dist`` puts most of its noise."""
    r = Z_RANGES[dist][0]
    if z_dim == 1:
        return torch.linspace(-r, r, MANIFOLD_1D)[:, None], (MANIFOLD_1D,)  # (M, 1)
    t = torch.linspace(-r, r, MANIFOLD_2D)
    gu, gv = torch.meshgrid(t, t, indexing="ij")  # row i: u = t_i
    z = torch.zeros(MANIFOLD_2D * MANIFOLD_2D, z_dim)
    z[:, 0], z[:, 1] = gu.reshape(-1), gv.reshape(-1)
    return z, (MANIFOLD_2D, MANIFOLD_2D)  # (M*M, z_dim)
