"""Where ganforge keeps what it computes once and reuses between runs (real-data features, cluster labels).

    from ganforge.cache import cache_dir
    path = cache_dir() / "clusters-....npy"      # ~/.cache/ganforge/features, or $GANFORGE_CACHE/features
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where real-data feature statistics are kept between runs (``GANFORGE_CACHE`` overrides)."""
    return Path(os.environ.get("GANFORGE_CACHE", Path.home() / ".cache" / "ganforge")) / "features"
