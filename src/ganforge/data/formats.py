"""Readers for the image data users bring: IDX files, ``.npz`` arrays, image folders and single images.

:func:`ganforge.data.images.load_images` (``name="images"``, ``root=PATH``) picks the reader from
the path; the readers can also be called directly:

* :func:`load_npz`: a ``.npz`` file with ``images`` or ``x`` ((N, H, W), (N, H, W, C) or (N, C, H, W),
  C in {1, 3}; uint8, or float in [0, 1], [-1, 1] or [0, 255]) and optional ``labels``/``y`` and ``classes``;
* :func:`load_idx_folder`: a folder of IDX files as MNIST / Fashion-MNIST / EMNIST ship them
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-*`` or ``test-*``;
  EMNIST's ``emnist-*`` files are transposed back); :func:`read_idx` reads one IDX file;
* :func:`load_folder`: a folder of .png/.jpg/.jpeg/.webp/.bmp images (``IMAGE_EXTS``), searched
  recursively. Immediate sub-folders that hold images are classes (sorted names -> labels 0..K-1);
  with none, the set is unlabelled;
* :func:`read_image` decodes one image file, :func:`read_images` many, with threads and a progress bar;
* :func:`read_captions`: a folder's `captions.jsonl`, or a `.txt` of captions beside each image.

Usage::

    s = load_npz(Path("faces.npz"), "train", test_fraction=0.1)  # ImageSet at the native size
    x = read_idx("train-images-idx3-ubyte.gz")                     # (60000, 28, 28) uint8
    t = read_image(Path("cat.png"))                                # (3, H, W) uint8

``load_npz`` and ``load_idx_folder`` return the native size and channels (``load_images`` converts
afterwards); ``load_folder`` decodes straight to the target size and channels. Sets without their
own test files hold out ``test_fraction`` of the items (:func:`~ganforge.data.imageset.fraction_split`).

Every fault is one :class:`~ganforge.errors.DataError` naming the file: headers are checked before
memory is allocated (an IDX or .npy header promising more than the file holds; an image claiming more
than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, a decompression bomb, is an unreadable image that
``skip_bad`` skips), and labels must be integers in 0..``MAX_CLASSES``-1.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ganforge.data.imageset import ImageSet, convert, fraction_split
from ganforge.data.npfiles import check_file, load_npz_arrays, short
from ganforge.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
PROGRESS_FROM = 1000  # image files: folders this large show a progress bar while they are decoded
MAX_CLASSES = 10_000  # labels 0..MAX_CLASSES-1: a label beyond is a corrupt file, not a class
GZIP_MAX_RATIO = 1100  # deflate expands at most ~1032x: a .gz header promising more is corrupt

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
# what PIL raises on bad files; a header claiming more than Image.MAX_IMAGE_PIXELS is refused as a
# decompression bomb (Pillow errors above twice that and only warns above it: both are errors here)
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError,
                Image.DecompressionBombWarning, MemoryError)
_SKIP_HINT = "(set data.skip_bad=true to skip unreadable files)"


# ---------------------------------------------------------------- shared steps


def _labels(y: np.ndarray, source: str, n: int) -> torch.Tensor:
    """(n,) int64 class labels in 0..MAX_CLASSES-1, checked: integers, one per image, no absurd class count."""
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{source}: labels must have shape ({n},) to match the images, got {short(tuple(y.shape))}")
    if not np.issubdtype(y.dtype, np.integer):  # bool, float, complex, strings
        raise DataError(f"{source}: labels must be integers, got dtype {short(y.dtype)}")
    if n and y.min() < 0:
        raise DataError(f"{source}: labels must be >= 0, got {int(y.min())}")
    if n and int(y.max()) >= MAX_CLASSES:  # before the cast: uint64 labels >= 2**63 would wrap to negative
        raise DataError(f"{source}: labels go up to {int(y.max())}, but at most {MAX_CLASSES} classes "
                        f"(labels 0..{MAX_CLASSES - 1}) are allowed")
    return torch.from_numpy(y.astype(np.int64))


def _class_names(y: torch.Tensor | None, names: np.ndarray | None, source: str) -> list[str]:
    """Class names: ``names`` (a .npz's ``classes``) when given, else "0".."K-1" for labels up to K-1."""
    if y is None:
        return []
    k = int(y.max()) + 1 if len(y) else 0
    if names is None:
        return [str(c) for c in range(k)]
    if names.ndim != 1 or not 0 < len(names) <= MAX_CLASSES or names.dtype.kind not in "USiu":
        raise DataError(f"{source}['classes'] must be 1 to {MAX_CLASSES} names in a 1-D array of strings, got "
                        f"shape {short(tuple(names.shape))} dtype {short(names.dtype)}")
    out = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in names.tolist()]
    if len(out) < k:
        raise DataError(f"{source}: labels go up to {k - 1} but 'classes' names only {len(out)}")
    return out


