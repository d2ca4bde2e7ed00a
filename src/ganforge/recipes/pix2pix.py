"""pix2pix (Isola et al., 2017): paired image-to-image translation with a conditional GAN.

    recipe = build(resolve(load_config("inpaint")), torch.device("cpu"))

G is a U-Net (``model.g_arch=unet``) with dropout as its noise; D a PatchGAN that sees the input and
the output together, cat(A, B) against cat(A, G(A)). The objective (eq. 4):

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),   lambda = ``l1_weight`` (100)

Phases per iteration: ``G`` (adversarial + lambda * L1, D frozen), then ``D`` on the real pair of a fresh
batch and the fake pair G just made (detached), its loss halved as in the paper. Paper settings (256 px,
ngf = ndf = 64, batch 1, instance-like batch norm, Adam 2e-4, beta1 0.5) are reachable through config:
``data.size=256 model.g_width=64 model.d_width=64 train.batch_size=1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge import losses
from ganforge.config import Config, choices, num
from ganforge.recipes import translation
from ganforge.recipes.base import Batch, Models, Phase, Recipe
from ganforge.recipes.common import linear_decay, make_optimizer
from ganforge.recipes.translation import batch_source, check_data, discriminator, generator

LOSSES = ("ns", "lsgan", "minimax", "hinge")
DATA = translation.DATA
optim_defaults = translation.optim_defaults
check_batch = translation.check_batch
class_conditional = translation.class_conditional


@dataclass
class Pix2PixLoss:
    """The conditional adversarial loss plus lambda * L1 (eq. 4)."""

    name: str = choices(*LOSSES, help="adversarial loss (ns in the paper)")
    l1_weight: float = num(100.0, min=0.0, help="weight lambda of the L1 loss ||B - G(A)||_1")


def sections(kind: str) -> tuple[type, type]:
    return translation.TranslatorModel, Pix2PixLoss


def resolve(cfg: Config) -> None:
    translation.resolve(cfg, g_arch="unet", norm="batch")


def build_models(cfg: Config) -> Models:
    c = cfg.data.channels
    return {"G": generator(cfg, c, c), "D": discriminator(cfg, 2 * c)}  # D sees cat(A, B): 2C channels


def validate(cfg: Config) -> None:
    check_data(cfg, unpaired=False)


def build(cfg: Config, device: torch.device) -> Recipe:
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    next_batch = batch_source(cfg, device, unpaired=False)
    kind, lam = cfg.loss.name, cfg.loss.l1_weight
    stash: dict[str, torch.Tensor] = {}  # the G phase's (A, G(A)), detached, for the D phase that follows

    def g_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        real_A, real_B = batch["A"], batch["B"]  # (B, C, S, S)
        fake_B = G(real_A)
        logits_fake = D(torch.cat([real_A, fake_B], 1))  # (B, 1, P, P): one logit per patch
        loss_gan = losses.g_loss(kind, logits_fake)
        loss_l1 = losses.l1(fake_B, real_B)  # eq. 3
        stash["A"], stash["fake"] = real_A, fake_B.detach()
        return loss_gan + lam * loss_l1, {"Loss/G": loss_gan.detach(), "Loss/G/l1": loss_l1.detach()}

    def d_step(models: Models, batch: Batch):
        D = models["D"]
        logits_real = D(torch.cat([batch["A"], batch["B"]], 1))
        logits_fake = D(torch.cat([stash["A"], stash["fake"]], 1))
        loss_D = losses.patch_d_loss(kind, logits_real, logits_fake)
        return loss_D, {"Loss/D": loss_D.detach(), "D/real": logits_real.detach().mean(),
                        "D/fake": logits_fake.detach().mean()}

    optimizers = {"G": make_optimizer(cfg, models["G"].parameters(), cfg.optim.lr_g),
                  "D": make_optimizer(cfg, models["D"].parameters(), cfg.optim.lr_d)}
    return Recipe(models=models, optimizers=optimizers, phases=[Phase("G", "G", g_step), Phase("D", "D", d_step)],
                  next_batch=next_batch, schedulers=linear_decay(cfg, optimizers))
