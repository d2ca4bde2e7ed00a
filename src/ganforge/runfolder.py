"""A run folder on disk: its marker, ``config.yaml``, the lock of its one writer, and what may replace it.

    from ganforge.runfolder import RunLock, read_config, write_config
    cfg = read_config("runs/ring8")         # a Config; ganforge 0.1's flat config.yaml is translated
    with RunLock(Path("runs/ring8"), "resume"):   # one writer per run: a second one gets RunBusy, naming the PID
        write_config(cfg, Path("runs/ring8"))   # atomic: a reader never sees half a file

A run folder is what ganforge wrote and nothing else: the marker :data:`MARKER`, ``config.yaml``,
``metrics.jsonl``, ``eval.json``, ``report.html``, the report's pictures, ``checkpoints/``,
``samples/`` and ``tb/``. :func:`foreign_entry` finds the first thing in a folder that is not one
of those; only a folder without one may be replaced by ``--overwrite`` (:func:`create`), and the
old run is moved aside, not deleted, until the new run's first checkpoint is written.

Both the training loop and the inference side (``ganforge.sample``) use this module, so neither
imports the other to find a run's config. Checkpoint files themselves are
:mod:`ganforge.checkpoint`'s.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

import yaml

from ganforge.checkpoint import atomic_write_text
from ganforge.config import Config, read_text_file, read_yaml, to_dict
from ganforge.errors import CheckpointError, ConfigError, RunBusy
from ganforge.recipes import config_from_dict

try:  # advisory locks: POSIX; elsewhere a run folder is not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MARKER = ".ganforge-run"  # {"format": "ganforge-run", "version": 1}: written when the folder is created
LOCK = ".ganforge-lock"  # held (flock) by the process writing the run; holds its PID and command
_FILES = {"config.yaml", "metrics.jsonl", "eval.json", "report.html", "points.npy", MARKER, LOCK,
          "curves.png", "interpolation.png", "mix.png", "triptychs.png"}
_TEMP = re.compile(r"^\.(.+)\.[^.]+\.tmp(\.[^.]+)?$")  # atomic_write_text's and checkpoint.save's temporary files
_FOLDERS = {  # sub-folder -> the names ganforge writes in it
    "checkpoints": re.compile(r"^(step_\d{8}\.pt|\.step_\d{8}\.pt\..+\.tmp)$"),
    "samples": re.compile(r"^step_\d{8}\.png$"),
    "tb": re.compile(r"^events\.out\.tfevents\..+$"),
}


# --------------------------------------------------------------------------- config.yaml

def read_config(run_dir: str | Path) -> Config:
    """The run's config from its ``config.yaml``; a clear error when the folder is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if run_dir.is_file():
        raise CheckpointError(f"{run_dir} is a file, not a run folder")
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    if not path.exists():
        raise CheckpointError(f"{run_dir} is not a ganforge run folder (no config.yaml)")
    try:
        d = read_yaml(read_text_file(path, "run config"), str(path))
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    try:
        return config_from_dict(d)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def write_config(cfg: Config, run_dir: Path) -> None:
    """Write ``config.yaml`` atomically (a temporary file in the folder, then a rename)."""
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))


# --------------------------------------------------------------------------- what is a run folder

def _is_checkpoint_file(path: Path) -> bool:
    """A ``step_*.pt`` in torch's zip format (what ``checkpoint.save`` writes): checked without loading it."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/data.pkl") for n in z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def foreign_entry(run_dir: Path) -> Path | None:
    """The first entry of ``run_dir`` (sorted) that ganforge did not write there, or None."""
    for entry in sorted(run_dir.iterdir()):
        name = entry.name
        if name in _FOLDERS and entry.is_dir() and not entry.is_symlink():
            inners = sorted(entry.rglob("*")) if name == "tb" else sorted(entry.iterdir())  # tb/: runs in folders
            for inner in inners:
                if name == "tb" and inner.is_dir() and not inner.is_symlink():
                    continue
                if not (_FOLDERS[name].match(inner.name) and inner.is_file() and not inner.is_symlink()):
                    return inner
                if name == "checkpoints" and inner.suffix == ".pt" and not _is_checkpoint_file(inner):
                    return inner
            continue
        temp = _TEMP.match(name)
        if (name in _FILES or (temp and temp.group(1) in _FILES)) and entry.is_file() and not entry.is_symlink():
            continue
        return entry
    return None


def is_marked(run_dir: Path) -> bool:
    """The folder holds ganforge's run marker (folders made by ganforge 0.1 have none: ``config.yaml`` only)."""
    try:
        return json.loads((run_dir / MARKER).read_text()).get("format") == "ganforge-run"
    except (OSError, ValueError, AttributeError):
        return False


def mark(run_dir: Path) -> None:
    """Write the run marker (atomically) if the folder lacks it."""
    if not is_marked(run_dir):
        atomic_write_text(run_dir / MARKER, json.dumps({"format": "ganforge-run", "version": 1}) + "\n")


