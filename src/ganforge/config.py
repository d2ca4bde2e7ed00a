"""Typed configuration: dataclasses, YAML presets, ``--set`` overrides and validation.

A run is described by one :class:`Config`. It comes from a preset shipped in
``ganforge/presets/*.yaml`` (or a user's YAML file) and is changed field by field
with dotted overrides::

    cfg = load_config("ring8", ["train.steps=3000", "loss=wgan-gp", "seed=3"])

Every key and value is checked before any work starts: an unknown key names the
nearest valid one, a value outside its allowed set lists the allowed values.
``resolve(cfg)`` fills the ``auto`` fields (optimiser, learning rates, k) from the
per-loss defaults of the papers; the resolved config is what a run folder stores.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import ConfigError

LOSSES = ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan")
TOY_DISTRIBUTIONS = ("ring8", "grid25", "spiral", "moons", "circles", "swissroll", "points")
IMAGE_DATA = ("mnist", "fashion", "digits8", "images")  # "images": the user's folder / .npz / IDX files at data.root
IMAGE_SIZES = (28, 32, 64, 128)
# image-to-image translation (recipes pix2pix and cyclegan): built-in tasks made from bundled data, or "pairs" =
# the user's folder at data.root in one of data.layout's formats
TRANSLATION_DATA = ("colordigits", "inpaint", "inpaint-digits", "colorize", "pairs")
TRANSLATION_RECIPES = ("pix2pix", "cyclegan")
TRANSLATION_SIZES = (32, 64, 128, 256)
STYLEGAN_SIZES = (8, 16, 32, 64, 128, 256)  # recipe=stylegan: powers of two (4x4 constant input, doubling)


def _choices(*values: str, help: str = "") -> Any:
    return field(default=values[0], metadata={"choices": values, "help": help})


def _num(default: Any, *, min: float | None = None, max: float | None = None, help: str = "") -> Any:
    return field(default=default, metadata={"min": min, "max": max, "help": help})


@dataclass
class DataConfig:
    """Where the training points come from."""

    name: str = _choices(*TOY_DISTRIBUTIONS, *IMAGE_DATA, *TRANSLATION_DATA,
                         help="2-D distribution ('points' = data.path), image data ('images' = data.root), or a "
                              "translation task (pix2pix / cyclegan: built-in colordigits, inpaint, inpaint-digits, "
                              "colorize; 'pairs' = your folder at data.root)")
    path: str | None = field(default=None, metadata={"help": "user points: .npy (N, 2) or .csv with 2 columns"})
    n_modes: int = _num(8, min=1, help="ring8: number of Gaussians on the circle")
    radius: float = _num(1.0, min=0.0, help="ring8: circle radius")
    grid_size: int = _num(5, min=1, help="grid25: modes per side")
    spacing: float = _num(2.0, min=0.0, help="grid25: distance between neighbouring modes")
    std: float | None = _num(None, min=0.0, help="mixture std; null = 0.01 for ring8, 0.05 for grid25")
    noise: float = _num(0.05, min=0.0, help="spiral/moons/circles/swissroll: Gaussian noise std")
    normalize: bool = field(default=True, metadata={"help": "train on standardised coordinates"})
    root: str | None = field(default=None, metadata={"help": "your images: a folder (class sub-folders = labels), "
                                                             "a .npz file or a folder of IDX files"})
    size: int | None = _num(None, min=8, help="image side in pixels (28, 32, 64, 128; stylegan: 8 ... 256, "
                            "powers of two); null = the data's own")
    channels: int | None = _num(None, min=1, max=3, help="1 (gray) or 3 (RGB); null = the data's own")
    skip_bad: bool = field(default=False, metadata={"help": "skip unreadable image files (and count them) "
                                                            "instead of stopping"})
    layout: str = _choices("auto", "aligned", "folders", "unpaired",
                           help="data.name=pairs: aligned = A|B side by side in one file (pix2pix's format); "
                                "folders = A/ and B/ with files matched by name; unpaired = trainA/ trainB/ testA/ "
                                "testB/ (CycleGAN's format); auto = whichever the folder holds")
    direction: str = _choices("AtoB", "BtoA", help="translation data: which side is the input (BtoA swaps A and B)")
    hole: float = _num(0.375, min=0.05, max=0.9, help="inpaint tasks: side of the square hole as a fraction of the "
                       "image side")


@dataclass
class ModelConfig:
    """The networks: an MLP pair for 2-D data, DCGAN for images."""

    z_dim: int | None = _num(None, min=1, help="noise size (null = 2 for 2-D data, 100 for images)")
    g_width: int = _num(256, min=1, help="generator hidden width")
    g_depth: int = _num(3, min=1, help="generator hidden layers")
    g_batchnorm: bool = field(default=False, metadata={"help": "batch norm in the generator's hidden layers"})
    d_width: int = _num(256, min=1, help="discriminator hidden width")
    d_depth: int = _num(3, min=1, help="discriminator hidden layers")
    pack: int = _num(1, min=1, help="PacGAN packing degree (1 = off): D judges `pack` samples jointly")
    mbstd: int = _num(0, min=0, help="minibatch-std group size in D (0 = off)")
    ngf: int = _num(64, min=1, help="images: generator width (channels of the last hidden layer)")
    ndf: int = _num(64, min=1, help="images: discriminator width (channels of the first layer)")
    upsample: str = _choices("deconv", "resize", help="images: transposed conv 4-2-1, or nearest resize + conv")
    d_norm: str = _choices("auto", "batch", "none", "spectral", "instance",
                           help="images: normalisation in D (auto = batch; instance for wgan-gp)")
    cond: str = _choices("none", "concat", "projection",
                         help="conditional GAN: labels into G (embedding + concat) and D (concat or projection)")
    num_classes: int | None = _num(None, min=0, help="classes of a conditional model (null = from the data; "
                                   "filled in when training starts)")
    clusters: int = _num(0, min=0, help="images: condition G and D on k-means clusters of the training images "
                         "instead of class labels (unsupervised); samples draw clusters by their frequency (0 = off)")
    codes: int = _num(0, min=0, help="images: InfoGAN categorical code with this many values, learnt without "
                      "labels: G gets a code, D's Q head must recover it (0 = off)")
    g_arch: str = _choices("auto", "unet", "resnet", help="translation: generator (auto = unet for pix2pix, resnet "
                           "for cyclegan)")
    norm: str = _choices("auto", "batch", "instance", help="translation: normalisation in G and D (auto = batch for "
                         "pix2pix, instance for cyclegan)")
    patch: int = _num(70, min=1, help="translation: PatchGAN receptive field in pixels: 1 (PixelGAN), 16, 34, 70, "
                      "142 or 286")
    blocks: int | None = _num(None, min=0, help="translation, resnet generator: residual blocks (null = 6 below "
                              "256 px, 9 at 256 px)")
    dropout: float = _num(0.5, min=0.0, max=0.95, help="translation, unet generator: dropout in the first three "
                          "decoder layers (the noise of pix2pix; 0 = off)")
    w_dim: int = _num(128, min=1, help="stylegan: size of the intermediate latent w (and the mapping network's "
                      "width)")
    map_layers: int = _num(8, min=1, help="stylegan: fully connected layers of the mapping network z -> w")
    style: str = _choices("adain", "modulated", help="stylegan: how w enters each layer: AdaIN (StyleGAN) or "
                          "modulated/demodulated convolutions (StyleGAN2)")
    mixing: float = _num(0.9, min=0.0, max=1.0, help="stylegan: probability that a generated training image mixes "
                         "the styles of two z at a random crossover layer (style-mixing regularisation)")


@dataclass
class OptimConfig:
    """Optimisers; 'auto' takes the per-loss default of the paper."""

    name: str = _choices("auto", "adam", "rmsprop", "sgd", help="optimiser for both networks")
    lr_g: float | None = _num(None, min=0.0, help="generator learning rate (null = per-loss default)")
    lr_d: float | None = _num(None, min=0.0, help="discriminator learning rate (null = per-loss default)")
    beta1: float | None = _num(None, min=0.0, max=1.0, help="Adam beta1 (null = per-loss default)")
    beta2: float | None = _num(None, min=0.0, max=1.0, help="Adam beta2 (null = per-loss default)")
    decay: str = _choices("none", "linear", help="learning rate: constant, or constant then linear to 0 "
                          "over the second half")


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = _num(2000, min=1, help="generator steps")
    max_minutes: float = _num(0.0, min=0.0, help="also stop when the training loop has run this many wall-clock "
                              "minutes, counted across resumes (0 = no limit)")
    batch_size: int = _num(256, min=1, help="samples per batch")
    d_steps: int | None = _num(None, min=1, help="k discriminator steps per generator step (null = per-loss)")
    log_every: int = _num(50, min=1, help="steps between logged scalars")
    eval_every: int = _num(500, min=0, help="steps between metric evaluations (0 = off)")
    eval_n: int = _num(1000, min=10, help="generated samples for metrics during training")
    sample_every: int = _num(1000, min=0, help="steps between sample pictures (0 = off)")
    ckpt_every: int = _num(1000, min=1, help="steps between checkpoints")
    keep_ckpts: int = _num(2, min=1, help="checkpoints kept")
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    r1_every: int = _num(16, min=0, help="lazy regularisation: the R1 penalty (r1_gamma) every this many "
                         "iterations, weighted by the interval (0 = no R1)")
    ema: float = _num(0.0, min=0.0, max=1.0, help="decay of the generator's moving average G_ema used for "
                      "sampling and evaluation (0 = off, e.g. 0.999)")
    augment: str = field(default="", metadata={"help": "images: DiffAugment policy for D's inputs, e.g. "
                                                       "'color,translation,cutout' ('' = off)"})
    reuse_fake: bool = field(default=False, metadata={"help": "gan recipe: the G phase back-propagates through "
                                                              "the fake batch the D phase drew (as pytorch/examples' "
                                                              "DCGAN does) instead of drawing new noise: one G "
                                                              "forward fewer per iteration (speed); needs "
                                                              "train.d_steps=1"})
    channels_last: bool = field(default=True, metadata={"help": "images: channels_last memory layout for the "
                                                                "networks and batches (speed: +13-18% for DCGAN and "
                                                                "StyleGAN on the CPU here, never slower)"})
    keep_memory: bool = field(default=True, metadata={"help": "CPU on Linux: keep the memory a step frees for the "
                                                             "next step instead of returning it to the OS (fewer "
                                                             "page faults: DCGAN-64 +4-6% for ganforge's fastest loop, "
                                                             "+14-23% for a plain loop here; the process "
                                                             "holds its peak memory until training ends)"})
    compile: bool = field(default=False, metadata={"help": "torch.compile G and D (speed; compiling takes a "
                                                           "minute or more up front)"})
    amp: str = _choices("none", "bf16", help="bf16 autocast of the forward passes: CUDA only (refused on the CPU, "
                        "where bf16 is ~100x slower)")
    sync_bn: bool = field(default=False, metadata={"help": "multi-process runs: SyncBatchNorm (batch statistics "
                                                           "over the global batch)"})
    on_diverge: str = _choices("stop", "rollback", help="when training diverges (NaN/inf, or D winning "
                               "completely): stop with a diagnosis, or roll back to the last good checkpoint with "
                               "lower learning rates")
    diverge_patience: int = _num(10, min=0, help="logged steps in a row of D winning completely (D(real) -> 1, "
                                 "D(fake) -> 0, G's gradient vanishing) that count as divergence (0 = do not watch)")
    rollback_lr_factor: float = _num(0.5, min=1e-6, max=1.0, help="on_diverge=rollback: learning rates are "
                                     "multiplied by this at each rollback")
    max_rollbacks: int = _num(3, min=0, help="on_diverge=rollback: give up (stop) after this many rollbacks")
    pool: int = _num(50, min=0, help="cyclegan: history of generated images the discriminators also see "
                     "(Shrivastava et al.; 0 = off)")


@dataclass
class EvalConfig:
    """Final evaluation (`ganforge eval`)."""

    n: int | None = _num(None, min=10, help="generated samples (null = 2500 for 2-D (PacGAN protocol); "
                         "for images the held-out split's size, capped at 10000)")
    features: str = field(default="auto", metadata={"help": "images: feature space for FID/KID/precision/recall: "
                          "auto (the shipped classifier for mnist/digits8/fashion, else inception), mnist, "
                          "fashion, inception, inception:PATH"})
    hq_threshold: float = _num(3.0, min=0.0, help="high quality: distance to nearest mode < this many std")
    bins: int = _num(50, min=2, help="histogram bins per axis for KL / JSD")
    mmd_n: int = _num(1000, min=10, help="samples per side for the MMD test")
    permutations: int = _num(200, min=10, help="permutations for the MMD p-value")


@dataclass
class Config:
    """One training run."""

    description: str = field(default="", metadata={"help": "one line shown by `ganforge presets`"})
    recipe: str = _choices("gan", *TRANSLATION_RECIPES, "stylegan", help="training recipe: gan (GAN/DCGAN/WGAN/"
                           "cGAN family), image-to-image translation with pix2pix (paired) or cyclegan "
                           "(unpaired), or stylegan (mapping network, styles, noise inputs, R1, style mixing)")
    seed: int = _num(0, min=0, help="random seed")
    device: str = _choices("auto", "cpu", "cuda", help="where to train")
    loss: str = _choices(*LOSSES, help="adversarial loss")
    gp_weight: float = _num(10.0, min=0.0, help="wgan-gp: gradient-penalty weight lambda")
    clip: float = _num(0.01, min=0.0, help="wgan: weight-clipping bound c")
    r1_gamma: float | None = _num(None, min=0.0, help="R1 penalty weight gamma on real images (Mescheder et al. "
                                  "2018; the penalty is gamma/2 E||grad D(real)||^2, every train.r1_every steps); "
                                  "null = 10 for stylegan (as StyleGAN2 on FFHQ; digits collapsed with <= 1), "
                                  "0 = off for gan")
    info_weight: float = _num(1.0, min=0.0, help="InfoGAN (model.codes > 0): weight lambda of the code-recovery "
                              "(mutual information) loss")
    l1_weight: float = _num(100.0, min=0.0, help="pix2pix: weight lambda of the L1 loss ||B - G(A)||_1")
    cycle_weight: float = _num(10.0, min=0.0, help="cyclegan: weight lambda of the cycle-consistency loss")
    identity_weight: float = _num(0.5, min=0.0, help="cyclegan: identity loss weight as a fraction of "
                                  "cycle_weight (0.5 = 0.5 * lambda; 0 = off)")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# --------------------------------------------------------------------------- introspection

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a config class, e.g. ``train.steps``."""
    keys = []
    for f in dataclasses.fields(cls):
        t = _hints(cls)[f.name]
        if dataclasses.is_dataclass(t):
            keys += all_keys(t, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _nearest(key: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.4)
    if not close:  # try the last component alone: "steps" -> "train.steps"
        tails = {o.rsplit(".", 1)[-1]: o for o in options}
        tail = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(tails), n=1, cutoff=0.6)
        close = [tails[tail[0]]] if tail else []
    return f"; did you mean '{close[0]}'?" if close else ""


