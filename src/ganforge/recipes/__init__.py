"""The recipes, and a run's config put together from the shared sections and its recipe's own.

    from ganforge.recipes import load_config, resolve, recipe_module
    cfg = resolve(load_config("mnist", ["loss=hinge", "model.g_width=32"]))
    recipe = recipe_module(cfg).build(cfg, torch.device("cpu"))

Each recipe module (one per paper family) holds its ``model`` and ``loss`` section classes,
``LOSSES`` (the adversarial losses it takes), ``DATA`` (the kinds of data it trains on),
``optim_defaults``, ``class_conditional`` (whether users pick a class), ``resolve`` (its ``auto``
fields and cross-field rules), ``validate``
(reads the data once), ``build_models`` and ``build``. A new GAN variant is one more module
here and one more line in :data:`RECIPES`.

A config shows and accepts only the keys its run uses: a key of another recipe or another
kind of data is refused with the recipe or data it belongs to. ``config.yaml`` files of
ganforge 0.1 (one flat section with every key of every recipe) are translated on load
(:func:`upgrade`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from types import ModuleType
from typing import Any

from ganforge.config import (
    DATA_KINDS,
    EVAL_KINDS,
    KIND_IS,
    KIND_WORDS,
    SHARED_SECTIONS,
    TOP_KEYS,
    Config,
    data_kind,
    field_rows,
    fit_intervals,
    from_dict,
    keys_of,
    lift_step_cap,
    nearest,
    read_preset,
    short_key,
    split_override,
    step_cap,
    to_dict,
)
from ganforge.errors import ConfigError
from ganforge.recipes import biggan, cyclegan, gan, pix2pix, stylegan, text2image

RECIPES: dict[str, ModuleType] = {"gan": gan, "pix2pix": pix2pix, "cyclegan": cyclegan, "stylegan": stylegan,
                                  "biggan": biggan, "text2image": text2image}


def recipe_module(cfg_or_name: Config | str) -> ModuleType:
    """The module of a recipe name (or of a config's ``recipe``)."""
    name = cfg_or_name if isinstance(cfg_or_name, str) else cfg_or_name.recipe
    if name not in RECIPES:
        raise ConfigError(f"recipe={name!r} is not allowed; choose one of: {', '.join(RECIPES)}"
                          f"{nearest(str(name), RECIPES)}")
    return RECIPES[name]


def sections(recipe: str, kind: str, name: str | None = None) -> dict[str, type]:
    """Section name -> class for a run of ``recipe`` on data of ``kind`` (see :data:`config.DATA_KINDS`);
    ``name`` (the ``data.name``) only words the error when the recipe does not take such data."""
    module = recipe_module(recipe)
    if kind not in module.DATA:
        takes = " or ".join(KIND_WORDS[k] for k in module.DATA)
        others = [r for r, m in RECIPES.items() if kind in m.DATA]
        data = f"data.name={name!r}" if name else "this data"
        raise ConfigError(f"recipe={recipe} trains on {takes}; {data} is {KIND_IS[kind]}: set "
                          f"recipe={' or recipe='.join(others)}, or other data")
    model, loss = module.sections(kind)
    return {"data": DATA_KINDS[kind], "model": model, "loss": loss, **SHARED_SECTIONS, "eval": EVAL_KINDS[kind]}


def _owners(key: str) -> list[str]:
    """Which recipes / kinds of data have the dotted ``key`` (for the refusal of a key a run does not use)."""
    section = key.split(".", 1)[0]
    out = []
    for kind in DATA_KINDS:
        for name, module in RECIPES.items():
            if kind in module.DATA and key in keys_of(sections(name, kind)[section], section + "."):
                where = f"recipe {name}" if section in ("model", "loss") else KIND_WORDS[kind]
                if section == "model" and len(module.DATA) > 1:
                    where += f" on {KIND_WORDS[kind]}"
                if where not in out:
                    out.append(where)
    return out


def all_keys() -> list[str]:
    """Every key some run can have (all recipes, all kinds of data), e.g. ``train.steps``, ``model.g_width``."""
    keys = list(TOP_KEYS)
    for kind in DATA_KINDS:
        for name, module in RECIPES.items():
            if kind in module.DATA:
                for section, cls in sections(name, kind).items():
                    keys += [k for k in keys_of(cls, section + ".") if k not in keys]
    return keys


def _unknown(known: list[str]) -> Any:
    def message(key: str) -> str:
        if key in known:
            return ""
        owners = _owners(key) if "." in key else []
        if owners:
            return f"config key '{short_key(key)}' is not used by this run; it belongs to {', '.join(owners)}"
        return f"unknown config key '{short_key(key)}'{nearest(key, known)}"

    return message


# --------------------------------------------------------------------------- ganforge 0.1's flat config.yaml

_LEGACY_LOSS_KEYS = ("gp_weight", "clip", "r1_gamma", "info_weight", "l1_weight", "cycle_weight", "identity_weight")


def upgrade(d: typing.Mapping[str, Any]) -> dict[str, Any]:
    """A config mapping in today's sections: ganforge 0.1's names are translated.

    0.1 wrote one flat ``config.yaml`` with every key of every recipe; its loss weights sat at the top
    level (``gp_weight``, ``l1_weight`` ...), CycleGAN's pool in ``train.pool``, and the networks' widths
    and norms had several names (``ngf``/``ndf`` for images, ``g_batchnorm``, ``norm``). Such a file
    (recognised by its top-level loss weights) is translated and the keys its run did not use are
    dropped. In a hand-written file the old names are translated too, and anything else unknown is
    still refused.
    """
    if not isinstance(d, typing.Mapping):
        return d  # from_dict names it
    d = {k: (dict(v) if isinstance(v, typing.Mapping) else v) for k, v in d.items()}
    legacy_dump = all(k in d for k in _LEGACY_LOSS_KEYS)
    if isinstance(d.get("loss"), str):
        d["loss"] = {"name": d["loss"]}
    moved = {k: d.pop(k) for k in _LEGACY_LOSS_KEYS if k in d}
    train = d.get("train")
    if isinstance(train, dict) and "pool" in train:
        moved["pool"] = train.pop("pool")
    loss = d.get("loss") or {}
    if moved and isinstance(loss, dict):  # a loss that is no mapping: from_dict names it
        d["loss"] = {**loss, **moved}
    recipe, kind = _shape(d)
    model = d.get("model")
    if isinstance(model, dict) and kind in ("images", "pairs"):
        if legacy_dump:  # the MLP's widths (and, for pairs, DCGAN's d_norm) of a 0.1 dump are not this run's
            for unused in ("g_width", "d_width", *(("d_norm",) if kind == "pairs" else ())):
                model.pop(unused, None)
        for old, new in (("ngf", "g_width"), ("ndf", "d_width")):
            if old in model:
                if new in model:
                    raise ConfigError(f"model.{old} is the old name of model.{new}; give only model.{new}")
                model[new] = model.pop(old)
        if kind == "pairs" and "norm" in model:
            norm = model.pop("norm")
            model.setdefault("g_norm", norm)
            model.setdefault("d_norm", norm)
    if isinstance(model, dict) and kind == "toy" and "g_batchnorm" in model:
        on = model.pop("g_batchnorm")
        model.setdefault("g_norm", "batch" if on is True else "none" if on is False else on)
    data = d.get("data")
    if isinstance(data, dict) and kind == "toy" and data.get("std") == 0 and \
            data.get("name") not in ("ring8", "grid25"):
        data.pop("std")  # earlier versions resolved the mixture std to 0 for data without one
    if legacy_dump and _usable(recipe, kind):
        _keep_only(d, sections(recipe, kind))
    return d


def _usable(recipe: str, kind: str) -> bool:
    """Whether ``recipe`` exists and trains on data of ``kind`` (else :func:`config_from_dict` says why)."""
    return recipe in RECIPES and kind in RECIPES[recipe].DATA


def _keep_only(d: dict[str, Any], types_: dict[str, type], also: set[str] = frozenset()) -> None:
    """Drop the keys of ``d``'s sections that ``types_`` lacks, except the dotted keys in ``also``."""
    for section, cls in types_.items():
        if isinstance(d.get(section), dict):
            names = set(keys_of(cls))
            d[section] = {k: v for k, v in d[section].items() if k in names or f"{section}.{k}" in also}


# --------------------------------------------------------------------------- reading a config

def config_from_dict(d: typing.Mapping[str, Any]) -> Config:
    """A :class:`Config` from a nested mapping (a preset, a ``config.yaml``, a checkpoint's config)."""
    d = upgrade(d)
    if not isinstance(d, typing.Mapping):
        raise ConfigError(f"config must be a mapping of keys, got {d!r}")
    recipe = d.get("recipe", "gan")
    data = d.get("data") or {}
    if not isinstance(data, typing.Mapping):
        raise ConfigError(f"data must be a mapping of keys, got {data!r}")
    name = data.get("name", "ring8")
    if not isinstance(name, str):
        raise ConfigError(f"data.name must be a string, got {name!r}")
    recipe = recipe if isinstance(recipe, str) else str(recipe)
    types_ = sections(recipe, data_kind(name), name)
    known = list(TOP_KEYS) + [k for s, cls in types_.items() for k in keys_of(cls, s + ".")]
    unknown = _unknown(known)
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key in types_:
            kwargs[key] = from_dict(value if value is not None else {}, types_[key], key + ".", unknown)
        elif key in TOP_KEYS:
            kwargs[key] = value
        else:
            raise ConfigError(unknown(key) or f"unknown config key '{short_key(key)}'")
    top = from_dict({k: v for k, v in kwargs.items() if k in TOP_KEYS}, Config, "", unknown)
    for section, cls in types_.items():
        setattr(top, section, kwargs.get(section, cls()))
    return top


def apply_overrides(cfg: Config | typing.Mapping[str, Any], overrides: list[str]) -> Config:
    """Apply ``KEY=VALUE`` strings (``loss=hinge`` is short for ``loss.name=hinge``).

    Changing ``recipe`` or the kind of data changes which sections a run has: then the keys of the
    old sections that the new ones lack are dropped, and the overrides are checked against the new.
    """
    d = to_dict(cfg) if isinstance(cfg, Config) else upgrade(cfg)
    was = _shape(d)
    given: set[str] = set()
    for item in overrides:
        key, value = split_override(item)
        if key == "loss":
            key = "loss.name"
        node = d
        *parents, leaf = key.split(".")
        for p in parents:
            if node.get(p) is None:  # a section the preset does not set yet
                node[p] = {}
            if not isinstance(node[p], dict):  # e.g. seed.x=1
                raise ConfigError(f"unknown config key '{short_key(key)}'{nearest(key, all_keys())}")
            node = node[p]
        node[leaf] = value
        given.add(key)
    now = _shape(d)
    if now != was and _usable(*now):
        _keep_only(d, sections(*now), also=given)
    return config_from_dict(d)


def _shape(d: typing.Mapping[str, Any]) -> tuple[str, str]:
    """(recipe, kind of data) of a raw mapping, as far as they can be read."""
    data = d.get("data") if isinstance(d.get("data"), typing.Mapping) else {}
    name = data.get("name", "ring8")
    try:
        kind = data_kind(name) if isinstance(name, str) else "?"
    except ConfigError:
        kind = "?"
    return str(d.get("recipe", "gan")), kind


def load_config(preset_or_yaml: str, overrides: list[str] | None = None) -> Config:
    """A preset name (``ring8``) or a path to a YAML file, then the ``KEY=VALUE`` overrides. A fresh run's
    intervals longer than the run are shortened unless set here (``config.fit_intervals``)."""
    raw = read_preset(preset_or_yaml)
    cfg = apply_overrides(raw, overrides or [])
    given = {split_override(o)[0] for o in overrides or []}
    train = raw.get("train")
    user_file = preset_or_yaml.endswith((".yaml", ".yml")) or Path(preset_or_yaml).expanduser().is_file()
    if isinstance(train, dict) and user_file:  # as read_preset decides: a user's YAML file, whose keys are set
        given |= {f"train.{k}" for k in train}
    # a budget without a step count: given by the user, or a preset's own (max_minutes and no steps)
    declared = set(train) if isinstance(train, dict) else set()
    budget = given | ({"train.max_minutes"} if "max_minutes" in declared and "steps" not in declared else set())
    lift_step_cap(cfg.train, budget)
    fit_intervals(cfg.train, given)
    return cfg


def list_presets() -> list[tuple[str, str]]:
    from ganforge.config import preset_names

    return [(n, load_config(n).description) for n in preset_names()]


# --------------------------------------------------------------------------- resolution

def resolve(cfg: Config) -> Config:
    """A copy with every ``auto``/``null`` field filled from the recipe's defaults, cross-field rules checked."""
    cfg = config_from_dict(to_dict(cfg))  # a copy
    module = recipe_module(cfg)
    dft = module.optim_defaults(cfg)
    o = cfg.optim
    if o.name == "auto":
        o.name = dft["name"]
    o.lr_g = dft["lr"] if o.lr_g is None else o.lr_g
    o.lr_d = dft["lr"] if o.lr_d is None else o.lr_d
    o.beta1 = dft["beta1"] if o.beta1 is None else o.beta1
    o.beta2 = dft["beta2"] if o.beta2 is None else o.beta2
    if cfg.train.d_steps is None:
        cfg.train.d_steps = dft["d_steps"]
    if cfg.train.reuse_fake and (cfg.recipe != "gan" or cfg.train.d_steps != 1):
        raise ConfigError("train.reuse_fake applies to the gan recipe with train.d_steps=1 (one fake batch per "
                          f"iteration); this run has recipe={cfg.recipe}, train.d_steps={cfg.train.d_steps}")
    if cfg.optim.decay == "linear" and step_cap(cfg.train) is None:
        raise ConfigError("optim.decay=linear decays over train.steps, and this run has only a wall-clock budget "
                          "(train.max_minutes); give train.steps too, or optim.decay=none")
    if cfg.train.augment:
        if cfg.data_kind != "images":
            raise ConfigError(f"train.augment applies to image data; data.name={cfg.data.name!r} is "
                              f"{KIND_WORDS[cfg.data_kind]}")
        import torch

        from ganforge.augment import diff_augment

        try:
            diff_augment(torch.zeros(1, 1, 8, 8), cfg.train.augment)
        except ValueError as e:
            raise ConfigError(f"train.augment={cfg.train.augment!r}: {e}") from None
    module.resolve(cfg)
    return cfg


def describe_keys(cfg: Config | None = None) -> list[tuple[str, str, str]]:
    """(key, value, help) for every key of ``cfg`` (default: every section of every recipe, with defaults)."""
    if cfg is not None:
        rows = field_rows(Config, cfg, "")[:len(TOP_KEYS)]
        for section in sections(cfg.recipe, cfg.data_kind):
            obj = getattr(cfg, section)
            rows += field_rows(type(obj), obj, section + ".")
        return rows
    rows = field_rows(Config, Config(), "")[:len(TOP_KEYS)]
    seen: set[type] = set()
    for kind in DATA_KINDS:
        for name, module in RECIPES.items():
            if kind not in module.DATA:
                continue
            for section, cls in sections(name, kind).items():
                if cls in seen:
                    continue
                seen.add(cls)
                label = (f"[recipe {name}" + (f", {KIND_WORDS[kind]}]" if len(module.DATA) > 1 else "]")
                         if section in ("model", "loss") else f"[{KIND_WORDS[kind]}]" if section in ("data", "eval")
                         else "")
                rows += [(k, v, f"{label} {h}".strip()) for k, v, h in field_rows(cls, cls(), section + ".")]
    return rows
