"""Each recipe owns its config sections; ganforge 0.1's flat run folders still load; the layers stay apart.

The fixtures under tests/fixtures/runs-0.1 were written by ganforge 0.1.0 (one flat config.yaml with every
key of every recipe, loss weights at the top level, ngf/ndf, train.pool).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import ganforge
from ganforge.checkpoint import latest, load
from ganforge.cli import main
from ganforge.config import ConfigError, to_dict
from ganforge.lab.gallery import Gallery
from ganforge.recipes import describe_keys, load_config, resolve, upgrade
from ganforge.runfolder import read_config
from ganforge.runner import resume, train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1"
LEGACY = ["ring8", "mnist-cond", "stylegan", "cyclegan"]
SRC = Path(ganforge.__file__).resolve().parent


def _copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    return dst


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_run_folders_sample_and_read(name, tmp_path):
    run_dir = _copy(name, tmp_path)
    flat = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert "gp_weight" in flat and "ngf" in flat["model"]  # it really is the old flat format
    cfg = read_config(run_dir)
    assert cfg.recipe == flat["recipe"] and cfg.loss.name == flat["loss"]
    assert cfg.model.g_width == flat["model"]["ngf"] or cfg.data_kind == "toy"
    run = ganforge.load_run(run_dir)
    out = tmp_path / ("s.npy" if run.can("points") else "s.png")
    assert main(["sample", str(run_dir), "--n", "4", "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    if run.can("images"):
        assert run.sample(3).shape[0] == 3


def test_legacy_runs_evaluate_resume_and_show_in_the_gallery(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    for name in LEGACY:
        _copy(name, root)
    listed = {r["name"]: r for r in Gallery(root).list() if not r["pretrained"]}
    assert set(listed) == set(LEGACY)
    assert listed["cyclegan"]["kind"] == "translation" and listed["ring8"]["kind"] == "2d"
    assert listed["mnist-cond"]["num_classes"] == 10 and "classes" in listed["mnist-cond"]["views"]
    run = ganforge.load_run(root / "ring8")
    result = run.evaluate(n=200, write=True)
    assert np.isfinite(result["model"]["modes"]) and (root / "ring8" / "eval.json").is_file()
    # resume continues the 0.1 run and writes its config.yaml in today's sections
    resume(root / "ring8", ["train.steps=24", "train.eval_every=0"])
    assert load(latest(root / "ring8"))["step"] == 24
    new = yaml.safe_load((root / "ring8" / "config.yaml").read_text())
    assert "gp_weight" not in new and new["loss"]["name"] == "lsgan" and "ngf" not in new["model"]
    assert read_config(root / "ring8").model.g_width == 16


def test_config_yaml_shows_only_the_keys_its_run_uses(tmp_path):
    out = train(load_config("mnist", ["model.g_width=8", "model.d_width=8", "train.steps=2", "train.ckpt_every=2",
                                      "train.eval_every=0", "train.sample_every=0", "train.progress=false",
                                      "eval.n=50"]), tmp_path / "m")
    d = yaml.safe_load((out / "config.yaml").read_text())
    assert set(d) == {"description", "recipe", "seed", "device", "data", "model", "loss", "optim", "train", "eval"}
    assert "n_modes" not in d["data"] and "hole" not in d["data"] and "layout" not in d["data"]
    assert "cycle_weight" not in d["loss"] and "l1_weight" not in d["loss"] and "w_dim" not in d["model"]
    assert "pool" not in d["train"] and "g_arch" not in d["model"] and "pack" not in d["model"]
    assert d["model"]["g_width"] == 8 and d["loss"]["name"] == "ns"
    ring = to_dict(resolve(load_config("ring8")))
    assert "upsample" not in ring["model"] and "features" not in ring["eval"] and "root" not in ring["data"]


@pytest.mark.parametrize("preset, key, owner", [
    ("mnist", "loss.cycle_weight=3", "recipe cyclegan"),
    ("mnist", "data.n_modes=3", "2-D points"),
    ("ring8", "model.cond=concat", "recipe gan on image data"),
    ("inpaint", "model.mbstd=4", "recipe gan"),
    ("ring8", "data.hole=0.5", "image pairs"),
    ("stylegan-mnist", "loss.gp_weight=5", "recipe gan"),
    ("cyclegan-digits", "loss.l1_weight=5", "recipe pix2pix"),
])
def test_a_key_the_run_does_not_use_names_where_it_belongs(preset, key, owner):
    with pytest.raises(ConfigError, match=f"not used by this run; it belongs to .*{owner}"):
        load_config(preset, [key])


def test_changing_recipe_or_data_kind_by_override_takes_the_new_sections():
    cfg = resolve(load_config("mnist", ["data.name=ring8"]))  # image preset -> 2-D data: MLP sections
    assert cfg.data_kind == "toy" and type(cfg.model).__name__ == "MLPModel"
    assert (cfg.model.g_width, cfg.model.z_dim, cfg.model.g_depth) == (32, 100, 3)  # shared keys kept
    cfg = resolve(load_config("dcgan-paper", ["recipe=stylegan"]))
    assert type(cfg.model).__name__ == "StyleGANModel" and cfg.model.g_width == 32 and cfg.loss.r1_gamma == 10.0
    with pytest.raises(ConfigError, match="data.name='colordigits' is a translation task"):
        load_config("mnist", ["data.name=colordigits"])


def test_old_names_in_a_hand_written_file_are_translated_and_conflicts_refused(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("data: {name: mnist}\nmodel: {ngf: 16, ndf: 24}\nloss: hinge\ngp_weight: 3\n")
    cfg = load_config(str(f))
    assert (cfg.model.g_width, cfg.model.d_width, cfg.loss.name, cfg.loss.gp_weight) == (16, 24, "hinge", 3.0)
    f.write_text("data: {name: mnist}\nmodel: {ngf: 16, g_width: 8}\n")
    with pytest.raises(ConfigError, match="model.ngf is the old name of model.g_width"):
        load_config(str(f))
    f.write_text("data: {name: mnist}\nmodel: {typo_width: 8}\n")
    with pytest.raises(ConfigError, match="unknown config key 'model.typo_width'"):
        load_config(str(f))
    assert upgrade({"loss": "ns"}) == {"loss": {"name": "ns"}}


def test_config_command_shows_a_presets_keys_only(capsys):
    assert main(["config", "mnist"]) == 0
    keys = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "model.g_width" in keys and "loss.name" in keys and "eval.features" in keys
    assert not any(k in keys for k in ("data.n_modes", "data.hole", "loss.cycle_weight", "model.w_dim"))
    assert main(["config"]) == 0  # every recipe's keys, each marked with what it belongs to
    out = capsys.readouterr().out
    assert "loss.cycle_weight" in out and "[recipe cyclegan]" in out and "[2-D points]" in out
    rows = describe_keys(resolve(load_config("ring8")))
    assert ("model.pack", "1") in [(k, v) for k, v, _ in rows]


def _imports(path: Path, module: str) -> set[str]:
    """The ganforge modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else None
            if base and base.startswith("ganforge"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ganforge"))
    return found


def test_no_import_cycle_among_ganforge_modules_counting_function_level_imports():
    modules = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = p
    graph = {m: {i for i in _imports(p, m) if i in modules and i != m} for m, p in modules.items()}
    # a package's __init__ that only re-exports its own submodules is part of them, not a cycle
    for m in graph:
        graph[m] = {i for i in graph[m] if not m.startswith(i + ".")}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert "ganforge.loop" not in {i for m in graph if m.startswith("ganforge.sample") for i in graph[m]}
    assert not {i for i in graph["ganforge.loop"] if i.startswith("ganforge.sample")}


def test_import_ganforge_loads_no_plotting_or_web_library():
    # torchvision too: it takes seconds to import, and only loading image files and photo patches needs it
    code = ("import sys, ganforge, ganforge.config, ganforge.recipes\n"
            "bad = [m for m in ('matplotlib', 'fastapi', 'uvicorn', 'websockets', 'torchvision') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
