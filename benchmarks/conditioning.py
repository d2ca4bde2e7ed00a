"""Benchmark: class-conditional models at an equal wall-clock budget, and BigGAN's truncation trade-off.

    python benchmarks/conditioning.py                          # biggan-fashion vs the conditional DCGAN, 20 min each
    python benchmarks/conditioning.py --minutes 5 --data mnist # the digit presets, 5 minutes each
    python benchmarks/conditioning.py --minutes 0.3 --psi 0.5 1 --n 500 --out /tmp/smoke.json   # a smoke run

Trains, one after the other with every core, ``biggan-<data>`` (``recipes/biggan.py``) and the
conditional DCGAN (the ``mnist-cond`` preset on the same data: concat conditioning, batch 64) for
the same ``train.max_minutes`` at ``--seed``; evaluates each as ``ganforge eval`` does (FID, KID,
precision and recall in the data's shipped classifier's features, beside the real data's own floor at
the same sample sizes; class accuracy of that classifier on the requested classes; FID2 in the second
digit network for digits). Then draws BigGAN's truncation curve (Brock et al., 2019, Fig. 4 / Table 1
idea): the same evaluation with z from a normal truncated to [-psi, psi] for each ``--psi``, "none"
being the untruncated model. Smaller psi should raise precision (fidelity) and class accuracy and lower
recall (variety). Prints two tables and writes ``benchmarks/results/conditioning.json`` and
``benchmarks/results/conditioning_truncation.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "conditioning.json"
PSIS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
KEYS = ("fid", "fid2", "kid", "precision", "recall", "class_acc")


def _row(name: str, run, result: dict, seconds: float) -> dict:
    from ganforge.metrics.sampled import floor_ratios

    mod, floor = result["model"], result["floor"]
    ci = result["provenance"].get("ci", {}).get("model", {})
    return {"model": name, "preset": run.config.recipe, "steps": run.step, "train_s": run.train_seconds,
            "wall_s": seconds, **{k: mod.get(k) for k in KEYS}, **{f"{k}_floor": floor.get(k) for k in KEYS},
            "fid_ci": ci.get("fid"), "fid_ratio": floor_ratios(result).get("fid"),
            "fid2_ratio": floor_ratios(result).get("fid2"), "provenance": result["provenance"]}


def train_and_eval(preset: str, data: str, minutes: float, seed: int, out: Path, n: int | None) -> tuple[dict, object]:
    import ganforge

    over = [f"seed={seed}", "train.steps=1000000", f"train.max_minutes={minutes}", "train.progress=false",
            "train.final_eval=false", "train.sample_every=0", "train.eval_every=0", "train.ckpt_every=1000"]
    if preset == "mnist-cond":
        over.append(f"data.name={data}")
    t0 = time.perf_counter()
    run = ganforge.train(preset, out, overrides=over)
    seconds = time.perf_counter() - t0
    result = run.evaluate(n=n, write=False)
    return _row(preset if preset != "mnist-cond" else f"cDCGAN ({data})", run, result, seconds), run


def truncation_curve(run, psis: list[float | None], n: int | None) -> list[dict]:
    rows = []
    for psi in psis:
        run.sampler.truncation = psi  # generate() draws z truncated to [-psi, psi] (None = off)
        result = run.evaluate(n=n, write=False, resamples=0)
        mod = result["model"]
        rows.append({"psi": psi, **{k: mod.get(k) for k in KEYS}})
        print(f"psi {'none' if psi is None else psi}: " + ", ".join(
            f"{k} {mod[k]:.3f}" for k in KEYS if isinstance(mod.get(k), (int, float))), flush=True)
    run.sampler.truncation = None
    return rows


def _f(v: object, fmt: str = ".3f") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "-"


def tables(rows: list[dict], curve: list[dict]) -> str:
    out = [f"{'model':22s} {'steps':>7s} {'FID':>8s} {'floor':>7s} {'x':>6s} {'FID2 x':>7s} {'prec':>6s} "
           f"{'recall':>6s} {'class acc':>9s}"]
    out.append("-" * len(out[0]))
    for r in rows:
        out.append(f"{r['model']:22s} {r['steps']:7d} {_f(r['fid'], '.2f'):>8s} {_f(r['fid_floor'], '.2f'):>7s} "
                   f"{_f(r['fid_ratio'], '.2f'):>6s} {_f(r['fid2_ratio'], '.2f'):>7s} {_f(r['precision']):>6s} "
                   f"{_f(r['recall']):>6s} {_f(r['class_acc']):>9s}")
    out += ["", f"{'psi':>6s} {'FID':>8s} {'prec':>6s} {'recall':>6s} {'class acc':>9s}"]
    out.append("-" * len(out[-1]))
    for r in curve:
        out.append(f"{'none' if r['psi'] is None else r['psi']:>6} {_f(r['fid'], '.2f'):>8s} "
                   f"{_f(r['precision']):>6s} {_f(r['recall']):>6s} {_f(r['class_acc']):>9s}")
    return "\n".join(out)


def plot(curve: list[dict], path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    pts = [r for r in curve if r["psi"] is not None]
    fig = Figure(figsize=(9, 3.4))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot([r["psi"] for r in pts], [r["fid"] for r in pts], "o-", label="FID (lower is better)")
    none = next((r for r in curve if r["psi"] is None), None)
    if none:
        ax.axhline(none["fid"], color="grey", ls="--", lw=1, label="no truncation")
    ax.set_xlabel("truncation threshold psi")
    ax.set_ylabel("FID")
    ax.legend(fontsize=8)
    ax.set_title("FID against psi")
    ax = fig.add_subplot(1, 2, 2)
    ax.plot([r["recall"] for r in pts], [r["precision"] for r in pts], "o-")
    for r in pts:
        ax.annotate(f"{r['psi']:g}", (r["recall"], r["precision"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("recall (variety)")
    ax.set_ylabel("precision (fidelity)")
    ax.set_title("the trade-off: psi labelled")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("fashion", "mnist"), default="fashion")
    p.add_argument("--minutes", type=float, default=20.0, help="training budget of each model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--psi", type=float, nargs="*", default=PSIS, help="truncation thresholds of the curve")
    p.add_argument("--n", type=int, default=None, help="generated samples per evaluation (default: ganforge eval's)")
    p.add_argument("--skip-cgan", action="store_true", help="train BigGAN only")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    rows, curve = [], []
    with tempfile.TemporaryDirectory() as tmp:
        row, big = train_and_eval(f"biggan-{args.data}", args.data, args.minutes, args.seed, Path(tmp) / "big", args.n)
        rows.append(row)
        print(f"{row['model']}: {row['steps']} steps, FID {_f(row['fid'], '.2f')} (floor {_f(row['fid_floor'], '.2f')})"
              f", class acc {_f(row['class_acc'])}", flush=True)
        curve = truncation_curve(big, [*args.psi, None], args.n)
        if not args.skip_cgan:
            row, _ = train_and_eval("mnist-cond", args.data, args.minutes, args.seed, Path(tmp) / "cgan", args.n)
            rows.append(row)
    print()
    print(tables(rows, curve))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture = args.out.with_name(args.out.stem + "_truncation.png")
    plot(curve, picture, f"biggan-{args.data}, {args.minutes:g} min, seed {args.seed}")
    args.out.write_text(json.dumps({
        "benchmark": "conditioning", "date": time.strftime("%Y-%m-%d"), "data": args.data, "minutes": args.minutes,
        "seed": args.seed, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                       "loadavg_after": os.getloadavg()},
        "rows": rows, "truncation": curve}, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out} and {picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
