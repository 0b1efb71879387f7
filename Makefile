# twin: the two commands a newcomer needs are `make demo` and `make test`.
# Both bootstrap a virtual environment in .venv by themselves.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint format bench clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Run the twin on its embedded synthetic demo city with simulated sensors.
demo: $(STAMP)
	$(BIN)/twin demo

## The whole test suite (CI runs this with CI=true).
test: $(STAMP)
	$(BIN)/ruff check twin tests bench
	$(BIN)/python -m pytest --durations=15

## Everything except tests marked slow.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check twin tests bench
	$(BIN)/ruff format --check twin tests bench

format: $(STAMP)
	$(BIN)/ruff format twin tests bench
	$(BIN)/ruff check --fix twin tests bench

## Benchmarks: each prints our figure beside the naive way, as a ratio.
bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
