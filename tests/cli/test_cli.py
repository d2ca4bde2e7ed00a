"""CLI round trips on a tiny run, and one-line errors for user mistakes."""

import json
import subprocess
import sys

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

    for s in TINY + ["data.name=points", f"data.path={tmp_path / 'p.csv'}", "train.steps=20"]:
        sets += ["--set", s]
    r = _run("train", "ring8", "--out", run, "--device", "cpu", *sets)
    assert r.returncode == 0, r.stderr
    assert "report" in r.stdout
    r = _run("resume", run, "--set", "train.steps=30", "--set", "train.progress=false")
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
