"""The cyclegan recipe: one CPU training iteration per loss with tiny networks (both generators, then both
discriminators, on unpaired data), the image pools, and its config sections."""

import pytest
from recipe_checks import TRANSLATION, build, check_iteration, check_sections

from ganforge.recipes import cyclegan

PRESET = "cyclegan-digits"


def test_data_kinds():
    assert cyclegan.DATA == ("pairs",)


def test_sections():
    check_sections(cyclegan, "pairs", PRESET)


@pytest.mark.parametrize("loss", cyclegan.LOSSES)
def test_one_iteration(loss):
    cfg, _, recipe = build(PRESET, [*TRANSLATION, f"loss={loss}"])
    assert cfg.loss.name == loss
    counts = check_iteration(recipe, ["G", "D"])
    for key in ("Loss/F", "Loss/G/cycle", "Loss/D_A", "Loss/D_B"):
        assert counts[key] == 1, key
    assert ("Loss/G/identity" in counts) == (cfg.loss.identity_weight > 0)


def test_without_identity_or_pool():
    _, _, recipe = build(PRESET, [*TRANSLATION, "loss.identity_weight=0", "loss.pool=0"])
    counts = check_iteration(recipe, ["G", "D"])
    assert "Loss/G/identity" not in counts
