"""Typed configuration: the sections every run shares, and the machinery that reads them.

A run is one :class:`Config`. Its shared sections live here: where the data comes from
(``data``: one class per kind of data), the optimiser (``optim``), the loop (``train``),
the evaluation (``eval``) and the seed and device. The networks' and the loss's fields
are the recipe's own: each recipe module (``ganforge.recipes.gan``, ``...stylegan``,
``...pix2pix``, ``...cyclegan``) defines its ``model`` and ``loss`` sections beside its
``build``. ``ganforge.recipes`` puts the two together::

    from ganforge.recipes import load_config, resolve
    cfg = resolve(load_config("ring8", ["train.steps=3000", "loss=wgan-gp", "seed=3"]))

This module holds the machinery the recipes use for their sections: fields with bounds and
choices (:func:`num`, :func:`choices`, :func:`flag`), strict typed parsing of a mapping
(:func:`from_dict`), nearest-key hints (:func:`nearest`) and reading presets. It imports
nothing of ganforge above :mod:`ganforge.errors`.
"""

from __future__ import annotations

import dataclasses
import difflib
import reprlib
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import ConfigError

TOY_DISTRIBUTIONS = ("ring8", "grid25", "spiral", "moons", "circles", "swissroll", "points")
# "images": the user's folder / .npz / IDX files at data.root; captioned-*: the MNIST digits with captions measured
# from their pixels (data/captions.py)
IMAGE_DATA = ("mnist", "fashion", "digits8", "captioned-digits", "captioned-colordigits", "images")
# image-to-image translation: built-in tasks made from bundled data, or "pairs" = the user's folder at data.root
# in one of data.layout's formats
TRANSLATION_DATA = ("colordigits", "inpaint", "inpaint-digits", "colorize", "pairs")


# --------------------------------------------------------------------------- field helpers (for every section)

def choices(*values: str, help: str = "") -> Any:
    """A string field with an allowed set; the first value is the default."""
    return field(default=values[0], metadata={"choices": values, "help": help})


def num(default: Any, *, min: float | None = None, max: float | None = None, help: str = "",
        applies: tuple[str, tuple[str, ...]] | None = None) -> Any:
    """A number field (int or float by its annotation) with optional bounds.

    ``applies=("name", ("ring8",))``: the field means something only when the section's ``name`` is one of
    those; a value other than the default given for another name is refused (it would be ignored silently).
    """
    return field(default=default, metadata={"min": min, "max": max, "help": help, "applies": applies})


def flag(default: bool, help: str = "") -> Any:
    """A true/false field."""
    return field(default=default, metadata={"help": help})


def text(default: str | None, help: str = "", applies: tuple[str, tuple[str, ...]] | None = None) -> Any:
    """A free string field (a path, a policy, a description); ``applies`` as for :func:`num`."""
    return field(default=default, metadata={"help": help, "applies": applies})


_REPR = reprlib.Repr()  # (Python 3.11's Repr takes no keyword arguments)
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 2, 4, 4, 4, 4
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40


def short_key(key: Any) -> str:
    """A config key as an error message quotes it: at most 60 characters."""
    key = str(key)
    return key if len(key) <= 60 else key[:57] + "..."


def short(value: Any) -> str:
    """``repr(value)`` cut short (at most about 60 characters): what an error message quotes of a user's value."""
    return _REPR.repr(value)


# --------------------------------------------------------------------------- the shared sections: data

@dataclass
class ToyData:
    """2-D points: a built-in distribution, or the user's points (``points``)."""

    name: str = choices(*TOY_DISTRIBUTIONS, help="2-D distribution ('points' = your file at data.path)")
    path: str | None = text(None, help="points: .npy (N, 2) or .csv with 2 columns", applies=("name", ("points",)))
    n_modes: int = num(8, min=1, help="ring8: number of Gaussians on the circle", applies=("name", ("ring8",)))
    radius: float = num(1.0, min=0.0, help="ring8: circle radius", applies=("name", ("ring8",)))
    grid_size: int = num(5, min=1, help="grid25: modes per side", applies=("name", ("grid25",)))
    spacing: float = num(2.0, min=0.0, help="grid25: distance between neighbouring modes",
                         applies=("name", ("grid25",)))
    std: float | None = num(None, min=0.0, help="mixture std; null = 0.01 for ring8, 0.05 for grid25",
                            applies=("name", ("ring8", "grid25")))
    noise: float = num(0.05, min=0.0, help="spiral/moons/circles/swissroll: Gaussian noise std",
                       applies=("name", ("spiral", "moons", "circles", "swissroll")))
    normalize: bool = flag(True, help="train on standardised coordinates")


