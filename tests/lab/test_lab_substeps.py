"""The lab's step-by-step mode (Goodfellow et al., Algorithm 1 split into sub-steps), without a browser.

The sub-steps must be honest: the display ones move no parameter, a D update moves D only,
a G update G only, and a whole cycle of sub-steps trains exactly as one ``train_iteration``.
"""

import math

import numpy as np
import pytest
import torch

from ganforge.lab.session import D_SUBSTEPS, G_SUBSTEPS, LabError, LabSession, decode_frame

SMALL = {"g_width": 16, "d_width": 16, "g_depth": 1, "d_depth": 1, "batch_size": 32}


def params(session: LabSession, name: str) -> list[torch.Tensor]:
    return [p.detach().clone() for p in session.recipe.models[name].parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("extra", [{}, {"loss": "wgan-gp", "d_steps": 2}, {"loss": "wgan", "d_steps": 2},
                                   {"z_dist": "uniform"}])
def test_a_cycle_of_substeps_trains_exactly_like_one_iteration(extra):
    a = LabSession({**SMALL, **extra})
    a.advance(1)
    a.advance(1)
    want = {n: params(a, n) for n in a.recipe.models}  # G, D and G_ema where the preset keeps one
    a.close()
    b = LabSession({**SMALL, **extra})  # built after a: the sessions share torch's global RNG, seeded by build()
    names = []
    for _ in range(2 * len(b.substeps())):
        h, _ = decode_frame(b.substep())
        names.append(h["substep"]["name"])
    k = extra.get("d_steps", b.cfg.train.d_steps)
    assert names == 2 * ([*D_SUBSTEPS] * k + [*G_SUBSTEPS])
    assert b.step == 2 and b.cycle == 0
    assert set(b.recipe.models) == set(want)
    for n in want:
        assert same(params(b, n), want[n]), f"{n} differs from two train_iteration calls"
    b.close()


def test_each_substep_moves_only_what_it_says():
    s = LabSession({**SMALL, "loss": "ns"})
    for name in [*D_SUBSTEPS, *G_SUBSTEPS]:
        g0, d0, step0 = params(s, "G"), params(s, "D"), s.step
        h, arrays = decode_frame(s.substep())
        sub = h["substep"]
        assert sub["name"] == name
        g_moved, d_moved = not same(params(s, "G"), g0), not same(params(s, "D"), d0)
        assert (g_moved, d_moved) == (name == "g_update", name == "d_update"), name
        assert s.step == step0 + (name == "g_update")
        if name == "noise":
            assert arrays["step_real"].shape == arrays["step_z"].shape == (2 * 32,)
        if name == "generate":
            assert arrays["step_fake"].shape == (2 * 32,)
        if name == "classify":
            assert 0 < sub["info"]["D_real"] < 1 and 0 < sub["info"]["D_fake"] < 1  # ns: probabilities
        if name == "g_grad":
            assert arrays["step_arrows"].shape == (2 * 32,) and np.isfinite(arrays["step_arrows"]).all()
    info = h["substep"]["info"]
    # what the display sub-steps computed is what the recipe's phases then trained on
    assert math.isclose(info["loss_D"], info["loss_D_update"], rel_tol=1e-5)
    assert math.isclose(info["loss_G"], info["loss_G_update"], rel_tol=1e-5)
    assert h["metrics"] and h["step"] == 1  # an iteration ended: metrics as after Step
    s.close()


def test_substep_by_name_runs_up_to_it_and_play_finishes_the_cycle():
    s = LabSession({**SMALL, "d_steps": 2})
    h, _ = decode_frame(s.substep("d_update"))
    assert h["substep"]["name"] == "d_update" and h["substep"]["round"] == 0 and s.cycle == 5
    h, _ = decode_frame(s.substep("d_update"))
    assert h["substep"]["round"] == 1 and s.cycle == 10 and s.step == 0
    with pytest.raises(LabError, match="unknown sub-step"):
        s.substep("no-such")
    h, _ = decode_frame(s.advance(1))  # Step in the middle: the half-done iteration is finished, and counts
    assert s.step == 1 and s.cycle == 0 and h["substep"] is None
    s.substep("classify")
    s.apply({"d_steps": 3})  # a live k change finishes the iteration with the old k first
    assert s.cycle == 0 and s.step == 2 and len(s.substeps()) == 3 * 5 + 4
    s.close()


def test_frame_reports_the_flow_and_fakes_off_the_plane():
    s = LabSession(SMALL)
    h, arrays = decode_frame(s.frame(False))
    flow = h["flow"]
    assert flow["z"]["dim"] == 2 and flow["k"] == s.cfg.train.d_steps and flow["loss"] == s.cfg.loss.name
    assert flow["fake"]["outside"] == 0 and flow["fake"]["n"] == 512
    fake = arrays["fake"].reshape(-1, 2)
    x = float(np.median(fake[:, 0]))
    s.bounds = (x, x + 100.0, -100.0, 100.0)  # half the fakes (left of the median) now lie off the plane
    h, _ = decode_frame(s.frame(False))
    assert h["flow"]["fake"]["outside"] == int((fake[:, 0] < x).sum())
    s.close()


def test_the_noise_choice_reaches_every_view_and_update():
    s = LabSession({**SMALL, "z_dist": "uniform"})
    assert s.cfg.model.z_dist == "uniform" and s.recipe.models["G"].z_dist == "uniform"
    assert s.z_view.abs().max() <= 1 and s.z_grid.abs().max() <= 1
    h, arrays = decode_frame(s.substep("noise"))
    assert h["flow"]["z"]["dist"] == "uniform" and np.abs(arrays["step_z"]).max() <= 1
    s.apply({"z_dist": "gaussian"})  # not live: a restart with Gaussian noise
    h, arrays = decode_frame(s.frame(True))
    assert s.cfg.model.z_dist == "gaussian" and h["flow"]["z"]["dist"] == "gaussian" and s.z_view.abs().max() > 1
    s.close()
