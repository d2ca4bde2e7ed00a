"""Benchmark: image GANs on the bundled MNIST digits, FID against wall-clock minutes on this machine.

    python benchmarks/images.py                            # every variant, 2/5/10 min each
    python benchmarks/images.py --variants default dcgan cond --seed 1 --update   # the defaults beside the paper's
    python benchmarks/images.py --minutes 1 2 --variants dcgan
    python benchmarks/images.py --variants cdcgan --update # re-run some rows, keep the others in the JSON
    python benchmarks/images.py --minutes 0.2 --variants dcgan --eval-seeds 1 --out /tmp/smoke.json   # a smoke run

Each variant trains a digit preset (DCGAN at 32 px, ngf = ndf = 32, batch 64: ``mnist``, the default
with R1, ``mnist-cond``, or the paper's plain ``dcgan-paper``) with a few ``--set`` overrides and a
wall-clock budget (``train.max_minutes``, no step count: no step cap); at each budget the run
stops, is evaluated, and resumes to the next one (resume is exact, so this is one run). The
evaluation is ``ganforge eval``'s (docs/evaluation.md): 2,000 generated images against 3,000
training images, beside the floor (500 held-out and 1,500 other training digits against the same
3,000, so model and floor share their sample sizes), each FID and KID with its 95% interval, in two
independently trained digit networks: the shipped MNIST classifier (FID, KID, precision, recall) and
the second ruler (FID2, KID2). "xfloor" is model / floor in each network and "worst" the larger of
the two: a claim "within Nx the floor" holds only when "worst" <= N. Conditional runs add the
classifier's accuracy on the requested classes. Each evaluation is repeated with ``--eval-seeds``
draws of generated samples; "FID mean" is their mean (the floor is fixed). Each variant runs in its
own process with every core; "img/s" counts real images through D per second of training loop (with
its in-training metrics and checkpoints), "peak MB" is that process's peak resident memory.
Writes ``benchmarks/results/images.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "images.json"

#: name -> (preset, overrides); the benchmark gives each a wall-clock budget and no step count, as a user would
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "default": ("mnist", []),  # what `ganforge train mnist --set train.max_minutes=10` trains: DCGAN + R1 gamma 3
    "cond": ("mnist-cond", []),  # the conditional default: + model.cond=concat
    "dcgan": ("dcgan-paper", []),  # the paper's plain DCGAN
    "cdcgan": ("dcgan-paper", ["model.cond=concat"]),
    "wgan-gp": ("dcgan-paper", ["loss=wgan-gp"]),  # k = 5 critic steps, Adam 1e-4 (0, 0.9), instance norm in the critic
    "infogan": ("dcgan-paper", ["model.codes=10"]),  # DCGAN + an unsupervised 10-way code (no labels)
    "clusters": ("dcgan-paper", ["model.clusters=50"]),  # conditioned on 50 k-means clusters of the pixels (no labels)
    "r1": ("dcgan-paper", ["loss.r1_gamma=1"]),  # DCGAN + lazy R1 on real images (gamma 1, every 16 steps)
    "r1g3": ("dcgan-paper", ["loss.r1_gamma=3"]),  # the same with gamma 3: the default's settings
    "r1g3fast": ("mnist", ["train.channels_last=true", "train.reuse_fake=true"]),  # + the speed options
    "cdcgan-r1g3": ("dcgan-paper", ["model.cond=concat", "loss.r1_gamma=3"]),  # the conditional default's settings
}


def one_variant(variant: str, minutes: list[float], threads: int, eval_seeds: int = 5, seed: int = 0) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    import ganforge
    from ganforge.metrics.sampled import floor_ratios
    from ganforge.runner import resume

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / variant
        preset, overrides = VARIANTS[variant]
        base = overrides + [f"seed={seed}", "train.progress=false", "train.sample_every=0", "train.eval_every=0",
                            "train.ckpt_every=500"]
        for i, m in enumerate(minutes):
            if i == 0:  # a budget without train.steps: no step cap
                run = ganforge.train(preset, out, overrides=base + [f"train.max_minutes={m}"])
            else:
                run = ganforge.load_run(resume(out, [f"train.max_minutes={m}"]))
            result = run.evaluate(write=False)
            mod, floor = result["model"], result["floor"]
            ci = result["provenance"].get("ci", {})
            # more draws of generated samples (the real side and so the floor stay fixed); the interval above
            # covers both sides' draws
            draws = [result] + [run.evaluate(write=False, seed=s, resamples=0) for s in range(1, eval_seeds)]
            fids = [d["model"]["fid"] for d in draws]
            fids2 = [d["model"]["fid2"] for d in draws if "fid2" in d["model"]]
            ratios = floor_ratios(result)
            batch = run.config.train.batch_size * run.config.train.d_steps
            rows.append({
                "variant": variant, "preset": preset, "overrides": overrides, "minutes": m, "steps": run.step,
                "train_s": run.train_seconds,
                "img_per_s": run.step * batch / run.train_seconds,
                "fid": mod["fid"], "fid_ci": ci.get("model", {}).get("fid"), "fid_floor": floor["fid"],
                "fid_floor_ci": ci.get("floor", {}).get("fid"), "fid_ratio": ratios.get("fid"),
                "fid2": mod.get("fid2"), "fid2_ci": ci.get("model", {}).get("fid2"), "fid2_floor": floor.get("fid2"),
                "fid2_floor_ci": ci.get("floor", {}).get("fid2"), "fid2_ratio": ratios.get("fid2"),
                "worst_ratio": max(ratios.values()) if ratios else None,
                "fid_draws": fids, "fid_mean": sum(fids) / len(fids),
                "fid2_draws": fids2, "fid2_mean": sum(fids2) / len(fids2) if fids2 else None,
                "kid": mod.get("kid"), "kid_ci": ci.get("model", {}).get("kid"), "kid_floor": floor.get("kid"),
                "kid2": mod.get("kid2"), "kid2_ci": ci.get("model", {}).get("kid2"), "kid2_floor": floor.get("kid2"),
                "precision": mod.get("precision"), "recall": mod.get("recall"),
                "class_acc": mod.get("class_acc"), "class_acc_floor": floor.get("class_acc"),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "provenance": result["provenance"], "threads": threads, "seed": seed,
            })
            r = rows[-1]
            print(f"{variant} @ {m} min: step {r['steps']} FID {r['fid']:.2f} {_ci(r['fid_ci'])} (floor "
                  f"{r['fid_floor']:.2f} {_ci(r['fid_floor_ci'])}, x{r['fid_ratio']:.2f}); FID2 {_f(r['fid2'], '.3f')} "
                  f"{_ci(r['fid2_ci'])} (floor {_f(r['fid2_floor'], '.3f')}, x{_f(r['fid2_ratio'], '.2f')}); worst "
                  f"x{_f(r['worst_ratio'], '.2f')}; FID mean of {len(fids)} draws {r['fid_mean']:.2f} "
                  f"({min(fids):.2f}-{max(fids):.2f}) {r['img_per_s']:.0f} img/s", flush=True)
    return rows


def _f(v: object, fmt: str) -> str:
    return format("-", ">" + fmt.split(".")[0]) if v is None else format(v, fmt)


def _ci(ci: object, fmt: str = ".2f") -> str:
    """[lo, hi] -> "[lo-hi]"; none (rows from before the intervals) -> "[-]"."""
    return f"[{ci[0]:{fmt}}-{ci[1]:{fmt}}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "[-]"


def table(rows: list[dict]) -> str:
    """One line per evaluation; rows written before the second network and the intervals show "-"."""
    head = (f"{'variant':<8} {'seed':>4} {'min':>4} {'steps':>6} {'img/s':>6} {'FID':>6} {'95%':>13} {'floor':>5} "
            f"{'xfloor':>6} {'FID2':>6} {'95%':>13} {'floor2':>6} {'xfloor2':>7} {'worst':>5} {'FID mean':>8} "
            f"{'KID':>7} {'KID2':>7} {'prec':>5} {'recall':>6} {'class acc':>9} {'peak MB':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = r.get("fid_ratio") or (r["fid"] / r["fid_floor"] if r.get("fid_floor") else None)
        lines.append(f"{r['variant']:<8} {_f(r.get('seed'), '4')} {r['minutes']:>4g} {r['steps']:>6d} "
                     f"{r['img_per_s']:>6.0f} {r['fid']:>6.2f} {_ci(r.get('fid_ci')):>13} {r['fid_floor']:>5.2f} "
                     f"{_f(ratio, '6.2f')} {_f(r.get('fid2'), '6.3f')} {_ci(r.get('fid2_ci'), '.3f'):>13} "
                     f"{_f(r.get('fid2_floor'), '6.3f')} {_f(r.get('fid2_ratio'), '7.2f')} "
                     f"{_f(r.get('worst_ratio'), '5.2f')} {_f(r.get('fid_mean'), '8.2f')} "
                     f"{_f(r.get('kid'), '7.4f')} {_f(r.get('kid2'), '7.4f')} "
                     f"{_f(r.get('precision'), '5.2f')} {_f(r.get('recall'), '6.2f')} {_f(r.get('class_acc'), '9.3f')} "
                     f"{r['peak_mb']:>7.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", nargs="*", type=float, default=[2, 5, 10])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--update", action="store_true", help="keep the other variants' (and other seeds') rows of an "
                   "existing --out")
    p.add_argument("--seed", type=int, default=0, help="the runs' seed (networks, data order, noise)")
    p.add_argument("--eval-seeds", type=int, default=5, help="draws of generated samples per evaluation (FID mean)")
    args = p.parse_args(argv)
    threads = os.cpu_count() or 1
    t0 = time.perf_counter()
    rows: list[dict] = []
    for v in args.variants:  # one at a time, each in a fresh process with every core
        with ProcessPoolExecutor(max_workers=1) as pool:
            rows += pool.submit(one_variant, v, sorted(args.minutes), threads, args.eval_seeds, args.seed).result()
    if args.update and args.out.is_file():
        rows += [r for r in json.loads(args.out.read_text())["rows"]  # other variants, or other seeds of these
                 if r["variant"] not in args.variants or r.get("seed", 0) != args.seed]
        rows.sort(key=lambda r: (list(VARIANTS).index(r["variant"]), r.get("seed", 0), r["minutes"]))
    print()
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "images", "date": time.strftime("%Y-%m-%d"), "total_s": time.perf_counter() - t0,
        "machine": {"cpu_count": os.cpu_count(), "threads": threads, "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "protocol": "digit presets (DCGAN 32 px, ngf=ndf=32, batch 64; mnist = + R1 gamma 3, mnist-cond = + class "
                    "conditioning, dcgan-paper = plain) with overrides, a budget and no step cap; eval: "
                    "ganforge eval's, "
                    "2,000 generated vs 3,000 training digits, floor = 500 held-out + 1,500 other training digits "
                    "vs the same 3,000; FID/KID with 95% bootstrap intervals in the shipped MNIST classifier and "
                    "in the second network (FID2/KID2); worst_ratio = the larger model/floor FID ratio",
        "rows": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
