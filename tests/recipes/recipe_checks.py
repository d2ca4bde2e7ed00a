"""Shared by tests/recipes/test_recipe_*.py: build a recipe with tiny networks on the CPU, run ONE training
iteration through ``ganforge.loop.train_iteration`` and check what each phase did.

Every phase's ``step`` is wrapped so that the parameters of all models are recorded when the phase starts
(its first repeat); the next phase's start (or the end of the iteration) closes its span. Within a phase's
span the network it updates must change and every other trained network must not (the loop freezes them);
a moving average (``G_ema``) may only change in the span of the network it follows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import fields

import torch

from ganforge.loop import seed_everything, train_iteration
from ganforge.recipes import load_config, recipe_module, resolve

CPU = torch.device("cpu")

# the tiny networks of each kind of data (see the presets for the full-size ones)
TOY = ["model.g_width=16", "model.d_width=16", "train.batch_size=32"]
IMAGES = ["model.g_width=8", "model.d_width=8", "model.z_dim=16", "train.batch_size=8"]
STYLE = ["data.size=16", "model.g_width=4", "model.d_width=4", "model.w_dim=16", "model.map_layers=2",
         "model.mbstd=2", "train.batch_size=4"]
TRANSLATION = ["model.g_width=4", "model.d_width=4", "model.blocks=1", "train.batch_size=4"]

#: one key each phase logs, by phase name
PHASE_KEY = {"D": "Loss/D", "G": "Loss/G", "D_r1": "Loss/D/r1"}


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    return [n for n in before if not torch.equal(before[n], after[n])]


def build(preset: str, overrides: list[str]):
    """(cfg, recipe module, recipe) for ``preset`` with ``overrides``, seeded, validated and built on the CPU."""
    seed_everything(0)
    cfg = resolve(load_config(preset, overrides))
    module = recipe_module(cfg)
    module.validate(cfg)
    return cfg, module, module.build(cfg, CPU)


@dataclasses.dataclass
class Span:
    phase: str
    module: str
    start: dict[str, dict[str, torch.Tensor]]  # model -> parameters when the phase started
    end: dict[str, dict[str, torch.Tensor]] | None = None
    grads: set[str] = dataclasses.field(default_factory=set)  # parameters with a nonzero gradient at some step


def run_iteration(recipe, step: int = 0):
    """One ``train_iteration`` with every phase's span recorded: (accum, counts, spans)."""
    spans: list[Span] = []

    def snapshot() -> dict[str, dict[str, torch.Tensor]]:
        return {k: params(m) for k, m in recipe.models.items()}

    def close() -> None:
        if spans and spans[-1].end is None:
            spans[-1].end = snapshot()

    def before_step(optimizer, args, kwargs) -> None:  # the optimiser of the running phase, about to step
        span = spans[-1]
        span.grads |= {n for n, p in recipe.models[span.module].named_parameters()
                       if p.grad is not None and bool(p.grad.abs().sum() > 0)}

    def wrap(phase):
        inner = phase.step

        def step_fn(models, batch):
            if not spans or spans[-1].phase != phase.name or spans[-1].end is not None:
                close()
                spans.append(Span(phase.name, phase.module, snapshot()))
            return inner(models, batch)

        return dataclasses.replace(phase, step=step_fn)

    original = recipe.phases
    recipe.phases = [wrap(p) for p in original]
    accum: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    hooks = [opt.register_step_pre_hook(before_step) for opt in recipe.optimizers.values()]
    try:
        train_iteration(recipe, step, accum, counts, log_grads=True)
    finally:
        recipe.phases = original
        for hook in hooks:
            hook.remove()
    close()
    return accum, counts, spans


def check_iteration(recipe, phase_names: list[str]) -> dict[str, int]:
    """Run one iteration at step 0 and check it: the declared phases ran, in order, each logged its key (and
    its network's gradient norm) as many times as it repeats, every logged value is finite, each phase
    changed its own network's parameters and left the other trained networks' parameters alone."""
    assert [p.name for p in recipe.phases] == phase_names
    ema = recipe.ema  # averaged model -> the model it follows
    before = {k: params(m) for k, m in recipe.models.items()}
    accum, counts, spans = run_iteration(recipe)

    assert [s.phase for s in spans] == phase_names  # every phase is due at step 0 (0 % interval == 0)
    for phase in recipe.phases:
        assert counts[PHASE_KEY[phase.name]] == phase.repeats, (phase.name, counts)
    for module in {p.module for p in recipe.phases}:  # log_grads: once per phase of that network
        assert counts[f"Grad/{module}"] == sum(p.module == module for p in recipe.phases)
    for k, v in accum.items():
        assert math.isfinite(float(v)), f"{k} = {float(v)}"
        assert counts[k] >= 1

    for span in spans:
        own = changed(span.start[span.module], span.end[span.module])
        assert own, f"phase {span.phase} did not change {span.module}"
        assert span.grads, f"phase {span.phase}: no gradient reached {span.module}"
        assert span.grads <= set(own), f"phase {span.phase}: {sorted(span.grads - set(own))} had gradients " \
                                       f"but did not change"
        for other in recipe.models:
            if other == span.module or ema.get(other) == span.module:
                continue
            assert not changed(span.start[other], span.end[other]), \
                f"phase {span.phase} (updating {span.module}) changed {other}"

    after = {k: params(m) for k, m in recipe.models.items()}
    for name in recipe.models:  # every network moved in this iteration, an average with what it follows
        if name not in recipe.optimizers and name not in ema:  # a frozen helper (text2image's text encoder)
            assert not changed(before[name], after[name]), f"{name} has no optimiser but changed"
            continue
        assert changed(before[name], after[name]), f"{name} did not change"
    return counts


def check_sections(module, kind: str, preset: str) -> None:
    """The recipe's ``model`` and ``loss`` sections for ``kind``: defaults construct and lie in their own
    choices and bounds; the preset resolves to instances of them with a loss the recipe takes."""
    for cls in module.sections(kind):
        obj = cls()
        for f in fields(cls):
            value = getattr(obj, f.name)
            if "choices" in f.metadata:
                assert value == f.metadata["choices"][0], (cls.__name__, f.name)
            if value is None or isinstance(value, (bool, str)):
                continue
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            assert lo is None or value >= lo, (cls.__name__, f.name, value)
            assert hi is None or value <= hi, (cls.__name__, f.name, value)
    assert cls().name in module.LOSSES  # the loss section's default loss is one the recipe takes
    cfg = resolve(load_config(preset))
    model_cls, loss_cls = module.sections(kind)
    assert cfg.data_kind == kind
    assert type(cfg.model) is model_cls and type(cfg.loss) is loss_cls
    assert cfg.loss.name in module.LOSSES
