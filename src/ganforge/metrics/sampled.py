"""Scores of a trained sampler against its real data: the in-training figures and the full evaluation.

    from ganforge.metrics.sampled import evaluate, quick_metrics
    run = ganforge.load_run("runs/mnist")
    quick_metrics(run.sampler, 500)            # {"Metric/fid": ..., "Metric/class_acc": ...}
    evaluate(run.sampler)                      # {"model": {...}, "floor": {...}, "provenance": {...}}
    floor_ratios(evaluate(run.sampler))        # image runs: {"fid": 2.9, "fid2": 3.1}, model / floor per network

A sampler is what ``ganforge.sample`` builds for a run (``ToyModel``, ``ImageModel``, ``StyleModel``,
``TranslationModel``): these functions only generate from it, read its real data and score the two,
choosing the protocol by what the sampler declares it can do (``points``, ``images``, ``translate``).
``Run.evaluate`` (``ganforge eval``) and the training loop's in-training metrics call them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ganforge.cache import cache_dir
from ganforge.pixels import to_signed

CHEAP_FEATURES = ("mnist", "fashion")  # small classifiers: cheap enough to score during training on a CPU
MIN_FLOOR = 20  # real images needed for a floor
EVAL_N_CAP = 10_000  # the default n: the held-out split's size, capped here ...
EVAL_N_MIN = 2_000  # ... and at least this with a (cheap) classifier, where the data holds an equal-size floor
FLOOR_SEED = 0  # the real images' draws (reference, floor): fixed, so every run of a data set meets the same floor


def quick_metrics(sampler: Any, n: int, seed: int = 0) -> dict[str, float]:
    """The cheap figures logged during training (``Metric/...``), by the kind of sampler."""
    if "translate" in sampler.capabilities:
        return _translation_quick(sampler, n)
    if "images" in sampler.capabilities:
        return _image_quick(sampler, n, seed)
    return _toy_quick(sampler, n, seed)


def evaluate(sampler: Any, n: int | None = None, seed: int = 0, features: str | None = None,
             resamples: int | None = None) -> dict[str, Any]:
    """The full evaluation: the model's scores beside a floor (real vs real) or a baseline, with provenance.
    Image generation runs: ``features``, the feature space (as ``eval.features``); ``resamples``, the bootstrap
    replicates of the intervals (as ``eval.resamples``; 0 = none)."""
    if "translate" in sampler.capabilities:
        return _translation_evaluate(sampler, n, seed)
    if "images" in sampler.capabilities:
        return _image_evaluate(sampler, n, seed, features, resamples)
    return _toy_evaluate(sampler, n, seed)


# --------------------------------------------------------------------------- helpers

def features_for(cfg: Any) -> str:
    """The feature space ``eval.features=auto`` means for this run's data."""
    spec = cfg.eval.features
    if spec != "auto":
        return spec
    return {"mnist": "mnist", "digits8": "mnist", "fashion": "fashion", "captioned-digits": "mnist",
            "captioned-colordigits": "mnist"}.get(cfg.data.name, "inception")


def stream(take: Any) -> Any:
    """A sampler ``fn(k)`` that continues where the last call stopped: ``take(start, k)`` gives items start..start+k.

    Metrics draw their n images a batch at a time; each call must bring new images, never the first k again.
    """
    pos = 0

    def next_k(k: Any) -> Any:
        nonlocal pos
        out = take(pos, k)
        pos += len(out)
        return out

    return next_k


def spread(n: int, total: int) -> torch.Tensor:
    """``min(n, total)`` indices spread evenly over ``range(total)`` (held-out digits come sorted by class)."""
    return torch.linspace(0, total - 1, min(n, total)).round().long()


# --------------------------------------------------------------------------- 2-D points

def _mode_args(sampler: Any) -> dict[str, Any]:
    d = sampler.distribution
    if d.has_modes:
        return {"centers": d.centers.numpy(), "std": d.std}
    return {"centers": None, "std": None}


