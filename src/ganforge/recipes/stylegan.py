"""StyleGAN (Karras et al., 2019) trained as in StyleGAN2 (Karras et al., 2020): the ``stylegan`` recipe.

    cfg = resolve(load_config("stylegan-mnist"))          # 32 px digits, CPU-sized
    recipe = build(cfg, torch.device("cpu"))

Phases per iteration (stylegan2-ada-pytorch's phase list):
- ``D``: the non-saturating loss on a real and a generated batch (``loss``; ns by default).
- ``D_r1``: every ``train.r1_every`` iterations, lazy R1 on real images (Mescheder et al., 2018):
  ``gamma / 2 * E||grad_x D(x)||^2``, multiplied by the interval so its average weight is unchanged.
- ``G``: the non-saturating loss on generated images; the running mean ``G.w_avg`` of w is updated here
  (it is a buffer, so ``G_ema`` copies it and checkpoints keep it).

Generated images in both D and G phases use style mixing with probability ``model.mixing``: two z,
the second's w taking over from a random crossover layer, so neighbouring styles cannot rely on each
other (the paper's mixing regularisation). D has minibatch std (``model.mbstd``). With lazy
regularisation D's Adam gets lr * c and betas ** c, c = r1_every / (r1_every + 1), as in the paper.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganforge import dist, losses
from ganforge.config import Config, is_image
from ganforge.errors import ConfigError
from ganforge.recipes import gan
from ganforge.recipes.base import Batch, Models, Phase, Recipe

W_AVG_BETA = 0.995  # w_avg <- lerp(mean w of the batch, w_avg, beta), as stylegan2-ada-pytorch
LOSSES = ("ns", "minimax", "hinge", "lsgan")


def build_models(cfg: Config) -> Models:
    """G (StyleGenerator), D (StyleDiscriminator) and G_ema when ``train.ema`` > 0, from a resolved config."""
    from ganforge.nets.stylegan import StyleDiscriminator, StyleGenerator

    m, d = cfg.model, cfg.data
    G = StyleGenerator(z_dim=m.z_dim, w_dim=m.w_dim, size=d.size, channels=d.channels, ngf=m.ngf,
                       map_layers=m.map_layers, style=m.style)
    D = StyleDiscriminator(size=d.size, channels=d.channels, ndf=m.ndf, mbstd=m.mbstd)
    models: Models = {"G": G, "D": D}
    if cfg.train.ema > 0:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def validate(cfg: Config) -> None:
    """Clear errors for settings the StyleGAN recipe does not take; reads the data once (``data.channels``)."""
    if not is_image(cfg):
        raise ConfigError(f"recipe=stylegan trains on image data; data.name={cfg.data.name!r} is a 2-D distribution")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"recipe=stylegan takes loss in {', '.join(LOSSES)} (R1 regularises D), got "
                          f"loss={cfg.loss!r}")
    m = cfg.model
    for key, on in (("model.cond", m.cond != "none"), ("model.codes", m.codes > 0),
                    ("model.clusters", m.clusters > 0)):
        if on:
            raise ConfigError(f"recipe=stylegan is unconditional; {key} is not supported (use recipe=gan)")
    if cfg.train.d_steps != 1:
        raise ConfigError(f"recipe=stylegan runs one D step per G step, got train.d_steps={cfg.train.d_steps}")
    gan.validate(cfg)  # data readable, data.channels, mbstd divides the batch


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D = models["G"], models["D"]
    next_batch, extra = gan._batch_source(cfg, device)
    B, z_dim, kind, num_ws = cfg.train.batch_size, cfg.model.z_dim, cfg.loss, G.num_ws
    mixing = cfg.model.mixing
    aug = gan.augmenter(cfg)

    def fake_batch(G: nn.Module, return_ws: bool = False):
        """G(z), with probability ``mixing`` per sample mixing in a second z from a random crossover layer."""
        z = torch.randn(B, z_dim, device=device)
        if mixing > 0:
            z2 = torch.randn(B, z_dim, device=device)
            cut = torch.randint(1, num_ws, (B,), device=device)  # crossover layer in 1 .. num_ws - 1
            cut = torch.where(torch.rand(B, device=device) < mixing, cut, torch.full_like(cut, num_ws))
            return G(z, mix_z=z2, mix_layer=cut, return_ws=return_ws)
        return G(z, return_ws=return_ws)

    # The steps call the networks through ``models``: under DDP the loop passes the updated network's
    # wrapper there and the other network plain.
    def d_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        real = batch["x"]
        with torch.no_grad():
            fake = fake_batch(G)  # (B, C, H, W), no graph into G
        logits_real, logits_fake = D(aug(real)), D(aug(fake))  # separate passes keep mbstd groups unmixed
        loss_D = losses.d_loss(kind, logits_real, logits_fake)
        return loss_D, {"Loss/D": loss_D.detach(), "D/real": logits_real.detach().mean(),
                        "D/fake": logits_fake.detach().mean()}

    def g_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        fake, ws = fake_batch(G, return_ws=True)
        with torch.no_grad():  # the running mean of w, for truncation (on the plain module: a buffer of G)
            w_avg = dist.unwrap(models["G"]).w_avg
            w_avg.copy_(ws[:, 0].detach().float().mean(0).lerp(w_avg, W_AVG_BETA))
        logits_fake = D(aug(fake))
        loss_G = losses.g_loss(kind, logits_fake)
        return loss_G, {"Loss/G": loss_G.detach()}

    o = cfg.optim
    optimizers = {"G": gan.make_optimizer(cfg, G.parameters(), o.lr_g),
                  "D": gan.make_optimizer(cfg, D.parameters(), o.lr_d, gan.r1_every(cfg))}
    phases = [Phase("D", "D", d_step), *gan.r1_phases(cfg, lambda models, batch: lambda x: models["D"](aug(x)))]
    phases.append(Phase("G", "G", g_step))
    ema = {"G_ema": "G"} if "G_ema" in models else {}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch,
                  schedulers=gan.linear_decay(cfg, optimizers), extra_state=extra, ema=ema, ema_decay=cfg.train.ema)
