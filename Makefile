# Two commands: `make run` and `make test`. Both create .venv with the Python on PATH.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

## run: set up and start the service on the embedded defaults (SQLite and a directory under ./var)
run: $(VENV)/.installed-run
	$(BIN)/catalogue db upgrade
	$(BIN)/catalogue serve

## test: set up, lint, type-check, check import rules, run every test
test: lint unit

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(VENV)/.installed-test
	$(BIN)/pytest

## bench: run the benchmarks (installs the bench extra)
bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/event_store.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