@dataclass
class ImageData:
    """Images: a bundled set, or the user's folder / .npz / IDX files (``images``)."""

    name: str = choices(*IMAGE_DATA, help="bundled mnist, fashion, digits8, captioned-digits, captioned-colordigits "
                        "(digits with captions), or 'images' = your data at data.root (captions.jsonl or a .txt "
                        "per image: captioned)")
    root: str | None = text(None, help="your images: a folder (class sub-folders = labels), a .npz file or a "
                                       "folder of IDX files")
    size: int | None = num(None, min=8, help="image side in pixels (the recipe says which); null = the data's own")
    channels: int | None = num(None, min=1, max=3, help="1 (gray) or 3 (RGB); null = the data's own")
    skip_bad: bool = flag(False, help="skip unreadable image files (and count them) instead of stopping")
    stream: str = choices("auto", "true", "false", help="image folders: train from a decoded, resized cache on disk "
                          "read by DataLoader workers, not from memory (auto = when the decoded images would exceed "
                          "1 GiB; filled in when training starts)")
    workers: int | None = num(None, min=0, max=64, help="streamed data: DataLoader worker processes (null = auto: "
                              "a quarter of the CPU cores, at most 4, so 0 below 4 cores; 0 = read in the training "
                              "process; reset to null when auto keeps the data in memory)",
                              applies=("stream", ("auto", "true")))
    hflip: bool = flag(False, help="mirror each real training image left-right with probability 1/2 (not for "
                                   "digits or text)")


@dataclass
class PairData:
    """Image pairs for translation: a built-in task, or the user's folder (``pairs``)."""

    name: str = choices(*TRANSLATION_DATA, help="built-in colordigits, inpaint, inpaint-digits, colorize; "
                                                "'pairs' = your folder at data.root")
    root: str | None = text(None, help="your pairs: aligned A|B files, A/ + B/ folders, or trainA/ trainB/ "
                                       "testA/ testB/")
    size: int | None = num(None, min=8, help="image side in pixels (32, 64, 128, 256); null = 32 for the "
                           "built-in tasks, the images' own for yours")
    channels: int | None = num(None, min=1, max=3, help="1 (gray) or 3 (RGB); null = the data's own")
    skip_bad: bool = flag(False, help="skip unreadable image files (and count them) instead of stopping")
    layout: str = choices("auto", "aligned", "folders", "unpaired",
                          help="data.name=pairs: aligned = A|B side by side in one file (pix2pix's format); "
                               "folders = A/ and B/ with files matched by name; unpaired = trainA/ trainB/ testA/ "
                               "testB/ (CycleGAN's format); auto = whichever the folder holds")
    direction: str = choices("AtoB", "BtoA", help="which side is the input (BtoA swaps A and B)")
    hole: float = num(0.375, min=0.05, max=0.9, help="inpaint tasks: side of the square hole as a fraction of the "
                      "image side", applies=("name", ("inpaint", "inpaint-digits")))


#: kind of data -> its data section; each kind also has its own eval section (below)
DATA_KINDS: dict[str, type] = {"toy": ToyData, "images": ImageData, "pairs": PairData}
KIND_WORDS = {"toy": "2-D points", "images": "image data", "pairs": "image pairs (translation)"}
KIND_IS = {"toy": "a 2-D distribution", "images": "image data", "pairs": "a translation task"}  # "data.name=X is ..."


def data_kind(name: str) -> str:
    """``toy``, ``images`` or ``pairs`` for a ``data.name``; a clear error for an unknown one."""
    for kind, cls in DATA_KINDS.items():
        if name in _field_choices(cls, "name"):
            return kind
    every = (*TOY_DISTRIBUTIONS, *IMAGE_DATA, *TRANSLATION_DATA)
    raise ConfigError(f"data.name={short(name)} is not allowed; choose one of: {', '.join(every)}"
                      f"{nearest(str(name)[:100], every)}")


