"""Translation data: pairs {A, B} for pix2pix, two unpaired domains for CycleGAN.

    s = translation_data(cfg.data, "train", unpaired=False)    # PairSet: s.A (N, C, S, S), s.B (N, C, S, S) uint8
    a, b = split_aligned(img)                                   # (C, H, 2W) -> (C, H, W), (C, H, W)

Your folder (``data.name=pairs``, ``data.root=FOLDER``) in one of three layouts (``data.layout``):

* ``aligned``: pix2pix's format, A and B side by side in one file (A on the left). Files in ``train/`` and
  ``test/`` (or ``val/``) sub-folders, or directly in the folder (then 10% are held out as test).
* ``folders``: ``A/`` and ``B/`` (or ``train/A``, ``train/B``, ``test/A``, ``test/B``) holding files matched by
  name without extension: ``A/0001.png`` pairs with ``B/0001.jpg``.
* ``unpaired``: CycleGAN's ``trainA/ trainB/ testA/ testB/`` (without test folders 10% of each domain is held out).

``auto`` picks the layout from the folder's sub-folders. Images are resized to ``data.size`` (shorter side, then
a centre crop); ``data.channels=null`` gives both domains 3 channels when either holds colour, else 1.
Built-in tasks (``colordigits``, ``inpaint``, ``inpaint-digits``, ``colorize``) come from ``data/synth.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ganforge.data.formats import IMAGE_EXTS, read_images
from ganforge.data.imageset import convert, fraction_split
from ganforge.data.npfiles import short
from ganforge.errors import DataError

if TYPE_CHECKING:
    from ganforge.config import PairData as DataConfig

TEST_FRACTION = 0.1
_SKIP_HINT = "(set data.skip_bad=true to skip unreadable files)"


@dataclass
class PairSet:
    """One split of translation data. Paired sets have ``len(A) == len(B)`` with A[i] <-> B[i]."""

    A: torch.Tensor  # (N_A, C, S, S) uint8
    B: torch.Tensor  # (N_B, C, S, S) uint8
    paired: bool
    name: str
    split: str
    y_A: torch.Tensor | None = None  # (N_A,) labels when the task has them (digits)
    y_B: torch.Tensor | None = None
    names: list[str] | None = None  # the A files' names (user folders), index-aligned with A
    # colordigits' training split: patches that training re-pairs with the digits on every batch (see
    # data/synth.py); ``textured`` names the side made from them ("B", or "A" after direction=BtoA)
    textures: torch.Tensor | None = None  # (N_T, C, S, S) uint8
    textured: str = "B"
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (data.skip_bad=true)

    def __len__(self) -> int:
        return len(self.A)


# ---------------------------------------------------------------- reading files

def split_aligned(img: torch.Tensor, source: str = "image") -> tuple[torch.Tensor, torch.Tensor]:
    """pix2pix's aligned format: (C, H, 2W) -> A = left half (C, H, W), B = right half (C, H, W)."""
    if img.ndim != 3:
        raise DataError(f"{source}: expected a (C, H, W) image, got shape {tuple(img.shape)}")
    W2 = img.shape[-1]
    if W2 % 2:
        raise DataError(f"{source}: cannot split into A|B halves: its width {W2} is odd (an aligned file holds "
                        "A and B side by side, each half as wide)")
    return img[..., : W2 // 2], img[..., W2 // 2:]


def _image_files(folder: Path) -> list[Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                       and not p.name.startswith(".")), key=lambda p: p.name)
    except OSError as e:
        raise DataError(f"cannot list folder {short(folder, 200)}: {e.strerror or e}") from None


def _decode(files: list[Path], where: str, skip_bad: bool) -> list[torch.Tensor | None]:
    """The files decoded in order; with ``skip_bad`` an unreadable one is None, else the first raises."""
    return read_images(files, where, skip_bad=skip_bad, hint=_SKIP_HINT)


