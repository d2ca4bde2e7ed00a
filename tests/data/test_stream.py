"""Streamed image folders (data.stream): the decoded cache on disk, its key and reuse, batches through DataLoader
workers, horizontal flips, per-rank shards, unreadable files, and exact resume of a streamed run."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import checkpoint
from ganforge.data import formats, stream
from ganforge.data.images import load_images
from ganforge.data.stream import CachedRows, EpochBatches, StreamBatches, stream_folder
from ganforge.errors import ConfigError, DataError
from ganforge.recipes import load_config, resolve
from ganforge.recipes.common import image_batches
from ganforge.runner import resume, train

CPU = torch.device("cpu")
TINY = [
    "model.g_width=8", "model.d_width=8", "model.z_dim=16", "train.batch_size=8", "train.steps=6",
    "train.log_every=1", "train.eval_every=0", "train.sample_every=0", "train.ckpt_every=3", "train.keep_ckpts=10",
    "train.progress=false", "eval.n=20", "eval.features=mnist", "train.amp=none",  # fp32: bit-exact on any CPU
]


def _folder(root, n=12, seed=0, size=(20, 24)):
    """Two class sub-folders of ``n`` random RGB PNGs each (non-square, so the resize and crop run)."""
    rng = np.random.default_rng(seed)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, and no image sets kept in the process from other tests."""
    from ganforge import data

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_CACHE", {})
    return tmp_path / "cache" / "images"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return _folder(tmp_path_factory.mktemp("photos") / "photos")


def test_stream_and_memory_give_the_same_images(photos, cache):
    for split in ("train", "test"):
        mem = load_images("images", root=photos, split=split, size=16)
        s = load_images("images", root=photos, split=split, size=16, stream="true")
        assert s.cache is not None and s.cache.parent == cache and mem.cache is None
        assert torch.equal(s.x, mem.x) and torch.equal(s.y, mem.y) and s.classes == mem.classes == ["cats", "dogs"]
        rows = CachedRows(s.cache, s.y)
        idx = [len(mem) - 1, 0, 1, 1]
        batch = rows[idx]
        assert batch["x"].dtype == torch.uint8 and torch.equal(batch["x"], mem.x[idx])
        assert torch.equal(batch["y"], mem.y[idx])
        with pytest.raises(IndexError, match="out of range"):
            rows[[len(mem)]]
    assert np.load(s.cache, mmap_mode="r").shape == (len(mem), 3, 16, 16)  # a plain .npy, (N, C, H, W)


