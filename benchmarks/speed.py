"""Benchmark: training speed against the hardware, a plain PyTorch loop, and 1 vs 2 processes.

    python benchmarks/speed.py                     # every row, a few minutes on 2 CPU cores
    python benchmarks/speed.py --reps 9 --skip-ddp

Rows (each ``ganforge.bench.bench`` on the preset with overrides: train img/s, sample img/s, GFLOP
per training image from ``FlopCounterMode``, MFU against the measured fp32 matmul peak, peak memory):

* 2-D MLP GAN (``ring8``), DCGAN 32 and 64 px (ngf = ndf = 64, nz = 100, batch 64, RGB: the
  classic configuration), conditional DCGAN 32 px, pix2pix 32 px (``colordigits``) and StyleGAN
  32 px (``stylegan-mnist``).
* DCGAN 64 px against a **plain loop**: the pytorch/examples DCGAN training loop written out below
  (same networks, batch, loss and Adam settings; D(real) and D(fake) backward separately, the
  D-phase fake reused for G, no freezing of D, default Adam), fed the same in-memory batches.
  Repetitions of the plain loop and of ganforge's ``train_iteration`` (default, which has
  ``train.channels_last`` on; without it; with ``train.reuse_fake``; with it and without
  ``train.keep_memory``; ``--compile`` adds ``train.compile``) are interleaved; the table gives
  medians and the ratio. Target: >= 1.3x. ganforge's rows run with freed memory kept in the
  process (``train.keep_memory``, on by default in ``ganforge train``) and the plain loop with
  glibc's defaults, as a plain script runs; the plain loop is timed once more with memory kept,
  and the "vs kept" column gives each loop's ratio to that.
  MFU there is counted at the plain loop's FLOPs per image, so it is an effective figure for
  ``reuse_fake``, which skips one G forward.
  Wall-clock img/s is reported beside img/s per CPU-second of this process, which a busy shared
  machine disturbs less.
* 1 vs 2 processes (gloo, ``ganforge train --nproc``) with the same global batch: DCGAN 32 px.
* Precision (``train.amp``): each image row's training img/s in fp32 (``none``) and bf16 autocast,
  interleaved, and what ``auto`` picks on this machine (the probe's ratios).
* Threads under contention: DCGAN 32 px (the ``mnist`` preset) steps/s with 1 and 2 intra-op threads
  and with ``train.threads`` auto, on the quiet machine and with another process spinning on one core
  (started before the measurement, as a browser or the lab's server would be). Targets: auto under
  load >= the 1-thread speed under load; auto quiet >= 95% of the best quiet speed.

Writes ``benchmarks/results/speed.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import torch

from ganforge import speed
from ganforge.bench import bench, matmul_peak
from ganforge.loop import seed_everything, train_iteration
from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.recipes import gan, load_config, recipe_module, resolve

RESULTS = Path(__file__).parent / "results" / "speed.json"
CLASSIC = ["data.channels=3", "model.g_width=64", "model.d_width=64", "model.z_dim=100", "train.batch_size=64",
           "train.ema=0", "loss=ns"]
ROWS: dict[str, tuple[str, list[str]] | None] = {
    "mlp-2d (ring8)": ("ring8", []),
    "dcgan 32px": ("dcgan-paper", ["data.size=32", *CLASSIC]),
    "dcgan 64px": ("dcgan-paper", ["data.size=64", *CLASSIC]),  # channels_last: on by default
    "dcgan 64px no channels_last": ("dcgan-paper", ["data.size=64", *CLASSIC, "train.channels_last=false"]),
    "cond dcgan 32px": ("dcgan-paper", ["data.size=32", *CLASSIC, "model.cond=concat"]),
    "pix2pix 32px": ("colordigits", []),  # U-Net + 34x34 PatchGAN, batch 64, RGB
    "stylegan 32px": ("stylegan-mnist", []),  # modulated convs, R1 every 16 steps, style mixing
}


def config(preset: str, overrides: list[str]):
    cfg = resolve(load_config(preset, overrides + ["device=cpu"]))
    recipe_module(cfg).validate(cfg)
    return cfg


def ganforge_step(overrides: list[str]):
    """One DCGAN 64 px iteration through ganforge's own loop function."""
    cfg = config("dcgan-paper", ["data.size=64", *CLASSIC, *overrides])
    seed_everything(0)
    recipe = gan.build(cfg, torch.device("cpu"))
    speed.prepare(recipe, cfg, torch.device("cpu"))
    acc: dict = {}
    counts: dict = {}
    state = {"step": 0}

    def step() -> None:
        train_iteration(recipe, state["step"], acc, counts)
        state["step"] += 1

    return step, recipe.next_batch


