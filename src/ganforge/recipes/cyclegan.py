"""CycleGAN (Zhu et al., 2017): unpaired image-to-image translation with cycle consistency.

    recipe = build(resolve(load_config("cyclegan-digits")), torch.device("cpu"))

Two generators, G: A -> B and F: B -> A (ResNet by default), and two PatchGAN discriminators, D_A (real A
vs F(b)) and D_B (real B vs G(a)). The objective (eq. 3, plus the identity term of sec. 5.2):

    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda * (||F(G(a)) - a||_1 + ||G(F(b)) - b||_1)
        + identity_weight * lambda * (||G(b) - b||_1 + ||F(a) - a||_1)

with the least-squares GAN loss (``loss=lsgan``), lambda = ``loss.cycle_weight`` (10), identity_weight 0.5.
Names: the paper's X, Y are our A, B; its D_X, D_Y our D_A, D_B.

As in the paper's code, one optimiser updates G and F together and one updates D_A and D_B: the models
are ``"G"`` = :class:`GeneratorPair` (G and F) and ``"D"`` = :class:`DiscriminatorPair` (D_A and D_B),
each one module whose forward computes everything a phase needs (so DDP sees every parameter used).
Phases per iteration: ``G`` then ``D``, D seeing real images and fakes from a history pool of
``loss.pool`` (50) generated images per domain. ``optim.decay=linear`` gives the constant-then-linear
schedule. The pool lives in the recipe's ``extra_state`` and so survives a resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganforge import losses
from ganforge.config import Config, choices, num
from ganforge.recipes import translation
from ganforge.recipes.base import Batch, Models, Phase, Recipe
from ganforge.recipes.common import linear_decay, make_optimizer
from ganforge.recipes.translation import ImagePool, batch_source, check_data, discriminator, generator

LOSSES = ("lsgan", "ns", "minimax", "hinge")
DATA = translation.DATA
optim_defaults = translation.optim_defaults
check_batch = translation.check_batch
class_conditional = translation.class_conditional


@dataclass
class CycleGANLoss:
    """The adversarial losses of both directions, cycle consistency and identity (eq. 3 and sec. 5.2)."""

    name: str = choices(*LOSSES, help="adversarial loss (lsgan in the paper)")
    cycle_weight: float = num(10.0, min=0.0, help="weight lambda of the cycle-consistency loss")
    identity_weight: float = num(0.5, min=0.0, help="identity loss weight as a fraction of cycle_weight (0.5 = "
                                 "0.5 * lambda; 0 = off)")
    pool: int = num(50, min=0, help="history of generated images the discriminators also see (Shrivastava et "
                    "al.; 0 = off)")


def sections(kind: str) -> tuple[type, type]:
    return translation.TranslatorModel, CycleGANLoss


def resolve(cfg: Config) -> None:
    translation.resolve(cfg, g_arch="resnet", norm="instance")


class GeneratorPair(nn.Module):
    """G: A -> B and F: B -> A. ``forward(real_A, real_B)`` computes the fakes, the cycles and (with
    ``identity``) the identity mappings of one generator step."""

    def __init__(self, G: nn.Module, F: nn.Module) -> None:
        super().__init__()
        self.G, self.F = G, F

    def forward(self, real_A: torch.Tensor, real_B: torch.Tensor, identity: bool = True) -> dict[str, torch.Tensor]:
        fake_B, fake_A = self.G(real_A), self.F(real_B)  # (B, C, S, S) each
        out = {"fake_B": fake_B, "fake_A": fake_A, "rec_A": self.F(fake_B), "rec_B": self.G(fake_A)}
        if identity:
            out["idt_B"], out["idt_A"] = self.G(real_B), self.F(real_A)  # G should leave a B image alone
        return out


class DiscriminatorPair(nn.Module):
    """D_A judges domain A, D_B domain B: ``forward(x_A, x_B) -> (logits_A, logits_B)``."""

    def __init__(self, D_A: nn.Module, D_B: nn.Module) -> None:
        super().__init__()
        self.D_A, self.D_B = D_A, D_B

    def forward(self, x_A: torch.Tensor, x_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.D_A(x_A), self.D_B(x_B)


def build_models(cfg: Config) -> Models:
    c = cfg.data.channels
    return {"G": GeneratorPair(generator(cfg, c, c), generator(cfg, c, c)),
            "D": DiscriminatorPair(discriminator(cfg, c), discriminator(cfg, c))}


def validate(cfg: Config) -> None:
    check_data(cfg, unpaired=True)


def build(cfg: Config, device: torch.device) -> Recipe:
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    next_batch = batch_source(cfg, device, unpaired=True)
    kind, lam, idt = cfg.loss.name, cfg.loss.cycle_weight, cfg.loss.identity_weight
    c, S = cfg.data.channels, cfg.data.size
    extra: dict[str, torch.Tensor] = {}
    pool_A = ImagePool(extra, "pool_A", cfg.loss.pool, (c, S, S), device)  # past F(b): D_A's fakes
    pool_B = ImagePool(extra, "pool_B", cfg.loss.pool, (c, S, S), device)  # past G(a): D_B's fakes
    stash: dict[str, torch.Tensor] = {}  # the G phase's fakes, detached, for the D phase that follows

    def g_step(models: Models, batch: Batch):
        real_A, real_B = batch["A"], batch["B"]
        out = models["G"](real_A, real_B, identity=idt > 0)
        logits_A, logits_B = models["D"](out["fake_A"], out["fake_B"])  # D frozen in this phase
        loss_gan_G, loss_gan_F = losses.g_loss(kind, logits_B), losses.g_loss(kind, logits_A)
        loss_cycle = losses.cycle_loss(real_A, out["rec_A"], real_B, out["rec_B"])
        loss = loss_gan_G + loss_gan_F + lam * loss_cycle
        logs = {"Loss/G": loss_gan_G.detach(), "Loss/F": loss_gan_F.detach(), "Loss/G/cycle": loss_cycle.detach()}
        if idt > 0:
            loss_idt = losses.identity_loss(real_A, out["idt_A"], real_B, out["idt_B"])
            loss = loss + idt * lam * loss_idt
            logs["Loss/G/identity"] = loss_idt.detach()
        stash["fake_A"], stash["fake_B"] = out["fake_A"].detach(), out["fake_B"].detach()
        return loss, logs

    def d_step(models: Models, batch: Batch):
        fake_A, fake_B = pool_A.query(stash["fake_A"]), pool_B.query(stash["fake_B"])
        real_A_logits, real_B_logits = models["D"](batch["A"], batch["B"])
        fake_A_logits, fake_B_logits = models["D"](fake_A, fake_B)
        loss_D_A = losses.patch_d_loss(kind, real_A_logits, fake_A_logits)
        loss_D_B = losses.patch_d_loss(kind, real_B_logits, fake_B_logits)
        return loss_D_A + loss_D_B, {
            "Loss/D": (loss_D_A + loss_D_B).detach(), "Loss/D_A": loss_D_A.detach(), "Loss/D_B": loss_D_B.detach(),
            "D/real": 0.5 * (real_A_logits.detach().mean() + real_B_logits.detach().mean()),
            "D/fake": 0.5 * (fake_A_logits.detach().mean() + fake_B_logits.detach().mean())}

    optimizers = {"G": make_optimizer(cfg, models["G"].parameters(), cfg.optim.lr_g),
                  "D": make_optimizer(cfg, models["D"].parameters(), cfg.optim.lr_d)}
    return Recipe(models=models, optimizers=optimizers, phases=[Phase("G", "G", g_step), Phase("D", "D", d_step)],
                  next_batch=next_batch, schedulers=linear_decay(cfg, optimizers), extra_state=extra)
