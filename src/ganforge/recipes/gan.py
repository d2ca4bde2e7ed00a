"""The GAN family: the original GAN, DCGAN, WGAN, WGAN-GP, hinge, LSGAN, conditional GAN.

    recipe = build(resolve(load_config("ring8")), torch.device("cpu"))    # 2-D points, MLPs
    recipe = build(resolve(load_config("mnist")), torch.device("cpu"))    # images, DCGAN

Phases per iteration: ``D`` runs ``train.d_steps`` times (k in Goodfellow et al.,
Algorithm 1), then ``D_r1`` when R1 is on (``loss.r1_gamma`` > 0; every ``train.r1_every``
iterations), then ``G`` once. During ``D`` the fake batch is detached, so G does not
move; during ``G`` the loop freezes D, so D does not move either. ``G`` draws new noise
(Goodfellow et al., Algorithm 1) or, with ``train.reuse_fake``, back-propagates through
the fake batch ``D`` drew (pytorch/examples' DCGAN: one G forward fewer per iteration).

2-D data trains MLPs; image data trains DCGAN (Radford et al., 2015). Options:
mode-collapse remedies PacGAN packing (``model.pack``, 2-D) and minibatch standard
deviation (``model.mbstd``); class labels into G and D (``model.cond``, Mirza &
Osindero 2014; projection D, Miyato & Koyama 2018); DiffAugment on D's inputs
(``train.augment``, Zhao et al. 2020); an exponential moving average of G
(``train.ema``) kept as ``G_ema`` and used for sampling.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ganforge import losses
from ganforge.config import Config, choices, num
from ganforge.data.npfiles import short
from ganforge.data.toy2d import make_distribution, normaliser
from ganforge.errors import ConfigError, DataError
from ganforge.nets.layers import Z_DISTS, draw_noise
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator
from ganforge.recipes.base import Batch, Models, Phase, Recipe
from ganforge.recipes.common import (
    augmenter,
    check_batch,
    check_image_splits,
    data_where,
    fill_num_classes,
    image_source,
    linear_decay,
    make_optimizer,
    r1_every,
    r1_phases,
    read_images,
    resolve_image_data,
)

if TYPE_CHECKING:
    from ganforge.data.imageset import ImageSet

LOSSES = losses.ADVERSARIAL  # every adversarial loss
DATA = ("toy", "images")  # 2-D points (MLPs) and images (DCGAN)
IMAGE_SIZES = (28, 32, 64, 128)


@dataclass
class MLPModel:
    """The networks for 2-D points: MLPs (Goodfellow et al., 2014), with PacGAN and minibatch std."""

    z_dim: int = num(2, min=1, max=65536, help="noise size")
    z_dist: str = choices(*Z_DISTS, help="noise distribution: N(0, I), or uniform on [-1, 1] per coordinate "
                          "(Goodfellow et al., 2014)")
    g_width: int = num(256, min=1, max=65536, help="generator hidden width")
    g_depth: int = num(3, min=1, max=64, help="generator hidden layers")
    g_norm: str = choices("none", "batch", help="normalisation in the generator's hidden layers")
    d_width: int = num(256, min=1, max=65536, help="discriminator hidden width")
    d_depth: int = num(3, min=1, max=64, help="discriminator hidden layers")
    pack: int = num(1, min=1, help="PacGAN packing degree (1 = off): D judges `pack` samples jointly")
    mbstd: int = num(0, min=0, help="minibatch-std group size in D (0 = off)")


@dataclass
class DCGANModel:
    """The networks for images: DCGAN (Radford et al., 2015), optionally conditional or with an InfoGAN code."""

    z_dim: int = num(100, min=1, max=65536, help="noise size")
    g_width: int = num(64, min=1, max=65536, help="generator width: channels of its last hidden layer (ngf)")
    d_width: int = num(64, min=1, max=65536, help="discriminator width: channels of its first layer (ndf)")
    upsample: str = choices("deconv", "resize", help="transposed conv 4-2-1, or nearest resize + conv")
    d_norm: str = choices("auto", "batch", "none", "spectral", "instance",
                          help="normalisation in D (auto = batch; instance for wgan-gp)")
    mbstd: int = num(0, min=0, help="minibatch-std group size in D (0 = off)")
    cond: str = choices("none", "concat", "projection",
                        help="conditional GAN: labels into G (embedding + concat) and D (concat or projection)")
    num_classes: int | None = num(None, min=0, help="classes of a conditional model (null = from the data; "
                                  "filled in when training starts)")
    clusters: int = num(0, min=0, help="condition G and D on k-means clusters of the training images instead of "
                        "class labels (unsupervised); samples draw clusters by their frequency (0 = off)")
    codes: int = num(0, min=0, help="InfoGAN categorical code with this many values, learnt without labels: G "
                     "gets a code, D's Q head must recover it (0 = off)")


@dataclass
class GANLoss:
    """The adversarial loss and its penalties."""

    name: str = choices(*LOSSES, help="adversarial loss")
    gp_weight: float = num(10.0, min=0.0, help="wgan-gp: gradient-penalty weight lambda")
    clip: float = num(0.01, min=0.0, help="wgan: weight-clipping bound c")
    r1_gamma: float = num(0.0, min=0.0, help="R1 penalty weight gamma on real images (Mescheder et al. 2018; "
                          "gamma/2 E||grad D(real)||^2, every train.r1_every steps; 0 = off)")


@dataclass
class DCGANLoss(GANLoss):
    """The image GAN's loss: :class:`GANLoss` and InfoGAN's code-recovery weight."""

    info_weight: float = num(1.0, min=0.0, help="InfoGAN (model.codes > 0): weight lambda of the code-recovery "
                             "(mutual information) loss")


def sections(kind: str) -> tuple[type, type]:
    """The ``model`` and ``loss`` section classes for data of ``kind``."""
    return (MLPModel, GANLoss) if kind == "toy" else (DCGANModel, DCGANLoss)


#: Per-loss defaults: optimiser, lr, betas, k. GAN/NS/LSGAN/hinge: Radford et al. (Adam 2e-4, 0.5);
#: WGAN: Arjovsky et al. (RMSprop 5e-5, n_critic 5); WGAN-GP: Gulrajani et al. (Adam 1e-4, (0, 0.9), 5).
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "minimax": dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1),
    "ns": dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1),
    "hinge": dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1),
    "lsgan": dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1),
    "wgan": dict(name="rmsprop", lr=5e-5, beta1=0.0, beta2=0.0, d_steps=5),
    "wgan-gp": dict(name="adam", lr=1e-4, beta1=0.0, beta2=0.9, d_steps=5),
}


def class_conditional(cfg: Config) -> bool:
    """Whether users pick a class: labels into G and D (``model.cond``), not k-means clusters or InfoGAN codes."""
    return cfg.data_kind == "images" and cfg.model.cond != "none" and not cfg.model.clusters


def optim_defaults(cfg: Config) -> dict[str, Any]:
    return LOSS_DEFAULTS[cfg.loss.name]


def resolve(cfg: Config) -> None:
    """Fill the ``auto`` fields and check the rules between fields (no data is read here)."""
    m = cfg.model
    if cfg.data_kind == "toy":
        if cfg.data.std is None and cfg.data.name in ("ring8", "grid25"):  # the others have no mixture std
            cfg.data.std = {"ring8": 0.01, "grid25": 0.05}[cfg.data.name]
        if cfg.data.name == "points" and not cfg.data.path:
            raise ConfigError("data.name=points needs data.path=FILE (.npy or .csv with 2 columns)")
    else:
        resolve_image_data(cfg.data, IMAGE_SIZES, "image data")
        if m.d_norm == "auto":
            # Gulrajani et al. (2017): no batch norm in a gradient-penalty critic (the penalty is per sample)
            m.d_norm = "instance" if cfg.loss.name == "wgan-gp" else "batch"
        if m.codes == 1:
            raise ConfigError("model.codes must be 0 (off) or >= 2: a code with one value carries no information")
        if m.codes and m.cond != "none":
            raise ConfigError(f"model.codes={m.codes} (an unsupervised InfoGAN code) and model.cond={m.cond} (class "
                              "labels) cannot be combined; set one of them")
        if m.clusters:
            if m.clusters == 1:
                raise ConfigError("model.clusters must be 0 (off) or >= 2")
            if m.codes:
                raise ConfigError("model.clusters and model.codes cannot be combined; set one of them")
            if m.cond == "none":
                m.cond = "concat"  # the clusters are the labels of a conditional model (concat beat projection)
            if m.num_classes not in (None, m.clusters):
                raise ConfigError(f"model.num_classes={m.num_classes} but model.clusters={m.clusters}; leave "
                                  "num_classes unset")
            m.num_classes = m.clusters
    check_batch(cfg, cfg.train.batch_size)


def build_models(cfg: Config) -> Models:
    """The networks a resolved config describes; the sampler rebuilds them from a checkpoint's config alone."""
    m = cfg.model
    if cfg.data_kind == "images":
        from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator

        d = cfg.data
        k = m.num_classes if m.cond != "none" else 0
        # an InfoGAN code enters G exactly as a class label does; D does not see it, its Q head predicts it
        G = DCGANGenerator(z_dim=m.z_dim, size=d.size, channels=d.channels, ngf=m.g_width, upsample=m.upsample,
                           num_classes=k or m.codes)
        D = DCGANDiscriminator(size=d.size, channels=d.channels, ndf=m.d_width, norm=m.d_norm, num_classes=k,
                               cond=m.cond if k else "concat", mbstd=m.mbstd, codes=m.codes)
    else:
        G = MLPGenerator(z_dim=m.z_dim, width=m.g_width, depth=m.g_depth, out_dim=2, batchnorm=m.g_norm == "batch",
                         z_dist=m.z_dist)
        D = MLPDiscriminator(in_dim=2, width=m.d_width, depth=m.d_depth, pack=m.pack, mbstd=m.mbstd)
    models: Models = {"G": G, "D": D}
    if cfg.train.ema > 0:
        models["G_ema"] = copy.deepcopy(G).requires_grad_(False)
    return models


