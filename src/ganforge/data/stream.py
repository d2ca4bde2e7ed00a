"""Image folders of any size: a decoded, resized cache on disk, and training batches streamed from it.

An image folder is decoded once, at the run's ``data.size`` and ``data.channels``, into one uint8 ``.npy``
file per split ((N, C, H, W); row i is image i of the split, as :func:`~ganforge.data.formats.load_folder`
orders them) under ``cache_dir("images")`` (``~/.cache/ganforge/images``, or ``$GANFORGE_CACHE/images``).
A later run with the same files and settings reads it back without decoding anything::

    from ganforge.data.stream import StreamBatches, stream_folder
    s = stream_folder(Path("photos"), "train", 64, 3, skip_bad=False, test_fraction=0.1, mode="true")
    s.x                                  # (N, 3, 64, 64) uint8, memory-mapped from s.cache (read when used)
    batches = StreamBatches(s.cache, s.y, 64, torch.device("cpu"), workers=2, hflip=True, seed=0)
    b = batches()                        # {"x": (64, 3, 64, 64) float32 in [-1, 1], "y": (64,) when labelled}
    state = batches.state_dict()         # {"seed", "epoch", "index", "world"}: where the next batch starts
    batches.load_state_dict(state)       # (in another process too: the same batches from there on)

``data.stream=auto`` streams a folder whose decoded images (both splits, 3 channels counted when
``data.channels`` is unset) would exceed :data:`STREAM_ABOVE` = 1 GiB, e.g. more than 87,000 images at
64 px in colour or 21,800 at 128 px; smaller folders, the bundled sets, ``.npz`` files and IDX folders
stay in memory (:func:`ganforge.recipes.common.image_batches`). The threshold is fixed, not a share of
this machine's memory, so a run takes the same path on every machine and on resume.

The cache key is a sha1 of the folder's resolved path, every file's relative path, byte size and
modification time, and the settings (size, channels, skip_bad, test fraction): a file added, removed or
changed gives a new key, and the next run decodes afresh (old caches are left: delete
``~/.cache/ganforge/images`` to reclaim the space). Each file is written atomically, the ``.json``
that describes the splits last, under a file lock, so the ranks of a ``torchrun`` job decode the
folder once. Decoding follows ``data.skip_bad`` exactly as the in-memory path does (the same readers:
an unreadable file stops the build with its path, or is skipped and listed).

:class:`StreamBatches` draws batches through a ``torch.utils.data.DataLoader`` whose worker processes
read rows of the cache with ``os.preadv`` (no memory map, so their resident memory does not grow with
the data read). The order: epochs of a ``DistributedSampler`` permutation (seeded ``seed + epoch``;
every image once per epoch; under DDP each rank reads its own disjoint share), cut into consecutive
batches that run on across the end of an epoch. The position (epoch, images into it, seed) goes into
every checkpoint (``Recipe.data_state``), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm.auto import tqdm

from ganforge.checkpoint import atomic_path
from ganforge.data.formats import (
    _SKIP_HINT,
    PROGRESS_FROM,
    _empty_split,
    folder_headers,
    list_folder,
    read_images,
)
from ganforge.data.imageset import ImageSet, convert, fraction_split, random_hflip
from ganforge.data.npfiles import short
from ganforge.errors import DataError
from ganforge.pixels import to_signed

STREAM_ABOVE = 1 << 30  # data.stream=auto: stream a folder whose decoded images (every split) exceed 1 GiB
CACHE_VERSION = 1  # part of the key: a change to the cache's layout or decoding starts new caches
_HEADER = 128  # bytes of .npy header written before the pixels: room for any shape, rewritten at the end
_CHUNK = 512  # files decoded per call of read_images while a cache is built (its threads, no progress bar)
_SPLITS = ("train", "test")


def decoded_bytes(n: int, size: int, channels: int | None) -> int:
    """Bytes of ``n`` uint8 images of ``size`` x ``size`` (unset ``channels`` count as 3)."""
    return n * (channels or 3) * size * size


def default_workers() -> int:
    """``data.workers=null``: a quarter of the CPU cores this process may use, at most 4 (0 below 4 cores).

    Measured on 2 cores (``benchmarks/streaming.py``): receiving a batch of 64 images at 64 px from a worker
    costs the training process more than reading its 64 rows itself (about 3.6 ms against 2 ms), and the
    worker takes CPU from training; workers pay where reads are slow (a cold disk, large images) and cores
    are free (a GPU run)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cores // 4)


