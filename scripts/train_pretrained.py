"""Train the pretrained models shipped in ``src/ganforge/pretrained/`` (reproducible: fixed seed, one thread).

    python scripts/train_pretrained.py                 # every model in ganforge.pretrained.MODELS
    python scripts/train_pretrained.py ring8 mnist     # some of them
    python scripts/train_pretrained.py stylegan-mnist --keep runs/pt     # keep the whole run, to continue it:
    ganforge resume runs/pt/stylegan-mnist --set train.steps=24000      # (exact resume: the same weights as
    python scripts/train_pretrained.py stylegan-mnist --package runs/pt/stylegan-mnist   # 24,000 from scratch)

Each model trains from the preset it is named after (with the overrides in ``MODELS``) and is stored as a
small run folder: ``config.yaml``, one checkpoint with only the networks sampling needs (``pretrained.KEEP``:
no optimiser state, no D for image models; image weights in fp16) and ``scores.json``, the evaluation of the
stored model against the real data's floor. The table printed at the end is what ``docs/pretrained.md`` quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same thread count gives the same weights

import torch  # noqa: E402

from ganforge import checkpoint, pretrained, runfolder  # noqa: E402
from ganforge.recipes import load_config  # noqa: E402
from ganforge.runner import train  # noqa: E402

SEED = 0
#: what makes a rerun give the same weights on any CPU: fp32 (train.amp=auto would pick bf16 where it is faster)
#: and one thread (the thread count changes the order of fp32 sums)
PINNED = ["train.progress=false", "train.amp=none", "train.threads=1"]


def slim_down(state: dict, kind: str) -> None:
    """In place: what sampling does not need leaves the checkpoint (CycleGAN's pools of past fakes), and image
    and translation weights are stored in fp16 (half the size; they load into fp32 networks, and scores.json
    is measured on the loaded model)."""
    state["extra"] = {k: v for k, v in state["extra"].items() if not k.startswith("pool_")}
    if kind != "toy":
        state["models"] = {m: {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
                           for m, sd in state["models"].items()}


def package(run_dir: Path, name: str) -> Path:
    """Copy the trained run's config and a sampling-only checkpoint into the package."""
    state = checkpoint.load_latest(run_dir)
    cfg = runfolder.read_config(run_dir)
    keep = pretrained.kept_networks(cfg)
    slim = {k: state[k] for k in ("format", "version", "recipe", "config", "step", "extra", "history", "elapsed")}
    slim["models"] = {k: v for k, v in state["models"].items() if k in keep}
    slim_down(slim, cfg.data_kind)
    out = pretrained.ROOT / name
    if out.exists():
        shutil.rmtree(out)
    (out / "checkpoints").mkdir(parents=True)
    checkpoint.save(slim, checkpoint.ckpt_path(out, slim["step"]))
    runfolder.write_config(cfg, out)
    runfolder.mark(out)
    rescore(name)
    return out


def rescore(name: str) -> dict:
    """Evaluate the shipped model as users load it (fp16 weights in fp32 networks) into its ``scores.json``."""
    from ganforge.sample import _strict, load_run

    result = load_run(pretrained.PREFIX + name).evaluate(write=False)
    (pretrained.ROOT / name / "scores.json").write_text(json.dumps(_strict(result), indent=2) + "\n")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=list(pretrained.MODELS), help="models to train (default: all)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="train into DIR/NAME and keep the whole run (D, optimiser state), so that it can be "
                        "continued: `ganforge resume DIR/NAME --set train.steps=N`, then --package DIR/NAME")
    p.add_argument("--package", type=Path, metavar="RUN", help="package this finished run as the one model "
                   "named (no training)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.package is not None and len(args.names) != 1:
        p.error("--package RUN needs exactly one model name")
    rows = []
    for name in args.names:
        preset, overrides, _ = pretrained.MODELS[name]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            if args.package is not None:
                run_dir = args.package
                seconds = float(checkpoint.load_latest(run_dir).get("elapsed") or 0.0)  # its training time
            else:
                run_dir = train(load_config(preset, [*overrides, f"seed={SEED}", *PINNED]),
                                (args.keep or Path(tmp)) / name, overwrite=args.keep is not None)
                seconds = time.perf_counter() - t0
            out = package(run_dir, name)
        result = json.loads((out / "scores.json").read_text())
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        rows.append((name, seconds, size, result))
        print(f"{name}: {seconds:.0f} s, {size / 1e6:.2f} MB -> {out}", file=sys.stderr, flush=True)
    print(f"{'model':<12} {'train s':>8} {'MB':>6}  scores (model / floor)")
    for name, seconds, size, result in rows:
        m, f = result.get("model", {}), result.get("floor", {})
        keys = [k for k in ("fid", "fid2", "kid", "precision", "recall", "modes", "hq", "w1") if k in m]
        figures = ", ".join(f"{k} {m[k]:.3g}/{f[k]:.3g}" if isinstance(f.get(k), float) else f"{k} {m[k]}"
                            for k in keys)
        print(f"{name:<12} {seconds:>8.0f} {size / 1e6:>6.2f}  {figures}")


if __name__ == "__main__":
    main()
