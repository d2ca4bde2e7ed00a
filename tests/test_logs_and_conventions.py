"""TensorBoard events (the `tensorboard` extra): a resumed or rolled-back run logs each step once, and its
scalar series equal metrics.jsonl's; sample pictures as images; the flat config with the final values as
hparams. Read back as TensorBoard reads them (EventAccumulator: a file's purge_step drops the events at and
after it from the files before)."""

import json

import pytest
from conftest import nan_in_g_ema_at

from ganforge import checkpoint
from ganforge.recipes import load_config
from ganforge.runner import resume, train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RUN = [
    "model.g_width=16", "model.d_width=16", "model.g_depth=2", "model.d_depth=2", "train.batch_size=32",
    "train.steps=40", "train.log_every=3", "train.eval_every=20", "train.eval_n=100", "train.sample_every=10",
    "train.ckpt_every=7", "train.keep_ckpts=10", "train.progress=false",
    "eval.n=200", "eval.mmd_n=100", "eval.permutations=20",
]


def _read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _jsonl_series(run):
    series = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "event" in rec:
            continue
        for k, v in rec.items():
            if k != "step":
                series.setdefault(k, []).append((rec["step"], v))
    return series


def _assert_tb_equals_jsonl(run):
    acc = _read(run / "tb")
    want = _jsonl_series(run)
    assert set(acc.Tags()["scalars"]) == set(want)
    for tag, pairs in want.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        steps = [s for s, _ in got]
        assert len(steps) == len(set(steps)), f"{tag}: a step logged twice: {steps}"
        assert steps == [s for s, _ in pairs], tag
        assert [v for _, v in got] == pytest.approx([v for _, v in pairs], rel=1e-6, abs=1e-30), tag
    return acc


def test_resume_after_a_crash_logs_each_step_once(tmp_path):
    straight = train(load_config("ring8", RUN), tmp_path / "straight", device="cpu")
    run = train(load_config("ring8", RUN), tmp_path / "cut", device="cpu")
    for p in checkpoint.list_checkpoints(run):
        if int(p.stem.split("_")[1]) > 14:
            p.unlink()  # as if killed just after the checkpoint at step 14: steps 15..40 get logged again
    resume(run)
    files = sorted((run / "tb").glob("events.out.tfevents.*"))
    assert len(files) == 2  # the first session's and the resumed one's, in that order by name
    acc = _assert_tb_equals_jsonl(run)
    steps = [e.step for e in acc.Scalars("Loss/D")]
    assert steps == [1, *range(3, 40, 3), 40]
    # exact resume: the same numbers as the uninterrupted run's events
    ref = _read(straight / "tb")
    assert [e.value for e in acc.Scalars("Loss/D")] == [e.value for e in ref.Scalars("Loss/D")]
    assert [e.step for e in acc.Images("samples")] == [10, 20, 30, 40]  # the sample grids, once each
    img = acc.Images("samples")[-1]
    assert img.width > 0 and img.height > 0 and img.encoded_image_string.startswith(b"\x89PNG")


def test_hparams_hold_the_flat_config_and_the_final_values(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = train(load_config("ring8", RUN + ["train.steps=12", "train.sample_every=0"]), tmp_path / "r",
                device="cpu")
    resume(run, ["train.steps=18"])  # a second session: its hparams replace the first's
    assert len(list((run / "tb" / "hparams").glob("events.out.tfevents.*"))) == 1
    acc = _read(run / "tb" / "hparams")
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["train.steps"].number_value == 18 and hp["recipe"].string_value == "gan"
    assert hp["loss.name"].string_value == load_config("ring8").loss.name
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    (final,) = acc.Scalars("hparam/Loss/D")
    assert final.step == 18 and final.value == pytest.approx(last["Loss/D"], rel=1e-6)
    _assert_tb_equals_jsonl(run)  # the hparams run is a folder of its own: the main series are untouched


def test_rollback_mid_run_leaves_no_step_twice(tmp_path, monkeypatch):
    """A NaN in G_ema at step 25: the loop rolls back to the checkpoint at 20 and trains 21..60 again."""
    injected = nan_in_g_ema_at(monkeypatch, 25)
    cfg = load_config("ring8", [*RUN[:5], "train.steps=60", "train.log_every=5", "train.eval_every=0",
                                "train.sample_every=0", "train.ckpt_every=20", "train.progress=false",
                                "train.ema=0.9", "train.on_diverge=rollback"])
    run = train(cfg, tmp_path / "r", device="cpu")
    assert injected and "rolled back to step 20" in (run / "metrics.jsonl").read_text()
    acc = _assert_tb_equals_jsonl(run)
    assert [e.step for e in acc.Scalars("Loss/G")] == [1, *range(5, 61, 5)]
