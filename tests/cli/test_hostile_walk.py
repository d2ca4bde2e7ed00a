"""A walk over every subcommand with hostile option values: each is refused with exit status 2 and exactly one
line on stderr, never a traceback, and the folder holding the input runs and files is left exactly as it was.

Only values that must be refused are drawn (NaN, infinities, zero and negative counts, 2**64, very long and
non-UTF-8 strings, a folder where a file is expected and the reverse, missing run folders, unknown or bad --set
values), each in an otherwise valid command, so a value that slips through writes something and fails the
snapshot. ``main`` runs in-process; argparse's refusals arrive as SystemExit(2)."""

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganforge.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "runs-0.1"
RUNS = ("ring8", "mnist-cond", "stylegan", "cyclegan")
FAKE_MEMORY = 8 * 10**9  # what the walk says is available: the same refusals on any machine


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A folder with the 0.1 runs and a few files, copied once; the walk runs inside it (relative paths)."""
    root = tmp_path_factory.mktemp("walk")
    for name in RUNS:
        shutil.copytree(FIXTURES / name, root / name)
    (root / "adir").mkdir()  # an empty folder (no images, no config.yaml)
    (root / "adir.png").mkdir()  # a folder named like a file
    (root / "file.txt").write_text("a file, not a folder\n")
    Image.new("L", (40, 30), 100).save(root / "photo.png")
    (root / "imgs").mkdir()
    Image.new("L", (30, 30), 50).save(root / "imgs" / "a.png")
    np.save(root / "wrong.npy", np.zeros((3, 3), np.float32))
    np.save(root / "nan.npy", np.full((8, 8), np.nan, np.float32))  # the stylegan run's (num_ws, w_dim)
    with pytest.MonkeyPatch.context() as mp:
        from ganforge import lab
        from ganforge.sample import limits

        mp.setattr(limits, "available_memory", lambda: FAKE_MEMORY)

        def no_server(**kwargs):
            raise AssertionError(f"the lab server was started: {kwargs}")

        mp.setattr(lab, "serve", no_server)
        yield root


def snapshot(root: Path) -> dict:
    """Every path below ``root``: folders by name, files by size, mtime and a hash of their bytes. (A folder's
    own mtime is left out: `resume` takes the run's lock file, and removes it, before it refuses an override.)"""
    out = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        rel = os.fsencode(p.relative_to(root))
        if p.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = ("file", st_.st_size, st_.st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


# --------------------------------------------------------------------------- hostile values

def non_utf8(prefix: bytes = b"\xff") -> st.SearchStrategy[str]:
    """A file name with bytes that are not UTF-8 (as a program gets them: surrogate escapes)."""
    return st.binary(min_size=0, max_size=10).map(
        lambda b: os.fsdecode(prefix + b.replace(b"/", b"_").replace(b"\x00", b"_")))


LONG = st.integers(256, 5000).map(lambda k: "r" * k)  # longer than a file name may be
JUNK = st.one_of(st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "", " ", "0x10", "12abc", "--"]),
                 LONG, non_utf8())


def ints_outside(lo: int, hi: int) -> st.SearchStrategy[str]:
    """An integer option's refused values: below ``lo``, above ``hi`` (up to far past 2**64), or no integer."""
    return st.one_of(st.integers(max_value=lo - 1).map(str), st.integers(hi + 1, max(hi + 1, 2**80)).map(str),
                     st.sampled_from([str(2**64), str(10**30), "9" * 5000, "1.5", "1e3"]), JUNK)


def floats_outside(lo: float, hi: float, low_open: bool = False) -> st.SearchStrategy[str]:
    below = st.floats(max_value=lo, exclude_max=not low_open, allow_nan=False)
    above = st.floats(min_value=hi, exclude_min=True, allow_nan=False)
    return st.one_of(below.map(repr), above.map(repr), st.sampled_from(["nan", "inf", "-inf", "1e999"]), JUNK)


SEEDS = ints_outside(0, 2**32 - 1)
MISSING_RUN = st.one_of(st.text("abcdefgh_-", min_size=1, max_size=20).map(lambda s: "no-such-" + s),
                        non_utf8(b"run\xff"), LONG, st.sampled_from(["file.txt", "adir", "file.txt/ring8"]))
FILE_OUT = st.one_of(st.sampled_from(["adir", "adir.png", "adir.png/", "new.png/", "file.txt/x.png", "ring8"]),
                     non_utf8().map(lambda s: f"file.txt/{s}.png"), LONG.map(lambda s: s + ".png"))
