"""Hostile data through the loaders and the CLI: decompression bombs, absurd labels, out-of-range points,
non-UTF-8 CSV, folders where files belong (and back), data too small for the run, and malformed arrays.
Each case is one clear line naming the file or key, exit status 2, and no run folder written.
docs/reliability.md lists the messages."""

import gzip
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.data.formats import read_idx, read_image, read_images
from ganforge.data.images import load_images
from ganforge.data.imageset import convert
from ganforge.data.paired import load_pairs
from ganforge.data.toy2d import load_points
from ganforge.errors import DataError

TINY_IMG = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "train.batch_size=4", "train.steps=2",
            "train.log_every=1", "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=2",
            "train.progress=false", "data.size=28", "eval.features=mnist", "train.final_eval=false"]
TINY_PAIRS = ["model.g_width=8", "model.d_width=8", "train.batch_size=1", "train.steps=2", "train.progress=false"]


# ---------------------------------------------------------------- helpers

def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _png(path: Path, size=(28, 28), value=128, mode="L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def _folder(root: Path, n: int, **kw) -> Path:
    for i in range(n):
        _png(root / f"{i}.png", value=20 * i, **kw)
    return root


def _png_claiming(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h 8-bit gray pixels (one row of data): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (w + 1)))
                     + chunk(b"IEND", b""))
    return path


