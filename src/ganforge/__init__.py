"""ganforge: a GAN toolkit for learning and practice.

The Python API mirrors the CLI::

    import ganforge
    run = ganforge.train("ring8", steps=2000)      # like `ganforge train ring8 --set train.steps=2000`
    run.dir                                         # the run folder it wrote (printed: "run folder: runs/ring8-...")
    run.plot()                                      # real vs generated, D's decision surface
    run.curves()                                    # losses, gradient norms, metrics over training
    run.evaluate()                                  # like `ganforge eval`: model vs real floor
    x = run.sample(2500)                            # like `ganforge sample`: (2500, 2) float32
    run = ganforge.train("inpaint", steps=500)      # pix2pix / cyclegan: image-to-image translation
    ganforge.translate("runs/inpaint", "photos/", "out/")   # like `ganforge translate`
    y = run.translate(x)                            # (N, C, S, S) in [-1, 1] -> translated
    run = ganforge.load_run("runs/ring8")           # an existing run folder
    run = ganforge.load_run("runs/style")           # a StyleGAN run (recipe: stylegan) adds, like the CLI:
    run.sample(16, truncation=0.7); run.save_mix("mix.png", layers="coarse"); run.save_noise("noise.png")
    run.project("digit.png", space="w+")            # `ganforge project`; run.path_length("w")
    G = ganforge.load_generator("ring8.safetensors")  # `ganforge export`: the generator alone, a plain nn.Module
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ganforge._version import __version__
from ganforge.config import Config
from ganforge.errors import CheckpointError, ConfigError, DataError, GanforgeError
from ganforge.export import load_generator
from ganforge.recipes import all_keys, list_presets, load_config, resolve
from ganforge.sample import Run, load_run

__all__ = ["train", "resume", "translate", "load_run", "load_generator", "load_config", "resolve", "list_presets",
           "Run", "Config",
           "GanforgeError",
           "ConfigError", "DataError", "CheckpointError", "__version__"]


def _override_key(name: str) -> str:
    """``steps`` -> ``train.steps``; ``loss`` -> ``loss``; ``train__steps`` -> ``train.steps``."""
    name = name.replace("__", ".")
    keys = all_keys()
    if name in keys or name == "loss":  # loss=... is short for loss.name=...
        return name
    matches = [k for k in keys if k.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(f"'{name}' is ambiguous ({', '.join(matches)}); pass it as e.g. "
                          f"{matches[0].replace('.', '__')}=...")
    return name  # let load_config name the nearest key


def _overrides(kwargs: dict[str, Any]) -> list[str]:
    def fmt(v: Any) -> str:
        return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    return [f"{_override_key(k)}={fmt(v)}" for k, v in kwargs.items()]


def train(preset: str = "ring8", out: str | Path | None = None, *, device: str | None = None,
          overwrite: bool = False, overrides: list[str] | None = None, **fields: Any) -> Run:
    """Train from a preset or YAML file and return the loaded :class:`Run`.

    Args:
        preset: a preset name (``ganforge presets``) or a YAML path.
        out: run folder; default ``runs/<preset>-<time>``. It is printed when training starts, and is
            ``run.dir`` of the returned run.
        device: ``auto``, ``cpu`` or ``cuda``.
        overwrite: replace an existing run folder.
        overrides: ``KEY=VALUE`` strings as for ``--set``.
        **fields: config fields by full dotted name with ``__`` for dots (``train__steps=3000``) or by a
            unique last component (``steps=3000``, ``loss="wgan-gp"``, ``pack=2``).
    """
    from ganforge import runner

    cfg = load_config(preset, (overrides or []) + _overrides(fields))
    if out is None:
        out = Path("runs") / f"{Path(preset).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    from ganforge.config import step_cap

    limit = f"{cfg.train.steps} steps" if step_cap(cfg.train) else f"a {cfg.train.max_minutes:g}-minute budget"
    _say(f"run folder: {out} ({Path(preset).stem}, {limit})")
    return _done(runner.train(cfg, out, device=device, overwrite=overwrite))


def resume(run_dir: str | Path, *, device: str | None = None, **fields: Any) -> Run:
    """Continue a run from its last checkpoint (``steps=N`` to train longer) and return it."""
    from ganforge import runner

    _say(f"run folder: {run_dir} (resumed)")
    return _done(runner.resume(run_dir, _overrides(fields), device=device))


def _say(line: str) -> None:
    """Print where the API writes, as the CLI does (once under torchrun)."""
    from ganforge import dist

    if dist.is_main():
        print(line, flush=True)


def _done(run_dir: Path) -> Run:
    """The trained run, after saying where its report is (``run.dir`` is the folder)."""
    if (run_dir / "report.html").is_file():
        _say(f"report:     {run_dir / 'report.html'}")
    return load_run(run_dir)


def translate(run_dir: str | Path, inputs: str | Path, out: str | Path, direction: str = "AtoB") -> list[Path]:
    """Translate an image file or a folder of images with a pix2pix / cyclegan run (like ``ganforge translate``);
    returns the written files."""
    run = load_run(run_dir)
    if not run.can("translate"):
        raise GanforgeError(f"{run_dir} is not a translation run (recipe pix2pix or cyclegan)")
    return run.translate_folder(inputs, out, direction=direction)
