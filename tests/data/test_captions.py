"""Captioned data: attributes measured from pixels, the captions made from them, and users' caption files."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import captions as C
from ganforge.data.bundled import load_bundled
from ganforge.data.images import load_images
from ganforge.errors import DataError


def _stroke(width: int, shear: float = 0.0, size: int = 28) -> torch.Tensor:
    """A vertical bar of ``width`` pixels, its top moved right by ``shear`` pixels per pixel of height."""
    img = np.zeros((size, size), dtype=np.uint8)
    for r in range(4, size - 4):
        c = int(round(size / 2 + shear * (size / 2 - r)))
        img[r, c - width // 2:c - width // 2 + width] = 255
    return torch.from_numpy(img)[None, None]


def test_thicker_strokes_measure_thicker_and_sheared_ones_slanted():
    thin, thick = C.measure(_stroke(2))["thickness"][0], C.measure(_stroke(5))["thickness"][0]
    assert thin < 2.55 < 3.2 < thick  # the bands' words: thin and thick
    right, left, up = (C.measure(_stroke(3, s))["slant"][0] for s in (0.4, -0.4, 0.0))
    assert right > 0.25 and left < -0.08 and abs(up) < 0.08
    assert right == pytest.approx(0.4, abs=0.06) and left == pytest.approx(-0.4, abs=0.06)


def test_real_digits_thickened_and_sheared():
    """Dilating real digits raises their thickness; shearing them raises their slant."""
    from scipy.ndimage import affine_transform, grey_dilation

    x = load_bundled("mnist", "test", None).x[:40]
    base = C.measure(x)
    fat = torch.from_numpy(np.stack([grey_dilation(im[0].numpy(), size=(2, 2)) for im in x]))[:, None]
    assert (C.measure(fat)["thickness"] > base["thickness"]).mean() > 0.9
    # output (r, c) samples input (r, c + 0.3 (r - 14)): the top moves right
    m = np.array([[1.0, 0.0], [0.3, 1.0]])
    sheared = np.stack([affine_transform(im[0].numpy().astype(float), m, offset=(0, -0.3 * 14), order=1)
                        for im in x]).clip(0, 255).astype(np.uint8)
    slant = C.measure(torch.from_numpy(sheared)[:, None])["slant"]
    assert np.all(slant > base["slant"] + 0.2)


def test_size_and_colour_do_not_change_the_words():
    s28, s32 = C.captioned_digits("test"), C.captioned_digits("test", size=32)
    same = [a == b for a, b in zip(C.describe(C.measure(s32.x)), s28.words, strict=True)]
    assert np.mean(same) > 0.8  # 32 px is measured back at 28 px; borderline values may move a band
    col = C.captioned_digits("test", colour=True)
    measured = C.measure(col.x, colours=True)
    words = C.describe(measured)
    assert all(w["fg"] == t["fg"] and w["bg"] == t["bg"] for w, t in zip(words, col.words, strict=True))
    shape = [(w["thickness"], w["slant"]) == (t["thickness"], t["slant"]) for w, t in zip(words, s28.words,
                                                                                              strict=True)]
    assert np.mean(shape) > 0.95  # the same digits in colour measure (nearly) the same shape


def test_bands_split_the_training_digits_as_stated():
    m = C.measure(load_bundled("mnist", "train", None).x)
    lo, mid, hi = np.quantile(m["thickness"], [1 / 3, 1 / 2, 2 / 3])
    assert lo == pytest.approx(2.55, abs=0.05) and hi == pytest.approx(3.20, abs=0.05)
    assert mid == pytest.approx(C.SPLITS["thickness"][0], abs=0.05)
    assert np.median(m["slant"]) > 0.08  # most digits lean right a little


def test_captions_describe_their_images_and_parse_back():
    s = C.captioned_digits("train")
    assert len(s.captions) == len(s.x) and all(len(c) == C.CAPTIONS_PER_IMAGE for c in s.captions)
    for caps, d, w in zip(s.captions[:300], s.y[:300].tolist(), s.words[:300], strict=True):
        for text in caps:
            p = C.parse_caption(text)
            assert p["digit"] == d, text
            assert p.get("thickness") == w["thickness"] and p.get("slant") == w["slant"], text
    every = [t for caps in s.captions for t in caps]
    assert len(set(every)) > 0.4 * len(every)  # varied templates, synonyms and orders (9,088 of 20,640 here)
    starts = Counter(t.split()[0] for t in every)
    assert len(starts) >= 4


def test_held_out_combinations_are_absent_from_training_only():
    train, test = C.captioned_digits("train"), C.captioned_digits("test")
    seen = {(int(d), w["thickness"], w["slant"]) for d, w in zip(train.y, train.words, strict=True)}
    assert not seen & C.HELD_OUT
    in_test = {(int(d), w["thickness"], w["slant"]) for d, w in zip(test.y, test.words, strict=True)}
    assert in_test & C.HELD_OUT  # the test split keeps them, so they can be looked at
    assert len(train.x) < 4500 and len(test.x) == 500


def test_judge_by_the_nearest_band():
    m = {"thickness": np.array([2.0, 3.0, 2.8]), "slant": np.array([-0.3, 0.1, 0.2]), "height": np.zeros(3)}
    wanted = [{"thickness": "thin", "slant": "left"}, {"thickness": "thick", "slant": "upright"},
              {"thickness": "thick", "slant": None}]
    j = C.judge(m, wanted)
    assert j["thickness"].tolist() == [1.0, 1.0, 0.0]
    assert j["slant"][:2].tolist() == [1.0, 1.0] and np.isnan(j["slant"][2])


def test_parse_caption_colours_and_numerals():
    p = C.parse_caption("A thick 7 in red on blue, leaning right")
    assert p == {"digit": 7, "thickness": "thick", "slant": "right", "fg": "red", "bg": "blue"}
    assert C.parse_caption("a seven or a 3")["digit"] is None
    assert C.parse_caption("something else") == {"digit": None}


def test_load_images_names_the_captioned_sets():
    s = load_images("captioned-colordigits", split="test", size=32)
    assert s.x.shape == (500, 3, 32, 32) and s.captions and s.words[0]["fg"] in C.PALETTE
    with pytest.raises(DataError, match="data.root"):
        load_images("captioned-digits", root="/tmp")


def _folder(path, n=4):
    path.mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((12, 12), 40 * i, dtype=np.uint8)).save(path / f"im{i}.png")
    return path


def test_a_users_captions_jsonl_and_txt(tmp_path):
    root = _folder(tmp_path / "a")
    lines = [{"file": f"im{i}.png", "text": f"picture {i}"} for i in range(4)] + [{"file": "./im2.png",
                                                                                    "text": "again two"}]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    both = load_images("images", root=root, split="train", test_fraction=0.25), load_images(
        "images", root=root, split="test", test_fraction=0.25)
    caps = sorted(c for s in both for c in s.captions)
    assert caps == sorted([["picture 0"], ["picture 1"], ["picture 2", "again two"], ["picture 3"]])
    txt = _folder(tmp_path / "b")
    for i in range(4):
        (txt / f"im{i}.txt").write_text(f"first {i}\n\nsecond {i}\n")
    s = load_images("images", root=txt, split="train", test_fraction=0.25)
    assert all(len(c) == 2 and c[0].startswith("first") for c in s.captions)
    plain = _folder(tmp_path / "c")
    assert load_images("images", root=plain, split="train").captions is None


@pytest.mark.parametrize("content, match", [
    ('{"file": "im0.png", "text": "x"}\nnot json\n', r"captions.jsonl line 2: not JSON"),
    ('{"file": "nope.png", "text": "x"}\n', r"line 1: 'nope.png' is not an image|line 1: nope.png is not"),
    ('{"file": "im0.png"}\n', r"line 1: each line must be an object"),
    ('{"file": "im0.png", "text": "x"}\n', r"image\(s\) have no caption, e.g. im"),
])
def test_bad_caption_files_name_file_and_line(tmp_path, content, match):
    root = _folder(tmp_path)
    (root / "captions.jsonl").write_text(content)
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(DataError, match=match):
        load_images("images", root=root, split="train")
    assert sorted(p.name for p in root.iterdir()) == before


def test_a_missing_txt_is_named(tmp_path):
    root = _folder(tmp_path)
    (root / "im0.txt").write_text("only one\n")
    with pytest.raises(DataError, match=r"im1.txt is missing"):
        load_images("images", root=root, split="train", test_fraction=0.25)
