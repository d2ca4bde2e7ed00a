"""Captioned images for text-to-image GANs: captions measured from the images themselves, and users' captions.

    from ganforge.data.captions import measure, describe, caption_for, parse_caption, captioned_digits
    m = measure(x)                 # x: (N, C, H, W) uint8 or float in [-1, 1] -> {"thickness": (N,), "slant": ..., ...}
    w = describe(m)                # [{"thickness": "thick", "slant": "right"}, ...] per image
    caption_for(7, w[0], rng)      # "a thick seven leaning right", "handwritten 7 with bold strokes, slanted ..."
    parse_caption("a thin four leaning left")   # {"digit": 4, "thickness": "thin", "slant": "left"}
    s = captioned_digits("train", size=32)      # ImageSet with .captions: several captions per digit

The attributes are measured on the pixels, so a caption describes the image it belongs to:

* **thickness**: stroke width, the ink area over the length of its skeleton (``skimage.morphology.skeletonize``),
  in pixels of a 28-pixel image;
* **slant**: the shear of the ink from its second moments, ``mu11 / mu02`` with y pointing up: horizontal
  pixels per vertical pixel, positive when the top leans right;
* **height**: the ink's extent from its top row to its bottom row, as a fraction of the image height;
* **colours** (colour digits): the background is the median of the border pixels, the foreground the mean of
  the strongest ink; each is named after the nearest colour of :data:`PALETTE`.

Ink is measured against the background (the border median), so it works for white-on-black digits and for
a coloured digit on a coloured ground alike. Images are measured at 28 pixels (others are resized first), so
the words of a digit do not depend on its size. Words come from :data:`BANDS`: ``thin``/``thick`` for the
outer thirds of the bundled training digits' thickness, ``left``/``upright``/``right`` for geometric slant
ranges, none in between; :func:`judge` decides whether a generated image shows a word by the nearest band.
Height is measured but not captioned: MNIST digits are scaled to a 20-pixel box, so nearly all are 20/28 tall.

Some (digit, thickness, slant) combinations are held out of the training split entirely (:data:`HELD_OUT`),
to test whether a model composes words it has only seen apart.

A user's captions for an image folder are read with the folder (``data.formats.read_captions``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch

ATTRIBUTES = ("thickness", "slant", "height")
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NATIVE = 28  # thickness is stated in pixels of a 28-pixel image, whatever the image's size
CAPTIONS_PER_IMAGE = 5

#: named colours of the colour digits (RGB 0..255); measured colours are named after the nearest
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 70), "blue": (40, 80, 225),
    "yellow": (240, 215, 40), "white": (245, 245, 245), "black": (15, 15, 15),
}

#: (digit, thickness word, slant word) combinations no training image shows (test split only)
HELD_OUT: frozenset[tuple[int, str, str]] = frozenset(
    {(d, "thick", "left") for d in (0, 2, 4, 6, 8)} | {(d, "thin", "right") for d in (1, 3, 5, 7, 9)})

#: words and their synonyms in captions; the first of each is the canonical word
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "thickness": {"thin": ("thin", "slim", "fine", "light"), "thick": ("thick", "bold", "heavy", "fat")},
    "slant": {"left": ("left",), "upright": ("upright", "straight", "vertical"), "right": ("right",)},
}


# ---------------------------------------------------------------- measuring

def _arrays(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) / (N, H, W) / (H, W), uint8 or float in [-1, 1] -> (N, H, W, C) float64 in 0..255."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float64), -1.0, 1.0) + 1.0) * 127.5
    a = a.astype(np.float64)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in {{1, 3}}, (N, H, W) or (H, W); got {a.shape}")
    return a.transpose(0, 2, 3, 1)


def _border(a: np.ndarray) -> np.ndarray:
    """(N, C): the median colour of each image's border pixels (the background)."""
    edge = np.concatenate([a[:, 0], a[:, -1], a[:, 1:-1, 0], a[:, 1:-1, -1]], axis=1)  # (N, 2H + 2W - 4, C)
    return np.median(edge, axis=1)


def ink(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, H, W) ink strength in [0, 1]: each pixel's colour distance from the background (the border median),
    over the image's largest; 0 everywhere for a blank image."""
    return _ink(_arrays(x))


