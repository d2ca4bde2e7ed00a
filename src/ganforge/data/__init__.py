"""Data sources: 2-D distributions (:mod:`ganforge.data.toy2d`) and images (:mod:`ganforge.data.images`).

    from ganforge.data import image_data
    train = image_data(cfg.data, "train")     # ImageSet: x (N, C, H, W) uint8, y (N,) or None

``image_data`` reads a config's image settings once per process and keeps the result,
so the training loop, the sampler and the evaluation share one copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganforge.config import ImageData as DataConfig
    from ganforge.data.imageset import ImageSet

_CACHE: dict[tuple, ImageSet] = {}
_CACHE_MAX = 4  # (train, test) for two data settings


def image_data(data: DataConfig, split: str = "train") -> ImageSet:
    """The image set a config's ``data`` section describes (``split``: ``train`` or ``test``)."""
    from ganforge.data.images import load_images

    key = (data.name, data.root, data.size, data.channels, data.skip_bad, split)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load_images(data.name, split=split, root=data.root, size=data.size,
                                  channels=data.channels, skip_bad=data.skip_bad)
    return _CACHE[key]
