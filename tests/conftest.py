"""Shared fixtures: a tiny, fast training config and a trained tiny run."""

import os
from pathlib import Path

import pytest
import torch

TINY = [
    "model.g_width=16", "model.d_width=16", "model.g_depth=2", "model.d_depth=2",
    "train.batch_size=32", "train.steps=40", "train.log_every=10", "train.eval_every=20", "train.eval_n=100",
    "train.sample_every=40", "train.ckpt_every=20", "train.progress=false",
    "eval.n=200", "eval.mmd_n=100", "eval.permutations=20",
    "train.final_eval=false",  # no eval.json / report.html: the tests that read them add train.final_eval=true
]


@pytest.fixture(autouse=True, scope="session")
def _feature_cache(tmp_path_factory):
    """Real-data feature statistics go to a temporary folder, never the user's ~/.cache."""
    old = os.environ.get("GANFORGE_CACHE")
    os.environ["GANFORGE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("GANFORGE_CACHE", None)
    else:
        os.environ["GANFORGE_CACHE"] = old


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)  # small nets: threads cost more than they give, and keep results stable
    yield


@pytest.fixture
def tiny() -> list[str]:
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    from ganforge.recipes import load_config
    from ganforge.runner import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    return train(load_config("ring8", [*TINY, "train.final_eval=true"]), out)  # with eval.json and report.html


def nan_in_g_ema_at(monkeypatch, step: int) -> list[int]:
    """Write a NaN into G_ema's first weight once, after training iteration ``step`` (a divergence to roll
    back from); the returned list gets ``step`` when it happened."""
    from ganforge import loop

    real_iteration, injected = loop.train_iteration, []

    def spiking(recipe, at, *a, **k):
        real_iteration(recipe, at, *a, **k)
        if at == step and not injected:
            injected.append(at)
            with torch.no_grad():
                next(recipe.models["G_ema"].parameters()).view(-1)[0] = float("nan")

    monkeypatch.setattr(loop, "train_iteration", spiking)
    return injected
