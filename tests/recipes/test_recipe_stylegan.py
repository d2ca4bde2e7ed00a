"""The stylegan recipe: one CPU training iteration per loss with tiny 16 px networks (D, lazy R1, G), and its
config sections."""

import pytest
from recipe_checks import STYLE, build, check_iteration, check_sections

from ganforge.recipes import stylegan

PRESET = "stylegan-mnist"


def test_data_kinds():
    assert stylegan.DATA == ("images",)


def test_sections():
    check_sections(stylegan, "images", PRESET)


@pytest.mark.parametrize("loss", stylegan.LOSSES)
def test_one_iteration(loss):
    cfg, _, recipe = build(PRESET, [*STYLE, f"loss={loss}"])
    assert cfg.loss.name == loss and cfg.data.size == 16
    phases = ["D", "D_r1", "G"] if cfg.loss.r1_gamma > 0 else ["D", "G"]
    G = recipe.models["G"]
    w_avg = G.w_avg.clone()
    check_iteration(recipe, phases)
    assert not G.w_avg.equal(w_avg)  # the G phase updates the running mean of w (for truncation)


def test_without_r1():
    _, _, recipe = build(PRESET, [*STYLE, "loss.r1_gamma=0"])
    check_iteration(recipe, ["D", "G"])
