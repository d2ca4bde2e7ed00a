"""CLI round trips on a tiny run, and one-line errors for user mistakes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganforge.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ganforge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_presets_lists_one_line_each(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("ring8 ") for line in out) and any(line.startswith("grid25 ") for line in out)


def test_config_lists_keys(capsys):
    assert main(["config"]) == 0
    assert "train.steps" in capsys.readouterr().out


def test_run_folder_contents(tiny_run):
    for name in ("config.yaml", "metrics.jsonl", "report.html", "eval.json", "curves.png"):
        assert (tiny_run / name).is_file(), name
    assert list((tiny_run / "checkpoints").glob("step_*.pt"))
    assert list((tiny_run / "samples").glob("step_*.png"))
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["step"] == 1 and records[-1]["step"] == 40
    assert {"Loss/D", "Loss/G", "Grad/G", "Grad/D"} <= set(records[-1])
    assert any("Metric/modes" in r and "Metric/w1" in r for r in records)
    html = (tiny_run / "report.html").read_text()
    assert "data:image/png;base64" in html and "real floor" in html


def test_final_eval_false_skips_the_evaluation_and_the_report(tmp_path, tiny):
    assert "train.final_eval=false" in tiny
    assert main(["train", "ring8", "--out", str(tmp_path / "r"), "--device", "cpu",
                 *[a for item in tiny for a in ("--set", item)]]) == 0
    assert (tmp_path / "r" / "metrics.jsonl").is_file() and list((tmp_path / "r" / "checkpoints").glob("*.pt"))
    assert not (tmp_path / "r" / "eval.json").exists() and not (tmp_path / "r" / "report.html").exists()
    assert main(["eval", str(tmp_path / "r"), "--n", "100"]) == 0  # evaluated later
    assert (tmp_path / "r" / "eval.json").is_file()


def test_sample_npy_and_png(tiny_run, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", str(tiny_run), "--n", "123", "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (123, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    assert np.abs(x).max() < 50  # data coordinates, not a blow-up
    assert main(["sample", str(tiny_run), "--n", "50", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_eval_prints_table_and_writes_json(tiny_run, capsys):
    assert main(["eval", str(tiny_run), "--n", "200"]) == 0
    out = capsys.readouterr().out
    assert "real floor" in out and "modes" in out and "w1" in out
    result = json.loads((tiny_run / "eval.json").read_text())
    assert result["provenance"]["n_fake"] == 200
    assert result["floor"]["modes"] == 8 and result["floor"]["hq"] > 95


def test_train_refuses_existing_folder(tiny_run, capsys):
    assert main(["train", "ring8", "--out", str(tiny_run)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, match", [
    (["train", "ring", "--out", "{tmp}/x"], "unknown preset 'ring'"),
    (["train", "ring8", "--out", "{tmp}/x", "--set", "train.step=3"], "did you mean 'train.steps'"),
    (["train", "ring8", "--out", "{tmp}/x", "--set", "loss=wgan_gp"], "choose one of"),
    (["train", "ring8", "--out", "{tmp}/x", "--set", "data.name=points", "--set", "data.path={tmp}/bad.csv"],
     "line 3: expected 2 numbers"),
    (["train", "ring8", "--out", "{tmp}/x", "--set", "data.name=points", "--set", "data.path={tmp}/nan.npy"],
     "NaN or infinite"),
    (["sample", "{tmp}/nothing", "--n", "5", "--out", "{tmp}/a.npy"], "does not exist"),
    (["sample", "{tmp}/trunc", "--n", "5", "--out", "{tmp}/a.npy"], "truncated or corrupt"),
    (["eval", "{tmp}/trunc"], "truncated or corrupt"),
    (["resume", "{tmp}/trunc", "--set", "loss=ns"], "only train.* keys"),
])
def test_user_mistakes_give_one_line(tmp_path, tiny_run, capsys, args, match):
    import shutil

    (tmp_path / "bad.csv").write_text("x,y\n1,2\n3,oops\n")
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]))
    shutil.copytree(tiny_run, tmp_path / "trunc")
    for ck in (tmp_path / "trunc" / "checkpoints").glob("*.pt"):
        ck.write_bytes(ck.read_bytes()[:300])
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # nothing created for a refused run


def test_subprocess_round_trip_and_user_points(tmp_path):
    pts = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y", comments="")
    run = tmp_path / "pts"
    sets = []
    from conftest import TINY

    for s in TINY + ["data.name=points", f"data.path={tmp_path / 'p.csv'}", "train.steps=20", "train.final_eval=true"]:
        sets += ["--set", s]
    r = _run("train", "ring8", "--out", run, "--device", "cpu", *sets)
    assert r.returncode == 0, r.stderr
    assert "report" in r.stdout
    r = _run("resume", run, "--set", "train.steps=30", "--set", "train.progress=false",
             "--set", "train.final_eval=false")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 30
    r = _run("eval", run, "--n", "100")
    assert r.returncode == 0 and "w1" in r.stdout and "modes" not in r.stdout  # no modes for user points
    r = _run("train", "nope", "--out", tmp_path / "q")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_output_cut_short_by_the_reader_is_no_traceback():
    """`ganforge config | head -1`: the reader closes the pipe early; ganforge stops quietly."""
    cmd = f"{sys.executable} -m ganforge config | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0 and done.stdout.count("\n") == 1


# --------------------------------------------------------------------------- hostile sizes, numbers, paths, faults

FIXTURES = Path(__file__).parent.parent / "fixtures" / "runs-0.1"


@pytest.fixture(scope="module")
def runs01(tmp_path_factory):
    """The 0.1 fixture runs (ring8, mnist-cond, stylegan, cyclegan), copied once for this module."""
    import shutil

    root = tmp_path_factory.mktemp("runs01")
    for name in ("ring8", "mnist-cond", "stylegan", "cyclegan"):
        shutil.copytree(FIXTURES / name, root / name)
    return root


def _one_line_2(capsys, argv, *matches):
    """``main(argv)`` exits 2 with exactly one stderr line holding every one of ``matches``; returns the line."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for m in matches:
        assert m in lines[0], lines[0]
    return lines[0]


