"""Tests for ganforge.viz: toy plots, training curves and the offline HTML report.

Run with ``pytest -q tests/viz/test_viz.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from ganforge.viz import decision_surface, plot_curves, plot_toy, toy_bounds, write_report
from ganforge.viz.toy import MAX_POINTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ring(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(ang), np.sin(ang)], 1).astype(np.float32)


def test_decision_surface_shape_and_orientation():
    seen = {}

    def d_fn(p: np.ndarray) -> np.ndarray:
        seen["dtype"], seen["shape"] = p.dtype, p.shape
        return p[:, 0]

    xs, ys, values = decision_surface(d_fn, (-1.0, 3.0, 10.0, 20.0), res=7)
    assert xs.shape == ys.shape == (7,) and values.shape == (7, 7)
    assert seen == {"dtype": np.float32, "shape": (49, 2)}
    assert values[0, -1] > values[0, 0]
    np.testing.assert_allclose(values, np.broadcast_to(values[0], values.shape))  # rows equal
    np.testing.assert_allclose(values[3], xs, rtol=1e-6)
    assert (xs[0], xs[-1], ys[0], ys[-1]) == (-1.0, 3.0, 10.0, 20.0)
    _, _, v_y = decision_surface(lambda p: p[:, 1], (0, 1, 0, 1), res=5)
    np.testing.assert_allclose(v_y[:, 2], np.linspace(0, 1, 5), rtol=1e-6)  # varies down the rows


def test_toy_bounds_square_and_covering():
    a = np.array([[0.0, 0.0], [4.0, 1.0]])
    b = np.array([[1.0, -1.0], [np.nan, 100.0]])  # the non-finite row is ignored
    xmin, xmax, ymin, ymax = toy_bounds(a, b, margin=0.1)
    assert xmax - xmin == pytest.approx(ymax - ymin)
    assert xmin < 0 and xmax > 4 and ymin < -1 and ymax > 1 and ymax < 50
    assert toy_bounds(np.zeros((0, 2))) == (-1.0, 1.0, -1.0, 1.0)


@pytest.mark.parametrize("with_surface", [False, True])
def test_plot_toy_writes_png(tmp_path, with_surface):
    real, fake = _ring(500), _ring(300, seed=1) * 0.5
    bounds = toy_bounds(real, fake)
    surface = decision_surface(lambda p: -np.linalg.norm(p, axis=1), bounds, res=30) if with_surface else None
    path = tmp_path / "nested" / "dir" / "toy.png"
    fig = plot_toy(real, fake, surface=surface, title="step 10", path=path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000
    ax = fig.axes[0]
    assert len(fig.axes) == (2 if with_surface else 1)  # colorbar axis only with a surface
    assert ax.get_title() == "step 10"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["real", "generated"]
    if with_surface:
        assert fig.axes[1].get_ylabel() == "D(x)"


def test_plot_toy_subsamples_deterministically():
    real, fake = _ring(MAX_POINTS * 3), _ring(MAX_POINTS + 1, seed=2)
    fig = plot_toy(real, fake)
    sizes = [len(c.get_offsets()) for c in fig.axes[0].collections]
    assert sizes == [MAX_POINTS, MAX_POINTS]
    again = plot_toy(real, fake).axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(fig.axes[0].collections[0].get_offsets(), again)
    assert len(plot_toy(real[:10], fake[:5]).axes[0].collections[1].get_offsets()) == 5


def test_plot_curves_groups_missing_keys_and_nan(tmp_path):
    history = []
    for step in range(0, 500, 50):
        rec = {"step": step, "Loss/D": 1.0 / (step + 1), "Loss/G": float("nan") if step == 100 else 0.7,
               "D/real": 0.3, "D/fake": -0.2, "Grad/G": 0.05, "Grad/D": 0.0 if step == 0 else 1.0, "lr": 1e-4}
        if step % 200 == 0:
            rec.update({"Metric/modes": 8, "Metric/hq": 91.0, "Metric/w1": float("inf")})
        history.append(rec)
    path = tmp_path / "curves.png"
    fig = plot_curves(history, path=path, title="run")
    assert path.read_bytes().startswith(PNG_MAGIC)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss", "D", "Grad", "Metric/modes", "Metric/hq", "Metric/w1", "other"]
    by = dict(zip(titles, fig.axes, strict=True))
    loss_g = next(ln for ln in by["Loss"].lines if ln.get_label() == "G")
    assert len(loss_g.get_xdata()) == 9 and np.isfinite(loss_g.get_ydata()).all()  # NaN skipped
    assert list(by["Metric/modes"].lines[0].get_xdata()) == [0, 200, 400]  # only where logged
    assert by["Grad"].get_yscale() == "log" and by["Loss"].get_yscale() == "linear"
    assert not by["Metric/w1"].lines  # all non-finite: an empty panel, no crash


def test_plot_curves_empty_history(tmp_path):
    fig = plot_curves([], path=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_MAGIC)
    assert any("no data yet" in t.get_text() for t in fig.axes[0].texts)


def test_write_report(tmp_path):
    img1, img2 = tmp_path / "samples_01000.png", tmp_path / "curves.png"
    plot_toy(_ring(100), _ring(100, 1), path=img1)
    plot_curves([{"step": 0, "Loss/D": 1.0}], path=img2)
    config = {"name": "ring8 <script>alert(1)</script>", "lr": 2e-4, "betas": (0.5, 0.999)}
    history = [{"step": 0, "Loss/D": 1.4, "Loss/G": 0.7}, {"step": 1000, "Loss/D": 1.3862, "Metric/modes": 8}]
    eval_result = {"model": {"modes": 8, "hq": 91.23456, "reverse_kl": float("nan")},
                   "floor": {"modes": 8, "hq": 99.5, "reverse_kl": 0.001},
                   "provenance": {"n_samples": 10000, "seed": 0}}
    out = write_report(tmp_path / "run", title="Ring <8> & co", config=config, history=history,
                       eval_result=eval_result, images=[img1, img2],
                       commands=["ganforge train ring8 --out runs/x"])
    assert out == tmp_path / "run" / "report.html"
    html = out.read_text(encoding="utf-8")
    assert "Ring &lt;8&gt; &amp; co" in html and "Ring <8>" not in html
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', html)) == 2
    assert "samples_01000.png" in html and "curves.png" in html
    assert "<table>" in html and "real floor" in html
    for cell in ("<td>modes</td>", "<td>hq</td>", "<td>91.23</td>", "<td>n/a</td>", "<td>0.001</td>"):
        assert cell in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "http://" not in html and "https://" not in html
    assert "trained 1000 steps" in html and "ganforge train ring8" in html and "n_samples: 10000" in html
    assert "8 of 8 modes covered, 91.23% of generated points high-quality" in html  # the headline


def test_write_report_minimal_without_floor(tmp_path):
    html = write_report(tmp_path, title="t", config={}, history=[],
                        eval_result={"model": {"w1": 0.1234567}}).read_text()
    assert "real floor" not in html and "<td>0.1235</td>" in html and "<img" not in html
