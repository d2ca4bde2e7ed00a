"""Hostile and broken input through the CLI: each case prints one clear line, exits 2 and leaves what was
already on disk untouched. The table in docs/reliability.md lists the same cases with their messages.

Files that should load (16-bit, palette, non-square images) are tested to train."""

import os
import pickle
import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.recipes import all_keys, apply_overrides, load_config
from ganforge.recipes import config_from_dict as from_dict

IMG_TRAIN = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "train.batch_size=4", "train.steps=2",
             "train.log_every=1", "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=2",
             "train.progress=false", "data.size=28", "eval.features=mnist", "train.final_eval=false"]


def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _png(path, size=(28, 28), mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def _folder(tmp, n=4, **kw):
    root = tmp / "imgs"
    for i in range(n):
        _png(root / f"{i}.png", **kw)
    return root


def _train_imgs(tmp, root, extra=()):
    return ["train", "mnist", "--out", str(tmp / "out"), "--device", "cpu",
            *_sets(IMG_TRAIN + [f"data.root={root}", *extra])]


def _train_points(tmp, path):
    return ["train", "points", "--out", str(tmp / "out"), "--device", "cpu",
            *_sets([f"data.path={path}", "train.steps=2", "train.progress=false"])]


# ------------------------------------------------------------------------------ the cases

def zero_byte_image(tmp):
    root = _folder(tmp)
    (root / "empty.png").write_bytes(b"")
    return _train_imgs(tmp, root)


def truncated_image(tmp):
    root = _folder(tmp)
    data = (root / "0.png").read_bytes()
    _png(root / "big.png", size=(28, 28), mode="RGB", value=(1, 2, 3))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(root / "cut.png")
    (root / "cut.png").write_bytes((root / "cut.png").read_bytes()[: len(data) // 2])
    (root / "big.png").unlink()
    return _train_imgs(tmp, root)


def corrupt_image(tmp):
    root = _folder(tmp)
    (root / "junk.jpg").write_bytes(os.urandom(64))
    return _train_imgs(tmp, root)


def no_images(tmp):
    root = tmp / "imgs"
    root.mkdir()
    (root / "notes.txt").write_text("hello")
    return _train_imgs(tmp, root)


def missing_folder(tmp):
    return _train_imgs(tmp, tmp / "nowhere")


def mixed_channels(tmp):
    root = _folder(tmp)
    _png(root / "colour.png", mode="RGB", value=(200, 10, 10))
    return _train_imgs(tmp, root)


def points_csv_text(tmp):
    path = tmp / "pts.csv"
    path.write_text("x,y\n1,2\nthree,4\n")
    return _train_points(tmp, path)


def points_csv_columns(tmp):
    path = tmp / "pts.csv"
    path.write_text("1,2,3\n4,5,6\n")
    return _train_points(tmp, path)


def points_csv_empty(tmp):
    path = tmp / "pts.csv"
    path.write_text("")
    return _train_points(tmp, path)


def points_npy_shape(tmp):
    path = tmp / "pts.npy"
    np.save(path, np.zeros((10, 3), np.float32))
    return _train_points(tmp, path)


def points_npy_garbage(tmp):
    path = tmp / "pts.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    return _train_points(tmp, path)


def points_nan(tmp):
    path = tmp / "pts.npy"
    pts = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    pts[7, 1] = np.nan
    np.save(path, pts)
    return _train_points(tmp, path)


def points_inf(tmp):
    path = tmp / "pts.csv"
    path.write_text("0,0\n1,1\ninf,2\n")
    return _train_points(tmp, path)


def unknown_key(tmp):
    return ["train", "ring8", "--out", str(tmp / "out"), "--set", "train.step=10"]


def wrong_type(tmp):
    return ["train", "ring8", "--out", str(tmp / "out"), "--set", "train.steps=many"]


def yaml_unknown_key(tmp):
    path = tmp / "mine.yaml"
    path.write_text("loss: ns\ntrain:\n  stepz: 10\n")
    return ["train", str(path), "--out", str(tmp / "out")]


def yaml_broken(tmp):
    path = tmp / "mine.yaml"
    path.write_text("loss: [ns\n")
    return ["train", str(path), "--out", str(tmp / "out")]


def batch_zero(tmp):
    return ["train", "ring8", "--out", str(tmp / "out"), "--set", "train.batch_size=0"]


def resolution_7(tmp):
    return ["train", "mnist", "--out", str(tmp / "out"), "--set", "data.size=7"]


def resolution_48(tmp):
    return ["train", "mnist", "--out", str(tmp / "out"), "--set", "data.size=48"]


def unknown_device(tmp):
    return ["train", "ring8", "--out", str(tmp / "out"), "--set", "device=tpu"]


def cuda_without_gpu(tmp):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    return ["train", "ring8", "--out", str(tmp / "out"), "--device", "cuda"]


def _toy_run(tmp, tiny_run):
    import shutil

    run = tmp / "run"
    shutil.copytree(tiny_run, run)
    return run


def truncated_checkpoint(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    for p in checkpoint.list_checkpoints(run):
        p.write_bytes(p.read_bytes()[:1000])
    return ["sample", str(run), "--n", "10", "--out", str(tmp / "s.npy")]


def zero_byte_checkpoint(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    for p in checkpoint.list_checkpoints(run):
        p.write_bytes(b"")
    return ["resume", str(run)]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def pickled_code_checkpoint(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    path = checkpoint.list_checkpoints(run)[-1]
    state = torch.load(path, weights_only=True)
    state["payload"] = _Evil()
    torch.save(state, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    return ["sample", str(run), "--n", "10", "--out", str(tmp / "s.npy")]


def other_recipe_checkpoint(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    for p in checkpoint.list_checkpoints(run):
        state = torch.load(p, weights_only=True)
        state["recipe"] = "pix2pix"
        torch.save(state, p)
    return ["resume", str(run)]


def foreign_checkpoint(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    for p in checkpoint.list_checkpoints(run):
        torch.save({"state_dict": {"w": torch.ones(2)}}, p)
    return ["sample", str(run), "--n", "10", "--out", str(tmp / "s.npy")]


def not_a_run(tmp, tiny_run):
    (tmp / "photos").mkdir()
    return ["sample", str(tmp / "photos"), "--n", "10", "--out", str(tmp / "s.npy")]


def class_out_of_range(tmp, cond_run):
    return ["sample", str(cond_run), "--n", "8", "--class", "12", "--out", str(tmp / "s.png")]


def class_on_unconditional(tmp, tiny_run):
    return ["sample", str(tiny_run), "--n", "8", "--class", "3", "--out", str(tmp / "s.npy")]


def resume_changes_model(tmp, tiny_run):
    run = _toy_run(tmp, tiny_run)
    return ["resume", str(run), "--set", "model.g_width=64"]


def sample_bad_suffix(tmp, tiny_run):
    return ["sample", str(tiny_run), "--n", "8", "--out", str(tmp / "s.jpg")]


def sample_n_zero(tmp, tiny_run):
    return ["sample", str(tiny_run), "--n", "0", "--out", str(tmp / "s.npy")]


#: (case, what the one line must contain). The docs table (docs/reliability.md) lists the same cases.
CASES = [
    (zero_byte_image, "cannot read image"),
    (truncated_image, "cannot read image"),
    (corrupt_image, "cannot read image"),
    (no_images, "no images found in"),
    (missing_folder, "does not exist"),
    (mixed_channels, "mixes 4 grayscale and 1 colour images"),
    (points_csv_text, "pts.csv"),
    (points_csv_columns, "pts.csv"),
    (points_csv_empty, "pts.csv"),
    (points_npy_shape, "pts.npy"),
    (points_npy_garbage, "pts.npy"),
    (points_nan, "NaN"),
    (points_inf, "inf"),
    (unknown_key, "unknown config key 'train.step'; did you mean 'train.steps'?"),
    (wrong_type, "train.steps must be an integer, got 'many'"),
    (yaml_unknown_key, "unknown config key 'train.stepz'"),
    (yaml_broken, "is not valid YAML"),
    (batch_zero, "train.batch_size must be >= 1, got 0"),
    (resolution_7, "data.size must be >= 8, got 7"),
    (resolution_48, "data.size must be one of 28, 32, 64, 128"),
    (unknown_device, "device='tpu' is not allowed; choose one of: auto, cpu, cuda"),
    (cuda_without_gpu, "PyTorch sees no CUDA device; use --device cpu"),
    (truncated_checkpoint, "truncated or corrupt"),
    (zero_byte_checkpoint, "truncated or corrupt"),
    (pickled_code_checkpoint, "was refused: it holds objects other than tensors"),
    (other_recipe_checkpoint, "checkpoint recipe 'pix2pix' does not match"),
    (foreign_checkpoint, "is not a ganforge checkpoint"),
    (not_a_run, "is not a ganforge run folder (no config.yaml)"),
    (class_out_of_range, "class 12 is out of range: this run has classes 0..9"),
    (class_on_unconditional, "--class applies to conditional image runs"),
    (resume_changes_model, "only train.* keys can change on resume"),
    (sample_bad_suffix, "--out must be .npy (points) or .png"),
    (sample_n_zero, "argument --n: must be an integer from 1 to 1,000,000,000, got '0'"),
]


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    from ganforge.runner import train

    torch.set_num_threads(1)
    items = IMG_TRAIN + ["model.cond=concat", "train.batch_size=8"]
    return train(load_config("mnist", [x for x in items if x != "data.size=28"]),
                 tmp_path_factory.mktemp("c") / "cond")


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_one_clear_line_exit_2_nothing_overwritten(case, expected, tmp_path, request, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = [request.getfixturevalue(n) for n in case.__code__.co_varnames[1:case.__code__.co_argcount]]
    argv = case(tmp_path, *extra)
    runs = [request.getfixturevalue(n) for n in ("tiny_run", "cond_run") if n in case.__code__.co_varnames]
    before = _snapshot(tmp_path), [_snapshot(r) for r in runs]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if not line.startswith("ganforge: warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("ganforge: error: ") and expected in lines[0], lines[0]
    after = _snapshot(tmp_path), [_snapshot(r) for r in runs]
    assert after == before, "files on disk changed"
    assert not (tmp_path / "pwned.txt").exists()


def test_unknown_device_flag_is_refused_by_the_parser(tmp_path, capsys):
    assert main(["train", "ring8", "--out", str(tmp_path / "o"), "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'tpu'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------ inputs that should load

@pytest.mark.parametrize("kind", ["16bit", "palette", "non_square", "mixed_sizes_resized"])
def test_unusual_images_load_and_train(kind, tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(4):
        if kind == "16bit":
            im = Image.fromarray(rng.integers(0, 65535, (28, 28)).astype(np.uint16))
        elif kind == "palette":
            im = Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).convert("P")
        elif kind == "non_square":
            im = Image.fromarray(rng.integers(0, 255, (20, 36), dtype=np.uint8))
        else:
            im = Image.fromarray(rng.integers(0, 255, (28 + 4 * i, 28 + 4 * i), dtype=np.uint8))
        root.mkdir(exist_ok=True)
        im.save(root / f"{i}.png")
    assert main(_train_imgs(tmp_path, root)) == 0
    state = checkpoint.load(checkpoint.latest(tmp_path / "out"))
    assert state["config"]["data"]["size"] == 28
    assert state["config"]["data"]["channels"] == (3 if kind == "palette" else 1)


# ------------------------------------------------------------------------------ the config parser, fuzzed

_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(string.printable, max_size=12), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(string.ascii_lowercase, max_size=6), st.integers(), max_size=2))
_keys = st.one_of(st.sampled_from(all_keys()), st.text(string.ascii_lowercase + "._", min_size=1, max_size=20))


def _nest(flat):
    out = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        try:
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        except (TypeError, AttributeError):
            pass
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=5))
def test_random_config_mappings_give_config_or_nothing(flat):
    try:
        from_dict(_nest(flat))
    except ConfigError:
        pass


@settings(max_examples=300, deadline=None)
@given(_keys, st.text(string.printable, max_size=20))
def test_random_overrides_give_config_or_nothing(key, raw):
    from ganforge.config import Config

    try:
        apply_overrides(Config(), [f"{key}={raw}"])
    except ConfigError:
        pass
