"""Data sources: 2-D distributions (:mod:`ganforge.data.toy2d`) and images (:mod:`ganforge.data.images`).

    from ganforge.data import image_data
    train = image_data(cfg.data, "train")     # ImageSet: x (N, C, H, W) uint8, y (N,) or None

``image_data`` reads a config's image settings once per process and keeps the result,
so the training loop, the sampler and the evaluation share one copy. With ``data.stream``
(an image folder too large for memory) ``x`` is memory-mapped from a decoded cache on disk
(:mod:`ganforge.data.stream`), and training streams batches from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganforge.config import ImageData as DataConfig
    from ganforge.data.imageset import ImageSet

_CACHE: dict[tuple, ImageSet] = {}
_CACHE_MAX = 16  # (train, test) for two data settings, each also under what the run fills in (4 keys)


def image_data(data: DataConfig, split: str = "train") -> ImageSet:
    """The image set a config's ``data`` section describes (``split``: ``train`` or ``test``)."""
    from ganforge.data.images import load_images

    stream = getattr(data, "stream", "auto")
    key = (data.name, data.root, data.size, data.channels, data.skip_bad, stream, split)
    if key in _CACHE:
        return _CACHE[key]
    out = load_images(data.name, split=split, root=data.root, size=data.size, channels=data.channels,
                      skip_bad=data.skip_bad, stream=stream)
    # the same images under the settings a run fills in from them (data.channels, what data.stream=auto chose),
    # so its next call (building the networks) does not read them again
    channels = {data.channels, int(out.x.shape[1])} if data.channels is None else {data.channels}
    streams = {stream, "false" if out.cache is None else "true"} if stream == "auto" else {stream}
    for c in channels:
        for s in streams:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[(data.name, data.root, data.size, c, data.skip_bad, s, split)] = out
    return out
