"""The lab's model gallery: run folders directly under one root, opened through ``ganforge.sample.load_run``.

    gallery = Gallery("runs")
    gallery.list()                         # [{"name": "ring8", "kind": "2d", "views": ["scatter"], ...}, ...]
    run = gallery.open("ring8")            # a ToyRun / ImageRun (cached)
    gallery.open("broken")                 # GalleryError (422): "run 'broken' is unreadable: config.yaml ..."
    gallery.path("../etc")                 # GalleryError: only folders directly under the root

A name is one path component; its resolved folder (symlinks followed) must be a direct
child of the root and hold a ``config.yaml``. Nothing under the root is served as a raw
file: every answer is computed from a run loaded by ``load_run`` (``weights_only``
checkpoints, no pickled code).

A broken run folder (its ``config.yaml`` empty or unreadable, no checkpoint that can be read)
does not break the listing: :meth:`Gallery.list` gives it as ``{"name": ..., "unreadable":
"<one-line reason>", "views": []}`` and :meth:`Gallery.open` refuses it with that reason (HTTP
422). The listing's checks are cheap (the config is parsed, checkpoints are only checked to be
zip files); a run that passes them but then fails to load is remembered as unreadable until its
files change. A folder with a config but no checkpoint yet (a run just started) is not listed.

The shipped models (``ganforge pretrained``) are listed after the runs under the root, as
``pretrained:NAME`` with ``"pretrained": True``, so a first start with an empty ``--runs`` shows
something; they open like any run (read-only, from the package).

Each run type says which views it supports (:func:`views`): 2-D runs a scatter plot over
D's surface; image runs a sample grid and a latent interpolation slider, plus a class
picker when conditional and a caption box for text-to-image runs. A new run type (e.g. StyleGAN,
with truncation and style mixing) adds its views there and an endpoint for each in ``server.py``.
"""

from __future__ import annotations

import os
import re
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ganforge import pretrained
from ganforge.checkpoint import list_checkpoints
from ganforge.errors import GanforgeError
from ganforge.recipes import recipe_module

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # one path component, not starting with "."
MAX_RUNS = 500  # listed run folders
CACHE = 4  # loaded runs kept in memory
MAX_REASON = 200  # characters of the reason an unreadable run is given
# what reading a broken run folder raises besides GanforgeError (a config or checkpoint of the wrong shape)
BROKEN = (OSError, ValueError, TypeError, AttributeError, KeyError, IndexError, EOFError, RuntimeError,
          RecursionError, UnicodeError)


class GalleryError(GanforgeError):
    """A run name the gallery refuses (outside its root, not a run folder, unreadable); ``status`` is the HTTP code."""

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
    if recipe_module(cfg).class_conditional(cfg):  # k-means clusters are not classes a user picks
        out.append("classes")
    if cfg.recipe == "text2image":
        out.append("text")  # a caption box: the grid and the walk follow the sentence typed
    return out


