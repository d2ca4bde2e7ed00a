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
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganforge import dist, losses
from ganforge.config import Config, choices, num
from ganforge.errors import ConfigError
from ganforge.recipes import common
from ganforge.recipes.base import Batch, Models, Phase, Recipe

W_AVG_BETA = 0.995  # w_avg <- lerp(mean w of the batch, w_avg, beta), as stylegan2-ada-pytorch
LOSSES = ("ns", "minimax", "hinge", "lsgan")  # R1 regularises D
DATA = ("images",)
SIZES = (8, 16, 32, 64, 128, 256)  # powers of two: a 4x4 constant input, doubling


@dataclass
class StyleGANModel:
    """The style-based generator (mapping network, styles, noise inputs) and its residual discriminator."""

    z_dim: int | None = num(None, min=1, max=8192, help="noise size (null = model.w_dim)")
    w_dim: int = num(128, min=1, max=8192, help="size of the intermediate latent w (and the mapping network's width)")
    map_layers: int = num(8, min=1, max=64, help="fully connected layers of the mapping network z -> w")
    style: str = choices("adain", "modulated", help="how w enters each layer: AdaIN (StyleGAN) or "
                         "modulated/demodulated convolutions (StyleGAN2)")
    mixing: float = num(0.9, min=0.0, max=1.0, help="probability that a generated training image mixes the styles "
                        "of two z at a random crossover layer (style-mixing regularisation)")
    mbstd: int = num(0, min=0, help="minibatch-std group size in D (0 = off)")
    g_width: int = num(64, min=1, max=8192, help="generator width: channels of its highest-resolution layer")
    d_width: int = num(64, min=1, max=8192, help="discriminator width: channels of its first layer")


@dataclass
class StyleGANLoss:
    """The non-saturating loss with R1, as StyleGAN2."""

    name: str = choices(*LOSSES, help="adversarial loss")
    r1_gamma: float = num(10.0, min=0.0, help="R1 penalty weight gamma on real images (Mescheder et al. 2018; "
                          "gamma/2 E||grad D(real)||^2, every train.r1_every steps; 10 as StyleGAN2 on FFHQ: "
                          "digits collapsed with <= 1; 0 = off)")


check_batch = common.check_batch  # mbstd groups must divide D's batch


def sections(kind: str) -> tuple[type, type]:
    return StyleGANModel, StyleGANLoss


def class_conditional(cfg: Config) -> bool:
    """Never: this StyleGAN is unconditional."""
    return False


def optim_defaults(cfg: Config) -> dict[str, Any]:
    """Karras et al. (2020): Adam 0.002, betas (0, 0.99), equalised learning rate."""
    return dict(name="adam", lr=2e-3, beta1=0.0, beta2=0.99, d_steps=1)


def resolve(cfg: Config) -> None:
    common.resolve_image_data(cfg.data, SIZES, "recipe=stylegan", default_size=32)
    if cfg.model.z_dim is None:
        cfg.model.z_dim = cfg.model.w_dim
    if cfg.train.d_steps != 1:
        raise ConfigError(f"recipe=stylegan runs one D step per G step, got train.d_steps={cfg.train.d_steps}")
    common.check_batch(cfg, cfg.train.batch_size)


def build_models(cfg: Config) -> Models:
    """G (StyleGenerator), D (StyleDiscriminator) and G_ema when ``train.ema`` > 0, from a resolved config."""
    from ganforge.nets.stylegan import StyleDiscriminator, StyleGenerator

    m, d = cfg.model, cfg.data
    G = StyleGenerator(z_dim=m.z_dim, w_dim=m.w_dim, size=d.size, channels=d.channels, ngf=m.g_width,
                       map_layers=m.map_layers, style=m.style)
    D = StyleDiscriminator(size=d.size, channels=d.channels, ndf=m.d_width, mbstd=m.mbstd)
    models: Models = {"G": G, "D": D}
    if cfg.train.ema > 0:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def validate(cfg: Config) -> None:
    """Reads the data once (``data.channels``); a clear error for data that cannot be read, or too little of it
    for training and the final evaluation (``common.check_image_splits``)."""
    common.check_image_splits(cfg, common.read_images(cfg))


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D = models["G"], models["D"]
    next_batch, data_state = common.image_source(cfg, common.read_images(cfg), None, device)
    B, z_dim, kind, num_ws = cfg.train.batch_size, cfg.model.z_dim, cfg.loss.name, G.num_ws
    mixing = cfg.model.mixing
    aug = common.augmenter(cfg)

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
    optimizers = {"G": common.make_optimizer(cfg, G.parameters(), o.lr_g),
                  "D": common.make_optimizer(cfg, D.parameters(), o.lr_d, common.r1_every(cfg))}
    phases = [Phase("D", "D", d_step), *common.r1_phases(cfg, lambda models, batch: lambda x: models["D"](aug(x)))]
    phases.append(Phase("G", "G", g_step))
    ema = {"G_ema": "G"} if "G_ema" in models else {}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch, data_state=data_state,
                  schedulers=common.linear_decay(cfg, optimizers), ema=ema, ema_decay=cfg.train.ema)