def plain_step(next_batch):
    """The pytorch/examples DCGAN loop (examples/dcgan/main.py), on the same networks and batches."""
    torch.manual_seed(0)
    netG = DCGANGenerator(z_dim=100, size=64, channels=3, ngf=64)
    netD = DCGANDiscriminator(size=64, channels=3, ndf=64)
    criterion = torch.nn.BCEWithLogitsLoss()  # D returns logits; the example's Sigmoid + BCELoss
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step() -> None:
        real = next_batch()["x"]
        b = real.size(0)
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        errD_real = criterion(netD(real), torch.ones(b))
        errD_real.backward()
        fake = netG(torch.randn(b, 100))
        errD_fake = criterion(netD(fake.detach()), torch.zeros(b))
        errD_fake.backward()
        optimizerD.step()
        # (2) Update G: maximize log(D(G(z)))
        netG.zero_grad()
        errG = criterion(netD(fake), torch.ones(b))
        errG.backward()
        optimizerG.step()

    return step


LOOP_VARIANTS: dict[str, list[str]] = {  # ganforge's defaults include channels_last, keep_memory, amp=auto
    "ganforge, amp=none (fp32)": ["train.amp=none"],
    "ganforge, channels_last=false": ["train.channels_last=false"],
    "ganforge": [],
    "ganforge reuse_fake": ["train.reuse_fake=true"],
    "ganforge reuse_fake, no keep_memory": ["train.reuse_fake=true", "train.keep_memory=false"],
}


def _loop_worker(conn: Connection, overrides: list[str] | None, keep: bool) -> None:
    """One loop in its own process, timed on request: ``overrides`` for ganforge, None for the plain loop."""
    torch.set_flush_denormal(True)  # as the training loop does on the CPU
    if keep:  # as `ganforge train` does with train.keep_memory; otherwise glibc as it starts
        speed.keep_freed_memory(True)
    if overrides is None:
        step = plain_step(ganforge_step(["train.channels_last=false"])[1])  # contiguous batches, as a script has
    else:
        step = ganforge_step(overrides)[0]
    step()  # warm-up (and compilation)
    step()
    conn.send("ready")
    while (iters := conn.recv()) > 0:
        step()  # untimed: back from idle, while the other loops ran, the first step settles caches and memory
        t, c = time.perf_counter(), time.process_time()
        for _ in range(iters):
            step()
        conn.send((64 * iters / (time.perf_counter() - t), 64 * iters / (time.process_time() - c)))


def _answer(conn: Connection, proc: BaseProcess, what: str, timeout: float = 900.0) -> object:
    """The worker's next message; a clear error when it died or went silent instead of waiting forever."""
    if not conn.poll(timeout):
        raise RuntimeError(f"{what}: no answer in {timeout:.0f} s")
    try:
        return conn.recv()
    except EOFError:
        proc.join(timeout=10)
        raise RuntimeError(f"{what}: the worker process exited (code {proc.exitcode}); its error is above") from None