class Gallery:
    """Run folders directly under ``root``.

    Args:
        root: the folder given with ``ganforge lab --runs``; it need not exist yet (saved runs create it).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._failed: dict[str, tuple[tuple[Any, ...], str]] = {}  # name -> (files' stamp, why load_run failed)
        self._lock = threading.Lock()

    def check_name(self, name: str) -> str:
        """``name`` if it is a plain folder name; a GalleryError (403) otherwise."""
        if not isinstance(name, str) or not NAME.match(name):
            raise GalleryError(f"run name {name!r} is refused: use letters, digits, '.', '_' and '-' "
                               "(one folder name, not starting with '.')", status=403)
        return name

    def path(self, name: str) -> Path:
        """The run folder ``root/name`` (refused unless it resolves to a direct child of the root with a config),
        or the shipped model's folder for ``pretrained:NAME``."""
        if isinstance(name, str) and pretrained.is_pretrained(name):
            try:
                return pretrained.locate(name)
            except GanforgeError as e:
                raise GalleryError(str(e)) from None
        p = (self.root / self.check_name(name)).resolve()
        if p.parent != self.root:
            raise GalleryError(f"run {name!r} is outside the gallery folder {self.root}", status=403)
        if not (p / "config.yaml").is_file():
            raise GalleryError(f"no run folder {name!r} under {self.root}")
        return p

    def reason(self, p: Path, e: BaseException) -> str:
        """One short line for why the run folder ``p`` cannot be read: paths inside it relative, at most MAX_REASON."""
        text = " ".join(str(e).split()) or type(e).__name__
        if not isinstance(e, GanforgeError):
            text = f"{type(e).__name__}: {text}"
        text = text.replace(f"{p}{os.sep}", "").replace(str(p), ".")
        return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "\u2026"

    def inspect(self, p: Path) -> tuple[Any, list[Path], Path | None]:
        """The run's config, its checkpoints and the newest that looks readable (a zip file; None: none does).

        A GalleryError (422) with the reason when the config is empty or cannot be read."""
        from ganforge.runfolder import read_config

        try:
            if not (p / "config.yaml").read_text(errors="replace").strip():
                raise GalleryError("config.yaml is empty", status=422)
            cfg = read_config(p)
            views(cfg)  # a config whose sections do not fit any run type fails here, not in the listing
            ckpts = list_checkpoints(p)
            usable = next((c for c in reversed(ckpts) if zipfile.is_zipfile(c)), None)
        except GalleryError:
            raise
        except (GanforgeError, *BROKEN) as e:
            raise GalleryError(self.reason(p, e), status=422) from None
        return cfg, ckpts, usable

    def _stamp(self, p: Path, ckpts: list[Path]) -> tuple[Any, ...]:
        """What a remembered failure is valid for: the config's and the newest checkpoint's names and times."""
        try:
            return ((p / "config.yaml").stat().st_mtime_ns, *((c.name, c.stat().st_mtime_ns) for c in ckpts[-1:]))
        except OSError:
            return ()

    def _entry(self, name: str, p: Path) -> dict[str, Any] | None:
        """The listing's entry for one run folder; None for a folder without checkpoints yet."""
        try:
            cfg, ckpts, usable = self.inspect(p)
        except GalleryError as e:
            return {"name": name, "unreadable": str(e), "views": []}
        if not ckpts:
            return None  # a run just started (or a config written by hand): nothing to show yet
        if usable is None:
            return {"name": name, "unreadable": self.reason(p, GalleryError(
                f"no readable checkpoint: {ckpts[-1].relative_to(p)} is not a checkpoint file (truncated or corrupt)"
                if len(ckpts) == 1 else f"none of its {len(ckpts)} checkpoints is a checkpoint file (truncated or "
                "corrupt)")), "views": []}
        with self._lock:
            failed = self._failed.get(name)
        if failed is not None and failed[0] == self._stamp(p, ckpts):
            return {"name": name, "unreadable": failed[1], "views": []}
        try:
            kind = {"pairs": "translation", "images": "image", "toy": "2d"}[cfg.data_kind]
            v = views(cfg)
            return {"name": name, "kind": kind, "data": cfg.data.name, "loss": cfg.loss.name,
                    "step": int(usable.stem.split("_")[1]), "views": v,
                    "num_classes": int(cfg.model.num_classes or 0) if "classes" in v else 0, "unreadable": None}
        except (GanforgeError, *BROKEN) as e:
            return {"name": name, "unreadable": self.reason(p, e), "views": []}

    def list(self) -> list[dict[str, Any]]:
        """Every run folder under the root: name, kind, data, loss, step of the newest checkpoint, views.

        A broken run is listed as ``{"name": ..., "unreadable": reason, "views": []}`` (good runs have
        ``"unreadable": None``); folders that are not run folders (no ``config.yaml``, a refused name or
        a link out of the root) and runs without a checkpoint yet are left out."""
        try:
            children = sorted(self.root.iterdir())[:MAX_RUNS] if self.root.is_dir() else []
        except OSError as e:  # the folder of runs itself cannot be read: an empty gallery, with the reason
            raise GalleryError(f"cannot list the runs folder {self.root}: {e.strerror or e}", status=422) from None
        out = []
        for child in children:
            try:
                p = self.path(child.name)
            except (GanforgeError, OSError, RuntimeError):
                continue  # not a run folder, a name the gallery refuses, a link out of the root (or a loop)
            entry = self._entry(child.name, p)
            if entry is not None:
                out.append({**entry, "pretrained": False})
        return out + self.shipped()

    def shipped(self) -> list[dict[str, Any]]:
        """The pretrained models this installation holds, as entries named ``pretrained:NAME`` (``"pretrained":
        True``, with their description and headline score), listed after the user's runs even when
        ``--runs`` is empty, so that a first start has something to show."""
        from ganforge.viz.report import format_scores

        out = []
        for name, description, scores in pretrained.available():
            entry = self._entry(name, pretrained.locate(name))
            if entry is not None:
                out.append({**entry, "pretrained": True, "description": description,
                            "score": format_scores(pretrained.headline(scores, limit=2))})
        return out

    def open(self, name: str) -> Any:
        """The run loaded by ``ganforge.sample.load_run`` (cached by name and newest checkpoint).

        GalleryError: 403 / 404 for a refused or missing name, 404 without a checkpoint, 422 (with the
        reason) for a run that cannot be read; such a run is then listed as unreadable."""
        from ganforge.sample import load_run

        p = self.path(name)
        try:
            _, ckpts, _ = self.inspect(p)
        except GalleryError as e:
            raise GalleryError(f"run {name!r} is unreadable: {e}", status=422) from None
        if not ckpts:
            raise GalleryError(f"run {name!r} has no checkpoint yet")
        key = (name, ckpts[-1].name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            run = load_run(p)
        except (GanforgeError, *BROKEN) as e:
            reason = self.reason(p, e)
            with self._lock:
                self._failed[name] = (self._stamp(p, ckpts), reason)
                while len(self._failed) > MAX_RUNS:
                    self._failed.pop(next(iter(self._failed)))
            raise GalleryError(f"run {name!r} is unreadable: {reason}", status=422) from None
        with self._lock:
            self._failed.pop(name, None)
            self._cache[key] = run
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
        return run