def check_replaceable(run_dir: Path) -> None:
    """Refuse, naming the first foreign file, unless ``run_dir`` is provably a ganforge run folder."""
    entry = foreign_entry(run_dir)
    if entry is not None:
        raise ConfigError(f"refusing to replace {run_dir}: it holds {entry}, which ganforge did not write; move it "
                          "out of the folder or choose another --out")
    legacy = (run_dir / "config.yaml").is_file() and any(  # made by ganforge 0.1: config.yaml and checkpoints
        _is_checkpoint_file(p) for p in (run_dir / "checkpoints").glob("step_*.pt"))
    if not (is_marked(run_dir) or legacy):
        raise ConfigError(f"{run_dir} is not a ganforge run folder (no {MARKER} marker, no checkpoints); refusing "
                          "to replace it: choose another --out")


# --------------------------------------------------------------------------- one writer per run

class RunLock:
    """An advisory lock (``flock``) on ``RUN/.ganforge-lock`` held while a process writes the run.

    The lock file names the holder (PID and command). A killed holder's lock is released by the kernel,
    so a stale file is simply taken over. The file is removed on release; the inode is checked after
    locking, so a process that opened a file another one then removed tries again on the new one.
    """

    def __init__(self, run_dir: Path, command: str) -> None:
        self.path = Path(run_dir) / LOCK
        self.command = command
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        if fcntl is None:  # pragma: no cover - no advisory locks on this platform
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):  # e.g. ENOLCK: no locks here
                    os.close(fd)
                    print(f"ganforge: warning: {self.path.parent} cannot be locked ({e.strerror}); make sure no "
                          "other process writes this run", file=sys.stderr)
                    return self
                holder = self._holder(fd)
                os.close(fd)
                raise RunBusy(f"run folder {self.path.parent} is being written by {holder}; wait for it to end "
                              "(or stop it), then try again") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file was removed (released) between open and flock: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": self.command, "since": time.time()}).encode())
        self.fd = fd
        return self

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return f"process {int(info['pid'])} (ganforge {str(info.get('command', '?'))[:40]})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            if os.fstat(self.fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        os.close(self.fd)  # closing releases the flock
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# --------------------------------------------------------------------------- a new run folder

class NewRun:
    """A run folder being created, locked by this process; the run it replaces waits aside until
    :meth:`keep` (the new run's first checkpoint is on disk), and comes back if the new run fails first."""

    def __init__(self, run_dir: Path, lock: RunLock, aside: Path | None, made: Path | None) -> None:
        self.run_dir, self.lock, self.aside, self.made = run_dir, lock, aside, made
        self.kept = False

    def keep(self) -> None:
        """The new run has a checkpoint: the replaced run goes for good."""
        self.kept = True
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def undo(self) -> None:
        """The new run failed before its first checkpoint: put back what was there (the replaced run, an
        empty folder, or nothing at all)."""
        if self.kept:
            return
        if self.aside is not None and self.aside.is_dir():
            shutil.rmtree(self.run_dir, ignore_errors=True)
            os.replace(self.aside, self.run_dir)
            self.aside = None
        elif self.made is not None:  # the topmost folder this run created
            shutil.rmtree(self.made, ignore_errors=True)
        else:  # an empty folder the user made: empty again
            for entry in self.run_dir.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    def close(self) -> None:
        self.lock.release()


def create(run_dir: Path, overwrite: bool = False, command: str = "train") -> NewRun:
    """Create ``run_dir`` with its marker and lock it; an existing, non-empty folder only with ``overwrite``
    and only when it is a ganforge run that no process is writing (it is moved aside, see :class:`NewRun`)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file, not a folder; choose another --out")
    aside = None
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if overwrite and run_dir.is_symlink():
            raise ConfigError(f"--out {run_dir} is a symbolic link; give the folder it points to "
                              f"({run_dir.resolve()}) to replace that run")
        if not overwrite:
            raise ConfigError(
                f"run folder {run_dir} already exists and is not empty; use `ganforge resume {run_dir}` "
                "to continue it, --overwrite to start again, or another --out"
            )
        check_replaceable(run_dir)
        with RunLock(run_dir, command):  # refused while another process writes it
            aside = run_dir.with_name(f".{run_dir.name}.replaced-{os.getpid()}-{time.time_ns()}")
            os.replace(run_dir, aside)
        with contextlib.suppress(OSError):  # its lock file went aside with it and was released there
            (aside / LOCK).unlink()
    made = next((p for p in reversed([run_dir, *run_dir.parents]) if not p.exists()), None)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = RunLock(run_dir, command).acquire()
    except BaseException:
        if aside is not None:
            os.replace(aside, run_dir)
        elif made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    new = NewRun(run_dir, lock, aside, made)
    try:
        mark(run_dir)
    except BaseException:
        new.undo()
        new.close()
        raise
    return new


def prepare(run_dir: Path, overwrite: bool = False) -> None:
    """Create an empty, marked run folder (no lock held afterwards); see :func:`create`."""
    new = create(run_dir, overwrite)
    new.keep()
    new.close()