# --------------------------------------------------------------------------- the shared sections: eval

@dataclass
class ToyEval:
    """Final evaluation of a 2-D run (`ganforge eval`)."""

    n: int = num(2500, min=10, help="generated samples (2500: PacGAN's protocol)")
    hq_threshold: float = num(3.0, min=0.0, help="high quality: distance to nearest mode < this many std")
    bins: int = num(50, min=2, help="histogram bins per axis for KL / JSD")
    mmd_n: int = num(1000, min=10, help="samples per side for the MMD test")
    permutations: int = num(200, min=10, help="permutations for the MMD p-value")


@dataclass
class ImageEval:
    """Final evaluation of an image run (`ganforge eval`)."""

    n: int | None = num(None, min=10, help="generated samples (null = the held-out split's size, capped at 10000, "
                        "and at least 2000 with the shipped classifiers where the data holds an equal-size floor: "
                        "mnist 2000, fashion 10000, digits8 898; 500 for translation)")
    features: str = text("auto", help="feature space for FID/KID/precision/recall: auto (the shipped classifier "
                                      "for mnist/digits8/fashion, else inception), mnist, fashion, inception, "
                                      "inception:PATH")
    resamples: int = num(200, min=0, help="image generation: bootstrap replicates for the 95% intervals of FID and "
                         "KID (0 = no intervals)")


EVAL_KINDS: dict[str, type] = {"toy": ToyEval, "images": ImageEval, "pairs": ImageEval}


# --------------------------------------------------------------------------- the shared sections: optim, train

@dataclass
class OptimConfig:
    """Optimisers; 'auto' / null take the recipe's (per-loss) default from its paper."""

    name: str = choices("auto", "adam", "rmsprop", "sgd", help="optimiser for both networks")
    lr_g: float | None = num(None, min=0.0, max=1e4, help="generator learning rate (null = per-loss default)")
    lr_d: float | None = num(None, min=0.0, max=1e4, help="discriminator learning rate (null = per-loss default)")
    beta1: float | None = num(None, min=0.0, max=1.0, help="Adam beta1 (null = per-loss default)")
    beta2: float | None = num(None, min=0.0, max=1.0, help="Adam beta2 (null = per-loss default)")
    decay: str = choices("none", "linear", help="learning rate: constant, or constant then linear to 0 "
                         "over the second half")


