"""BigGAN (Brock et al., 2019) at CPU scale: the ``biggan`` recipe, class-conditional.

    cfg = resolve(load_config("biggan-fashion"))          # 32 px Fashion-MNIST, 10 classes
    recipe = build(cfg, torch.device("cpu"))

What makes it BigGAN rather than a conditional DCGAN (``nets/biggan.py`` has the networks):
- G is residual, with **class-conditional batch norm** in every block, its gains and biases computed from
  a **shared class embedding** concatenated with that block's chunk of z (**hierarchical latents**: z is
  split across the blocks, so the noise reaches every resolution);
- D is residual and conditioned by **projection** (Miyato & Koyama, 2018): ``linear(h) + <embed(c), h>``;
- **spectral norm** in G and D, the **hinge loss**, ``train.d_steps`` D updates per G update (2, the paper's);
- **orthogonal regularisation** of G (the paper's modified form, beta ||W W^T * (1 - I)||_F^2, beta 1e-4);
- ``G_ema`` for sampling, and the **truncation trick**: z drawn from a normal truncated at psi by resampling
  the entries beyond it (``ganforge sample --truncation PSI``, ``latent.truncated_normal``).

Phases per iteration: ``D`` (``d_steps`` times; the fakes get the real batch's labels) then ``G`` (labels drawn
uniformly). The paper's Adam has betas (0, 0.999) and D's learning rate 4x G's at 128 px; here both are 2e-4
(SNGAN's setting), measured at this scale in ``benchmarks/conditioning.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from ganforge import losses
from ganforge.config import Config, choices, num
from ganforge.errors import ConfigError
from ganforge.recipes import common
from ganforge.recipes.base import Batch, Models, Phase, Recipe

LOSSES = ("hinge", "ns", "lsgan")
DATA = ("images",)
SIZES = (28, 32, 64)


@dataclass
class BigGANModel:
    """BigGAN's residual networks: a shared class embedding, conditional batch norm, hierarchical z, projection D."""

    z_dim: int = num(120, min=1, max=8192, help="noise size; split into equal chunks, one per G block plus the "
                     "stem's (120: 30 each at 32 px, 3 blocks + stem)")
    shared_dim: int = num(128, min=1, max=8192, help="size of G's shared class embedding (concatenated with each "
                          "block's chunk of z to condition its batch norms)")
    g_width: int = num(32, min=1, max=8192, help="generator width: channels of its last block (doubling towards "
                       "the stem)")
    d_width: int = num(32, min=1, max=8192, help="discriminator width: channels of its first block (doubling)")
    num_classes: int | None = num(None, min=2, help="classes (null = from the data; filled in when training starts)")


@dataclass
class BigGANLoss:
    """The hinge loss with BigGAN's orthogonal regularisation of G."""

    name: str = choices(*LOSSES, help="adversarial loss (hinge, as BigGAN)")
    ortho: float = num(1e-4, min=0.0, help="orthogonal regularisation weight beta on G's weights (Brock et al. "
                       "2019, sec. 3.1: beta ||W W^T * (1 - I)||_F^2; 1e-4 as the paper; 0 = off)")


def check_batch(cfg: Config, batch: int, where: str = "train.batch_size") -> None:
    """G's conditional batch norm needs at least 2 samples per batch (per process under DDP)."""
    if batch < 2:
        raise ConfigError(f"{where} ({batch}) must be >= 2: G's class-conditional batch norm averages over the batch")


def sections(kind: str) -> tuple[type, type]:
    return BigGANModel, BigGANLoss


def class_conditional(cfg: Config) -> bool:
    """Always: BigGAN's G and D take a class label."""
    return True


def optim_defaults(cfg: Config) -> dict[str, Any]:
    """Adam betas (0, 0.999) as BigGAN, both learning rates 2e-4 (SNGAN), 2 D steps per G step."""
    return dict(name="adam", lr=2e-4, beta1=0.0, beta2=0.999, d_steps=2)


