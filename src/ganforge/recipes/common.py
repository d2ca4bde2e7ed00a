"""Pieces several recipes share: optimisers and schedules, lazy R1, DiffAugment, image data and batches.

    from ganforge.recipes.common import make_optimizer, r1_phases, image_source
    opt = make_optimizer(cfg, D.parameters(), cfg.optim.lr_d, lazy_every=r1_every(cfg))

Each recipe file keeps what is its own (its config sections, networks and phases); what two families
need alike lives here once, so no recipe imports another family's module.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ganforge import dist, losses
from ganforge.config import Config, ImageData
from ganforge.data.imageset import random_hflip
from ganforge.errors import ConfigError, DataError
from ganforge.pixels import to_signed
from ganforge.recipes.base import Batch, BatchState, Models, Phase

if TYPE_CHECKING:
    from ganforge.data.imageset import ImageSet

#: the final evaluation's FID / KID against the training images need a covariance: two images at least
MIN_TRAIN_IMAGES = 2


def resolve_image_data(d: ImageData, sizes: tuple[int, ...], what: str, default_size: int | None = None) -> None:
    """Fill ``data.size`` (the bundled sets' own, or ``default_size``) and check it; a bundled name with
    ``data.root`` set trains on the user's images."""
    if d.root and d.name != "images":
        d.name = "images"  # a preset for bundled digits + data.root=... trains on the user's images
    if d.name == "images" and not d.root:
        raise ConfigError("data.name=images needs data.root=PATH (an image folder, a .npz file or IDX files)")
    if d.size is None:
        native = {"digits8": 32, "mnist": 28, "fashion": 28, "captioned-digits": 28, "captioned-colordigits": 28}
        d.size = default_size or native.get(d.name)
    if d.size is None or d.size not in sizes:
        raise ConfigError(f"data.size must be one of {', '.join(map(str, sizes))} for {what}, got {d.size}")
    if d.channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1, 3 or null, got {d.channels}")


def check_batch(cfg: Config, batch: int, where: str = "train.batch_size") -> None:
    """D's batch (``batch`` samples: the global batch, or one process's share) must split into packs and
    minibatch-std groups."""
    m = cfg.model
    pack = getattr(m, "pack", 1)
    if batch % pack:
        raise ConfigError(f"{where} ({batch}) must be a multiple of model.pack ({pack})")
    if m.mbstd and (batch // pack) % m.mbstd:
        raise ConfigError(f"model.mbstd group size ({m.mbstd}) must divide the discriminator's batch "
                          f"({batch // pack}: {where}" + (" / model.pack" if pack > 1 else "") + ")")


def read_images(cfg: Config) -> ImageSet:
    """The training images (read once per process); fills ``data.channels`` from them, and ``data.stream=auto``
    with what it chose (``true`` when they come from a cache on disk)."""
    from ganforge.data import image_data

    train = image_data(cfg.data, "train")
    if cfg.data.channels is None:
        cfg.data.channels = int(train.x.shape[1])
    if cfg.data.stream == "auto":
        cfg.data.stream = "false" if train.cache is None else "true"
        if train.cache is None:
            cfg.data.workers = None  # unused in memory (and refused beside data.stream=false in config.yaml)
    return train


def data_where(cfg: Config) -> str:
    """How a message names the run's data: the config key that points at it."""
    d = cfg.data
    return f"data.root {d.root}" if getattr(d, "root", None) else f"data.name={d.name}"


def warn_skipped(cfg: Config, skipped: list[str]) -> None:
    """One warning line on stderr when ``data.skip_bad`` left unreadable files out."""
    if skipped:
        print(f"ganforge: warning: {data_where(cfg)}: skipped {len(skipped)} unreadable image file(s) "
              f"(data.skip_bad=true), e.g. {skipped[0][-200:]}", file=sys.stderr)


def check_image_splits(cfg: Config, train: ImageSet) -> None:
    """Every split a run on image data reads, checked before its run folder exists (``validate``): at least
    ``MIN_TRAIN_IMAGES`` training images, and a held-out split of at least one image for the evaluation at
    the end of training (read now, and kept for then). Files skipped by ``data.skip_bad`` are reported."""
    from ganforge.data import image_data

    if len(train) < MIN_TRAIN_IMAGES:
        skip = f" ({len(train.skipped)} unreadable file(s) skipped)" if train.skipped else ""
        raise DataError(f"{data_where(cfg)} gives {len(train)} training image(s){skip}; a run needs at least "
                        f"{MIN_TRAIN_IMAGES} to train on and 1 more held out for its evaluation (a folder or .npz "
                        "holds out 10% of its images, at least 1): add images")
    test = image_data(cfg.data, "test")  # an empty or unreadable held-out split fails now, not after training
    if len(test) == 0:
        raise DataError(f"{data_where(cfg)}: the held-out (test) split holds no images; the evaluation at the end "
                        "of training needs at least 1: add test images")
    warn_skipped(cfg, train.skipped + test.skipped)


def fill_num_classes(cfg: Config, train: ImageSet, needs: str) -> None:
    """A class-conditional run's ``model.num_classes`` from its training data's labels. ConfigError when the data
    has none (``needs`` says what needs them) or a set ``model.num_classes`` disagrees with the data."""
    if train.y is None or train.num_classes < 2:
        raise ConfigError(f"{needs} needs class labels, but {train.name} has none (put each class in its own "
                          "sub-folder, or add 'labels' to the .npz)")
    if cfg.model.num_classes is None:
        cfg.model.num_classes = train.num_classes
    elif cfg.model.num_classes != train.num_classes:
        raise ConfigError(f"model.num_classes={cfg.model.num_classes} but {train.name} has {train.num_classes} "
                          "classes")


def image_source(cfg: Config, data: ImageSet, labels: torch.Tensor | None,
                 device: torch.device) -> tuple[Callable[[], Batch], BatchState | None]:
    """(next_batch, data_state) for a run's training images: :func:`image_batches` from memory, or for data
    streamed from its cache on disk (``data.stream``) a :class:`~ganforge.data.stream.StreamBatches`, which is
    also the ``Recipe.data_state`` checkpoints keep (its position). ``cfg``: one process's (its batch)."""
    d = cfg.data
    if data.cache is None:
        return image_batches(data.x, labels, cfg.train.batch_size, device, hflip=d.hflip), None
    from ganforge.data.stream import StreamBatches

    source = StreamBatches(data.cache, labels, cfg.train.batch_size, device, workers=d.workers, hflip=d.hflip,
                           seed=cfg.seed, rank=dist.rank(), world=dist.world_size())
    return source, source


def image_batches(images: torch.Tensor, labels: torch.Tensor | None, batch: int,
                  device: torch.device, hflip: bool = False) -> Callable[[], Batch]:
    """Batches {"x": (B, C, H, W) in [-1, 1]} (and {"y": (B,)} with ``labels``) drawn with replacement from
    uint8 ``images``, all of them kept on the device (no per-step decoding). Every draw uses the global torch
    RNG, so checkpoints capture the data order. ``hflip``: each image mirrored with probability 1/2."""
    images = images.to(device)
    labels = None if labels is None else labels.to(device)

    def next_images() -> Batch:
        idx = torch.randint(len(images), (batch,)).to(device, non_blocking=True)
        x = to_signed(images[idx])  # (B, C, H, W)
        out = {"x": random_hflip(x) if hflip else x}
        if labels is not None:
            out["y"] = labels[idx]
        return out

    return next_images


def make_optimizer(cfg: Config, params, lr: float, lazy_every: int = 0) -> torch.optim.Optimizer:
    """The optimiser ``cfg.optim`` names. ``lazy_every``: the interval of a lazy regulariser on these parameters
    (R1 every 16 steps); Adam then runs at lr * c and betas ** c, c = k / (k + 1) (Karras et al., 2020, B)."""
    o = cfg.optim
    if o.name == "adam":
        c = lazy_every / (lazy_every + 1) if lazy_every else 1.0
        return torch.optim.Adam(params, lr=lr * c, betas=(o.beta1 ** c, o.beta2 ** c), fused=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.beta1 or 0.0, foreach=True)
    raise ValueError(f"unknown optimiser {o.name!r}")


def linear_decay(cfg: Config, optimizers: dict[str, torch.optim.Optimizer]
                 ) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
    """optim.decay=linear: the learning rate constant for the first half of ``train.steps``, then linearly to 0
    (CycleGAN: 100 epochs constant, 100 decaying)."""
    if cfg.optim.decay != "linear":
        return {}
    half = cfg.train.steps / 2

    def factor(step: int) -> float:
        return min(1.0, max(0.0, (cfg.train.steps - step) / half))

    return {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in optimizers.items()}


def augmenter(cfg: Config) -> Callable[[torch.Tensor], torch.Tensor]:
    """What D's inputs go through: DiffAugment with ``train.augment``'s policy, or nothing."""
    if not cfg.train.augment:
        return lambda x: x
    from ganforge.augment import diff_augment

    return lambda x: diff_augment(x, cfg.train.augment)


def r1_every(cfg: Config) -> int:
    """The lazy R1 interval, or 0 when R1 is off."""
    return cfg.train.r1_every if cfg.loss.r1_gamma > 0 else 0


def r1_phases(cfg: Config, d_of: Callable[[Models, Batch], Callable[[torch.Tensor], torch.Tensor]]) -> list[Phase]:
    """Lazy R1 on real images (Mescheder et al., 2018) as a phase ``D_r1`` every ``train.r1_every`` iterations:
    gamma / 2 * E||grad_x D(x)||^2, times the interval. ``d_of(models, batch)`` is D's logits as a function
    of its image input (labels, augmentation bound in). No phase when ``r1_gamma`` is 0."""
    every, gamma = r1_every(cfg), cfg.loss.r1_gamma
    if not every:
        return []

    def r1_step(models: Models, batch: Batch):
        r1, logits = losses.r1_penalty_and_logits(d_of(models, batch), batch["x"])
        # the zero term reaches D's last bias, so every parameter has a gradient (DDP)
        return (gamma / 2) * r1 * every + 0 * logits.sum(), {"Loss/D/r1": r1.detach()}

    return [Phase("D_r1", "D", r1_step, interval=every)]