def _empty_split(source: object, split: str, n: int, test_fraction: float) -> DataError:
    what = "nothing is held out" if test_fraction == 0 else f"{test_fraction:.0%} of them are held out for testing"
    return DataError(f"{source}: the {split} split is empty ({n} item(s) in all; {what}); add images")


# ---------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (``.gz`` or plain) as an array: magic 0x0000, a type byte (0x08 = uint8), the number of
    dimensions, then big-endian uint32 sizes and the data."""
    p = Path(path).expanduser()
    check_file(p, "IDX file")
    gz = p.name.lower().endswith(".gz")
    opener = gzip.open if gz else open
    try:
        with opener(p, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
                raise DataError(f"{p} is not an IDX file: bad magic number {magic.hex() or '(empty file)'} "
                                "(expected 0000 then a type byte such as 08 = uint8 and the number of dimensions)")
            header = f.read(4 * magic[3])
            if len(header) < 4 * magic[3]:
                raise DataError(f"{p} is truncated: its header ends after {4 + len(header)} bytes")
            shape = tuple(int(d) for d in np.frombuffer(header, ">u4"))
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            # what the file can hold at most, checked before allocating: a corrupt header can promise terabytes
            size = p.stat().st_size
            room = size * GZIP_MAX_RATIO if gz else size - 4 - len(header)
            promised = math.prod(shape) * dtype.itemsize
            if promised > room:
                held = f"more than a {size}-byte .gz file can hold" if gz else f"but it holds only {max(room, 0)}"
                raise DataError(f"{p} is truncated or corrupt: its header promises {short('x'.join(map(str, shape)))} "
                                f"{dtype.name} values = {promised} bytes of data, {held}")
            arr = np.empty(shape, dtype=dtype)
            buf, got = memoryview(arr.reshape(-1)).cast("B"), 0
            while got < len(buf):
                n = f.readinto(buf[got:])
                if not n:
                    break
                got += n
            extra = len(f.read(1))
    except (OSError, EOFError, zlib.error, MemoryError) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {p}: {short(e, 120)}") from None
    if got < arr.nbytes or extra:
        what, held = ("is truncated or corrupt", f"only {got}") if got < arr.nbytes else ("is corrupt", "more")
        raise DataError(f"{p} {what}: its header promises {'x'.join(map(str, shape))} "
                        f"{arr.dtype.name} values = {arr.nbytes} bytes of data, but it holds {held}")
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)  # (d0, d1, ...) native byte order


def idx_files(folder: Path) -> list[Path]:
    """The IDX files directly in ``folder`` (names ending ``-ubyte`` or ``-ubyte.gz``, any case), sorted;
    [] when it holds none, which is how ``load_images`` tells an IDX folder from an image folder."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(("-ubyte", "-ubyte.gz")))
    except OSError as e:
        raise DataError(f"cannot list folder {folder}: {e.strerror or e}") from None


def _find_idx(files: list[Path], kinds: tuple[str, ...], folder: Path) -> Path | None:
    """The file whose name contains one of ``kinds`` (e.g. 'train-images'); plain before .gz; one set per folder."""
    hits = [p for p in files if any(k in p.name.lower() for k in kinds)]
    sets = sorted({p.name.lower().split(k)[0] for p in hits for k in kinds if k in p.name.lower()})
    if len(sets) > 1:
        raise DataError(f"{folder} holds several IDX sets ({', '.join(s + '*' for s in sets)}); "
                        "move the one to use into its own folder")
    return hits[0] if hits else None