def test_second_run_reads_the_cache_without_decoding(photos, cache, monkeypatch):
    first = stream_folder(photos, "train", 16, None, False, 0.1, "true")

    def no(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(formats, "_decode", no)
    monkeypatch.setattr(formats, "read_header", no)
    monkeypatch.setattr(stream, "read_images", no)
    again = stream_folder(photos, "train", 16, None, False, 0.1, "true")
    assert again.cache == first.cache and torch.equal(again.x, first.x)
    # a run that filled in data.channels=3 finds the same pixels too
    assert stream_folder(photos, "test", 16, 3, False, 0.1, "true").cache.name.startswith(first.cache.name[:20])
    with pytest.raises(AssertionError, match="decoded again"):  # other settings: another cache
        stream_folder(photos, "train", 8, None, False, 0.1, "true")


def test_cache_is_rebuilt_when_a_file_changes_or_the_cache_is_truncated(tmp_path, cache):
    root = _folder(tmp_path / "f", n=4)
    before = stream_folder(root, "train", 16, 3, False, 0.0, "true")
    pixels = before.x.clone()
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(root / "cats" / "0.png")
    os.utime(root / "cats" / "0.png", ns=(1, 1))  # another modification time, whatever the clock's resolution
    after = stream_folder(root, "train", 16, 3, False, 0.0, "true")
    assert after.cache != before.cache and not torch.equal(after.x, pixels)
    assert torch.equal(after.x, load_images("images", root=root, size=16, test_fraction=0.0).x)
    assert after.x[0].max() == 0  # the first file, now black
    pixels, path = after.x.clone(), after.cache
    del after  # (its memory map: reading it past a truncation would be a bus error)
    with open(path, "r+b") as f:  # a cache cut short (a full disk, a copy gone wrong) is built again
        f.truncate(1000)
    again = stream_folder(root, "train", 16, 3, False, 0.0, "true")
    assert torch.equal(again.x, pixels)


def test_auto_streams_only_above_the_threshold(photos, cache, monkeypatch):
    assert load_images("images", root=photos, size=16, stream="auto").cache is None  # small: memory
    monkeypatch.setattr(stream, "STREAM_ABOVE", 24 * 3 * 16 * 16 - 1)  # just below the folder's 24 images
    assert load_images("images", root=photos, size=16, stream="auto").cache is not None
    with pytest.raises(DataError, match="data.stream=true streams image folders; data.name=digits8 is loaded"):
        load_images("digits8", stream="true")


def test_config_keys(photos, cache):
    cfg = load_config("mnist", ["data.stream=true", "data.workers=0", "data.hflip=true"])
    assert (cfg.data.stream, cfg.data.workers, cfg.data.hflip) == ("true", 0, True)  # YAML's true, as the word
    assert resolve(load_config("mnist")).data.stream == "auto"
    with pytest.raises(ConfigError, match="data.workers applies to data.stream=auto or true only"):
        load_config("mnist", ["data.stream=false", "data.workers=2"])
    from ganforge.recipes.common import read_images

    cfg = resolve(load_config("mnist", [f"data.root={photos}", "data.workers=2"]))
    read_images(cfg)  # auto keeps these 24 images in memory: config.yaml says so, without the unused workers
    assert (cfg.data.stream, cfg.data.workers) == ("false", None)
    with pytest.raises(ConfigError, match="data.stream='maybe' is not allowed"):
        load_config("mnist", ["data.stream=maybe"])


def _asymmetric(n=1):
    x = torch.arange(n * 3 * 4 * 6, dtype=torch.float32).reshape(n, 3, 4, 6).remainder(251).to(torch.uint8)
    return x  # (n, 3, 4, 6): no image equals its mirror


def test_hflip_mirrors_about_half_of_each_batch(tmp_path, cache):
    img = _asymmetric()
    x = image_batches(img, None, 200, CPU, hflip=True)()["x"]
    plain, mirrored = (img.float() / 127.5 - 1), (img.float() / 127.5 - 1).flip(-1)
    same = (x == plain).flatten(1).all(1)
    flipped = (x == mirrored).flatten(1).all(1)
    assert bool((same ^ flipped).all()) and 60 < int(flipped.sum()) < 140  # each image one or the other
    assert torch.equal(image_batches(img, None, 50, CPU)()["x"], plain.expand(50, -1, -1, -1))  # off by default

    path = tmp_path / "rows.npy"
    np.save(path, img.expand(10, -1, -1, -1).numpy())
    x = StreamBatches(path, None, 200, CPU, workers=0, hflip=True)()["x"]
    flipped = (x == mirrored).flatten(1).all(1)
    assert bool(((x == plain).flatten(1).all(1) ^ flipped).all()) and 60 < int(flipped.sum()) < 140


def test_ranks_read_disjoint_shares_of_each_epoch():
    n, world, batch = 31, 3, 4
    shares = []
    for r in range(world):
        it = EpochBatches(n, batch, seed=5, rank=r, world=world).indices()
        shares.append([next(it) for _ in range(2 * (n // world))])  # two epochs of this rank's stream
    first = [set(s[:n // world]) for s in shares]
    assert all(len(f) == n // world for f in first)
    assert not (first[0] & first[1]) and not (first[0] & first[2]) and not (first[1] & first[2])  # disjoint
    assert shares[0][:n // world] != shares[0][n // world:]  # the next epoch is another permutation
    one = EpochBatches(n, batch, seed=5).indices()
    assert sorted(next(one) for _ in range(n)) == list(range(n))  # one process: every image once per epoch
    # the batches run on across the end of an epoch, and a rank's batches are its share in order
    batches = iter(EpochBatches(n, batch, seed=5, rank=1, world=world))
    assert sum((next(batches) for _ in range(5)), []) == shares[1][:20]


def test_stream_batches_resume_at_the_same_batch(photos, cache):
    s = stream_folder(photos, "train", 16, 3, False, 0.1, "true")
    a = StreamBatches(s.cache, s.y, 5, CPU, workers=2, seed=3)
    for _ in range(7):
        a()
    state = a.state_dict()
    assert state == {"seed": 3, "epoch": 1, "index": 35 - len(s), "world": 1}
    rest = [a() for _ in range(6)]
    b = StreamBatches(s.cache, s.y, 5, CPU, workers=0, seed=0)  # the checkpoint's seed wins; workers do not matter
    b.load_state_dict(state)
    for want, got in zip(rest, [b() for _ in range(6)], strict=True):
        assert torch.equal(want["x"], got["x"]) and torch.equal(want["y"], got["y"])
    ranks = [StreamBatches(s.cache, s.y, 5, CPU, workers=0, seed=3, rank=r, world=2) for r in range(2)]
    x0, x1 = (torch.cat([r()["x"] for _ in range(2)]).flatten(1) for r in ranks)
    assert not any(bool((x1 == row).all(1).any()) for row in x0)  # two ranks, different images


def test_bad_image_follows_skip_bad(tmp_path, cache):
    root = _folder(tmp_path / "f", n=10)
    (root / "dogs" / "3.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot read image .*dogs/3\.png.*data\.skip_bad=true"):
        stream_folder(root, "train", 16, 3, False, 0.1, "true")
    streamed = [stream_folder(root, split, 16, 3, True, 0.1, "true") for split in ("train", "test")]
    memory = [load_images("images", root=root, split=split, size=16, channels=3, skip_bad=True)
              for split in ("train", "test")]
    for s, m in zip(streamed, memory, strict=True):
        assert s.skipped == m.skipped and torch.equal(s.x, m.x) and torch.equal(s.y, m.y)
    assert sum(len(s.skipped) for s in streamed) == 1 and "dogs/3.png" in (streamed[0].skipped + streamed[1].skipped)[0]


def test_streamed_run_trains_and_resumes_exactly(photos, cache, tmp_path):
    items = TINY + [f"data.root={photos}", "data.stream=true", "data.workers=1", "data.hflip=true",
                    "model.cond=concat", "train.ema=0.9"]
    straight = train(load_config("dcgan-paper", items), tmp_path / "a", device="cpu")
    assert straight.joinpath("eval.json").is_file()  # trained, sampled and evaluated end to end
    saved = resolve(load_config(str(straight / "config.yaml")))
    assert saved.data.stream == "true" and saved.data.channels == 3 and saved.model.num_classes == 2
    cut = train(load_config("dcgan-paper", items), tmp_path / "b", device="cpu")
    checkpoint.latest(cut).unlink()  # as if killed right after the step-3 checkpoint
    resume(cut, device="cpu")
    a, b = checkpoint.load(checkpoint.latest(straight)), checkpoint.load(checkpoint.latest(cut))
    assert a["step"] == b["step"] == 6
    # 6 steps, a D and a G batch each, of 8 images from the 22 training images (24 files, 2 held out)
    assert a["data"] == b["data"] == {"seed": 0, "epoch": 96 // 22, "index": 96 % 22, "world": 1}
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), f"{name}.{k} differs after resume"
    assert a["history"] == b["history"]


def test_auto_fills_the_config_with_what_it_chose(photos, cache, monkeypatch):
    from ganforge.recipes import recipe_module

    monkeypatch.setattr(stream, "STREAM_ABOVE", 0)
    cfg = resolve(load_config("stylegan-mnist", [f"data.root={photos}", "data.size=16", "model.w_dim=8",
                                                 "model.map_layers=1", "model.g_width=4", "model.d_width=4",
                                                 "train.batch_size=4"]))
    recipe_module(cfg).validate(cfg)
    assert cfg.data.stream == "true"
    recipe = recipe_module(cfg).build(cfg, CPU)
    assert isinstance(recipe.data_state, StreamBatches) and recipe.next_batch()["x"].shape == (4, 3, 16, 16)
    recipe.data_state.close()
