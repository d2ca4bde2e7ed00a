"""Text-to-image synthesis (Reed et al., 2016): the ``text2image`` recipe, GAN-CLS + GAN-INT on captioned images.

    cfg = resolve(load_config("text2image-digits"))       # captioned MNIST digits at 32 px
    recipe = build(cfg, torch.device("cpu"))

A frozen sentence encoder (``nets/text.py``; the shipped one, trained by ``scripts/train_text_encoder.py``,
or ``model.text_encoder=PATH``) embeds every training caption once; G and D (``nets/text2image.py``) are
DCGAN's networks with the compressed embedding concatenated to z in G and to D's last feature map.
The encoder is kept in the run as the model ``T`` (no optimiser), so a run folder samples from text alone.

Phases per iteration (``D_r1`` between ``D`` and ``G`` every ``train.r1_every`` iterations: R1 on real images
with their own captions, ``loss.r1_gamma``):
- ``D`` (**GAN-CLS**, the matching-aware discriminator): a real image with its own caption counts as real;
  a real image with another image's caption and a fake with its caption count as fake, the two fake terms
  weighted 1/2 each (Reed et al., Algorithm 1);
- ``G``: fool D on the batch's captions; with **GAN-INT** (``loss.interp`` > 0) the second half of the
  batch is conditioned on interpolations ``beta e1 + (1 - beta) e2`` of two captions' embeddings (beta =
  0.5 as the paper), which fills the embedding space between captions; with StackGAN's **conditioning
  augmentation** (``model.ca``) G adds ``loss.kl`` times the KL term of its conditioning Gaussian.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from ganforge import dist, losses
from ganforge.config import Config, choices, flag, num, text
from ganforge.errors import ConfigError, DataError
from ganforge.pixels import to_signed
from ganforge.recipes import common
from ganforge.recipes.base import Batch, Models, Phase, Recipe

LOSSES = ("ns", "hinge", "lsgan")
DATA = ("images",)
SIZES = (28, 32, 64)


@dataclass
class TextToImageModel:
    """DCGAN conditioned on a sentence embedding (Reed et al., 2016)."""

    z_dim: int = num(100, min=1, max=65536, help="noise size")
    g_width: int = num(32, min=1, max=65536, help="generator width (ngf)")
    d_width: int = num(32, min=1, max=65536, help="discriminator width (ndf)")
    proj_dim: int = num(64, min=1, max=4096, help="size the sentence embedding is compressed to in G and in D")
    d_projection: bool = flag(True, help="D also scores <V e, pooled features> (a projection discriminator's "
                                          "term with the sentence for the class; Miyato & Koyama, 2018)")
    mbstd: int = num(0, min=0, help="minibatch-std group size in D (0 = off): D sees the batch's variety")
    ca: bool = flag(False, help="StackGAN's conditioning augmentation: G draws its condition from N(mu(e), "
                                "sigma(e)^2) with a KL penalty (loss.kl)")
    text_encoder: str = text("", help="the sentence encoder: '' = the shipped one (captioned digits), or a .pt "
                                      "file written by scripts/train_text_encoder.py")


@dataclass
class TextToImageLoss:
    """The adversarial loss with the matching-aware discriminator and GAN-INT."""

    name: str = choices(*LOSSES, help="adversarial loss")
    cls: bool = flag(True, help="GAN-CLS: D also learns that a real image with a mismatched caption is fake")
    interp: float = num(0.5, min=0.0, max=1.0, help="GAN-INT: share of G's batch conditioned on interpolated "
                        "embeddings (0 = off)")
    beta: float = num(0.5, min=0.0, max=1.0, help="GAN-INT: the interpolation weight beta (0.5 as the paper)")
    kl: float = num(1.0, min=0.0, help="model.ca: weight of the conditioning augmentation's KL term")
    r1_gamma: float = num(3.0, min=0.0, help="R1 penalty weight gamma on real images with their captions "
                          "(Mescheder et al. 2018; every train.r1_every steps; 0 = off): without it, long runs "
                          "collapse onto one image per caption (docs/text2image.md)")


def sections(kind: str) -> tuple[type, type]:
    return TextToImageModel, TextToImageLoss


def class_conditional(cfg: Config) -> bool:
    """No: the condition is a sentence (``ganforge sample --text``), not a class."""
    return False


def check_batch(cfg: Config, batch: int, where: str = "train.batch_size") -> None:
    if batch < 2:
        raise ConfigError(f"{where} ({batch}) must be >= 2: GAN-CLS pairs each image with another's caption")
    if cfg.model.mbstd and batch % min(cfg.model.mbstd, batch):
        raise ConfigError(f"model.mbstd group size ({cfg.model.mbstd}) must divide {where} ({batch})")


def optim_defaults(cfg: Config) -> dict[str, Any]:
    """Adam 2e-4 (0.5, 0.999), one D step: Reed et al.'s DCGAN settings."""
    return dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1)


def resolve(cfg: Config) -> None:
    common.resolve_image_data(cfg.data, SIZES, "recipe=text2image", default_size=32)
    check_batch(cfg, cfg.train.batch_size)


def load_encoder(cfg: Config):
    from ganforge.nets.text import load_text_encoder

    return load_text_encoder(cfg.model.text_encoder or None)