# ---------------------------------------------------------------- the cache on disk


def stream_folder(root: Path, split: str, size: int | None, channels: int | None, skip_bad: bool,
                  test_fraction: float, mode: str = "auto", cache: Path | None = None) -> ImageSet | None:
    """One split of an image folder from its cache on disk (built first, for both splits, when missing), as
    an :class:`ImageSet` whose ``x`` is memory-mapped from ``ImageSet.cache``.

    mode: ``true`` streams; ``auto`` returns None (the caller loads the folder into memory) when its decoded
        images would take at most :data:`STREAM_ABOVE` bytes, or ``size`` is None.
    cache: the folder for cache files (None = ``ganforge.cache.cache_dir("images")``).
    """
    if size is None:
        if mode == "true":
            raise DataError(f"data.stream=true needs data.size: the cache of {root} holds the images at one size")
        return None
    paths, labels, classes = list_folder(root)
    if mode == "auto" and decoded_bytes(len(paths), size, channels) <= STREAM_ABOVE:
        return None
    if cache is None:
        from ganforge.cache import cache_dir

        cache = cache_dir("images")
    cache = Path(cache)
    digest = files_digest(root, paths)
    key = cache_key(digest, root, size, channels, skip_bad, test_fraction)
    meta = _read_meta(cache, key)
    if meta is None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with _locked(cache / f"{key}.lock"):  # another process may have built it meanwhile
                meta = _read_meta(cache, key) or _build(cache, digest, root, paths, labels, classes, size, channels,
                                                        skip_bad, test_fraction)
        except OSError as e:
            raise DataError(f"cannot write the image cache in {cache}: {e.strerror or e}; free space there, set "
                            "GANFORGE_CACHE to another folder, or set data.stream=false") from None
    info = meta["splits"][split]
    if info["files"] == 0:
        raise _empty_split(root, split, meta["files"], test_fraction)
    if info["n"] == 0:
        raise DataError(f"no readable images in the {split} split of {root} ({len(info['skipped'])} skipped)")
    path, labels_path = cache / f"{meta['pixels']}-{split}.npy", cache / f"{meta['pixels']}-{split}-labels.npy"
    x = torch.from_numpy(np.load(path, mmap_mode="c"))  # copy-on-write: nothing is read until used
    y = torch.from_numpy(np.load(labels_path)) if meta["labelled"] else None
    return ImageSet(x, y, list(meta["classes"]), str(root), split, list(info["skipped"]), cache=path)


