"""Where ganforge keeps what it computes once and reuses between runs (real-data features, cluster labels,
decoded image folders).

    from ganforge.cache import cache_dir
    path = cache_dir() / "clusters-....npy"      # ~/.cache/ganforge/features, or $GANFORGE_CACHE/features
    folder = cache_dir("images")                 # ~/.cache/ganforge/images: streamed image folders (data.stream)
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str = "features") -> Path:
    """The folder for one kind of cached data (``GANFORGE_CACHE`` overrides ``~/.cache/ganforge``): ``features``
    for real-data feature statistics and cluster labels, ``images`` for decoded image folders."""
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge")) / kind