def _tree(root):
    return sorted((str(p.relative_to(root)), p.is_dir(), p.stat().st_size if p.is_file() else 0)
                  for p in root.rglob("*"))


@pytest.mark.parametrize("args, match", [
    (["sample", "mnist-cond", "--n", "10000000", "--out", "{tmp}/x.png"], "at most 4096 images"),
    (["sample", "mnist-cond", "--n", "10000000", "--out", "{tmp}/x.png"], "use --out x.npz"),
    (["sample", "stylegan", "--n", "5000", "--out", "{tmp}/x.png"], "a .png grid holds at most 4096"),
    (["sample", "ring8", "--n", "10000000", "--out", "{tmp}/x.png"], "use --out x.npy for more points"),
    (["sample", "mnist-cond", "--n", "1000000000", "--out", "{tmp}/x.npz"], "different --seed"),
    (["sample", "ring8", "--n", "1000000000", "--out", "{tmp}/x.npy"], "of memory, more than"),
    (["interpolate", "mnist-cond", "--rows", "100000", "--out", "{tmp}/x.png"], "argument --rows"),
    (["interpolate", "mnist-cond", "--rows", "4096", "--steps", "4096", "--out", "{tmp}/x.gif"], "lower --rows"),
    (["mix", "stylegan", "--rows", "100", "--cols", "100", "--out", "{tmp}/x.png"], "at most 4096 images"),
    (["noise", "stylegan", "--n", "100000", "--out", "{tmp}/x.png"], "argument --n"),
    (["eval", "ring8", "--n", "1000000"], "n x n cost matrix"),
    (["eval", "mnist-cond", "--n", "9000000"], "features need about"),
])
def test_sizes_that_cannot_fit_are_refused_up_front(runs01, tmp_path, capsys, args, match):
    before = _tree(runs01)
    argv = [a.replace("{tmp}", str(tmp_path / "new")) for a in args]
    argv[1] = str(runs01 / argv[1])
    _one_line_2(capsys, argv, match)
    assert not (tmp_path / "new").exists() and _tree(runs01) == before


def test_npz_memory_estimate_names_the_limit(runs01, tmp_path, capsys, monkeypatch):
    from ganforge.sample import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 10_000_000)  # 10 MB free
    line = _one_line_2(capsys, ["sample", runs01 / "mnist-cond", "--n", "5000", "--out", tmp_path / "x.npz"],
                       "--n 5,000 images of 32x32x1 need about 51 MB", "9 MB", "different --seed")
    assert "x.npz" not in line and not (tmp_path / "x.npz").exists()