def _npy_claiming(shape, descr="<f8") -> bytes:
    """.npy bytes whose header claims ``shape`` but that hold no data."""
    h = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode()
    h += b" " * (63 - (len(h) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h


def _snapshot(folder: Path):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _fails(argv, tmp_path, capsys, expected: str) -> str:
    """Run the CLI: exit 2, one ``ganforge: error:`` line holding ``expected``, nothing on disk changed."""
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if not line.startswith("ganforge: warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("ganforge: error: ") and expected in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]
    assert _snapshot(tmp_path) == before, "files on disk changed"
    assert not (tmp_path / "run").exists(), "a run folder was created"
    return lines[0]


def _train_images(tmp_path, root, extra=()):
    return ["train", "mnist", "--out", str(tmp_path / "run"), "--device", "cpu",
            *_sets(TINY_IMG + ["data.name=images", f"data.root={root}", *extra])]


def _train_points(tmp_path, path):
    return ["train", "points", "--out", str(tmp_path / "run"), "--device", "cpu",
            *_sets([f"data.path={path}", "train.steps=2", "train.progress=false"])]


def _train_pairs(tmp_path, root, extra=()):
    return ["train", "inpaint", "--out", str(tmp_path / "run"), "--device", "cpu",
            *_sets(TINY_PAIRS + ["data.name=pairs", f"data.root={root}", *extra])]


# ---------------------------------------------------------------- 1. decompression bombs

@pytest.mark.parametrize("pixels", ["error", "warning"])  # Pillow errors above 2x MAX_IMAGE_PIXELS, warns above 1x
def test_decompression_bomb_is_an_unreadable_image(pixels, tmp_path, recwarn):
    side = 20000 if pixels == "error" else 10000  # 4e8 and 1e8 pixels; the limit is 89,478,485
    bomb = _png_claiming(tmp_path / "imgs" / "bomb.png", side, side)
    _folder(tmp_path / "imgs", 5)
    with pytest.raises(DataError, match=r"cannot read image .*bomb\.png: Image size .* exceeds limit.*skip_bad"):
        load_images("images", root=tmp_path / "imgs")
    sets = [load_images("images", root=tmp_path / "imgs", split=s, skip_bad=True) for s in ("train", "test")]
    assert sum(len(s) for s in sets) == 5 and [p for s in sets for p in s.skipped] == [str(bomb)]
    with pytest.raises(DataError, match=r"cannot read image .*bomb\.png"):
        read_image(bomb)
    with pytest.raises(DataError, match=r"bomb\.png.*HINT"):
        read_images([bomb], "here", hint="HINT")
    assert read_images([bomb, tmp_path / "imgs" / "0.png"], "here", skip_bad=True)[0] is None
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_lowered_pixel_limit_is_honoured(tmp_path, monkeypatch):
    _folder(tmp_path / "imgs", 3)
    _png(tmp_path / "imgs" / "big.png", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 28x28 = 784 passes, 64x64 = 4096 is over 2x
    with pytest.raises(DataError, match=r"big\.png.*exceeds limit of 2000 pixels"):
        load_images("images", root=tmp_path / "imgs", test_fraction=0.0)
    assert len(load_images("images", root=tmp_path / "imgs", test_fraction=0.0, skip_bad=True)) == 3


def test_bomb_in_training_folder_fails_before_the_run_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _folder(tmp_path / "imgs", 4)
    _png_claiming(root / "bomb.png", 20000, 20000)
    _fails(_train_images(tmp_path, root), tmp_path, capsys, "could be decompression bomb")


def test_bomb_is_skipped_and_counted_with_skip_bad(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _folder(tmp_path / "imgs", 4)
    _png_claiming(root / "bomb.png", 20000, 20000)
    assert main(_train_images(tmp_path, root, ["data.skip_bad=true"])) == 0
    err = capsys.readouterr().err
    assert "ganforge: warning: data.root" in err and "skipped 1 unreadable image file(s)" in err and "bomb.png" in err
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_pairs_skip_bad_leaves_out_pairs_with_an_unreadable_side(tmp_path):
    for i in range(4):
        _png(tmp_path / "p" / "A" / f"{i}.png", size=(32, 32))
        _png(tmp_path / "p" / "B" / f"{i}.png", size=(32, 32))
    _png_claiming(tmp_path / "p" / "B" / "0.png", 20000, 20000)
    with pytest.raises(DataError, match=r"cannot read image .*B/0\.png.*skip_bad"):
        load_pairs(tmp_path / "p", "train")
    s = load_pairs(tmp_path / "p", "train", skip_bad=True)
    t = load_pairs(tmp_path / "p", "test", skip_bad=True)
    assert len(s) + len(t) == 3 and [q for x in (s, t) for q in x.skipped] == [str(tmp_path / "p" / "B" / "0.png")]


# ---------------------------------------------------------------- 2. .npz labels and pixels

@pytest.mark.parametrize(("labels", "match"), [
    (np.full(10, 2**40), r"labels go up to 1099511627776, but at most 10000 classes \(labels 0..9999\)"),
    (np.full(10, 2**63 + 5, np.uint64), "labels go up to 9223372036854775813, but at most 10000"),
    (-np.ones(10, np.int64), "labels must be >= 0, got -1"),
    (np.ones(10), "labels must be integers, got dtype float64"),
    (np.ones(10, complex), "labels must be integers, got dtype complex128"),
    (np.ones(10, bool), "labels must be integers, got dtype bool"),
    (np.zeros((10, 2), np.int64), r"labels must have shape \(10,\)"),
])
def test_npz_labels_are_refused(labels, match, tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((10, 8, 8), np.uint8), labels=labels)
    with pytest.raises(DataError, match=r"d\.npz\['labels'\]: " + match):
        load_images("images", root=tmp_path / "d.npz")


@pytest.mark.parametrize(("images", "match"), [
    (np.zeros((10, 8, 8), complex), "images must be uint8, integers in 0..255 or float, got dtype complex128"),
    (np.full((10, 8, 8), 300.0), r"float images must lie in \[0, 1\], \[-1, 1\] or \[0, 255\], got \[300, 300\]"),
    (np.full((10, 8, 8), -5.0), r"got \[-5, -5\]"),
    (np.full((10, 8, 8), np.nan, np.float32), r"640 pixel value\(s\) are NaN or infinite"),
    (np.zeros((10, 8, 8), bool), "got dtype bool"),
    (np.full((10, 8, 8), "a"), "got dtype <U1"),
    (np.uint8(3), r"got shape \(\)"),
    (np.zeros((0, 8, 8), np.uint8), "holds no images"),
    (np.zeros((10, 0, 8), np.uint8), "the images have no pixels"),
    (np.full((10, 8, 8), 256, np.int64), "integer images must be in 0..255, got 256..256"),
])
def test_npz_images_are_refused(images, match, tmp_path):
    np.savez(tmp_path / "d.npz", images=images)
    with pytest.raises(DataError, match=r"d\.npz\['images'\]:? .*" + match):
        load_images("images", root=tmp_path / "d.npz")


def test_npz_classes_and_files(tmp_path):
    x = np.zeros((10, 8, 8), np.uint8)
    np.savez(tmp_path / "c.npz", images=x, labels=np.zeros(10, np.int64), classes=np.array("cat"))
    with pytest.raises(DataError, match=r"c\.npz\['classes'\] must be 1 to 10000 names in a 1-D array"):
        load_images("images", root=tmp_path / "c.npz")
    np.savez(tmp_path / "b.npz", images=x, labels=np.zeros(10, np.int64), classes=np.array([b"cat"]))
    assert load_images("images", root=tmp_path / "b.npz", test_fraction=0.0).classes == ["cat"]

    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:  # a header promising 64 TiB of pixels
        z.writestr("images.npy", _npy_claiming((2**20, 2**20, 64), "|u1"))
    with pytest.raises(DataError, match=r"huge\.npz\['images'\] is truncated or corrupt: its header promises "
                                        r"1048576x1048576x64 uint8 = 70368744177664 bytes, but it holds 0"):
        load_images("images", root=tmp_path / "huge.npz")
    with zipfile.ZipFile(tmp_path / "extra.npz", "w") as z:  # other arrays are not read at all
        with z.open("images.npy", "w") as f:
            np.save(f, x)
        z.writestr("junk.npy", b"not an array")
    assert len(load_images("images", root=tmp_path / "extra.npz", test_fraction=0.0)) == 10
    with zipfile.ZipFile(tmp_path / "obj.npz", "w") as z:
        with z.open("images.npy", "w") as f:
            np.save(f, np.array([None] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"obj\.npz\['images'\] holds Python objects \(dtype object\)"):
        load_images("images", root=tmp_path / "obj.npz")
    np.save(tmp_path / "plain.npy", x)
    (tmp_path / "plain.npy").rename(tmp_path / "plain.npz")
    with pytest.raises(DataError, match=r"plain\.npz holds one \.npy array, not a \.npz archive"):
        load_images("images", root=tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match=r"junk\.npz is not a readable \.npz file"):
        load_images("images", root=tmp_path / "junk.npz")


def test_npz_labels_2_40_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "d.npz", images=np.zeros((10, 28, 28), np.uint8), labels=np.full(10, 2**40))
    _fails(_train_images(tmp_path, tmp_path / "d.npz"), tmp_path, capsys, "at most 10000 classes")


# ---------------------------------------------------------------- 3, 4. points: range, encoding, dtypes

def test_points_out_of_range_are_refused_at_load(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.csv").write_text("0,0\n1,2\n1e308,3\n-4,-1e308\n")
    with pytest.raises(DataError, match=r"p\.csv: 2 point\(s\) lie outside \|x\| <= 1e6 \(first at row 2: "
                                        r"1e\+308, 3\); shift or rescale"):
        load_points(tmp_path / "p.csv")
    np.save(tmp_path / "p.npy", np.array([[0.0, 0.0], [1e6, -1e6]]))  # the limit itself is fine
    assert load_points(tmp_path / "p.npy").shape == (2, 2)
    monkeypatch.chdir(tmp_path)
    _fails(_train_points(tmp_path, tmp_path / "p.csv"), tmp_path, capsys, "lie outside |x| <= 1e6")


def test_non_utf8_csv_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.csv").write_bytes(b"\xff\xfe1,2\n3,4\n")
    with pytest.raises(DataError, match=r"p\.csv is not UTF-8 text"):
        load_points(tmp_path / "p.csv")
    monkeypatch.chdir(tmp_path)
    _fails(_train_points(tmp_path, tmp_path / "p.csv"), tmp_path, capsys, "p.csv is not UTF-8 text")


def test_csv_byte_order_mark_and_long_fields(tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf1,2\n3,4\n")  # Excel's UTF-8: the first row is data
    assert load_points(tmp_path / "bom.csv").tolist() == [[1, 2], [3, 4]]
    (tmp_path / "long.csv").write_text("1,2\n" + "x" * 500 + ",3\n")
    with pytest.raises(DataError, match=r"long\.csv, line 2: expected 2 numbers") as e:
        load_points(tmp_path / "long.csv")
    assert "x" * 57 + "..." in str(e.value) and "x" * 58 not in str(e.value)  # the value is quoted cut short
    (tmp_path / "field.csv").write_text("1,2\n" + "1" * 200_000 + ",3\n")
    with pytest.raises(DataError, match=r"field\.csv, line 2: not a readable CSV line"):
        load_points(tmp_path / "field.csv")


@pytest.mark.parametrize(("arr", "match"), [
    (np.zeros((4, 2), complex), "points must be real numbers, got dtype complex128"),
    (np.zeros((4, 2), bool), "points must be real numbers, got dtype bool"),
    (np.array([["a", "b"]] * 3), "points must be real numbers, got dtype <U1"),
    (np.zeros((3, 2), "m8[s]"), "points must be real numbers, got dtype timedelta64"),
    (np.float64(3), r"points must have shape \(N, 2\), got \(\)"),
    (np.zeros((0, 2)), "need at least 2 points, got 0"),
])
def test_npy_points_of_the_wrong_kind(arr, match, tmp_path):
    np.save(tmp_path / "p.npy", arr)
    with pytest.raises(DataError, match=r"p\.npy: " + match):
        load_points(tmp_path / "p.npy")


def test_npy_points_objects_and_lying_headers(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[1, None]] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"o\.npy holds Python objects \(dtype object\), which are never loaded"):
        load_points(tmp_path / "o.npy")
    (tmp_path / "huge.npy").write_bytes(_npy_claiming((2**40, 2)))  # 16 TiB promised, never allocated
    with pytest.raises(DataError, match=r"huge\.npy is truncated or corrupt: its header promises 1099511627776x2 "
                                        r"float64 = 17592186044416 bytes, but it holds 0"):
        load_points(tmp_path / "huge.npy")
    (tmp_path / "neg.npy").write_bytes(_npy_claiming((-1, 2)))
    with pytest.raises(DataError, match=r"neg\.npy is truncated or corrupt"):
        load_points(tmp_path / "neg.npy")
    (tmp_path / "hdr.npy").write_bytes(b"\x93NUMPY\x02\x00" + (10**6).to_bytes(4, "little") + b"{" + b" " * 10**6)
    with pytest.raises(DataError, match=r"hdr\.npy is not a readable \.npy array \(Header info length") as e:
        load_points(tmp_path / "hdr.npy")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- 5. folders and files mixed up

def test_points_path_is_a_directory(tmp_path, capsys, monkeypatch):
    (tmp_path / "pts.npy").mkdir()
    with pytest.raises(DataError, match=r"points file .*pts\.npy is a directory, not a file"):
        load_points(tmp_path / "pts.npy")
    with pytest.raises(DataError, match=r"points file .*nowhere\.csv does not exist"):
        load_points(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match=r"points file /dev/null is not a regular file"):
        load_points("/dev/null")
    monkeypatch.chdir(tmp_path)
    _fails(_train_points(tmp_path, tmp_path / "pts.npy"), tmp_path, capsys, "is a directory, not a file")


def test_npz_path_is_a_directory_and_image_root_is_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "d.npz").mkdir()
    _png(tmp_path / "d.npz" / "0.png")
    with pytest.raises(DataError, match=r"data\.root .*d\.npz is a directory, not a \.npz file"):
        load_images("images", root=tmp_path / "d.npz")
    png = _png(tmp_path / "one.png")
    monkeypatch.chdir(tmp_path)
    _fails(_train_images(tmp_path, png), tmp_path, capsys, "one.png is a file, not a folder or a .npz file")
    _fails(_train_images(tmp_path, tmp_path / "d.npz"), tmp_path, capsys, "d.npz is a directory, not a .npz file")
    _fails(_train_pairs(tmp_path, png), tmp_path, capsys, "one.png is a file, not a folder")
    _fails(_train_pairs(tmp_path, tmp_path / "gone"), tmp_path, capsys, "gone does not exist")


def test_idx_file_that_is_a_directory_or_promises_terabytes(tmp_path):
    (tmp_path / "x-ubyte").mkdir()
    with pytest.raises(DataError, match=r"IDX file .*x-ubyte is a directory, not a file"):
        read_idx(tmp_path / "x-ubyte")
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2**31, 2**16, 2**16)
    (tmp_path / "big-ubyte").write_bytes(header + b"\0" * 100)
    with pytest.raises(DataError, match=r"big-ubyte is truncated or corrupt: its header promises 2147483648x65536x65536"
                                        r" uint8 values = \d+ bytes of data, but it holds only 100"):
        read_idx(tmp_path / "big-ubyte")
    (tmp_path / "big-ubyte.gz").write_bytes(gzip.compress(header + b"\0" * 100))
    with pytest.raises(DataError, match=r"big-ubyte\.gz is truncated or corrupt: .*more than a \d+-byte \.gz file"):
        read_idx(tmp_path / "big-ubyte.gz")


def test_idx_labels_with_absurd_class_count(tmp_path):
    def idx(a, code, fmt):
        return struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(fmt).tobytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx(np.zeros((5, 6, 6)), 0x08, ">u1"))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx(np.full(5, 2**30), 0x0C, ">i4"))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: labels go up to 1073741824, but at most 10000"):
        load_images("images", root=tmp_path)


# ---------------------------------------------------------------- 6. too little data, checked before training

@pytest.mark.parametrize("n", [1, 2])
def test_tiny_image_folder_fails_before_a_run_folder(n, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _folder(tmp_path / "imgs", n)
    line = _fails(_train_images(tmp_path, root), tmp_path, capsys, f"data.root {root} gives 1 training image(s); "
                                                                   "a run needs at least 2 to train on")
    assert "test_fraction" not in line


def test_tiny_image_folder_fails_for_stylegan_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _folder(tmp_path / "imgs", 2, size=(32, 32))
    argv = ["train", "stylegan-mnist", "--out", str(tmp_path / "run"), "--device", "cpu",
            *_sets(["data.name=images", f"data.root={root}", "train.progress=false"])]
    _fails(argv, tmp_path, capsys, "gives 1 training image(s)")


def test_all_but_one_image_unreadable_is_too_few(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _folder(tmp_path / "imgs", 11)
    for i in range(1, 11):
        (root / f"{i}.png").write_bytes(b"junk")
    _fails(_train_images(tmp_path, root, ["data.skip_bad=true"]), tmp_path, capsys,
           "unreadable file(s) skipped)")


def test_empty_split_message_names_no_missing_key(tmp_path):
    _folder(tmp_path, 1)
    with pytest.raises(DataError, match=r"the test split is empty \(1 item\(s\) in all; 10% of them are held out "
                                        r"for testing\); add images") as e:
        load_images("images", root=tmp_path, split="test")
    assert "data.test_fraction" not in str(e.value)


def test_tiny_pair_folders_fail_before_a_run_folder_or_train(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "one" / "0.png", size=(64, 32), mode="RGB")
    _fails(_train_pairs(tmp_path, tmp_path / "one", ["train.sample_every=0"]), tmp_path, capsys,
           "the test split is empty (1 item(s) in all)")
    for i in range(2):  # aligned A|B files: 1 to train on, 1 held out: trains, its picture shows the one
        _png(tmp_path / "al" / f"{i}.png", size=(64, 32), mode="RGB", value=(i, 0, 0))
    sets = ["train.sample_every=2", "train.eval_every=0", "model.g_norm=instance", "model.d_norm=instance"]
    assert main(_train_pairs(tmp_path, tmp_path / "al", sets)) == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "samples" / "step_00000002.png").is_file()


# ---------------------------------------------------------------- other hostile shapes

def test_long_strip_is_cropped_before_resizing():
    x = torch.zeros(1, 1, 200_000, dtype=torch.uint8)  # (C, H, W): 1 x 200,000 px
    x[..., 100_000] = 255
    y = convert(x, 32, None)
    assert y.shape == (1, 32, 32)
    assert convert(torch.zeros(3, 40, 30, dtype=torch.uint8), 16, None).shape == (3, 16, 16)  # ordinary: as before


def test_class_missing_from_the_held_out_split_fails_before_training(tmp_path, capsys, monkeypatch):
    from ganforge.data.imageset import fraction_split

    monkeypatch.chdir(tmp_path)
    y = np.arange(200) % 9  # classes 0..8, and class 9 once, in the training split only
    y[fraction_split(200, 0.1)["train"][0]] = 9
    np.savez(tmp_path / "d.npz", images=np.zeros((200, 28, 28), np.uint8), labels=y)
    _fails(_train_images(tmp_path, tmp_path / "d.npz", ["model.cond=concat"]), tmp_path, capsys,
           "the held-out (test) split has no image of class '9' (1 class(es) missing)")


def test_fashion_folder_with_other_labels_is_refused(tmp_path):
    def idx(a, code):
        return gzip.compress(struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
                             + a.astype(">u1").tobytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(idx(np.zeros((5, 28, 28)), 0x08))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx(np.full(5, 12), 0x08))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: Fashion-MNIST labels are 0..9, got 12"):
        load_images("fashion", root=tmp_path)
