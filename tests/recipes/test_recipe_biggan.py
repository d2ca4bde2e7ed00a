"""The biggan recipe: one CPU training iteration per loss with tiny networks (k D steps, then G with orthogonal
regularisation), its config sections, and the refusals of its own rules."""

import pytest
import torch
from recipe_checks import build, check_iteration, check_sections

from ganforge.errors import ConfigError
from ganforge.recipes import biggan

PRESET = "biggan-mnist"
BIG = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.shared_dim=8", "train.batch_size=8"]


def test_data_kinds():
    assert biggan.DATA == ("images",)


def test_sections():
    check_sections(biggan, "images", PRESET)


@pytest.mark.parametrize("loss", biggan.LOSSES)
def test_one_iteration(loss):
    cfg, _, recipe = build(PRESET, [*BIG, f"loss={loss}"])
    assert cfg.loss.name == loss and cfg.model.num_classes == 10 and cfg.train.d_steps == 2
    counts = check_iteration(recipe, ["D", "G"])
    assert counts["Loss/D"] == 2 and counts["Loss/G"] == 1
    assert "G_ema" in recipe.models


def test_orthogonal_regularisation_is_logged_and_can_be_switched_off():
    from ganforge.loop import train_iteration

    _, _, recipe = build(PRESET, BIG)
    accum, counts = {}, {}
    train_iteration(recipe, 0, accum, counts)
    assert float(accum["Loss/G/ortho"]) > 0
    _, _, recipe = build(PRESET, [*BIG, "loss.ortho=0"])
    accum, counts = {}, {}
    train_iteration(recipe, 0, accum, counts)
    assert "Loss/G/ortho" not in accum and "Loss/G" in accum


def test_the_d_phase_shows_d_the_real_batchs_labels_on_both_sides():
    _, _, recipe = build(PRESET, BIG)
    D, seen = recipe.models["D"], []
    D.register_forward_hook(lambda m, args, out: seen.append(args[1].clone()))
    batch = recipe.next_batch()
    d_phase = next(p for p in recipe.phases if p.name == "D")
    d_phase.step(recipe.models, batch)
    assert len(seen) == 2 and torch.equal(seen[0], batch["y"]) and torch.equal(seen[1], batch["y"])


def test_z_must_split_into_one_chunk_per_block():
    with pytest.raises(ConfigError, match="model.z_dim=10 must split into 4 equal chunks"):
        build(PRESET, [*BIG, "model.z_dim=10"])


def test_unlabelled_images_are_refused(tmp_path):
    import numpy as np

    x = np.random.default_rng(0).integers(0, 255, (64, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "unlabelled.npz", images=x)
    with pytest.raises(ConfigError, match="recipe=biggan .class-conditional. needs class labels"):
        build(PRESET, [*BIG, "data.name=images", f"data.root={tmp_path / 'unlabelled.npz'}"])
