"""The lab's model gallery: run folders directly under one root, opened through ``ganforge.sample.load_run``.

    gallery = Gallery("runs")
    gallery.list()                         # [{"name": "ring8", "kind": "2d", "views": ["scatter"], ...}, ...]
    run = gallery.open("ring8")            # a ToyRun / ImageRun (cached)
    gallery.path("../etc")                 # GalleryError: only folders directly under the root

A name is one path component; its resolved folder (symlinks followed) must be a direct
child of the root and hold a ``config.yaml``. Nothing under the root is served as a raw
file: every answer is computed from a run loaded by ``load_run`` (``weights_only``
checkpoints, no pickled code).

Each run type says which views it supports (:func:`views`): 2-D runs a scatter plot over
D's surface; image runs a sample grid and a latent interpolation slider, plus a class
picker when conditional. A new run type (e.g. StyleGAN, with truncation and style mixing)
adds its views there and an endpoint for each in ``server.py``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ganforge.checkpoint import list_checkpoints
from ganforge.errors import GanforgeError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # one path component, not starting with "."
MAX_RUNS = 500  # listed run folders
CACHE = 4  # loaded runs kept in memory


class GalleryError(GanforgeError):
    """A run name the gallery refuses (outside its root, not a run folder); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def views(cfg: Any) -> list[str]:
    """What the gallery can show for a run with this config."""
    if cfg.data_kind == "pairs":
        return ["triptychs"]  # held-out input | output | target (cyclegan: input | G(input) | F(G(input)))
    if cfg.data_kind == "toy":
        return ["scatter"]
    out = ["grid", "interpolate"]
    if cfg.recipe == "stylegan":
        out.append("mix")  # the style-mixing grid by coarse / middle / fine layers
    # (StyleGAN's model section has no labels; k-means clusters are not classes a user picks)
    if getattr(cfg.model, "cond", "none") != "none" and not cfg.model.clusters:
        out.append("classes")
    return out


class Gallery:
    """Run folders directly under ``root``.

    Args:
        root: the folder given with ``ganforge lab --runs``; it need not exist yet (saved runs create it).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def check_name(self, name: str) -> str:
        """``name`` if it is a plain folder name; a GalleryError (403) otherwise."""
        if not isinstance(name, str) or not NAME.match(name):
            raise GalleryError(f"run name {name!r} is refused: use letters, digits, '.', '_' and '-' "
                               "(one folder name, not starting with '.')", status=403)
        return name

    def path(self, name: str) -> Path:
        """The run folder ``root/name``; refused unless it resolves to a direct child of the root with a config."""
        p = (self.root / self.check_name(name)).resolve()
        if p.parent != self.root:
            raise GalleryError(f"run {name!r} is outside the gallery folder {self.root}", status=403)
        if not (p / "config.yaml").is_file():
            raise GalleryError(f"no run folder {name!r} under {self.root}")
        return p

    def list(self) -> list[dict[str, Any]]:
        """Every run folder under the root: name, kind, data, loss, step of the newest checkpoint, views."""
        from ganforge.runfolder import read_config

        if not self.root.is_dir():
            return []
        out = []
        for child in sorted(self.root.iterdir())[:MAX_RUNS]:
            try:
                p = self.path(child.name)
                cfg = read_config(p)
            except (GanforgeError, OSError, ValueError, TypeError, AttributeError):
                continue  # not a run folder, or one with a config this version cannot read
            ckpts = list_checkpoints(p)
            if not ckpts:
                continue
            kind = {"pairs": "translation", "images": "image", "toy": "2d"}[cfg.data_kind]
            out.append({"name": child.name, "kind": kind, "data": cfg.data.name,
                        "loss": cfg.loss.name, "step": int(ckpts[-1].stem.split("_")[1]), "views": views(cfg),
                        "num_classes": int(cfg.model.num_classes or 0) if "classes" in views(cfg) else 0})
        return out

    def open(self, name: str) -> Any:
        """The run loaded by ``ganforge.sample.load_run`` (cached by name and newest checkpoint)."""
        from ganforge.sample import load_run

        p = self.path(name)
        ckpts = list_checkpoints(p)
        if not ckpts:
            raise GalleryError(f"run {name!r} has no checkpoint yet")
        key = (name, ckpts[-1].name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        run = load_run(p)
        with self._lock:
            self._cache[key] = run
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
        return run