def validate(cfg: Config) -> None:
    """The data must have captions (``captioned-digits``, or a folder with ``captions.jsonl`` / ``.txt`` files);
    the text encoder must load."""
    train = common.read_images(cfg)
    common.check_image_splits(cfg, train)
    if train.captions is None:
        raise DataError(f"recipe=text2image needs captions, and {common.data_where(cfg)} has none: use "
                        "data.name=captioned-digits, or put a captions.jsonl (or a .txt per image) in the folder")
    load_encoder(cfg)


def build_models(cfg: Config) -> Models:
    """G, D, the frozen text encoder T and G_ema when ``train.ema`` > 0."""
    from ganforge.nets.text2image import TextToImageDiscriminator, TextToImageGenerator

    m, d = cfg.model, cfg.data
    T = load_encoder(cfg)
    G = TextToImageGenerator(m.z_dim, T.dim, m.proj_dim, d.size, d.channels, m.g_width, ca=m.ca)
    D = TextToImageDiscriminator(T.dim, m.proj_dim, d.size, d.channels, m.d_width, projection=m.d_projection,
                                 mbstd=m.mbstd)
    models: Models = {"G": G, "D": D, "T": T}
    if cfg.train.ema > 0:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def caption_embeddings(T: torch.nn.Module, captions: list[list[str]], batch: int = 1024
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(embeddings (M, dim) of every caption, first (N,) index of each image's captions, count (N,))."""
    flat = [c for caps in captions for c in caps]
    with torch.no_grad():
        emb = torch.cat([T.encode(flat[i:i + batch]) for i in range(0, len(flat), batch)])
    count = torch.tensor([len(c) for c in captions])
    first = torch.cumsum(count, 0) - count
    return emb, first, count


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D, T = models["G"], models["D"], models["T"]
    data = common.read_images(cfg)
    if data.cache is not None:
        raise ConfigError("recipe=text2image reads its images into memory (data.stream=false)")
    emb, first, count = (t.to(device) for t in caption_embeddings(T, data.captions))
    images = data.x.to(device)
    N = len(images)
    B, z_dim, kind = cfg.train.batch_size, cfg.model.z_dim, cfg.loss.name
    n_int = int(round(cfg.loss.interp * B)) if cfg.loss.interp > 0 else 0
    beta, use_cls, kl_w = cfg.loss.beta, cfg.loss.cls, cfg.loss.kl if cfg.model.ca else 0.0
    aug = common.augmenter(cfg)

    def caption_of(idx: torch.Tensor) -> torch.Tensor:
        """One caption embedding per image index, drawn among its captions (global RNG)."""
        pick = (torch.rand(len(idx), device=device) * count[idx]).long()
        return emb[first[idx] + pick]  # (B, dim)

    def next_batch() -> Batch:
        idx = torch.randint(N, (B,), device=device)
        return {"x": to_signed(images[idx]), "e": caption_of(idx), "e_wrong": caption_of(idx.roll(1))}

    def d_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        real, e = batch["x"], batch["e"]
        with torch.no_grad():
            fake = G(torch.randn(B, z_dim, device=device), e)
        s_real, s_fake = D(aug(real), e), D(aug(fake), e)
        logs = {"D/real": s_real.detach().mean(), "D/fake": s_fake.detach().mean()}
        if use_cls:  # Reed et al.: L_D = log s_r + (log(1 - s_w) + log(1 - s_f)) / 2
            s_wrong = D(aug(real), batch["e_wrong"])
            loss_D = (losses.d_loss(kind, s_real, s_wrong) + losses.d_loss(kind, s_real, s_fake)) / 2
            logs["D/wrong"] = s_wrong.detach().mean()
        else:
            loss_D = losses.d_loss(kind, s_real, s_fake)
        logs["Loss/D"] = loss_D.detach()
        return loss_D, logs

    def g_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        e = batch["e"]
        if n_int:  # GAN-INT: the last n_int conditions interpolate two captions of the batch
            e = torch.cat([e[:B - n_int], beta * e[B - n_int:] + (1 - beta) * batch["e_wrong"][B - n_int:]])
        loss_G = losses.g_loss(kind, D(aug(G(torch.randn(B, z_dim, device=device), e)), e))
        logs = {"Loss/G": loss_G.detach()}
        if kl_w > 0:
            kl = dist.unwrap(G).kl()  # of this forward (under DDP G is the wrapper)
            logs["Loss/G/kl"] = kl.detach()
            loss_G = loss_G + kl_w * kl
        return loss_G, logs

    o = cfg.optim
    optimizers = {"D": common.make_optimizer(cfg, D.parameters(), o.lr_d, common.r1_every(cfg)),
                  "G": common.make_optimizer(cfg, G.parameters(), o.lr_g)}
    phases = [Phase("D", "D", d_step, repeats=cfg.train.d_steps),
              *common.r1_phases(cfg, lambda models, batch: lambda x: models["D"](aug(x), batch["e"])),
              Phase("G", "G", g_step)]
    ema = {"G_ema": "G"} if "G_ema" in models else {}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch, ema=ema,
                  ema_decay=cfg.train.ema, schedulers=common.linear_decay(cfg, optimizers))
