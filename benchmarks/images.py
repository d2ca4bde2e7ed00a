"""Benchmark: image GANs on the bundled MNIST digits, FID against wall-clock minutes on this machine.

    python benchmarks/images.py                            # DCGAN, cDCGAN, WGAN-GP, InfoGAN, clusters; 2/5/10 min each
    python benchmarks/images.py --minutes 1 2 --variants dcgan
    python benchmarks/images.py --variants cdcgan --update # re-run some rows, keep the others in the JSON

Each variant trains the ``mnist`` preset (DCGAN at 32 px, ngf = ndf = 32, batch 64) with a
few ``--set`` overrides and a wall-clock budget (``train.max_minutes``); at each budget the run
stops, is evaluated, and resumes to the next one (resume is exact, so this is one run). The
evaluation is ``ganforge eval``'s: FID, KID, precision and recall in the shipped MNIST
classifier's feature space, generated images vs the training split, beside the floor (the
held-out split vs the training split, at the same sample size); conditional runs add the
classifier's accuracy on the requested classes. FID of 500 generated samples moves by about
+-20% between draws from one generator, so each evaluation is repeated with ``--eval-seeds``
draws and "FID mean" is their mean (the floor's held-out side is fixed). Each variant runs in its own process with
every core; "img/s" counts real images through D per second of training loop (with its
in-training metrics and checkpoints), "peak MB" is that process's peak resident memory.
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

VARIANTS: dict[str, list[str]] = {
    "dcgan": [],
    "cdcgan": ["model.cond=concat"],
    "wgan-gp": ["loss=wgan-gp"],  # k = 5 critic steps, Adam 1e-4 (0, 0.9), instance norm in the critic
    "infogan": ["model.codes=10"],  # DCGAN + an unsupervised 10-way code (no labels)
    "clusters": ["model.clusters=50"],  # DCGAN conditioned on 50 k-means clusters of the pixels (no labels)
    "r1": ["loss.r1_gamma=1"],  # DCGAN + lazy R1 on real images (gamma 1, every 16 steps; Mescheder et al., 2018)
    "r1g3": ["loss.r1_gamma=3"],  # the same with gamma 3
    "r1g3fast": ["loss.r1_gamma=3", "train.channels_last=true", "train.reuse_fake=true"],  # + the speed options
    "cdcgan-r1g3": ["model.cond=concat", "loss.r1_gamma=3"],  # the conditional DCGAN with R1, gamma 3
}


def one_variant(variant: str, minutes: list[float], threads: int, eval_seeds: int = 5, seed: int = 0) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    import ganforge
    from ganforge.runner import resume

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / variant
        base = VARIANTS[variant] + [f"seed={seed}", "train.steps=1000000", "train.progress=false",
                                    "train.sample_every=0", "train.eval_every=0", "train.ckpt_every=500"]
        for i, m in enumerate(minutes):
            if i == 0:
                run = ganforge.train("mnist", out, overrides=base + [f"train.max_minutes={m}"])
            else:
                run = ganforge.load_run(resume(out, [f"train.max_minutes={m}"]))
            result = run.evaluate(write=False)
            mod, floor = result["model"], result["floor"]
            # FID of 500 samples moves by +-20% between draws of the same generator: also the mean over draws
            fids = [mod["fid"]] + [run.evaluate(write=False, seed=s)["model"]["fid"] for s in range(1, eval_seeds)]
            batch = run.config.train.batch_size * run.config.train.d_steps
            rows.append({
                "variant": variant, "minutes": m, "steps": run.step, "train_s": run.train_seconds,
                "img_per_s": run.step * batch / run.train_seconds,
                "fid": mod["fid"], "fid_floor": floor["fid"], "fid_ratio": mod["fid"] / floor["fid"],
                "fid_draws": fids, "fid_mean": sum(fids) / len(fids),
                "kid": mod.get("kid"), "kid_floor": floor.get("kid"),
                "precision": mod.get("precision"), "recall": mod.get("recall"),
                "class_acc": mod.get("class_acc"), "class_acc_floor": floor.get("class_acc"),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "provenance": result["provenance"], "threads": threads, "seed": seed,
            })
            r = rows[-1]
            print(f"{variant} @ {m} min: step {r['steps']} FID {r['fid']:.2f} (floor {r['fid_floor']:.2f}, "
                  f"x{r['fid_ratio']:.2f}; mean of {len(fids)} draws {r['fid_mean']:.2f}, "
                  f"{min(fids):.2f}-{max(fids):.2f}) {r['img_per_s']:.0f} img/s", flush=True)
    return rows


def _f(v: object, fmt: str) -> str:
    return format("-", ">" + fmt.split(".")[0]) if v is None else format(v, fmt)


def table(rows: list[dict]) -> str:
    head = (f"{'variant':<8} {'seed':>4} {'min':>4} {'steps':>6} {'img/s':>6} {'FID':>7} {'floor':>6} {'xfloor':>6} "
            f"{'FID mean':>8} {'KID':>7} {'prec':>5} {'recall':>6} {'class acc':>9} {'peak MB':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['variant']:<8} {_f(r.get('seed'), '4')} {r['minutes']:>4g} {r['steps']:>6d} "
                     f"{r['img_per_s']:>6.0f} {r['fid']:>7.2f} "
                     f"{r['fid_floor']:>6.2f} {r['fid_ratio']:>6.2f} {_f(r.get('fid_mean'), '8.2f')} "
                     f"{_f(r['kid'], '7.4f')} "
                     f"{_f(r['precision'], '5.2f')} {_f(r['recall'], '6.2f')} {_f(r['class_acc'], '9.3f')} "
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
        "protocol": "mnist preset (DCGAN 32 px, ngf=ndf=32, batch 64) with overrides; eval: FID/KID/precision/"
                    "recall in the shipped MNIST classifier's features, generated vs train split, floor = "
                    "held-out vs train at the same n",
        "rows": rows,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
