"""The notebooks in examples/ run top to bottom, and are committed without outputs.

    .venv/bin/python -m pytest -q tests/examples
    .venv/bin/python -m pytest -q tests/examples -k 03      # one notebook

Each notebook is executed with nbclient in a ``python3`` kernel (ipykernel, in this venv's python; the test
checks which python ran it) in a temporary working directory, so its ``runs/`` never land in the repository.
The values of :data:`SMALL` are assigned in a cell inserted after the notebook's ``parameters`` cell
(papermill's convention), so that all the notebooks together take about two minutes on 2 cores. The notebooks
run two at a time (each kernel uses one torch thread). A cell that raises fails its notebook's test with the
cell's source and the error.
"""

from __future__ import annotations

import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

#: per notebook: the parameter values the suite runs it with (the notebooks' own values give cleaner results)
SMALL: dict[str, dict[str, object]] = {
    "01_toy_gan_failure_modes.ipynb": {"NS_STEPS": 10, "K_STEPS": 50, "COLLAPSE_STEPS": 100},
    "02_dcgan_evaluation.ipynb": {"N": 200, "N_REF": 500},
    "03_conditional_gan.ipynb": {"N_CHECK": 200},
    "04_wgan.ipynb": {"STEPS": 20},
    "05_pix2pix_cyclegan.ipynb": {"N": 64},
    "06_stylegan.ipynb": {"PROJECT_STEPS": 30, "N_PROJECT": 4, "PPL_PAIRS": 100},
    "07_two_sample_tests.ipynb": {"REPEATS": 8, "SIZES": [10, 40, 160], "PERMUTATIONS": 50},
    "08_text_to_image.ipynb": {"N_CHECK": 100},
}
NOTEBOOK_TIMEOUT = 300  # seconds for a whole notebook (and so for any one cell): a hang fails instead of stalling
WORKERS = max(1, min(2, os.cpu_count() or 1))  # notebooks executed at once
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colour codes of IPython's tracebacks


def _parameters_cell(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _execute(path: Path, cwd: Path) -> tuple[object, float]:
    """Run one notebook with its SMALL values in ``cwd``: (the executed notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    values = "\n".join(f"{k} = {v!r}" for k, v in SMALL.get(path.name, {}).items())
    nb.cells.insert(_parameters_cell(nb) + 1, nbformat.v4.new_code_cell(values))
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"))  # which python runs the kernel
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=NOTEBOOK_TIMEOUT,
                                     resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory):
    """The notebooks this session selected, executed WORKERS at a time: {name: future of (notebook, seconds)}."""
    wanted = [item.callspec.params["path"] for item in request.session.items
              if item.originalname == "test_notebook_runs" and hasattr(item, "callspec")]
    pool = ThreadPoolExecutor(WORKERS)
    futures = {p.name: pool.submit(_execute, p, tmp_path_factory.mktemp(p.stem)) for p in wanted}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_notebook_has_small_parameters():
    assert NOTEBOOKS, f"no notebooks in {EXAMPLES}"
    assert {p.name for p in NOTEBOOKS} == set(SMALL), "SMALL must name exactly the notebooks in examples/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    """Outputs are stripped before committing: no outputs, no execution counts, valid nbformat 4."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"{path.name} cell {i} holds execution timings"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    # every injected parameter is one the notebook defines, so renaming it cannot silently slow the suite down
    params = nb.cells[_parameters_cell(nb)].source
    for name in SMALL.get(path.name, {}):
        assert f"\n{name} = " in f"\n{params}", f"{path.name}: parameter {name} is not in its parameters cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, executed, record_property):
    try:
        nb, seconds = executed[path.name].result()
    except nbclient.exceptions.CellExecutionError as e:  # the cell's source and traceback, without colour codes
        pytest.fail(f"{path.name}: a cell raised\n{ANSI.sub('', str(e))}", pytrace=False)
    record_property("seconds", round(seconds, 1))
    prefix = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert prefix == sys.prefix, f"the kernel ran in {prefix!r}, not in this venv ({sys.prefix!r})"
    assert seconds < NOTEBOOK_TIMEOUT, f"{path.name} took {seconds:.0f} s"
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert figures > 0, f"{path.name} drew no figure inline"
    print(f"{path.name}: {seconds:.1f} s")