def _coerce(key: str, value: Any, tp: Any, meta: typing.Mapping[str, Any]) -> Any:
    """Check ``value`` against the annotation ``tp`` and the field's metadata; return it typed."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp = args[0]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{key} must be an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
    elif tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a path or description that YAML read as a number
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        allowed = ", ".join(meta["choices"])
        raise ConfigError(
            f"{key}={value!r} is not allowed; choose one of: {allowed}{_nearest(str(value), meta['choices'])}"
        )
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{key} must be >= {meta['min']}, got {value!r}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{key} must be <= {meta['max']}, got {value!r}")
    return value


def from_dict(d: typing.Mapping[str, Any], cls: type = Config, prefix: str = "") -> Any:
    """Build a config object from a nested mapping, refusing unknown keys and bad values."""
    if not isinstance(d, typing.Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {d!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in d.items():
        key = f"{prefix}{name}"
        if name not in fields:
            raise ConfigError(f"unknown config key '{key}'{_nearest(key, all_keys())}")
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(value if value is not None else {}, tp, key + ".")
        else:
            kwargs[name] = _coerce(key, value, tp, fields[name].metadata)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``KEY=VALUE`` strings; values are parsed as YAML scalars (``3``, ``1e-4``, ``true``, ``null``)."""
    d = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like KEY=VALUE, e.g. train.steps=3000")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in all_keys():
            raise ConfigError(f"unknown config key '{key}'{_nearest(key, all_keys())}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            value = raw  # a plain string that happens to look like YAML
        node = d
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return from_dict(d)


# --------------------------------------------------------------------------- presets

def preset_names() -> list[str]:
    files = resources.files("ganforge") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        d = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{origin} must hold a mapping of config keys, got {type(d).__name__}")
    return d


def load_config(preset_or_yaml: str, overrides: list[str] | None = None) -> Config:
    """A preset name (``ring8``) or a path to a YAML file, then the ``KEY=VALUE`` overrides."""
    path = Path(preset_or_yaml).expanduser()
    if preset_or_yaml.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        cfg = from_dict(_read_yaml(path.read_text(), str(path)))
    elif preset_or_yaml in preset_names():
        text = (resources.files("ganforge") / "presets" / f"{preset_or_yaml}.yaml").read_text()
        cfg = from_dict(_read_yaml(text, f"preset {preset_or_yaml}"))
    else:
        names = preset_names()
        raise ConfigError(
            f"unknown preset '{preset_or_yaml}'{_nearest(preset_or_yaml, names)} "
            f"(presets: {', '.join(names)}; or give a path to a .yaml file)"
        )
    return apply_overrides(cfg, overrides or [])


def list_presets() -> list[tuple[str, str]]:
    return [(n, load_config(n).description) for n in preset_names()]


# --------------------------------------------------------------------------- resolution

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


#: recipe=stylegan: Karras et al. (2020): Adam 0.002, betas (0, 0.99), equalised learning rate.
STYLEGAN_DEFAULTS: dict[str, Any] = dict(name="adam", lr=2e-3, beta1=0.0, beta2=0.99, d_steps=1)


def resolve(cfg: Config) -> Config:
    """Fill every ``auto``/``null`` field from the per-loss defaults and check cross-field rules."""
    cfg = from_dict(to_dict(cfg))  # a copy
    dft = STYLEGAN_DEFAULTS if cfg.recipe == "stylegan" else LOSS_DEFAULTS[cfg.loss]
    o = cfg.optim
    if o.name == "auto":
        o.name = dft["name"]
    o.lr_g = dft["lr"] if o.lr_g is None else o.lr_g
    o.lr_d = dft["lr"] if o.lr_d is None else o.lr_d
    o.beta1 = dft["beta1"] if o.beta1 is None else o.beta1
    o.beta2 = dft["beta2"] if o.beta2 is None else o.beta2
    if cfg.train.d_steps is None:
        cfg.train.d_steps = dft["d_steps"]
    if cfg.r1_gamma is None:
        cfg.r1_gamma = 10.0 if cfg.recipe == "stylegan" else 0.0
    if cfg.train.reuse_fake and (cfg.recipe != "gan" or cfg.train.d_steps != 1):
        raise ConfigError("train.reuse_fake applies to the gan recipe with train.d_steps=1 (one fake batch per "
                          f"iteration); this run has recipe={cfg.recipe}, train.d_steps={cfg.train.d_steps}")
    if cfg.data.std is None:
        cfg.data.std = {"ring8": 0.01, "grid25": 0.05}.get(cfg.data.name, 0.0)
    if is_translation(cfg):
        _resolve_translation(cfg)
        return cfg
    if cfg.data.name in TRANSLATION_DATA:
        raise ConfigError(f"data.name={cfg.data.name} is a translation task: set recipe=pix2pix (paired) or "
                          "recipe=cyclegan (unpaired), or use a preset such as inpaint or cyclegan-digits")
    if cfg.data.root and cfg.data.name in IMAGE_DATA:
        cfg.data.name = "images"  # a preset for bundled digits + data.root=... trains on the user's images
    if is_image(cfg):
        _resolve_images(cfg)
        return cfg
    if cfg.recipe == "stylegan":
        raise ConfigError(f"recipe=stylegan trains on image data; data.name={cfg.data.name!r} is a 2-D distribution")
    if cfg.model.z_dim is None:
        cfg.model.z_dim = 2
    if cfg.eval.n is None:
        cfg.eval.n = 2500  # PacGAN's protocol
    for key, val in (("model.cond", cfg.model.cond != "none"), ("train.augment", bool(cfg.train.augment)),
                     ("model.codes", cfg.model.codes > 0), ("model.clusters", cfg.model.clusters > 0)):
        if val:
            raise ConfigError(f"{key} applies to image data; data.name={cfg.data.name!r} is a 2-D distribution")
    if cfg.data.name == "points" and not cfg.data.path:
        raise ConfigError("data.name=points needs data.path=FILE (.npy or .csv with 2 columns)")
    if cfg.train.batch_size % cfg.model.pack:
        raise ConfigError(
            f"train.batch_size ({cfg.train.batch_size}) must be a multiple of model.pack ({cfg.model.pack})"
        )
    if cfg.model.mbstd and (cfg.train.batch_size // cfg.model.pack) % cfg.model.mbstd:
        raise ConfigError(
            f"model.mbstd group size ({cfg.model.mbstd}) must divide the discriminator's batch "
            f"({cfg.train.batch_size // cfg.model.pack})"
        )
    return cfg


def is_translation(cfg: Config) -> bool:
    """Whether a config trains an image-to-image translator (pix2pix or cyclegan)."""
    return cfg.recipe in TRANSLATION_RECIPES


def _resolve_translation(cfg: Config) -> None:
    d, m = cfg.data, cfg.model
    if d.name not in TRANSLATION_DATA:
        raise ConfigError(f"recipe={cfg.recipe} translates images: data.name must be one of "
                          f"{', '.join(TRANSLATION_DATA)}, got {d.name!r}")
    if d.root and d.name in TRANSLATION_DATA:
        d.name = "pairs"  # a preset for a built-in task + data.root=... trains on the user's folder
    if d.name == "pairs" and not d.root:
        raise ConfigError("data.name=pairs needs data.root=FOLDER (aligned A|B files, A/ + B/ folders, or "
                          "trainA/ trainB/ testA/ testB/)")
    if d.size is None and d.name != "pairs":
        d.size = 32
    if d.size is not None and d.size not in TRANSLATION_SIZES:
        raise ConfigError(f"data.size must be one of {', '.join(map(str, TRANSLATION_SIZES))} for translation "
                          f"(the U-Net halves the image down to 1x1: a power of two), got {d.size}")
    if d.channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1, 3 or null, got {d.channels}")
    if cfg.loss not in ("minimax", "ns", "lsgan", "hinge"):
        raise ConfigError(f"loss={cfg.loss} is not offered for {cfg.recipe}; use ns (pix2pix's), lsgan "
                          "(cyclegan's), minimax or hinge")
    if m.g_arch == "auto":
        m.g_arch = "unet" if cfg.recipe == "pix2pix" else "resnet"
    if m.norm == "auto":
        m.norm = "batch" if cfg.recipe == "pix2pix" else "instance"
    if m.patch not in PATCH_SIZES:
        raise ConfigError(f"model.patch must be one of {', '.join(map(str, PATCH_SIZES))} (the receptive fields of "
                          f"0..5 strided layers), got {m.patch}")
    for key, val in (("model.cond", m.cond != "none"), ("model.codes", m.codes > 0),
                     ("model.clusters", m.clusters > 0), ("train.ema", cfg.train.ema > 0),
                     ("train.augment", bool(cfg.train.augment)), ("model.mbstd", m.mbstd > 0),
                     ("r1_gamma", (cfg.r1_gamma or 0) > 0)):
        if val:
            raise ConfigError(f"{key} applies to the gan recipe, not {cfg.recipe}")
    if cfg.eval.n is None:
        cfg.eval.n = 500


#: PatchGAN receptive field (pixels) -> strided 4x4 conv layers (Isola et al., appendix 6.1.2)
PATCH_SIZES = {1: 0, 16: 1, 34: 2, 70: 3, 142: 4, 286: 5}


def is_image(cfg: Config) -> bool:
    """Whether a config trains on images (DCGAN networks) rather than 2-D points (MLPs)."""
    return cfg.data.name in IMAGE_DATA


def _resolve_images(cfg: Config) -> None:
    d, m = cfg.data, cfg.model
    if d.name == "images" and not d.root:
        raise ConfigError("data.name=images needs data.root=PATH (an image folder, a .npz file or IDX files)")
    style = cfg.recipe == "stylegan"
    if d.size is None:
        d.size = 32 if (d.name == "digits8" or style) else 28 if d.name in ("mnist", "fashion") else None
    sizes = STYLEGAN_SIZES if style else IMAGE_SIZES
    if d.size is None or d.size not in sizes:
        raise ConfigError(f"data.size must be one of {', '.join(map(str, sizes))} for "
                          f"{'recipe=stylegan' if style else 'image data'}, got {d.size}")
    if d.channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1, 3 or null, got {d.channels}")
    if m.z_dim is None:
        m.z_dim = m.w_dim if style else 100
    if m.d_norm == "auto":
        # Gulrajani et al. (2017): no batch norm in a gradient-penalty critic (the penalty is per sample)
        m.d_norm = "instance" if cfg.loss == "wgan-gp" else "batch"
    if m.pack != 1:
        raise ConfigError("model.pack (PacGAN) is implemented for 2-D data only; use model.mbstd for images")
    if m.codes and m.cond != "none":
        raise ConfigError(f"model.codes={m.codes} (an unsupervised InfoGAN code) and model.cond={m.cond} (class "
                          "labels) cannot be combined; set one of them")
    if m.clusters:
        if m.clusters == 1:
            raise ConfigError("model.clusters must be 0 (off) or >= 2")
        if m.codes:
            raise ConfigError("model.clusters and model.codes cannot be combined; set one of them")
        if m.cond == "none":
            m.cond = "concat"  # the clusters are the labels of a conditional model (concat beat projection on MNIST)
        if m.num_classes not in (None, m.clusters):
            raise ConfigError(f"model.num_classes={m.num_classes} but model.clusters={m.clusters}; leave "
                              "num_classes unset")
        m.num_classes = m.clusters
    if m.codes == 1:
        raise ConfigError("model.codes must be 0 (off) or >= 2: a code with one value carries no information")
    if cfg.train.augment:
        import torch

        from ganforge.augment import diff_augment

        try:
            diff_augment(torch.zeros(1, 1, 8, 8), cfg.train.augment)
        except ValueError as e:
            raise ConfigError(f"train.augment={cfg.train.augment!r}: {e}") from None


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key: the reference table in docs/configuration.md."""
    rows = []

    def walk(cls: type, obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            t = _hints(cls)[f.name]
            if dataclasses.is_dataclass(t):
                walk(t, getattr(obj, f.name), f"{prefix}{f.name}.")
            else:
                help_ = f.metadata.get("help", "")
                if f.metadata.get("choices"):
                    help_ += f" ({' | '.join(f.metadata['choices'])})"
                rows.append((prefix + f.name, repr(getattr(obj, f.name)), help_))

    walk(Config, Config(), "")
    return rows