def plain_vs_ganforge(reps: int, iters: int, compile: bool = False) -> dict:
    """Interleaved timings, each loop in its own process (one runs at a time), so that each has the
    allocator state it would have on its own: ganforge's with ``train.keep_memory`` (on by default, as
    ``ganforge train`` runs), the plain loop with glibc's defaults (as a plain script runs), and the plain
    loop once more with freed memory kept, to show what that setting alone gives."""
    import multiprocessing as mp

    loops = dict(LOOP_VARIANTS)
    if compile:
        loops["ganforge reuse_fake + compile"] = [*loops["ganforge reuse_fake"], "train.compile=true"]
    variants: dict[str, tuple[list[str] | None, bool]] = {
        "plain loop": (None, False), "plain loop, memory kept": (None, True),
        **{k: (v, "train.keep_memory=false" not in v) for k, v in loops.items()}}
    ctx = mp.get_context("spawn")
    workers: dict[str, tuple[Connection, BaseProcess]] = {}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for k, (overrides, keep) in variants.items():  # started one after another: no overlap with timing
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_loop_worker, args=(there, overrides, keep), daemon=True)
            proc.start()
            there.close()  # the worker holds the other end: its exit shows here as EOF
            workers[k] = (here, proc)
            if _answer(here, proc, f"starting '{k}'") != "ready":
                raise RuntimeError(f"starting '{k}': unexpected answer")
        for _ in range(reps):
            for k, (conn, proc) in workers.items():
                conn.send(iters)
                w, c = _answer(conn, proc, f"timing '{k}'")
                wall[k].append(w)
                cpu[k].append(c)
    finally:
        for conn, proc in workers.values():
            with contextlib.suppress(OSError):
                conn.send(0)
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    out = {k: {"img_per_s": statistics.median(wall[k]), "img_per_cpu_s": statistics.median(cpu[k]),
               "wall_reps": wall[k], "keep_memory": variants[k][1]} for k in variants}
    base, kept = out["plain loop"], out["plain loop, memory kept"]
    for k in variants:
        out[k]["ratio"] = out[k]["img_per_s"] / base["img_per_s"]
        out[k]["ratio_cpu"] = out[k]["img_per_cpu_s"] / base["img_per_cpu_s"]
        out[k]["ratio_to_plain_kept"] = out[k]["img_per_s"] / kept["img_per_s"]
    return out


def ddp(steps: int) -> dict:
    """DCGAN 32 px, global batch 64: ``ganforge train`` in 1 and in 2 gloo processes."""
    out = {}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            run = Path(tmp) / f"n{n}"
            sets = ["data.size=32", *CLASSIC, f"train.steps={steps}", "train.eval_every=0", "train.sample_every=0",
                    f"train.log_every={steps}", f"train.ckpt_every={steps}", "train.progress=false", "eval.n=100"]
            cmd = [sys.executable, "-m", "ganforge", "train", "dcgan-paper", "--out", str(run), "--device", "cpu",
                   "--nproc", str(n)] + [a for s in sets for a in ("--set", s)]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            state = torch.load(sorted((run / "checkpoints").glob("*.pt"))[-1], weights_only=True)
            rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])  # the mean over every step
            fid = json.loads((run / "eval.json").read_text())["model"]["fid"]  # rank 0's final evaluation
            out[f"{n} process{'es' if n > 1 else ''}"] = {"img_per_s": steps * 64 / state["elapsed"],
                                                          "Loss/D": rec["Loss/D"], "Loss/G": rec["Loss/G"],
                                                          "fid": fid}
    return out


def _img_per_s(preset: str, overrides: list[str], iters: int) -> float:
    """Training img/s of ``iters`` iterations through ``train_iteration`` (after one warm-up iteration)."""
    cfg = config(preset, overrides)
    seed_everything(0)
    recipe = recipe_module(cfg).build(cfg, torch.device("cpu"))
    speed.prepare(recipe, cfg, torch.device("cpu"))
    acc: dict = {}
    counts: dict = {}
    train_iteration(recipe, 0, acc, counts)
    t0 = time.perf_counter()
    for i in range(iters):
        train_iteration(recipe, i + 1, acc, counts)
    torch.stack(list(acc.values())).sum().item()
    return iters * cfg.train.batch_size / (time.perf_counter() - t0)