def _ink(a: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(a - _border(a)[:, None, None, :], axis=-1)  # (N, H, W)
    top = d.reshape(len(d), -1).max(axis=1)
    return np.where(top[:, None, None] > 1e-6, d / np.maximum(top, 1e-6)[:, None, None], 0.0)


def measure(x: torch.Tensor | np.ndarray, colours: bool = False) -> dict[str, np.ndarray]:
    """The attributes of each image (see the module docstring): ``thickness``, ``slant``, ``height`` as (N,)
    float arrays; with ``colours`` also ``fg`` and ``bg`` (N, 3) RGB. A blank image measures 0 for each."""
    from skimage.morphology import skeletonize

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if x.shape[-1] != NATIVE or x.shape[-2] != NATIVE:  # measured at 28 px, so any size gives the same words
        import torch.nn.functional as F

        x = x if x.dtype == torch.uint8 else ((x.float().clamp(-1, 1) + 1) * 127.5)
        x = x.reshape(-1, *x.shape[-3:]) if x.ndim >= 3 else x[None, None]
        x = F.interpolate(x.float(), size=(NATIVE, NATIVE), mode="bilinear", antialias=True,
                          align_corners=False).round().clamp(0, 255).to(torch.uint8)
    a = _arrays(x)
    s = _ink(a)  # (N, H, W)
    n, h, w = s.shape
    mask = s >= 0.5
    thick = np.zeros(n)
    for i in range(n):
        area = mask[i].sum()
        if area:
            thick[i] = area / max(1, skeletonize(mask[i]).sum()) * NATIVE / w
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ys = -ys  # y points up: a top leaning right has x growing with y
    mass = s.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-9)
    my, mx = (s * ys).sum(axis=(1, 2)) / safe, (s * xs).sum(axis=(1, 2)) / safe
    dy, dx = ys[None] - my[:, None, None], xs[None] - mx[:, None, None]
    mu11, mu02 = (s * dx * dy).sum(axis=(1, 2)), (s * dy * dy).sum(axis=(1, 2))
    slant = np.where(mu02 > 1e-9, mu11 / np.maximum(mu02, 1e-9), 0.0)
    rows = mask.any(axis=2)  # (N, H)
    first, last = rows.argmax(axis=1), h - 1 - rows[:, ::-1].argmax(axis=1)
    height = np.where(rows.any(axis=1), (last - first + 1) / h, 0.0)
    out = {"thickness": thick, "slant": slant, "height": height}
    if colours:
        strong = s >= 0.75
        fg = np.stack([a[i][strong[i]].mean(axis=0) if strong[i].any() else _border(a[i:i + 1])[0]
                       for i in range(n)])
        out.update(fg=fg, bg=_border(a))
    return out


def colour_name(rgb: Sequence[float] | np.ndarray) -> str:
    """The name of the :data:`PALETTE` colour nearest to ``rgb`` (0..255)."""
    names = list(PALETTE)
    ref = np.array([PALETTE[k] for k in names], dtype=np.float64)
    return names[int(np.linalg.norm(ref - np.asarray(rgb, dtype=np.float64), axis=1).argmin())]


#: attribute -> word -> the (low, high) range of measurements that caption it. Thickness: the lower and upper
#: thirds of the bundled MNIST training digits (2.55 and 3.20 px at 28 px); the middle third gets no word.
#: Slant is geometric: upright within +-0.08 (4.6 degrees), leaning left below, leaning right above 0.25
#: (14 degrees); (0.08, 0.25] gets no word (most digits lean right a little: the median is 0.14)
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "thickness": {"thin": (-np.inf, 2.55), "thick": (3.20, np.inf)},
    "slant": {"left": (-np.inf, -0.08), "upright": (-0.08, 0.08), "right": (0.25, np.inf)},
}

#: attribute -> the measurements where :func:`judge` changes its word: the midpoints between the bands
SPLITS: dict[str, tuple[float, ...]] = {"thickness": (2.875,), "slant": (-0.08, 0.165)}


def _word(attr: str, v: float) -> str | None:
    for word, (lo, hi) in BANDS[attr].items():
        if lo <= v <= hi if attr == "slant" and word == "upright" else lo < v < hi:
            return word
    return None


