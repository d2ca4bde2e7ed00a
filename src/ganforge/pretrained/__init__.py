"""Pretrained models shipped inside the package, addressed as ``pretrained:NAME`` wherever a run folder is.

    ganforge pretrained                                   # the models, with their measured scores
    ganforge sample pretrained:mnist --n 64 --out grid.png
    run = ganforge.load_run("pretrained:ring8")

Each model is a small run folder (``config.yaml``, one checkpoint holding only the networks sampling needs,
``scores.json``) trained by ``scripts/train_pretrained.py`` from the preset it is named after, with a fixed
seed; nothing is downloaded. A pretrained run is read-only: ``ganforge eval`` prints its scores but writes no
``eval.json`` into the package, and ``resume`` refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganforge.errors import CheckpointError

PREFIX = "pretrained:"
ROOT = Path(__file__).parent

#: the digit DCGANs train longer than their presets' quick demo, with R1 (docs/images.md, "Ten minutes on a laptop
#: CPU"), for a fixed number of steps so that the result does not depend on the machine's speed (the unconditional
#: one 20,000: at 8,000 it was still improving, 3.9x its floor)
LONGER = ["loss.r1_gamma=3", "train.reuse_fake=true", "train.steps=8000", "train.eval_every=1000",
          "train.sample_every=2000", "train.ckpt_every=2000"]

#: the translators at half their presets' generator width, so that the package stays small (a quarter of the
#: weights: 4 and 2 MB instead of 17 and 9)
SLIM = ["model.g_width=16"]

#: name -> (the preset it is trained from, the overrides, what it shows); scripts/train_pretrained.py trains them
MODELS: dict[str, tuple[str, list[str], str]] = {
    "ring8": ("ring8", [], "8 Gaussians on a ring (LSGAN + minibatch-std MLPs): the 2-D toy, with its D"),
    "mnist": ("mnist", LONGER + ["train.steps=20000"], "DCGAN on the bundled MNIST digits at 32 px (G_ema, R1)"),
    "mnist-cond": ("mnist-cond", LONGER, "conditional DCGAN on the bundled MNIST digits at 32 px: a row per class"),
    "stylegan-mnist": ("stylegan-mnist", ["train.steps=16000", "train.eval_every=1000", "train.sample_every=2000",
                                          "train.ckpt_every=2000"],
                       "StyleGAN (mapping network, modulated convs, noise, mixing) on the bundled MNIST digits at "
                       "32 px"),
    "cyclegan-digits": ("cyclegan-digits", SLIM, "CycleGAN between MNIST digits and colour digits at 32 px (G: A->B, "
                        "F: B->A)"),
    "inpaint": ("inpaint", SLIM, "pix2pix inpainting: a U-Net fills a square hole in 32 px photos"),
    "text2image-digits": ("text2image-digits", ["train.max_minutes=0", "train.steps=5000", "train.eval_every=1000",
                                                "train.sample_every=1000", "train.ckpt_every=1000"],
                          "text to image on the captioned MNIST digits at 32 px: `--text 'a thin four leaning left'`"),
}

#: the networks a pretrained checkpoint keeps, per kind of run (sampling needs no optimiser, D only for 2-D); a
#: text-to-image run keeps its sentence encoder T too, so that it goes on working if the shipped encoder changes
KEEP = {"toy": ("G", "G_ema", "D"), "images": ("G_ema",), "pairs": ("G", "F"), "text": ("G_ema", "T")}


def kept_networks(cfg: Any) -> tuple[str, ...]:
    """The networks a pretrained checkpoint of a run with config ``cfg`` keeps (:data:`KEEP`)."""
    return KEEP["text" if cfg.recipe == "text2image" else cfg.data_kind]


def is_pretrained(ref: str | Path) -> bool:
    return str(ref).startswith(PREFIX)


def is_shipped(ref: str | Path) -> bool:
    """``pretrained:NAME``, or a path inside the package's folder of pretrained models."""
    if is_pretrained(ref):
        return True
    try:
        return ROOT.resolve() in Path(ref).expanduser().resolve().parents
    except (OSError, RuntimeError, ValueError):
        return False


def locate(ref: str | Path) -> Path:
    """The folder of ``pretrained:NAME``; any other reference is returned as a path."""
    text = str(ref)
    if not text.startswith(PREFIX):
        return Path(ref).expanduser()
    name = text[len(PREFIX):]
    folder = ROOT / name
    if name not in MODELS:
        raise CheckpointError(f"unknown pretrained model {name[:40]!r}; the shipped ones: "
                              f"{', '.join(PREFIX + n for n in MODELS)} (`ganforge pretrained` lists them)")
    if not (folder / "config.yaml").is_file():
        raise CheckpointError(f"pretrained model {name!r} is not in this installation ({folder} is missing); "
                              "reinstall ganforge, or train it with scripts/train_pretrained.py")
    return folder


def scores(name: str) -> dict[str, Any]:
    """The measured evaluation of a shipped model (``scores.json``: model and real floor), or {}."""
    path = ROOT / name / "scores.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def available() -> list[tuple[str, str, dict[str, Any]]]:
    """(``pretrained:NAME``, description, scores) of each model this installation holds."""
    return [(PREFIX + n, desc, scores(n)) for n, (_, _, desc) in MODELS.items() if (ROOT / n / "config.yaml").is_file()]


#: the scores a listing shows first, in this order (image models, translators, the 2-D toy)
HEADLINE = ("fid", "fid2", "kid", "psnr", "ssim", "label_acc_cycle", "fid_B", "cycle_l1_A", "modes", "hq", "w1")


def headline(result: dict[str, Any], limit: int = 3) -> list[tuple[str, Any, Any]]:
    """(key, model's value, floor's value or None) of the first ``limit`` headline scores in an evaluation."""
    model, floor = result.get("model", {}), result.get("floor", {})
    return [(k, model[k], floor.get(k)) for k in HEADLINE if k in model][:limit]

