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
    ganforge export runs/ring8 --out ring8.onnx                 # the generator alone: .pt, .onnx or .safetensors
    ganforge sample runs/style --n 64 --truncation 0.7 --out grid.png     # truncation (StyleGAN: w, others: z)
    ganforge interpolate runs/style --space w --out walk.png              # walk W (lerp) instead of Z (slerp)
    ganforge mix runs/style --rows 4 --cols 4 --layers coarse --out mix.png   # style-mixing grid
    ganforge noise runs/style --seed 3 --n 8 --out noise.png              # same styles, new noise + std map
    ganforge project runs/style --image photo.png --space w+ --steps 300 --out proj/   # embed a real image
    ganforge config [PRESET]                                    # the keys a run uses (all: every recipe's)
    ganforge lab [--host 127.0.0.1] [--port 8000] [--runs runs] [--no-browser]   # the web app
    ganforge explain [TOPIC|all --out DIR [--fast]]              # the lecture companion
    ganforge train mnist --out runs/ddp --nproc 2               # DistributedDataParallel via torchrun
    ganforge bench mnist --set data.size=64 [--json]            # img/s, FLOPs per image, matmul peak, MFU
    ganforge completion bash|zsh|tcsh                           # the shell completion script (shtab)
    ganforge --version                                          # ganforge X.Y.Z

A user mistake (unknown key, missing file, truncated checkpoint) prints one line and exits
with status 2; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import io
import json
import math
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ganforge.errors import GanforgeError, Stopped

# --------------------------------------------------------------------------- user values: checked, quoted short

MAX_COUNT = 10**9  # --n and the like: beyond any real request (memory and picture limits refuse far less)
SEED_LIMIT = 2**32  # numpy's and torch's seeds are < 2**32


def _short(value: Any, limit: int = 60) -> str:
    """A user's value as a quoted one-line prefix of at most ``limit`` characters: what a message may quote."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _q(path: Any) -> str:
    """A user's path, quoted and cut short (paths are longer than other values)."""
    return _short(path, 120)