@dataclass
class TrainConfig:
    """The training loop."""

    steps: int = num(2000, min=1, max=10**10, help="generator steps")
    max_minutes: float = num(0.0, min=0.0, help="also stop when the training loop has run this many wall-clock "
                             "minutes, counted across resumes (0 = no limit); given without train.steps, the "
                             "budget alone limits the run (no step cap)")
    batch_size: int = num(256, min=1, max=2**20, help="samples per batch")
    d_steps: int | None = num(None, min=1, help="k discriminator steps per generator step (null = per-loss)")
    log_every: int = num(50, min=1, help="steps between logged scalars (a preset's value above train.steps "
                         "becomes steps / 5 when not set: fit_intervals)")
    eval_every: int = num(500, min=0, help="steps between metric evaluations (0 = off; a preset's value above "
                          "train.steps becomes steps / 5 when not set)")
    eval_n: int = num(1000, min=10, help="generated samples for metrics during training")
    final_eval: bool = flag(True, help="after the last step, evaluate the run (eval.json) and write report.html "
                            "(false: neither; `ganforge eval RUN` evaluates it later)")
    sample_every: int = num(1000, min=0, help="steps between sample pictures (0 = off; a preset's value above "
                            "train.steps becomes steps / 5 when not set)")
    ckpt_every: int = num(1000, min=1, help="steps between checkpoints")
    keep_ckpts: int = num(2, min=1, help="checkpoints kept")
    progress: bool = flag(True, help="show a progress bar")
    r1_every: int = num(16, min=0, help="lazy regularisation: the R1 penalty (loss.r1_gamma) every this many "
                        "iterations, weighted by the interval (0 = no R1)")
    ema: float = num(0.0, min=0.0, max=1.0, help="decay of the generator's moving average G_ema used for "
                     "sampling and evaluation (0 = off, e.g. 0.999)")
    augment: str = text("", help="images: DiffAugment policy for D's inputs, e.g. 'color,translation,cutout' "
                                 "('' = off)")
    reuse_fake: bool = flag(False, help="gan recipe: the G phase back-propagates through the fake batch the D "
                                        "phase drew (as pytorch/examples' DCGAN does) instead of drawing new "
                                        "noise: one G forward fewer per iteration (speed); needs train.d_steps=1")
    channels_last: bool = flag(True, help="images: channels_last memory layout for the networks and batches "
                                          "(speed: +13-18% for DCGAN and StyleGAN on the CPU here, never slower)")
    keep_memory: bool = flag(True, help="CPU on Linux: keep the memory a step frees for the next step instead of "
                                        "returning it to the OS (fewer page faults: DCGAN-64 +4-6% for ganforge's "
                                        "fastest loop, +14-23% for a plain loop here; the process holds its peak "
                                        "memory until training ends)")
    compile: bool = flag(False, help="torch.compile G and D (speed; compiling takes a minute or more up front)")
    threads: int | None = num(None, min=1, max=1024, help="CPU: intra-op threads (null = auto: the cores other "
                              "processes leave idle when training starts, measured, at most torch's default; a "
                              "resumed run keeps the count its checkpoint ran with, for bitwise exact resume)")
    amp: str = choices("auto", "none", "bf16", "fp16", help="autocast of the forward passes: auto = bf16 where it "
                       "is measured faster than fp32 here (CUDA with bf16; a CPU whose bf16 matmul and convolution "
                       "win a short probe), else fp32; none = fp32; fp16: CUDA only, with loss scaling")
    sync_bn: bool = flag(False, help="multi-process runs: SyncBatchNorm (batch statistics over the global batch)")
    on_diverge: str = choices("stop", "rollback", help="when training diverges (NaN/inf, or D winning "
                              "completely): stop with a diagnosis, or roll back to the last good checkpoint with "
                              "lower learning rates")
    diverge_patience: int = num(10, min=0, help="logged steps in a row of D winning completely (D(real) -> 1, "
                                "D(fake) -> 0, G's gradient vanishing) that count as divergence (0 = do not watch)")
    rollback_lr_factor: float = num(0.5, min=1e-6, max=1.0, help="on_diverge=rollback: learning rates are "
                                    "multiplied by this at each rollback")
    max_rollbacks: int = num(3, min=0, help="on_diverge=rollback: give up (stop) after this many rollbacks")


#: ``train.steps`` of a run whose only limit is its wall-clock budget (:func:`lift_step_cap`)
NO_STEP_CAP = 10**10


def lift_step_cap(train: TrainConfig, given: Iterable[str] = ()) -> bool:
    """A wall-clock budget given without a step count (``--set train.max_minutes=10``, dotted keys in
    ``given``) trains until the budget ends: ``train.steps`` becomes :data:`NO_STEP_CAP`. Returns whether it
    did. Giving both keeps both: the run stops at whichever comes first."""
    given = set(given)
    if "train.max_minutes" in given and "train.steps" not in given and train.max_minutes > 0:
        train.steps = NO_STEP_CAP
        return True
    return False


def step_cap(train: TrainConfig) -> int | None:
    """``train.steps``, or None for a run limited by its wall-clock budget alone."""
    return None if train.steps >= NO_STEP_CAP else train.steps


#: intervals that :func:`fit_intervals` shortens on a run shorter than them, and the points it aims for
FITTED_INTERVALS = ("log_every", "eval_every", "sample_every")
MIN_POINTS = 5


