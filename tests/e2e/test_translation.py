"""Image-to-image translation: networks, losses, the image pool, data layouts, and pix2pix / CycleGAN
end to end on the CPU in seconds (train -> translate -> sample -> eval -> resume)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import checkpoint, losses
from ganforge.cli import main
from ganforge.config import ConfigError
from ganforge.data.paired import PairSet, load_pairs, split_aligned
from ganforge.errors import DataError
from ganforge.nets.patchgan import PatchDiscriminator, receptive_field
from ganforge.nets.resnet import ResnetGenerator
from ganforge.nets.unet import UNetGenerator
from ganforge.recipes import load_config, resolve
from ganforge.recipes.translation import ImagePool
from ganforge.runner import resume, train

TINY = ["model.g_width=4", "model.d_width=4", "train.batch_size=4", "train.steps=6", "train.log_every=2",
        "train.eval_every=3", "train.eval_n=16", "train.sample_every=3", "train.ckpt_every=3", "train.progress=false",
        "eval.n=40"]


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_generators_keep_the_image_shape(size):
    x = torch.randn(2, 3, size, size)
    G = UNetGenerator(size, 3, 1, ngf=4, norm="instance")
    assert G(x).shape == (2, 1, size, size)
    assert G(x).abs().max() <= 1  # tanh output
    assert ResnetGenerator(size, 3, 3, ngf=4, blocks=1)(x).shape == (2, 3, size, size)


@pytest.mark.parametrize("size", [48, 100, 31, 4])
def test_unet_refuses_sizes_that_are_not_powers_of_two(size):
    with pytest.raises(ValueError, match=f"power of two.*got {size}"):
        UNetGenerator(size, 3, 3, ngf=4)


def test_odd_sizes_are_refused_by_the_config_and_the_resnet():
    with pytest.raises(ConfigError, match="data.size must be one of 32, 64, 128, 256.*got 48"):
        resolve(load_config("inpaint", ["data.size=48"]))
    with pytest.raises(ValueError, match="multiple of 4"):
        ResnetGenerator(30, 3, 3)
    with pytest.raises(ValueError, match=r"takes \(B, 3, 32, 32\)"):
        UNetGenerator(32, 3, 3, ngf=4)(torch.zeros(1, 3, 64, 64))


def test_patchgan_receptive_fields_and_logit_grid():
    assert [receptive_field(n) for n in range(6)] == [1, 16, 34, 70, 142, 286]  # Isola et al., appendix
    D = PatchDiscriminator(6, ndf=4, patch=70)
    assert D(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # the paper's 30x30 grid at 256 px
    assert D(torch.zeros(2, 6, 32, 32)).shape == (2, 1, 2, 2)
    assert PatchDiscriminator(3, ndf=4, patch=1)(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="larger images"):
        PatchDiscriminator(3, patch=142, size=32)
    with pytest.raises(ValueError, match="patch must be one of"):
        PatchDiscriminator(3, patch=50)


# ---------------------------------------------------------------- losses and the pool

def test_cycle_and_identity_losses_on_constructed_cases():
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    assert losses.cycle_loss(a, a, b, b) == 0
    # reconstructions off by 0.5 everywhere in A and 0.25 in B: 0.5 + 0.25
    assert losses.cycle_loss(a, a + 0.5, b, b - 0.25).item() == pytest.approx(0.75)
    assert losses.identity_loss(a, a, b, b + 1).item() == pytest.approx(1.0)  # G(b) = b + 1, F(a) = a
    assert losses.l1(torch.zeros(4), torch.tensor([1.0, -1.0, 2.0, 0.0])).item() == pytest.approx(1.0)
    r, f = torch.full((2, 1, 3, 3), 4.0), torch.full((2, 1, 3, 3), -4.0)
    assert losses.patch_d_loss("ns", r, f).item() == pytest.approx(0.5 * losses.d_loss("ns", r, f).item())
    assert losses.patch_d_loss("lsgan", r, f) == losses.d_loss("lsgan", r, f)  # 1/2 already in LSGAN's form


def test_image_pool_fills_then_swaps_and_keeps_its_state_in_the_store():
    torch.manual_seed(0)
    store: dict[str, torch.Tensor] = {}
    pool = ImagePool(store, "pool", 4, (1, 2, 2))
    first = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: each image comes back as is
    assert int(store["pool_n"]) == 4 and torch.equal(store["pool"], first)
    new = torch.full((64, 1, 2, 2), 9.0)
    out = pool.query(new)
    from_history = (out[:, 0, 0, 0] != 9).sum().item()
    assert 0 < from_history < 64  # about half come from the history (p = 1/2)
    assert set(out[:, 0, 0, 0].tolist()) <= {0.0, 1.0, 2.0, 3.0, 9.0}
    # a restored store (a resumed run) continues with the same history
    twin = ImagePool({k: v.clone() for k, v in store.items()}, "pool", 4, (1, 2, 2))
    torch.manual_seed(1)
    x = pool.query(torch.full((8, 1, 2, 2), 5.0))
    torch.manual_seed(1)
    assert torch.equal(twin.query(torch.full((8, 1, 2, 2), 5.0)), x)
    assert torch.equal(ImagePool({}, "p", 0, (1, 2, 2)).query(new), new)  # size 0: no pool


# ---------------------------------------------------------------- data layouts

def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _rgb(h, w, v):
    return np.full((h, w, 3), v, np.uint8)


def test_split_aligned():
    img = torch.cat([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)], 2)  # (3, 4, 8): A | B
    a, b = split_aligned(img)
    assert a.shape == b.shape == (3, 4, 4) and a.sum() == 0 and b.min() == 1
    with pytest.raises(DataError, match="width 9 is odd"):
        split_aligned(torch.zeros(3, 4, 9), "x.png")


def test_aligned_layout_and_its_broken_file(tmp_path):
    for i in range(3):
        _save(tmp_path / "ab" / "train" / f"{i}.png", np.concatenate([_rgb(8, 8, 10), _rgb(8, 8, 200)], 1))
    _save(tmp_path / "ab" / "test" / "0.png", np.concatenate([_rgb(8, 8, 10), _rgb(8, 8, 200)], 1))
    s = load_pairs(tmp_path / "ab", "train", "auto")
    assert isinstance(s, PairSet) and s.paired and s.A.shape == (3, 3, 8, 8)
    assert int(s.A.max()) == 10 and int(s.B.min()) == 200
    _save(tmp_path / "ab" / "train" / "odd.png", _rgb(8, 17, 0))
    with pytest.raises(DataError, match="odd.png.*width 17 is odd"):
        load_pairs(tmp_path / "ab", "train", "aligned")


def test_folders_layout_matches_names_and_names_the_unmatched_and_mismatched(tmp_path):
    root = tmp_path / "pairs"
    for n in ("a1", "a2", "a3"):
        _save(root / "A" / f"{n}.png", _rgb(8, 8, 0))
        _save(root / "B" / f"{n}.jpg", _rgb(8, 8, 255))
    s = load_pairs(root, "train", "auto", size=None, channels=1)
    assert s.paired and len(s) == 2 and s.A.shape[1] == 1  # 10% of 3 held out: 1 test pair
    _save(root / "B" / "stray.png", _rgb(8, 8, 0))
    with pytest.raises(DataError, match=r"unmatched: 1 in .*B \(stray\)"):
        load_pairs(root, "train", "folders")
    (root / "B" / "stray.png").unlink()
    _save(root / "B" / "a2.jpg", _rgb(16, 16, 0))
    with pytest.raises(DataError, match="a pair must share its size.*a2.png is 8x8 but .*a2.jpg is 16x16"):
        load_pairs(root, "train", "folders")


def test_unpaired_layout_and_an_empty_domain(tmp_path):
    root = tmp_path / "h2z"
    for d, v in (("trainA", 0), ("trainB", 255), ("testA", 0), ("testB", 255)):
        for i in range(2 if d.startswith("train") else 1):
            _save(root / d / f"{i}.png", _rgb(8, 8, v))
    _save(root / "trainB" / "2.png", _rgb(8, 8, 255))
    s = load_pairs(root, "train")
    assert not s.paired and len(s.A) == 2 and len(s.B) == 3
    for p in (root / "trainB").iterdir():
        p.unlink()
    with pytest.raises(DataError, match="domain B is empty.*trainB"):
        load_pairs(root, "train")
    cfg = load_config("inpaint", ["data.name=pairs", f"data.root={tmp_path / 'h2z'}"])
    _save(root / "trainB" / "0.png", _rgb(32, 32, 255))
    with pytest.raises(ConfigError, match="pix2pix needs paired data"):
        train(cfg, tmp_path / "run")


# ---------------------------------------------------------------- end to end

def test_pix2pix_train_translate_sample_eval(tmp_path):
    run = train(load_config("inpaint", TINY), tmp_path / "p2p")
    assert (run / "triptychs.png").is_file() and len(list((run / "samples").glob("*.png"))) == 2
    result = json.loads((run / "eval.json").read_text())
    assert {"l1", "psnr", "ssim"} <= result["model"].keys() and result["floor"]["psnr"] > 10
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("Metric/psnr" in r for r in records) and any("Loss/G/l1" in r for r in records)
    inputs = tmp_path / "in"
    _save(inputs / "x.png", _rgb(40, 50, 90))  # resized and cropped to the run's 32 px
    _save(inputs / "y.jpg", _rgb(32, 32, 30))
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "out")]) == 0
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == ["x.png", "y.png"] and Image.open(tmp_path / "out" / "x.png").size == (32, 32)
    assert main(["translate", str(run), "--input", str(inputs), "--out", str(tmp_path / "o2"),
                 "--direction", "BtoA"]) == 2  # pix2pix goes one way
    assert main(["sample", str(run), "--n", "3", "--out", str(tmp_path / "t.png")]) == 0
    w, h = Image.open(tmp_path / "t.png").size
    assert w == 3 * 34 + 2 and h == 3 * 34 + 2  # three rows of input | output | target


def test_cyclegan_train_translate_resume_keeps_the_pool(tmp_path):
    import ganforge

    cfg = load_config("cyclegan-digits", TINY + ["model.blocks=1", "loss.pool=4"])
    run = train(cfg, tmp_path / "cyc")
    state = checkpoint.load_latest(run)
    assert state["extra"]["pool_A"].shape == (4, 3, 32, 32) and int(state["extra"]["pool_A_n"]) == 4
    result = json.loads((run / "eval.json").read_text())
    for k in ("cycle_l1_A", "cycle_l1_B", "label_acc_BtoA", "fid_B"):
        assert k in result["model"] and k in result["floor"]
    assert result["floor"]["label_acc_BtoA"] > 0.9  # the classifier on real gray digits
    r = ganforge.load_run(run)
    x = r.held_out().B[:3]
    y = r.translate(x, direction="BtoA")
    assert y.shape == (3, 3, 32, 32) and not torch.equal(y, r.translate(x))  # F and G differ
    written = ganforge.translate(run, _one_image(tmp_path), tmp_path / "tr")
    assert len(written) == 1
    resume(run, ["train.steps=8", "train.final_eval=false"])
    assert checkpoint.load_latest(run)["step"] == 8


def _one_image(tmp_path):
    p = tmp_path / "one.png"
    _save(p, _rgb(32, 32, 128))
    return p


def test_paired_colordigits_repairs_digits_with_fresh_textures_each_batch():
    from ganforge.data import synth
    from ganforge.data.paired import translation_data
    from ganforge.recipes.translation import batch_source

    cfg = resolve(load_config("colordigits", ["train.batch_size=8"]))
    s = translation_data(cfg.data, "train")
    assert s.textures is not None and len(s.textures) == synth.N_TEXTURES and s.textured == "B"
    assert translation_data(cfg.data, "test").textures is None  # the held-out pairs stay fixed
    assert translation_data(cfg.data, "train", unpaired=True).textures is None
    torch.manual_seed(0)
    batch = batch_source(cfg, torch.device("cpu"), unpaired=False)()
    A, B = batch["A"], batch["B"]
    assert A.shape == B.shape == (8, 3, 32, 32)
    # B is A's digit over a training texture drawn for this batch, not the split's fixed partner
    torch.manual_seed(0)
    i, t = torch.randint(len(s.A), (8,)), torch.randint(len(s.textures), (8,))
    assert torch.equal(A, s.A[i].float() / 127.5 - 1)
    assert torch.allclose(B, synth.blend(A, s.textures[t].float() / 127.5 - 1))
    assert not torch.allclose(B, s.B[i].float() / 127.5 - 1)
    # direction=BtoA: the textured side follows the swap
    swapped = translation_data(resolve(load_config("colordigits", ["data.direction=BtoA"])).data, "train")
    assert swapped.textured == "A" and torch.equal(swapped.B, s.A)


def test_paired_scores_known_values():
    from ganforge.metrics.translation import PSNR_CAP, paired_scores

    x = torch.zeros(3, 3, 16, 16)
    r = paired_scores(x + 0.2, x)  # MSE 0.04 at range 2: 10 log10(4 / 0.04) = 20 dB
    assert r["l1"] == pytest.approx(0.2) and r["psnr"] == pytest.approx(20.0)
    same = paired_scores(x, x)
    assert same["psnr"] == pytest.approx(PSNR_CAP) and same["ssim"] == pytest.approx(1.0) and same["l1"] == 0


def test_config_names_the_recipe_a_translation_task_needs_and_bench_measures_it(capsys):
    with pytest.raises(ConfigError, match="translation task: set recipe=pix2pix"):
        resolve(load_config("ring8", ["data.name=colordigits"]))
    with pytest.raises(ConfigError, match="loss.name=.wgan-gp. is not allowed; choose one of: lsgan, ns, minimax"):
        resolve(load_config("cyclegan-digits", ["loss=wgan-gp"]))
    cfg = resolve(load_config("inpaint", ["data.root=/somewhere"]))
    assert cfg.data.name == "pairs"  # data.root on a built-in task's preset reads the user's folder
    assert main(["bench", "cyclegan-digits", "--iters", "1", "--json", "--set", "model.g_width=4",
                 "--set", "model.d_width=4", "--set", "model.blocks=1", "--set", "train.batch_size=2"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["train_img_per_s"] > 0 and r["sample_img_per_s"] > 0
