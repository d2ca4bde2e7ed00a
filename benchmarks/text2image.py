"""Benchmark: text-to-image on the captioned digits at a wall-clock budget, scored against its captions.

    python benchmarks/text2image.py                            # the preset, 10 minutes, seed 0
    python benchmarks/text2image.py --variants default paper --seed 1 --update   # + the paper's D (concat only)
    python benchmarks/text2image.py --minutes 0.3 --n 200 --out /tmp/smoke.json  # a smoke run

Trains ``text2image-digits`` (``recipes/text2image.py``: GAN-CLS + GAN-INT, DCGAN networks at 32 px, the
shipped sentence encoder) for ``--minutes`` with every core and evaluates it as ``ganforge eval`` does: FID
and KID in the shipped digit classifier's features and in the second digit network (FID2), each beside the
real data's floor at the same sample sizes, and the caption scores of ``ganforge.metrics.text``: digit
accuracy against the caption in both networks, thickness and slant accuracy measured on the images (all on
held-out captions), the same for the attribute combinations training never saw, and R-precision. Variants:
``default`` (the preset: D with the sentence concatenated to its last feature map and a projection term)
and ``paper`` (``model.d_projection=false``: Reed et al.'s concatenation only). Prints a table, writes
``benchmarks/results/text2image.json`` and a grid of samples per caption (``text2image_grid.png``).
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

RESULTS = Path(__file__).parent / "results" / "text2image.json"
VARIANTS = {"default": [], "paper": ["model.d_projection=false"]}
KEYS = ("fid", "fid2", "precision", "recall", "digit_acc", "digit_acc2", "thickness_acc", "slant_acc",
        "digit_acc_held_out", "digit_acc2_held_out", "thickness_acc_held_out", "slant_acc_held_out", "r_precision")
CAPTIONS = ["a thin zero leaning left", "a thick one leaning right", "handwritten 2 with bold strokes, upright",
            "a thin three slanted to the right", "a thick four leaning left", "the digit five, thin, upright",
            "a heavy seven tilted right", "a slim eight leaning left", "a bold nine standing upright"]


def one(variant: str, minutes: float, seed: int, n: int | None, grid: Path | None) -> dict:
    import ganforge
    from ganforge.metrics.sampled import floor_ratios

    with tempfile.TemporaryDirectory() as tmp:
        over = VARIANTS[variant] + [f"seed={seed}", f"train.max_minutes={minutes}", "train.progress=false",
                                    "train.final_eval=false", "train.sample_every=0", "train.eval_every=0"]
        run = ganforge.train("text2image-digits", Path(tmp) / variant, overrides=over)
        result = run.evaluate(n=n, write=False)
        if grid is not None:
            from ganforge.pixels import make_grid, save_image

            rows = [run.generate(8, seed=1, text=c) for c in CAPTIONS]
            import torch

            save_image(make_grid((torch.cat(rows) + 1) / 2, nrow=8, padding=2, pad_value=1.0), grid)
    mod, floor = result["model"], result["floor"]
    ratios = floor_ratios(result)
    ci = result["provenance"].get("ci", {}).get("model", {})
    return {"variant": variant, "seed": seed, "minutes": minutes, "steps": run.step, "train_s": run.train_seconds,
            **{k: mod.get(k) for k in KEYS}, **{f"{k}_floor": floor.get(k) for k in KEYS},
            "fid_ci": ci.get("fid"), "fid2_ci": ci.get("fid2"), "fid_ratio": ratios.get("fid"),
            "fid2_ratio": ratios.get("fid2"), "worst_ratio": max(ratios.values()) if ratios else None,
            "provenance": result["provenance"]}


def _f(v: object, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def table(rows: list[dict]) -> str:
    head = (f"{'variant':<8} {'seed':>4} {'min':>4} {'steps':>6} {'FID':>6} {'xfloor':>6} {'FID2':>6} {'xfloor2':>7} "
            f"{'digit':>6} {'digit2':>6} {'thick':>6} {'slant':>6} {'digit*':>6} {'thick*':>6} {'slant*':>6} "
            f"{'R-prec':>6}")
    lines = [head, "-" * len(head), "(* = held-out combinations)"]
    for r in rows:
        lines.append(f"{r['variant']:<8} {r['seed']:>4} {r['minutes']:>4g} {r['steps']:>6d} {_f(r['fid'], '6.2f')} "
                     f"{_f(r['fid_ratio'], '6.2f')} {_f(r['fid2'], '6.3f')} {_f(r['fid2_ratio'], '7.2f')} "
                     f"{_f(r['digit_acc'], '6.3f')} {_f(r['digit_acc2'], '6.3f')} {_f(r['thickness_acc'], '6.3f')} "
                     f"{_f(r['slant_acc'], '6.3f')} {_f(r['digit_acc_held_out'], '6.3f')} "
                     f"{_f(r['thickness_acc_held_out'], '6.3f')} {_f(r['slant_acc_held_out'], '6.3f')} "
                     f"{_f(r['r_precision'], '6.3f')}")
    floor = rows[0] if rows else None
    if floor:
        lines.append(f"{'floor':<8} {'':>4} {'':>4} {'':>6} {_f(floor['fid_floor'], '6.2f')} {'':>6} "
                     f"{_f(floor['fid2_floor'], '6.3f')} {'':>7} {_f(floor['digit_acc_floor'], '6.3f')} "
                     f"{_f(floor['digit_acc2_floor'], '6.3f')} {_f(floor['thickness_acc_floor'], '6.3f')} "
                     f"{_f(floor['slant_acc_floor'], '6.3f')} {'':>6} {'':>6} {'':>6} "
                     f"{_f(floor['r_precision_floor'], '6.3f')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--variants", nargs="*", default=["default"], choices=list(VARIANTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=None, help="generated samples for FID (default: ganforge eval's)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--update", action="store_true", help="keep the other rows of an existing --out")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for v in args.variants:
        grid = args.out.parent / "text2image_grid.png" if v == "default" and args.seed == 0 else None
        rows.append(one(v, args.minutes, args.seed, args.n, grid))
    if args.update and args.out.is_file():
        rows += [r for r in json.loads(args.out.read_text())["rows"]
                 if (r["variant"], r["seed"]) not in {(x["variant"], x["seed"]) for x in rows}]
        rows.sort(key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"]))
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "text2image", "date": time.strftime("%Y-%m-%d"), "total_s": time.perf_counter() - t0,
        "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "protocol": "text2image-digits with a budget, evaluated as ganforge eval: FID/KID in both digit networks "
                    "beside the floor; caption scores (metrics.text) on held-out captions and held-out "
                    "combinations; grid rows = CAPTIONS",
        "captions": CAPTIONS, "rows": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
