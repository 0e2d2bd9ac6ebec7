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

# The demo: the protocol loaded, one user per role (password below, TOTP secrets printed),
# a simulated cohort of 48 part-way through follow-up (day 20), and the web app.
DEMO_PASSWORD ?= iliad7-demo-only
run: install
	$(BIN)/iliad7 init
	@echo "$(DEMO_PASSWORD)" | $(BIN)/iliad7 web demo-users --password-stdin
	$(BIN)/iliad7 simulate cohort --n 48 --seed 20201220 --as-of 20 --if-empty
	$(BIN)/iliad7 serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src/iliad7/scores src/iliad7/eligibility src/iliad7/protocol \
		src/iliad7/randomization src/iliad7/dosing src/iliad7/schedule src/iliad7/simulate src/iliad7/analysis

unit: install
	$(BIN)/python -m pytest
	ILIAD7_TEST_DB=postgresql $(BIN)/python -m pytest -m django_db

test: lint typecheck unit

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
