"""A run folder on disk: its ``config.yaml`` and the checkpoints beside it, read and written safely.

    from ganforge.runfolder import read_config, write_config
    cfg = read_config("runs/ring8")         # a Config; ganforge 0.1's flat config.yaml is translated
    write_config(cfg, Path("runs/ring8"))   # atomic: a reader never sees half a file

Both the training loop and the inference side (``ganforge.sample``) use this module, so neither
imports the other to find a run's config. Checkpoint files themselves are
:mod:`ganforge.checkpoint`'s.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ganforge.checkpoint import atomic_write_text
from ganforge.config import Config, to_dict
from ganforge.errors import CheckpointError, ConfigError
from ganforge.recipes import config_from_dict


def read_config(run_dir: str | Path) -> Config:
    """The run's config from its ``config.yaml``; a clear error when the folder is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a ganforge run folder (no config.yaml)")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} cannot be read ({str(e).splitlines()[0]})") from None
    try:
        return config_from_dict(d)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def write_config(cfg: Config, run_dir: Path) -> None:
    """Write ``config.yaml`` atomically (a temporary file in the folder, then a rename)."""
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))


def prepare(run_dir: Path, overwrite: bool = False) -> None:
    """Create an empty run folder; refuse to reuse a non-empty one unless ``overwrite``."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"run folder {run_dir} already exists and is not empty; use `ganforge resume {run_dir}` "
                "to continue it, --overwrite to start again, or another --out"
            )
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"{run_dir} is not a ganforge run folder (no config.yaml); refusing to overwrite it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
