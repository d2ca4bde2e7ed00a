"""The run report leads with the result: the headline per kind of run, captions, the filmstrip, the metric
meanings and KID's note, the curves reconciled with the table, the run's own config keys; and short runs'
intervals (``config.fit_intervals``).

Run with ``pytest -q tests/viz/test_report.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TINY

from ganforge.config import MIN_POINTS, TrainConfig, fit_intervals
from ganforge.recipes import load_config
from ganforge.viz import plot_curves, write_report
from ganforge.viz.report import headline, meaning, own_keys

IMAGE = {"model": {"fid": 24.0, "kid": 0.012, "precision": 0.7, "recall": 0.5, "fid2": 6.0, "kid2": 0.004},
         "floor": {"fid": 8.0, "kid": -0.0009, "precision": 0.9, "recall": 0.9, "fid2": 1.5, "kid2": -0.0002},
         "provenance": {"features": "mnist-classifier@28px#26ef3695", "features2": "mnist-resnet@28px#92191dcf",
                        "n_fake": 2000, "n_floor": 2000, "floor_matched": True}}
TOY = {"model": {"modes": 7, "hq": 88.5, "w1": 0.05}, "floor": {"modes": 8, "hq": 99.0, "w1": 0.02},
       "provenance": {"n": 2500, "n_fake": 2500}}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'").strip()


def _headline(html: str) -> str:
    return _text(html.split('<div class="headline">', 1)[1].split("</div>", 1)[0])


def test_image_headline_is_fid_beside_its_floor(tmp_path):
    lines = headline(IMAGE)
    assert lines[0].startswith("FID 24 against a floor of 8: 3.0x the floor")
    assert "mnist-classifier" in lines[0] and "n = 2000" in lines[0]
    assert "FID 6 against 1.5: 4.0x" in lines[1] and "4.0x at worst" in lines[1]  # the second network
    assert lines[2].startswith("KID 0.012 against a floor of -0.0009")
    html = write_report(tmp_path, title="t", config={}, history=[{"step": 1500, "Loss/D": 1.165}],
                        eval_result=IMAGE).read_text()
    assert _headline(html).startswith("FID 24 against a floor of 8") and "Loss/D" not in _headline(html)
    text = _text(html)
    assert "KID's unit" in text and "raw MMD²" in text and "unbiased estimate" in text
    assert "below 0" in text and "(here kid, kid2)" in text  # why the floors are negative
    for key in IMAGE["model"]:  # each metric with a one-line meaning in its row
        row = re.search(rf"<tr><td>{key}</td>.*?</tr>", html).group(0)
        assert meaning(key) and meaning(key) in row.replace("&#x27;", "'")


def test_conditional_headline_leads_with_class_accuracy():
    r = {**IMAGE, "model": {**IMAGE["model"], "class_acc": 0.93}, "floor": {**IMAGE["floor"], "class_acc": 0.99}}
    assert headline(r)[0].startswith("Class accuracy 93%") and "held-out real images: 99%" in headline(r)[0]
    assert headline(r)[1].startswith("FID 24")


def test_toy_and_translation_headlines():
    assert headline(TOY)[0].startswith("7 of 8 modes covered, 88.5% of generated points high-quality")
    assert "8 modes, 99%" in headline(TOY)[0] and "W1" in headline(TOY)[1]
    moons = {"model": {"w1": 0.1, "kl": 0.3}, "floor": {"w1": 0.03, "kl": 0.1}, "provenance": {"n": 500}}
    assert headline(moons)[0].startswith("W1 (earth mover's distance) 0.1") and "two real samples: 0.03" in \
        headline(moons)[0]
    pix = {"model": {"l1": 0.2, "psnr": 18.5, "ssim": 0.6}, "floor": {"l1": 0.1, "psnr": 20.2, "ssim": 0.65},
           "provenance": {"n": 40}}
    assert headline(pix)[0].startswith("PSNR 18.5 dB") and "copying the input scores 20.2 dB" in headline(pix)[0]
    cyc = {"model": {"cycle_l1_A": 0.1, "cycle_l1_B": 0.2, "label_acc_BtoA": 0.8, "label_acc_AtoB": 0.6},
           "floor": {"cycle_l1_A": 0.5, "cycle_l1_B": 0.6, "label_acc_BtoA": 0.95, "label_acc_AtoB": 0.425},
           "provenance": {"n": 40}}
    assert headline(cyc)[0].startswith("Labels preserved: 80% of B→A translations keep their digit")
    assert "42.5%" in headline(cyc)[0] and headline(cyc)[1].startswith("Cycle reconstruction L1: A 0.1")
    assert headline(None) == [] and headline({"model": {}}) == []


def test_no_evaluation_says_how_to_get_one(tmp_path):
    html = write_report(tmp_path, title="t", config={}, history=[{"step": 3, "Loss/D": 1.0}]).read_text()
    assert "ganforge eval RUN" in _headline(html) and "trained 3 steps" in html


def test_filmstrip_captions_and_curve_reconciliation(tmp_path):
    history = [{"step": s, "Loss/D": 1.0, "Metric/modes": 6, "Metric/w1": 0.08} for s in (10, 20, 30)]
    frames = []
    for s in (10, 20, 30):
        plot_curves(history[:1], path=tmp_path / f"step_{s:08d}.png")
        frames.append((tmp_path / f"step_{s:08d}.png", f"step {s}"))
    config = {"train": {"eval_n": 100}, "eval": {"n": 2500}}
    html = write_report(tmp_path / "r", title="t", config=config, history=history, eval_result=TOY,
                        images=[(frames[0][0], "Training curves against the step")], filmstrip=frames,
                        filmstrip_caption="Real and generated points.").read_text()
    film = html.split('<div class="film">', 1)[1].split("</div>", 1)[0]
    assert film.count("<img") == 3 and [f"step {s}" for s in (10, 20, 30)] == re.findall(
        r"<figcaption>(step \d+)</figcaption>", film)
    assert "Real and generated points. Oldest first, all 3 saved pictures" in _text(html)
    assert "<figcaption>Training curves against the step</figcaption>" in html
    assert "step_00000010.png" not in _text(html)  # captions say what a picture shows, not its file name
    text = _text(html)
    assert "curve: value (n = 100)" in text and "table (n = 2500)" in text
    assert "train.eval_n = 100" in text and "eval.n = 2500" in text
    assert re.search(r"<tr><td>w1</td><td>30</td><td>0.08</td><td>0.05</td></tr>", html)


def test_filmstrip_thins_out_a_long_run(tmp_path):
    from ganforge.viz import report

    plot_curves([], path=tmp_path / "p.png")
    frames = [(tmp_path / "p.png", f"step {s}") for s in range(100)]
    html = write_report(tmp_path, title="t", config={}, history=[], filmstrip=frames).read_text()
    caps = re.findall(r"<figcaption>step (\d+)</figcaption>", html)
    assert len(caps) == report.MAX_FILM and caps[0] == "0" and caps[-1] == "99"
    assert f"{report.MAX_FILM} of the 100 saved pictures, evenly spaced" in _text(html)


def test_config_dump_keeps_the_runs_own_keys():
    config = {"description": "d", "recipe": "gan", "seed": 0, "device": "auto",
              "loss": {"name": "lsgan", "gp_weight": 10.0}, "train": {"steps": 40, "eval_n": 100, "ema": 0.0}}
    defaults = {"description": "", "recipe": "gan", "seed": 0, "device": "auto",
                "loss": {"name": "minimax", "gp_weight": 10.0}, "train": {"steps": 2000, "eval_n": 1000, "ema": 0.0}}
    assert own_keys(config, defaults) == {"recipe": "gan", "seed": 0, "loss": {"name": "lsgan"},
                                          "train": {"steps": 40, "eval_n": 100}}
    assert own_keys(config, None) is config


@pytest.fixture(scope="module")
def film_run(tmp_path_factory) -> Path:
    from ganforge.runner import train

    sets = [o for o in TINY if not o.startswith(("train.steps", "train.sample_every"))]
    cfg = load_config("ring8", [*sets, "train.steps=20", "train.sample_every=5", "train.final_eval=true"])
    return train(cfg, tmp_path_factory.mktemp("runs") / "film")


def test_run_report_end_to_end(film_run):
    html = (film_run / "report.html").read_text()
    saved = sorted((film_run / "samples").glob("step_*.png"))
    assert len(saved) == 4
    film = html.split('<div class="film">', 1)[1].split("</div>", 1)[0]
    assert re.findall(r"<figcaption>(step \d+)</figcaption>", film) == ["step 5", "step 10", "step 15", "step 20"]
    assert " modes covered, " in _headline(html) and "real points drawn the same way: 8 modes" in _headline(html)
    assert "1,000 real and 1,000 generated points" in html and "Training curves against the step" in html
    assert not re.search(r"<figcaption>[^<]*\.png", html)
    dump = html.split("<h2>Config</h2>", 1)[1]
    assert "name: ring8" in dump and "steps: 20" in dump and "name: lsgan" in dump
    for other in ("grid_size", "gp_weight", "r1_gamma", "channels_last", "augment", "on_diverge"):
        assert other not in dump, other  # defaults and other recipes' keys stay in config.yaml
    assert "grid_size" in (film_run / "config.yaml").read_text()
    assert "curve: value (n = 100)" in _text(html) and "table (n = 200)" in _text(html)


def test_fit_intervals_scales_what_the_user_did_not_set():
    cfg = load_config("ring8", ["train.steps=500"])  # the preset's eval_every / sample_every are 1000
    assert (cfg.train.eval_every, cfg.train.sample_every, cfg.train.log_every) == (100, 100, 50)
    cfg = load_config("ring8", ["train.steps=500", "train.eval_every=1000", "train.sample_every=0"])
    assert (cfg.train.eval_every, cfg.train.sample_every) == (1000, 0)  # set by the user: kept
    assert load_config("ring8").train.eval_every == 1000  # the preset's own length: unchanged
    t = TrainConfig(steps=3, log_every=50, eval_every=0, sample_every=7)
    assert fit_intervals(t) == {"log_every": (50, 1), "sample_every": (7, 1)} and t.eval_every == 0
    assert MIN_POINTS == 5


def test_a_users_yaml_file_keeps_its_intervals(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("data: {name: ring8}\ntrain: {steps: 100, eval_every: 400}\n")
    cfg = load_config(str(f))
    assert cfg.train.eval_every == 400 and cfg.train.sample_every == 20  # its own key kept, a default scaled


def test_short_run_gets_curve_points_and_resume_keeps_its_intervals(tmp_path):
    from ganforge.runner import resume, train
    from ganforge.sample import load_run

    sets = [o for o in TINY if not o.startswith(("train.steps", "train.log_every", "train.eval_every",
                                                 "train.sample_every"))]
    run_dir = train(load_config("ring8", [*sets, "train.steps=10", "train.sample_every=0"]), tmp_path / "r")
    steps = [r["step"] for r in load_run(run_dir).history if "Metric/w1" in r]
    assert steps == [2, 4, 6, 8, 10]  # eval_every 500 (default) > 10 steps: every 10 // 5 = 2
    resume(run_dir, ["train.steps=16"])
    run = load_run(run_dir)
    assert run.config.train.eval_every == 2 and run.config.train.log_every == 2  # not re-fitted to 16 steps
    assert [r["step"] for r in run.history if "Metric/w1" in r] == [2, 4, 6, 8, 10, 12, 14, 16]
