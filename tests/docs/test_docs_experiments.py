"""The docs' experiments, run with the commands as written (shortened to the steps their claim needs), and
their claimed effect asserted with a number.

    pytest tests/docs -q

Commands are parsed from the markdown itself (a ```bash block under a heading), so a doc edit that loses the
effect fails here.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from ganforge.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def bash_block(doc: str, heading: str) -> str:
    """The first ```bash block after ``heading`` in ``docs/doc``."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    at = text.index(heading)
    m = re.search(r"```bash\n(.*?)\n```", text[at:], re.S)
    assert m, f"no bash block under {heading!r} in {doc}"
    return m.group(1)


def commands(block: str, program: str = "ganforge") -> list[list[str]]:
    """Each ``program ...`` command of a bash block (backslash continuations joined), as an argv without it."""
    joined = re.sub(r"\\\n\s*", " ", block)
    words = (shlex.split(line, comments=True) for line in joined.splitlines() if line.startswith(program + " "))
    return [w[1:] for w in words]


def heredoc(block: str) -> str:
    """The Python program of a ``python - <<'PY' ... PY`` here-document."""
    m = re.search(r"python - <<'PY'\n(.*?)\nPY", block, re.S)
    assert m, "no python here-document"
    return m.group(1)


def test_parsers_read_the_getting_started_block():
    block = bash_block("getting-started.md", "## See the lecture's claims")
    cmds = commands(block)
    assert [c[:4] for c in cmds] == [["train", "ring8", "--out", "runs/minimax"],
                                     ["train", "ring8", "--out", "runs/ns"]]
    # the two runs differ only in the generator's loss (and their folder)
    strip = [[a for a in c if not a.startswith(("loss=", "runs/"))] for c in cmds]
    assert strip[0] == strip[1] and "loss=minimax" in cmds[0] and "loss=ns" in cmds[1]
    assert "print(" in heredoc(block)
    from ganforge.explain.theory import D_AHEAD  # `ganforge explain non-saturating` provokes it the same way

    assert set(D_AHEAD) <= set(cmds[0]), f"the doc's overrides and the explain topic's differ: {D_AHEAD}"


def test_getting_started_minimax_vs_ns_gradient(tmp_path, monkeypatch, capsys):
    """docs/getting-started.md: with D winning early, minimax gives G almost no gradient; the doc's own
    commands (for the 90 steps its first ten log lines need) and its own Python give ns / minimax >= 5x."""
    block = bash_block("getting-started.md", "## See the lecture's claims")
    monkeypatch.chdir(tmp_path)
    short = ["--set", "train.steps=90", "--set", "train.final_eval=false", "--set", "train.sample_every=0",
             "--set", "train.eval_every=0", "--set", "train.progress=false", "--set", "train.ckpt_every=90"]
    for argv in commands(block):
        assert main(argv + short) == 0
    capsys.readouterr()
    exec(compile(heredoc(block), "getting-started.md", "exec"), {"__name__": "__main__"})  # the doc's own reader
    printed = capsys.readouterr().out
    m = re.search(r"ns / minimax = (\d+)x", printed)
    assert m, printed
    measured = int(m.group(1))
    assert measured >= 5, printed
    # the ratio the doc states as run, and the shape of the effect: minimax's gradient falls, ns's does not
    doc = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    stated = re.search(r"\*\*ns / minimax = (\d+)x\*\*", doc)
    assert stated and int(stated.group(1)) >= 5
    grads = {run: [r["Grad/G"] for r in map(json.loads, (tmp_path / run / "metrics.jsonl").open()) if "Grad/G" in r]
             for run in ("runs/minimax", "runs/ns")}
    assert len(grads["runs/minimax"]) == len(grads["runs/ns"]) == 10
    assert grads["runs/minimax"][-1] < 0.01 * grads["runs/minimax"][0]  # "almost no gradient"
    assert min(grads["runs/ns"][1:]) > grads["runs/ns"][0]  # the non-saturating gradient grows as D wins


COLLAPSE_HEADING = "### Mode collapse, and minibatch standard deviation as a remedy"


def test_getting_started_mode_collapse_and_minibatch_std(tmp_path, monkeypatch):
    """docs/getting-started.md: on sharp ring8 modes with a quick D, the run without a remedy collapses (seed 0)
    and the one with minibatch std keeps all 8 modes; the doc's commands as written, its eval as run."""
    block = bash_block("getting-started.md", COLLAPSE_HEADING)
    cmds = commands(block)
    trains = [c for c in cmds if c[0] == "train"]
    assert [c[:4] for c in trains] == [["train", "ring8", "--out", "runs/collapse"],
                                       ["train", "ring8", "--out", "runs/mbstd"]]
    strip = [[a for a in c if not a.startswith(("model.mbstd=", "runs/"))] for c in trains]
    assert strip[0] == strip[1] and "model.mbstd=0" in trains[0] and "model.mbstd=4" in trains[1]
    from ganforge.explain.dynamics import COLLAPSE  # `ganforge explain mode-collapse` runs the same settings

    assert set(COLLAPSE) <= set(trains[0]), f"the doc's overrides and the explain topic's differ: {COLLAPSE}"
    monkeypatch.chdir(tmp_path)
    quiet = ["--set", "train.final_eval=false", "--set", "train.sample_every=0", "--set", "train.eval_every=0",
             "--set", "train.progress=false"]  # only what the doc's own `ganforge eval` reads stays
    for argv in trains:
        assert main(argv + quiet) == 0
    evals = [c for c in cmds if c[0] == "eval"]
    assert evals == [["eval", "runs/collapse", "&&", "ganforge", "eval", "runs/mbstd"]], evals
    for argv in (["eval", "runs/collapse"], ["eval", "runs/mbstd"]):  # the doc's line, split at its &&
        assert main(argv) == 0
    modes = {run: json.loads((tmp_path / run / "eval.json").read_text())["model"]["modes"]
             for run in ("runs/collapse", "runs/mbstd")}
    assert modes["runs/collapse"] < 8 and modes["runs/mbstd"] == 8, modes
    doc = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    stated = re.search(r"\*\*(\d) of the 8 modes\*\*", doc)  # the number as run (another CPU may differ)
    assert stated and int(stated.group(1)) < 8 and "with minibatch std on **all 8**" in doc


def test_explain_stylegan_walks_in_w_are_smoother(tmp_path, monkeypatch):
    """docs/explain.md: on the shipped StyleGAN, the walks in w have a shorter path length (smoother) than in z."""
    block = bash_block("explain.md", "**StyleGAN's z vs w.**")
    first = commands(block)[0]
    assert first == ["explain", "latent", "--run", "pretrained:stylegan-mnist", "--out", "explain/"]
    monkeypatch.chdir(tmp_path)
    assert main(first) == 0
    n = json.loads((tmp_path / "explain" / "latent.json").read_text())["numbers"]
    assert n["latent_spaces"] == ["z", "w"]
    assert n["path_length_w"] < n["path_length_z"] and n["path_length_w_median"] < n["path_length_z_median"], n
