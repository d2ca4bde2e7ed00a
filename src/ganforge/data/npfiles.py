"""Reading a user's ``.npy`` and ``.npz`` files with every fault turned into one :class:`DataError` line.

    arr = load_npy(Path("points.npy"), "points file")              # np.ndarray
    arrays = load_npz_arrays(Path("faces.npz"), ("images", "x"), ("labels", "y"), ("classes",))

Each array's header is read first: object arrays (pickles, refused for safety: ``allow_pickle`` stays
False) and headers that promise more bytes than the file holds (a truncated file, or a crafted header
asking for terabytes) fail before any memory is allocated. Only the arrays asked for are read from a
``.npz``; the others in it are never decompressed.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from ganforge.errors import DataError

#: what reading a broken file can raise: numpy's format errors, zip and zlib errors, allocation failures
_LOAD_ERRORS = (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError)


def short(value: object, limit: int = 60) -> str:
    """A user value (or a library's message) as one line of text, cut to ``limit`` characters (``...`` marks
    a cut)."""
    s = " ".join(str(value).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def check_file(p: Path, what: str) -> None:
    """``p`` must be an existing regular file; says which it is otherwise (missing, a folder, a device)."""
    if p.is_dir():
        raise DataError(f"{what} {p} is a directory, not a file")
    if not p.exists():
        raise DataError(f"{what} {p} does not exist")
    if not p.is_file():
        raise DataError(f"{what} {p} is not a regular file")


def _header(fp: IO[bytes], where: str, available: int) -> None:
    """Read an .npy header from ``fp``; refuse object arrays and data the file cannot hold."""
    try:
        version = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fp)
        available -= fp.tell()
    except _LOAD_ERRORS as e:
        raise DataError(f"{where} is not a readable .npy array ({short(e, 120)})") from None
    if dtype.hasobject:
        raise DataError(f"{where} holds Python objects (dtype {short(dtype)}), which are never loaded (they could run "
                        "code); save plain numbers")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max(available, 0) or any(d < 0 for d in shape):
        dims = short("x".join(map(str, shape)) or "scalar")
        raise DataError(f"{where} is truncated or corrupt: its header promises {dims} {dtype.name} = {nbytes} bytes, "
                        f"but it holds {max(available, 0)}")


def load_npy(p: Path, what: str) -> np.ndarray:
    """The array in the ``.npy`` file ``p`` (``what`` names it in errors, e.g. "points file")."""
    check_file(p, what)
    try:
        with p.open("rb") as f:
            _header(f, str(p), p.stat().st_size)
        return np.load(p, allow_pickle=False)
    except DataError:
        raise
    except _LOAD_ERRORS as e:
        raise DataError(f"{p} is not a readable .npy array ({short(e, 120)})") from None


def load_npz_arrays(p: Path, *wanted: tuple[str, ...]) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the arrays read, every array name in the file). ``wanted``: groups of alternative names; the first
    name of each group that the file holds is read (``("images", "x")``: ``images``, else ``x``)."""
    check_file(p, ".npz file")
    out: dict[str, np.ndarray] = {}
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataError(f"{p} holds one .npy array, not a .npz archive of named arrays (np.savez)")
        with z:
            names = list(z.files)
            for group in wanted:
                key = next((k for k in group if k in names), None)
                if key is None:
                    continue
                member = key if key in z.zip.namelist() else f"{key}.npy"
                info = z.zip.getinfo(member)
                with z.zip.open(member) as f:
                    _header(f, f"{p}['{key}']", info.file_size)
                out[key] = z[key]
    except DataError:
        raise
    except _LOAD_ERRORS as e:
        raise DataError(f"{p} is not a readable .npz file ({short(e, 120)})") from None
    return out, names
