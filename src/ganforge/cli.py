"""The ``ganforge`` command line. Flags map onto config fields; ``--set KEY=VALUE`` reaches any of them.

    ganforge presets
    ganforge train ring8 --out runs/ring8 [--set train.steps=3000 --set loss=wgan-gp] [--device cpu|cuda|auto]
    ganforge resume runs/ring8 [--set train.steps=6000]
    ganforge sample runs/ring8 --n 2500 --out samples.npy      # or .png
    ganforge sample runs/mnist --n 64 --out grid.png [--class 7]   # images: .png grid or .npz (uint8 NHWC)
    ganforge eval runs/ring8 [--n 2500] [--features mnist|fashion|inception|inception:PATH]
    ganforge interpolate runs/mnist --steps 10 --method slerp --out strip.png   # or .gif / .webp
    ganforge train inpaint --out runs/inpaint                   # pix2pix / cyclegan: image-to-image translation
    ganforge translate runs/inpaint --input photos/ --out translated [--direction AtoB|BtoA]
    ganforge sample runs/inpaint --n 8 --out triptychs.png      # input | output | target rows
    ganforge sample runs/style --n 64 --truncation 0.7 --out grid.png     # StyleGAN runs: the truncation trick
    ganforge interpolate runs/style --space w --out walk.png              # walk W (lerp) instead of Z (slerp)
    ganforge mix runs/style --rows 4 --cols 4 --layers coarse --out mix.png   # style-mixing grid
    ganforge noise runs/style --seed 3 --n 8 --out noise.png              # same styles, new noise + std map
    ganforge project runs/style --image photo.png --space w+ --steps 300 --out proj/   # embed a real image
    ganforge config [PRESET]                                    # the keys a run uses (all: every recipe's)
    ganforge lab [--host 127.0.0.1] [--port 8000] [--runs runs] [--no-browser]   # the web app
    ganforge explain [TOPIC|all --out DIR [--fast]]              # the lecture companion
    ganforge train mnist --out runs/ddp --nproc 2               # DistributedDataParallel via torchrun
    ganforge bench mnist --set data.size=64 [--json]            # img/s, FLOPs per image, matmul peak, MFU

A user mistake (unknown key, missing file, truncated checkpoint) prints one line and exits
with status 2; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.errors import GanforgeError


def eval_table(result: dict) -> str:
    """A plain-text table: metric | model | real floor (or the column the result names, e.g. baseline)."""
    from ganforge.viz.report import format_value

    model, floor = result["model"], result.get("floor", {})
    column = (result.get("provenance") or {}).get("floor_column", "real floor")
    rows = [("metric", "model", column)] + [(k, format_value(v), format_value(floor.get(k))) for k, v in model.items()]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def cmd_presets(args: argparse.Namespace) -> int:
    from ganforge.recipes import list_presets

    presets = list_presets()
    width = max(len(n) for n, _ in presets)
    for name, desc in presets:
        print(f"{name:<{width}}  {desc}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from ganforge.recipes import describe_keys, load_config, resolve

    if args.preset is None:  # every key of every recipe, each marked with the recipe or data it belongs to
        rows = describe_keys()
    else:  # the keys this preset's run uses, resolved
        rows = describe_keys(resolve(load_config(args.preset, args.set)))
    for key, value, help_ in rows:
        print(f"{key:<22} {value:<10} {help_}")
    return 0


def _relaunch(args: argparse.Namespace, argv: list[str] | None) -> int | None:
    """``--nproc N`` (N > 1) outside torchrun: start the same command under torchrun; its exit status."""
    from ganforge import dist

    if args.nproc is not None and args.nproc < 1:
        raise GanforgeError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc is None or args.nproc == 1 or dist.launched():
        return None
    argv = list(sys.argv[1:] if argv is None else argv)
    i = next(i for i, a in enumerate(argv) if a == "--nproc" or a.startswith("--nproc="))
    del argv[i:i + (1 if "=" in argv[i] else 2)]
    return dist.launch(args.nproc, argv)


def _print_done(run_dir: Path) -> None:
    from ganforge import dist

    if dist.is_main():  # under torchrun, once
        print(f"run folder: {run_dir}\nreport:     {run_dir / 'report.html'}")


def cmd_train(args: argparse.Namespace) -> int:
    from ganforge.recipes import load_config
    from ganforge.runner import resume, train

    code = _relaunch(args, args.argv)
    if code is not None:
        return code
    if args.resume:
        run_dir = resume(args.out, args.set, device=args.device)
    else:
        cfg = load_config(args.config, args.set)
        run_dir = train(cfg, args.out, device=args.device, overwrite=args.overwrite)
    _print_done(run_dir)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from ganforge.runner import resume

    code = _relaunch(args, args.argv)
    if code is not None:
        return code
    run_dir = resume(args.run, args.set, device=args.device)
    _print_done(run_dir)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ganforge.pixels import to_uint8
    from ganforge.sample import load_run

    out = Path(args.out)
    if args.n < 1:
        raise GanforgeError(f"--n must be >= 1, got {args.n}")
    run = load_run(args.run)
    if run.can("translate"):  # held-out inputs, their translations and targets
        if out.suffix not in (".png", ".npz"):
            raise GanforgeError(f"--out must be a .png (triptych rows) or .npz (input, output, target arrays), "
                                f"got '{out.name}'")
        if out.suffix == ".png":
            run.save_triptychs(out, n=args.n)
        else:
            t = to_uint8(run.triptychs(args.n)).permute(1, 0, 3, 4, 2)
            out.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(out, input=t[0].numpy(), output=t[1].numpy(), target=t[2].numpy())
        print(f"wrote {out}")
        return 0
    image = run.can("images")
    allowed = (".png", ".npz") if image else (".npy", ".png")
    if out.suffix not in allowed:
        what = "a .png grid or .npz (images, uint8 N x H x W x C)" if image else ".npy (points) or .png (a picture)"
        raise GanforgeError(f"--out must be {what}, got '{out.name}'")
    if args.cls is not None and not image:
        raise GanforgeError("--class applies to conditional image runs")
    style = run.can("style")
    if args.truncation != 1.0 and not style:
        raise GanforgeError("--truncation applies to StyleGAN runs (recipe=stylegan): other generators have no w_avg")
    trunc = {"truncation": args.truncation} if style else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image:
        if out.suffix == ".npy":
            np.save(out, run.sample(args.n, seed=args.seed).astype(np.float32))
        else:
            run.plot(n=args.n, seed=args.seed, title=f"{run.run_dir.name}, step {run.step}", path=out)
    elif out.suffix == ".png":
        run.save_grid(out, n=args.n, seed=args.seed, labels=args.cls, **trunc)
    else:
        labels = run.labels_for(args.n, args.cls)
        arrays = {"images": run.sample(args.n, seed=args.seed, labels=labels, **trunc)}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        np.savez_compressed(out, **arrays)
    print(f"wrote {out}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from ganforge.sample import load_run

    run = load_run(args.run)
    if not run.can("translate"):
        raise GanforgeError(f"{args.run} is not a translation run (recipe pix2pix or cyclegan)")
    paths = run.translate_folder(args.input, args.out, direction=args.direction)
    print(f"wrote {len(paths)} image(s) to {args.out}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ganforge.sample import load_run

    run = load_run(args.run)
    if not run.can("images"):
        raise GanforgeError("interpolate works on image runs; for a 2-D run use `ganforge sample`")
    walk = {}
    if args.space != "z":
        if not run.can("style"):
            raise GanforgeError(f"--space {args.space} needs a generator with a mapping network (recipe=stylegan); "
                                "this run has z only")
        walk = {"space": args.space}
    out = run.save_interpolation(args.out, rows=args.rows, steps=args.steps, method=args.method, seed=args.seed,
                                 labels=args.cls, **walk)
    print(f"wrote {out}")
    return 0


def _style_run(path: Path, command: str):
    from ganforge.sample import load_run

    run = load_run(path)
    if not run.can("style"):
        raise GanforgeError(f"`ganforge {command}` works on StyleGAN runs (recipe=stylegan); {path} is a "
                            f"{run.config.recipe} run")
    return run


def _png(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise GanforgeError(f"--out must be a .png file, got '{path.name}'")
    return path


def cmd_mix(args: argparse.Namespace) -> int:
    out = _png(args.out)
    for name in ("rows", "cols"):
        if getattr(args, name) < 1:
            raise GanforgeError(f"--{name} must be >= 1, got {getattr(args, name)}")
    run = _style_run(args.run, "mix")
    ws_a = None
    if args.latent is not None:
        ws_a = _read_latent(Path(args.latent), run)
    run.save_mix(out, rows=args.rows, cols=args.cols, layers=args.layers, seed=args.seed, ws_a=ws_a)
    print(f"wrote {out}")
    return 0


def _read_latent(path: Path, run: Any) -> Any:
    import torch

    if not path.is_file():
        raise GanforgeError(f"latent file {path} does not exist")
    try:
        ws = torch.from_numpy(np.load(path)).float()
    except (ValueError, OSError) as e:
        raise GanforgeError(f"cannot read latent {path}: {e}") from None
    ws = ws[None] if ws.ndim == 2 else ws
    shape = (run.G.num_ws, run.G.w_dim)
    if ws.ndim != 3 or tuple(ws.shape[1:]) != shape:
        raise GanforgeError(f"latent {path} must have shape {shape} or (N, {shape[0]}, {shape[1]}) for this run, "
                            f"got {tuple(ws.shape)}")
    return ws


def cmd_noise(args: argparse.Namespace) -> int:
    out = _png(args.out)
    run = _style_run(args.run, "noise")
    run.save_noise(out, seed=args.seed, n=args.n)
    print(f"wrote {out}")
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from ganforge.sample.style import save_projection

    if args.steps < 1:
        raise GanforgeError(f"--steps must be >= 1, got {args.steps}")
    run = _style_run(args.run, "project")
    result = save_projection(run, args.image, args.out, space=args.space, steps=args.steps, lr=args.lr,
                             feature_weight=args.feature_weight, seed=args.seed)
    print(f"{args.space} projection of {args.image}: pixel MSE {result['mse']:.4g}, PSNR {result['psnr']:.2f} dB")
    print(f"wrote {Path(args.out) / 'latent.npy'}, reconstruction.png, loss.png, projection.json")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ganforge.sample import load_run

    if args.n is not None and args.n < 10:
        raise GanforgeError(f"--n must be >= 10, got {args.n}")
    run = load_run(args.run)
    kwargs = {"features": args.features} if args.features else {}
    if args.features and not run.can("features"):
        raise GanforgeError("--features applies to image runs")
    result = run.evaluate(n=args.n, seed=args.seed, **kwargs)
    print(eval_table(result))
    print(f"\nwrote {run.run_dir / 'eval.json'}")
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from ganforge.lab import serve

    if not 0 < args.port < 65536:
        raise GanforgeError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_sessions < 1:
        raise GanforgeError(f"--max-sessions must be >= 1, got {args.max_sessions}")
    serve(host=args.host, port=args.port, runs_dir=args.runs, open_browser=not args.no_browser,
          max_sessions=args.max_sessions)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from ganforge.explain import TOPICS, run_all, run_topic

    if args.topic is None:
        width = max(map(len, TOPICS))
        for name, topic in TOPICS.items():
            print(f"{name:<{width}}  {topic.title}")
        print(f"{'all':<{width}}  every topic and an offline HTML page (index.html)")
        return 0
    if args.out is None:
        raise GanforgeError(f"ganforge explain {args.topic} needs --out DIR")
    if args.topic == "all":
        page = run_all(args.out, fast=args.fast, seed=args.seed, run_dir=args.run)
        print(f"wrote {page}")
        return 0
    result = run_topic(args.topic, args.out, fast=args.fast, seed=args.seed, run_dir=args.run)
    print(f"{args.topic}: {result.summary}")
    print(f"wrote {Path(args.out) / (args.topic + '.png')} and {Path(args.out) / (args.topic + '.json')}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ganforge.bench import bench, table
    from ganforge.loop import select_device
    from ganforge.recipes import apply_overrides, load_config, recipe_module, resolve
    from ganforge.runfolder import read_config

    if args.iters < 1:
        raise GanforgeError(f"--iters must be >= 1, got {args.iters}")
    src = Path(args.model).expanduser()
    if src.is_dir():
        cfg = apply_overrides(read_config(src), args.set)
    else:
        cfg = load_config(args.model, args.set)
    if args.device is not None:
        cfg.device = args.device
    cfg = resolve(cfg)
    recipe_module(cfg).validate(cfg)
    result = bench(cfg, select_device(cfg.device), iters=args.iters)
    print(json.dumps(result) if args.json else table(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganforge", description="Train, sample and evaluate GANs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("presets", help="list the shipped presets")
    s.set_defaults(fn=cmd_presets)
    s = sub.add_parser("config", help="list the config keys with their meaning: a preset's (resolved), or every "
                                      "recipe's with its default")
    s.add_argument("preset", nargs="?", default=None, metavar="PRESET_OR_YAML",
                   help="show only the keys this preset's run uses, with its values")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field first")
    s.set_defaults(fn=cmd_config)

    def add_set(s: argparse.ArgumentParser) -> None:
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, e.g. --set train.steps=3000 (repeatable)")
        s.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                       help="where to train (default: the config's device, 'auto')")

    def add_nproc(s: argparse.ArgumentParser) -> None:
        s.add_argument("--nproc", type=int, default=None, metavar="N",
                       help="train in N processes with DistributedDataParallel (starts torchrun; train.batch_size "
                            "is the global batch, split over them)")

    s = sub.add_parser("train", help="train a model from a preset or a YAML file")
    s.add_argument("config", metavar="PRESET_OR_YAML")
    s.add_argument("--out", required=True, type=Path, help="run folder to create")
    s.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    s.add_argument("--resume", action="store_true", help="continue the run in --out instead")
    add_set(s)
    add_nproc(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("resume", help="continue a run from its last checkpoint")
    s.add_argument("run", type=Path, metavar="DIR")
    add_set(s)
    add_nproc(s)
    s.set_defaults(fn=cmd_resume)

    s = sub.add_parser("sample", help="generate samples from a run (.npy points or a .png picture)")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--class", dest="cls", type=int, default=None, metavar="K",
                   help="conditional runs: samples of class K only (default: a class per row)")
    s.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="StyleGAN runs: the truncation trick, w = w_avg + PSI (w - w_avg) (1 = off, 0 = the "
                        "average image)")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("translate", help="translate an image or a folder of images with a pix2pix / cyclegan run")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--input", required=True, type=Path, metavar="PATH_OR_FOLDER",
                   help="an image file or a folder of them (resized and centre-cropped to the run's size)")
    s.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="where the translations go (.png)")
    s.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="AtoB (G) or, for cyclegan, BtoA (F)")
    s.set_defaults(fn=cmd_translate)

    s = sub.add_parser("mix", help="StyleGAN runs: the style-mixing grid (rows: sources A, columns: sources B)")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--rows", type=int, default=4, help="sources A (their images in the first column)")
    s.add_argument("--cols", type=int, default=4, help="sources B (their images in the first row)")
    s.add_argument("--layers", default="coarse",
                   help="the layers that take B's styles: coarse, middle, fine or an index range A-B (e.g. 0-3)")
    s.add_argument("--latent", default=None, metavar="FILE",
                   help="a projected latent (latent.npy from `ganforge project`) as the row source A")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help=".png picture")
    s.set_defaults(fn=cmd_mix)

    s = sub.add_parser("noise", help="StyleGAN runs: one sample's styles under different noise, with the "
                                     "per-pixel standard deviation map")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--seed", type=int, default=0, help="the sample (its z)")
    s.add_argument("--n", type=int, default=8, help="noise draws")
    s.add_argument("--out", required=True, metavar="FILE", help=".png picture: the draws, then the std map")
    s.set_defaults(fn=cmd_noise)

    s = sub.add_parser("project", help="StyleGAN runs: embed a real image in W or W+ by optimising its latent")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--image", required=True, metavar="FILE", help="the image (any size: resized and "
                   "centre-cropped to the run's size and channels)")
    s.add_argument("--space", choices=["w", "w+"], default="w", help="w: one w for every layer; w+: one per layer")
    s.add_argument("--steps", type=int, default=300, help="optimisation steps")
    s.add_argument("--lr", type=float, default=0.1, help="Adam's peak learning rate")
    s.add_argument("--feature-weight", type=float, default=0.0,
                   help="add this weight x the feature-space loss (the run's feature network) to pixel MSE")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for latent.npy, reconstruction.png, loss.png and projection.json")
    s.set_defaults(fn=cmd_project)

    s = sub.add_parser("interpolate", help="walk the latent space of an image run: a strip or an animation")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--steps", type=int, default=10, help="images per walk, ends included")
    s.add_argument("--rows", type=int, default=4, help="walks (latent pairs)")
    s.add_argument("--method", choices=["lerp", "slerp"], default=None,
                   help="default: slerp in z, lerp in w")
    s.add_argument("--space", choices=["z", "w"], default="z",
                   help="StyleGAN runs: walk the noise z or the intermediate latent w = mapping(z)")
    s.add_argument("--out", required=True, metavar="FILE", help=".png strip, or .gif / .webp animation")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--class", dest="cls", type=int, default=None, metavar="K", help="conditional runs: class K")
    s.set_defaults(fn=cmd_interpolate)

    s = sub.add_parser("bench", help="training and sampling speed, FLOPs per image and MFU of a preset or run")
    s.add_argument("model", metavar="PRESET_OR_DIR", help="a preset name, a YAML file or a run folder")
    s.add_argument("--iters", type=int, default=5, help="timed training iterations (after 2 warm-up ones)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    add_set(s)
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("eval", help="evaluate a run against real data; writes DIR/eval.json")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--n", type=int, default=None, help="generated samples (default: the config's eval.n)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="also print the result as JSON")
    s.add_argument("--features", default=None,
                   help="image runs: mnist | fashion | inception | inception:PATH (default: eval.features)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("lab", help="the web app: train a 2-D GAN live in the browser, browse trained runs")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--runs", type=Path, default=Path("runs"), metavar="DIR",
                   help="the gallery's folder of runs; 'Save run' writes there too (default: runs)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--max-sessions", type=int, default=4, help="live training sessions (tabs) at once")
    s.set_defaults(fn=cmd_lab)

    s = sub.add_parser("explain", help="the lecture companion: each GAN idea computed and drawn")
    s.add_argument("topic", nargs="?", default=None, metavar="TOPIC",
                   help="a topic name, or 'all' for every topic and an HTML page (none: list the topics)")
    s.add_argument("--out", type=Path, default=None, help="folder for the figures, numbers and index.html")
    s.add_argument("--fast", action="store_true", help="a few training steps only (noisier numbers; for tests)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--run", type=Path, default=None, metavar="DIR",
                   help="an image run whose generator the latent topic walks (default: train a small one)")
    s.set_defaults(fn=cmd_explain)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.fn(args)
    except GanforgeError as e:
        print(f"ganforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganforge: interrupted; `ganforge resume` continues from the last checkpoint", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`ganforge config | head`): stop quietly, as a filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