def files_digest(root: Path, paths: list[Path]) -> str:
    """sha1 over the folder's files: relative path, bytes and modification time of each, in order."""
    h = hashlib.sha1()
    for p in paths:
        try:
            st = p.stat()
        except OSError as e:
            raise DataError(f"cannot read image {p}: {e.strerror or e}") from None
        h.update(os.fsencode(p.relative_to(root).as_posix()) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_key(digest: str, root: Path, size: int, channels: int | None, skip_bad: bool, test_fraction: float) -> str:
    """20 hex digits of sha1 over the files' digest (:func:`files_digest`), the folder's path and the settings."""
    settings = (CACHE_VERSION, digest, str(root.resolve()), size, channels, skip_bad, test_fraction)
    return hashlib.sha1(repr(settings).encode()).hexdigest()[:20]


def _read_meta(cache: Path, key: str) -> dict[str, Any] | None:
    """The cache's description when it and every file it names are complete; None means (re)build it."""
    try:
        meta = json.loads((cache / f"{key}.json").read_text())
        if meta.get("version") != CACHE_VERSION:
            return None
        stem = meta["pixels"]
        for split in _SPLITS:
            n, shape = meta["splits"][split]["n"], (meta["splits"][split]["n"], *meta["shape"])
            if n and tuple(np.load(cache / f"{stem}-{split}.npy", mmap_mode="r").shape) != shape:
                return None
            if n and meta["labelled"] and len(np.load(cache / f"{stem}-{split}-labels.npy")) != n:
                return None
    except (OSError, ValueError, KeyError, TypeError):  # missing, truncated (mmap past the end) or foreign
        return None
    return meta


def _build(cache: Path, digest: str, root: Path, paths: list[Path], labels: np.ndarray | None,
           classes: list[str], size: int, channels: int | None, skip_bad: bool, test_fraction: float
           ) -> dict[str, Any]:
    """Decode every split of the folder into the cache (pixels, labels, then the .json); its description.

    With ``channels`` None the pixels are stored under the key of the channels the files have, and the
    description under both keys: a run that filled in ``data.channels`` finds the same cache."""
    asked = channels
    channels, unreadable = folder_headers(root, paths, size, channels, skip_bad)  # as load_folder: both splits
    shape = (channels, size, size)
    key = cache_key(digest, root, size, channels, skip_bad, test_fraction)  # the pixels' key
    meta: dict[str, Any] = {"version": CACHE_VERSION, "root": str(root), "files": len(paths), "shape": list(shape),
                            "classes": classes, "labelled": labels is not None, "pixels": key, "splits": {}}
    bar = tqdm(total=len(paths), desc=f"caching {short(root, 60)}", unit="img", disable=len(paths) < PROGRESS_FROM,
               leave=False, dynamic_ncols=True)
    with bar:
        for split, idx in fraction_split(len(paths), test_fraction).items():
            files = [paths[i] for i in idx]
            with atomic_path(cache / f"{key}-{split}.npy") as tmp:
                keep = _write_split(tmp, files, root, shape, skip_bad, unreadable, bar)
            if labels is not None:
                with atomic_path(cache / f"{key}-{split}-labels.npy", keep_suffix=True) as tmp:
                    np.save(tmp, labels[idx][keep])
            skipped = [str(f) for f, k in zip(files, keep, strict=True) if not k]
            meta["splits"][split] = {"files": len(files), "n": int(keep.sum()), "skipped": skipped}
    for name in {key, cache_key(digest, root, size, asked, skip_bad, test_fraction)}:
        with atomic_path(cache / f"{name}.json") as tmp:  # last: it makes the cache valid
            tmp.write_text(json.dumps(meta))
    return meta


def _write_split(tmp: Path, files: list[Path], root: Path, shape: tuple[int, int, int], skip_bad: bool,
                 unreadable: set[Path], bar: tqdm) -> np.ndarray:
    """Decode ``files`` in order into the .npy file ``tmp``, a chunk at a time (memory stays at one chunk);
    returns which were kept (all of them unless ``skip_bad`` left some out)."""
    channels, size = shape[0], shape[1]
    keep = np.zeros(len(files), bool)
    with open(tmp, "wb") as f:
        f.write(_npy_header((len(files), *shape)))
        for start in range(0, len(files), _CHUNK):
            chunk = files[start:start + _CHUNK]
            decoded = read_images(chunk, where=str(root), convert=lambda t: convert(t, size, channels),
                                  skip_bad=skip_bad, unreadable=unreadable, hint=_SKIP_HINT, headers=False)
            for j, t in enumerate(decoded):
                if t is not None:
                    f.write(t.numpy().data)  # (C, size, size) uint8, contiguous
                    keep[start + j] = True
            bar.update(len(chunk))
        n = int(keep.sum())
        f.seek(0)
        f.write(_npy_header((n, *shape)))  # the count of images kept
        f.truncate(_HEADER + n * int(np.prod(shape)))
    return keep


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy (format 1.0) header of exactly ``_HEADER`` bytes for a C-ordered uint8 array of ``shape``."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", _HEADER - 10) + text.ljust(_HEADER - 11).encode() + b"\n"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created) while the block runs; no lock where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- batches


class CachedRows(Dataset):
    """The images of a cache file, read on demand: ``rows[[i, j, ...]]`` -> ``{"x": (B, C, H, W) uint8}`` (and
    ``"y"``: (B,) int64 when ``labels`` are given). Each process opens the file itself (DataLoader workers)."""

    def __init__(self, path: Path, labels: torch.Tensor | None = None) -> None:
        m = np.load(path, mmap_mode="r")
        self.path, self.shape, self.offset = Path(path), tuple(m.shape), int(m.offset)  # (N, C, H, W), header bytes
        del m
        self.labels = None if labels is None else labels.numpy()
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __getitem__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        if self._fd is None or self._pid != os.getpid():  # opened in this process (a forked worker opens its own)
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        idx = np.asarray(idx, np.int64)
        if len(idx) and not (0 <= idx.min() and idx.max() < self.shape[0]):
            raise IndexError(f"image indices {idx.min()}..{idx.max()} are out of range for {self.shape[0]} images")
        out = np.empty((len(idx), *self.shape[1:]), np.uint8)  # (B, C, H, W)
        row = int(np.prod(self.shape[1:]))
        for j, i in enumerate(idx.tolist()):
            if _read_into(self._fd, out[j], self.offset + i * row) != row:
                raise DataError(f"image cache {self.path} is truncated (image {i}); delete it and start again")
        batch = {"x": torch.from_numpy(out)}
        if self.labels is not None:
            batch["y"] = torch.from_numpy(self.labels[idx])
        return batch

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)


