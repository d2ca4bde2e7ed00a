"""The gan recipe (GAN, DCGAN, WGAN, WGAN-GP, hinge, LSGAN): one CPU training iteration per loss and kind of
data with tiny networks, its config sections, WGAN's weight clipping and k = train.d_steps critic steps."""

import pytest
import torch
from recipe_checks import IMAGES, TOY, build, check_iteration, check_sections

from ganforge.recipes import gan

KINDS = {"toy": ("ring8", TOY), "images": ("dcgan-paper", IMAGES)}  # one preset per kind in gan.DATA


def test_data_kinds_are_covered():
    assert set(KINDS) == set(gan.DATA)


@pytest.mark.parametrize("kind", gan.DATA)
def test_sections(kind):
    check_sections(gan, kind, KINDS[kind][0])


@pytest.mark.parametrize("loss", gan.LOSSES)
@pytest.mark.parametrize("kind", gan.DATA)
def test_one_iteration(kind, loss):
    preset, tiny = KINDS[kind]
    cfg, _, recipe = build(preset, [*tiny, f"loss={loss}"])
    assert cfg.loss.name == loss
    counts = check_iteration(recipe, ["D", "G"])
    assert counts["Loss/D"] == cfg.train.d_steps == gan.LOSS_DEFAULTS[loss]["d_steps"]
    assert ("Loss/D/gp" in counts) == (loss == "wgan-gp")


@pytest.mark.parametrize("kind", gan.DATA)
def test_r1_phase(kind):
    preset, tiny = KINDS[kind]
    _, _, recipe = build(preset, [*tiny, "loss.r1_gamma=1"])
    check_iteration(recipe, ["D", "D_r1", "G"])


@pytest.mark.parametrize("clip", [0.01, 0.003])
@pytest.mark.parametrize("kind", gan.DATA)
def test_wgan_clips_the_critic(kind, clip):
    preset, tiny = KINDS[kind]
    cfg, _, recipe = build(preset, [*tiny, "loss=wgan", f"loss.clip={clip}"])
    D = recipe.models["D"]
    assert max(p.abs().max().item() for p in D.parameters()) > clip  # so the clipping has something to do
    check_iteration(recipe, ["D", "G"])
    c = torch.tensor(clip)  # float32, as the weights (0.003 in float32 is a little above the float64 0.003)
    for name, p in D.named_parameters():
        assert p.abs().max() <= c, name
    assert any(p.abs().max() == c for p in D.parameters())  # some weight sits on the bound


@pytest.mark.parametrize("kind", gan.DATA)
def test_d_steps(kind):
    preset, tiny = KINDS[kind]
    cfg, _, recipe = build(preset, [*tiny, "loss=ns", "train.d_steps=3"])
    assert cfg.train.d_steps == 3 and recipe.phases[0].repeats == 3
    counts = check_iteration(recipe, ["D", "G"])
    assert counts["Loss/D"] == counts["D/real"] == counts["D/fake"] == 3
    assert counts["Loss/G"] == 1
    assert counts["Grad/D"] == counts["Grad/G"] == 1  # the gradient norm: the last repeat only


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
def test_g_trains_and_samples_on_the_chosen_noise(dist):
    from ganforge.sample import make_sampler

    cfg, _, recipe = build("ring8", [*TOY, f"model.z_dist={dist}"])
    seen: list[torch.Tensor] = []
    recipe.models["G"].register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    check_iteration(recipe, ["D", "G"])
    model = make_sampler(cfg, recipe.models, recipe.extra_state, torch.device("cpu"))
    model.G.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    model.sample(2000, seed=1)
    z = torch.cat(seen)
    assert len(z) >= 2000 + cfg.train.batch_size
    if dist == "uniform":  # U[-1, 1]: bounded, sd 1/sqrt(3)
        assert z.abs().max() <= 1 and z.abs().max() > 0.95 and abs(float(z.std()) - 3 ** -0.5) < 0.05
    else:
        assert z.abs().max() > 2.5 and abs(float(z.std()) - 1) < 0.1


def test_an_unknown_noise_distribution_names_the_key():
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match="model.z_dist"):
        build("ring8", [*TOY, "model.z_dist=cauchy"])
