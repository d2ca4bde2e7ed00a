"""Checkpoints: atomic writes, safe loads, and the run folder's checkpoint list.

A checkpoint is a plain dict of tensors and primitives, so ``torch.load(weights_only=True)``
reads it and no code is ever unpickled::

    {"format": "ganforge-checkpoint", "version": 1, "recipe": "gan", "config": {...},
     "step": 1000, "models": {"G": state_dict, "D": ...}, "optimizers": {...},
     "rng": {...}, "extra": {...}, "data": {...}, "history": [...], "accum": {...}}

(``data``: a streamed batch source's position, ``{"seed", "epoch", "index", "world"}``; ``{}`` for
in-memory data, whose order the RNG state holds.)

``save`` writes to a temporary file in the same folder, flushes and fsyncs it, then
renames it over the final name, so a crash leaves either the old file or the new one; it
then deletes all but the newest ``keep`` checkpoints (the run keeps two by default) and any
``.tmp`` file a killed process left behind. ``load_latest`` reads the newest checkpoint and
falls back to the one before when the newest cannot be read.

Tests set ``GANFORGE_SLOW_SAVE=SECONDS`` to pause between writing the temporary file and
renaming it, so a process can be killed inside the write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import random
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import CheckpointError

FORMAT = "ganforge-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step_(\d{8})\.pt$")


class UnsafeCheckpoint(CheckpointError):
    """A checkpoint that holds pickled code or objects: refused, and never skipped over silently."""


def ckpt_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        if folder.exists() or folder.is_symlink():
            raise CheckpointError(f"{folder} is not a folder: a run keeps its checkpoints in that folder")
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save(state: dict[str, Any], path: Path, keep: int | None = None) -> Path:
    """Write ``state`` atomically to ``path``; then keep only the newest ``keep`` checkpoints beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(".step_*.tmp"):  # left by a process killed while writing
        stale.unlink(missing_ok=True)
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
            if os.environ.get("GANFORGE_SLOW_SAVE"):  # test hook: a window to kill the process inside the write
                time.sleep(float(os.environ["GANFORGE_SLOW_SAVE"]))
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CheckpointError(
                f"no space left on the device to write {path}; the previous checkpoint is intact. "
                "Free some disk space and run `ganforge resume`."
            ) from None
        raise
    _fsync_dir(path.parent)
    if keep is not None:
        for old in list_checkpoints(path.parent.parent)[:-keep]:
            old.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary file beside ``path`` for the caller to write; when the block ends without error it is
    flushed to disk, given mode 0644 and renamed over ``path``, else removed. A reader sees the old file
    or the new one, never half of it. ``keep_suffix``: the temporary name ends in ``path``'s suffix too,
    for writers that choose their format by it (PIL, ``np.savez``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + (path.suffix if keep_suffix else ""),
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other readers of the run
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file (``config.yaml``, ``eval.json``, ``metrics.jsonl``, ``report.html``) atomically
    (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; refuse truncated, foreign or code-bearing files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"(GLOBAL \S+|Unsupported operand \d+)", str(e))  # torch's reason, without its essay
        what = f"weights_only load: {found.group(1)}" if found else "weights_only load failed"
        raise UnsafeCheckpoint(
            f"checkpoint {path} was refused: it holds objects other than tensors and plain data ({what}); "
            "ganforge never runs code from a checkpoint, so only load files from a ganforge run"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt and cannot be read ({type(e).__name__})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganforge checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer ganforge (format {state['version']})")
    return state


def latest(run_dir: Path) -> Path:
    """The newest checkpoint of a run folder, or a clear error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise CheckpointError(f"run folder {run_dir} has no checkpoints (expected {run_dir}/checkpoints/step_*.pt)")
    return ckpts[-1]


def load_latest(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read the newest checkpoint; if it is truncated or corrupt, say so on stderr and use the one before it.

    A checkpoint refused for holding pickled code stops here (:class:`UnsafeCheckpoint`): it was tampered with.
    """
    latest(run_dir)  # a clear error for a missing folder or one without checkpoints
    ckpts = list_checkpoints(run_dir)
    newest_error = None
    for path in reversed(ckpts):
        try:
            state = load(path, map_location)
        except UnsafeCheckpoint:
            raise
        except CheckpointError as e:
            newest_error = newest_error or e
            continue
        if newest_error is not None:  # said only once a fallback worked: a failure stays one line
            print(f"ganforge: warning: {newest_error}; using {path.name}, the checkpoint before it", file=sys.stderr,
                  flush=True)
        return state
    if len(ckpts) == 1:
        raise newest_error
    raise CheckpointError(f"none of the {len(ckpts)} checkpoints in {ckpts[0].parent} can be read (the newest: "
                          f"{newest_error}); start the run again with --overwrite")


# --------------------------------------------------------------------------- RNG state

def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and every CUDA device) RNG states as plain data and tensors."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