def validate(cfg: Config) -> None:
    """Raise a clear error for unusable data or settings, before a run folder is created.

    For image data this reads the data once and fills the fields that follow from it:
    ``data.channels`` and, for a conditional model, ``model.num_classes``; the held-out split the final
    evaluation needs is read and checked too (``check_image_splits``).
    """
    if cfg.data_kind == "toy":
        make_distribution(cfg.data)
        return
    train = read_images(cfg)
    check_image_splits(cfg, train)
    if cfg.model.clusters:  # pseudo-labels: computed (and cached) now, so a bad k fails before the run starts
        if cfg.model.clusters > len(train.x):
            raise ConfigError(f"model.clusters={cfg.model.clusters} but {train.name} has only {len(train.x)} "
                              "training images")
        training_labels(cfg, train)
    elif cfg.model.cond != "none":
        fill_num_classes(cfg, train, f"model.cond={cfg.model.cond}")
        _check_class_floor(cfg)


def _check_class_floor(cfg: Config) -> None:
    """The evaluation's per-class floor (a 10-class conditional run scored by a shipped classifier, with a
    held-out split large enough for a floor: ``metrics.sampled``) draws held-out images of every class."""
    from ganforge.data import image_data
    from ganforge.metrics.sampled import CHEAP_FEATURES, MIN_FLOOR, features_for

    test = image_data(cfg.data, "test")
    n = cfg.eval.n or max(MIN_FLOOR, min(len(test), 10_000))
    if cfg.model.num_classes != 10 or features_for(cfg) not in CHEAP_FEATURES or min(n, len(test)) < MIN_FLOOR:
        return
    missing = sorted(set(range(10)) - set(test.y.tolist())) if test.y is not None else list(range(10))
    if missing:
        name = test.classes[missing[0]] if missing[0] < len(test.classes) else str(missing[0])
        raise DataError(f"{data_where(cfg)}: the held-out (test) split has no image of class {short(name)!r} "
                        f"({len(missing)} class(es) missing); the evaluation's per-class floor (eval.features="
                        f"{features_for(cfg)}) needs one of each: add images of it, or set eval.features=inception")


