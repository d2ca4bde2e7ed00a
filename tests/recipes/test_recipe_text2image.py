"""The text2image recipe: one CPU training iteration with tiny networks (GAN-CLS D, then G with GAN-INT), its
config sections, conditioning augmentation, and the refusal of data without captions."""

import pytest
import torch
from recipe_checks import build, check_iteration, check_sections

from ganforge.errors import DataError
from ganforge.loop import train_iteration
from ganforge.recipes import load_config, resolve, text2image

PRESET = "text2image-digits"
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.proj_dim=8", "train.batch_size=8"]


def test_sections():
    assert text2image.DATA == ("images",)
    check_sections(text2image, "images", PRESET)


@pytest.mark.parametrize("loss", text2image.LOSSES)
def test_one_iteration(loss):
    cfg, _, recipe = build(PRESET, [*TINY, f"loss={loss}"])
    assert cfg.loss.name == loss and cfg.train.d_steps == 1
    counts = check_iteration(recipe, ["D", "D_r1", "G"])  # R1 at iteration 0, then every train.r1_every
    assert counts["Loss/D"] == 1 and counts["Loss/G"] == 1 and counts["Loss/D/r1"] == 1
    assert set(recipe.models) == {"G", "D", "T", "G_ema"} and "T" not in recipe.optimizers


def test_r1_can_be_switched_off():
    _, _, recipe = build(PRESET, [*TINY, "loss.r1_gamma=0"])
    assert [p.name for p in recipe.phases] == ["D", "G"]
    check_iteration(recipe, ["D", "G"])


def test_gan_cls_scores_real_images_with_wrong_captions():
    _, _, recipe = build(PRESET, TINY)
    D, seen = recipe.models["D"], []
    D.register_forward_hook(lambda m, args, out: seen.append(args[1].clone()))
    batch = recipe.next_batch()
    d_phase = next(p for p in recipe.phases if p.name == "D")
    _, logs = d_phase.step(recipe.models, batch)
    assert "D/wrong" in logs and len(seen) == 3  # real + right, fake + right, real + wrong
    assert torch.equal(seen[0], batch["e"]) and torch.equal(seen[2], batch["e_wrong"])
    assert not torch.equal(batch["e"], batch["e_wrong"])
    _, _, plain = build(PRESET, [*TINY, "loss.cls=false"])
    _, logs = next(p for p in plain.phases if p.name == "D").step(plain.models, plain.next_batch())
    assert "D/wrong" not in logs


def test_gan_int_conditions_part_of_gs_batch_on_interpolated_captions():
    cfg, _, recipe = build(PRESET, [*TINY, "loss.interp=0.5"])
    G, seen = recipe.models["G"], []
    G.register_forward_hook(lambda m, args, out: seen.append(args[1].clone()))
    batch = recipe.next_batch()
    next(p for p in recipe.phases if p.name == "G").step(recipe.models, batch)
    e, half = seen[-1], cfg.train.batch_size // 2
    assert torch.equal(e[:half], batch["e"][:half])
    torch.testing.assert_close(e[half:], 0.5 * batch["e"][half:] + 0.5 * batch["e_wrong"][half:])


def test_conditioning_augmentation_adds_its_kl_term_and_is_its_mean_in_eval_mode():
    _, _, recipe = build(PRESET, [*TINY, "model.ca=true"])
    accum, counts = {}, {}
    train_iteration(recipe, 0, accum, counts)
    assert float(accum["Loss/G/kl"]) > 0
    G = recipe.models["G"].eval()
    z, e = torch.randn(4, 8), recipe.next_batch()["e"][:4]
    assert torch.equal(G(z, e), G(z, e))  # eval: the mean of the conditioning Gaussian, no draw


def test_data_without_captions_is_refused():
    cfg = resolve(load_config(PRESET, [*TINY, "data.name=mnist"]))
    with pytest.raises(DataError, match="recipe=text2image needs captions.*data.name=mnist"):
        text2image.validate(cfg)
