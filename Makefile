# socialrec: `make demo` runs the whole pipeline on the embedded store; `make test` runs lint, types, tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Deliberate thread counts: 2 cores, and servers/tests run several processes.
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
# Idle OpenMP threads sleep instead of spinning (a spinning pool collapses under a second job).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install demo test lint typecheck pytest bench clean

install: $(STAMP)
	@echo ">> environment ready: $(VENV) (pinned from requirements.lock)"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || { echo ">> creating virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo ">> installing pinned requirements (requirements.lock)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@echo ">> installing socialrec (editable)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

demo: install
	$(BIN)/socialrec demo

lint: install
	@echo ">> ruff"
	$(BIN)/ruff check graph gnn serving api socialrec tests benchmarks
	$(BIN)/ruff format --check graph gnn serving api socialrec tests benchmarks

typecheck: install
	@echo ">> mypy"
	$(BIN)/mypy

pytest: install
	@echo ">> pytest"
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python benchmarks/lastfm.py

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache .pytest_cache
