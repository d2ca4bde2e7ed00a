"""The pix2pix recipe: one CPU training iteration per loss with tiny networks (G then D on paired data),
and its config sections."""

import pytest
from recipe_checks import TRANSLATION, build, check_iteration, check_sections

from ganforge.recipes import pix2pix

PRESET = "inpaint"


def test_data_kinds():
    assert pix2pix.DATA == ("pairs",)


def test_sections():
    check_sections(pix2pix, "pairs", PRESET)


@pytest.mark.parametrize("loss", pix2pix.LOSSES)
def test_one_iteration(loss):
    cfg, _, recipe = build(PRESET, [*TRANSLATION, f"loss={loss}"])
    assert cfg.loss.name == loss
    counts = check_iteration(recipe, ["G", "D"])
    assert counts["Loss/G/l1"] == 1
