"""The training loop: one function that owns the mechanics for every recipe.

    from ganforge.recipes import load_config
    from ganforge.loop import train, resume
    run_dir = train(load_config("ring8", ["train.steps=3000"]), "runs/ring8")
    resume("runs/ring8", ["train.steps=5000"])            # continues exactly where it stopped

``ganforge.runner`` calls these with the inference side's :class:`Hooks` (pictures, in-training
metrics, the final evaluation and report); the loop itself imports no inference code.

Each iteration runs the recipe's phases in order (a phase runs ``repeats`` times every
``interval`` iterations). For each update the loop freezes every other model, zeroes
gradients, calls the phase's ``step``, back-propagates and steps the optimiser. At the
logging interval (the only place values leave the device) it writes ``metrics.jsonl``
(and TensorBoard events when installed); it evaluates, draws pictures and writes atomic
checkpoints on their own intervals. A checkpoint holds every model, optimiser,
scheduler, RNG state, the step and the logged history, so a resumed run on the CPU is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from ganforge import checkpoint, dist, pretrained, runfolder, speed
from ganforge.config import Config, lift_step_cap, short, short_key, split_override, step_cap, to_dict
from ganforge.errors import (  # noqa: F401 (re-exported)
    CheckpointError,
    ConfigError,
    GanforgeError,
    Stopped,
    TrainingDiverged,
)
from ganforge.health import DivergenceGuard
from ganforge.recipes import apply_overrides, config_from_dict, recipe_module, resolve
from ganforge.recipes.base import Models, Recipe, ema_update


class Observer(Protocol):
    """What the loop asks of the inference side while it trains (``ganforge.sample``'s samplers are such)."""

    def save_picture(self, path: Path, title: str = "") -> Any: ...


@dataclass
class Hooks:
    """The inference side's part in a training run, passed in (the loop imports no inference code).

    Args:
        observer: ``observer(cfg, models, extra_state, device)`` -> an :class:`Observer` over the live
            networks, for sample pictures (``train.sample_every``) and what ``metrics`` scores; None = neither.
        metrics: ``metrics(observer, n, seed)`` -> ``{"Metric/...": value}`` every ``train.eval_every`` steps;
            None = no in-training metrics.
        finish: ``finish(run_dir)`` after the last step (the evaluation and the report); None = nothing.
    """

    observer: Callable[[Config, Models, dict[str, torch.Tensor], torch.device], Observer] | None = None
    metrics: Callable[[Observer, int, int], dict[str, float]] | None = None
    finish: Callable[[Path], Any] | None = None


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but PyTorch sees no CUDA device; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose one of: auto, cpu, cuda")
    return torch.device(name)


# --------------------------------------------------------------------------- public entry points

def train(cfg: Config, run_dir: str | Path, *, device: str | None = None, overwrite: bool = False,
          hooks: Hooks | None = None) -> Path:
    """Train a fresh run into ``run_dir``; returns the folder. ``hooks``: pictures, metrics and the report
    (``ganforge.runner.train`` passes the inference side's; without them only logs and checkpoints).

    Everything is checked before anything is written. ``overwrite`` replaces only a ganforge run folder that
    no process is writing, and keeps the old run aside until the new one's first checkpoint is on disk (it
    comes back if the new run fails before that).
    """
    if device is not None:
        cfg = config_from_dict({**to_dict(cfg), "device": device})
    cfg = resolve(cfg)
    dev = select_device(cfg.device)
    run_dir = Path(run_dir).expanduser()
    check(cfg, dev)  # bad data or settings fail before anything is written
    new = runfolder.create(run_dir, overwrite) if dist.is_main() else None  # under torchrun only rank 0 writes
    try:
        if new is not None:
            runfolder.write_config(cfg, run_dir)
        return _fit(cfg, run_dir, dev, state=None, hooks=hooks or Hooks(),
                    checkpointed=new.keep if new is not None else None)
    except BaseException as e:
        # failed before its first checkpoint: the folder goes back to what it was (a replaced run comes back),
        # except that a new run stopped by a diagnosis or a second Ctrl-C stays (its metrics.jsonl tells why;
        # `ganforge resume` starts it again)
        if new is not None and (new.aside is not None or not isinstance(e, (TrainingDiverged, KeyboardInterrupt))):
            new.undo()
        raise
    finally:
        if new is not None:
            new.close()


def resume(run_dir: str | Path, overrides: list[str] | None = None, *, device: str | None = None,
           hooks: Hooks | None = None) -> Path:
    """Continue a run from its newest checkpoint. Only ``train.*`` keys may change (e.g. ``train.steps``).

    Everything is checked (the config, the device, the data, the checkpoint against ``config.yaml``)
    before ``config.yaml`` is rewritten; a second process writing the run is refused (:class:`RunBusy`).
    """
    if pretrained.is_shipped(run_dir):
        raise ConfigError(f"{run_dir} is a pretrained model shipped with ganforge (read-only); to train on, start a "
                          f"run from its preset: `ganforge train PRESET --out DIR`")
    run_dir = Path(run_dir).expanduser()
    cfg = runfolder.read_config(run_dir)
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if not key.startswith("train."):
            raise ConfigError(f"only train.* keys can change on resume (got '{short_key(key)}'); start a new run "
                              "instead")
    cfg = apply_overrides(cfg, overrides or [])
    lift_step_cap(cfg.train, {split_override(o)[0] for o in overrides or []})
    cfg = resolve(cfg)
    if device is not None:
        cfg.device = device
    dev = select_device(cfg.device)
    check(cfg, dev)
    state = _checked_state(cfg, run_dir)
    if not dist.is_main():
        return _fit(cfg, run_dir, dev, state=state, hooks=hooks or Hooks())
    newest = checkpoint.list_checkpoints(run_dir)
    with runfolder.RunLock(run_dir, "resume"):  # refused while another process writes the run
        if checkpoint.list_checkpoints(run_dir) != newest:  # it wrote one while this process checked
            state = _checked_state(cfg, run_dir)
        if state is None:  # killed before its first checkpoint: start again from step 0
            print(f"ganforge: warning: {run_dir} has no checkpoint yet; starting it from step 0", file=sys.stderr)
        runfolder.mark(run_dir)  # a run made by ganforge 0.1 gets its marker
        runfolder.write_config(cfg, run_dir)
        return _fit(cfg, run_dir, dev, state=state, hooks=hooks or Hooks())


def _checked_state(cfg: Config, run_dir: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint, checked against the run's config; None when there is none yet."""
    state = checkpoint.load_latest(run_dir) if checkpoint.list_checkpoints(run_dir) else None
    if state is not None:
        check_checkpoint(cfg, state, run_dir)
    return state


def check(cfg: Config, device: torch.device) -> None:
    """Every check a run needs before it writes anything: the recipe's (data, settings), the batch's split
    over the processes, the speed and DDP options on ``device``."""
    module = recipe_module(cfg)
    module.validate(cfg)
    # under torchrun: the global batch must split over the processes, each share fit D
    dist.local_config(cfg, dist.world_size(), module.check_batch)
    speed.check_speed_options(cfg, device)
    dist.check_ddp_options(cfg, device)


#: what a resume may change: the loop's settings, where it runs, the description
_RESUMABLE = ("train", "device", "description", "eval")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def check_checkpoint(cfg: Config, state: dict[str, Any], run_dir: Path) -> None:
    """Refuse a checkpoint that belongs to another run (another recipe, or the same recipe with other
    networks, loss, data, optimiser or seed) and a ``train.steps`` below the step it reached."""
    step = int(state.get("step", 0))
    if state.get("recipe") != cfg.recipe:
        raise CheckpointError(f"checkpoint recipe {state.get('recipe')!r} does not match the run's {cfg.recipe!r} "
                              f"(config.yaml); the checkpoints in {run_dir} belong to another run")
    try:
        theirs = _flat(to_dict(resolve(config_from_dict(state.get("config") or {}))))
    except GanforgeError as e:
        raise CheckpointError(f"the newest checkpoint in {run_dir / 'checkpoints'} holds a config that does not "
                              f"load ({str(e)[:120]}); it belongs to another run") from None
    mine = _flat(to_dict(cfg))
    for key, value in mine.items():
        if key.split(".", 1)[0] not in _RESUMABLE and theirs.get(key) != value:
            raise CheckpointError(
                f"the checkpoints in {run_dir / 'checkpoints'} belong to another run: they have {key}="
                f"{short(theirs.get(key))}, {run_dir / 'config.yaml'} has {key}={short(value)}; restore that "
                "config.yaml or start a new run"
            )
    if cfg.train.steps < step:
        raise ConfigError(f"train.steps={cfg.train.steps} is below the step this run has reached ({step}); give "
                          f"train.steps > {step} to train on (nothing was changed)")


# --------------------------------------------------------------------------- the loop

def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _set_trainable(recipe: Recipe, name: str) -> None:
    for key, m in recipe.models.items():
        m.requires_grad_(key == name)


def _grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


class _Logger:
    """metrics.jsonl plus TensorBoard events in ``run_dir/tb`` when ``tensorboard`` is installed: every
    logged value as a scalar, the sample pictures as images (tag ``samples``) and, at the end of a session,
    the flat config with the last value of each series as hparams (the ``tb/hparams`` run, rewritten).

    TensorBoard reads a run's event files in name order and drops, from the files before it, the events at
    steps >= a file's ``purge_step``. A session that continues a run (a resume, or a rollback to a checkpoint
    mid-run) starts a new file purging from the step after its checkpoint, so each step appears once and the
    scalar series equal metrics.jsonl's."""

    def __init__(self, run_dir: Path, history: list[dict[str, float]], step: int = 0) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.tb_dir = run_dir / "tb"
        # rewrite from the checkpoint's history (atomically): lines logged after it (before a crash) are dropped
        checkpoint.atomic_write_text(self.path, "".join(json.dumps(rec) + "\n" for rec in history))
        self.tb: Any = None
        self._writer: Any = None
        with contextlib.suppress(ImportError):
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter
        self._open(step)

    def _open(self, step: int) -> None:
        """A new event file; when earlier files exist, it purges their events after ``step`` (the checkpoint's)."""
        if self._writer is None:
            return
        old = sorted(self.tb_dir.glob("events.out.tfevents.*")) if self.tb_dir.is_dir() else []
        stamps = [int(p.name.split(".")[3]) for p in old if p.name.split(".")[3].isdigit()]
        if stamps:  # file names start with the second they were made: the new one must sort after the old
            wait = max(stamps) + 1 - time.time()
            if 0 < wait <= 2:
                time.sleep(wait)
        self.tb = self._writer(str(self.tb_dir), purge_step=step + 1 if old else None)

    def restart(self, step: int) -> None:
        """After a rollback to the checkpoint at ``step``: what was logged after it leaves the event files too."""
        if self.tb is not None:
            self.tb.close()
            self._open(step)

    def write(self, record: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step":
                    self.tb.add_scalar(k, v, record["step"])

    def image(self, path: Path, step: int) -> None:
        """The sample picture just saved at ``path`` (a PNG), as the ``samples`` image at ``step``."""
        if self.tb is None or not path.is_file():
            return
        from PIL import Image

        with Image.open(path) as im:
            self.tb.add_image("samples", np.asarray(im.convert("RGB")), step, dataformats="HWC")

    def hparams(self, cfg: Config, history: list[dict[str, float]], step: int) -> None:
        """The run's flat config beside the last logged value of each series (``hparam/<tag>``), in
        ``tb/hparams`` (the previous session's, if any, replaced)."""
        if self.tb is None:
            return
        last: dict[str, float] = {}
        for rec in history:
            last.update({f"hparam/{k}": float(v) for k, v in rec.items() if k != "step"
                         and isinstance(v, (int, float)) and not isinstance(v, bool)})
        flat = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                for k, v in _flat(to_dict(cfg)).items()}
        for old in (self.tb_dir / "hparams").glob("events.out.tfevents.*"):
            old.unlink()
        self.tb.add_hparams(flat, last, run_name="hparams", global_step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def update_phase(recipe: Recipe, phase: Any, step: int, log_grads: bool = False) -> dict[str, torch.Tensor]:
    """One update of ``phase`` (one of its ``repeats``) at iteration ``step``; its logged values.

    Only the phase's network is trainable; the recipe's own step function on the next batch, the
    backward (scaled under fp16), one optimiser step, the phase's ``after_step`` and the EMA of the
    updated network. ``log_grads`` adds its gradient norm (``Grad/<name>``). ``train_iteration`` and
    the lab's step-by-step mode both update through this.
    """
    opt = recipe.optimizers[phase.module]
    _set_trainable(recipe, phase.module)
    models = dist.phase_models(recipe.models, phase.module)  # under DDP: only this phase's network wrapped
    batch = recipe.next_batch()
    opt.zero_grad(set_to_none=True)
    with recipe.autocast():
        loss, logs = phase.step(models, batch)
    scaler = recipe.scaler  # fp16: the loss scaled up for the backward, the gradients unscaled for the step
    (loss if scaler is None else scaler.scale(loss)).backward()
    if log_grads:
        if scaler is not None:
            scaler.unscale_(opt)
        logs[f"Grad/{phase.module}"] = _grad_norm(recipe.models[phase.module])
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)
        scaler.update()
    if phase.after_step is not None:
        phase.after_step(recipe.models)
    for ema_name, src in recipe.ema.items():
        if src == phase.module:  # warm-up: a short average early on, then the set decay
            beta = min(recipe.ema_decay, (1 + step) / (10 + step))
            ema_update(recipe.models[ema_name], dist.unwrap(recipe.models[src]), beta)
    return logs


def accumulate(accum: dict[str, torch.Tensor], counts: dict[str, int], logs: dict[str, torch.Tensor]) -> None:
    """Add one update's logged values to the running sums (on the device: nothing waits for it)."""
    for k, v in logs.items():
        accum[k] = accum[k] + v.float() if k in accum else v.float()
        counts[k] = counts.get(k, 0) + 1


def train_iteration(recipe: Recipe, step: int, accum: dict[str, torch.Tensor], counts: dict[str, int],
                    log_grads: bool = False) -> None:
    """One iteration: every phase due at ``step`` (``repeats`` updates each, ``update_phase``), then the schedulers.

    Logged values are summed on the device into ``accum`` (with ``counts``): nothing here waits
    for the device. ``log_grads`` adds each updated network's gradient norm (``Grad/<name>``, on
    its last repeat). The training loop, the lab's live sessions and the benchmarks all step a
    recipe through this.
    """
    for phase in recipe.phases:
        if step % phase.interval:
            continue
        for r in range(phase.repeats):
            accumulate(accum, counts, update_phase(recipe, phase, step, log_grads and r == phase.repeats - 1))
    for sched in recipe.schedulers.values():
        sched.step()


def _fit(cfg: Config, run_dir: Path, device: torch.device, state: dict[str, Any] | None, hooks: Hooks,
         checkpointed: Callable[[], None] | None = None) -> Path:
    tc = cfg.train
    device = dist.setup(device)  # under torchrun: the process group, and this rank's GPU; TF32: speed.prepare
    speed.check_speed_options(cfg, device)
    dist.check_ddp_options(cfg, device)
    main = dist.is_main()
    seed_everything(cfg.seed)
    module = recipe_module(cfg)
    recipe = module.build(dist.local_config(cfg, dist.world_size(), module.check_batch), device)
    dist.seed_rank(cfg.seed)  # ranks draw different data and noise from here on
    step, history, elapsed = 0, [], 0.0
    accum: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    if state is not None:
        step, history = restore_state(recipe, state, accum, counts, device)
        elapsed = float(state.get("elapsed", 0.0))
        dist.reseed_after_resume()
    dist.sync_batch_norm(recipe, cfg)  # under DDP with train.sync_bn: on the plain modules, before torch.compile
    speed.prepare(recipe, cfg, device)  # channels_last, torch.compile, bf16 autocast, per cfg.train
    dist.wrap_recipe(recipe, device)  # under DDP: around the (compiled) trained networks
    started = time.perf_counter() - elapsed  # wall seconds spent training, carried across resumes
    logger = _Logger(run_dir, history, step) if main else None  # step: a resumed run's events after it are purged
    guard = DivergenceGuard(cfg, run_dir, state, write=main)  # NaN/inf and a discriminator that wins completely
    observer = hooks.observer(cfg, dist.plain(recipe.models), recipe.extra_state, device) \
        if (main and hooks.observer is not None) else None
    bar = tqdm(total=step_cap(tc), initial=step, disable=not (tc.progress and main), desc="train", unit="step",
               dynamic_ncols=True, leave=True)
    if device.type == "cpu":
        # tiny activations late in training otherwise slow the CPU several-fold; undone in `finally` below,
        # as it is process-wide state (as is train.keep_memory's allocator setting)
        torch.set_flush_denormal(True)
    kept = device.type == "cpu" and tc.keep_memory and speed.keep_freed_memory(True)
    threads_before = torch.get_num_threads()
    threads = speed.choose_threads(cfg, device, ((state or {}).get("runtime") or {}).get("threads"))
    if threads is not None and threads != threads_before:  # process-wide too: restored in `finally` below
        torch.set_num_threads(threads)
        if main and tc.threads is None and threads < threads_before and state is None:
            print(f"ganforge: other processes keep {threads_before - threads} of {threads_before} cores busy: "
                  f"training with {threads} thread(s) (train.threads=N sets it)", file=sys.stderr)
    signals = _StopSignals().install()  # Ctrl-C / SIGTERM: stop at the next step, with a checkpoint there
    signalled = False
    try:
        while step < tc.steps:
            log_now = (step + 1) % tc.log_every == 0 or step == 0 or step + 1 == tc.steps
            train_iteration(recipe, step, accum, counts, log_grads=log_now)
            step += 1
            # the last step of this session: the step budget, or the wall-clock budget (checked at this boundary)
            over = tc.max_minutes > 0 and time.perf_counter() - started >= 60 * tc.max_minutes
            signalled = dist.agree(signals.signum is not None, log_now, device)  # under DDP: together, when logging
            last = step == tc.steps or signalled or dist.agree(over, log_now, device)
            bar.update(1)

            record: dict[str, float] = {}
            if log_now:
                # the loop's one host sync (and, under DDP, its one all-reduce of logs), at this interval
                sums = dist.mean_over_ranks(torch.stack(list(accum.values()))).tolist()
                record.update({k: v / counts[k] for k, v in zip(accum, sums, strict=True)})
                accum.clear()
                counts.clear()
                if (diagnosis := guard.check(step, record, recipe.models)) is not None:
                    rollback = guard.decide(diagnosis)  # or raises TrainingDiverged
                    accum.clear()
                    counts.clear()
                    step, history = restore_state(recipe, rollback.state, accum, counts, device)
                    scale_learning_rates(recipe, rollback.lr_ratio)
                    guard.rolled_back(diagnosis, rollback, step, history)
                    if logger is not None:
                        logger.restart(step)  # the rolled-back steps leave the TensorBoard events too
                    bar.n = step
                    continue
            if not main:  # pictures, metrics, logs and checkpoints: rank 0's job
                if last:
                    break
                continue
            if hooks.metrics is not None and observer is not None and tc.eval_every and not signalled and \
                    (step % tc.eval_every == 0 or last):
                record.update(hooks.metrics(observer, tc.eval_n, cfg.seed * 100003 + step))
            if record:
                record = {"step": step, **record}
                history.append(record)
                logger.write(record)
                bar.set_postfix({k.split("/", 1)[1]: f"{v:.3g}" for k, v in record.items()
                                 if k.startswith(("Loss/", "Metric/modes", "Metric/hq", "Metric/fid"))}, refresh=False)
            if observer is not None and tc.sample_every and not signalled and \
                    (step % tc.sample_every == 0 or last):
                picture = run_dir / "samples" / f"step_{step:08d}.png"
                observer.save_picture(picture, title=f"step {step}")
                logger.image(picture, step)
            if step % tc.ckpt_every == 0 or last:
                save_state(cfg, recipe, run_dir, step, history, accum, counts, time.perf_counter() - started,
                           health=guard.state())
                if checkpointed is not None:
                    checkpointed()
            if last:
                break
        dist.barrier()  # under DDP: rank 0 has written the last checkpoint; the ranks end together
        if logger is not None and not signalled:
            logger.hparams(cfg, history, step)
    finally:
        signals.restore()
        bar.close()
        if logger is not None:
            logger.close()
        if device.type == "cpu":
            torch.set_flush_denormal(False)
        if kept:
            speed.keep_freed_memory(False)
        torch.set_num_threads(threads_before)
        dist.teardown()
    if signalled:
        name = signal.Signals(signals.signum or signal.SIGTERM).name
        raise Stopped(f"stopped by {name} at step {step}; checkpoint {checkpoint.ckpt_path(run_dir, step)} written; "
                      f"`ganforge resume {run_dir}` continues from it", code=128 + (signals.signum or 15))
    if main and hooks.finish is not None and cfg.train.final_eval:
        hooks.finish(run_dir)
    return run_dir


class _StopSignals:
    """While installed (main thread only), SIGINT and SIGTERM set :attr:`signum` instead of stopping the
    process: the loop then ends at the step boundary with a checkpoint. A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()


def save_state(cfg: Config, recipe: Recipe, run_dir: Path, step: int, history: list[dict[str, float]],
               accum: dict[str, torch.Tensor], counts: dict[str, int], elapsed: float,
               health: dict[str, Any] | None = None) -> None:
    """Write a checkpoint of everything needed to resume exactly (see ``checkpoint.py``)."""
    state = {
        "format": checkpoint.FORMAT,
        "version": checkpoint.VERSION,
        "recipe": cfg.recipe,
        "config": to_dict(cfg),
        "step": step,
        "models": {k: dist.unwrap(m).state_dict() for k, m in recipe.models.items()},  # no DDP/compile prefixes
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in recipe.schedulers.items()},
        "extra": {k: v.detach().cpu() for k, v in recipe.extra_state.items()},
        "data": recipe.data_state.state_dict() if recipe.data_state is not None else {},  # streamed data's position
        "rng": checkpoint.rng_state(),
        "runtime": {"amp": recipe.precision, "threads": torch.get_num_threads()},  # what ran (train.amp=auto)
        "history": history,
        "accum": {k: v.detach().cpu() for k, v in accum.items()},
        "counts": dict(counts),
        "elapsed": elapsed,
        "health": health or {},  # divergence rollbacks, learning-rate scale and events (see health.py)
    }
    checkpoint.save(state, checkpoint.ckpt_path(run_dir, step), keep=cfg.train.keep_ckpts)


def scale_learning_rates(recipe: Recipe, ratio: float) -> None:
    """Multiply every optimiser's learning rate (and the schedulers' base rates) by ``ratio``."""
    for opt in recipe.optimizers.values():
        for group in opt.param_groups:
            group["lr"] *= ratio
    for sched in recipe.schedulers.values():
        sched.base_lrs = [lr * ratio for lr in sched.base_lrs]


def restore_state(recipe: Recipe, state: dict[str, Any], accum: dict[str, torch.Tensor], counts: dict[str, int],
                  device: torch.device) -> tuple[int, list[dict[str, float]]]:
    """Load a checkpoint into a built recipe (also mid-run, for a rollback: then the networks may already be
    wrapped by DDP or torch.compile, and the plain modules underneath take the plain state_dicts)."""
    try:
        for k, m in recipe.models.items():
            dist.unwrap(m).load_state_dict(state["models"][k])
        for k, o in recipe.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in recipe.schedulers.items():
            if k in state.get("schedulers", {}):
                s.load_state_dict(state["schedulers"][k])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint does not fit this run's networks ({str(e).splitlines()[0][:200]})"
        ) from None
    for k, v in state.get("extra", {}).items():
        recipe.extra_state[k] = v
    if recipe.data_state is not None and state.get("data"):  # a streamed batch source continues where it was
        recipe.data_state.load_state_dict(state["data"])
    accum.update({k: v.to(device) for k, v in state.get("accum", {}).items()})
    counts.update(state.get("counts", {}))
    checkpoint.set_rng_state(state["rng"])
    return int(state["step"]), list(state.get("history", []))
