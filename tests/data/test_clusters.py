"""Cluster-conditioned image GANs: k-means pseudo-labels, their cache, training and sampling by frequency."""

import json

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.config import ConfigError
from ganforge.data.clusters import cluster_labels
from ganforge.recipes import load_config, resolve
from ganforge.runner import train

TINY_IMG = [
    "model.g_width=8", "model.d_width=8", "model.z_dim=16", "train.batch_size=16", "train.steps=4", "train.log_every=2",
    "train.eval_every=0", "train.sample_every=4", "train.ckpt_every=4", "train.progress=false", "eval.n=40",
]


def _three_groups(n: int = 30) -> tuple[torch.Tensor, np.ndarray]:
    """Dark, bright and half-bright 8x8 images with a little noise: three obvious clusters."""
    g = torch.Generator().manual_seed(0)
    groups = []
    for level in (20, 230, 120):
        groups.append((level + torch.randint(-10, 10, (n, 1, 8, 8), generator=g)).clamp(0, 255))
    truth = np.repeat(np.arange(3), n)
    return torch.cat(groups).to(torch.uint8), truth


def test_cluster_labels_recover_obvious_groups_and_are_cached(tmp_path, monkeypatch):
    x, truth = _three_groups()
    y = cluster_labels(x, 3, seed=0, cache_dir=tmp_path)
    assert y.dtype == torch.int64 and y.shape == (90,)
    for k in range(3):  # each true group maps to exactly one cluster, and clusters differ
        assert len(set(y[truth == k].tolist())) == 1
    assert len(set(y.tolist())) == 3
    assert len(list(tmp_path.glob("clusters-*-k3-s0.npy"))) == 1

    import sklearn.cluster

    def boom(*a, **k):
        raise AssertionError("k-means ran again instead of reading the cache")

    monkeypatch.setattr(sklearn.cluster, "KMeans", boom)
    assert torch.equal(cluster_labels(x, 3, seed=0, cache_dir=tmp_path), y)
    with pytest.raises(ValueError, match="between 2 and the number of images"):
        cluster_labels(x, 91, cache_dir=None)


def test_cluster_config_rules():
    cfg = resolve(load_config("mnist", ["model.clusters=20"]))
    assert cfg.model.cond == "concat" and cfg.model.num_classes == 20
    assert resolve(load_config("mnist", ["model.clusters=20", "model.cond=projection"])).model.cond == "projection"
    with pytest.raises(ConfigError, match="cannot be combined"):
        resolve(load_config("mnist", ["model.clusters=5", "model.codes=5"]))
    with pytest.raises(ConfigError, match="model.clusters"):
        resolve(load_config("ring8", ["model.clusters=5"]))


def test_cluster_run_trains_samples_by_frequency_and_is_unconditional_to_users(tmp_path, capsys):
    run_dir = train(load_config("mnist", TINY_IMG + ["model.clusters=4"]), tmp_path / "cl")
    from ganforge import checkpoint
    from ganforge.sample import load_run

    prior = checkpoint.load(checkpoint.latest(run_dir))["extra"]["label_prior"]
    assert prior.shape == (4,) and abs(float(prior.sum()) - 1) < 1e-6 and (prior > 0).all()
    run = load_run(run_dir)
    assert run.num_classes == 0  # no class picker: clusters are not classes
    assert np.array_equal(run.sample(5, seed=1), run.sample(5, seed=1))
    assert not np.array_equal(run.sample(5, seed=1, labels=0), run.sample(5, seed=1, labels=3))
    result = json.loads((run_dir / "eval.json").read_text())
    assert "fid" in result["model"] and "class_acc" not in result["model"]
    assert main(["sample", str(run_dir), "--n", "4", "--class", "3", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["sample", str(run_dir), "--n", "4", "--class", "4", "--out", str(tmp_path / "x.png")]) == 2
    assert "cluster 4 is out of range" in capsys.readouterr().err
