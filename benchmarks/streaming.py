"""Benchmark: image folders of any size streamed from a decoded cache on disk (``data.stream``) vs memory.

    python benchmarks/streaming.py                                  # 200,000 generated 64 px images (long)
    python benchmarks/streaming.py --n 20000 --fit-n 5000 --steps 100   # a quick run
    python benchmarks/streaming.py --data /tmp/big --keep           # generate once, reuse the folder
    python benchmarks/streaming.py --data /tmp/big --keep --runs workers --fit-n 0 --update   # one row of (a) again

(a) **Large**: a folder of ``--n`` generated 64 px RGB PNGs (smooth random colour fields with noise,
about 8.7 kB each) trains ``--steps`` steps of the ``mnist`` preset's DCGAN at 64 px (ngf = ndf =
``--width``, batch 64) through ``ganforge.loop.train`` (no evaluation), each run in a fresh process:
with ``data.stream=auto`` (which streams a folder this size) cold (the cache is built first: one
header pass, one decode) and warm (the cache is read back, nothing decoded), warm again with
``--large-workers`` DataLoader worker processes, then with ``data.stream=false`` (everything decoded into
memory; ``--memory-steps`` steps) for comparison.
Memory of the process and its DataLoader workers is sampled every 0.2 s: "peak RSS" sums the
processes' resident sets (pages shared between them are counted in each), "peak PSS" splits shared
pages between them (what the processes take together). Target: streamed peak under 2 GB.

(b) **Fits both ways**: a folder of ``--fit-n`` such images. Training images per second in memory
(``data.stream=false``) and streamed (``data.stream=true``) with 0, 1 and 2 DataLoader workers:
``ganforge.loop.train_iteration`` timed in blocks of ``--block`` iterations after a warm-up, the
variants interleaved for ``--rounds`` rounds; the median block and the best block are reported (the
machine is shared: interleaving spreads the others' load over the variants, and the best block is the
one they disturbed least), and images per CPU-second of the process and its workers (which others' load
disturbs less). "source img/s" times the batch source alone
(``recipe.next_batch``), without training. Target: streamed >= 90% of in-memory.

Writes ``benchmarks/results/streaming.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "streaming.json"
SIZE = 64
BATCH = 64


# ---------------------------------------------------------------- the generated folders

def _write_images(args: tuple[str, int, int]) -> int:
    """Images ``start .. stop - 1`` of a folder: each from its own seed, an 8x8 colour field resized to 64 px
    (bilinear) plus uniform noise of +-8, as a PNG (zlib level 1)."""
    import numpy as np
    from PIL import Image

    root, start, stop = args
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        low = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((SIZE, SIZE), Image.BILINEAR)
        a = np.asarray(low).astype(np.int16) + rng.integers(-8, 9, (SIZE, SIZE, 3))
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(Path(root) / f"{i:07d}.png", compress_level=1)
    return stop - start


def make_folder(root: Path, n: int, procs: int) -> float:
    """``n`` images in ``root`` (kept when a previous call made them: ``.complete-N``); seconds spent."""
    done = root / f".complete-{n}"
    if done.is_file():
        return 0.0
    root.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    chunks = [(str(root), s, min(n, s + 1000)) for s in range(0, n, 1000)]
    with Pool(procs) as pool:
        made = 0
        for k in pool.imap_unordered(_write_images, chunks):
            made += k
            print(f"\r  generating {root}: {made:,}/{n:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    done.touch()
    return time.perf_counter() - t


def _overrides(root: Path, width: int, stream: str, steps: int, workers: int | None = None) -> list[str]:
    items = [f"data.root={root}", f"data.size={SIZE}", f"data.stream={stream}", f"model.g_width={width}",
             f"model.d_width={width}", f"train.batch_size={BATCH}", f"train.steps={steps}", "train.eval_every=0",
             "train.sample_every=0", f"train.ckpt_every={steps}", "train.progress=false", "train.ema=0",
             "train.amp=none"]
    return items + ([f"data.workers={workers}"] if workers is not None else [])


# ---------------------------------------------------------------- (a) a large folder, in a watched process

def child_train(root: str, out: str, width: int, stream: str, steps: int, threads: int, workers: int | None) -> None:
    """One training run (called in a fresh process); prints its timings as one JSON line."""
    import torch

    torch.set_num_threads(threads)
    from ganforge import checkpoint, loop
    from ganforge.recipes import load_config, recipe_module, resolve

    cfg = resolve(load_config("mnist", _overrides(Path(root), width, stream, steps, workers)))
    t = time.perf_counter()
    recipe_module(cfg).validate(cfg)  # lists the folder; builds or opens the cache, or decodes into memory
    data_s = time.perf_counter() - t
    chose = cfg.data.stream
    t = time.perf_counter()
    loop.train(cfg, out, overwrite=True)
    total_s = time.perf_counter() - t
    train_s = float(checkpoint.load(checkpoint.latest(Path(out)))["elapsed"])
    print(json.dumps({"data_s": data_s, "stream": chose, "train_s": train_s, "total_s": total_s,
                      "img_per_s": steps * BATCH / train_s}))


def watched(args: list[str]) -> dict:
    """Run ``python benchmarks/streaming.py _child ...``; its JSON line and the tree's peak RSS and PSS."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, "_child", *args], stdout=subprocess.PIPE, text=True)
    top = psutil.Process(proc.pid)
    peak = {"rss": 0, "pss": 0, "rss_main": 0, "procs": 1}
    while proc.poll() is None:
        try:
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            break
        rss = pss = 0
        for q in procs:
            try:
                m = q.memory_full_info()
            except psutil.Error:
                continue
            rss, pss = rss + m.rss, pss + getattr(m, "pss", m.rss)
            if q.pid == top.pid:
                peak["rss_main"] = max(peak["rss_main"], m.rss)
        peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
        peak["procs"] = max(peak["procs"], len(procs))
        time.sleep(0.2)
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"training process failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "peak_rss_mb": peak["rss"] / 2**20, "peak_pss_mb": peak["pss"] / 2**20,
            "peak_rss_main_mb": peak["rss_main"] / 2**20, "processes": peak["procs"]}


