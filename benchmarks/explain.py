"""Benchmark: the lecture companion, topic by topic, and `ganforge explain all` as a whole.

    python benchmarks/explain.py            # full mode, as `ganforge explain all` runs (target: < 5 min on 2 cores)
    python benchmarks/explain.py --fast     # the tests' fast mode

Runs ``ganforge.explain.run_all`` once into a temporary folder, so each topic's time is its share of one
`explain all` (topics that share a trained model, e.g. the digits DCGAN, pay for it where it is first
needed). Prints one table (topic, seconds, the claim's key numbers and whether they hold) and writes
``benchmarks/results/explain.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "explain.json"
TARGET_S = 300.0


def checks(name: str, n: dict) -> tuple[str, bool | None]:
    """The key numbers of a topic and whether its claim holds at full size (None: the topic claims nothing)."""
    if name == "optimal-d":
        return (f"|D - D*| {n['weighted_abs_error']:.3f}; JSD from V(D*) {n['jsd_from_value']:.4f} vs integrated "
                f"{n['jsd_integrated']:.4f}", n["weighted_abs_error"] < 0.05
                and n["value_at_trained_D"] <= n["value_at_D_star"] + 1e-6
                and abs(n["jsd_from_value"] - n["jsd_integrated"]) < 1e-6)
    if name == "non-saturating":
        return (f"Grad/G early: ns {n['mean_grad_G_ns_early']:.3g} vs minimax {n['mean_grad_G_minimax_early']:.3g} "
                f"({n['early_grad_ratio_ns_over_minimax']:.0f}x)", n["early_grad_ratio_ns_over_minimax"] >= 5
                and abs(n["grad_saturating_at_0.01"] - 0.01) < 1e-9
                and abs(n["grad_non_saturating_at_0.01"] - 0.99) < 1e-9)
    if name == "divergences":
        return (f"JSD-log2 {n['jsd_apart_max_abs_dev_from_log2']:.0e}, W1-|t| {n['w1_max_abs_dev_from_theta']:.0e}, "
                f"W1 slope {n['w1_slope_at_0.5']:.3f}, KL with pseudo-count {n['kl_with_pseudo_count_at_0.5']:.2f}",
                n["jsd_apart_max_abs_dev_from_log2"] < 1e-6 and n["kl_apart_all_infinite"]
                and n["w1_max_abs_dev_from_theta"] < 1e-6 and abs(n["w1_slope_at_0.5"] - 1) < 1e-6)
    if name == "two-sample":
        return (f"power MMD {n['power_mmd'][0]:.2f}->{n['power_mmd'][-1]:.2f}, "
                f"C2ST {n['power_c2st'][0]:.2f}->{n['power_c2st'][-1]:.2f}",
                n["power_mmd"][-1] > n["power_mmd"][0] and n["power_c2st"][-1] > n["power_c2st"][0]
                and max(n["false_positive_rate_mmd"], n["false_positive_rate_c2st"]) <= 0.1)
    if name == "mode-collapse":
        a, b = n["final_modes_no_remedy"], n["final_modes_minibatch_std"]
        # the claim: minibatch std keeps all 8 modes on every seed; without it some seed collapses
        return f"modes per seed: none {a}, mbstd {b}", all(m == 8 for m in b) and min(a) < 8
    if name == "nash":
        return (f"radius: sim {n['final_radius_simultaneous']:.1f}, alt max {n['max_radius_alternating']:.2f}, "
                f"avg {n['final_radius_averaged']:.3f}", n["simultaneous_radius_increasing"]
                and abs(n["final_radius_simultaneous"] / n["predicted_radius_simultaneous"] - 1) < 1e-9
                and n["max_radius_alternating"] < 1.1 * math.hypot(*n["start"])
                and n["final_radius_averaged"] < 0.1 * math.hypot(*n["start"]))
    if name == "upsampling":
        return (f"period-2 energy init {n['nyquist_fraction_init_deconv']:.3f}/{n['nyquist_fraction_init_resize']:.3f}"
                f", trained {n['nyquist_fraction_trained_deconv']:.4f}/{n['nyquist_fraction_trained_resize']:.4f}",
                n["nyquist_fraction_trained_deconv"] > n["nyquist_fraction_trained_resize"]
                and n["nyquist_fraction_init_deconv"] > 10 * n["nyquist_fraction_init_resize"])
    if name == "architecture":
        fids = {k[10:]: v for k, v in n.items() if k.startswith("final_fid_")}
        return "FID " + ", ".join(f"{k} {v:.1f}" for k, v in fids.items()), None
    if name == "wgan-critic":
        return f"Pearson r {n['pearson_r']:.3f}, Spearman {n['spearman_rho']:.3f}", n["pearson_r"] > 0.5
    if name == "latent":
        return (f"mid norm/sqrt(d): lerp {n['lerp_mid_norm_ratio']:.3f}, slerp {n['slerp_mid_norm_ratio']:.3f}",
                abs(n["slerp_mid_norm_ratio"] - 1) < 0.05 < abs(n["lerp_mid_norm_ratio"] - 1))
    return "", True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    from ganforge.explain import run_all

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_all(tmp, fast=args.fast, seed=args.seed, progress=False)
        total = time.perf_counter() - t0
        records = {f.stem: json.loads(f.read_text()) for f in sorted(Path(tmp).glob("*.json"))}
    rows = []
    for name, rec in records.items():
        key, ok = checks(name, rec["numbers"])
        rows.append({"topic": name, "seconds": round(rec["seconds"], 2), "key_numbers": key, "claim_holds": ok,
                     "summary": rec["summary"]})
    order = [r["topic"] for r in rows]
    from ganforge.explain import TOPICS

    rows.sort(key=lambda r: list(TOPICS).index(r["topic"]) if r["topic"] in TOPICS else len(order))
    w = max(len(r["topic"]) for r in rows)
    print(f"{'topic':<{w}}  {'seconds':>7}  holds  key numbers")
    print("-" * (w + 90))
    for r in rows:
        holds = {True: "yes", False: "NO", None: "-"}[r["claim_holds"]]
        print(f"{r['topic']:<{w}}  {r['seconds']:>7.1f}  {holds:<5}  {r['key_numbers']}")
    print("-" * (w + 90))
    verdict = "within" if total < TARGET_S else "OVER"
    print(f"{'explain all':<{w}}  {total:>7.1f}  (target {TARGET_S:.0f} s: {verdict}; incl. the page)")
    result = {
        "benchmark": "explain", "date": date.today().isoformat(), "mode": "fast" if args.fast else "full",
        "seed": args.seed, "total_s": total, "target_s": TARGET_S, "within_target": total < TARGET_S,
        "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                    "torch_threads_per_topic": 1,
                    "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "topics": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