def _none_readable(where: Path | str, n: int) -> DataError:
    return DataError(f"none of the {n} image file(s) in {where} could be read (all skipped: data.skip_bad=true)")


def _finish(imgs: list[torch.Tensor], files: list[str], size: int | None, channels: int, where: str) -> torch.Tensor:
    """Stack images at one size and ``channels``; with ``size`` None they must already share a size."""
    if size is None:
        shapes = {tuple(t.shape[-2:]) for t in imgs}
        if len(shapes) > 1:
            (h, w), i = imgs[0].shape[-2:], next(i for i, t in enumerate(imgs) if t.shape[-2:] != imgs[0].shape[-2:])
            raise DataError(f"images under {where} differ in size ({files[0]} is {w}x{h}, {files[i]} is "
                            f"{imgs[i].shape[-1]}x{imgs[i].shape[-2]}); set data.size (e.g. data.size=256) to "
                            "resize them all")
    return torch.stack([convert(t, size, channels) for t in imgs])


def _channels(channels: int | None, *groups: list[torch.Tensor]) -> int:
    if channels is not None:
        return channels
    return 3 if any(t.shape[0] == 3 for g in groups for t in g) else 1


def _pick(n: int, split: str, where: Path) -> np.ndarray:
    idx = fraction_split(n, TEST_FRACTION)[split]
    if len(idx) == 0:
        raise DataError(f"{where}: the {split} split is empty ({n} item(s) in all); add images or a test folder")
    return idx


# ---------------------------------------------------------------- layouts

def detect_layout(root: Path) -> str:
    """``unpaired`` (trainA/), ``folders`` (A/ and B/, or train/A/), else ``aligned``."""
    if (root / "trainA").is_dir() or (root / "trainB").is_dir():
        return "unpaired"
    if ((root / "A").is_dir() and (root / "B").is_dir()) or (root / "train" / "A").is_dir():
        return "folders"
    return "aligned"


def load_aligned(root: Path, split: str, size: int | None, channels: int | None, skip_bad: bool = False) -> PairSet:
    """pix2pix's aligned files: ``root/train``, ``root/test`` (or ``val``), or ``root`` itself (10% test)."""
    sub = root / split if (root / split).is_dir() else None
    if sub is None and split == "test" and (root / "val").is_dir():
        sub = root / "val"
    if sub is None and (root / "train").is_dir():
        raise DataError(f"{root} has train/ but no {split}/ folder (or val/) of aligned A|B files")
    folder = sub or root
    files = _image_files(folder)
    if not files:
        raise DataError(f"no images in {folder} (aligned layout: each file holds A|B side by side; looked for "
                        f"{', '.join(IMAGE_EXTS)})")
    if sub is None:
        files = [files[i] for i in _pick(len(files), split, folder)]
    decoded = _decode(files, str(folder), skip_bad)
    skipped = [str(p) for p, t in zip(files, decoded, strict=True) if t is None]
    files = [p for p, t in zip(files, decoded, strict=True) if t is not None]
    decoded = [t for t in decoded if t is not None]
    if not files:
        raise _none_readable(folder, len(skipped))
    halves = [split_aligned(t, str(p)) for p, t in zip(files, decoded, strict=True)]
    A, B = [a for a, _ in halves], [b for _, b in halves]
    c = _channels(channels, A, B)
    names = [p.name for p in files]
    return PairSet(_finish(A, names, size, c, str(folder)), _finish(B, names, size, c, str(folder)), True,
                   str(root), split, names=names, skipped=skipped)


def _match(dir_a: Path, dir_b: Path) -> list[tuple[Path, Path]]:
    fa, fb = _image_files(dir_a), _image_files(dir_b)
    for d, f in ((dir_a, fa), (dir_b, fb)):
        if not f:
            raise DataError(f"{d} holds no images (looked for {', '.join(IMAGE_EXTS)})")
    a = {p.stem: p for p in fa}
    b = {p.stem: p for p in fb}
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        def few(names: list[str], d: Path) -> str:
            return f"{len(names)} in {d} ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        parts = [few(only_a, dir_a)] if only_a else []
        parts += [few(only_b, dir_b)] if only_b else []
        raise DataError(f"paired folders must hold files of the same names (without extension); unmatched: "
                        f"{'; '.join(parts)}")
    return [(a[k], b[k]) for k in sorted(a)]


