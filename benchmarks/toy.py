"""Benchmark: every loss and both mode-collapse remedies on ring8 and grid25, over several seeds.

    python benchmarks/toy.py                 # 5 seeds, 2 worker processes; ~30 min on 2 CPU cores
    python benchmarks/toy.py --seeds 2 --only ring8 --variants default minimax
    python benchmarks/toy.py --variants default --update      # re-run some rows, keep the others

Prints one table (modes captured median/min, high-quality %, reverse KL, W1, wall seconds,
steps/s, the generator's gradient norm early in training) beside the published rows of
PacGAN's Table 1, and writes ``benchmarks/results/toy.json``. Each run is a full
``ganforge.train`` call: "train s" is the training loop (with its in-training metrics and
checkpoints), "wall s" the whole call (plus the final evaluation and report). The presets
as shipped ("default" rows) run one at a time with every core, the condition of the speed
target; the other rows run ``--workers`` at a time sharing the cores (2 workers on 2 cores:
one thread each), so their times are upper bounds for a run with the machine to itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "toy.json"

# variant name -> overrides on top of the preset ("default" = the preset as shipped: LSGAN + minibatch-std).
# The loss rows keep the preset's minibatch-std. The WGAN rows keep the papers' k = 5 critic steps and get
# 2,000 generator steps, about the compute of 6,000 with k = 1.
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "no remedy": ["model.mbstd=0"],
    "PacGAN2 (no mbstd)": ["model.mbstd=0", "model.pack=2"],
    "ns": ["loss=ns"],
    "minimax": ["loss=minimax"],
    "hinge": ["loss=hinge"],
    "wgan (k=5, 2k steps)": ["loss=wgan", "train.steps=2000"],
    "wgan-gp (k=5, 2k steps)": ["loss=wgan-gp", "train.steps=2000"],
}

# Lin et al. (2018), PacGAN, Table 1 (averages over 10 trials)
PUBLISHED = {
    "ring8": [("PacGAN paper: GAN", 6.3, 98.2, 0.45), ("PacGAN paper: PacGAN2", 7.9, 95.6, 0.07)],
    "grid25": [("PacGAN paper: GAN", 17.3, 94.8, 0.70), ("PacGAN paper: PacGAN4", 24.8, 93.6, 0.04)],
}


def one_run(preset: str, variant: str, seed: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    import ganforge

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            run = ganforge.train(preset, Path(tmp) / "run", overrides=VARIANTS[variant] + [
                f"seed={seed}", "train.progress=false", "train.sample_every=0"])
        except ganforge.GanforgeError as e:  # a diverged run is a result too: nothing captured
            nan = float("nan")
            return {"preset": preset, "variant": variant, "seed": seed, "modes": 0, "hq": 0.0, "reverse_kl": nan,
                    "w1": nan, "w1_floor": nan, "train_s": nan, "wall_s": time.perf_counter() - t0, "steps": 0,
                    "steps_per_s": nan, "grad_G_early": None, "threads": threads, "error": str(e)}
        wall = time.perf_counter() - t0
        result = run.evaluate(write=False)
        train_s = run.train_seconds
        steps = run.step
        early = [r["Grad/G"] for r in run.history if "Grad/G" in r and r["step"] <= max(1, steps // 10)]
    m = result["model"]
    return {"preset": preset, "variant": variant, "seed": seed, "modes": m.get("modes"), "hq": m.get("hq"),
            "reverse_kl": m.get("reverse_kl"), "w1": m.get("w1"), "w1_floor": result["floor"].get("w1"),
            "train_s": train_s, "wall_s": wall, "steps": steps, "steps_per_s": steps / train_s,
            "grad_G_early": statistics.median(early) if early else None, "threads": threads}


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    order = list(PUBLISHED)
    keys = sorted({(r["preset"], r["variant"]) for r in rows},
                  key=lambda k: (order.index(k[0]), list(VARIANTS).index(k[1])))
    for preset, variant in keys:
        rs = [r for r in rows if r["preset"] == preset and r["variant"] == variant]

        def med(k: str, rs: list[dict] = rs) -> float:
            vals = [r[k] for r in rs if r[k] is not None and r[k] == r[k]]
            return statistics.median(vals) if vals else float("nan")

        out.append({"preset": preset, "variant": variant, "seeds": len(rs), "modes_median": med("modes"),
                    "modes_min": min(r["modes"] for r in rs), "hq": med("hq"), "hq_min": min(r["hq"] for r in rs),
                    "reverse_kl": med("reverse_kl"), "reverse_kl_max": max(r["reverse_kl"] for r in rs),
                    "w1": med("w1"), "w1_floor": med("w1_floor"), "train_s": med("train_s"), "wall_s": med("wall_s"),
                    "wall_s_max": max(r["wall_s"] for r in rs), "steps_per_s": med("steps_per_s"),
                    "grad_G_early": med("grad_G_early")})
    return out


def table(summary: list[dict]) -> str:
    head = (f"{'preset':<7} {'variant':<26} {'modes med/min':>13} {'HQ % (min)':>12} {'rev KL (max)':>13} "
            f"{'W1 / floor':>15} {'train s':>7} {'wall s (max)':>13} {'steps/s':>8} {'|grad G| early':>14}")
    lines = [head, "-" * len(head)]
    for preset in dict.fromkeys(s["preset"] for s in summary):
        for s in (s for s in summary if s["preset"] == preset):
            lines.append(
                f"{preset:<7} {s['variant']:<26} {s['modes_median']:>6.1f}/{s['modes_min']:<6d} "
                f"{s['hq']:>5.1f} ({s['hq_min']:>4.1f}) {s['reverse_kl']:>6.3f} ({s['reverse_kl_max']:.3f}) "
                f"{s['w1']:>7.4f}/{s['w1_floor']:.4f} {s['train_s']:>7.1f} "
                f"{s['wall_s']:>6.1f} ({s['wall_s_max']:>4.1f}) "
                f"{s['steps_per_s']:>8.0f} {s['grad_G_early']:>14.3g}")
        for name, modes, hq, kl in PUBLISHED[preset]:
            lines.append(f"{preset:<7} {name:<26} {modes:>6.1f}/{'-':<6} {hq:>5.1f} {'':6} {kl:>6.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", nargs="*", default=["ring8", "grid25"], choices=["ring8", "grid25"])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--update", action="store_true",
                   help="keep the other rows of an existing --out file and replace only the ones run now")
    args = p.parse_args(argv)

    jobs = [(pr, v, s) for pr in args.only for v in args.variants for s in range(args.seeds)]
    # the presets as shipped are timed alone with every core (the target's condition); the rest share them
    alone = [j for j in jobs if j[1] == "default"]
    shared = [j for j in jobs if j[1] != "default"]
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.workers)
    rows: list[dict] = []
    t0 = time.perf_counter()

    def report(r: dict) -> None:
        rows.append(r)
        print(f"[{len(rows)}/{len(jobs)}] {r['preset']} {r['variant']} seed {r['seed']}: modes {r['modes']} "
              f"hq {r['hq']:.1f} rkl {r['reverse_kl']:.3f} train {r['train_s']:.1f}s wall {r['wall_s']:.1f}s "
              f"({r['threads']} thread(s))", flush=True)

    with ProcessPoolExecutor(max_workers=1) as pool:
        for f in [pool.submit(one_run, *j, cores) for j in alone]:
            report(f.result())
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for f in [pool.submit(one_run, *j, threads) for j in shared]:
            report(f.result())
    if args.update and args.out.is_file():
        done = {(r["preset"], r["variant"]) for r in rows}
        rows += [r for r in json.loads(args.out.read_text())["runs"] if (r["preset"], r["variant"]) not in done]
    summary = summarise(rows)
    print()
    print(table(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "toy", "date": time.strftime("%Y-%m-%d"), "total_s": time.perf_counter() - t0,
        "machine": {"cpu_count": cores, "workers": args.workers, "threads_default_rows": cores,
                    "threads_other_rows": threads,
                    "python": sys.version.split()[0], "platform": platform.platform()},
        "protocol": "PacGAN: 2500 samples, high quality < 3 std from the nearest mode, reverse KL over modes",
        "summary": summary, "runs": rows, "published": PUBLISHED,
    }, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
