"""Run folders: only a provable ganforge run may be replaced, a refused command changes nothing, one writer
per run, and SIGINT / SIGTERM stop a run with a checkpoint at the current step."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY

from ganforge import checkpoint, loop, runfolder
from ganforge.cli import main
from ganforge.errors import ConfigError, RunBusy
from ganforge.recipes import load_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "runs-0.1"
QUICK = ["train.steps=20", "train.ckpt_every=10", "train.log_every=10", "train.eval_every=0",
         "train.sample_every=0", "train.progress=false", "model.g_width=16", "model.d_width=16",
         "model.g_depth=1", "model.d_depth=1", "train.batch_size=32"]


def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder``: bytes and mtime for files."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


def _one_line_exit_2(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("ganforge: warning")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "small"
    assert main(["train", "ring8", "--out", str(out), "--device", "cpu", *_sets(QUICK)]) == 0
    return out


@pytest.fixture
def run(small_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(small_run, dst)
    return dst


# ------------------------------------------------------------------ 1. nothing a user owns is deleted

def test_overwrite_refuses_a_user_folder_with_a_config_yaml_and_changes_nothing(tmp_path, capsys):
    p = tmp_path / "p"
    p.mkdir()
    (p / "config.yaml").write_text((Path(loop.__file__).parent / "presets" / "ring8.yaml").read_text())
    (p / "thesis.tex").write_text("three years of work")
    (p / "data.csv").write_text("1,2\n")
    before = _snapshot(tmp_path)
    line = _one_line_exit_2(capsys, ["train", str(p / "config.yaml"), "--out", str(p), "--overwrite",
                                     *_sets(QUICK)])
    assert "data.csv" in line and "ganforge did not write" in line  # the first foreign file, sorted
    assert _snapshot(tmp_path) == before


def test_overwrite_refuses_a_folder_holding_only_the_users_config(tmp_path, capsys):
    p = tmp_path / "p"
    p.mkdir()
    (p / "config.yaml").write_text("# my notes\ntrain: {steps: 20}\n")
    before = _snapshot(tmp_path)
    line = _one_line_exit_2(capsys, ["train", str(p / "config.yaml"), "--out", str(p), "--overwrite"])
    assert "not a ganforge run folder" in line
    assert _snapshot(tmp_path) == before


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    p = tmp_path / "photos"
    p.mkdir()
    (p / "a.png").write_bytes(b"x")
    before = _snapshot(tmp_path)
    line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(p), "--overwrite", *_sets(QUICK)])
    assert "a.png, which ganforge did not write" in line
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("intruder", ["checkpoints/notes.txt", "checkpoints/step_00000030.pt", "samples/cat.jpg",
                                      "my_model.pt"])
def test_overwrite_refuses_a_run_holding_something_ganforge_did_not_write(run, intruder, capsys):
    (run / intruder).parent.mkdir(exist_ok=True)
    (run / intruder).write_bytes(b"not ganforge's")  # a fake checkpoint: the right name, not torch's format
    before = _snapshot(run.parent)
    line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(run), "--overwrite", *_sets(QUICK)])
    assert intruder.split("/")[-1] in line
    assert _snapshot(run.parent) == before


def test_overwrite_replaces_a_run_and_leaves_nothing_aside(run, capsys):
    old = checkpoint.list_checkpoints(run)
    assert runfolder.is_marked(run)
    assert main(["train", "ring8", "--out", str(run), "--overwrite", *_sets(QUICK + ["train.steps=10", "seed=5"]
                                                                           )]) == 0
    assert [p.name for p in checkpoint.list_checkpoints(run)] == ["step_00000010.pt"] != [p.name for p in old]
    assert sorted(p.name for p in run.parent.iterdir()) == ["run"]  # the old run is gone, no aside left
    assert runfolder.foreign_entry(run) is None and not (run / runfolder.LOCK).exists()


def test_overwrite_of_a_run_made_by_ganforge_0_1_works(tmp_path):
    dst = tmp_path / "ring8"
    shutil.copytree(FIXTURES / "ring8", dst)
    assert not runfolder.is_marked(dst) and runfolder.foreign_entry(dst) is None
    assert main(["train", "ring8", "--out", str(dst), "--overwrite", *_sets(QUICK)]) == 0
    assert runfolder.is_marked(dst)


def test_a_new_run_that_fails_before_its_first_checkpoint_gives_the_old_run_back(run, monkeypatch):
    before = _snapshot(run)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loop, "save_state", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        loop.train(load_config("ring8", QUICK), run, overwrite=True)
    assert _snapshot(run) == before
    assert sorted(p.name for p in run.parent.iterdir()) == ["run"]


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(f), "--overwrite", *_sets(QUICK)])
    assert "file" in line and "notes.txt" in line and f.read_text() == "mine"


# ------------------------------------------------------------------ 2. a refused command changes nothing

@pytest.mark.parametrize(("overrides", "expect"), [
    (["train.amp=fp16"], "train.amp=fp16"),
    (["train.steps=5"], "below the step this run has reached (20)"),
    (["train.stepz=50"], "train.steps"),
    (["model.g_width=8"], "only train.* keys"),
])
def test_a_refused_resume_leaves_the_run_as_it_was(run, overrides, expect, capsys):
    if overrides == ["train.amp=fp16"] and torch.cuda.is_available():
        pytest.skip("fp16 is allowed on CUDA")
    before = _snapshot(run)
    line = _one_line_exit_2(capsys, ["resume", str(run), "--device", "cpu", *_sets(overrides)])
    assert expect in line
    assert _snapshot(run) == before
    assert main(["resume", str(run), "--device", "cpu", "--set", "train.steps=30"]) == 0  # still resumable


@pytest.mark.parametrize("content", ["", "   \n", "- a\n- b\n", "train: [1, 2\n", b"\xff\xfe\x00steps"])
def test_an_emptied_or_broken_config_yaml_is_refused_naming_it(run, content, capsys):
    path = run / "config.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _snapshot(run)
    line = _one_line_exit_2(capsys, ["resume", str(run), "--device", "cpu"])
    assert str(path) in line
    assert _snapshot(run) == before


def test_a_checkpoint_of_another_run_of_the_same_recipe_is_refused(run, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["train", "ring8", "--out", str(other), *_sets(QUICK + ["model.g_width=24"])]) == 0
    for p in checkpoint.list_checkpoints(run):
        p.unlink()
    shutil.copy(checkpoint.list_checkpoints(other)[-1], run / "checkpoints")
    before = _snapshot(run)
    line = _one_line_exit_2(capsys, ["resume", str(run), "--set", "train.steps=40"])
    assert "belong to another run" in line and "model.g_width=24" in line
    assert _snapshot(run) == before


def test_keys_the_chosen_data_ignores_are_refused(tmp_path, capsys):
    pts = tmp_path / "pts.csv"
    pts.write_text("1,2\n3,4\n")
    for item, word in [(f"data.path={pts}", "data.name=points"), ("data.noise=0.2", "data.name=spiral"),
                       ("data.grid_size=3", "grid25")]:
        line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(tmp_path / "o"), "--set", item])
        assert word in line, line
    assert not (tmp_path / "o").exists()


def test_seeds_outside_numpys_range_are_refused():
    with pytest.raises(ConfigError, match="seed must be <= 4294967295"):
        load_config("ring8", ["seed=4294967296"])


def test_a_yaml_alias_bomb_is_refused_quickly_with_a_short_line(tmp_path, capsys):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\ntrain: {steps: *i}\n")
    t0 = time.perf_counter()
    line = _one_line_exit_2(capsys, ["train", str(bomb), "--out", str(tmp_path / "o")])
    assert time.perf_counter() - t0 < 10 and len(line) < 300 and "YAML aliases" in line


def test_error_messages_quote_only_a_short_prefix_of_a_value(capsys):
    line = _one_line_exit_2(capsys, ["config", "ring8", "--set", "train.steps=" + "9x" * 100_000])
    assert len(line) < 300


# ------------------------------------------------------------------ 3. one writer per run folder

def _hold_lock(run: Path) -> subprocess.Popen:
    code = ("import sys, time; from pathlib import Path; from ganforge.runfolder import RunLock; "
            f"RunLock(Path({str(run)!r}), 'train').acquire(); print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder_and_readers_still_work(run, tmp_path, capsys):
    holder = _hold_lock(run)
    try:
        before = _snapshot(run)
        line = _one_line_exit_2(capsys, ["resume", str(run), "--set", "train.steps=40"])
        assert f"process {holder.pid}" in line
        line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(run), "--overwrite", *_sets(QUICK)])
        assert f"process {holder.pid}" in line
        assert _snapshot(run) == before
        assert main(["sample", str(run), "--n", "50", "--out", str(tmp_path / "s.npy")]) == 0  # a reader
        capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    assert (run / runfolder.LOCK).exists()  # the killed holder's lock file stays behind: stale
    assert main(["resume", str(run), "--set", "train.steps=30"]) == 0  # and is taken over
    assert not (run / runfolder.LOCK).exists()


def test_the_lock_is_per_process_and_released():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        with runfolder.RunLock(Path(d), "resume"):
            info = json.loads((Path(d) / runfolder.LOCK).read_text())
            assert info["pid"] == os.getpid() and info["command"] == "resume"
            with pytest.raises(RunBusy, match=f"process {os.getpid()}"):
                runfolder.RunLock(Path(d), "train").acquire()  # flock: a second open file description
        assert list(Path(d).iterdir()) == []


# ------------------------------------------------------------------ SIGTERM / SIGINT

@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_training_with_a_checkpoint_at_the_current_step(tmp_path, sig, code):
    out = tmp_path / "run"
    sets = _sets([*TINY, "train.steps=1000000", "train.ckpt_every=1000000", "train.log_every=5",
                  "train.eval_every=0", "train.sample_every=0"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "ring8", "--out", str(out), "--device",
                             "cpu", *sets], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "metrics.jsonl").is_file() or \
            not (out / "metrics.jsonl").read_text().strip():
        time.sleep(0.2)
        assert time.time() < deadline and proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"stopped by {sig.name} at step" in err
    step = int(err.split("at step ")[1].split(";")[0])
    assert [p.name for p in checkpoint.list_checkpoints(out)] == [f"step_{step:08d}.pt"]
    assert not (out / runfolder.LOCK).exists()
    assert main(["resume", str(out), "--set", f"train.steps={step + 5}", "--set", "train.ckpt_every=5"]) == 0
    assert checkpoint.load_latest(out)["step"] == step + 5


@pytest.mark.parametrize("existing", ["none", "empty"])
def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder_behind(tmp_path, monkeypatch, existing):
    from ganforge.recipes import gan

    out = tmp_path / "deep" / "run"
    if existing == "empty":
        out.mkdir(parents=True)

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(gan, "build", no_memory)
    with pytest.raises(MemoryError):
        loop.train(load_config("ring8", QUICK), out)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == (
        [] if existing == "none" else [Path("deep"), Path("deep/run")])


def test_a_checkpoints_entry_that_is_a_file_is_refused_before_anything_is_written(run, capsys):
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").write_text("oops")
    before = _snapshot(run)
    line = _one_line_exit_2(capsys, ["resume", str(run)])
    assert "checkpoints is not a folder" in line
    assert _snapshot(run) == before


def test_overwrite_through_a_symbolic_link_is_refused(run, capsys):
    link = run.parent / "link"
    link.symlink_to(run)
    before = _snapshot(run.parent)
    line = _one_line_exit_2(capsys, ["train", "ring8", "--out", str(link), "--overwrite", *_sets(QUICK)])
    assert "symbolic link" in line
    assert _snapshot(run.parent) == before
