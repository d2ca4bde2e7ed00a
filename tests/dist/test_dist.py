"""Multi-process training (DDP over gloo on the CPU); the single-device speed options: test_speed.py.

One torchrun launch of two processes (about 20 s) runs ``_worker.py``-style code written below
into a temporary file: a few DDP iterations of an NS DCGAN (batch norm, D frozen in the G phase)
and of a WGAN-GP critic (double backward through D), checking that parameters stay equal across
ranks and that the ranks draw different data, then a real ``ganforge.loop.train`` run whose
checkpoint the test resumes in this single process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge import dist
from ganforge.errors import ConfigError
from ganforge.recipes import gan, load_config, resolve

TINY_IMAGES = ["model.g_width=8", "model.d_width=8", "train.batch_size=16", "train.eval_every=0",
               "train.sample_every=0", "train.log_every=2", "train.ckpt_every=4", "train.progress=false", "eval.n=100",
               "device=cpu"]

WORKER = r'''
import json, sys
import torch
import torch.distributed as tdist
from ganforge import dist, speed
from ganforge.recipes import load_config, resolve
from ganforge.loop import seed_everything, train_iteration
from ganforge.runner import train
from ganforge.recipes import gan

out, tiny = sys.argv[1], json.loads(sys.argv[2])
tdist.init_process_group("gloo")  # this script's own group: train() below uses it and leaves it up
device = dist.setup(torch.device("cpu"))
result = {"world": dist.world_size()}
for loss in ("ns", "wgan-gp"):
    cfg = resolve(load_config("mnist", tiny + [f"loss={loss}", "train.d_steps=2"]))
    gan.validate(cfg)
    seed_everything(cfg.seed)
    recipe = gan.build(dist.local_config(cfg, dist.world_size()), device)
    dist.seed_rank(cfg.seed)
    dist.sync_batch_norm(recipe, cfg)
    speed.prepare(recipe, cfg, device)
    dist.wrap_recipe(recipe, device)
    first = recipe.next_batch()["x"].sum().reshape(1)
    init = torch.cat([p.detach().reshape(-1).clone() for k in ("G", "D")
                      for p in dist.unwrap(recipe.models[k]).parameters()])
    acc, cnt = {}, {}
    for step in range(3):
        train_iteration(recipe, step, acc, cnt, log_grads=True)
    flat = torch.cat([p.detach().reshape(-1) for k in ("G", "D") for p in dist.unwrap(recipe.models[k]).parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.world_size())]
    tdist.all_gather(gathered, flat)
    firsts = [torch.zeros_like(first) for _ in range(dist.world_size())]
    tdist.all_gather(firsts, first)
    result[loss] = {"max_diff": max(float((g - flat).abs().max()) for g in gathered),
                    "moved": float((flat - init).abs().max()),
                    "same_data": bool(firsts[0] == firsts[1]), "local_batch": int(recipe.next_batch()["x"].shape[0]),
                    "finite": all(bool(torch.isfinite(v)) for v in acc.values())}
train(load_config("mnist", tiny + ["train.steps=4"]), out + "/run")
if dist.is_main():
    open(out + "/result.json", "w").write(json.dumps(result))
tdist.barrier()  # rank 0 writes the report after train(); end the group together
tdist.destroy_process_group()
'''


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """Two gloo processes under torchrun: the worker above. Returns its output folder."""
    out = tmp_path_factory.mktemp("ddp")
    script = out / "worker.py"
    script.write_text(WORKER)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "GANFORGE_CACHE": os.environ.get("GANFORGE_CACHE", str(out / "cache"))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
           str(out), json.dumps(TINY_IMAGES)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_ddp_keeps_ranks_equal_with_different_data(ddp_run):
    result = json.loads((ddp_run / "result.json").read_text())
    assert result["world"] == 2
    for loss in ("ns", "wgan-gp"):  # ns: batch norm and a frozen D in the G phase; wgan-gp: double backward
        r = result[loss]
        assert r["finite"], loss
        assert r["moved"] > 1e-4, loss  # training changed the weights...
        assert r["max_diff"] == 0.0, loss  # ...identically on both ranks
        assert not r["same_data"], loss  # per-rank seeds: different draws
        assert r["local_batch"] == 8, loss  # global batch 16 split over 2


def test_ddp_run_writes_once_and_resumes_in_one_process(ddp_run):
    from ganforge import checkpoint
    from ganforge.runner import resume

    run = ddp_run / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 4]  # rank 0 alone writes: no duplicated lines
    state = checkpoint.load(checkpoint.latest(run))
    assert state["step"] == 4
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["models"]["D"])  # unwrapped modules
    assert state["config"]["train"]["batch_size"] == 16  # the global batch is what the run records
    resume(run, ["train.steps=6"], device="cpu")  # one process continues the two-process run
    assert checkpoint.load(checkpoint.latest(run))["step"] == 6


def test_global_batch_must_split_evenly():
    cfg = resolve(load_config("mnist", ["train.batch_size=10"]))
    assert dist.local_config(cfg, 2).train.batch_size == 5
    assert cfg.train.batch_size == 10  # the caller's config is untouched
    with pytest.raises(ConfigError, match=r"batch_size \(10\).*3"):
        dist.local_config(cfg, 3)
    cfg = resolve(load_config("mnist", ["train.batch_size=16", "model.mbstd=4"]))
    with pytest.raises(ConfigError, match="mbstd"):
        dist.local_config(cfg, 8, gan.check_batch)  # 2 per process: not a multiple of the group of 4


def test_sync_bn_and_reuse_fake_are_refused_where_they_cannot_work(monkeypatch):
    cfg = resolve(load_config("mnist", ["train.sync_bn=true"]))
    dist.check_ddp_options(cfg, torch.device("cpu"))  # one process: nothing to synchronise
    reuse = resolve(load_config("mnist", ["train.reuse_fake=true"]))
    dist.check_ddp_options(reuse, torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="sync_bn"):
        dist.check_ddp_options(cfg, torch.device("cpu"))
    with pytest.raises(ConfigError, match="reuse_fake works in one process"):
        dist.check_ddp_options(reuse, torch.device("cpu"))


def test_nproc_relaunches_the_same_command_under_torchrun(monkeypatch, tmp_path):
    from ganforge import cli

    seen = {}

    def fake_launch(n, argv):
        seen.update(n=n, argv=argv)
        return 0

    monkeypatch.setattr(dist, "launch", fake_launch)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    argv = ["train", "mnist", "--out", str(tmp_path / "r"), "--nproc", "2", "--set", "train.steps=3"]
    assert cli.main(argv) == 0
    assert seen == {"n": 2, "argv": ["train", "mnist", "--out", str(tmp_path / "r"), "--set", "train.steps=3"]}
    assert cli.main(["train", "mnist", "--out", str(tmp_path / "r"), "--nproc=0"]) == 2  # one-line error


def test_unwrap_and_phase_models_without_a_group():
    net = torch.nn.Linear(2, 2)
    models = {"G": net, "D": torch.nn.Linear(2, 1)}
    assert dist.phase_models(models, "G") is models  # one process: nothing to strip
    assert dist.unwrap(net) is net
    assert dist.mean_over_ranks(torch.tensor([1.0, 3.0])).tolist() == [1.0, 3.0]
    assert dist.agree(True, False, torch.device("cpu")) is True
