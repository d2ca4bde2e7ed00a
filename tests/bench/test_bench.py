"""``ganforge bench``: the figures exist, are positive and add up (no timing assertions)."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge import cli, speed
from ganforge.bench import bench, matmul_peak, table
from ganforge.recipes import gan, load_config, resolve

FIELDS = ("train_img_per_s", "sample_img_per_s", "gflop_per_train_image", "achieved_gflop_per_s",
          "peak_gflop_per_s", "mfu", "peak_memory_mb")


@pytest.mark.parametrize("extra", [[], ["model.codes=4"]])  # an InfoGAN G takes a code when it samples
def test_bench_reports_positive_figures_for_a_tiny_image_model(extra):
    cfg = resolve(load_config("mnist", ["model.g_width=8", "model.d_width=8", "train.batch_size=8", *extra]))
    gan.validate(cfg)
    r = bench(cfg, torch.device("cpu"), iters=1, warmup=1, peak_seconds=0.05)
    for k in FIELDS:
        assert r[k] > 0, k
    assert r["achieved_gflop_per_s"] == pytest.approx(r["gflop_per_train_image"] * r["train_img_per_s"])
    assert r["mfu"] == pytest.approx(r["achieved_gflop_per_s"] / r["peak_gflop_per_s"])
    ran = {"bf16": "bfloat16", "none": "float32"}[speed.resolve_amp(cfg, torch.device("cpu"))]  # train.amp=auto
    assert "MFU" in table(r) and r["peak_dtype"] == ran and "precision" in table(r)
    assert r["options"]["keep_memory"] is True and r["options"]["reuse_fake"] is False


def test_flops_per_image_match_the_networks():
    """The counted FLOPs are those of the recipe: DCGAN 64 px (ngf = ndf = 64) is ~2.48 GFLOP per image."""
    cfg = resolve(load_config("mnist", ["data.size=64", "data.channels=3", "model.g_width=64", "model.d_width=64",
                                        "train.batch_size=2", "train.ema=0"]))
    gan.validate(cfg)
    r = bench(cfg, torch.device("cpu"), iters=1, warmup=0, peak_seconds=0.01)
    assert r["gflop_per_train_image"] == pytest.approx(2.484, rel=0.01)


@pytest.mark.parametrize("n", [128, 100])  # the 1x1-convolution product as (32, n/32) pixels, or (n, 1)
def test_matmul_peak_is_positive(n):
    assert matmul_peak(torch.device("cpu"), n=n, seconds=0.01) > 0


def test_bench_command_prints_json(capsys):
    assert cli.main(["bench", "ring8", "--set", "train.batch_size=32", "--iters", "1", "--json",
                     "--device", "cpu"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert all(r[k] > 0 for k in FIELDS)
    assert cli.main(["bench", "ring8", "--iters", "0"]) == 2