def training_labels(cfg: Config, data: ImageSet) -> torch.Tensor | None:
    """The labels a conditional model trains on: the data's classes, or k-means cluster ids (``model.clusters``);
    None for an unconditional model."""
    if not isinstance(cfg.model, DCGANModel):
        return None
    if cfg.model.clusters:
        from ganforge.cache import cache_dir
        from ganforge.data.clusters import cluster_labels

        return cluster_labels(data.x, cfg.model.clusters, cfg.seed, cache_dir())
    return data.y if (data.y is not None and cfg.model.cond != "none") else None


def _call(net: nn.Module, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    return net(x) if c is None else net(x, c)


def batch_source(cfg: Config, device: torch.device):
    """(next_batch, extra_state, data_state). In-memory draws use the global torch RNG, so checkpoints capture
    data order; streamed images (``data.stream``) keep their position in ``data_state``."""
    B = cfg.train.batch_size
    if cfg.data_kind == "toy":
        dist = make_distribution(cfg.data)
        mean, scale = normaliser(dist) if cfg.data.normalize else (torch.zeros(2), 1.0)

        def next_toy() -> Batch:
            real = (dist.sample(B) - mean) / scale  # (B, 2) training coordinates
            return {"x": real.to(device, non_blocking=True)}

        return next_toy, {"data_mean": mean.clone(), "data_scale": torch.tensor(scale)}, None

    data = read_images(cfg)
    labels = training_labels(cfg, data)
    extra: dict[str, torch.Tensor] = {}
    if labels is not None and cfg.model.clusters:  # sampling draws clusters as often as the data has them
        extra["label_prior"] = torch.bincount(labels, minlength=cfg.model.clusters).float() / len(labels)
    next_batch, data_state = image_source(cfg, data, labels, device)
    return next_batch, extra, data_state


def build(cfg: Config, device: torch.device) -> Recipe:
    """Models, optimisers and phases for a resolved config. Seeds nothing: the loop does."""
    models = {k: v.to(device) for k, v in build_models(cfg).items()}
    G, D = models["G"], models["D"]
    next_batch, extra, data_state = batch_source(cfg, device)
    B, z_dim, kind, image = cfg.train.batch_size, cfg.model.z_dim, cfg.loss.name, cfg.data_kind == "images"
    k_classes = cfg.model.num_classes if image and cfg.model.cond != "none" else 0
    codes = cfg.model.codes if image else 0  # InfoGAN: G's input code, drawn uniformly, never shown to D
    prior = extra.get("label_prior")  # clusters: G's labels follow the data's cluster frequencies
    if prior is not None:
        prior = prior.to(device)
    z_dist = getattr(cfg.model, "z_dist", "gaussian")  # 2-D runs choose; image runs draw N(0, I)

    def noise(n: int) -> torch.Tensor:
        return draw_noise(n, z_dim, z_dist, device=device)

    aug = augmenter(cfg)
    reuse = cfg.train.reuse_fake  # one process only: dist.check_ddp_options refuses it under DDP
    kept: dict[str, torch.Tensor | None] = {}  # reuse_fake: the D phase's fake (with G's graph) and its labels

    # The steps call the networks through ``models`` (not G, D above): under DDP the loop passes the
    # updated network's DistributedDataParallel wrapper there and the other network plain.
    def discriminate(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None):
        if image:  # separate passes: batch norm in D sees all-real and all-fake batches (Radford et al.)
            return _call(D, aug(real), c), _call(D, aug(fake), c)
        logits = D(torch.cat([real, fake]))  # one pass over (2B, 2); packs and mbstd groups stay unmixed
        return logits.chunk(2)

    def info_loss(D: nn.Module, fake: torch.Tensor, code: torch.Tensor, logs: dict[str, torch.Tensor]):
        """D's logits on ``fake`` and lambda * the code-recovery loss (Chen et al., 2016, eq. 5: the
        variational bound on I(code; G(z, code)) is, up to a constant, minus this cross-entropy)."""
        logits_fake, code_logits = D(aug(fake), info=True)
        loss_info = nn.functional.cross_entropy(code_logits, code)
        logs["Loss/info"] = loss_info.detach()
        return logits_fake, cfg.loss.info_weight * loss_info

    def d_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        real, c = batch["x"], batch.get("y")  # the fakes get the real batch's labels
        code = torch.randint(codes, (B,), device=device) if codes else None
        z, g_labels = noise(B), c if code is None else code
        if reuse:  # G keeps its graph for the G phase (the loop froze G for this phase: unfreeze it here)
            G.requires_grad_(True)
            kept["fake"], kept["c"] = _call(G, z, g_labels), g_labels
            fake = kept["fake"].detach()
        else:
            with torch.no_grad():
                fake = _call(G, z, g_labels)  # no graph into G
        logs: dict[str, torch.Tensor] = {}
        if code is None:
            logits_real, logits_fake = discriminate(D, real, fake, c)
            info_term = 0.0
        else:  # Q is trained here with D's body; D still sees all-real and all-fake batches
            logits_real = D(aug(real))
            logits_fake, info_term = info_loss(D, fake, code, logs)
        loss_D = losses.d_loss(kind, logits_real, logits_fake)
        logs.update({"Loss/D": loss_D.detach(), "D/real": logits_real.detach().mean(),
                     "D/fake": logits_fake.detach().mean()})
        loss_D = loss_D + info_term
        if kind == "wgan-gp":
            gp = losses.gradient_penalty(lambda x: _call(D, x, c), real, fake)
            loss_D = loss_D + cfg.loss.gp_weight * gp
            logs["Loss/D/gp"] = gp.detach()
        return loss_D, logs

    def g_step(models: Models, batch: Batch):
        G, D = models["G"], models["D"]
        if "fake" in kept:  # reuse_fake: the D phase's batch, G unchanged since
            fake, c = kept.pop("fake"), kept.pop("c")
        else:
            if prior is not None:
                c = torch.multinomial(prior, B, replacement=True)  # (B,)
            else:
                c = torch.randint(k_classes or codes, (B,), device=device) if (k_classes or codes) else None
            fake = _call(G, noise(B), c)
        logs: dict[str, torch.Tensor] = {}
        if codes:  # G makes its code recoverable (D and Q are frozen in this phase)
            logits_fake, info_term = info_loss(D, fake, c, logs)
        else:
            logits_fake, info_term = _call(D, aug(fake), c), 0.0
        loss_G = losses.g_loss(kind, logits_fake)
        logs["Loss/G"] = loss_G.detach()
        return loss_G + info_term, logs

    def clip_weights(models: Models) -> None:
        # WGAN (Arjovsky et al., 2017): clamp every critic weight to [-c, c] after each update
        with torch.no_grad():
            for p in models["D"].parameters():
                p.clamp_(-cfg.loss.clip, cfg.loss.clip)

    phases = [
        Phase("D", "D", d_step, repeats=cfg.train.d_steps,
              after_step=clip_weights if kind == "wgan" else None),
        *r1_phases(cfg, lambda models, batch: lambda x: _call(models["D"], aug(x), batch.get("y"))),
        Phase("G", "G", g_step),
    ]
    optimizers = {
        "D": make_optimizer(cfg, D.parameters(), cfg.optim.lr_d, r1_every(cfg)),
        "G": make_optimizer(cfg, G.parameters(), cfg.optim.lr_g),
    }
    ema = {"G_ema": "G"} if "G_ema" in models else {}
    return Recipe(models=models, optimizers=optimizers, phases=phases, next_batch=next_batch,
                  schedulers=linear_decay(cfg, optimizers), extra_state=extra, data_state=data_state, ema=ema,
                  ema_decay=cfg.train.ema)
