# iliad7 — the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= $(shell scripts/find-python)
VENV   := .venv
BIN    := $(VENV)/bin
export ILIAD7_HOME ?= $(CURDIR)/var

.PHONY: install run test lint typecheck unit bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: install
	$(BIN)/iliad7 demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src/iliad7/scores src/iliad7/eligibility src/iliad7/protocol \
		src/iliad7/randomization src/iliad7/dosing src/iliad7/schedule src/iliad7/simulate

unit: install
	$(BIN)/python -m pytest
	ILIAD7_TEST_DB=postgresql $(BIN)/python -m pytest -m django_db

test: lint typecheck unit

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