LARGE_RUNS = ("cold", "warm", "workers", "memory")


def _run_order(row: dict) -> int:
    """A row of (a) by its place in LARGE_RUNS."""
    name = row["run"]
    return 0 if "cold" in name else 2 if "workers" in name else 3 if "memory" in name else 1


def large(root: Path, n: int, width: int, steps: int, memory_steps: int, threads: int, tmp: Path,
          which: list[str], workers: int) -> list[dict]:
    """The (a) runs named in ``which``: cold and warm cache (data.workers auto), warm with ``workers`` worker
    processes, in memory. "cold" deletes the cache first."""
    from ganforge.data.stream import STREAM_ABOVE

    rows = []
    decoded_gb = n * 3 * SIZE * SIZE / 1e9
    mode = "auto" if n * 3 * SIZE * SIZE > STREAM_ABOVE else "true"  # a small --n: auto would keep it in memory
    runs = {"cold": (f"stream={mode}, cold cache", mode, steps, None),
            "warm": (f"stream={mode}, warm cache", mode, steps, None),
            "workers": (f"stream={mode}, warm cache, {workers} workers", mode, steps, workers),
            "memory": ("stream=false (memory)", "false", memory_steps, None)}
    for key in LARGE_RUNS:
        name, stream, k, w = runs[key]
        if key not in which or not k:
            continue
        if key == "cold":
            shutil.rmtree(tmp / "cache", ignore_errors=True)
        print(f"\n  (a) {name}: {k} steps", file=sys.stderr, flush=True)
        r = watched([str(root), str(tmp / "run"), str(width), stream, str(k), str(threads), str(w)])
        rows.append({"run": name, "n": n, "decoded_gb": decoded_gb, "steps": k, **r})
    return rows


# ---------------------------------------------------------------- (b) a folder that fits both ways

