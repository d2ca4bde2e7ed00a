"""Size limits of what inference makes: pictures (grids, strips, animations) and arrays held in memory.

    from ganforge.sample.limits import check_picture, check_memory
    check_picture(64, 28, 28)                           # a grid of 64 digits: fine
    check_picture(10_000_000, 28, 28, "a .png grid")    # GanforgeError: at most 4096 images ...
    check_memory(n * 28 * 28 * 10, "10,000,000 images") # GanforgeError when it cannot fit in memory

A request that cannot fit is refused before any work, with the limit and what to do instead, so a
mistyped ``--n`` fails in a second rather than after minutes of sampling with an out-of-memory kill.
"""

from __future__ import annotations

import os

from ganforge.errors import GanforgeError

MAX_PICTURE_IMAGES = 4096  # tiles in one picture: a 64 x 64 grid
MAX_PICTURE_PIXELS = 1 << 26  # 67 Mpx (8192 x 8192): about 800 MB as the float RGB canvas it is drawn on
MAX_PLOT_POINTS = 200_000  # points in a scatter plot of a 2-D run
MEMORY_FRACTION = 0.9  # of the memory available now that one request may plan to use


class TooLargeError(GanforgeError, ValueError):
    """A request (a picture, an array) larger than ganforge will make: refused before any work."""


def gb(nbytes: float) -> str:
    """Bytes as a short human figure: ``'1.2 GB'``, ``'340 MB'``."""
    if nbytes >= 1e9:
        v = nbytes / 1e9
        return f"{v:.1f} GB" if v < 100 else f"{v:,.0f} GB"
    return f"{max(nbytes, 0) / 1e6:.0f} MB"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: /proc/meminfo's MemAvailable, else the free physical
    pages (``os.sysconf``); None where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes: float, what: str, alternative: str = "") -> None:
    """Refuse a request whose estimated peak memory ``nbytes`` exceeds what is available now.

    ``what`` says what needs it ("10,000,000 images of 28x28x1"), ``alternative`` what to do instead."""
    avail = available_memory()
    if avail is None:
        return
    limit = avail * MEMORY_FRACTION
    if nbytes > limit:
        tail = f"; {alternative}" if alternative else ""
        raise TooLargeError(f"{what} need about {gb(nbytes)} of memory, more than the {gb(limit)} that can be "
                            f"used now ({MEMORY_FRACTION:.0%} of {gb(avail)} available){tail}")


def check_picture(images: int, height: int, width: int, what: str = "a picture", alternative: str = "") -> None:
    """Refuse a picture of ``images`` tiles of ``height`` x ``width`` px (2 px padding each) beyond the limits:
    :data:`MAX_PICTURE_IMAGES` tiles, :data:`MAX_PICTURE_PIXELS` pixels."""
    tail = f"; {alternative}" if alternative else ""
    if images > MAX_PICTURE_IMAGES:
        raise TooLargeError(f"{what} holds at most {MAX_PICTURE_IMAGES} images, this one would hold {images:,}"
                            f"{tail}")
    pixels = images * (int(height) + 2) * (int(width) + 2)
    if pixels > MAX_PICTURE_PIXELS:
        raise TooLargeError(f"{what} of {images:,} images of {height}x{width} px would have {pixels / 1e6:.0f} Mpx, "
                            f"more than the limit of {MAX_PICTURE_PIXELS / 1e6:.0f} Mpx{tail}")


def check_plot_points(n: int, alternative: str = "") -> None:
    """Refuse a scatter plot of more than :data:`MAX_PLOT_POINTS` points."""
    if n > MAX_PLOT_POINTS:
        tail = f"; {alternative}" if alternative else ""
        raise TooLargeError(f"a plot shows at most {MAX_PLOT_POINTS:,} points, asked for {n:,}{tail}")