def _toy_quick(sampler: Any, n: int, seed: int) -> dict[str, float]:
    """Modes, high-quality %, reverse KL, W1, KL, JSD."""
    from ganforge.metrics import histogram_divergences, mode_stats, wasserstein1

    fake, real = sampler.sample(n, seed=seed), sampler.real(n, seed=seed + 1)
    out: dict[str, float] = {}
    m = _mode_args(sampler)
    if m["centers"] is not None:
        stats = mode_stats(fake, m["centers"], m["std"], sampler.config.eval.hq_threshold)
        out.update({f"Metric/{k}": float(v) for k, v in stats.items()})
    out["Metric/w1"] = wasserstein1(fake, real)
    hist = histogram_divergences(real, fake, bins=sampler.config.eval.bins)
    out.update({"Metric/kl": hist["kl"], "Metric/jsd": hist["jsd"]})
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _toy_evaluate(sampler: Any, n: int | None, seed: int) -> dict[str, Any]:
    """Against a real sample, with the real-vs-real floor for each metric."""
    from ganforge.metrics import evaluate_toy

    e = sampler.config.eval
    return evaluate_toy(
        lambda k: sampler.sample(k, seed=seed + 7), sampler.real, n=n or e.n, hq_threshold=e.hq_threshold,
        bins=e.bins, mmd_n=e.mmd_n, permutations=e.permutations, seed=seed, **_mode_args(sampler),
    )


# --------------------------------------------------------------------------- images

def _data_key(sampler: Any, split: str) -> str:
    from ganforge.data import image_data
    from ganforge.data.images import fingerprint

    return f"{fingerprint(image_data(sampler.config.data, split))}-{split}"


_TRAIN_FEATURES: dict[tuple[str, str], np.ndarray] = {}  # (extractor, data) -> features of the training images


def _image_quick(sampler: Any, n: int, seed: int) -> dict[str, float]:
    """FID against the training images in a small classifier's feature space (skipped for other features
    on a CPU, where Inception is too slow to run during training), and for conditional runs the
    classifier's accuracy on the requested classes."""
    from ganforge.metrics.features import extract
    from ganforge.metrics.images import frechet_distance, real_features

    spec = features_for(sampler.config)
    if spec not in CHEAP_FEATURES and sampler.device.type == "cpu":
        return {}
    ext = sampler.extractor(spec)
    key = (ext.name, _data_key(sampler, "train"))
    if key not in _TRAIN_FEATURES:  # the same on-disk cache as `evaluate`, so the training split is read once
        _TRAIN_FEATURES[key], _ = real_features(ext, sampler.real(), None, 256, cache_dir(), key[1])
    fake = extract(ext, sampler.generate(n, seed), None, device=sampler.device)
    out = {"Metric/fid": frechet_distance(_TRAIN_FEATURES[key], fake)}
    if _class_metrics(sampler, spec):
        out["Metric/class_acc"] = class_scores(sampler, n, seed)["class_acc"]
    return out


def _class_metrics(sampler: Any, spec: str) -> bool:
    """Class accuracy needs a classifier of the same classes: the shipped ones, on their own data."""
    return bool(sampler.num_classes) and spec in CHEAP_FEATURES and sampler.num_classes == 10


def class_scores(sampler: Any, n: int, seed: int = 0, spec: str | None = None) -> dict[str, float]:
    """The classifier's accuracy on generated images of requested classes, and an IS-style score."""
    from ganforge.metrics.images import classifier_scores

    clf = sampler.extractor(spec or features_for(sampler.config))
    z = torch.randn(n, sampler.G.z_dim, generator=torch.Generator().manual_seed(seed))
    r = classifier_scores(clf, stream(lambda i, y: sampler.generate(len(y), labels=y, z=z[i:i + len(y)])), n,
                          sampler.num_classes)
    return {"class_acc": r["accuracy"], "class_is": r["is"]}