def _cpu_seconds() -> float:
    """CPU seconds of this process and its children so far (DataLoader workers included)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def fits(root: Path, width: int, threads: int, block: int, rounds: int, workers: list[int]) -> list[dict]:
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the loop does on the CPU: each variant's own weights, the same cost
    from ganforge import speed
    from ganforge.loop import seed_everything, train_iteration
    from ganforge.recipes import load_config, recipe_module, resolve

    kept = speed.keep_freed_memory(True)  # as the loop does (train.keep_memory)
    cpu = torch.device("cpu")
    variants = {"memory": ("false", None), **{f"stream, {w} workers": ("true", w) for w in workers}}
    recipes = {}
    for name, (stream, w) in variants.items():
        cfg = resolve(load_config("mnist", _overrides(root, width, stream, 10**6, w)))
        module = recipe_module(cfg)
        module.validate(cfg)
        seed_everything(0)
        recipe = module.build(cfg, cpu)
        speed.prepare(recipe, cfg, cpu)
        recipes[name] = recipe
    wall: dict[str, list[float]] = {k: [] for k in recipes}
    per_cpu: dict[str, list[float]] = {k: [] for k in recipes}
    source: dict[str, list[float]] = {k: [] for k in recipes}
    step = {k: 0 for k in recipes}
    for r in range(rounds + 1):  # round 0 warms up (workers start, caches fill, oneDNN picks kernels)
        for name, recipe in recipes.items():
            accum, counts = {}, {}
            c, t = _cpu_seconds(), time.perf_counter()
            for _ in range(block):
                train_iteration(recipe, step[name], accum, counts)
                step[name] += 1
            float(sum(v.sum() for v in accum.values()))  # wait for the work
            dt, dc = time.perf_counter() - t, _cpu_seconds() - c
            t = time.perf_counter()
            for _ in range(4 * block):
                recipe.next_batch()
            ds = time.perf_counter() - t
            if r:
                wall[name].append(block * BATCH / dt)
                per_cpu[name].append(block * BATCH / dc)
                source[name].append(4 * block * BATCH / ds)
        print(f"  (b) round {r}/{rounds}: " + ", ".join(f"{k} {wall[k][-1]:.0f}" for k in wall if wall[k]),
              file=sys.stderr, flush=True)
    base, base_cpu = statistics.median(wall["memory"]), statistics.median(per_cpu["memory"])
    rows = []
    for name in recipes:
        med, med_cpu = statistics.median(wall[name]), statistics.median(per_cpu[name])
        rows.append({"variant": name, "img_per_s": med, "vs_memory": med / base, "img_per_s_blocks": wall[name],
                     "img_per_cpu_s": med_cpu, "cpu_vs_memory": med_cpu / base_cpu,
                     "source_img_per_s": statistics.median(source[name])})
    for recipe in recipes.values():
        if recipe.data_state is not None:
            recipe.data_state.close()
    if kept:
        speed.keep_freed_memory(False)
    torch.set_flush_denormal(False)
    return rows


# ---------------------------------------------------------------- report

def table(result: dict) -> str:
    lines = ["(a) large folder: " + (f"{result['large'][0]['n']:,} images of {SIZE} px, "
                                     f"{result['large'][0]['decoded_gb']:.2f} GB decoded, "
                                     f"{result.get('large_threads', '?')} thread(s)" if result["large"] else ""),
             f"{'run':36} {'steps':>5} {'data s':>7} {'train img/s':>11} {'peak RSS MB':>11} {'peak PSS MB':>11} "
             f"{'main RSS MB':>11} {'procs':>5}"]
    for r in result["large"]:
        lines.append(f"{r['run']:36} {r['steps']:5d} {r['data_s']:7.1f} {r['img_per_s']:11.0f} "
                     f"{r['peak_rss_mb']:11.0f} {r['peak_pss_mb']:11.0f} {r['peak_rss_main_mb']:11.0f} "
                     f"{r['processes']:5d}")
    lines += ["", f"(b) fits both ways: {result['fit_n']:,} images; median of {result['rounds']} interleaved blocks "
              f"of {result['block']} iterations, {result.get('fit_threads', '?')} thread(s)",
              f"{'variant':20} {'train img/s':>11} {'vs memory':>9} {'best block':>10} {'vs memory':>9} "
              f"{'img/CPU-s':>9} {'vs memory':>9} {'source img/s':>12}"]
    best = {r["variant"]: max(r["img_per_s_blocks"]) for r in result["fits"]}
    for r in result["fits"]:
        b, per_cpu = best[r["variant"]], r.get("img_per_cpu_s", float("nan"))
        lines.append(f"{r['variant']:20} {r['img_per_s']:11.0f} {r['vs_memory']:9.1%} {b:10.0f} "
                     f"{b / best['memory']:9.1%} {per_cpu:9.0f} {r.get('cpu_vs_memory', float('nan')):9.1%} "
                     f"{r['source_img_per_s']:12.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_child"]:
        root, out, width, stream, steps, threads, workers = argv[1:]
        w = None if workers == "None" else int(workers)
        child_train(root, out, int(width), stream, int(steps), int(threads), w)
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="images in the large folder (a); 0 skips it")
    p.add_argument("--steps", type=int, default=300, help="training steps of each streamed run in (a)")
    p.add_argument("--memory-steps", type=int, default=30, help="steps of the in-memory run in (a); 0 skips it")
    p.add_argument("--runs", nargs="*", default=list(LARGE_RUNS), choices=LARGE_RUNS, help="which runs of (a)")
    p.add_argument("--large-workers", type=int, default=2, help="(a): DataLoader workers of the 'workers' run")
    p.add_argument("--fit-n", type=int, default=20_000, help="images in the folder of (b); 0 skips it")
    p.add_argument("--width", type=int, default=32, help="DCGAN widths ngf = ndf")
    p.add_argument("--block", type=int, default=10, help="(b): iterations per timed block")
    p.add_argument("--rounds", type=int, default=7, help="(b): timed rounds (after one of warm-up)")
    p.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2], help="(b): DataLoader workers to compare")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: every core; on a machine "
                   "other jobs share, 1 thread is disturbed far less)")
    p.add_argument("--data", type=Path, default=None, help="folder for the generated images (default: a temporary "
                   "one); reused when it already holds them")
    p.add_argument("--keep", action="store_true", help="keep the generated images and the cache")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--update", action="store_true", help="keep the part of an existing --out that this run skips "
                   "(--n 0 or --fit-n 0)")
    args = p.parse_args(argv)
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
                               or 1)
    base = args.data or Path(tempfile.mkdtemp(prefix="ganforge-streaming-"))
    os.environ["GANFORGE_CACHE"] = str(base / "cache")  # the benchmark's own cache: cold means cold
    t0 = time.perf_counter()
    result: dict = {"benchmark": "streaming", "date": time.strftime("%Y-%m-%d"), "large": [], "fits": [],
                    "fit_n": args.fit_n, "rounds": args.rounds, "block": args.block, "width": args.width}
    try:
        if args.n:
            result["generate_s"] = make_folder(base / f"large-{args.n}", args.n, threads)
            result["large_threads"] = threads
            result["large"] = large(base / f"large-{args.n}", args.n, args.width, args.steps, args.memory_steps,
                                    threads, base, args.runs, args.large_workers)
        if args.fit_n:
            make_folder(base / f"fit-{args.fit_n}", args.fit_n, threads)
            result["fit_threads"] = threads
            result["fits"] = fits(base / f"fit-{args.fit_n}", args.width, threads, args.block, args.rounds,
                                  args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(base / "cache", ignore_errors=True)
            shutil.rmtree(base / "run", ignore_errors=True)
            if args.data is None:
                shutil.rmtree(base, ignore_errors=True)
    if args.update and args.out.is_file():
        old = json.loads(args.out.read_text())
        if args.n and old.get("large"):  # the (a) rows this run did not redo, in their order
            rows = {r["run"]: r for r in old["large"]} | {r["run"]: r for r in result["large"]}
            result["large"] = sorted(rows.values(), key=_run_order)
            result["generate_s"] = result.get("generate_s") or old.get("generate_s")
        for part, skipped in (("large", not args.n), ("fits", not args.fit_n)):
            if skipped:
                result[part] = old.get(part, [])
                keys = ("generate_s", "large_threads") if part == "large" else ("fit_n", "rounds", "block",
                                                                                  "fit_threads")
                result.update({k: old[k] for k in keys if k in old})
    result["total_s"] = time.perf_counter() - t0
    result["machine"] = {"cpu_count": os.cpu_count(), "threads": threads, "python": sys.version.split()[0],
                         "platform": platform.platform()}
    result["protocol"] = (f"mnist preset's DCGAN at {SIZE} px, ngf=ndf={args.width}, batch {BATCH}, fp32, on the CPU; "
                          "generated PNGs (8x8 colour field resized bilinear + U(-8, 8) noise)")
    print()
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