def fit_intervals(train: TrainConfig, given: Iterable[str] = ()) -> dict[str, tuple[int, int]]:
    """Shorten ``train.log_every`` / ``eval_every`` / ``sample_every`` that exceed ``train.steps`` to
    ``max(1, steps // MIN_POINTS)``, so that a short run's curves get about five points instead of one; keys
    in ``given`` (dotted, ``train.eval_every``: what the user set) and 0 (off) are left alone. Called once,
    when a fresh run's config is made (``recipes.load_config``): a resumed run keeps the intervals its
    ``config.yaml`` holds. Returns {name: (old, new)} for what it changed."""
    given = set(given)
    changed = {}
    for name in FITTED_INTERVALS:
        old = getattr(train, name)
        if f"train.{name}" in given or not old or old <= train.steps:
            continue
        new = max(1, train.steps // MIN_POINTS)
        setattr(train, name, new)
        changed[name] = (old, new)
    return changed


@dataclass
class Config:
    """One training run: the shared sections, and the recipe's ``model`` and ``loss`` sections.

    ``data`` and ``eval`` are the classes of the data's kind (:data:`DATA_KINDS`, :data:`EVAL_KINDS`);
    ``model`` and ``loss`` the recipe's (``ganforge.recipes.sections``).
    """

    description: str = text("", help="one line shown by `ganforge presets`")
    recipe: str = text("gan", help="training recipe: gan (GAN/DCGAN/WGAN/cGAN family), pix2pix (paired "
                                   "translation), cyclegan (unpaired translation), stylegan, biggan (class-"
                                   "conditional), text2image (captions)")
    seed: int = num(0, min=0, max=2**32 - 1, help="random seed (0 .. 2**32 - 1)")
    device: str = choices("auto", "cpu", "cuda", help="where to train")
    data: Any = field(default_factory=ToyData)
    model: Any = None
    loss: Any = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: Any = field(default_factory=ToyEval)

    @property
    def data_kind(self) -> str:
        """``toy``, ``images`` or ``pairs``: the kind of data this run trains on."""
        return data_kind(self.data.name)


SHARED_SECTIONS: dict[str, type] = {"optim": OptimConfig, "train": TrainConfig}
#: the top-level keys of every config (the sections are listed apart)
TOP_KEYS = ("description", "recipe", "seed", "device")


# --------------------------------------------------------------------------- introspection

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_choices(cls: type, name: str) -> tuple[str, ...]:
    return next(f.metadata.get("choices", ()) for f in dataclasses.fields(cls) if f.name == name)


def keys_of(cls: type, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a section class, e.g. ``train.steps`` with ``prefix='train.'``."""
    return [prefix + f.name for f in dataclasses.fields(cls)]


def nearest(key: str, options: Iterable[str]) -> str:
    """``"; did you mean 'X'?"`` for the closest of ``options``, or ``""``."""
    options, key = list(options), key[:100]  # a hint for a typo, not for a pasted essay
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.4)
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
        raise ConfigError(f"{key} must be true or false, got {short(value)}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"{key} must be an integer, got {short(value)}")
    elif tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {short(value)}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} must be a finite number, got {short(value)}")
    elif tp is str:
        if isinstance(value, bool):  # YAML reads `true` as a boolean: a choice "true" (data.stream) stays that word
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)  # a path or description that YAML read as a number
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {short(value)}")
    if meta.get("choices") and value not in meta["choices"]:
        allowed = ", ".join(meta["choices"])
        raise ConfigError(
            f"{key}={short(value)} is not allowed; choose one of: {allowed}{nearest(str(value), meta['choices'])}"
        )
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{key} must be >= {meta['min']}, got {short(value)}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{key} must be <= {meta['max']}, got {short(value)}")
    return value


def from_dict(d: typing.Mapping[str, Any], cls: type, prefix: str = "",
              unknown: Callable[[str], str] | None = None) -> Any:
    """Build section ``cls`` from a flat mapping of its fields, refusing unknown keys and bad values.

    ``unknown(key)`` gives the error message for a key ``cls`` does not have (default: the nearest key).
    """
    where = prefix.rstrip(".") or "config"
    if not isinstance(d, typing.Mapping):
        raise ConfigError(f"{where} must be a mapping of keys, got {short(d)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in d.items():
        key = f"{prefix}{name}"
        if name not in fields:
            msg = unknown(key) if unknown else ""
            raise ConfigError(msg or f"unknown config key '{short_key(key)}'{nearest(key, keys_of(cls, prefix))}")
        kwargs[name] = _coerce(key, value, hints[name], fields[name].metadata)
    for name, value in kwargs.items():  # a value for a field that this section's choice ignores
        applies = fields[name].metadata.get("applies")
        if applies is None or value == fields[name].default:
            continue
        other, allowed = applies
        chosen = kwargs.get(other, fields[other].default)
        if chosen not in allowed:
            raise ConfigError(f"{prefix}{name} applies to {prefix}{other}={' or '.join(allowed)} only; this run has "
                              f"{prefix}{other}={chosen}, which would ignore it (remove {prefix}{name}, or set "
                              f"{prefix}{other})")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config (or one section) as plain nested dicts, in field order: what ``config.yaml`` holds."""
    return dataclasses.asdict(cfg)


def parse_value(raw: str) -> Any:
    """A ``--set`` value: a YAML scalar (``3``, ``1e-4``, ``true``, ``null``), else the string itself."""
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return raw if isinstance(value, (dict, list)) else value  # a plain string that happens to look like YAML


def split_override(item: str) -> tuple[str, Any]:
    """``"train.steps=3000"`` -> ``("train.steps", 3000)``."""
    if "=" not in item:
        raise ConfigError(f"override {short(item)} must look like KEY=VALUE, e.g. train.steps=3000")
    key, raw = item.split("=", 1)
    return key.strip(), parse_value(raw)


def field_rows(cls: type, obj: Any, prefix: str) -> list[tuple[str, str, str]]:
    """(key, value, help) for each field of a section: the rows of `ganforge config`."""
    rows = []
    for f in dataclasses.fields(cls):
        help_ = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            help_ += f" ({' | '.join(f.metadata['choices'])})"
        rows.append((prefix + f.name, repr(getattr(obj, f.name)), help_))
    return rows


# --------------------------------------------------------------------------- presets

def preset_names() -> list[str]:
    files = resources.files("ganforge") / "presets"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


#: a config holds a few hundred values; YAML aliases can make a few hundred bytes stand for billions
MAX_YAML_VALUES = 10_000


def _count_values(obj: Any, limit: int) -> int:
    """Values in a loaded YAML document, counting each alias expansion, stopping once past ``limit``."""
    count, stack = 0, [obj]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return count


def read_yaml(text: str, origin: str) -> dict[str, Any]:
    """The mapping a YAML text holds; a clear error naming ``origin`` otherwise (also for a document whose
    aliases expand to more than :data:`MAX_YAML_VALUES` values, a "billion laughs")."""
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin} is not valid YAML: {str(e).splitlines()[0][:200]}") from None
    except RecursionError:
        raise ConfigError(f"{origin} is nested too deeply to be a config") from None
    if d is None:
        raise ConfigError(f"{origin} is empty: it must hold a mapping of config keys")
    if not isinstance(d, dict):
        raise ConfigError(f"{origin} must hold a mapping of config keys, got {type(d).__name__}")
    if _count_values(d, MAX_YAML_VALUES) > MAX_YAML_VALUES:
        raise ConfigError(f"{origin} expands to more than {MAX_YAML_VALUES:,} values (YAML aliases?); a config "
                          "holds a few hundred")
    return d


def read_text_file(path: Path, what: str) -> str:
    """A user's UTF-8 text file; one clear line for a missing file, a folder, unreadable or non-UTF-8 bytes."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory, not a file")
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read ({e.strerror})") from None


def read_preset(preset_or_yaml: str) -> dict[str, Any]:
    """The raw mapping of a preset name (``ring8``) or a YAML file path, not yet checked."""
    path = Path(preset_or_yaml).expanduser()
    if preset_or_yaml.endswith((".yaml", ".yml")) or path.is_file():
        return read_yaml(read_text_file(path, "config file"), str(path))
    if preset_or_yaml in preset_names():
        text_ = (resources.files("ganforge") / "presets" / f"{preset_or_yaml}.yaml").read_text()
        return read_yaml(text_, f"preset {preset_or_yaml}")
    names = preset_names()
    raise ConfigError(
        f"unknown preset '{preset_or_yaml}'{nearest(preset_or_yaml, names)} "
        f"(presets: {', '.join(names)}; or give a path to a .yaml file)"
    )
