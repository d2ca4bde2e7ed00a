"""StyleGAN: network shapes and style inputs, AdaIN statistics, local noise, truncation, mixing, projection,
and the recipe end to end (train, resume, CLI tools) on tiny 16 px networks."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import checkpoint
from ganforge.cli import main
from ganforge.config import ConfigError
from ganforge.errors import GanforgeError
from ganforge.nets.layers import AdaIN, ModulatedConv2d, NoiseInjection, adain
from ganforge.nets.stylegan import StyleDiscriminator, StyleGenerator
from ganforge.recipes import load_config, resolve
from ganforge.runner import resume, train
from ganforge.sample.style import layer_groups, mix_ws, parse_layers, project

TINY_STYLE = [
    "data.size=16", "model.g_width=4", "model.d_width=4", "model.w_dim=16", "model.map_layers=2", "model.mbstd=2",
    "train.batch_size=8", "train.steps=4", "train.r1_every=2", "train.log_every=1", "train.eval_every=2",
    "train.eval_n=32", "train.sample_every=4", "train.ckpt_every=2", "train.progress=false", "eval.n=40",
]


def tiny_g(style: str = "adain", size: int = 16) -> StyleGenerator:
    torch.manual_seed(0)
    return StyleGenerator(z_dim=8, w_dim=8, size=size, channels=1, ngf=4, map_layers=2, style=style)


@pytest.mark.parametrize("style", ["adain", "modulated"])
def test_shapes_and_two_style_inputs_per_resolution(style):
    G = tiny_g(style)
    z = torch.randn(3, 8)
    assert G.mapping(z).shape == (3, 8)
    assert G.num_ws == 6 and G.synthesis.layer_res == [4, 4, 8, 8, 16, 16]
    assert G.map(z).shape == (3, 6, 8)
    assert G(z).shape == (3, 1, 16, 16)
    styled = [m for m in G.synthesis.modules() if isinstance(m, (AdaIN, ModulatedConv2d))]
    per_layer = len([m for m in styled if not (isinstance(m, ModulatedConv2d) and not m.demodulate)])
    assert per_layer == G.num_ws  # one "A" per style input (modulated: plus the to-RGB layers)
    assert len([m for m in G.synthesis.modules() if isinstance(m, NoiseInjection)]) == G.num_ws
    assert "w_avg" in G.state_dict()
    D = StyleDiscriminator(size=16, channels=1, ndf=4, mbstd=2)
    assert D(torch.randn(4, 1, 16, 16)).shape == (4,)
    with pytest.raises(ValueError, match="size"):
        StyleGenerator(size=28)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.randn(2, 5, 8))


def test_adain_output_follows_the_style():
    x = torch.randn(4, 6, 8, 8) * 3 + 2
    scale, bias = torch.rand(4, 6) + 0.5, torch.randn(4, 6)
    y = adain(x, scale, bias)
    torch.testing.assert_close(y.mean((2, 3)), bias, atol=1e-4, rtol=0)
    torch.testing.assert_close(y.std((2, 3), unbiased=False), scale, atol=1e-3, rtol=1e-3)
    # the module: the style comes from w through the affine map A
    m = AdaIN(6, 5)
    w = torch.randn(4, 5)
    s, b = m.affine(w).chunk(2, 1)
    out = m(x, w)
    torch.testing.assert_close(out.mean((2, 3)), b, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std((2, 3), unbiased=False), s.abs(), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("style", ["adain", "modulated"])
def test_noise_changes_the_output_only_locally(style):
    G = tiny_g(style)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, NoiseInjection):
                m.strength.fill_(0.5)  # trained generators use their noise; fresh ones start at 0
    ws = G.map(torch.randn(1, 8))
    noise = G.synthesis.make_noise(1, generator=torch.Generator().manual_seed(0))
    bumped = [n.clone() for n in noise]
    bumped[-1][0, 0, 8, 8] += 3.0  # one pixel of the last layer's noise
    with torch.no_grad():
        a, b = G.synthesis(ws, noise=noise), G.synthesis(ws, noise=bumped)
    diff = (a - b).abs()[0, 0]  # (16, 16)
    inside = diff[7:10, 7:10].max()
    outside = diff.clone()
    outside[7:10, 7:10] = 0
    assert inside > 1e-3
    if style == "modulated":  # after the last layer only a 1x1 to-RGB: strictly the bumped pixel
        assert outside.max() < 1e-5 * inside
    else:  # AdaIN normalises over the whole map, so every pixel moves a little; the change is local
        assert outside.mean() < 0.05 * inside
    # a single pixel of noise at 4x4 reaches further: the 3x3 convs of the later layers spread it
    early = [n.clone() for n in noise]
    early[0][0, 0, 2, 2] += 3.0
    with torch.no_grad():
        c = G.synthesis(ws, noise=early)
    spread = ((a - c).abs()[0, 0] > 0.05 * (a - c).abs().max()).sum()
    assert spread > ((diff > 0.05 * inside).sum())


def test_truncation_psi_zero_gives_the_average_image():
    G = tiny_g()
    G.w_avg.copy_(torch.randn(8))
    with torch.no_grad():
        x = G(torch.randn(5, 8), truncation_psi=0.0, noise_mode="const")
        avg = G.synthesis(G.w_avg[None, None].expand(1, G.num_ws, -1), noise_mode="const")
        free = G(torch.randn(5, 8), noise_mode="const")
    torch.testing.assert_close(x, avg.expand_as(x), atol=1e-5, rtol=0)
    assert (free - free[:1]).abs().amax() > 1e-3  # without truncation, samples differ
    ws = G.map(torch.randn(3, 8), truncation_psi=0.5)
    untruncated = G.map(torch.randn(3, 8))
    assert ws.shape == untruncated.shape


def test_mixing_uses_the_right_w_per_layer():
    G = tiny_g()
    z1, z2 = torch.randn(2, 8), torch.randn(2, 8)
    w1, w2 = G.mapping(z1), G.mapping(z2)
    ws = G.map(z1, mix_z=z2, mix_layer=torch.tensor([2, 5]))
    for b, cut in enumerate([2, 5]):
        for i in range(G.num_ws):
            torch.testing.assert_close(ws[b, i], (w1 if i < cut else w2)[b])
    a, bb = torch.randn(3, 6, 4), torch.randn(2, 6, 4)
    m = mix_ws(a, bb, (2, 4))  # (3, 2, 6, 4)
    assert m.shape == (3, 2, 6, 4)
    torch.testing.assert_close(m[1, 0, :2], a[1, :2])
    torch.testing.assert_close(m[1, 0, 2:4], bb[0, 2:4])
    torch.testing.assert_close(m[1, 0, 4:], a[1, 4:])
    G32 = tiny_g(size=32)
    assert layer_groups(G32) == {"coarse": (0, 4), "middle": (4, 6), "fine": (6, 8)}
    assert parse_layers("2-5", G32) == (2, 6) and parse_layers("7", G32) == (7, 8)
    with pytest.raises(GanforgeError, match="outside"):
        parse_layers("3-9", G32)
    with pytest.raises(GanforgeError, match="no middle"):
        parse_layers("middle", tiny_g(size=16))


def test_projection_lowers_its_loss():
    G = tiny_g()
    with torch.no_grad():
        target = G(torch.randn(2, 8), noise_mode="const").clamp(-1, 1)
    for space in ("w", "w+"):
        r = project(G, target, space=space, steps=25, lr=0.05)
        assert r["ws"].shape == (2, G.num_ws, 8) and r["losses"].shape == (25, 2)
        assert (r["losses"][-1] < r["losses"][0]).all(), space
        if space == "w":  # one w for every layer
            torch.testing.assert_close(r["ws"][:, 0], r["ws"][:, -1])
    assert not any(p.grad is not None for p in G.parameters())
    with pytest.raises(GanforgeError, match="space"):
        project(G, target, space="z")


def test_config_rules():
    cfg = resolve(load_config("stylegan-mnist"))
    assert cfg.recipe == "stylegan" and cfg.optim.lr_g == 2e-3 and cfg.optim.beta1 == 0.0
    assert cfg.loss.r1_gamma == 10.0 and cfg.model.z_dim == cfg.model.w_dim
    with pytest.raises(ConfigError, match="data.size"):
        resolve(load_config("stylegan-mnist", ["data.size=28"]))
    with pytest.raises(ConfigError, match="256"):
        resolve(load_config("mnist", ["data.size=256"]))  # the gan recipe keeps its sizes
    from ganforge.recipes import stylegan

    with pytest.raises(ConfigError, match="loss"):
        stylegan.validate(resolve(load_config("stylegan-mnist", ["loss=wgan-gp"])))
    with pytest.raises(ConfigError, match="model.cond"):
        stylegan.validate(resolve(load_config("stylegan-mnist", ["model.cond=concat"])))


@pytest.fixture(scope="module")
def style_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("style") / "run"
    return train(load_config("stylegan-mnist", TINY_STYLE), out)


def test_train_writes_a_run_with_w_avg_and_ema(style_run):
    for name in ("report.html", "eval.json", "mix.png", "interpolation.png"):
        assert (style_run / name).is_file(), name
    records = [json.loads(line) for line in (style_run / "metrics.jsonl").read_text().splitlines()]
    assert any("Loss/D/r1" in r for r in records) and any("Metric/fid" in r for r in records)
    state = checkpoint.load(checkpoint.latest(style_run))
    w_avg = state["models"]["G"]["w_avg"]
    assert w_avg.abs().sum() > 0  # tracked during training
    torch.testing.assert_close(state["models"]["G_ema"]["w_avg"], w_avg)  # the EMA copy follows it


def test_resume_is_exact(tmp_path):
    quick = TINY_STYLE + ["train.eval_every=0", "train.final_eval=false"]
    full = train(load_config("stylegan-mnist", quick), tmp_path / "full")
    part = train(load_config("stylegan-mnist", quick + ["train.steps=2"]), tmp_path / "part")
    resume(part, ["train.steps=4"])
    a, b = checkpoint.load(checkpoint.latest(full)), checkpoint.load(checkpoint.latest(part))
    for k, v in a["models"]["G"].items():
        torch.testing.assert_close(b["models"]["G"][k], v, msg=k)


def test_style_options_refused_on_other_runs(tiny_run, tmp_path, capsys):
    assert main(["sample", str(tiny_run), "--truncation", "0.7", "--out", str(tmp_path / "s.npy")]) == 2
    assert main(["mix", str(tiny_run), "--out", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err
    assert "--truncation applies to image runs" in err and "recipe=stylegan" in err


def test_cli_tools(style_run, tmp_path, capsys):
    import ganforge

    assert main(["sample", str(style_run), "--n", "6", "--truncation", "0.5", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (6, 16, 16, 1)
    run = ganforge.load_run(style_run)
    assert (run.sample(4, seed=3) == run.sample(4, seed=3)).all()  # seeded noise too
    assert main(["interpolate", str(style_run), "--space", "w", "--steps", "4", "--rows", "2",
                 "--out", str(tmp_path / "w.png")]) == 0
    assert main(["mix", str(style_run), "--rows", "2", "--cols", "3", "--layers", "0-1",
                 "--out", str(tmp_path / "m.png")]) == 0
    w, h = Image.open(tmp_path / "m.png").size
    assert w > h  # 4 columns (blank + 3 B), 3 rows (B + 2 A)
    assert main(["noise", str(style_run), "--seed", "1", "--n", "3", "--out", str(tmp_path / "n.png")]) == 0
    x, std = run.noise_variation(seed=1, n=3)
    assert x.shape == (3, 1, 16, 16) and std.shape == (16, 16)
    img = run.real(1, split="test")  # a held-out digit as a PNG file
    Image.fromarray(((img[0, 0] + 1) * 127.5).round().byte().numpy()).save(tmp_path / "digit.png")
    assert main(["project", str(style_run), "--image", str(tmp_path / "digit.png"), "--space", "w+", "--steps", "5",
                 "--out", str(tmp_path / "proj")]) == 0
    for name in ("latent.npy", "reconstruction.png", "loss.png", "projection.json"):
        assert (tmp_path / "proj" / name).is_file(), name
    assert np.load(tmp_path / "proj" / "latent.npy").shape == (run.G.num_ws, 16)
    assert main(["mix", str(style_run), "--latent", str(tmp_path / "proj" / "latent.npy"), "--cols", "2",
                 "--out", str(tmp_path / "edit.png")]) == 0
    capsys.readouterr()
    assert main(["mix", str(style_run), "--layers", "middle", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["project", str(style_run), "--image", str(tmp_path / "missing.png"), "--out",
                 str(tmp_path / "p2")]) == 2
    err = capsys.readouterr().err
    assert "no middle layers" in err and "missing.png" in err


def test_rgb_folder_at_64_px_trains(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    out = train(load_config("stylegan-mnist", TINY_STYLE + [f"data.root={tmp_path / 'photos'}", "data.size=64",
                                                            "model.g_width=2", "model.d_width=2", "train.steps=2",
                                                            "train.eval_every=0", "eval.features=mnist"]),
                tmp_path / "r")
    import ganforge

    run = ganforge.load_run(out)
    assert run.G.num_ws == 10 and run.sample(2).shape == (2, 64, 64, 3)