def describe(measured: Mapping[str, np.ndarray]) -> list[dict[str, str | None]]:
    """The words of each image's measurements, by :data:`BANDS` (``None`` where a value is between the bands);
    with ``fg``/``bg`` measured, also their colour names."""
    out: list[dict[str, str | None]] = []
    for i in range(len(measured["thickness"])):
        words = {k: _word(k, float(measured[k][i])) for k in WORDS}
        if "fg" in measured:
            words["fg"], words["bg"] = colour_name(measured["fg"][i]), colour_name(measured["bg"][i])
        out.append(words)
    return out


def judged_word(attr: str, v: float) -> str:
    """The word :func:`judge` reads in a measurement: the nearest band, split at :data:`SPLITS`."""
    words = list(BANDS[attr])
    return words[int(np.searchsorted(SPLITS[attr], v, side="right"))]


def judge(measured: Mapping[str, np.ndarray], wanted: Sequence[Mapping[str, str | None]]
          ) -> dict[str, np.ndarray]:
    """Per attribute a (N,) float array: 1 where image i shows the word ``wanted[i]`` asks for, 0 where it does
    not, NaN where no word was asked. A measurement shows the word of its nearest band (:func:`judged_word`:
    thin below 2.875 px, thick above; left below -0.08, upright up to 0.165, right above); colours are
    judged by the nearest palette colour."""
    out: dict[str, np.ndarray] = {}
    for k in (*WORDS, "fg", "bg"):
        if k in ("fg", "bg") and k not in measured:
            continue
        got = np.full(len(wanted), np.nan)
        for i, w in enumerate(wanted):
            word = w.get(k)
            if word is None:
                continue
            seen = colour_name(measured[k][i]) if k in ("fg", "bg") else judged_word(k, float(measured[k][i]))
            got[i] = float(seen == word)
        out[k] = got
    return out


# ---------------------------------------------------------------- captions

_THICKNESS_PHRASES = {"thin": ("with thin strokes", "drawn with a fine pen", "with light strokes"),
                      "thick": ("with bold strokes", "with thick strokes", "drawn with a heavy pen")}
_SLANT_PHRASES = {"left": ("leaning left", "slanted to the left", "tilted left", "leaning to the left"),
                  "right": ("leaning right", "slanted to the right", "tilted right", "leaning to the right"),
                  "upright": ("standing upright", "standing straight", "upright", "straight up")}
_HEADS = ("a {adjs}{digit}", "handwritten {numeral}", "the digit {digit}", "a {adjs}handwritten {digit}",
          "{adjs}{numeral}", "a number {digit}")