FOLDER_OUT = st.one_of(st.sampled_from(["file.txt", "file.txt/sub", "photo.png", "wrong.npy"]),
                       non_utf8().map(lambda s: f"file.txt/{s}"), LONG)
UNKNOWN_KEY = st.text("abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=30).map(lambda k: f"zz{k}=1")
BAD_SETS = st.one_of(
    UNKNOWN_KEY,
    st.sampled_from(["train.steps=nan", "train.steps=-1", "train.steps=0", "train.steps=abc", "train.steps=1e3",
                     "optim.lr_g=nan", "optim.lr_g=-1", "optim.lr_g=inf", "train.batch_size=0",
                     "train.batch_size=-5", "seed=-1", f"seed={2**64}", "eval.n=0", "train.ema=nan",
                     "model.z_dim=0", "loss=no-such-loss", "noequals", "="]),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "", "12abc", "1.5", "true", "[1]", "{a: 1}", "null"]).map(
        lambda v: f"train.steps={v}"),  # ("0x10" is YAML's 16: a valid value)
    LONG.map(lambda v: f"train.steps={v}"), non_utf8().map(lambda k: f"{k}=1"),
)


def swap(base: list[str], option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """``base`` with ``option``'s value replaced by (or, when absent, set to) a drawn one, as ``--opt=value``."""
    def build(v: str) -> list[str]:
        argv = [a for i, a in enumerate(base) if a != option and (i == 0 or base[i - 1] != option)]
        return argv + [f"{option}={v}"]

    return values.map(build)


def positional(base: list[str], index: int, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return values.map(lambda v: base[:index] + [v] + base[index + 1:])


def one_of_cases(*cases):
    return st.one_of(*cases)


SAMPLE = ["sample", "ring8", "--n", "4", "--out", "new.npy"]
SAMPLE_IMG = ["sample", "mnist-cond", "--n", "4", "--out", "new.png"]
SAMPLE_STYLE = ["sample", "stylegan", "--n", "4", "--out", "new.png"]
INTERP = ["interpolate", "mnist-cond", "--rows", "1", "--steps", "2", "--out", "new.png"]
MIX = ["mix", "stylegan", "--rows", "1", "--cols", "1", "--out", "new.png"]
NOISE = ["noise", "stylegan", "--n", "2", "--out", "new.png"]
PROJECT = ["project", "stylegan", "--image", "photo.png", "--steps", "1", "--out", "newproj"]
TRANSLATE = ["translate", "cyclegan", "--input", "imgs", "--out", "newtrans"]
EVAL = ["eval", "ring8", "--n", "10"]
TRAIN = ["train", "ring8", "--out", "newrun"]
RESUME = ["resume", "ring8"]
BENCH = ["bench", "ring8", "--iters", "1"]
EXPLAIN = ["explain", "nash", "--fast", "--out", "newexplain"]

WALKS = {
    "sample": one_of_cases(
        positional(SAMPLE, 1, MISSING_RUN),
        swap(SAMPLE, "--n", ints_outside(1, 10**9)),
        swap(SAMPLE, "--seed", SEEDS),
        swap(SAMPLE, "--out", FILE_OUT | st.sampled_from(["new.txt", "new.npz", "new.jpg", "new"])),
        swap(SAMPLE_IMG, "--class", ints_outside(0, 2**31 - 1) | st.integers(10, 2**31 - 1).map(str)),
        swap(SAMPLE_IMG, "--n", st.integers(4097, 10**9).map(str)),  # a .png grid too large
        swap(SAMPLE_IMG + ["--out", "new.npz"], "--n", st.integers(10**6, 10**9).map(str)),  # > memory
        swap(SAMPLE_STYLE, "--truncation", floats_outside(-2, 2)),
        swap(SAMPLE, "--truncation", st.sampled_from(["0.5", "0", "2"])),  # not a StyleGAN run
        swap(SAMPLE, "--out", st.sampled_from(["new.png"])).map(lambda a: a + ["--n", "300000"]),  # plot points
    ),
    "eval": one_of_cases(
        positional(EVAL, 1, MISSING_RUN),
        swap(EVAL, "--n", ints_outside(10, 10**7)),
        swap(EVAL, "--n", st.integers(30_000, 10**7).map(str)),  # exact W1's n x n matrix: > memory
        swap(EVAL, "--seed", SEEDS),
        swap(EVAL, "--features", st.sampled_from(["mnist", "inception"])),  # not an image run
        swap(["eval", "mnist-cond", "--n", "10"], "--features",
             st.sampled_from(["bogus", "inception:no-such.pt", "mnist:no-such.pt", "inception:file.txt",
                              "inception:adir", "mnist:file.txt"]) | LONG | non_utf8()),
    ),
    "interpolate": one_of_cases(
        positional(INTERP, 1, MISSING_RUN | st.sampled_from(["ring8"])),
        swap(INTERP, "--rows", ints_outside(1, 4096)),
        swap(INTERP, "--steps", ints_outside(2, 4096)),
        st.tuples(st.integers(2, 4096), st.integers(2, 4096)).filter(lambda t: t[0] * t[1] > 4096).map(
            lambda t: INTERP + [f"--rows={t[0]}", f"--steps={t[1]}"]),
        swap(INTERP, "--seed", SEEDS),
        swap(INTERP, "--class", ints_outside(0, 2**31 - 1) | st.integers(10, 2**31 - 1).map(str)),
        swap(INTERP, "--out", FILE_OUT | st.sampled_from(["new.txt", "new.jpg", "new.npz"])),
        swap(INTERP, "--method", JUNK | st.sampled_from(["cubic"])),
        swap(INTERP, "--space", st.sampled_from(["w"]) | JUNK),  # w: not a StyleGAN run
    ),
    "mix": one_of_cases(
        positional(MIX, 1, MISSING_RUN | st.sampled_from(["ring8", "mnist-cond", "cyclegan"])),
        swap(MIX, "--rows", ints_outside(1, 4095)),
        swap(MIX, "--cols", ints_outside(1, 4095)),
        st.tuples(st.integers(1, 4095), st.integers(1, 4095)).filter(lambda t: (t[0] + 1) * (t[1] + 1) > 4096).map(
            lambda t: MIX + [f"--rows={t[0]}", f"--cols={t[1]}"]),
        swap(MIX, "--seed", SEEDS),
        swap(MIX, "--layers", st.sampled_from(["0-99", "5-2", "huge", "-", "fine-coarse", "8"]) | JUNK),
        swap(MIX, "--latent", st.sampled_from(["file.txt", "adir", "no-such.npy", "wrong.npy", "nan.npy"])),
        swap(MIX, "--out", FILE_OUT | st.sampled_from(["new.gif", "new"])),
    ),
    "noise": one_of_cases(
        positional(NOISE, 1, MISSING_RUN | st.sampled_from(["ring8", "mnist-cond"])),
        swap(NOISE, "--n", ints_outside(2, 4095)),
        swap(NOISE, "--seed", SEEDS),
        swap(NOISE, "--out", FILE_OUT | st.sampled_from(["new.jpg"])),
    ),
    "project": one_of_cases(
        positional(PROJECT, 1, MISSING_RUN | st.sampled_from(["ring8", "cyclegan"])),
        swap(PROJECT, "--image", st.sampled_from(["no-such.png", "adir", "file.txt", "wrong.npy"]) | LONG),
        swap(PROJECT, "--steps", ints_outside(1, 100_000)),
        swap(PROJECT, "--lr", floats_outside(0, 10, low_open=True)),
        swap(PROJECT, "--feature-weight", floats_outside(0, 1e6)),
        swap(PROJECT, "--seed", SEEDS),
        swap(PROJECT, "--space", JUNK | st.sampled_from(["z", "W"])),
        swap(PROJECT, "--out", FOLDER_OUT),
    ),
    "translate": one_of_cases(
        positional(TRANSLATE, 1, MISSING_RUN | st.sampled_from(["ring8", "stylegan"])),
        swap(TRANSLATE, "--input", st.sampled_from(["no-such", "adir", "file.txt"]) | LONG | non_utf8()),
        swap(TRANSLATE, "--out", FOLDER_OUT),
        swap(TRANSLATE, "--direction", JUNK | st.sampled_from(["atob", "BtoC"])),
    ),
    "train": one_of_cases(
        positional(TRAIN, 1, st.text("abcdefgh_-", min_size=1, max_size=20).map(lambda s: "no-such-" + s)
                   | non_utf8() | st.sampled_from(["file.txt", "adir", "no-such.yaml", "photo.png"])),
        BAD_SETS.map(lambda s: TRAIN + ["--set", s]),
        swap(TRAIN, "--out", st.sampled_from(["file.txt", "file.txt/sub", "photo.png"]) | LONG),
        swap(TRAIN, "--nproc", ints_outside(1, 1024)),
        swap(TRAIN, "--device", JUNK | st.sampled_from(["gpu", "tpu"])),
    ),
    "resume": one_of_cases(
        positional(RESUME, 1, MISSING_RUN),
        BAD_SETS.map(lambda s: RESUME + ["--set", s]),
        st.sampled_from(["loss=ns", "model.z_dim=4", "train.steps=1", "train.steps=19"]).map(
            lambda s: RESUME + ["--set", s]),  # not train.*, or below the run's step (20)
        swap(RESUME, "--nproc", ints_outside(1, 1024)),
    ),
    "bench": one_of_cases(
        positional(BENCH, 1, MISSING_RUN | st.sampled_from(["adir", "no-such-preset"])),
        swap(BENCH, "--iters", ints_outside(1, 10_000)),
        BAD_SETS.map(lambda s: BENCH + ["--set", s]),
        swap(BENCH, "--device", JUNK),
    ),
    "config": one_of_cases(
        st.text("abcdefgh_-", min_size=1, max_size=20).map(lambda s: ["config", "no-such-" + s]),
        st.sampled_from(["file.txt", "adir", "photo.png", "no-such.yaml"]).map(lambda s: ["config", s]),
        BAD_SETS.map(lambda s: ["config", "ring8", "--set", s]),
        BAD_SETS.map(lambda s: ["config", "--set", s]),  # --set without a preset
    ),
    "lab": one_of_cases(
        swap(["lab", "--no-browser"], "--port", ints_outside(1, 65535)),
        swap(["lab", "--no-browser"], "--max-sessions", ints_outside(1, 1000)),
        swap(["lab", "--no-browser"], "--host", st.sampled_from(["bad host", "-x", "a" * 64, "a..b", "", "é.com"])
             | LONG | non_utf8()),
        swap(["lab", "--no-browser"], "--runs", st.sampled_from(["file.txt", "photo.png"])),
    ),
    "explain": one_of_cases(
        positional(EXPLAIN, 1, st.text("abcdefgh_-", min_size=1, max_size=20).map(lambda s: "no-" + s)
                   | LONG | non_utf8()),
        swap(EXPLAIN, "--out", FOLDER_OUT),
        swap(EXPLAIN, "--seed", SEEDS),
        swap(EXPLAIN, "--run", MISSING_RUN),
        st.just(["explain", "nash"]),  # no --out
        st.just(["explain", "--out", "newexplain"]),  # --out without a topic
    ),
    "export": one_of_cases(
        positional(["export", "ring8", "--out", "new.pt"], 1, MISSING_RUN),
        swap(["export", "ring8", "--out", "new.pt"], "--out", FILE_OUT | st.sampled_from(["new.txt", "new"])),
        swap(["export", "cyclegan", "--out", "new.pt"], "--direction", JUNK),
        positional(["export", "pretrained:ring8", "--out", "new.pt"], 1,
                   st.sampled_from(["pretrained:nope", "pretrained:", "pretrained:../ring8"])),
    ),
    "completion": one_of_cases(
        positional(["completion", "bash"], 1, JUNK | st.sampled_from(["fish", "powershell", "cmd"]) | non_utf8()),
    ),
}
EXAMPLES = {"sample": 40, "eval": 25, "interpolate": 30, "mix": 30, "noise": 15, "project": 25, "translate": 15,
            "train": 30, "resume": 20, "bench": 20, "config": 20, "lab": 20, "explain": 20, "export": 20,
            "completion": 10}


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse: a usage mistake
        return e.code


@pytest.mark.parametrize("command", list(WALKS))
def test_hostile_values_are_refused_in_one_line(world, command, capsys, monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)

    @settings(max_examples=EXAMPLES[command], deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.filter_too_much])
    @given(WALKS[command])
    def walk(argv):
        capsys.readouterr()
        code = run_main(argv)
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        shown = [a[:60] for a in argv]
        assert code == 2, (shown, code, out[-300:], err[-500:])
        assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), (shown, err[-1000:])
        assert "Traceback" not in err and "Traceback" not in out, (shown, err[-1000:])
        for value in (a.split("=", 1)[-1] for a in argv):  # a user's value is quoted short, if at all
            assert len(value) < 200 or value[:200] not in err, (shown, lines[0][:200])
        assert snapshot(world) == before, shown

    walk()


def test_the_walk_covers_every_subcommand():
    from ganforge.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) - {"presets", "pretrained"} == set(WALKS)  # these two take no options


def test_absurd_batch_size_is_refused_before_training(world, capsys, monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)
    try:
        code = run_main(["train", "ring8", "--out", "newrun", "--set", f"train.batch_size={2**64}",
                         "--set", "train.progress=false"])
    finally:
        shutil.rmtree(world / "newrun", ignore_errors=True)  # whatever a started run left
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert snapshot(world) == before
