"""The lecture companion: each topic's numbers have the property the page claims (fast mode), and the CLI
writes the figures, the numbers and the offline page."""

import json
import math

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.explain import TOPICS
from ganforge.explain.convolution import nyquist_fraction, scatter_transposed


@pytest.fixture(scope="module")
def companion(tmp_path_factory):
    """`ganforge explain all --fast` once; the tests read the numbers it wrote."""
    out = tmp_path_factory.mktemp("explain")
    assert main(["explain", "all", "--out", str(out), "--fast"]) == 0
    return out


def numbers(companion, name):
    return json.loads((companion / f"{name}.json").read_text())["numbers"]


def test_list_topics(capsys):
    assert main(["explain"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == [*TOPICS, "all"]
    assert len(TOPICS) == 10


def test_page_has_every_topic(companion):
    html = (companion / "index.html").read_text()
    assert html.count('<section class="topic"') == len(TOPICS)
    assert html.count("data:image/png;base64,") == len(TOPICS)
    assert "ganforge explain wgan-critic --out explain/ --fast" in html
    assert "http://" not in html and "https://" not in html  # offline
    assert "(series of" not in html and "n/a" not in html.split('id="divergences"')[1].split("</section>")[0]
    section = html.split('id="divergences"')[1].split("</section>")[0]
    assert "largest |JSD - log 2| over theta != 0" in section and "theta by theta" in section
    assert "KL is finite only with a pseudo-count" in section
    assert '<td class="v">inf</td>' in section and '<td class="v">0.6931</td>' in section  # values, per theta
    for name in TOPICS:
        assert (companion / f"{name}.png").stat().st_size > 1000
        rec = json.loads((companion / f"{name}.json").read_text())
        assert rec["topic"] == name and rec["summary"] and rec["command"].startswith(f"ganforge explain {name}")


def test_optimal_discriminator_matches_formula(companion):
    n = numbers(companion, "optimal-d")
    assert n["weighted_abs_error"] < 0.05
    assert n["value_at_trained_D"] <= n["value_at_D_star"] + 1e-6  # D* maximises V
    assert 0 < n["jsd_from_value"] < math.log(2)
    assert n["jsd_from_value"] == pytest.approx(n["jsd_integrated"], abs=1e-6)  # V(D*) = -log 4 + 2 JSD(p, q)


def test_non_saturating_gradients(companion):
    n = numbers(companion, "non-saturating")
    assert n["grad_saturating_at_0.01"] == pytest.approx(0.01, abs=1e-9)
    assert n["grad_non_saturating_at_0.01"] == pytest.approx(0.99, abs=1e-9)
    assert n["grad_saturating_at_0.01"] < n["grad_non_saturating_at_0.01"]
    g_mm, g_ns = np.array(n["grad_G_minimax"]), np.array(n["grad_G_ns"])  # the loop's logged Grad/G
    assert len(g_mm) == len(g_ns) == n["training_steps"] and np.all(g_mm > 0) and np.all(np.isfinite(g_ns))
    assert n["mean_grad_G_ns_early"] > n["mean_grad_G_minimax_early"]
    # D wins early in both runs (theory.D_AHEAD): minimax's gradient dies with D(G(z)), ns's does not
    assert n["early_grad_ratio_ns_over_minimax"] >= 5
    assert max(n["D_fake_minimax"][5:]) < 0.05


def test_divergences_on_disjoint_supports(companion):
    n = numbers(companion, "divergences")
    theta = np.array(n["theta"])
    apart = theta != 0
    jsd = np.array(n["jsd"])
    assert np.all(np.abs(jsd[apart] - math.log(2)) < 1e-6)
    assert jsd[~apart][0] == pytest.approx(0.0, abs=1e-12)
    assert all(k == "inf" for k, a in zip(n["kl"], apart, strict=True) if a)  # KL blows up
    assert np.allclose(n["w1"], np.abs(theta), atol=1e-6)  # W1 = the distance moved
    assert n["w1_slope_at_0.5"] == pytest.approx(1.0, abs=1e-6) and n["jsd_slope_at_0.5"] == pytest.approx(0.0)
    # with the pseudo-count of `ganforge eval` KL is finite, and the same for every theta != 0
    kl_pc = np.array(n["kl_with_pseudo_count"], dtype=float)
    assert np.all(np.isfinite(kl_pc)) and kl_pc[~apart][0] == pytest.approx(0.0, abs=1e-9)
    assert n["kl_with_pseudo_count_at_0.5"] > 1 and n["kl_with_pseudo_count_apart_spread"] < 1e-6


def test_divergences_figure_shows_infinity_and_the_jump():
    """KL = inf sits on the KL axis's own off-scale band, labelled with the infinity sign (not at y = 1 on the JSD
    axis); JSD is drawn as points only, so the jump at theta = 0 is not a smooth V; the pseudo-count is noted."""
    from ganforge.explain.common import Context
    from ganforge.explain.theory import divergences

    r = divergences(Context(fast=True))
    axes = {ax.get_ylabel(): ax for ax in r.figure.axes}
    kl_ax, jsd_ax = axes["KL(P || Q) (nats)"], axes["JSD(P, Q) (nats)"]
    for line in jsd_ax.get_lines():  # only JSD values (0 and log 2) here, none joined by a line
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.all(np.isclose(y, 0) | np.isclose(y, math.log(2))), y
        if len(line.get_xdata()) > 2:
            assert line.get_linestyle() == "None"
    inf_ticks = [t.get_position()[1] for t in kl_ax.get_yticklabels() if t.get_text() == "\u221e"]
    assert len(inf_ticks) == 1
    lines = kl_ax.get_lines()
    inf_line = next(ln for ln in lines if "\u221e" in ln.get_label())
    assert np.allclose(inf_line.get_ydata(), inf_ticks[0]) and len(inf_line.get_xdata()) == 20  # every theta != 0
    finite = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in lines if ln is not inf_line])
    assert finite.max() < inf_ticks[0]  # off the finite scale
    assert any("pseudo-count" in note for note in r.notes)
    assert r.tables and r.tables[0].rows[0][1] == "inf" and len(r.tables[0].rows) == 21


