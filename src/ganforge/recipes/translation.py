"""Pieces shared by the translation recipes (pix2pix, cyclegan): networks, data, the image pool, the schedule.

    G = generator(cfg, in_channels=3, out_channels=3)          # U-Net or ResNet, per model.g_arch
    next_batch = batch_source(cfg, device, unpaired=False)    # {"A", "B"}: (B, C, S, S) in [-1, 1]
    pool = ImagePool(recipe.extra_state, "pool_B", 50)        # CycleGAN's history of generated images
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganforge.config import Config, choices, num
from ganforge.errors import ConfigError
from ganforge.nets.patchgan import PatchDiscriminator
from ganforge.nets.resnet import ResnetGenerator
from ganforge.nets.unet import UNetGenerator
from ganforge.recipes.base import Batch

LOSSES = ("minimax", "ns", "lsgan", "hinge")  # offered for translation (pix2pix: ns; cyclegan: lsgan)
DATA = ("pairs",)
SIZES = (32, 64, 128, 256)  # the U-Net halves the image down to 1x1: a power of two
#: PatchGAN receptive field (pixels) -> strided 4x4 conv layers (Isola et al., appendix 6.1.2)
PATCH_SIZES = {1: 0, 16: 1, 34: 2, 70: 3, 142: 4, 286: 5}


@dataclass
class TranslatorModel:
    """A translator G (U-Net or ResNet) and a PatchGAN D; ``auto`` fields take the recipe's paper default."""

    g_arch: str = choices("auto", "unet", "resnet", help="generator (auto = unet for pix2pix, resnet for cyclegan)")
    g_width: int = num(64, min=1, max=8192, help="generator width: channels of its first layer (ngf)")
    d_width: int = num(64, min=1, max=8192, help="discriminator width: channels of its first layer (ndf)")
    g_norm: str = choices("auto", "batch", "instance", help="normalisation in G (auto = batch for pix2pix, "
                          "instance for cyclegan)")
    d_norm: str = choices("auto", "batch", "instance", help="normalisation in D (auto = as model.g_norm)")
    patch: int = num(70, min=1, help="PatchGAN receptive field in pixels: 1 (PixelGAN), 16, 34, 70, 142 or 286")
    blocks: int | None = num(None, min=0, help="resnet generator: residual blocks (null = 6 below 256 px, 9 at "
                             "256 px)")
    dropout: float = num(0.5, min=0.0, max=0.95, help="unet generator: dropout in the first three decoder layers "
                         "(the noise of pix2pix; 0 = off)")


def class_conditional(cfg: Config) -> bool:
    """Never: a translator is conditioned on an image, not on a class."""
    return False


def optim_defaults(cfg: Config) -> dict[str, Any]:
    """Adam 2e-4, beta1 0.5 (Isola et al.; Zhu et al.)."""
    return dict(name="adam", lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1)


def resolve(cfg: Config, g_arch: str, norm: str) -> None:
    """Fill the ``auto`` fields with the recipe's ``g_arch`` and ``norm`` and check the data settings."""
    d, m = cfg.data, cfg.model
    if d.root and d.name != "pairs":
        d.name = "pairs"  # a preset for a built-in task + data.root=... trains on the user's folder
    if d.name == "pairs" and not d.root:
        raise ConfigError("data.name=pairs needs data.root=FOLDER (aligned A|B files, A/ + B/ folders, or "
                          "trainA/ trainB/ testA/ testB/)")
    if d.size is None and d.name != "pairs":
        d.size = 32
    if d.size is not None and d.size not in SIZES:
        raise ConfigError(f"data.size must be one of {', '.join(map(str, SIZES))} for translation "
                          f"(the U-Net halves the image down to 1x1: a power of two), got {d.size}")
    if d.channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1, 3 or null, got {d.channels}")
    for key, on in (("train.ema", cfg.train.ema > 0), ("train.augment", bool(cfg.train.augment))):
        if on:
            raise ConfigError(f"{key} applies to the gan and stylegan recipes, not {cfg.recipe}")
    if m.g_arch == "auto":
        m.g_arch = g_arch
    if m.g_norm == "auto":
        m.g_norm = norm
    if m.d_norm == "auto":
        m.d_norm = m.g_norm
    if m.patch not in PATCH_SIZES:
        raise ConfigError(f"model.patch must be one of {', '.join(map(str, PATCH_SIZES))} (the receptive fields of "
                          f"0..5 strided layers), got {m.patch}")
    if cfg.eval.n is None:
        cfg.eval.n = 500


def check_batch(cfg: Config, batch: int, where: str = "train.batch_size") -> None:
    """Any batch size works for the translators (PatchGAN has no minibatch statistics beyond batch norm)."""


def blocks_for(cfg: Config) -> int:
    """ResNet blocks: ``model.blocks``, or the paper's 6 below 256 px and 9 at 256 px."""
    return cfg.model.blocks if cfg.model.blocks is not None else (9 if cfg.data.size >= 256 else 6)


def generator(cfg: Config, in_channels: int, out_channels: int) -> nn.Module:
    m = cfg.model
    if m.g_arch == "unet":
        return UNetGenerator(cfg.data.size, in_channels, out_channels, ngf=m.g_width, norm=m.g_norm,
                             dropout=m.dropout)
    return ResnetGenerator(cfg.data.size, in_channels, out_channels, ngf=m.g_width, blocks=blocks_for(cfg),
                           norm=m.g_norm)