def load_folders(root: Path, split: str, size: int | None, channels: int | None, skip_bad: bool = False) -> PairSet:
    """``A/`` + ``B/`` matched by name (10% test), or ``train/A``, ``train/B``, ``test/A``, ``test/B``."""
    if (root / "train" / "A").is_dir():
        base = root / split
        if not (base / "A").is_dir() or not (base / "B").is_dir():
            raise DataError(f"{root} has train/A but no {split}/A and {split}/B folders")
        pairs = _match(base / "A", base / "B")
    else:
        for d in ("A", "B"):
            if not (root / d).is_dir():
                raise DataError(f"{root} has no {d}/ folder (folders layout: A/ and B/ with files matched by name)")
        pairs = _match(root / "A", root / "B")
        pairs = [pairs[i] for i in _pick(len(pairs), split, root)]
    A, B, kept, skipped = [], [], [], []
    decoded = iter(_decode([p for pair in pairs for p in pair], str(root), skip_bad))  # a0, b0, a1, b1, ...
    for (pa, pb), a, b in zip(pairs, decoded, decoded, strict=False):
        if a is None or b is None:  # skip_bad: a pair with an unreadable side is left out
            skipped += [str(q) for q, t in ((pa, a), (pb, b)) if t is None]
            continue
        if a.shape[-2:] != b.shape[-2:]:
            raise DataError(f"a pair must share its size: {pa} is {a.shape[-1]}x{a.shape[-2]} but {pb} is "
                            f"{b.shape[-1]}x{b.shape[-2]}")
        A.append(a)
        B.append(b)
        kept.append((pa, pb))
    if not kept:
        raise _none_readable(root, 2 * len(pairs))
    c = _channels(channels, A, B)
    names = [pa.name for pa, _ in kept]
    return PairSet(_finish(A, names, size, c, str(root)), _finish(B, [pb.name for _, pb in kept], size, c, str(root)),
                   True, str(root), split, names=names, skipped=skipped)


def load_unpaired(root: Path, split: str, size: int | None, channels: int | None, skip_bad: bool = False) -> PairSet:
    """CycleGAN's ``trainA/ trainB/ testA/ testB/``; without testA/testB, 10% of each train folder is test."""
    doms: dict[str, list[torch.Tensor]] = {}
    names: dict[str, list[str]] = {}
    skipped: list[str] = []
    for d in ("A", "B"):
        train = root / f"train{d}"
        if not train.is_dir():
            raise DataError(f"{root} has no train{d}/ folder (unpaired layout: trainA/ trainB/ testA/ testB/)")
        folder = root / f"{split}{d}"
        held_out = split == "test" and not folder.is_dir()
        folder = train if held_out else folder
        files = _image_files(folder)
        if not files:
            raise DataError(f"domain {d} is empty: {folder} holds no images (looked for {', '.join(IMAGE_EXTS)})")
        if held_out or (split == "train" and not (root / f"test{d}").is_dir()):
            files = [files[i] for i in _pick(len(files), split, folder)]
        decoded = _decode(files, str(folder), skip_bad)
        skipped += [str(p) for p, t in zip(files, decoded, strict=True) if t is None]
        doms[d] = [t for t in decoded if t is not None]
        names[d] = [p.name for p, t in zip(files, decoded, strict=True) if t is not None]
        if not doms[d]:
            raise _none_readable(folder, len(files))
    c = _channels(channels, doms["A"], doms["B"])
    A = _finish(doms["A"], names["A"], size, c, str(root / f"{split}A"))
    B = _finish(doms["B"], names["B"], size, c, str(root / f"{split}B"))
    if A.shape[-2:] != B.shape[-2:]:
        raise DataError(f"domains A ({A.shape[-1]} px) and B ({B.shape[-1]} px) differ in size under {root}; "
                        "set data.size to resize both")
    return PairSet(A, B, False, str(root), split, names=names["A"], skipped=skipped)