def test_two_sample_power_grows_with_n(companion):
    n = numbers(companion, "two-sample")
    for test in ("mmd", "c2st"):
        power = n[f"power_{test}"]
        assert power[-1] > power[0] and power[-1] >= 0.4
        assert n[f"false_positive_rate_{test}"] <= 0.2


def test_mode_collapse_curves(companion):
    n = numbers(companion, "mode-collapse")
    for key in ("no_remedy", "minibatch_std"):
        assert len(n[f"final_modes_{key}"]) == len(n["seeds"])
        assert all(0 <= m <= 8 for m in n[f"modes_{key}_seed0"])
        assert len(n[f"modes_{key}_seed0"]) == len(n["eval_steps"])


def test_bilinear_game(companion):
    n = numbers(companion, "nash")
    r0 = math.hypot(*n["start"])
    assert n["simultaneous_radius_increasing"]
    assert n["final_radius_simultaneous"] == pytest.approx(n["predicted_radius_simultaneous"], rel=1e-9)
    assert n["final_radius_simultaneous"] > 2 * r0
    assert n["max_radius_alternating"] < 1.1 * r0 and n["min_radius_alternating"] > 0.8 * r0  # bounded orbit
    assert n["final_radius_averaged"] < 0.3 * r0


def test_transposed_convolution_arithmetic(companion):
    n = numbers(companion, "upsampling")
    # the lecture's 2x2 input [[1, 2], [0, 3]] and kernel [[1, 3], [2, 1]], stride 1, worked by hand
    assert n["lecture_stride1"] == [[1, 5, 6], [2, 8, 11], [0, 6, 3]]
    assert np.array(n["lecture2_stride1"]).shape == (4, 4) and np.array(n["lecture2_stride2"]).shape == (6, 6)
    assert n["lecture_stride1_matches_definition"] and n["lecture2_matches_definition"]
    assert n["k4s2p1_output_sizes"] == {"2": 4, "4": 8, "8": 16, "16": 32}  # 4-2-1 doubles the size
    assert n["k4s2p1_matches_definition"] and n["k4s2p1_equals_zero_insertion_conv"]
    assert n["k4s2p1_equals_conv_matrix_transposed"]
    assert n["nearest_x2"] == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert n["nyquist_fraction_init_deconv"] > 10 * n["nyquist_fraction_init_resize"]