def resolve(cfg: Config) -> None:
    common.resolve_image_data(cfg.data, SIZES, "recipe=biggan", default_size=32)
    from ganforge.nets.biggan import z_chunks_for

    z_chunks = z_chunks_for(cfg.data.size)  # G's rule, asked before any network is built
    if cfg.model.z_dim % z_chunks:
        raise ConfigError(f"model.z_dim={cfg.model.z_dim} must split into {z_chunks} equal chunks at "
                          f"data.size={cfg.data.size} (one per generator block and the stem): e.g. "
                          f"model.z_dim={z_chunks * max(1, round(cfg.model.z_dim / z_chunks))}")
    check_batch(cfg, cfg.train.batch_size)


def validate(cfg: Config) -> None:
    """Reads the data once: ``data.channels``, the held-out split, and the class labels (``model.num_classes``)."""
    train = common.read_images(cfg)
    common.check_image_splits(cfg, train)
    common.fill_num_classes(cfg, train, "recipe=biggan (class-conditional)")


def build_models(cfg: Config) -> Models:
    """G (BigGANGenerator), D (BigGANDiscriminator) and G_ema when ``train.ema`` > 0, from a resolved config."""
    from ganforge.nets.biggan import BigGANDiscriminator, BigGANGenerator

    m, d = cfg.model, cfg.data
    if m.num_classes is None:
        raise ConfigError("model.num_classes is not set: validate the config against its data first")
    G = BigGANGenerator(z_dim=m.z_dim, size=d.size, channels=d.channels, ngf=m.g_width, num_classes=m.num_classes,
                        shared_dim=m.shared_dim)
    D = BigGANDiscriminator(size=d.size, channels=d.channels, ndf=m.d_width, num_classes=m.num_classes)
    models: Models = {"G": G, "D": D}
    if cfg.train.ema > 0:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    from ganforge.nets.biggan import orthogonal_penalty

    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D = models["G"], models["D"]
    data = common.read_images(cfg)
    next_batch, data_state = common.image_source(cfg, data, data.y, device)
    B, z_dim, kind, k = cfg.train.batch_size, cfg.model.z_dim, cfg.loss.name, cfg.model.num_classes
    beta = cfg.loss.ortho
    aug = common.augmenter(cfg)

    # The steps call the networks through ``models``: under DDP the loop passes the updated network's
    # wrapper there and the other network plain.
    def d_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        real, c = batch["x"], batch["y"]  # the fakes get the real batch's labels
        with torch.no_grad():
            fake = G(torch.randn(B, z_dim, device=device), c)  # (B, C, H, W), no graph into G
        logits_real, logits_fake = D(aug(real), c), D(aug(fake), c)
        loss_D = losses.d_loss(kind, logits_real, logits_fake)
        return loss_D, {"Loss/D": loss_D.detach(), "D/real": logits_real.detach().mean(),
                        "D/fake": logits_fake.detach().mean()}

    def g_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        c = torch.randint(k, (B,), device=device)  # (B,) every class equally often on average
        logits_fake = D(aug(G(torch.randn(B, z_dim, device=device), c)), c)
        loss_G = losses.g_loss(kind, logits_fake)
        logs = {"Loss/G": loss_G.detach()}
        if beta > 0:  # Brock et al. (2019), sec. 3.1: R_beta(W) = beta ||W^T W * (1 - I)||_F^2 over G's weights
            ortho = orthogonal_penalty(G)
            logs["Loss/G/ortho"] = ortho.detach()
            loss_G = loss_G + beta * ortho
        return loss_G, logs

    o = cfg.optim
    optimizers = {"D": common.make_optimizer(cfg, D.parameters(), o.lr_d),
                  "G": common.make_optimizer(cfg, G.parameters(), o.lr_g)}
    phases = [Phase("D", "D", d_step, repeats=cfg.train.d_steps), Phase("G", "G", g_step)]
    ema = {"G_ema": "G"} if "G_ema" in models else {}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch, data_state=data_state,
                  schedulers=common.linear_decay(cfg, optimizers), ema=ema, ema_decay=cfg.train.ema)