def read_idx_pair(images: Path, labels: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 1, H, W) uint8 and (N,) int64 (or None) from an images file and its labels file."""
    x = read_idx(images)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(f"{images}: image IDX files must hold (N, H, W) uint8, got {x.shape} {x.dtype}")
    if "emnist" in images.name.lower():
        x = x.transpose(0, 2, 1)  # EMNIST stores each image transposed
    y = None
    if labels is not None:
        y = read_idx(labels)
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{labels} holds labels of shape {y.shape}, but {images} holds {len(x)} images")
        y = _labels(y, str(labels), len(x)).numpy()
    return np.ascontiguousarray(x[:, None]), y


def load_idx_folder(folder: Path, split: str, test_fraction: float) -> ImageSet:
    """One split of a folder of IDX files at the native size, (N, 1, H, W) uint8; labelled when label files exist.

    The test split is the ``t10k-*`` / ``test-*`` files; without them ``test_fraction`` of train is held out.
    """
    files = idx_files(folder)
    train_x = _find_idx(files, ("train-images",), folder)
    if train_x is None:
        raise DataError(f"{folder} has IDX files ({', '.join(p.name for p in files[:4])}) but no *train-images*")
    test_x = _find_idx(files, ("t10k-images", "test-images"), folder)
    if split == "test" and test_x is not None:
        x, y = read_idx_pair(test_x, _find_idx(files, ("t10k-labels", "test-labels"), folder))
    else:
        x, y = read_idx_pair(train_x, _find_idx(files, ("train-labels",), folder))
        if test_x is None:  # no test files: hold out test_fraction of train, as for an image folder
            idx = fraction_split(len(x), test_fraction)[split]
            if len(idx) == 0:
                raise _empty_split(folder, split, len(x), test_fraction)
            x, y = x[idx], None if y is None else y[idx]
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise DataError(f"{folder}: its IDX images have no pixels ({x.shape[-1]}x{x.shape[-2]})")
    yt = None if y is None else torch.from_numpy(y)
    return ImageSet(torch.from_numpy(x), yt, _class_names(yt, None, str(folder)), str(folder), split)


# ---------------------------------------------------------------- .npz arrays


def load_npz(path: Path, split: str, test_fraction: float) -> ImageSet:
    """One split of a ``.npz`` file at the native size, (N, C, H, W) uint8; ``test_fraction`` of it is test.

    Only ``images``/``x``, ``labels``/``y`` and ``classes`` are read; other arrays in the file are left alone."""
    arrays, names = load_npz_arrays(path, ("images", "x"), ("labels", "y"), ("classes",))
    key = next((k for k in ("images", "x") if k in arrays), None)
    if key is None:
        has = short(", ".join(names) or "nothing")
        raise DataError(f"{path} has no 'images' or 'x' array (it has: {has})")
    x = _npz_images(arrays[key], f"{path}['{key}']")  # (N, C, H, W) uint8
    ykey = next((k for k in ("labels", "y") if k in arrays), None)
    y = None if ykey is None else _labels(arrays[ykey], f"{path}['{ykey}']", len(x))
    classes = _class_names(y, arrays.get("classes"), str(path))
    idx = fraction_split(len(x), test_fraction)[split]
    if len(idx) == 0:
        raise _empty_split(path, split, len(x), test_fraction)
    t = torch.from_numpy(x[idx])
    return ImageSet(t, None if y is None else y[torch.from_numpy(idx)], classes, str(path), split)


def _npz_images(a: np.ndarray, source: str) -> np.ndarray:
    """Any accepted layout and range -> (N, C, H, W) uint8."""
    if a.ndim == 3:
        a = a[:, None]  # (N, 1, H, W)
    elif a.ndim == 4 and a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif not (a.ndim == 4 and a.shape[1] in (1, 3)):
        raise DataError(f"{source}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {{1, 3}}, "
                        f"got shape {short(a.shape)}")
    if len(a) == 0:
        raise DataError(f"{source} holds no images")
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        raise DataError(f"{source}: the images have no pixels (shape {short(a.shape)})")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{source}: integer images must be in 0..255, got {lo}..{hi}")
        return np.ascontiguousarray(a.astype(np.uint8))
    if not np.issubdtype(a.dtype, np.floating):  # bool, complex, strings, dates
        raise DataError(f"{source}: images must be uint8, integers in 0..255 or float, got dtype {short(a.dtype)}")
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise DataError(f"{source}: {bad} pixel value(s) are NaN or infinite; fix or drop those images")
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0 and hi <= 1:
        a = a * 255.0  # [0, 1]
    elif lo >= -1 and hi <= 1:
        a = (a + 1) * 127.5  # [-1, 1]
    elif not (lo >= 0 and hi <= 255):
        raise DataError(f"{source}: float images must lie in [0, 1], [-1, 1] or [0, 255], got [{lo:g}, {hi:g}]")
    return np.ascontiguousarray(np.round(a).clip(0, 255).astype(np.uint8))


# ---------------------------------------------------------------- image folders


def load_folder(root: Path, split: str, size: int | None, channels: int | None,
                skip_bad: bool, test_fraction: float) -> ImageSet:
    """One split of an image folder, decoded at ``size`` and ``channels`` (see ``load_images``).

    Headers are read first, so channels (None: the files' own) and size (None: the files must share
    one) are settled for both splits alike; then this split's files are decoded. With ``skip_bad``,
    unreadable files are left out and listed in ``skipped``; otherwise the first one raises.
    """
    paths, labels, classes = list_folder(root)
    channels, unreadable = folder_headers(root, paths, size, channels, skip_bad)

    # Pass 2: decode this split's files at the target channels and size.
    idx = fraction_split(len(paths), test_fraction)[split]
    if len(idx) == 0:
        raise _empty_split(root, split, len(paths), test_fraction)
    files = [paths[i] for i in idx]
    decoded = read_images(files, where=str(root), convert=lambda t: convert(t, size, channels),
                          skip_bad=skip_bad, unreadable=unreadable, hint=_SKIP_HINT, headers=False)
    images = [t for t in decoded if t is not None]
    keep = [i for i, t in zip(idx, decoded, strict=True) if t is not None]
    skipped = [str(f) for f, t in zip(files, decoded, strict=True) if t is None]
    if not images:
        raise DataError(f"no readable images in the {split} split of {root} ({len(skipped)} skipped)")
    x = torch.stack(images)  # (N, C, H, W) uint8
    y = None if labels is None else torch.from_numpy(labels[np.asarray(keep)])
    every = read_captions(root, paths)  # of the whole folder, so that a caption file names either split's images
    captions = None if every is None else [every[i] for i in keep]
    return ImageSet(x, y, classes, str(root), split, skipped, captions=captions)


def folder_headers(root: Path, paths: list[Path], size: int | None, channels: int | None,
                   skip_bad: bool) -> tuple[int, set[Path]]:
    """Pass 1 over an image folder, headers only: (channels, unreadable files). ``channels`` None becomes the
    files' own (a folder mixing gray and colour is refused); ``size`` None requires the files to share one.
    An unreadable header raises a DataError naming the file, or with ``skip_bad`` joins the returned set."""
    heads: list[tuple[bool, tuple[int, int]]] = []  # (is_gray, (W, H)) of the readable files
    unreadable: set[Path] = set()
    for p in tqdm(paths, desc=f"reading {root}", unit="img", disable=len(paths) < PROGRESS_FROM, leave=False,
                  dynamic_ncols=True):
        try:
            heads.append(read_header(p))
        except DataError as e:
            if not skip_bad:
                raise DataError(f"{e} {_SKIP_HINT}") from None
            unreadable.add(p)
    if not heads:
        raise DataError(f"none of the {len(paths)} image files under {root} could be read")
    n_gray = sum(g for g, _ in heads)
    if channels is None:
        if 0 < n_gray < len(heads):
            raise DataError(f"{root} mixes {n_gray} grayscale and {len(heads) - n_gray} colour images; "
                            "set data.channels=1 or data.channels=3 to convert them all")
        channels = 1 if n_gray else 3
    if size is None:
        sizes = Counter(s for _, s in heads)
        if len(sizes) > 1:
            common = ", ".join(f"{n} of {w}x{h}" for (w, h), n in sizes.most_common(3))
            raise DataError(f"images under {root} differ in size ({common}{', ...' if len(sizes) > 3 else ''}); "
                            "set data.size (e.g. data.size=64) to resize and centre-crop them all")
    return channels, unreadable


def read_header(path: Path) -> tuple[bool, tuple[int, int]]:
    """(is_gray, (W, H)) from an image file's header, without decoding it; a DataError naming the file when
    it cannot be read, has no pixels, or claims more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (a
    decompression bomb: a small file that would decode to gigabytes).

    Call it from one thread at a time: it turns Pillow's bomb warning into an error with ``warnings``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                head = (_is_gray(im), im.size)
    except _READ_ERRORS as e:
        raise DataError(f"cannot read image {path}: {short(e, 160)}") from None
    w, h = head[1]
    if w < 1 or h < 1:
        raise DataError(f"cannot read image {path}: it has no pixels ({w}x{h})")
    return head


