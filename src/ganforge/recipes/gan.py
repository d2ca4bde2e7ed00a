"""The original GAN family on 2-D data: minimax / non-saturating / WGAN / WGAN-GP / hinge / LSGAN.

    recipe = build(resolve(load_config("ring8")), torch.device("cpu"))

Phases per iteration: ``D`` runs ``train.d_steps`` times (k in Goodfellow et al.,
Algorithm 1), then ``G`` once. During ``D`` the fake batch is detached, so G does not
move; during ``G`` the loop freezes D, so D does not move either.
Mode-collapse remedies are model options: PacGAN packing (``model.pack``) and
minibatch standard deviation (``model.mbstd``).
"""

from __future__ import annotations

import torch

from ganforge import losses
from ganforge.config import Config
from ganforge.data.toy2d import make_distribution, normaliser
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator
from ganforge.recipes.base import Batch, Models, Phase, Recipe


def build_models(cfg: Config) -> Models:
    """The networks a config describes; the sampler rebuilds them from a checkpoint's config alone."""
    m = cfg.model
    G = MLPGenerator(z_dim=m.z_dim, width=m.g_width, depth=m.g_depth, out_dim=2, batchnorm=m.g_batchnorm)
    D = MLPDiscriminator(in_dim=2, width=m.d_width, depth=m.d_depth, pack=m.pack, mbstd=m.mbstd)
    return {"G": G, "D": D}


def validate(cfg: Config) -> None:
    """Raise a clear error for unusable data or settings, before a run folder is created."""
    make_distribution(cfg.data)


def make_optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), fused=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.beta1 or 0.0)
    raise ValueError(f"unknown optimiser {o.name!r}")


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D = models["G"], models["D"]
    dist = make_distribution(cfg.data)
    if cfg.data.normalize:
        mean, scale = normaliser(dist)
    else:
        mean, scale = torch.zeros(2), 1.0
    B, z_dim, kind = cfg.train.batch_size, cfg.model.z_dim, cfg.loss

    def next_batch() -> Batch:
        real = (dist.sample(B) - mean) / scale  # (B, 2) training coordinates
        return {"x": real.to(device, non_blocking=True)}

    def d_step(models: Models, batch: Batch):
        real = batch["x"]
        with torch.no_grad():
            fake = G(torch.randn(B, z_dim, device=device))  # (B, 2), no graph into G
        logits = D(torch.cat([real, fake]))  # one pass over (2B, 2); packs and mbstd groups stay unmixed
        logits_real, logits_fake = logits.chunk(2)
        loss_D = losses.d_loss(kind, logits_real, logits_fake)
        logs = {"Loss/D": loss_D.detach(), "D/real": logits_real.detach().mean(),
                "D/fake": logits_fake.detach().mean()}
        if kind == "wgan-gp":
            gp = losses.gradient_penalty(D, real, fake)
            loss_D = loss_D + cfg.gp_weight * gp
            logs["Loss/D/gp"] = gp.detach()
        return loss_D, logs

    def g_step(models: Models, batch: Batch):
        logits_fake = D(G(torch.randn(B, z_dim, device=device)))
        loss_G = losses.g_loss(kind, logits_fake)
        return loss_G, {"Loss/G": loss_G.detach()}

    def clip_weights(models: Models) -> None:
        # WGAN (Arjovsky et al., 2017): clamp every critic weight to [-c, c] after each update
        with torch.no_grad():
            for p in models["D"].parameters():
                p.clamp_(-cfg.clip, cfg.clip)

    phases = [
        Phase("D", "D", d_step, repeats=cfg.train.d_steps,
              after_step=clip_weights if kind == "wgan" else None),
        Phase("G", "G", g_step),
    ]
    optimizers = {
        "D": make_optimizer(cfg, D.parameters(), cfg.optim.lr_d),
        "G": make_optimizer(cfg, G.parameters(), cfg.optim.lr_g),
    }
    extra = {"data_mean": mean.clone(), "data_scale": torch.tensor(scale)}
    schedulers = {}
    if cfg.optim.decay == "linear":  # constant then linear decay to 0 over the last half
        half = cfg.train.steps / 2

        def factor(step: int) -> float:
            return min(1.0, max(0.0, (cfg.train.steps - step) / half))

        schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in optimizers.items()}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch,
                  schedulers=schedulers, extra_state=extra)
