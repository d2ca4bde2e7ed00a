"""Benchmark: StyleGAN beside DCGAN on the bundled MNIST digits at 32 px for the same wall-clock time, then
StyleGAN's own figures: style mixing, projection into W vs W+, path length in z vs w, speed and memory.

    python benchmarks/stylegan.py --threads 1      # 20 min each, evaluated at 2.5/5/10/15/20; AdaIN row 5 min
    python benchmarks/stylegan.py --minutes 0.1 0.2 --adain-minutes 0.1 --project-steps 20 --ppl-n 100 \
        --project-images 4 --out /tmp/s.json                                       # smoke test: 2 minutes

1. FID race: the ``stylegan-mnist`` preset and the ``mnist`` preset (DCGAN, unconditional) each train with a
   wall-clock budget (``train.max_minutes``); at each budget the run stops, is evaluated (``ganforge eval``:
   FID / KID / precision / recall in the shipped digit classifier's feature space against the training
   split, beside the held-out floor) and resumes (resume is exact, so this is one run). Each trains in its
   own process with ``--threads`` torch threads; "img/s" = real images through D per second of training
   loop; "peak MB" = that process's peak resident memory when the row was taken. A shorter third row
   trains the same preset with AdaIN (``model.style=adain``) instead of modulated convolutions, with the
   divergence guard off so that it is measured rather than stopped.
2. Style mixing, measured: for 500 pairs (A, B), B's coarse (or fine) styles on A. The digit classifier
   says whose class the mixed image has, and the "ink" (mean brightness, i.e. stroke weight) is correlated
   with A's and B's. Coarse styles should carry the class, fine ones not. The grids are written to
   ``benchmarks/results/stylegan_mix_{coarse,fine}.png``.
3. Projection of held-out test digits into W and into W+ (same steps, same start at w_avg, pixel MSE):
   per-image MSE and PSNR; picture ``stylegan_projection.png`` (rows: target, W, W+).
4. PPL-style smoothness (Karras et al., 2019) in the digit classifier's feature space, z (slerp) vs w (lerp).
5. Sampling img/s of the final generator.
Writes ``benchmarks/results/stylegan.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BASE = ["train.steps=10000000", "train.progress=false", "train.sample_every=0", "train.eval_every=0",
        "train.ckpt_every=500"]
PRESETS = {"stylegan": "stylegan-mnist", "dcgan": "mnist", "stylegan-adain": "stylegan-mnist"}
EXTRA = {"stylegan-adain": ["model.style=adain", "train.diverge_patience=0"]}  # AdaIN: measured, not stopped


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _row(variant: str, m: float, run, threads: int, **extra) -> dict:
    result = run.evaluate(write=False)
    mod, floor = result["model"], result["floor"]
    return {
        "variant": variant, "minutes": m, "steps": run.step, "train_s": run.train_seconds,
        "img_per_s": run.step * run.config.train.batch_size / run.train_seconds,
        "batch_size": run.config.train.batch_size,
        "fid": mod["fid"], "fid_floor": floor["fid"], "kid": mod.get("kid"),
        "precision": mod.get("precision"), "recall": mod.get("recall"),
        "peak_mb": _peak_mb(), "provenance": result["provenance"], "threads": threads, **extra,
    }


def race(variant: str, minutes: list[float], threads: int, runs: Path, existing: bool = False) -> list[dict]:
    """Train one preset to each wall-clock budget in turn; evaluate at each. A run that diverges (the loop's
    guard stops it) is scored at its last checkpoint and ends there. ``existing``: no training, score the
    newest checkpoint of ``runs/variant`` (a row for its final budget)."""
    import torch

    torch.set_num_threads(threads)
    import ganforge
    from ganforge.errors import TrainingDiverged
    from ganforge.runner import resume

    out = runs / variant
    rows = []
    if existing:
        run = ganforge.load_run(out)
        return [_row(variant, round(run.train_seconds / 60, 2), run, threads, scored="existing run folder",
                     events=[h for h in run.history if "event" in h])]
    for i, m in enumerate(minutes):
        try:
            if i == 0:
                run = ganforge.train(PRESETS[variant], out, overwrite=True,
                                     overrides=BASE + EXTRA.get(variant, []) + [f"train.max_minutes={m}"])
            else:
                run = ganforge.load_run(resume(out, [f"train.max_minutes={m}"]))
        except TrainingDiverged as e:
            run = ganforge.load_run(out)  # its newest checkpoint, before the divergence
            rows.append(_row(variant, m, run, threads, diverged=str(e)))
            print(f"{variant} @ {m} min: diverged ({str(e)[:120]}...); last checkpoint step {run.step} "
                  f"FID {rows[-1]['fid']:.2f}", flush=True)
            break
        rows.append(_row(variant, m, run, threads))
        r = rows[-1]
        print(f"{variant} @ {m} min: step {r['steps']} FID {r['fid']:.2f} (floor {r['fid_floor']:.2f}) "
              f"{r['img_per_s']:.0f} img/s", flush=True)
    return rows


LOG_LINE = re.compile(r"^(?P<variant>[\w-]+) @ (?P<minutes>[\d.]+) min: step (?P<steps>\d+) FID (?P<fid>[\d.]+) "
                      r"\(floor (?P<floor>[\d.]+)\) (?P<ips>\d+) img/s$")


def rows_from_log(path: Path) -> list[dict]:
    """The per-budget lines an earlier run of this script printed (variant, minutes, steps, FID, floor, img/s)."""
    rows = []
    for line in path.read_text().splitlines():
        m = LOG_LINE.match(line.strip())
        if m:
            rows.append({"variant": m["variant"], "minutes": float(m["minutes"]), "steps": int(m["steps"]),
                         "fid": float(m["fid"]), "fid_floor": float(m["floor"]), "img_per_s": float(m["ips"])})
    return rows


def style_figures(run_dir: Path, threads: int, n_project: int, project_steps: int, ppl_n: int,
                  pictures: Path) -> dict:
    """Mixing (measured and drawn), projection W vs W+, PPL z vs w, sampling speed of a trained StyleGAN run."""
    import numpy as np
    import torch
    from torchvision.utils import make_grid, save_image

    torch.set_num_threads(threads)
    import ganforge
    from ganforge.sample.style import layer_groups, mix_ws

    run = ganforge.load_run(run_dir)
    out: dict = {"run_step": run.step, "layer_groups": {k: list(v) for k, v in layer_groups(run.G).items()}}

    # -- style mixing, measured: whose class and whose ink does the mixed image take?
    clf = run.extractor("mnist")
    n = 500
    ws_a, ws_b = run.ws_for(n, seed=101), run.ws_for(n, seed=202)
    xa, xb = run.synthesize(ws_a), run.synthesize(ws_b)

    def cls(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([clf.logits(x[i:i + 250]).argmax(1) for i in range(0, len(x), 250)])

    def ink(x: torch.Tensor) -> np.ndarray:
        return ((x + 1) / 2).mean((1, 2, 3)).numpy()

    def num(v: float) -> float | None:  # strict JSON: undefined (no pairs of different class, flat ink) -> null
        return float(v) if np.isfinite(v) else None

    ca, cb, ia, ib = cls(xa), cls(xb), ink(xa), ink(xb)
    differ = ca != cb
    mixing = {"pairs": n, "pairs_of_different_class": int(differ.sum())}
    for group, layers in layer_groups(run.G).items():
        idx = torch.arange(n)
        x = run.synthesize(mix_ws(ws_a, ws_b, layers)[idx, idx])  # (n, C, H, W): A_i with B_i's group styles
        c, i = cls(x), ink(x)
        mixing[group] = {
            "layers": list(layers),
            "class_of_A": num(float((c[differ] == ca[differ]).float().mean())),
            "class_of_B": num(float((c[differ] == cb[differ]).float().mean())),
            "ink_corr_A": num(np.corrcoef(i, ia)[0, 1]), "ink_corr_B": num(np.corrcoef(i, ib)[0, 1]),
        }
    out["mixing"] = mixing
    for group in ("coarse", "middle", "fine"):
        run.save_mix(pictures / f"stylegan_mix_{group}.png", rows=4, cols=4, layers=group, seed=7)
    run.save_noise(pictures / "stylegan_noise.png", seed=3, n=8)
    save_image(torch.cat([run.grid(32, seed=0, nrow=8), run.grid(32, seed=0, nrow=8, truncation=0.7)], 2),
               pictures / "stylegan_samples.png")  # psi = 1 (left) and 0.7 (right), same z

    # -- projection of held-out digits into W and W+
    target = run.real(n_project, seed=5, split="test")  # (N, 1, 32, 32) in [-1, 1]
    proj = {}
    recon = [target]
    for space in ("w", "w+"):
        t0 = time.perf_counter()
        r = run.project(target, space=space, steps=project_steps, lr=0.1, seed=0)
        mse = r["mse"].astype(float)
        proj[space] = {"mse": mse.tolist(), "psnr": (10 * np.log10(4.0 / np.maximum(mse, 1e-12))).tolist(),
                       "mean_mse": float(mse.mean()), "seconds": time.perf_counter() - t0}
        recon.append(r["images"].clamp(-1, 1))
    wp_better = [b < a for a, b in zip(proj["w"]["mse"], proj["w+"]["mse"], strict=True)]
    proj.update({"images": n_project, "steps": project_steps, "lr": 0.1, "split": "test",
                 "w_plus_better_on": int(sum(wp_better)), "w_plus_better_on_every_image": all(wp_better)})
    out["projection"] = proj
    save_image(make_grid((torch.cat(recon) + 1) / 2, nrow=n_project, padding=2, pad_value=1.0),
               pictures / "stylegan_projection.png")

    # -- path length: z vs w
    out["ppl"] = {space: run.path_length(space, n=ppl_n, seed=0) for space in ("z", "w")}

    # -- sampling speed
    run.generate(64)
    t0 = time.perf_counter()
    run.generate(2000, seed=1)
    out["sample_img_per_s"] = 2000 / (time.perf_counter() - t0)
    out["peak_mb"] = _peak_mb()
    return out


def _f(v: object, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table(result: dict) -> str:
    lines = [f"{'variant':<14} {'min':>5} {'steps':>7} {'img/s':>6} {'FID':>7} {'floor':>6} {'prec':>5} {'rec':>5} "
             f"{'peak MB':>8}"]
    for r in result.get("log_rows", []) + result["rows"]:
        lines.append(f"{r['variant']:<14} {r['minutes']:>5g} {r['steps']:>7} {r['img_per_s']:>6.0f} "
                     f"{_f(r['fid'], '7.2f')} {_f(r['fid_floor'], '6.2f')} {_f(r.get('precision'), '5.2f')} "
                     f"{_f(r.get('recall'), '5.2f')} {_f(r.get('peak_mb'), '8.0f')}"
                     + ("  (log)" if "peak_mb" not in r else "  diverged" if r.get("diverged") else ""))
    s = result.get("stylegan")
    if s:
        m = s["mixing"]
        lines.append("")
        lines.append(f"style mixing ({m['pairs']} pairs, {m['pairs_of_different_class']} of different class): "
                     "share of mixed images with A's / B's class; ink correlation with A / B")
        for g in ("coarse", "middle", "fine"):
            if g in m:
                v = m[g]
                lines.append(f"  B's {g:<6} styles (layers {v['layers'][0]}-{v['layers'][1] - 1}): class A "
                             f"{_f(v['class_of_A'], '.2f')}  class B {_f(v['class_of_B'], '.2f')}  ink corr A "
                             f"{_f(v['ink_corr_A'], '.2f')}  B {_f(v['ink_corr_B'], '.2f')}")
        p = s["projection"]
        lines.append("")
        lines.append(f"projection of {p['images']} held-out digits, {p['steps']} steps: mean MSE W "
                     f"{p['w']['mean_mse']:.4f}, W+ {p['w+']['mean_mse']:.4f}; W+ better on "
                     f"{p['w_plus_better_on']}/{p['images']}")
        lines.append("  per image MSE W : " + " ".join(f"{v:.4f}" for v in p["w"]["mse"]))
        lines.append("  per image MSE W+: " + " ".join(f"{v:.4f}" for v in p["w+"]["mse"]))
        q = s["ppl"]
        lines.append("")
        lines.append(f"path length (digit-classifier features, eps {q['z']['eps']:g}, 1-99% kept): "
                     f"z {q['z']['ppl']:.1f} (median {q['z']['median']:.1f}), "
                     f"w {q['w']['ppl']:.1f} (median {q['w']['median']:.1f})")
        lines.append(f"sampling: {s['sample_img_per_s']:.0f} img/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", nargs="*", type=float, default=[2.5, 5, 10, 15, 20],
                   help="wall-clock budgets at which each run is evaluated (the last is the race's length)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    p.add_argument("--variants", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    p.add_argument("--adain-minutes", nargs="*", type=float, default=[2.5, 5],
                   help="budgets of the shorter AdaIN row (the preset's generator is the modulated one)")
    p.add_argument("--project-images", type=int, default=16, help="held-out digits projected into W and W+")
    p.add_argument("--project-steps", type=int, default=500)
    p.add_argument("--ppl-n", type=int, default=2000, help="path pairs per space for the path length")
    p.add_argument("--runs", type=Path, default=None, help="keep the run folders here (default: a temporary one)")
    p.add_argument("--out", type=Path, default=RESULTS / "stylegan.json")
    p.add_argument("--existing", nargs="*", default=[], choices=list(PRESETS),
                   help="variants not trained again: their run folders under --runs are scored at their newest "
                        "checkpoint (e.g. after a run of this script stopped)")
    p.add_argument("--log", type=Path, default=None,
                   help="the printed output of an earlier run of this script: its per-budget lines are kept in the "
                        "JSON as 'log_rows' (for --existing variants)")
    args = p.parse_args(argv)
    t_start = time.time()
    tmp = None
    if args.runs is None:
        tmp = tempfile.TemporaryDirectory()
        args.runs = Path(tmp.name)
    args.runs.mkdir(parents=True, exist_ok=True)
    pictures = args.out.parent
    pictures.mkdir(parents=True, exist_ok=True)
    rows, style = [], None
    for variant in args.variants:  # one after the other, each in a fresh process (its own peak memory)
        with ProcessPoolExecutor(1) as pool:
            minutes = args.adain_minutes if variant == "stylegan-adain" else args.minutes
            rows += pool.submit(race, variant, minutes, args.threads, args.runs, variant in args.existing).result()
            if variant == "stylegan":
                style = pool.submit(style_figures, args.runs / "stylegan", args.threads, args.project_images,
                                    args.project_steps, args.ppl_n, pictures).result()
    import torch

    log_rows = rows_from_log(args.log) if args.log else []
    final = {v: next((r for r in reversed(rows) if r["variant"] == v), None) for v in args.variants}
    best = {v: min((r for r in log_rows + rows if r["variant"] == v), key=lambda r: r["fid"], default=None)
            for v in args.variants}
    result = {
        "benchmark": "stylegan",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "total_s": time.time() - t_start,
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "threads": args.threads,
                    "note": f"each training process used {args.threads} torch thread(s) while another benchmark "
                            "ran beside it: a lower bound for a 2-core machine"},
        "protocol": {"minutes": args.minutes, "presets": PRESETS, "overrides": BASE,
                     "features": "mnist classifier (FID/KID/precision/recall vs the training split; floor = "
                                 "held-out split)"},
        "rows": rows,
        "log_rows": log_rows,
        "stylegan": style,
        "summary": {
            "final_fid": {v: r["fid"] if r else None for v, r in final.items()},
            "best_fid": {v: {"fid": r["fid"], "minutes": r["minutes"], "steps": r["steps"]} if r else None
                         for v, r in best.items()},
            "stylegan_final_fid_no_worse_than_dcgan": (
                final["stylegan"]["fid"] <= final["dcgan"]["fid"]
                if final.get("stylegan") and final.get("dcgan") else None),
            "stylegan_best_fid_no_worse_than_dcgan_best": (
                best["stylegan"]["fid"] <= best["dcgan"]["fid"]
                if best.get("stylegan") and best.get("dcgan") else None),
            "w_plus_better_on_every_image": style["projection"]["w_plus_better_on_every_image"] if style else None,
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nwrote {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
