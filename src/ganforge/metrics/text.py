"""Does a text-to-image model draw what its captions say? Scores measured on the generated images.

    from ganforge.metrics.text import text_scores
    text_scores(run.sampler, n=1000)   # {"digit_acc": .., "digit_acc2": .., "thickness_acc": .., "slant_acc": ..,
                                       #  "*_held_out": .., "r_precision": ..}, and "floor": the same for real images

* **digit accuracy**: the caption's digit (``data.captions.parse_caption``) against the reading of the shipped
  digit classifier (``digit_acc``) and of the second, independently trained digit network (``digit_acc2``);
* **attribute accuracy**: each attribute a caption names, measured on the image (``data.captions.measure``,
  judged by the nearest band: ``judge``); colours too for colour digits;
* **held-out combinations**: the same for captions of the (digit, thickness, slant) combinations training never
  saw (``data.captions.HELD_OUT``), made from the caption templates;
* **R-precision** (Xu et al., 2018, AttnGAN's): the image encoder trained with the run's text encoder ranks each
  image's caption among 99 captions of other held-out images; a hit when the top one says the same (the same
  parsed digit and words: captions that say the same are equally right).

The prompts are the first captions of the held-out images (sentences training never saw), cycled to ``n``; the
floor is the same scores for those held-out images themselves (at the run's image size), so a model is read
against what real images of that size score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganforge.pixels import to_signed


def _words(texts: list[str]) -> list[dict[str, Any]]:
    from ganforge.data.captions import parse_caption

    return [parse_caption(t) for t in texts]


def _scores(sampler: Any, x: torch.Tensor, texts: list[str], with_r: bool = True) -> dict[str, float | None]:
    """The scores of images ``x`` (n, C, H, W) in [-1, 1] against ``texts``."""
    from ganforge.data.captions import judge, measure

    wanted = _words(texts)
    out: dict[str, float | None] = {}
    digits = np.array([w["digit"] if w["digit"] is not None else -1 for w in wanted])
    asked = digits >= 0
    for spec, key in (("mnist", "digit_acc"), ("mnist2", "digit_acc2")):
        net = sampler.extractor(spec)
        with torch.no_grad():
            pred = torch.cat([net.logits(x[i:i + 500].to(sampler.device)).argmax(1).cpu()
                              for i in range(0, len(x), 500)]).numpy()
        out[key] = float((pred[asked] == digits[asked]).mean()) if asked.any() else None
    judged = judge(measure(x, colours=x.shape[1] == 3), wanted)
    for k, v in judged.items():
        ok = v[~np.isnan(v)]
        out[f"{k}_acc"] = float(ok.mean()) if len(ok) else None
    if with_r:
        out["r_precision"] = r_precision(sampler, x, texts)
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("digit", "thickness", "slant", "fg", "bg"))


def r_precision(sampler: Any, x: torch.Tensor, texts: list[str], pool: int = 100, seed: int = 0) -> float | None:
    """Top-1 R-precision of images against their captions among ``pool`` (the caption and pool - 1 others of
    ``texts``), by the run's image encoder; None when the run's encoder file has none."""
    from ganforge.errors import GanforgeError
    from ganforge.nets.text import load_image_encoder

    try:
        enc = load_image_encoder(sampler.config.model.text_encoder or None)
    except (GanforgeError, KeyError):
        return None
    unique = list(dict.fromkeys(texts))
    if len(unique) < 2:
        return None
    emb = sampler.embed(unique)  # (U, dim)
    where = {t: i for i, t in enumerate(unique)}
    meaning = _words(unique)
    with torch.no_grad():
        img = torch.cat([enc(x[i:i + 500]) for i in range(0, len(x), 500)])  # (n, dim)
    rng = np.random.default_rng(seed)
    hits = []
    for i, t in enumerate(texts):
        own = where[t]
        others = rng.choice(np.delete(np.arange(len(unique)), own), size=min(pool - 1, len(unique) - 1),
                            replace=False)
        cand = np.concatenate([[own], others])
        best = int(cand[int((emb[cand] @ img[i]).argmax())])
        hits.append(_same(meaning[best], meaning[own]))
    return float(np.mean(hits))


def text_scores(sampler: Any, n: int = 1000, seed: int = 0, held_out: bool = True) -> dict[str, Any]:
    """The scores of ``n`` samples for held-out captions, of samples for the held-out combinations (``held_out``),
    and the floor (the held-out images themselves); see the module docstring."""
    from ganforge.data import image_data
    from ganforge.data.captions import HELD_OUT, caption_for

    test = image_data(sampler.config.data, "test")
    if test.captions is None:
        return {}
    idx = [i % len(test.captions) for i in range(n)]
    texts = [test.captions[i][0] for i in idx]
    fake = sampler.generate(n, seed=seed + 13, text=texts)
    out: dict[str, Any] = {"model": _scores(sampler, fake, texts), "n": n}
    real = to_signed(test.x[torch.tensor(idx[:len(test.captions)])])
    out["floor"] = _scores(sampler, real, texts[:len(real)])
    if held_out and test.words is not None:
        rng = np.random.default_rng(seed + 17)
        combos = sorted(HELD_OUT)
        per = max(1, n // (2 * len(combos)))
        prompts = [caption_for(d, {"thickness": t, "slant": s, **_colours(test, rng)}, rng)
                   for d, t, s in combos for _ in range(per)]
        x = sampler.generate(len(prompts), seed=seed + 19, text=prompts)
        out["model"].update({f"{k}_held_out": v for k, v in _scores(sampler, x, prompts, with_r=False).items()})
        out["n_held_out"] = len(prompts)
    return out


def _colours(test: Any, rng: np.random.Generator) -> dict[str, str]:
    """A colour pair for a held-out prompt of colour digits (none for gray ones)."""
    if not test.words or "fg" not in test.words[0]:
        return {}
    w = test.words[int(rng.integers(len(test.words)))]
    return {"fg": w["fg"], "bg": w["bg"]}