def load_pairs(root: str | Path, split: str, layout: str = "auto", size: int | None = None,
               channels: int | None = None, skip_bad: bool = False) -> PairSet:
    """The user's translation data at ``root`` in ``layout`` (see the module docstring). ``skip_bad``: leave
    out unreadable files (a pair with one unreadable side) and list them in ``skipped``, instead of failing."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data.root {root} does not exist")
    if root.is_file():
        raise DataError(f"data.root {root} is a file, not a folder (translation data is a folder of aligned A|B "
                        "files, A/ + B/, or trainA/ trainB/)")
    if not root.is_dir():
        raise DataError(f"data.root {root} is not a folder")
    if layout == "auto":
        layout = detect_layout(root)
    loaders = {"aligned": load_aligned, "folders": load_folders, "unpaired": load_unpaired}
    if layout not in loaders:
        raise DataError(f"data.layout must be one of auto, {', '.join(loaders)}, got {short(layout)!r}")
    return loaders[layout](root, split, size, channels, skip_bad)


# ---------------------------------------------------------------- built-in tasks and the config entry

def _rgb(x: torch.Tensor, channels: int) -> torch.Tensor:
    return convert(x, None, channels)


def builtin(name: str, split: str, size: int, channels: int | None, hole: float, unpaired: bool) -> PairSet:
    """A built-in task's split (``data/synth.py``). ``unpaired`` colordigits draw A and B from disjoint digits."""
    from ganforge.data import synth

    y = textures = None
    if name == "colordigits":
        A, B, y = synth.colordigits(split, size)
        if split == "train" and not unpaired:
            textures = synth.colordigit_textures(size)
    elif name == "inpaint":
        A, B = synth.inpaint(split, size, hole)
    elif name == "inpaint-digits":
        A, B, y = synth.inpaint(split, size, hole, digits=True)
    elif name == "colorize":
        A, B = synth.colorize(split, size)
    else:
        raise DataError(f"unknown translation task {name!r}")
    c = channels or (3 if 3 in (A.shape[1], B.shape[1]) else 1)
    A, B = _rgb(A, c), _rgb(B, c)
    if unpaired:  # the two domains from disjoint images: even indices for A, odd for B
        return PairSet(A[0::2], B[1::2], False, name, split, None if y is None else y[0::2],
                       None if y is None else y[1::2])
    return PairSet(A, B, True, name, split, y, y, textures=None if textures is None else _rgb(textures, c))


_CACHE: dict[tuple, PairSet] = {}


def translation_data(data: DataConfig, split: str = "train", unpaired: bool = False) -> PairSet:
    """The translation data a config's ``data`` section describes, with ``data.direction`` applied (BtoA swaps).

    ``unpaired``: for CycleGAN; built-in tasks then use disjoint images per domain, paired user data is
    used as two unpaired domains.
    """
    skip_bad = bool(getattr(data, "skip_bad", False))
    key = (data.name, data.root, data.layout, data.size, data.channels, data.hole, data.direction, skip_bad, split,
           unpaired)
    if key in _CACHE:
        return _CACHE[key]
    if data.name == "pairs":
        s = load_pairs(data.root, split, data.layout, data.size, data.channels, skip_bad)
    else:
        s = builtin(data.name, split, data.size or 32, data.channels, data.hole, unpaired)
    if data.direction == "BtoA":
        s = PairSet(s.B, s.A, s.paired, s.name, s.split, s.y_B, s.y_A, None if s.paired is False else s.names,
                    s.textures, "A" if s.textured == "B" else "B", skipped=s.skipped)
    if len(_CACHE) >= 4:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = s
    return s
