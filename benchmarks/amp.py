"""Benchmark: does bf16 autocast reach fp32's quality at equal steps, per recipe?

    python benchmarks/amp.py                               # every recipe, fp32 then bf16, about an hour on 2 cores
    python benchmarks/amp.py --recipes dcgan --scale 0.1   # a smoke run
    python benchmarks/amp.py --seed 7                      # another seed

Each recipe trains twice from the same preset, seed and step count, once with ``train.amp=none`` (fp32)
and once with ``train.amp=bf16`` (autocast of the forward passes; losses, R1 and the gradient penalty,
batch-norm statistics, EMA and optimiser state stay fp32), and is evaluated by ``Run.evaluate``:

* image recipes (DCGAN, conditional DCGAN, WGAN-GP, StyleGAN): FID in both digit feature networks with
  their 95% intervals. bf16 passes when its interval's low end is not above fp32's high end in either
  network (bf16 not measurably worse);
* pix2pix (``inpaint``): PSNR on the held-out split; passes within 0.5 dB of fp32 (or above);
* CycleGAN (``cyclegan-digits``): the digit kept through F(G(a)) (label_acc_cycle); passes within 3
  points of fp32 (or above).

A recipe that fails belongs in ``ganforge.speed.AMP_REFUSED`` (``train.amp=auto`` then runs it in fp32
and ``train.amp=bf16`` is refused for it). Also records wall seconds per run (bf16's speed on this CPU).
Writes ``benchmarks/results/amp.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

import ganforge
from ganforge import speed

RESULTS = Path(__file__).parent / "results" / "amp.json"
QUIET = ["train.progress=false", "train.sample_every=0", "train.eval_every=0"]
#: name -> (preset, overrides, steps)
RECIPES: dict[str, tuple[str, list[str], int]] = {
    "dcgan": ("dcgan-paper", [], 3000),
    "cgan": ("mnist-cond", [], 3000),
    "wgan-gp": ("dcgan-paper", ["loss=wgan-gp"], 2000),
    "stylegan": ("stylegan-mnist", [], 2000),
    "pix2pix": ("inpaint", [], 1500),
    "cyclegan": ("cyclegan-digits", [], 1500),
}
PSNR_TOLERANCE_DB = 0.5
LABEL_TOLERANCE = 0.03


def _interval(result: dict, key: str) -> tuple[float, float] | None:
    ci = ((result.get("provenance") or {}).get("ci") or {}).get("model", {}).get(key)
    return (float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


def judge(name: str, fp32: dict, bf16: dict) -> tuple[bool, str]:
    """Whether bf16's result is as good as fp32's, and the figures that say so."""
    m32, m16 = fp32["model"], bf16["model"]
    if "psnr" in m32:
        ok = m16["psnr"] >= m32["psnr"] - PSNR_TOLERANCE_DB
        return ok, f"PSNR {m32['psnr']:.2f} -> {m16['psnr']:.2f} dB (tolerance {PSNR_TOLERANCE_DB} dB)"
    # the digit kept through F(G(a)): G's own AtoB label check sits near chance on this pair at short schedules
    label = next((k for k in ("label_acc_cycle", "label_acc_AtoB", "label_acc_BtoA") if k in m32), None)
    if label is not None:
        ok = m16[label] >= m32[label] - LABEL_TOLERANCE
        return ok, f"{label} {m32[label]:.3f} -> {m16[label]:.3f} (tolerance {LABEL_TOLERANCE})"
    parts, ok = [], True
    for key in ("fid", "fid2"):
        if key not in m32:
            continue
        a, b = _interval(fp32, key), _interval(bf16, key)
        if a is None or b is None:  # no interval: a 25% margin on the point values
            good = m16[key] <= 1.25 * m32[key]
            parts.append(f"{key} {m32[key]:.3g} -> {m16[key]:.3g}")
        else:
            good = b[0] <= a[1]
            parts.append(f"{key} {m32[key]:.3g} [{a[0]:.3g}, {a[1]:.3g}] -> {m16[key]:.3g} [{b[0]:.3g}, {b[1]:.3g}]")
        ok = ok and good
    return ok, "; ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--scale", type=float, default=1.0, help="multiply every step count (0.1: a smoke run)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    probe = speed.cpu_bf16_probe()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.recipes:
            preset, overrides, steps = RECIPES[name]
            steps = max(20, int(steps * args.scale))
            runs = {}
            for amp in ("none", "bf16"):
                t0 = time.perf_counter()
                run = ganforge.train(preset, Path(tmp) / f"{name}-{amp}", overwrite=True, progress=False,
                                     steps=steps, seed=args.seed,
                                     overrides=[*overrides, *QUIET, f"train.amp={amp}", "device=cpu"])
                seconds = time.perf_counter() - t0
                result = run.evaluate(write=False)
                runs[amp] = {"seconds": seconds, "result": result}
                print(f"  {name} {amp}: {seconds:.0f} s", flush=True)
            ok, figures = judge(name, runs["none"]["result"], runs["bf16"]["result"])
            rows[name] = {"preset": preset, "overrides": overrides, "steps": steps, "same_quality": ok,
                          "figures": figures, "fp32_s": runs["none"]["seconds"], "bf16_s": runs["bf16"]["seconds"],
                          "fp32": runs["none"]["result"], "bf16": runs["bf16"]["result"]}
            print(f"{name}: {'same quality' if ok else 'WORSE in bf16'}: {figures}", flush=True)

    print(f"\nbf16 probe here: matmul {probe['matmul']:.2f}x, conv {probe['conv']:.2f}x fp32; seed {args.seed}\n")
    print(f"{'recipe':<10} {'steps':>6} {'fp32 s':>7} {'bf16 s':>7} {'speed':>6}  {'verdict':<13} figures")
    for name, r in rows.items():
        print(f"{name:<10} {r['steps']:>6} {r['fp32_s']:>7.0f} {r['bf16_s']:>7.0f} {r['fp32_s'] / r['bf16_s']:>5.2f}x  "
              f"{'same' if r['same_quality'] else 'worse':<13} {r['figures']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": {"platform": platform.platform(), "torch": torch.__version__,
                                               "threads": torch.get_num_threads(), "probe": probe},
                                   "seed": args.seed, "scale": args.scale, "rows": rows}, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