def _read_into(fd: int, buf: np.ndarray, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buf], offset)
    data = os.pread(fd, buf.nbytes, offset)
    buf.reshape(-1)[:len(data)] = np.frombuffer(data, np.uint8)
    return len(data)


class EpochBatches(Sampler):
    """Endless lists of ``batch`` indices into ``n`` images: epoch after epoch of ``DistributedSampler``'s
    permutation (seed + epoch; this rank's disjoint share under DDP), cut into consecutive batches that
    run on across the end of an epoch, starting ``start`` indices into this rank's stream."""

    def __init__(self, n: int, batch: int, seed: int, rank: int = 0, world: int = 1) -> None:
        # drop_last: the last n % world images of each permutation are left out, so the shares never overlap
        self.shard = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed,
                                        drop_last=n >= world)
        self.batch, self.start = batch, 0

    @property
    def per_epoch(self) -> int:
        """Images of one epoch on this rank."""
        return self.shard.num_samples

    def indices(self, start: int = 0) -> Iterator[int]:
        """This rank's stream of image indices from position ``start``."""
        epoch, skip = divmod(start, self.per_epoch)
        while True:
            self.shard.set_epoch(epoch)
            yield from itertools.islice(iter(self.shard), skip, None)
            epoch, skip = epoch + 1, 0

    def __iter__(self) -> Iterator[list[int]]:
        it = self.indices(self.start)
        while True:
            yield list(itertools.islice(it, self.batch))


class StreamBatches:
    """Training batches streamed from a cache file: a callable like the in-memory ``image_batches``, with the
    position in its ``state_dict`` (a checkpoint's ``"data"``).

    Args:
        path: the split's cache file (``ImageSet.cache``).
        labels: (N,) int64 labels to hand out as ``"y"``, or None.
        batch: images per batch (one process's share under DDP).
        device: where batches go (pinned memory and a non-blocking copy on CUDA).
        workers: DataLoader worker processes (None = :func:`default_workers`; 0 = read in this process).
        hflip: mirror each image left-right with probability 1/2, on ``device`` with its global RNG.
        seed: the permutations' seed (``seed + epoch``); the same on every rank.
        rank, world: this process's rank and the number of processes (DDP): each reads its own share.
    """

    def __init__(self, path: Path, labels: torch.Tensor | None, batch: int, device: torch.device, *,
                 workers: int | None = None, hflip: bool = False, seed: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        self.rows = CachedRows(path, labels)
        self.sampler = EpochBatches(len(self.rows), batch, seed, rank, world)
        self.workers = default_workers() if workers is None else workers
        self.device, self.hflip, self.world = device, hflip, world
        self.consumed = 0  # indices of this rank's stream handed out so far
        # the loader's own generator: making an iterator must not draw from the global RNG (exact resume)
        self.loader = DataLoader(self.rows, batch_size=None, sampler=self.sampler, num_workers=self.workers,
                                 pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
        self._it: Iterator[dict[str, torch.Tensor]] | None = None

    def __call__(self) -> dict[str, torch.Tensor]:
        if self._it is None:  # first batch, or after load_state_dict: workers start from the position
            self.sampler.start = self.consumed
            self._it = iter(self.loader)
        batch = next(self._it)
        self.consumed += len(batch["x"])
        x = to_signed(batch["x"].to(self.device, non_blocking=True))  # (B, C, H, W) float32 in [-1, 1]
        out = {"x": random_hflip(x) if self.hflip else x}
        if "y" in batch:
            out["y"] = batch["y"].to(self.device, non_blocking=True)
        return out

    def state_dict(self) -> dict[str, int]:
        """Where the next batch starts: ``epoch``, ``index`` (images of it this rank has had), ``seed``, ``world``."""
        epoch, index = divmod(self.consumed, self.sampler.per_epoch)
        return {"seed": int(self.sampler.shard.seed), "epoch": epoch, "index": index, "world": self.world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a ``state_dict``; with another number of processes, from the same share of the epoch."""
        self.sampler.shard.seed = int(state["seed"])
        index = int(state["index"]) * int(state.get("world", 1)) // self.world
        self.consumed = int(state["epoch"]) * self.sampler.per_epoch + min(index, self.sampler.per_epoch)
        self.close()

    def close(self) -> None:
        """Stop the workers (the next call starts new ones at the current position)."""
        self._it = None