def floor_capacity(n_train: int, n_test: int) -> int:
    """The largest floor beside a reference at least as large: the held-out images, topped up with training
    images that the reference then leaves out (``floor_plan``)."""
    return max(n_test, (n_train + n_test) // 2)


def default_n(spec: str, n_train: int, n_test: int) -> int:
    """``eval.n=null`` for image generation: the held-out split's size capped at ``EVAL_N_CAP``; with a shipped
    classifier (cheap) at least ``EVAL_N_MIN``; never more than an equal-size floor allows.
    mnist (4,500 / 500 images): 2,000; fashion (60,000 / 10,000): 10,000; digits8 (1,618 / 179): 898."""
    from ganforge.metrics.features import CLASSIFIER_SPECS

    n = min(n_test, EVAL_N_CAP)
    if spec.partition(":")[0] in CLASSIFIER_SPECS:
        n = max(n, EVAL_N_MIN)
    cap = floor_capacity(n_train, n_test)
    return max(MIN_FLOOR, min(n, cap) if cap >= MIN_FLOOR else n)


def floor_plan(m: int, n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Which real images play which part for a floor of ``m`` images: {"ref": training indices, "floor_test":
    held-out indices, "floor_train": training indices}. The floor takes held-out images first (a random
    subset when there are more than m), then random training images, which the reference leaves out; the
    reference is every other training image. The draws are fixed (``FLOOR_SEED``)."""
    rng = np.random.default_rng(FLOOR_SEED)
    k_test = min(m, n_test)
    floor_test = np.sort(rng.permutation(n_test)[:k_test])
    order = rng.permutation(n_train)
    k_train = max(0, m - k_test)
    return {"ref": np.sort(order[k_train:]), "floor_test": floor_test, "floor_train": np.sort(order[:k_train])}


def floor_ratios(result: dict[str, Any], metric: str = "fid") -> dict[str, float]:
    """Model / floor of ``metric`` in every feature network of an evaluation: {"fid": r1, "fid2": r2}
    (``fid2``: the second network, for digits; absent from older eval.json files, which then give one ratio).
    A claim "within Nx the floor" holds when ``max(floor_ratios(result).values()) <= N``."""
    model, floor = result.get("model") or {}, result.get("floor") or {}
    out = {}
    for key in (metric, f"{metric}2"):
        m, f = model.get(key), floor.get(key)
        if isinstance(m, (int, float)) and isinstance(f, (int, float)) and f > 0:
            out[key] = float(m) / float(f)
    return out


def floor_lines(result: dict[str, Any]) -> list[str]:
    """What a reader needs beside an image evaluation's table: model / floor in each feature network and the
    worst of them (a claim "within Nx the floor" must hold in every one), and a warning when the floor was
    measured at another sample size than the model."""
    prov = result.get("provenance") or {}
    ratios = floor_ratios(result)
    lines = []
    if ratios:
        names = {"fid": prov.get("features", "network 1"), "fid2": prov.get("features2", "network 2")}
        per = ", ".join(f"{r:.2f}x in {names[k]}" for k, r in ratios.items())
        lines.append(f"fid / floor: {per}" + (f"; at worst {max(ratios.values()):.2f}x" if len(ratios) > 1 else ""))
    n_fake, n_floor = prov.get("n_fake"), prov.get("n_floor")
    if prov.get("floor_matched") is False and n_floor:
        lines.append(f"note: the floor has {n_floor} images, the model {n_fake}: not like with like (the data "
                     f"holds an equal-size floor up to n = {n_floor})")
    return lines


def _image_evaluate(sampler: Any, n: int | None, seed: int, features: str | None,
                    resamples: int | None = None) -> dict[str, Any]:
    """FID, KID, precision and recall of generated vs training images, beside the floor: the same figures for
    other real images vs the same training images, at the same sample size (``floor_plan``), each with a 95%
    interval (``metrics.intervals``); digits also in the second, independent network (``fid2``, ``kid2``).

    ``n`` generated images default to ``default_n``: model and floor then share their sample sizes and hence
    their bias.
    """
    from ganforge.data import image_data
    from ganforge.metrics.features import SECOND_RULER, extract_each
    from ganforge.metrics.images import classifier_scores, real_features
    from ganforge.metrics.intervals import compare_to_floor

    cfg = sampler.config
    spec = features or features_for(cfg)
    resamples = cfg.eval.resamples if resamples is None else resamples
    specs = [spec] + ([SECOND_RULER[spec]] if spec in SECOND_RULER else [])
    nets = [sampler.extractor(s) for s in specs]
    train, test = sampler.real(split="train"), sampler.real(split="test")
    n = n or cfg.eval.n or default_n(spec, len(train), len(test))
    m = min(n, floor_capacity(len(train), len(test)))
    plan = floor_plan(m if m >= MIN_FLOOR else 0, len(train), len(test))
    keys = {split: _data_key(sampler, split) for split in ("train", "test")}
    z = torch.randn(n, sampler.G.z_dim, generator=torch.Generator().manual_seed(seed + 7))
    codes = torch.randint(sampler.codes, (n,), generator=torch.Generator().manual_seed(seed + 11)) \
        if sampler.codes else None  # InfoGAN runs: the codes, drawn once like z, so each batch gets its own

    def fakes(i: int, k: int) -> torch.Tensor:
        return sampler.generate(k, z=z[i:i + k], labels=None if codes is None else codes[i:i + k])

    fake_feats = extract_each(nets, stream(fakes), n, device=sampler.device)  # one pass of G for every network
    model: dict[str, Any] = {}
    floor: dict[str, Any] = {}
    ci: dict[str, Any] = {"model": {}, "floor": {}}
    prov: dict[str, Any] = {}
    for i, (net, fake) in enumerate(zip(nets, fake_feats, strict=True)):
        suffix = "" if i == 0 else str(i + 1)  # fid, kid: the first network; fid2, kid2: the second
        tr, cached = real_features(net, train, None, 256, cache_dir(), keys["train"])  # (N_train, D)
        parts = [tr[plan["floor_train"]]]  # the floor: held-out images first, then training ones
        if plan["floor_test"].size:
            parts.insert(0, real_features(net, test, None, 256, cache_dir(), keys["test"])[0][plan["floor_test"]])
        held = np.concatenate(parts) if m >= MIN_FLOOR else None
        r = compare_to_floor(tr[plan["ref"]], fake, held, resamples=resamples, pr=i == 0, seed=FLOOR_SEED)
        model.update({k + suffix: v for k, v in r["model"].items()})
        floor.update({k + suffix: v for k, v in r["floor"].items()})
        if r["ci"] is not None:
            for side in ("model", "floor"):
                ci[side].update({k + suffix: v for k, v in r["ci"].get(side, {}).items()})
        if i == 0:
            prov.update({"features": net.name, "dim": int(fake.shape[1]), **r["provenance"],
                         "ref_key": keys["train"], "ref_cached": cached})
        else:
            prov.update({f"features{suffix}": net.name, f"dim{suffix}": int(fake.shape[1])})
    if "ci" in prov:  # how the intervals were made, then the intervals of every network
        prov["ci"] = {**prov["ci"], **{k: v for k, v in ci.items() if v}}
    prov.update({"split_real": "train", "n_real": int(len(plan["ref"])), "n_floor": int(m) if m >= MIN_FLOOR else 0,
                 "floor_from": {"test": int(plan["floor_test"].size), "train": int(plan["floor_train"].size)},
                 "floor_matched": m == n, "data": cfg.data.name, "size": cfg.data.size})
    prov["split_floor"] = "+".join(k for k in ("test", "train") if prov["floor_from"][k])  # test, test+train
    if m < MIN_FLOOR:  # a tiny folder: a floor from a handful of images would mislead
        prov["split_floor"] = (f"none: {len(test)} held-out and {len(train)} training images leave fewer than "
                               f"{MIN_FLOOR} for a floor beside the reference")
        return {"model": model, "floor": {}, "provenance": prov}
    if _class_metrics(sampler, spec):
        K = sampler.num_classes
        model.update(class_scores(sampler, n, seed, spec))
        y_test = image_data(cfg.data, "test").y
        by_class = [test[y_test == k] for k in range(K)]
        n_class = min(n, len(test))  # the classifier saw every training image: its floor is held-out only
        if n_class >= MIN_FLOOR and all(len(b) for b in by_class):
            def held_out(start: int, y: torch.Tensor) -> torch.Tensor:  # held-out images of the requested classes
                # request i asks for class i mod K: take that class's (i // K)-th image
                return torch.stack([by_class[k][((start + i) // K) % len(by_class[k])]
                                    for i, k in enumerate(y.tolist())])

            r = classifier_scores(nets[0], stream(held_out), n_class, K)
            floor.update({"class_acc": r["accuracy"], "class_is": r["is"]})
            prov["n_floor_class"] = n_class
    if "text" in sampler.capabilities:  # captions: digit and attribute accuracy, R-precision (metrics.text)
        from ganforge.metrics.text import text_scores

        t = text_scores(sampler, n=min(n, 1000), seed=seed)
        if t:
            model.update(t["model"])
            floor.update(t["floor"])
            prov.update({"n_text": t["n"], "n_text_held_out": t.get("n_held_out", 0)})
    return {"model": model, "floor": floor, "provenance": prov}


# --------------------------------------------------------------------------- translation

def _translation_quick(sampler: Any, n: int) -> dict[str, float]:
    """Cheap figures on the held-out split during training: PSNR and L1 (paired), cycle L1 (cyclegan)."""
    from ganforge.metrics.translation import label_accuracy, paired_scores

    s = sampler.held_out()
    ia, ib = spread(n, len(s.A)), spread(n, len(s.B))
    a = to_signed(s.A[ia])
    if not sampler.cyclic:
        r = paired_scores(sampler.translate(a), to_signed(s.B[ia]))
        return {"Metric/psnr": r["psnr"], "Metric/l1": r["l1"]}
    b = to_signed(s.B[ib])
    out = {"Metric/cycle_l1_A": float((sampler.translate(sampler.translate(a), "BtoA") - a).abs().mean()),
           "Metric/cycle_l1_B": float((sampler.translate(sampler.translate(b, "BtoA")) - b).abs().mean())}
    if sampler.config.data.name == "colordigits" and s.y_B is not None:
        out["Metric/label_acc"] = label_accuracy(sampler.classifier(), sampler.translate(b, "BtoA"), s.y_B[ib])
    return out


def _translation_evaluate(sampler: Any, n: int | None, seed: int) -> dict[str, Any]:
    """Scores on the held-out split beside their baselines. Paired runs: L1, PSNR, SSIM of G(A) vs B; the
    floor column is copying the input (A vs B). Cyclegan: cycle L1 both ways (beside the L1 of unrelated
    images of the domain), and on the digit task label preservation and FID (see docs/translation.md)."""
    from ganforge.metrics.translation import SSIM_WINDOW, paired_scores

    cfg = sampler.config
    s = sampler.held_out()
    n = min(n or cfg.eval.n or len(s.A), len(s.A), len(s.B))
    ia, ib = spread(n, len(s.A)), spread(n, len(s.B))
    a, b = to_signed(s.A[ia]), to_signed(s.B[ib])
    prov = {"split": "test", "n": n, "data": cfg.data.name, "size": sampler.size, "recipe": cfg.recipe,
            "floor_column": "baseline"}
    if not sampler.cyclic:
        model = paired_scores(sampler.translate(a), b)
        floor = paired_scores(a, b) if a.shape == b.shape else {}
        prov["floor"] = "copy: the input itself as the output"
        prov["ssim"] = SSIM_WINDOW
        return {"model": model, "floor": floor, "provenance": prov}
    fake_b, fake_a = sampler.translate(a), sampler.translate(b, "BtoA")
    rec_a, rec_b = sampler.translate(fake_b, "BtoA"), sampler.translate(fake_a)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    model = {"cycle_l1_A": float((rec_a - a).abs().mean()), "cycle_l1_B": float((rec_b - b).abs().mean())}
    floor = {"cycle_l1_A": float((a[perm] - a).abs().mean()), "cycle_l1_B": float((b[perm] - b).abs().mean())}
    prov["floor"] = ("cycle_l1: L1 between unrelated images of the domain (a reconstruction that forgot its "
                     "input); label_acc: the classifier on real images of the target domain; "
                     "fid: held-out real images vs the training images")
    if cfg.data.name == "colordigits" and cfg.data.direction == "AtoB" and s.y_A is not None:
        model.update(_digit_scores(sampler, a, b, fake_a, fake_b, rec_a, s.y_A[ia], s.y_B[ib], floor, prov))
    return {"model": model, "floor": floor, "provenance": prov}


def _digit_scores(sampler: Any, a, b, fake_a, fake_b, rec_a, y_a, y_b, floor, prov) -> dict[str, float]:
    from ganforge.metrics.features import SECOND_RULER, extract, get_extractor
    from ganforge.metrics.images import frechet_distance
    from ganforge.metrics.translation import decolour, label_accuracy

    clf = sampler.classifier()
    train = sampler.held_out("train")
    model = {
        "label_acc_BtoA": label_accuracy(clf, fake_a, y_b),  # F(b), a gray digit, labelled as b
        "label_acc_AtoB": label_accuracy(clf, decolour(fake_b), y_a),  # G(a), decoloured, labelled as a
        "label_acc_cycle": label_accuracy(clf, rec_a, y_a),  # F(G(a))
    }
    floor.update({"label_acc_BtoA": label_accuracy(clf, a, y_a),
                  "label_acc_AtoB": label_accuracy(clf, decolour(b), y_b),
                  "label_acc_cycle": label_accuracy(clf, a, y_a)})
    prov["copy_baseline"] = {"label_acc_BtoA": label_accuracy(clf, b, y_b),
                             "label_acc_AtoB": label_accuracy(clf, decolour(a), y_a)}
    # FID in both digit networks (fid_*: the classifier's, fid2_*: the second one, SECOND_RULER)
    nets = [clf, get_extractor(SECOND_RULER["mnist"], sampler.device)]
    for suffix, net in zip(("", "2"), nets, strict=True):
        ref_b = extract(net, train.B, min(len(train.B), 2000))  # the target domains' training images
        ref_a = extract(net, train.A, min(len(train.A), 2000))
        model[f"fid{suffix}_B"] = frechet_distance(ref_b, extract(net, fake_b))
        model[f"fid{suffix}_A"] = frechet_distance(ref_a, extract(net, fake_a))
        floor[f"fid{suffix}_B"] = frechet_distance(ref_b, extract(net, b))
        floor[f"fid{suffix}_A"] = frechet_distance(ref_a, extract(net, a))
    prov["fid_features"] = clf.name + " (colour converted to luma)"
    prov["fid2_features"] = nets[1].name + " (colour converted to luma)"
    return model