def test_nyquist_fraction_and_scatter_definition():
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2  # period-2 pattern
    assert nyquist_fraction(checker.float()[None, None]) == pytest.approx(1.0)
    smooth = torch.linspace(0, 1, 8)[None, :].expand(8, 8)
    assert nyquist_fraction(smooth[None, None]) < 0.05
    out = scatter_transposed(np.array([[1.0]]), np.ones((4, 4)), stride=2, padding=1)
    assert out.shape == (2, 2)


def test_architecture_ablations(companion):
    n = numbers(companion, "architecture")
    assert n["layers_changed_baseline"] == 0
    for name in ("no-batchnorm", "relu-in-D", "maxpool-in-D"):
        assert n[f"layers_changed_{name}"] > 0
        assert math.isfinite(n[f"final_fid_{name}"]) and n[f"final_fid_{name}"] > 0


def test_wgan_critic_series(companion):
    n = numbers(companion, "wgan-critic")
    assert len(n["critic_estimate"]) == len(n["w1_exact"]) == len(n["eval_steps"]) >= 3
    assert all(w > 0 for w in n["w1_exact"])
    assert -1 <= n["pearson_r"] <= 1


def test_latent_lerp_vs_slerp(companion):
    n = numbers(companion, "latent")
    assert n["lerp_mid_norm_ratio"] == pytest.approx(1 / math.sqrt(2), abs=0.05)  # sqrt(d / 2) at the midpoint
    assert n["slerp_mid_norm_ratio"] == pytest.approx(1.0, abs=0.05)
    assert n["lerp_share_of_midpoints_outside_band"] > 0.9 and n["slerp_share_of_midpoints_outside_band"] < 0.1
    assert n["latent_spaces"] == ["z"] and "not shown" in n["w_space"]


def test_one_topic_and_errors(tmp_path, capsys):
    assert main(["explain", "nash", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nash: ") and (tmp_path / "nash.png").is_file() and (tmp_path / "nash.json").is_file()
    assert "index.html" in out
    html = (tmp_path / "index.html").read_text()
    assert html.count('<section class="topic"') == 1 and 'id="nash"' in html and "data:image/png;base64," in html
    assert main(["explain", "divergences", "--out", str(tmp_path), "--fast"]) == 0  # the page keeps nash
    html = (tmp_path / "index.html").read_text()
    assert html.count('<section class="topic"') == 2 and html.index('id="divergences"') < html.index('id="nash"')
    capsys.readouterr()
    assert main(["explain", "divergnces", "--out", str(tmp_path)]) == 2
    assert "did you mean 'divergences'" in capsys.readouterr().err
    assert main(["explain", "nash"]) == 2
    assert "--out" in capsys.readouterr().err


def test_latent_refuses_a_toy_run(tiny_run, tmp_path, capsys):
    assert main(["explain", "latent", "--out", str(tmp_path), "--run", str(tiny_run), "--fast"]) == 2
    assert "2-D run" in capsys.readouterr().err


def test_latent_walks_w_beside_z_for_a_stylegan_run(tmp_path, capsys):
    """With a StyleGAN run the latent topic adds a walk in w and the path lengths of z and w walks."""
    from ganforge.recipes import load_config
    from ganforge.runner import train

    run = train(load_config("stylegan-mnist", [
        "data.size=16", "model.g_width=4", "model.d_width=4", "model.w_dim=16", "model.map_layers=2", "model.mbstd=2",
        "train.batch_size=8", "train.steps=2", "train.eval_every=0", "train.sample_every=0", "train.progress=false",
        "train.final_eval=false"]),
        tmp_path / "style")
    assert main(["explain", "latent", "--out", str(tmp_path / "x"), "--run", str(run), "--fast"]) == 0
    n = json.loads((tmp_path / "x" / "latent.json").read_text())
    n = n.get("numbers", n)
    assert n["latent_spaces"] == ["z", "w"] and "w_space" not in n
    assert n["path_length_z"] > 0 and n["path_length_w"] > 0
    assert len(n["w_classifier_confidence_along_path"]) == n["steps"]
    assert "path length" in capsys.readouterr().out