def _decode(path: Path) -> torch.Tensor:
    """(C, H, W) uint8 from a file whose header ``read_header`` accepted; safe in worker threads."""
    try:
        with Image.open(path) as im:
            im.load()
            arr = _to_uint8(im)  # (H, W) or (H, W, 3)
    except _READ_ERRORS as e:
        raise DataError(f"cannot read image {path}: {short(e, 160)}") from None
    t = torch.from_numpy(arr)
    return t.permute(2, 0, 1).contiguous() if t.ndim == 3 else t[None]


def read_image(path: Path) -> torch.Tensor:
    """One image file as (C, H, W) uint8, C = 1 (gray) or 3; a DataError naming the file when it cannot be read
    (see ``read_header``)."""
    read_header(path)
    return _decode(path)


def read_images(paths: list[Path], where: str, convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
                skip_bad: bool = False, unreadable: AbstractSet[Path] = frozenset(), hint: str = "",
                headers: bool = True) -> list[torch.Tensor | None]:
    """Decode ``paths`` in order with background threads (PIL and the resize release the GIL), with a
    progress bar for large folders. ``convert`` is applied in the worker, so large photos are resized
    before they pile up. The first unreadable file in order (or one in ``unreadable``) raises a
    DataError naming it (followed by ``hint``), or with ``skip_bad`` comes back as None.

    ``headers``: check every header first, in this thread (``read_header``: decompression bombs); False
    when the caller has already (and put the failures in ``unreadable``)."""
    bad = set(unreadable)
    if headers:
        for path in paths:
            if path in bad:
                continue
            try:
                read_header(path)
            except DataError as e:
                if not skip_bad:
                    raise DataError(f"{e} {hint}".rstrip()) from None
                bad.add(path)

    def one(path: Path) -> torch.Tensor | None:
        try:
            if path in bad:
                raise DataError(f"cannot read image {path}: unreadable header")
            t = _decode(path)
        except DataError as e:
            if skip_bad:
                return None
            raise DataError(f"{e} {hint}".rstrip()) from None
        return convert(t) if convert is not None else t

    workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(tqdm(pool.map(one, paths), total=len(paths), desc=f"decoding {where}", unit="img",
                         disable=len(paths) < PROGRESS_FROM, leave=False, dynamic_ncols=True))


