# ganforge: `make run` trains the default job, `make test` runs lint + tests.
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ganforge-installed

.PHONY: setup run test bench lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

run: setup
	$(BIN)/ganforge train ring8 --out runs/ring8 --overwrite

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/toy.py

lab: setup
	@echo "ganforge lab is not built yet (see the open issue for the web app)."; exit 1

clean:
	rm -rf runs .pytest_cache .ruff_cache