def _int_in(lo: int, hi: int, note: str = "") -> Any:
    """An argparse type: an integer in [lo, hi]; the option is named by argparse (``argument --n: ...``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or more than Python's 4,300 digits
            raise argparse.ArgumentTypeError(f"must be an integer, got {_short(text, 30)}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo:,} to {hi:,}{note}, got {_short(text, 30)}")
        return value

    parse.__name__ = "integer"
    return parse


def _float_in(lo: float, hi: float, low_open: bool = False, note: str = "") -> Any:
    """An argparse type: a finite number in [lo, hi] ((lo, hi] with ``low_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {_short(text, 30)}") from None
        ok = math.isfinite(value) and (lo < value if low_open else lo <= value) and value <= hi
        if not ok:
            rng = f"> {lo:g} and <= {hi:g}" if low_open else f"from {lo:g} to {hi:g}"
            raise argparse.ArgumentTypeError(f"must be a finite number {rng}{note}, got {_short(text, 30)}")
        return value

    parse.__name__ = "number"
    return parse


SEED = _int_in(0, SEED_LIMIT - 1, " (numpy and torch seeds are < 2**32)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``ganforge: error: ...``, exit 2) that quote only a short prefix of a value."""

    def error(self, message: str) -> NoReturn:
        msg = " ".join(str(message).split())  # one line
        if len(msg) > 300:
            msg = msg[:300] + "..."
        self.exit(2, _line(f"ganforge: error: {msg} (see `{self.prog} --help`)") + "\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise argparse.ArgumentError(action, f"invalid choice: {_short(value, 40)} (choose from {choices})")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        if action.nargs is None and action.option_strings and arg_strings == ["--"]:  # `--n=--`: argparse gives []
            raise argparse.ArgumentError(action, "expected a value, got '--'")
        return super()._get_values(action, arg_strings)

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            shown = " ".join(_short(a, 40) for a in extra[:4]) + (" ..." if len(extra) > 4 else "")
            self.error(f"unrecognized arguments: {shown}")
        return parsed


def _line(text: str) -> str:
    """``text`` safe to print on any stream: one line, undecodable file-name bytes as backslash escapes."""
    return " ".join(text.splitlines()).encode("utf-8", "backslashreplace").decode("utf-8")


# --------------------------------------------------------------------------- paths: inputs and outputs

def _stat(path: Path, what: str) -> os.stat_result | None:
    """``path``'s stat, None when it is not there; a one-line error for a name the system refuses."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:  # a name too long, a loop of links, no permission to look
        raise GanforgeError(f"{what} {_q(path)}: {e.strerror or e}") from None
    except ValueError:  # a NUL byte: no file can have that name (only reachable in-process, not from a shell)
        raise GanforgeError(f"{what} {_q(path)}: a file name cannot hold a NUL byte") from None


def _run_folder(value: Path) -> Path:
    """The run folder a command reads: checked (with a short quote of the name) before it is loaded;
    ``pretrained:NAME`` is a model shipped with ganforge."""
    from ganforge import pretrained

    if pretrained.is_pretrained(value):
        return pretrained.locate(value)
    path = Path(value).expanduser()
    st = _stat(path, "run folder")
    if st is None:
        raise GanforgeError(f"run folder {_q(value)} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        raise GanforgeError(f"{_q(value)} is a file, not a run folder")
    return path


def _load(value: Path) -> Any:
    from ganforge.sample import load_run

    return load_run(_run_folder(value))


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder this process may write in."""
    p = path.parent
    while True:
        st = _stat(p, option)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise GanforgeError(f"{option} {_q(path)}: {_q(p)} is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                try:
                    ro = bool(os.statvfs(p).f_flag & os.ST_RDONLY)
                except (OSError, AttributeError):
                    ro = False
                reason = "Read-only file system" if ro else "Permission denied"
                raise GanforgeError(f"cannot write {_q(path)}: {reason}")
            return
        if p == p.parent:
            return
        p = p.parent


def _out_file(value: Any, option: str = "--out") -> Path:
    """An output file: not an existing folder or special file, below a folder that can be written."""
    text = os.fspath(value)
    path = Path(text).expanduser()
    if not text or text.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise GanforgeError(f"{option} {_q(text)} names a folder; give a file name, e.g. samples.png")
    st = _stat(path, option)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise GanforgeError(f"{option} {_q(text)} is an existing folder; give a file name (a file inside it)")
        if not stat.S_ISREG(st.st_mode):
            raise GanforgeError(f"{option} {_q(text)} exists and is not a regular file")
    _writable_parent(path, option)
    return path


def _out_folder(value: Any, option: str = "--out") -> Path:
    """An output folder: a folder or nothing yet, below a folder that can be written."""
    text = os.fspath(value)
    if not text:
        raise GanforgeError(f"{option} is empty; give a folder")
    path = Path(text).expanduser()
    st = _stat(path, option)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise GanforgeError(f"{option} {_q(text)} is an existing file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise GanforgeError(f"cannot write in {_q(text)}: Permission denied")
        return path
    _writable_parent(path, option)
    return path


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and the folders above it that are missing; returns those created, outermost first."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p == p.parent:
            break
        p = p.parent
    made: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.append(d)
    except OSError:
        _remove_dirs(made)
        raise
    return made


def _remove_dirs(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            pass


def _ours(e: OSError, *roots: Path) -> bool:
    """The error is about one of ``roots`` (or a file below them), or names no file at all (a failed write)."""
    if e.filename is None:
        return True
    name = os.fsdecode(e.filename) if isinstance(e.filename, bytes) else str(e.filename)
    return any(name == str(r) or name.startswith(str(r) + os.sep) for r in roots)


def _cannot_write(e: BaseException, out: Path, *roots: Path, verb: str = "write") -> None:
    """An OSError about ``out`` (or ``roots``) becomes one line naming it; anything else passes on."""
    if isinstance(e, OSError) and not isinstance(e, BrokenPipeError) and _ours(e, out, *roots):
        raise GanforgeError(f"cannot {verb} {_q(out)}: {e.strerror or e}") from None


def _parents_of(out: Path) -> list[Path]:
    try:
        return _make_parents(out.parent)
    except OSError as e:
        raise GanforgeError(f"cannot write {_q(out)}: {e.strerror or e}") from None


@contextlib.contextmanager
def _new_file(out: Path) -> Iterator[Path]:
    """Write ``out`` through a temporary file beside it, renamed over ``out`` only when complete: a failure
    (a full disk, a refused size) leaves the old file, or none, and removes the folders it made."""
    from ganforge.checkpoint import atomic_path

    made, tmp = _parents_of(out), None
    try:
        with atomic_path(out, keep_suffix=True) as tmp:
            yield tmp
    except BaseException as e:
        _remove_dirs(made)
        _cannot_write(e, out, *([tmp] if tmp is not None else []))
        raise


@contextlib.contextmanager
def _new_folder(out: Path) -> Iterator[Path]:
    """Files for a new folder ``out`` go to a temporary folder beside it, renamed to ``out`` when complete.
    An existing ``out`` is written in place (files the command makes only)."""
    if out.is_dir():
        try:
            yield out
        except BaseException as e:
            _cannot_write(e, out, verb="write in")
            raise
        return
    made = _parents_of(out)
    tmp = out.parent / f".ganforge-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        tmp.mkdir()
        yield tmp
        os.rename(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_dirs(made)
        _cannot_write(e, out, tmp)
        raise


def eval_table(result: dict) -> str:
    """A plain-text table: metric | model | real floor (or the column the result names, e.g. baseline), with
    the 95% intervals beside them when the evaluation has them, then how far the model is from the floor."""
    from ganforge.metrics.sampled import floor_lines
    from ganforge.viz.report import format_interval, format_value

    model, floor = result["model"], result.get("floor", {})
    prov = result.get("provenance") or {}
    column = prov.get("floor_column", "real floor")
    ci = prov.get("ci") if isinstance(prov.get("ci"), dict) else {}
    ci_model, ci_floor = ci.get("model") or {}, ci.get("floor") or {}
    if ci_model or ci_floor:
        head = ("metric", "model", f"{round(100 * float(ci.get('level', 0.95)))}% interval", column, "interval")
        rows = [head] + [(k, format_value(v), format_interval(ci_model.get(k)), format_value(floor.get(k)),
                          format_interval(ci_floor.get(k))) for k, v in model.items()]
    else:
        rows = [("metric", "model", column)] + [(k, format_value(v), format_value(floor.get(k)))
                                                for k, v in model.items()]
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{c:<{w[0]}}" if i == 0 else f"{c:>{w[i]}}" for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    notes = floor_lines(result)
    return "\n".join(lines + ([""] + notes if notes else []))


def cmd_presets(args: argparse.Namespace) -> int:
    from ganforge.recipes import list_presets

    presets = list_presets()
    width = max(len(n) for n, _ in presets)
    for name, desc in presets:
        print(f"{name:<{width}}  {desc}")
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    from ganforge import pretrained
    from ganforge.viz.report import format_scores

    models = pretrained.available()
    if not models:
        print("this installation holds no pretrained models (scripts/train_pretrained.py trains them)")
        return 0
    width = max(len(name) for name, _, _ in models)
    for name, desc, sc in models:
        figures = format_scores(pretrained.headline(sc))
        print(f"{name:<{width}}  {desc}" + (f"\n{'':<{width}}  {figures}" if figures else ""))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from ganforge.recipes import describe_keys, load_config, resolve

    if args.preset is None:  # every key of every recipe, each marked with the recipe or data it belongs to
        if args.set:
            raise GanforgeError("--set needs a PRESET_OR_YAML to override (`ganforge config ring8 --set ...`)")
        rows = describe_keys()
    else:  # the keys this preset's run uses, resolved
        rows = describe_keys(resolve(load_config(args.preset, args.set)))
    for key, value, help_ in rows:
        print(f"{key:<22} {value:<10} {help_}")
    return 0


def _relaunch(args: argparse.Namespace, argv: list[str] | None) -> int | None:
    """``--nproc N`` (N > 1) outside torchrun: start the same command under torchrun; its exit status."""
    from ganforge import dist

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
        run_dir = resume(_run_folder(args.out), args.set, device=args.device)
    else:
        st = _stat(Path(args.out).expanduser(), "--out")
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise GanforgeError(f"--out {_q(args.out)} is an existing file, not a run folder")
        if st is None:
            _writable_parent(Path(args.out).expanduser(), "--out")
        cfg = load_config(args.config, args.set)
        run_dir = train(cfg, args.out, device=args.device, overwrite=args.overwrite)
    _print_done(run_dir)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from ganforge.runner import resume

    code = _relaunch(args, args.argv)
    if code is not None:
        return code
    run_dir = resume(_run_folder(args.run), args.set, device=args.device)
    _print_done(run_dir)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ganforge.pixels import to_uint8
    from ganforge.sample.limits import check_memory, check_picture, check_plot_points, gb

    out = _out_file(args.out)
    run = _load(args.run)
    if run.can("translate"):  # held-out inputs, their translations and targets
        if out.suffix not in (".png", ".npz"):
            raise GanforgeError(f"--out must be a .png (triptych rows) or .npz (input, output, target arrays), "
                                f"got {_short(out.name)}")
        if out.suffix == ".png":
            k = min(args.n, len(run.held_out().A))  # the held-out pairs shown: at most all of them
            check_picture(3 * k, run.size, run.size, "a .png of triptychs", "lower --n or use --out x.npz")
            with _new_file(out) as tmp:
                run.save_triptychs(tmp, n=args.n)
        else:
            t = to_uint8(run.triptychs(args.n)).permute(1, 0, 3, 4, 2)
            with _new_file(out) as tmp:
                np.savez_compressed(tmp, input=t[0].numpy(), output=t[1].numpy(), target=t[2].numpy())
        print(f"wrote {out}")
        return 0
    image = run.can("images")
    allowed = (".png", ".npz") if image else (".npy", ".png")
    if out.suffix not in allowed:
        what = "a .png grid or .npz (images, uint8 N x H x W x C)" if image else ".npy (points) or .png (a picture)"
        raise GanforgeError(f"--out must be {what}, got {_short(out.name)}")
    if args.cls is not None and not image:
        raise GanforgeError("--class applies to conditional image runs")
    if args.truncation is not None and not run.can("truncation"):
        raise GanforgeError("--truncation applies to image runs (a 2-D run's noise is not truncated)")
    trunc = {} if args.truncation is None else {"truncation": args.truncation}
    if args.text is not None:
        _check_text(run, args.text, "--text")
        trunc["text"] = args.text
    n = args.n
    if not image:
        if out.suffix == ".png":
            check_plot_points(n, "use --out x.npy for more points")
        else:
            check_memory(n * 2 * 4 * 3, f"--n {n:,} points",  # float32 (n, 2): the batches, joined, converted
                         "make several smaller --n runs with different --seed")
        with _new_file(out) as tmp:
            if out.suffix == ".npy":
                np.save(tmp, run.sample(n, seed=args.seed).astype(np.float32))
            else:
                run.plot(n=n, seed=args.seed, title=f"{run.run_dir.name}, step {run.step}", path=tmp)
        print(f"wrote {out}")
        return 0
    size, ch = int(run.config.data.size), int(run.config.data.channels)
    if out.suffix == ".png":
        check_picture(n, size, size, "a .png grid", "use --out x.npz for more samples")
        with _new_file(out) as tmp:
            run.save_grid(tmp, n=n, seed=args.seed, labels=args.cls, **trunc)
    else:
        held = n * size * size * ch  # the uint8 array the .npz holds
        check_memory(held * 10, f"--n {n:,} images of {size}x{size}x{ch}",  # + float32 batches, joined, converted
                     f"the .npz alone holds {gb(held)}; make several smaller --n runs with different --seed")
        labels = run.labels_for(n, args.cls)
        arrays = {"images": run.sample(n, seed=args.seed, labels=labels, **trunc)}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        with _new_file(out) as tmp:
            np.savez_compressed(tmp, **arrays)
    print(f"wrote {out}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    out = _out_folder(args.out)
    run = _load(args.run)
    if not run.can("translate"):
        raise GanforgeError(f"{_q(args.run)} is not a translation run (recipe pix2pix or cyclegan)")
    with _new_folder(out) as target:
        paths = run.translate_folder(args.input, target, direction=args.direction)
    print(f"wrote {len(paths)} image(s) to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ganforge.export import FORMATS, export_generator

    out = _out_file(args.out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise GanforgeError(f"--out must end in .pt (TorchScript), .onnx or .safetensors (weights + constructor "
                            f"arguments), got {_short(out.name)}")
    run = _load(args.run)
    with _new_file(out) as tmp:
        spec = export_generator(run, tmp, direction=args.direction)
    def shape(io: dict) -> str:
        return f"{io['name']} ({', '.join(map(str, io['shape']))}{',' if len(io['shape']) == 1 else ''})"

    o = spec["output"]
    checked = f"; onnxruntime vs PyTorch: max abs diff {spec['max_abs_diff']:.1e}" if "max_abs_diff" in spec else ""
    print(f"wrote {out} ({fmt}): {', '.join(map(shape, spec['inputs']))} -> {shape(o)} in {o['values']}{checked}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ganforge.sample.limits import MAX_PICTURE_IMAGES, check_picture

    out = _out_file(args.out)
    if out.suffix.lower() not in (".png", ".gif", ".webp"):
        raise GanforgeError(f"--out must end in .png (a strip), .gif or .webp (an animation), got {_short(out.name)}")
    what = "a .png strip" if out.suffix.lower() == ".png" else "an animation"
    if args.rows * args.steps > MAX_PICTURE_IMAGES:  # before loading anything
        check_picture(args.rows * args.steps, 1, 1, f"{what} (--rows x --steps)", "lower --rows or --steps")
    run = _load(args.run)
    if not run.can("images"):
        raise GanforgeError("interpolate works on image runs; for a 2-D run use `ganforge sample`")
    walk = {}
    if args.space != "z":
        if not run.can("style"):
            raise GanforgeError(f"--space {args.space} needs a generator with a mapping network (recipe=stylegan); "
                                "this run has z only")
        walk = {"space": args.space}
    for flag, value in (("--text", args.text), ("--to-text", args.to_text)):
        if value is not None:
            _check_text(run, value, flag)
            walk[flag[2:].replace("-", "_")] = value
    if args.to_text is not None and args.text is None:
        raise GanforgeError("--to-text needs --text (the sentence each row starts from)")
    size = int(run.config.data.size)
    check_picture(args.rows * args.steps, size, size, f"{what} (--rows x --steps)", "lower --rows or --steps")
    with _new_file(out) as tmp:
        run.save_interpolation(tmp, rows=args.rows, steps=args.steps, method=args.method, seed=args.seed,
                               labels=args.cls, **walk)
    print(f"wrote {out}")
    return 0


def _check_text(run: Any, text: str, flag: str) -> None:
    """A sentence for a text-to-image run: refused for other runs and when empty; a warning for unknown words."""
    if not run.can("text"):
        raise GanforgeError(f"{flag} applies to text-to-image runs (recipe=text2image); this is a "
                            f"{run.config.recipe} run")
    if not text.strip():
        raise GanforgeError(f"{flag} must be a non-empty sentence")
    unknown = run.sampler.unknown_words(text)
    if unknown:
        print(f"ganforge: warning: {flag}: the text encoder never saw {', '.join(map(repr, unknown[:5]))} in "
              "training; it reads them as one unknown word", file=sys.stderr)


def _style_run(path: Path, command: str):
    run = _load(path)
    if not run.can("style"):
        raise GanforgeError(f"`ganforge {command}` works on StyleGAN runs (recipe=stylegan); {_q(path)} is a "
                            f"{run.config.recipe} run")
    return run


def _png(out: str) -> Path:
    path = _out_file(out)
    if path.suffix.lower() != ".png":
        raise GanforgeError(f"--out must be a .png file, got {_short(path.name)}")
    return path


def cmd_mix(args: argparse.Namespace) -> int:
    from ganforge.sample.limits import MAX_PICTURE_IMAGES, check_picture

    out = _png(args.out)
    tiles = (args.rows + 1) * (args.cols + 1)
    if tiles > MAX_PICTURE_IMAGES:  # before loading anything
        check_picture(tiles, 1, 1, "a mixing grid ((--rows + 1) x (--cols + 1))", "lower --rows or --cols")
    run = _style_run(args.run, "mix")
    ws_a = None
    rows = args.rows
    if args.latent is not None:
        ws_a = _read_latent(Path(args.latent), run)
        rows = len(ws_a)
    check_picture((rows + 1) * (args.cols + 1), run.G.size, run.G.size,
                  "a mixing grid ((rows + 1) x (--cols + 1))", "lower --cols, or give fewer latents")
    with _new_file(out) as tmp:
        run.save_mix(tmp, rows=args.rows, cols=args.cols, layers=args.layers, seed=args.seed, ws_a=ws_a)
    print(f"wrote {out}")
    return 0


def _read_latent(path: Path, run: Any) -> Any:
    import torch

    st = _stat(path.expanduser(), "--latent")
    if st is None:
        raise GanforgeError(f"latent file {_q(path)} does not exist")
    if not stat.S_ISREG(st.st_mode):
        raise GanforgeError(f"--latent {_q(path)} is not a file")
    try:
        arr = np.load(path.expanduser(), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise GanforgeError(f"cannot read latent {_q(path)}: {_short(e, 120)}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise GanforgeError(f"latent {_q(path)} must be one float array (latent.npy from `ganforge project`)")
    if not np.isfinite(arr).all():
        raise GanforgeError(f"latent {_q(path)} holds NaN or infinite values")
    ws = torch.from_numpy(arr.astype(np.float32))
    ws = ws[None] if ws.ndim == 2 else ws
    shape = (run.G.num_ws, run.G.w_dim)
    if ws.ndim != 3 or tuple(ws.shape[1:]) != shape or len(ws) < 1:
        raise GanforgeError(f"latent {_q(path)} must have shape {shape} or (N, {shape[0]}, {shape[1]}) for this "
                            f"run, got {tuple(arr.shape)}")
    return ws


def cmd_noise(args: argparse.Namespace) -> int:
    from ganforge.sample.limits import check_picture

    out = _png(args.out)
    check_picture(args.n + 1, 1, 1, "a noise picture (--n draws and the std map)", "lower --n")
    run = _style_run(args.run, "noise")
    check_picture(args.n + 1, run.G.size, run.G.size, "a noise picture (--n draws and the std map)", "lower --n")
    with _new_file(out) as tmp:
        run.save_noise(tmp, seed=args.seed, n=args.n)
    print(f"wrote {out}")
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from ganforge.sample.style import save_projection

    out = _out_folder(args.out)
    image = Path(args.image).expanduser()
    st = _stat(image, "--image")
    if st is None:
        raise GanforgeError(f"image file {_q(args.image)} does not exist")
    if not stat.S_ISREG(st.st_mode):
        raise GanforgeError(f"--image {_q(args.image)} is not a file")
    run = _style_run(args.run, "project")
    with _new_folder(out) as target:
        result = save_projection(run, args.image, target, space=args.space, steps=args.steps, lr=args.lr,
                                 feature_weight=args.feature_weight, seed=args.seed)
    print(f"{args.space} projection of {args.image}: pixel MSE {result['mse']:.4g}, PSNR {result['psnr']:.2f} dB")
    print(f"wrote {out / 'latent.npy'}, reconstruction.png, loss.png, projection.json")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ganforge.sample import _strict
    from ganforge.sample.limits import check_memory

    if args.features is not None and args.features.partition(":")[0] not in ("mnist", "mnist2", "fashion",
                                                                           "inception"):
        raise GanforgeError(f"unknown --features {_short(args.features, 40)}; choose mnist, mnist2, fashion, "
                            "inception, inception:PATH or mnist:PATH")
    run = _load(args.run)
    kwargs: dict = {"features": args.features} if args.features else {}
    if args.features and not run.can("features"):
        raise GanforgeError("--features applies to image runs")
    if args.resamples is not None:
        if not run.can("images") or run.can("translate"):
            raise GanforgeError("--resamples applies to image generation runs")
        kwargs["resamples"] = args.resamples
    n = args.n
    if n is not None and run.can("points"):  # exact W1: an n x n float64 cost matrix, model and floor
        check_memory(n * n * 8 * 2, f"--n {n:,} points (exact W1 builds an n x n cost matrix)",
                     "lower --n (2,500 is PacGAN's protocol)")
    elif n is not None and run.can("images"):  # (n, D) float64 features, collected and joined
        from ganforge.metrics.sampled import features_for

        spec = args.features or features_for(run.config)
        dim = 128 if str(spec).split(":")[0] in ("mnist", "mnist2", "fashion") else 2048  # classifiers, Inception
        nets = 2 if spec == "mnist" else 1  # digits: the second network too (metrics.features.SECOND_RULER)
        check_memory(n * dim * 8 * 3 * nets, f"--n {n:,} images' features",
                     "lower --n (FID is usually taken at 50,000)")
    result = run.evaluate(n=n, seed=args.seed, write=False, **kwargs)
    path = run.run_dir / "eval.json"
    if not run.read_only:  # a pretrained model's folder is the package's: printed only
        with _new_file(path) as tmp:
            tmp.write_text(json.dumps(_strict(result), indent=2) + "\n", encoding="utf-8")
    print(eval_table(result))
    if not run.read_only:
        print(f"\nwrote {path}")
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from ganforge.lab import serve

    if not 0 < args.port < 65536:
        raise GanforgeError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_sessions < 1:
        raise GanforgeError(f"--max-sessions must be >= 1, got {args.max_sessions}")
    if not _valid_host(args.host):
        raise GanforgeError(f"--host must be an IP address or a host name (e.g. 127.0.0.1), got {_short(args.host)}")
    st = _stat(Path(args.runs).expanduser(), "--runs")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise GanforgeError(f"--runs {_q(args.runs)} is an existing file, not a folder of runs")
    serve(host=args.host, port=args.port, runs_dir=args.runs, open_browser=not args.no_browser,
          max_sessions=args.max_sessions)
    return 0


def _valid_host(host: str) -> bool:
    """An IP address, or a host name of dot-separated labels of 1-63 letters, digits and hyphens (253 at most)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(x) <= 63 and x.isascii() and x.replace("-", "").isalnum() and not x.startswith("-") for x in labels)


def cmd_explain(args: argparse.Namespace) -> int:
    from ganforge.explain import TOPICS, run_all, run_topic

    if args.topic is None:
        if args.out is not None or args.run is not None:
            raise GanforgeError("--out and --run need a TOPIC (or all): `ganforge explain latent --out DIR`")
        width = max(map(len, TOPICS))
        for name, topic in TOPICS.items():
            print(f"{name:<{width}}  {topic.title}")
        print(f"{'all':<{width}}  every topic and an offline HTML page (index.html)")
        return 0
    if args.topic != "all" and args.topic not in TOPICS:
        close = difflib.get_close_matches(args.topic[:100], list(TOPICS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise GanforgeError(f"unknown topic {_short(args.topic, 40)}{hint} "
                            f"(topics: {', '.join(TOPICS)}, or 'all')")
    if args.out is None:
        raise GanforgeError(f"ganforge explain {args.topic} needs --out DIR")
    out = _out_folder(args.out)
    run_dir = None
    if args.run is not None:  # a run folder (read now: a bad one is refused before any topic is computed)
        from ganforge.runfolder import read_config

        run_dir = _run_folder(args.run)
        read_config(run_dir)
    if args.topic == "all":
        page = run_all(out, fast=args.fast, seed=args.seed, run_dir=run_dir)
        print(f"wrote {page}")
        return 0
    result = run_topic(args.topic, out, fast=args.fast, seed=args.seed, run_dir=run_dir)
    print(f"{args.topic}: {result.summary}")
    print(f"wrote {out / (args.topic + '.png')}, {out / (args.topic + '.json')} and {out / 'index.html'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ganforge.bench import bench, table
    from ganforge.loop import select_device
    from ganforge.recipes import apply_overrides, load_config, recipe_module, resolve
    from ganforge.runfolder import read_config

    src = Path(args.model).expanduser()
    if _stat(src, "model") is not None and src.is_dir():
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


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def version() -> str:
    """The installed distribution's version (``ganforge._version``)."""
    from ganforge._version import __version__

    return __version__


class _VersionAction(argparse.Action):
    """``--version``: prints ``ganforge X.Y.Z`` and exits 0; the version is looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, default: Any = argparse.SUPPRESS,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"ganforge {version()}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ganforge", description="Train, sample and evaluate GANs.")
    p.add_argument("--version", action=_VersionAction, help="print `ganforge X.Y.Z` and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("presets", help="list the shipped presets")
    s.set_defaults(fn=cmd_presets)
    s = sub.add_parser("pretrained", help="list the pretrained models shipped with ganforge (use them as "
                                          "pretrained:NAME wherever a run folder is accepted)")
    s.set_defaults(fn=cmd_pretrained)
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
        s.add_argument("--nproc", type=_int_in(1, 1024), default=None, metavar="N",
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
    s.add_argument("--n", type=_int_in(1, MAX_COUNT), default=1000)
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--class", dest="cls", type=_int_in(0, 2**31 - 1), default=None, metavar="K",
                   help="conditional runs: samples of class K only (default: a class per row)")
    s.add_argument("--truncation", type=_float_in(-2, 4, note=" (StyleGAN: 1 = off, useful 0.5 to 1; other image "
                                                         "runs: z within +-PSI, > 0)"), default=None, metavar="PSI",
                   help="the truncation trick (default: off). StyleGAN runs: w = w_avg + PSI (w - w_avg) (1 = off, "
                        "0 = the average image; useful 0.5 to 1). Other image runs (BigGAN, DCGAN): z drawn from a "
                        "normal truncated to [-PSI, PSI] (BigGAN's; PSI > 0, useful 0.25 to 2: smaller, less "
                        "variety and higher fidelity)")
    s.add_argument("--text", default=None, metavar="SENTENCE",
                   help="text-to-image runs: samples of this sentence, e.g. 'a thin four leaning left' (default: "
                        "a held-out caption per row of a .png, captions of the training data for a .npz)")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("translate", help="translate an image or a folder of images with a pix2pix / cyclegan run")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--input", required=True, type=Path, metavar="PATH_OR_FOLDER",
                   help="an image file or a folder of them (resized and centre-cropped to the run's size)")
    s.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="where the translations go (.png)")
    s.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="AtoB (G) or, for cyclegan, BtoA (F)")
    s.set_defaults(fn=cmd_translate)

    s = sub.add_parser("export", help="write the run's sampling generator to a file: .pt (TorchScript), .onnx or "
                                      ".safetensors (for ganforge.load_generator)")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--out", required=True, metavar="FILE", help=".pt, .onnx or .safetensors; the format follows it")
    s.add_argument("--direction", choices=["AtoB", "BtoA"], default=None,
                   help="translation runs: AtoB (G, the default) or, for cyclegan, BtoA (F)")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("mix", help="StyleGAN runs: the style-mixing grid (rows: sources A, columns: sources B)")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--rows", type=_int_in(1, 4095), default=4, help="sources A (their images in the first column)")
    s.add_argument("--cols", type=_int_in(1, 4095), default=4, help="sources B (their images in the first row)")
    s.add_argument("--layers", default="coarse",
                   help="the layers that take B's styles: coarse, middle, fine or an index range A-B (e.g. 0-3)")
    s.add_argument("--latent", default=None, metavar="FILE",
                   help="a projected latent (latent.npy from `ganforge project`) as the row source A")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help=".png picture")
    s.set_defaults(fn=cmd_mix)

    s = sub.add_parser("noise", help="StyleGAN runs: one sample's styles under different noise, with the "
                                     "per-pixel standard deviation map")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--seed", type=SEED, default=0, help="the sample (its z)")
    s.add_argument("--n", type=_int_in(2, 4095), default=8, help="noise draws")
    s.add_argument("--out", required=True, metavar="FILE", help=".png picture: the draws, then the std map")
    s.set_defaults(fn=cmd_noise)

    s = sub.add_parser("project", help="StyleGAN runs: embed a real image in W or W+ by optimising its latent")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--image", required=True, metavar="FILE", help="the image (any size: resized and "
                   "centre-cropped to the run's size and channels)")
    s.add_argument("--space", choices=["w", "w+"], default="w", help="w: one w for every layer; w+: one per layer")
    s.add_argument("--steps", type=_int_in(1, 100_000), default=300, help="optimisation steps")
    s.add_argument("--lr", type=_float_in(0, 10, low_open=True), default=0.1, help="Adam's peak learning rate")
    s.add_argument("--feature-weight", type=_float_in(0, 1e6), default=0.0,
                   help="add this weight x the feature-space loss (the run's feature network) to pixel MSE")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for latent.npy, reconstruction.png, loss.png and projection.json")
    s.set_defaults(fn=cmd_project)

    s = sub.add_parser("interpolate", help="walk the latent space of an image run: a strip or an animation")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--steps", type=_int_in(2, 4096), default=10, help="images per walk, ends included")
    s.add_argument("--rows", type=_int_in(1, 4096), default=4, help="walks (latent pairs)")
    s.add_argument("--method", choices=["lerp", "slerp"], default=None,
                   help="default: slerp in z, lerp in w")
    s.add_argument("--space", choices=["z", "w"], default="z",
                   help="StyleGAN runs: walk the noise z or the intermediate latent w = mapping(z)")
    s.add_argument("--out", required=True, metavar="FILE", help=".png strip, or .gif / .webp animation")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--class", dest="cls", type=_int_in(0, 2**31 - 1), default=None, metavar="K",
                   help="conditional runs: class K")
    s.add_argument("--text", default=None, metavar="SENTENCE",
                   help="text-to-image runs: the caption of every row (a latent walk), or with --to-text the "
                        "sentence each row starts from")
    s.add_argument("--to-text", dest="to_text", default=None, metavar="SENTENCE",
                   help="text-to-image runs: walk the sentence embedding from --text to this one, z fixed per row "
                        "(Reed et al.'s sentence interpolation)")
    s.set_defaults(fn=cmd_interpolate)

    s = sub.add_parser("bench", help="training and sampling speed, FLOPs per image and MFU of a preset or run")
    s.add_argument("model", metavar="PRESET_OR_DIR", help="a preset name, a YAML file or a run folder")
    s.add_argument("--iters", type=_int_in(1, 10_000), default=5,
                   help="timed training iterations (after 2 warm-up ones)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    add_set(s)
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("eval", help="evaluate a run against real data; writes DIR/eval.json")
    s.add_argument("run", type=Path, metavar="DIR")
    s.add_argument("--n", type=_int_in(10, 10_000_000), default=None,
                   help="generated samples (default: the config's eval.n)")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--json", action="store_true", help="also print the result as JSON")
    s.add_argument("--features", default=None,
                   help="image runs: mnist | mnist2 | fashion | inception | inception:PATH (default: eval.features)")
    s.add_argument("--resamples", type=_int_in(0, 100_000), default=None,
                   help="image runs: bootstrap replicates of the 95%% intervals, 0 = none (default: eval.resamples)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("lab", help="the web app: train a 2-D GAN live in the browser, browse trained runs")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=_int_in(1, 65535), default=8000)
    s.add_argument("--runs", type=Path, default=Path("runs"), metavar="DIR",
                   help="the gallery's folder of runs; 'Save run' writes there too (default: runs)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--max-sessions", type=_int_in(1, 1000), default=4, help="live training sessions (tabs) at once")
    s.set_defaults(fn=cmd_lab)

    s = sub.add_parser("explain", help="the lecture companion: each GAN idea computed and drawn")
    s.add_argument("topic", nargs="?", default=None, metavar="TOPIC",
                   help="a topic name, or 'all' for every topic and an HTML page (none: list the topics)")
    s.add_argument("--out", type=Path, default=None, help="folder for the figures, numbers and index.html")
    s.add_argument("--fast", action="store_true", help="a few training steps only (noisier numbers; for tests)")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--run", type=Path, default=None, metavar="DIR",
                   help="an image run whose generator the latent topic walks (default: train a small one)")
    s.set_defaults(fn=cmd_explain)

    s = sub.add_parser("completion", help="print the shell completion script (e.g. `ganforge completion bash > "
                                          "~/.local/share/bash-completion/completions/ganforge`)")
    s.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    s.set_defaults(fn=cmd_completion)
    return p


# what to lower when a command runs out of memory
_MEMORY_HINTS = {
    "sample": "lower --n", "eval": "lower --n", "interpolate": "lower --rows or --steps",
    "mix": "lower --rows or --cols", "noise": "lower --n",
    "project": "use --feature-weight 0 (no feature network) or a smaller run",
    "translate": "translate fewer images at a time (a smaller --input folder)",
    "train": "lower train.batch_size or the model's width (--set)", "resume": "lower train.batch_size (--set)",
    "bench": "lower train.batch_size or data.size (--set)", "explain": "use --fast, or one topic at a time",
}
_WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _safe_streams() -> None:
    """Paths with bytes that are not UTF-8 print as backslash escapes instead of raising UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError, io.UnsupportedOperation):
                pass


def _os_error(e: OSError) -> str:
    """One line for an environment fault: the file and the system's reason."""
    reason = e.strerror or type(e).__name__
    verb = "cannot write" if e.errno in _WRITE_ERRNOS else "cannot use"
    if e.filename is None:
        return f"{verb}: {reason}" if e.strerror else f"{verb}: {_short(e, 160)}"
    name = os.fsdecode(e.filename) if isinstance(e.filename, bytes) else str(e.filename)
    if e.filename2 is not None:
        return f"{verb} {_q(name)} -> {_q(e.filename2)}: {reason}"
    return f"{verb} {_q(name)}: {reason}"


def _is_oom(e: BaseException) -> bool:
    if type(e).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA, MPS)
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _no_memory(command: str) -> str:
    return f"not enough memory for `ganforge {command}`; {_MEMORY_HINTS.get(command, 'ask for less')}"


def _error(text: str) -> int:
    print(_line(f"ganforge: error: {text}"), file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    try:
        args = build_parser().parse_args(argv)  # a usage mistake: one line (and --help) end here
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    args.argv = argv
    try:
        return args.fn(args)
    except Stopped as e:  # Ctrl-C or SIGTERM during training: a checkpoint at the current step was written
        print(_line(f"ganforge: {e}"), file=sys.stderr)
        return e.code
    except GanforgeError as e:
        return _error(str(e))
    except KeyboardInterrupt:
        print("ganforge: interrupted; `ganforge resume` continues from the last checkpoint", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`ganforge config | head`): stop quietly, as a filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the environment: a read-only or full disk, a missing or wrong kind of path
        return _error(_os_error(e))
    except MemoryError:
        return _error(_no_memory(args.command))
    except RuntimeError as e:
        if not _is_oom(e):
            raise
        return _error(_no_memory(args.command))


if __name__ == "__main__":
    sys.exit(main())
