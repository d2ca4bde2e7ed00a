"""Soak: a long CPU training run killed (SIGKILL, SIGTERM) and resumed at random moments, against an uninterrupted one.

    python benchmarks/soak.py                      # 30 min of training, checkpoints about every minute, 5 kills
    nice python benchmarks/soak.py --minutes 6 --ckpt-seconds 30

The ring8 preset (LSGAN + minibatch-std MLPs) is timed for 10 s in a `ganforge train` subprocess to turn
``--minutes`` into a step count and ``--ckpt-seconds`` into ``train.ckpt_every``. Then:

1. the interrupted run: ``ganforge train`` in a subprocess, stopped ``--kills`` times at random moments
   (seeded: random steps between 5% and 95% of the run), alternately with SIGKILL (no warning: the run
   loses what it did since its last checkpoint) and SIGTERM (what ``timeout`` and schedulers send: the run
   writes a checkpoint at the current step and exits 143), and continued each time by **two** ``ganforge
   resume`` commands started at the same moment: exactly one may proceed (the run folder's lock), the
   other must exit 2 naming the first one's PID;
2. the reference: the same config, seed and steps in one uninterrupted ``ganforge train``.

Per kill it reports the step reached (from ``metrics.jsonl``), the checkpoint resumed from, the steps
lost (redone) and the seconds since that checkpoint was written (training lost). Overall it reports the
wall time of both runs (the difference is everything the kills cost: lost training plus restarts) and
whether the final weights of the two runs are bit-identical. Both runs use one thread
(``OMP_NUM_THREADS=1``): CPU results are bit-identical for the same thread count. Prints a table and
writes ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "soak.json"
SRC = str(Path(__file__).resolve().parents[1] / "src")
BASE = ["train.log_every=20", "train.eval_every=0", "train.sample_every=0", "train.progress=false"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganforge", *args]


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def steps_per_second(seconds: float = 10.0) -> float:
    """The training speed of a `ganforge train` subprocess on this machine now: steps between two log lines."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "calibrate"
        proc = subprocess.Popen(_cmd("train", "ring8", "--out", str(run), "--device", "cpu",
                                     *_sets(BASE + ["train.steps=10000000", "train.ckpt_every=10000000"])),
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while last_logged(run) < 100:  # past start-up and warm-up
                if proc.poll() is not None:
                    raise SystemExit("the calibration run failed")
                time.sleep(0.05)
            s0, t0 = last_logged(run), time.perf_counter()
            time.sleep(seconds)
            s1, t1 = last_logged(run), time.perf_counter()
        finally:
            proc.kill()
            proc.wait()
    return (s1 - s0) / (t1 - t0)


def last_logged(run: Path) -> int:
    steps = []
    path = run / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            pass
    return max(steps, default=0)


def newest_checkpoint(run: Path) -> tuple[int, float]:
    """(step, mtime) of the newest checkpoint, (0, 0.0) when there is none."""
    from ganforge import checkpoint

    ckpts = checkpoint.list_checkpoints(run)
    if not ckpts:
        return 0, 0.0
    return int(ckpts[-1].stem.split("_")[1]), ckpts[-1].stat().st_mtime


def interrupted_run(run: Path, items: list[str], kills: int, steps: int, rng: random.Random) -> dict:
    rows, t0 = [], time.perf_counter()
    # the kill moments: random points of the run, drawn as steps so that a busy machine cannot push them past
    # its end (the kill lands when metrics.jsonl first shows the step, within train.log_every of it)
    targets = sorted(int(rng.uniform(0.05, 0.95) * steps) for _ in range(kills))
    proc = subprocess.Popen(_cmd("train", "ring8", "--out", str(run), "--device", "cpu", *_sets(items)),
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    floor = 0  # the step reached at the last kill: metrics.jsonl may still show it until the resumed run starts
    for k, target in enumerate(targets):
        target = max(target, floor + 1)
        while proc.poll() is None and last_logged(run) < target:
            time.sleep(0.02)
        if proc.poll() is not None:
            break  # finished before this kill
        reached = last_logged(run)
        sig = signal.SIGKILL if k % 2 == 0 else signal.SIGTERM
        proc.send_signal(sig)
        killed_at = time.time()
        code = proc.wait()
        ck_step, ck_time = newest_checkpoint(run)
        row = {"kill": k + 1, "signal": sig.name, "exit_status": code, "reached_step": reached,
               "resumed_from": ck_step, "steps_lost": max(0, reached - ck_step),
               "seconds_since_checkpoint": round(max(0.0, killed_at - ck_time), 2) if ck_time else None}
        print(f"  {sig.name} {k + 1}: at about step {reached}, resuming from step {ck_step}", flush=True)
        floor = max(reached, ck_step)
        proc, row["concurrent_resume"] = two_resumes(run)
        rows.append(row)
    code = proc.wait()
    if code != 0:
        raise SystemExit(f"the resumed run failed with exit status {code}")
    return {"kills": rows, "wall_s": time.perf_counter() - t0}


def two_resumes(run: Path) -> tuple[subprocess.Popen, dict]:
    """Start two ``ganforge resume`` at once; the one refused must exit 2 naming the other's PID.

    Returns the one that proceeds and what happened."""
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(2)]
    procs = [subprocess.Popen(_cmd("resume", str(run), "--device", "cpu"), env=_env(), stdout=subprocess.DEVNULL,
                              stderr=log) for log in logs]
    while all(p.poll() is None for p in procs):  # the loser is refused within its start-up
        time.sleep(0.02)
    i = next(i for i, p in enumerate(procs) if p.poll() is not None)
    refused, winner = procs[i], procs[1 - i]
    logs[i].seek(0)
    err = logs[i].read().strip()
    ok = refused.returncode == 2 and f"process {winner.pid}" in err and winner.poll() is None
    return winner, {"refused_exit": refused.returncode, "refused_message": err[-300:], "exactly_one": ok}


def same_weights(a: Path, b: Path) -> tuple[bool, int]:
    import torch

    from ganforge import checkpoint

    sa, sb = checkpoint.load(checkpoint.latest(a)), checkpoint.load(checkpoint.latest(b))
    same = sa["step"] == sb["step"] and all(
        torch.equal(v, sb["models"][name][key]) for name in sa["models"] for key, v in sa["models"][name].items())
    return bool(same and sa["history"] == sb["history"]), int(sb["step"])


def table(result: dict) -> str:
    lines = [f"{'kill':>4}  {'signal':>7}  {'exit':>4}  {'reached step':>12}  {'resumed from':>12}  "
             f"{'steps lost':>10}  {'s since ckpt':>12}  {'2 resumes: one ran':>18}"]
    lines.append("-" * len(lines[0]))
    for r in result["kills"]:
        since = "-" if r["seconds_since_checkpoint"] is None else f"{r['seconds_since_checkpoint']:.1f}"
        one = r["concurrent_resume"]["exactly_one"]
        lines.append(f"{r['kill']:>4}  {r['signal']:>7}  {r['exit_status']:>4}  {r['reached_step']:>12}  "
                     f"{r['resumed_from']:>12}  {r['steps_lost']:>10}  {since:>12}  {str(one):>18}")
    s = result["summary"]
    lines += [
        "",
        f"steps {s['steps']}, checkpoint every {s['ckpt_every']} steps (~{s['ckpt_seconds']:.0f} s), "
        f"{len(result['kills'])} kills",
        f"steps lost: total {s['steps_lost_total']}, worst {s['steps_lost_max']} (one interval = {s['ckpt_every']})",
        f"wall: interrupted {s['interrupted_wall_s']:.0f} s, uninterrupted {s['reference_wall_s']:.0f} s, "
        f"lost {s['wall_lost_s']:.0f} s",
        f"two concurrent resumes after each kill: exactly one proceeded every time: {s['one_writer']}",
        f"final weights and metric history equal to the uninterrupted run: {s['bit_identical']}",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="training time of each run (sets the step count)")
    p.add_argument("--ckpt-seconds", type=float, default=60.0, help="checkpoint about this often")
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seeds the kill moments (training uses the preset's seed)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    rate = steps_per_second()
    steps = max(100, int(rate * 60 * args.minutes))
    ckpt_every = max(10, int(rate * args.ckpt_seconds))
    items = BASE + [f"train.steps={steps}", f"train.ckpt_every={ckpt_every}"]
    print(f"{rate:.0f} steps/s: {steps} steps, a checkpoint every {ckpt_every} steps", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cut, ref = Path(tmp) / "interrupted", Path(tmp) / "reference"
        print("interrupted run ...", flush=True)
        result = interrupted_run(cut, items, args.kills, steps, random.Random(args.seed))
        print("uninterrupted run ...", flush=True)
        t0 = time.perf_counter()
        subprocess.run(_cmd("train", "ring8", "--out", str(ref), "--device", "cpu", *_sets(items)), env=_env(),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ref_wall = time.perf_counter() - t0
        identical, final_step = same_weights(ref, cut)
    lost = [r["steps_lost"] for r in result["kills"]]
    result["summary"] = {
        "steps": steps, "final_step": final_step, "ckpt_every": ckpt_every, "ckpt_seconds": ckpt_every / rate,
        "steps_per_s": rate, "steps_lost_total": sum(lost), "steps_lost_max": max(lost, default=0),
        "at_most_one_interval_lost": all(n <= ckpt_every for n in lost),
        "interrupted_wall_s": result.pop("wall_s"), "reference_wall_s": ref_wall,
        "bit_identical": identical,
        "one_writer": all(r["concurrent_resume"]["exactly_one"] for r in result["kills"]),
    }
    result["summary"]["wall_lost_s"] = result["summary"]["interrupted_wall_s"] - ref_wall
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": 1,
                         "platform": platform.platform()}
    result["settings"] = vars(args) | {"out": str(args.out)}
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
