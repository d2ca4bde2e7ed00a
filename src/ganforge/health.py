"""Divergence watch: spot a run that has broken, say why, and stop or roll back.

The training loop hands every logged record to a :class:`DivergenceGuard`::

    guard = DivergenceGuard(cfg, run_dir, state)          # state: the checkpoint resumed from, or None
    diagnosis = guard.check(step, record, recipe.models)   # None while training is healthy
    if diagnosis is not None:
        rollback = guard.decide(diagnosis)           # or raises TrainingDiverged (train.on_diverge=stop)
        ... the loop restores rollback.state and scales the learning rates by rollback.lr_ratio ...
        guard.rolled_back(diagnosis, rollback, step, history)

Three failures are detected:

* ``nonfinite-loss``: a logged value (a loss, D's output, a gradient norm) is NaN or infinite;
* ``nonfinite-param``: a network parameter or buffer is NaN or infinite;
* ``d-wins``: for ``train.diverge_patience`` logged steps in a row the discriminator wins
  completely: D(real) -> 1 and D(fake) -> 0 (read from the logged mean logits ``D/real`` and
  ``D/fake``) while the generator's gradient norm ``Grad/G`` vanishes, so G learns nothing.
  Watched for the losses whose D output has a fixed scale (minimax, ns, lsgan, hinge); a
  Wasserstein critic's output has none.

Each diagnosis is written to ``metrics.jsonl`` as an event record
(``{"step": .., "event": "diverged", "kind": .., "diagnosis": .., "action": ..}``) and as one
line on stderr. ``train.on_diverge=stop`` then raises :class:`TrainingDiverged` (the CLI prints
it as one line and exits 2). ``train.on_diverge=rollback`` restores the newest checkpoint written
before the trouble began whose weights are finite, multiplies every learning rate by
``train.rollback_lr_factor`` and continues; after ``train.max_rollbacks`` rollbacks it stops.
The rollback count, the learning-rate scale and the events are saved in each checkpoint
(``state["health"]``), so the cap holds across resumes.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge import checkpoint
from ganforge.errors import CheckpointError, TrainingDiverged

#: D "wins completely" when its mean output on real data is at least REAL and on fake data at most FAKE
#: (logits: sigmoid(4.6) = 0.99) and G's gradient norm has fallen below GRAD_RATIO times the largest seen
#: in this run (gradient norms have no fixed scale: it depends on the network) or below GRAD_EPS.
D_WINS_LIMITS: dict[str, tuple[float, float]] = {
    "minimax": (4.6, -4.6),
    "ns": (4.6, -4.6),
    "lsgan": (0.9, 0.1),  # least-squares targets: 1 for real, 0 for fake
    "hinge": (1.0, -1.0),  # beyond the margins D's loss is exactly zero
}
GRAD_EPS = 1e-6
GRAD_RATIO = 0.05


@dataclass
class Diagnosis:
    """What went wrong: ``kind`` (nonfinite-loss | nonfinite-param | d-wins), at ``step``, since ``since``."""

    step: int
    kind: str
    message: str
    since: int  # the first logged step showing the problem; a rollback goes to a checkpoint before it


def nonfinite_parameter(models: dict[str, torch.nn.Module]) -> str | None:
    """The name of the first parameter or buffer holding a NaN or inf (``G.net.0.weight``), or None."""
    names, tensors = [], []
    for key, m in models.items():
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            if t.is_floating_point():
                names.append(f"{key}.{name}")
                tensors.append(t.detach())
    if not tensors:
        return None
    ok = torch.stack([torch.isfinite(t).all() for t in tensors]).cpu()  # one host sync
    return None if bool(ok.all()) else names[int((~ok).nonzero()[0])]


def d_wins(loss: str, record: dict[str, float], grad_peak: float) -> bool:
    """Whether a logged record shows D winning completely and G's gradient vanishing (``grad_peak``: largest
    ``Grad/G`` so far)."""
    limits = D_WINS_LIMITS.get(loss)
    if limits is None or not {"D/real", "D/fake", "Grad/G"} <= record.keys():
        return False
    vanished = record["Grad/G"] < max(GRAD_EPS, GRAD_RATIO * grad_peak)
    return record["D/real"] >= limits[0] and record["D/fake"] <= limits[1] and vanished


@dataclass
class Rollback:
    """A decision to roll back: the checkpoint ``state`` to restore, and the factor ``lr_ratio`` for every
    learning rate (relative to the checkpoint's); ``lr_scale`` is the scale against the run's own."""

    state: dict[str, Any]
    lr_ratio: float
    lr_scale: float


class DivergenceGuard:
    """Checks each logged record; stops or rolls back as ``train.on_diverge`` says."""

    def __init__(self, cfg: Any, run_dir: Path, state: dict[str, Any] | None = None, write: bool = True) -> None:
        tc = cfg.train
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.write = write  # under DDP every rank decides alike (the logs are averaged); only rank 0 writes
        self.policy, self.patience = tc.on_diverge, tc.diverge_patience
        self.factor, self.max_rollbacks = tc.rollback_lr_factor, tc.max_rollbacks
        saved = (state or {}).get("health", {})
        self.rollbacks = int(saved.get("rollbacks", 0))
        self.lr_scale = float(saved.get("lr_scale", 1.0))
        self.grad_peak = float(saved.get("grad_peak", 0.0))  # the largest Grad/G logged
        self.events: list[dict[str, Any]] = list(saved.get("events", []))
        self._streak: list[int] = []  # steps of consecutive records with D winning

    def state(self) -> dict[str, Any]:
        """Plain data for the checkpoint."""
        return {"rollbacks": self.rollbacks, "lr_scale": self.lr_scale, "grad_peak": self.grad_peak,
                "events": list(self.events)}

    def check(self, step: int, record: dict[str, float], models: dict[str, torch.nn.Module]) -> Diagnosis | None:
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        if bad:
            return Diagnosis(step, "nonfinite-loss", f"{bad[0]} = {record[bad[0]]}", step)
        name = nonfinite_parameter(models)
        if name is not None:
            return Diagnosis(step, "nonfinite-param", f"parameter {name} holds NaN or inf", step)
        self.grad_peak = max(self.grad_peak, record.get("Grad/G", 0.0))
        if self.patience and d_wins(self.cfg.loss.name, record, self.grad_peak):
            self._streak.append(step)
            if len(self._streak) >= self.patience:
                since = self._streak[0]
                self._streak = []
                return Diagnosis(step, "d-wins", (
                    f"the discriminator wins completely for {self.patience} logged steps (since step {since}): "
                    f"D/real = {record['D/real']:.3g}, D/fake = {record['D/fake']:.3g}, "
                    f"Grad/G = {record['Grad/G']:.3g}; the generator gets no gradient"), since)
        else:
            self._streak = []
        return None

    # ------------------------------------------------------------------ what to do about it

    def _log(self, diag: Diagnosis, action: str) -> None:
        event = {"step": diag.step, "event": "diverged", "kind": diag.kind, "diagnosis": diag.message,
                 "action": action}
        self.events.append(event)
        if not self.write:
            return
        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(event) + "\n")
        print(f"ganforge: warning: step {diag.step}: {diag.message}; {action}", file=sys.stderr, flush=True)

    def _stop(self, diag: Diagnosis, why: str) -> None:
        self._log(diag, "stopped")
        raise TrainingDiverged(
            f"training diverged at step {diag.step}: {diag.message}{why}; lower the learning rates "
            f"(optim.lr_g / optim.lr_d), set train.on_diverge=rollback, or resume from a checkpoint in "
            f"{self.run_dir / 'checkpoints'}"
        )

    def _good_checkpoint(self, before: int) -> dict[str, Any] | None:
        """The newest readable checkpoint older than step ``before`` whose weights are all finite."""
        for path in reversed(checkpoint.list_checkpoints(self.run_dir)):
            step = int(path.stem.split("_")[1])
            if step >= before:
                continue
            try:
                state = checkpoint.load(path)
            except CheckpointError:
                continue
            tensors = [t for sd in state["models"].values() for t in sd.values() if t.is_floating_point()]
            if all(bool(torch.isfinite(t).all()) for t in tensors):
                return state
        return None

    def decide(self, diag: Diagnosis) -> Rollback:
        """What to do about ``diag``: raises :class:`TrainingDiverged` to stop, else the rollback for the loop
        to carry out (restore ``state``, multiply every learning rate by ``lr_ratio``), then :meth:`rolled_back`."""
        if self.policy == "stop":
            self._stop(diag, "")
        if self.rollbacks >= self.max_rollbacks:
            self._stop(diag, f" (gave up after {self.rollbacks} rollbacks, train.max_rollbacks)")
        state = self._good_checkpoint(diag.since)
        if state is None:
            self._stop(diag, f" (no finite checkpoint from before step {diag.since} to roll back to)")
        new_scale = self.lr_scale * self.factor
        ratio = new_scale / float(state.get("health", {}).get("lr_scale", 1.0))  # relative to the checkpoint's
        return Rollback(state, ratio, new_scale)

    def rolled_back(self, diag: Diagnosis, rollback: Rollback, step: int, history: list[dict[str, float]]) -> None:
        """Record a rollback the loop has carried out (restored to ``step`` with ``history``)."""
        self.rollbacks += 1
        self.lr_scale = rollback.lr_scale
        self._streak = []
        if self.write:
            with (self.run_dir / "metrics.jsonl").open("w") as f:  # drop what was logged after the checkpoint
                for rec in [*history, *[e for e in self.events if e["step"] <= step]]:
                    f.write(json.dumps(rec) + "\n")
        self._log(diag, f"rolled back to step {step} with learning rates x{rollback.lr_scale:g} "
                        f"(rollback {self.rollbacks} of {self.max_rollbacks})")