def test_library_limits_back_up_the_cli(runs01, tmp_path):
    from ganforge.errors import GanforgeError
    from ganforge.sample import load_run

    run = load_run(runs01 / "stylegan")
    for call in (lambda: run.save_grid(tmp_path / "g" / "x.png", n=5000),
                 lambda: run.save_interpolation(tmp_path / "g" / "x.png", rows=100, steps=100),
                 lambda: run.save_mix(tmp_path / "g" / "x.png", rows=100, cols=100),
                 lambda: run.save_noise(tmp_path / "g" / "x.png", n=5000),
                 lambda: run.interpolate(rows=0),
                 lambda: run.project(torch_zeros(1, 1, 32, 32), steps=2, lr=float("nan")),
                 lambda: run.project(torch_zeros(1, 1, 32, 32), steps=2, feature_weight=float("inf"))):
        with pytest.raises(GanforgeError):
            call()
    assert not (tmp_path / "g").exists()


def torch_zeros(*shape):
    import torch

    return torch.zeros(*shape)


@pytest.mark.parametrize("args, option", [
    (["project", "stylegan", "--image", "x.png", "--out", "p", "--lr", "nan"], "--lr"),
    (["project", "stylegan", "--image", "x.png", "--out", "p", "--lr=-1"], "--lr"),
    (["project", "stylegan", "--image", "x.png", "--out", "p", "--lr", "0"], "--lr"),
    (["project", "stylegan", "--image", "x.png", "--out", "p", "--feature-weight", "nan"], "--feature-weight"),
    (["project", "stylegan", "--image", "x.png", "--out", "p", "--steps", "0"], "--steps"),
    (["sample", "stylegan", "--out", "x.png", "--truncation", "nan"], "useful 0.5 to 1"),
    (["sample", "stylegan", "--out", "x.png", "--truncation", "inf"], "--truncation"),
    (["sample", "ring8", "--out", "x.npy", "--n", "0"], "--n"),
    (["sample", "ring8", "--out", "x.npy", "--n", str(2**64)], "--n"),
    (["sample", "ring8", "--out", "x.npy", "--seed", "-1"], "--seed"),
    (["sample", "ring8", "--out", "x.npy", "--seed", str(2**32)], "< 2**32"),
    (["sample", "mnist-cond", "--out", "x.png", "--class", str(2**64)], "--class"),
    (["interpolate", "mnist-cond", "--out", "x.png", "--steps", "1"], "--steps"),
    (["interpolate", "mnist-cond", "--out", "x.png", "--rows", "-3"], "--rows"),
    (["mix", "stylegan", "--out", "x.png", "--cols", "0"], "--cols"),
    (["noise", "stylegan", "--out", "x.png", "--n", "1"], "--n"),
    (["eval", "ring8", "--n", "9"], "--n"),
    (["bench", "ring8", "--iters", "0"], "--iters"),
    (["train", "ring8", "--out", "x", "--nproc", str(2**64)], "--nproc"),
    (["lab", "--port", "0"], "--port"),
    (["lab", "--max-sessions", "0"], "--max-sessions"),
    (["sample", "ring8", "--out", "x.npy", "--n", "9" * 5000], "got '999999999999999999999999999999...'"),
])
def test_absurd_numbers_name_the_option(runs01, tmp_path, capsys, args, option):
    argv = [a.replace("x.", str(tmp_path / "x.")) for a in args]
    line = _one_line_2(capsys, argv, option)
    assert len(line) < 300 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, match", [
    (["sample", "ring8", "--n", "5", "--out", "{tmp}/adir"], "is an existing folder"),
    (["sample", "mnist-cond", "--n", "5", "--out", "{tmp}/adir.png"], "is an existing folder"),
    (["sample", "ring8", "--n", "5", "--out", "{tmp}/new.png/"], "names a folder"),
    (["sample", "ring8", "--n", "5", "--out", "{tmp}/file.txt/x.npy"], "is a file, not a folder"),
    (["interpolate", "mnist-cond", "--out", "{tmp}/adir.png"], "is an existing folder"),
    (["mix", "stylegan", "--out", "{tmp}/adir.png"], "is an existing folder"),
    (["noise", "stylegan", "--out", "{tmp}/file.txt/n.png"], "is a file, not a folder"),
    (["translate", "cyclegan", "--input", "{tmp}/adir", "--out", "{tmp}/file.txt"], "is an existing file, not a"),
    (["project", "stylegan", "--image", "{tmp}/file.txt", "--out", "{tmp}/file.txt"], "is an existing file"),
    (["project", "stylegan", "--image", "{tmp}/adir", "--out", "{tmp}/p"], "--image"),
    (["train", "ring8", "--out", "{tmp}/file.txt"], "is an existing file, not a run folder"),
    (["explain", "nash", "--out", "{tmp}/file.txt"], "is an existing file, not a folder"),
    (["sample", "{tmp}/" + "r" * 5000, "--n", "5", "--out", "{tmp}/x.npy"], "File name too long"),
])
def test_out_of_the_wrong_kind_is_refused(runs01, tmp_path, capsys, args, match):
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "file.txt").write_text("a file\n")
    before = _tree(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if not argv[1].startswith(str(tmp_path)) and argv[0] not in ("train", "explain"):
        argv[1] = str(runs01 / argv[1])
    line = _one_line_2(capsys, argv, match)
    assert len(line) < 400 and _tree(tmp_path) == before


def test_non_utf8_output_name_prints(runs01, tmp_path, capsys):
    import io
    import os

    out = tmp_path / os.fsdecode(b"\xff.npy")
    assert main(["sample", str(runs01 / "ring8"), "--n", "5", "--out", str(out)]) == 0
    assert out.is_file() and "\\udcff" in capsys.readouterr().out
    strict = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    import sys

    old, sys.stdout = sys.stdout, strict
    try:
        assert main(["sample", str(runs01 / "ring8"), "--n", "5", "--out", str(out)]) == 0
    finally:
        sys.stdout = old
    strict.flush()
    assert b"wrote" in strict.buffer.getvalue()
    _one_line_2(capsys, ["sample", str(tmp_path / os.fsdecode(b"r\xfe")), "--out", str(out)], "does not exist")


@pytest.mark.parametrize("err", ["EACCES", "EROFS", "ENOSPC"])
@pytest.mark.parametrize("args", [
    ["sample", "ring8", "--n", "5", "--out", "{tmp}/sub/x.npy"],
    ["sample", "mnist-cond", "--n", "4", "--out", "{tmp}/sub/x.png"],
    ["interpolate", "stylegan", "--rows", "1", "--steps", "2", "--out", "{tmp}/sub/x.gif"],
    ["mix", "stylegan", "--rows", "1", "--cols", "1", "--out", "{tmp}/sub/x.png"],
    ["noise", "stylegan", "--n", "2", "--out", "{tmp}/sub/x.png"],
    ["eval", "ring8", "--n", "100"],
])
def test_write_faults_give_one_line_and_leave_nothing(runs01, tmp_path, capsys, monkeypatch, args, err):
    """A read-only or full disk at the final write: one line naming the file, no file or folder left."""
    import errno
    import os

    from ganforge import cli

    code = getattr(errno, err)

    def fail(src, dst):
        raise OSError(code, os.strerror(code), str(src))

    monkeypatch.setattr(cli.os, "replace", fail)
    before = _tree(runs01)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv[1] = str(runs01 / argv[1])
    target = argv[-1] if argv[0] != "eval" else str(runs01 / "ring8" / "eval.json")
    _one_line_2(capsys, argv, f"cannot write '{target}': {os.strerror(code)}")
    assert not (tmp_path / "sub").exists() and _tree(runs01) == before


def test_folder_writes_fail_cleanly(runs01, tmp_path, capsys, monkeypatch):
    import errno
    import os

    from PIL import Image

    from ganforge import cli

    Image.new("L", (40, 30), 100).save(tmp_path / "photo.png")
    (tmp_path / "imgs").mkdir()
    Image.new("L", (30, 30), 50).save(tmp_path / "imgs" / "a.png")
    before = _tree(tmp_path)

    def fail(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))

    monkeypatch.setattr(cli.os, "rename", fail)
    _one_line_2(capsys, ["translate", runs01 / "cyclegan", "--input", tmp_path / "imgs", "--out", tmp_path / "t"],
                f"cannot write '{tmp_path / 't'}': No space left on device")
    _one_line_2(capsys, ["project", runs01 / "stylegan", "--image", tmp_path / "photo.png", "--steps", "2",
                         "--out", tmp_path / "p"], "No space left on device")
    assert _tree(tmp_path) == before
    monkeypatch.undo()
    assert main(["translate", str(runs01 / "cyclegan"), "--input", str(tmp_path / "imgs"), "--out",
                 str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "a.png").is_file()
    assert main(["project", str(runs01 / "stylegan"), "--image", str(tmp_path / "photo.png"), "--steps", "2",
                 "--out", str(tmp_path / "p")]) == 0
    assert {p.name for p in (tmp_path / "p").iterdir()} == {"latent.npy", "reconstruction.png", "loss.png",
                                                            "projection.json"}
    assert not list(tmp_path.glob(".ganforge-*"))


def test_unwritable_parent_is_refused_before_work(runs01, tmp_path, capsys, monkeypatch):
    import os

    from ganforge import cli

    monkeypatch.setattr(cli.os, "access", lambda *a, **k: False)
    _one_line_2(capsys, ["sample", runs01 / "ring8", "--n", "5", "--out", tmp_path / "x.npy"],
                f"cannot write '{tmp_path / 'x.npy'}'")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("exc, hint", [
    (lambda: MemoryError(), "lower --n"),
    (lambda: __import__("torch").OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "lower --n"),
    (lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
     "lower --n"),
    (lambda: OSError(30, "Read-only file system", "/some/file"), "cannot write '/some/file': Read-only file system"),
    (lambda: PermissionError(13, "Permission denied", "/some/file"), "'/some/file': Permission denied"),
])
def test_environment_faults_in_main_are_one_line(runs01, tmp_path, capsys, monkeypatch, exc, hint):
    from ganforge.sample.toy import ToyModel

    def boom(self, *a, **k):
        raise exc()

    monkeypatch.setattr(ToyModel, "sample", boom)
    line = _one_line_2(capsys, ["sample", runs01 / "ring8", "--n", "5", "--out", tmp_path / "x.npy"], hint)
    assert ("not enough memory for `ganforge sample`" in line) == ("--n" in hint)
    assert not list(tmp_path.iterdir())


def test_other_runtime_errors_still_raise(runs01, tmp_path, monkeypatch):
    from ganforge.sample.toy import ToyModel

    def boom(self, *a, **k):
        raise RuntimeError("a bug, not the user's")

    monkeypatch.setattr(ToyModel, "sample", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["sample", str(runs01 / "ring8"), "--n", "5", "--out", str(tmp_path / "x.npy")])


def _script(tmp_path, name, body):
    """A TorchScript feature network from ``body`` (the forward's return expression of x)."""
    src = tmp_path / f"{name}_net.py"
    src.write_text("import torch\n\n\nclass Net(torch.nn.Module):\n"
                   f"    def forward(self, x):\n        f = x.mean(dim=(2, 3))\n        return {body}\n")
    import importlib.util
    import warnings

    import torch

    spec = importlib.util.spec_from_file_location(f"{name}_net", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(mod.Net()), str(tmp_path / f"{name}.pt"))
    return tmp_path / f"{name}.pt"


def test_nan_features_give_one_line_not_a_nan_fid(runs01, tmp_path, capsys):
    before = _tree(runs01)
    always = _script(tmp_path, "always", "f * float('nan')")
    _one_line_2(capsys, ["eval", runs01 / "mnist-cond", "--n", "20", "--features", f"inception:{always}"],
                "the feature network inception:", "returned NaN or infinite features")
    later = _script(tmp_path, "later", "torch.where(x.mean() > -0.99, f * float('nan'), f)")  # fine on black
    code = main(["eval", str(runs01 / "mnist-cond"), "--n", "20", "--features", f"inception:{later}"])
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]  # after any progress bar
    assert code == 2 and "Traceback" not in err and "inception[later" in last and "NaN or infinite" in last, err
    assert _tree(runs01) == before  # no eval.json with a NaN FID


def test_extract_refuses_nan_features_with_a_ganforge_error():
    import torch

    from ganforge.errors import GanforgeError
    from ganforge.metrics.features import extract

    def net(x):
        return torch.full((len(x), 4), float("nan"))

    with pytest.raises(GanforgeError, match="returned NaN or infinite features for 3 of 3"):
        extract(net, torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError):  # still a ValueError for library callers
        extract(net, torch.zeros(3, 1, 8, 8))


def test_non_utf8_yaml_names_the_file(runs01, tmp_path, capsys):
    import shutil

    (tmp_path / "bad.yaml").write_bytes(b"recipe: gan\n\xff\xfe: 1\n")
    _one_line_2(capsys, ["train", tmp_path / "bad.yaml", "--out", tmp_path / "x"], "bad.yaml", "not UTF-8")
    shutil.copytree(runs01 / "ring8", tmp_path / "r")
    (tmp_path / "r" / "config.yaml").write_bytes(b"recipe: gan\n\xff: 1\n")
    _one_line_2(capsys, ["sample", tmp_path / "r", "--out", tmp_path / "x.npy"], "config.yaml", "not UTF-8")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.npy").exists()
