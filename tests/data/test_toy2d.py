"""2-D data: PacGAN's mixture layouts, the shapes, user points and their errors."""

import math

import numpy as np
import pytest
import torch

from ganforge.config import ToyData as DataConfig
from ganforge.data.toy2d import grid, load_points, make_distribution, normaliser, ring
from ganforge.errors import DataError
from ganforge.recipes import config_from_dict as from_dict
from ganforge.recipes import resolve


def test_ring_has_eight_distinct_equally_spaced_modes():
    c = ring(8, 1.0)
    assert c.shape == (8, 2)
    assert torch.allclose(c[2], torch.tensor([0.0, 1.0]), atol=1e-6)  # i=2 -> angle pi/2
    d = torch.cdist(c, c) + torch.eye(8) * 10
    assert d.min().item() == pytest.approx(2 * math.sin(math.pi / 8), rel=1e-5)  # no duplicated mode


def test_grid_matches_pacgan():
    c = grid(5, 2.0)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(p) for p in c.tolist()}) == 25


@pytest.mark.parametrize("name", ["ring8", "grid25", "spiral", "moons", "circles", "swissroll"])
def test_every_distribution_samples_reproducibly(name):
    dist = make_distribution(resolve(from_dict({"data": {"name": name}})).data)
    a = dist.sample(500, torch.Generator().manual_seed(1))
    b = dist.sample(500, torch.Generator().manual_seed(1))
    assert a.shape == (500, 2) and a.dtype == torch.float32 and torch.equal(a, b)


def test_mixture_std_and_default_stds():
    cfg = resolve(from_dict({"data": {"name": "ring8"}})).data
    x = make_distribution(cfg).sample(20000, torch.Generator().manual_seed(0))
    r = x.norm(dim=1)
    assert abs(r.mean().item() - 1.0) < 1e-3 and abs(r.std().item() - 0.01) < 2e-3


def test_normaliser_gives_unit_scale():
    dist = make_distribution(resolve(from_dict({"data": {"name": "grid25"}})).data)
    mean, scale = normaliser(dist)
    assert mean.abs().max() < 0.1 and scale == pytest.approx(math.sqrt(8), rel=0.05)


def test_user_points_npy_and_csv(tmp_path):
    pts = np.random.default_rng(0).normal(size=(50, 2))
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",", header="x,y", comments="")
    a, b = load_points(tmp_path / "p.npy"), load_points(tmp_path / "p.csv")
    assert a.shape == b.shape == (50, 2) and torch.allclose(a, b, atol=1e-6)
    dist = make_distribution(DataConfig(name="points", path=str(tmp_path / "p.npy")))
    assert dist.sample(10, torch.Generator().manual_seed(0)).shape == (10, 2)


@pytest.mark.parametrize("content, match", [
    ("1,2\n3\n", "line 2: expected 2 columns"),
    ("1,2,3\n", "expected 2 columns"),
    ("x,y\n1,2\nfoo,bar\n", "line 3: expected 2 numbers"),
    ("", "holds no points"),
    ("1,2\nnan,3\n", "NaN or infinite"),
    ("1,2\ninf,3\n", "NaN or infinite"),
])
def test_malformed_csv(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=match):
        load_points(p)


def test_malformed_npy(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError, match="not a readable .npy"):
        load_points(tmp_path / "junk.npy")
    np.save(tmp_path / "3d.npy", np.zeros((4, 3)))
    with pytest.raises(DataError, match=r"shape \(N, 2\), got \(4, 3\)"):
        load_points(tmp_path / "3d.npy")
    with pytest.raises(DataError, match="does not exist"):
        load_points(tmp_path / "missing.npy")
    (tmp_path / "p.json").write_text("[]")
    with pytest.raises(DataError, match=".npy or .csv"):
        load_points(tmp_path / "p.json")