def precision(reps: int, iters: int) -> dict:
    """fp32 vs bf16 autocast training img/s per image row, interleaved; medians and the ratio."""
    out = {}
    for name, spec in ROWS.items():
        if spec is None or spec[0] == "ring8":
            continue
        times: dict[str, list[float]] = {"none": [], "bf16": []}
        for _ in range(reps):
            for amp in times:
                times[amp].append(_img_per_s(spec[0], [*spec[1], f"train.amp={amp}"], iters))
        med = {k: statistics.median(v) for k, v in times.items()}
        auto = speed.resolve_amp(config(*spec), torch.device("cpu"))
        out[name] = {"fp32_img_per_s": med["none"], "bf16_img_per_s": med["bf16"], "ratio": med["bf16"] / med["none"],
                     "auto": auto}
        print(f"  {name}: fp32 {med['none']:.1f}, bf16 {med['bf16']:.1f} img/s", flush=True)
    return out


@contextlib.contextmanager
def _spinning(on: bool):
    """Another process keeping one core busy for the duration (a pure-Python loop), or nothing."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def contention(reps: int, iters: int) -> dict:
    """DCGAN 32 px steps/s with 1, 2 and auto threads, quiet and beside a busy process; medians."""
    default = torch.get_num_threads()
    cfg = config("dcgan-paper", [])
    out: dict = {}
    for load in ("quiet", "one core busy"):
        times: dict[str, list[float]] = {"1 thread": [], f"{default} threads": [], "auto": []}
        chosen = []
        with _spinning(load != "quiet"):
            for _ in range(reps):
                for k in times:
                    n = 1 if k == "1 thread" else default
                    if k == "auto":
                        torch.set_num_threads(default)
                        n = speed.choose_threads(cfg, torch.device("cpu")) or default
                        chosen.append(n)
                    torch.set_num_threads(n)
                    times[k].append(_img_per_s("dcgan-paper", [], iters) / cfg.train.batch_size)
                    torch.set_num_threads(default)
        out[load] = {k: statistics.median(v) for k, v in times.items()}
        out[load]["auto_threads"] = chosen
        print(f"  {load}: " + ", ".join(f"{k} {v:.1f}" for k, v in out[load].items() if k != "auto_threads")
              + f" steps/s; auto chose {chosen}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7, help="interleaved repetitions of plain vs ganforge")
    p.add_argument("--iters", type=int, default=2, help="iterations per repetition")
    p.add_argument("--ddp-steps", type=int, default=200)
    p.add_argument("--skip-ddp", action="store_true")
    p.add_argument("--compile", action="store_true", help="also time a torch.compile variant (minutes to compile)")
    p.add_argument("--only", choices=("precision", "threads"), help="only the precision or the threads table")
    args = p.parse_args()
    if args.only:
        part = precision(args.reps, 4) if args.only == "precision" else contention(args.reps, 20)
        probe = speed.cpu_bf16_probe(refresh=True)
        print(json.dumps({"probe": probe, args.only: part}, indent=1))
        out = RESULTS.with_name(f"speed-{args.only}.json")
        out.write_text(json.dumps({"machine": {"platform": platform.platform(), "torch": torch.__version__,
                                               "threads": torch.get_num_threads(), "load_average": os.getloadavg()},
                                   "probe": probe, args.only: part}, indent=2) + "\n")
        print(f"wrote {out}")
        return
    torch.set_flush_denormal(True)  # as the training loop does on the CPU
    # The peak of this virtual machine's 2 cores moves by ~25% from minute to minute: it is measured before
    # and after the timings (and by each row's bench) and the best counts, so MFU errs low, never high.
    peaks = [matmul_peak(torch.device("cpu"), seconds=2.0)]
    rows = {}
    print("timing the models ...")
    for name, spec in ROWS.items():
        if spec is None:
            rows[name] = {"status": "not implemented: the recipe does not exist yet"}
            continue
        rows[name] = bench(config(*spec), torch.device("cpu"), iters=3, peak_seconds=0.5)
        peaks.append(rows[name]["peak_gflop_per_s"] * 1e9)
        print(f"  {name}: {rows[name]['train_img_per_s']:.1f} train img/s", flush=True)
    print("timing the plain loop against ganforge's, each in its own process ...", flush=True)
    versus = plain_vs_ganforge(args.reps, args.iters, args.compile)
    peaks.append(matmul_peak(torch.device("cpu"), seconds=2.0))
    peak = max(peaks)

    print(f"\nfp32 matmul peak: {peak / 1e9:.1f} GFLOP/s, the best of {len(peaks)} measurements "
          f"(lowest {min(peaks) / 1e9:.1f}; {torch.get_num_threads()} threads)\n")
    print(f"{'model':<26} {'train img/s':>11} {'sample img/s':>12} {'GFLOP/img':>9} {'MFU':>6} {'peak MB':>8}")
    for name, r in rows.items():
        if "status" in r:
            print(f"{name:<26} {'(recipe not implemented yet)':>50}")
            continue
        r["mfu"] = r["achieved_gflop_per_s"] * 1e9 / peak  # against the one best peak
        print(f"{name:<26} {r['train_img_per_s']:>11.1f} {r['sample_img_per_s']:>12.1f} "
              f"{r['gflop_per_train_image']:>9.3f} {100 * r['mfu']:>5.1f}% {r['peak_memory_mb']:>8.0f}")

    flops = rows["dcgan 64px"]["gflop_per_train_image"]
    print(f"\nDCGAN 64 px, batch 64, interleaved x{args.reps} (medians):")
    print(f"{'loop':<36} {'img/s':>7} {'ratio':>6} {'MFU':>6} {'img/CPU-s':>10} {'ratio':>6} {'vs kept':>7}")
    for k, v in versus.items():  # MFU at the plain loop's FLOPs per image (reuse_fake does fewer)
        v["mfu"] = v["img_per_s"] * flops * 1e9 / peak
        print(f"{k:<36} {v['img_per_s']:>7.1f} {v['ratio']:>5.2f}x {100 * v['mfu']:>5.1f}% "
              f"{v['img_per_cpu_s']:>10.1f} {v['ratio_cpu']:>5.2f}x {v['ratio_to_plain_kept']:>6.2f}x")

    print("\ntiming fp32 against bf16 autocast ...", flush=True)
    amp = precision(max(3, args.reps // 2), 4)
    probe = speed.cpu_bf16_probe(refresh=True)
    print(f"\nbf16 probe: matmul {probe['matmul']:.2f}x, conv {probe['conv']:.2f}x fp32 -> train.amp=auto runs "
          f"{'bf16' if probe['bf16'] else 'fp32'} here")
    print(f"{'model':<26} {'fp32 img/s':>10} {'bf16 img/s':>10} {'ratio':>6} {'auto':>5}")
    for k, v in amp.items():
        print(f"{k:<26} {v['fp32_img_per_s']:>10.1f} {v['bf16_img_per_s']:>10.1f} {v['ratio']:>5.2f}x {v['auto']:>5}")
    print("\ntiming threads, quiet and beside a busy process ...", flush=True)
    threads = contention(max(3, args.reps // 2), 20)
    quiet_best = max(v for k, v in threads["quiet"].items() if k != "auto_threads")
    print(f"{'load':<16} " + " ".join(f"{k:>10}" for k in threads["quiet"] if k != "auto_threads"))
    for load, v in threads.items():
        print(f"{load:<16} " + " ".join(f"{x:>10.1f}" for k, x in v.items() if k != "auto_threads"))
    busy = threads["one core busy"]
    print(f"auto under load / 1 thread under load: {busy['auto'] / busy['1 thread']:.2f} (target >= 1); "
          f"auto quiet / best quiet: {threads['quiet']['auto'] / quiet_best:.2f} (target >= 0.95)")

    scale = {}
    if not args.skip_ddp:
        scale = ddp(args.ddp_steps)
        print(f"\nDCGAN 32 px, global batch 64, {args.ddp_steps} steps, gloo:")
        for k, v in scale.items():
            print(f"{k:<24} {v['img_per_s']:>7.1f} img/s   Loss/D {v['Loss/D']:.3f}  Loss/G {v['Loss/G']:.3f}  "
                  f"FID {v['fid']:.1f}")

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "peak_gflop_per_s": peak / 1e9, "peak_measurements_gflop_per_s": [q / 1e9 for q in peaks],
                    "load_average": os.getloadavg()},
        "rows": rows, "plain_vs_ganforge_dcgan64": versus, "processes": scale, "precision": amp, "bf16_probe": probe,
        "threads": threads,
    }, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