def list_folder(root: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """Sorted image paths, their labels (or None) and class names; hidden files and folders are ignored."""
    def images_in(folder: Path) -> list[Path]:
        found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
        return sorted(found, key=lambda p: p.relative_to(folder).as_posix())

    try:
        top = sorted([p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                      and not p.name.startswith(".")], key=lambda p: p.name)
        sub = {d.name: images_in(d) for d in sorted(root.iterdir(), key=lambda d: d.name)
               if d.is_dir() and not d.name.startswith(".")}
    except OSError as e:
        raise DataError(f"cannot list folder {short(getattr(e, 'filename', None) or root, 200)}: "
                        f"{e.strerror or e}") from None
    classes = [c for c, files in sub.items() if files]
    if not classes:
        if not top:
            raise DataError(f"no images found in {root} (looked for {', '.join(IMAGE_EXTS)}, any case)")
        return top, None, []
    if top:
        raise DataError(f"{root} has class sub-folders ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})"
                        f" and also {len(top)} image(s) directly inside it (e.g. {top[0].name}); "
                        "move those into a class folder, or remove them")
    paths = [p for c in classes for p in sub[c]]
    labels = np.concatenate([np.full(len(sub[c]), k, dtype=np.int64) for k, c in enumerate(classes)])
    return paths, labels, classes


def _is_gray(im: Image.Image) -> bool:
    if im.mode in ("P", "PA"):
        pal = _palette(im)  # (K, 3)
        return bool((pal == pal[:, :1]).all())
    return im.mode in _GRAY_MODES


def _palette(im: Image.Image) -> np.ndarray:
    """(K, 3) uint8 palette colours, read from the header when the format gives it there."""
    pal = im.palette
    if pal is not None and pal.mode in ("RGB", "RGBA") and len(pal.palette):
        return np.frombuffer(bytes(pal.palette), np.uint8).reshape(-1, len(pal.mode))[:, :3]
    return np.asarray(im.getpalette("RGB") or [0, 0, 0], np.uint8).reshape(-1, 3)  # decodes the image


def _to_uint8(im: Image.Image) -> np.ndarray:
    """A loaded PIL image -> (H, W) uint8 if gray, else (H, W, 3) uint8; transparency composited on white."""
    gray = _is_gray(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):  # 16-bit PNGs open as I;16 (older Pillow: I)
        a = np.asarray(im).astype(np.float32)
        scale = 1.0 if im.mode == "F" else 255.0 / 65535.0
        return np.round(a * scale).clip(0, 255).astype(np.uint8)
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    im = im.convert("L" if gray else "RGB")  # also P, 1, CMYK, YCbCr
    return np.asarray(im).copy()  # copy: writable, so torch.from_numpy does not warn


# ---------------------------------------------------------------- captions beside an image folder

CAPTIONS_FILE = "captions.jsonl"


def read_captions(root: Path, files: Sequence[Path]) -> list[list[str]] | None:
    """A user's captions (text-to-image, ``data/captions.py``) of ``files`` (every image under the folder
    ``root``, both splits), in their order: from ``root/captions.jsonl`` when it exists, else from a ``.txt``
    with each image's stem beside it; None when the folder has neither. Every image must have at least one
    caption; a bad line names its file and line number."""
    root = Path(root)
    jsonl = root / CAPTIONS_FILE
    if jsonl.is_file():
        return _from_jsonl(jsonl, root, files)
    txts = [f.with_suffix(".txt") for f in files]
    if not any(t.is_file() for t in txts):
        return None
    out = []
    for f, t in zip(files, txts, strict=True):
        if not t.is_file():
            raise DataError(f"{t} is missing: the images under {root} have caption files beside them, but not "
                            f"{f.name}")
        lines = [ln.strip() for ln in _read_text(t).splitlines()]
        caps = [ln for ln in lines if ln]
        if not caps:
            raise DataError(f"{t} holds no caption (one caption per line)")
        out.append(caps)
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _from_jsonl(path: Path, root: Path, files: Sequence[Path]) -> list[list[str]]:
    index = {f.relative_to(root).as_posix(): i for i, f in enumerate(files)}
    found: list[list[str]] = [[] for _ in files]
    for no, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {no}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not JSON ({e.msg}); each line is {{\"file\": ..., \"text\": ...}}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("file"), str) or not isinstance(rec.get("text"), str):
            raise DataError(f"{where}: each line must be an object with string keys \"file\" and \"text\"")
        name = rec["file"].replace("\\", "/").removeprefix("./")
        if name not in index:
            raise DataError(f"{where}: {short(rec['file'])} is not an image under {root}")
        if not rec["text"].strip():
            raise DataError(f"{where}: the caption is empty")
        found[index[name]].append(rec["text"].strip())
    missing = [f for f, caps in zip(files, found, strict=True) if not caps]
    if missing:
        raise DataError(f"{path}: {len(missing)} image(s) have no caption, e.g. "
                        f"{missing[0].relative_to(root).as_posix()}")
    return found