def discriminator(cfg: Config, in_channels: int) -> nn.Module:
    return PatchDiscriminator(in_channels, ndf=cfg.model.d_width, patch=cfg.model.patch, norm=cfg.model.d_norm,
                              size=cfg.data.size)


def check_data(cfg: Config, unpaired: bool) -> None:
    """Read the training and held-out splits once: fills ``data.channels`` and ``data.size`` (a user folder at
    its native size), and refuses data the recipe cannot use, before a run folder is written."""
    from ganforge.data.paired import translation_data
    from ganforge.recipes.common import warn_skipped

    s = translation_data(cfg.data, "train", unpaired=unpaired)
    test = translation_data(cfg.data, "test", unpaired=unpaired)  # a broken test split fails now, not at the end
    if not unpaired and not s.paired:
        raise ConfigError(f"recipe=pix2pix needs paired data, but {s.name} is unpaired (trainA/ trainB/); "
                          "use recipe=cyclegan, or the aligned or folders layout")
    size = int(s.A.shape[-1])
    if size not in SIZES or s.A.shape[-2] != size:
        raise ConfigError(f"{s.name}: images are {s.A.shape[-1]}x{s.A.shape[-2]}; translation needs a square power "
                          f"of two in {', '.join(map(str, SIZES))}: set data.size (e.g. data.size=256)")
    cfg.data.size = size
    if cfg.data.channels is None:
        cfg.data.channels = int(s.A.shape[1])
    if cfg.train.batch_size > 1 and "batch" in (cfg.model.g_norm, cfg.model.d_norm) and len(s.A) < 2:
        raise ConfigError(f"{s.name} holds one training pair: batch norm needs more")
    try:  # the networks refuse sizes they cannot take, with the reason
        generator(cfg, cfg.data.channels, cfg.data.channels)
        discriminator(cfg, cfg.data.channels)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    warn_skipped(cfg, s.skipped + test.skipped)


def batch_source(cfg: Config, device: torch.device, unpaired: bool) -> Callable[[], Batch]:
    """Batches {"A", "B"} of (B, C, S, S) floats in [-1, 1]: the same indices for paired data, independent
    draws for unpaired. Every draw uses the global torch RNG, so checkpoints capture the data order.

    Paired colordigits re-pairs each batch's digits with random training textures (``PairSet.textures``),
    so no digit keeps one texture to be memorised."""
    from ganforge.data import synth
    from ganforge.data.paired import translation_data
    from ganforge.pixels import to_signed

    s = translation_data(cfg.data, "train", unpaired=unpaired)
    A, B = s.A.to(device), s.B.to(device)  # uint8 on the device: no per-step decoding
    T = None if s.textures is None else s.textures.to(device)
    n = cfg.train.batch_size

    def next_batch() -> Batch:
        i = torch.randint(len(A), (n,)).to(device, non_blocking=True)
        j = torch.randint(len(B), (n,)).to(device, non_blocking=True) if unpaired else i
        if T is None:
            return {"A": to_signed(A[i]), "B": to_signed(B[j])}
        # paired colordigits: the textured side is made afresh from the digits side (i = j)
        t = torch.randint(len(T), (n,)).to(device, non_blocking=True)
        side = "A" if s.textured == "B" else "B"
        digits = to_signed((A if side == "A" else B)[i])
        return {side: digits, s.textured: synth.blend(digits, to_signed(T[t]))}

    return next_batch


class ImagePool:
    """A history of generated images (Shrivastava et al., 2017), as CycleGAN feeds its discriminators.

    Until ``size`` images are stored each new image is stored and returned; afterwards each new image is,
    with probability 1/2, returned as is, or else swapped for a random stored one (which is returned and
    replaced by the new image). The buffer and its fill count live in ``store`` (a recipe's
    ``extra_state``) under ``key`` and ``key + "_n"``, so checkpoints carry them and a resumed run
    continues with the same history. Random draws use the global torch RNG (also checkpointed).

    Args:
        store: the dict holding the state tensors (created here when missing).
        key: name of the buffer in ``store``.
        size: images kept (0 = no pool: ``query`` returns its input).
        shape: (C, H, W) of one image.
        device: where the buffer lives.
    """

    def __init__(self, store: dict[str, torch.Tensor], key: str, size: int, shape: tuple[int, ...],
                 device: torch.device | str = "cpu") -> None:
        self.store, self.key, self.size, self.device = store, key, size, torch.device(device)
        if size and key not in store:
            store[key] = torch.zeros(size, *shape, device=self.device)
            store[key + "_n"] = torch.zeros((), dtype=torch.long)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) new fakes -> (B, C, H, W) the images D sees this step."""
        if self.size == 0:
            return images
        buf = self.store[self.key]
        if buf.device != images.device:  # a checkpoint restores it on the CPU
            buf = self.store[self.key] = buf.to(images.device)
        n = int(self.store[self.key + "_n"])
        B = len(images)
        coin = torch.rand(B).tolist()  # drawn for every image, whatever the fill, so the RNG use is fixed
        slot = torch.randint(self.size, (B,)).tolist()
        out = images.detach().clone()
        for i in range(B):
            if n < self.size:
                buf[n] = images[i]
                n += 1
            elif coin[i] < 0.5:
                out[i] = buf[slot[i]]
                buf[slot[i]] = images[i]
        self.store[self.key + "_n"] = torch.tensor(n)
        return out