def caption_for(digit: int, words: Mapping[str, str | None], rng: np.random.Generator) -> str:
    """One caption for a digit with these attribute words (as :func:`describe` gives them), in one of several
    templates and word orders, synonyms drawn from ``rng``."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    head = pick(_HEADS)
    adjs: list[str] = []
    tails: list[str] = []
    thickness, slant = words.get("thickness"), words.get("slant")
    if thickness is not None:
        if "{adjs}" in head and rng.random() < 0.5:
            adjs.append(pick(WORDS["thickness"][thickness]))
        else:
            tails.append(pick(_THICKNESS_PHRASES[thickness]))
    if slant is not None:
        tails.append(pick(_SLANT_PHRASES[slant]))
    if words.get("fg") is not None:
        fg, bg = words["fg"], words.get("bg")
        tails.append(pick((f"in {fg} on {bg}", f"{fg} on a {bg} background", f"written in {fg} over {bg}")))
    order = rng.permutation(len(tails)) if len(tails) > 1 else range(len(tails))
    text = head.format(adjs="".join(a + " " for a in adjs), digit=DIGIT_NAMES[digit], numeral=str(digit))
    parts = [tails[i] for i in order]
    joiner = pick((" ", ", "))
    return (text + (joiner if parts else "") + joiner.join(parts)).strip()


#: the words of a caption (after lower-casing): letters, or one digit
WORD_PATTERN = re.compile(r"[a-z]+|\d")


def tokens(text: str) -> list[str]:
    """Lower-case words and single digits of a caption: ``"A thick 7, leaning right"`` -> ``['a', 'thick', '7',
    'leaning', 'right']``."""
    return WORD_PATTERN.findall(text.lower())


def parse_caption(text: str) -> dict[str, object]:
    """What a caption asks for: ``digit`` (int, or None when it names none or several), and the canonical word of
    each attribute it names (``thickness``, ``slant``, ``fg``, ``bg``; absent when it names none).
    Colours: the first named is the foreground, one after "on"/"over" the background."""
    toks = tokens(text)
    digits = {int(t) for t in toks if t.isdigit()} | {DIGIT_NAMES.index(t) for t in toks if t in DIGIT_NAMES}
    out: dict[str, object] = {"digit": digits.pop() if len(digits) == 1 else None}
    for attr, table in WORDS.items():
        for canon, syn in table.items():
            if any(t in syn for t in toks):
                out.setdefault(attr, canon)
    for i, t in enumerate(toks):
        if t in PALETTE:
            key = "bg" if i > 0 and toks[i - 1] in ("on", "over", "a") and "fg" in out else "fg"
            out.setdefault(key, t)
    return out


# ---------------------------------------------------------------- the built-in captioned digits

def _colour_pairs() -> list[tuple[str, str]]:
    """(foreground, background) pairs of different, contrasting palette colours."""
    names = list(PALETTE)
    rgb = {k: np.array(v, dtype=np.float64) for k, v in PALETTE.items()}
    return [(f, b) for f in names for b in names if f != b and np.linalg.norm(rgb[f] - rgb[b]) > 150]


def colourise(x: torch.Tensor, fg: Sequence[str], bg: Sequence[str]) -> torch.Tensor:
    """Gray digits (N, 1, H, W) uint8 -> (N, 3, H, W) uint8: each pixel mixes its image's background and
    foreground palette colour by the digit's intensity."""
    f = torch.tensor([PALETTE[c] for c in fg], dtype=torch.float32)[:, :, None, None]  # (N, 3, 1, 1)
    b = torch.tensor([PALETTE[c] for c in bg], dtype=torch.float32)[:, :, None, None]
    m = x[:, :1].float() / 255.0
    return (b + (f - b) * m).round().clamp(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=4)
def _captioned(split: str, colour: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[tuple[str, ...], ...],
                                                  tuple[dict[str, str | None], ...]]:
    from ganforge.data.bundled import load_bundled

    s = load_bundled("mnist", split, None)
    words = describe(measure(s.x))
    y = s.y.numpy()
    keep = np.array([split != "train" or (int(d), w["thickness"], w["slant"]) not in HELD_OUT
                     for d, w in zip(y, words, strict=True)])
    x, y, words = s.x[torch.from_numpy(keep)], y[keep], [w for w, k in zip(words, keep, strict=True) if k]
    rng = np.random.default_rng([1234, 0 if split == "train" else 1, int(colour)])
    if colour:
        pairs = _colour_pairs()
        chosen = [pairs[int(i)] for i in rng.integers(len(pairs), size=len(x))]
        x = colourise(x, [p[0] for p in chosen], [p[1] for p in chosen])
        words = [{**w, "fg": p[0], "bg": p[1]} for w, p in zip(words, chosen, strict=True)]
    captions = tuple(tuple(caption_for(int(d), w, rng) for _ in range(CAPTIONS_PER_IMAGE))
                     for d, w in zip(y, words, strict=True))
    return x, torch.from_numpy(y), captions, tuple(words)


def captioned_digits(split: str, size: int | None = None, colour: bool = False):  # -> ImageSet
    """The bundled MNIST digits of a split, each with :data:`CAPTIONS_PER_IMAGE` captions made from its label and
    measured attributes (``colour``: drawn in a foreground colour over a background colour, both named in the
    captions). The training split leaves out the :data:`HELD_OUT` combinations. Returns an
    :class:`~ganforge.data.imageset.ImageSet` whose ``captions`` and ``words`` are set."""
    from ganforge.data.imageset import ImageSet, convert

    x, y, captions, words = _captioned(split, colour)
    name = "captioned-colordigits" if colour else "captioned-digits"
    out = ImageSet(convert(x, size, None), y.clone(), [str(c) for c in range(10)], name, split,
                   captions=[list(c) for c in captions], words=[dict(w) for w in words])
    return out
