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
# a simulated cohort of 48 part-way through follow-up (day 20), and the web app on port $(PORT) (`PORT=8001 make run`).
DEMO_PASSWORD ?= iliad7-demo-only
PORT ?= 8000
run: install
	$(BIN)/iliad7 init
	@echo "$(DEMO_PASSWORD)" | $(BIN)/iliad7 web demo-users --password-stdin
	$(BIN)/iliad7 simulate cohort --n 48 --seed 20201220 --as-of 20 --if-empty
	$(BIN)/iliad7 serve --host 127.0.0.1 --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src/iliad7/scores src/iliad7/eligibility src/iliad7/protocol \
		src/iliad7/randomization src/iliad7/dosing src/iliad7/schedule src/iliad7/simulate src/iliad7/analysis src/iliad7/capture src/iliad7/prescreen \
		src/iliad7/web/charts.py src/iliad7/web/trial_figures.py

unit: install
	$(BIN)/python -m pytest
	ILIAD7_TEST_DB=postgresql $(BIN)/python -m pytest -m django_db

test: lint typecheck unit

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Reliability runs (issue 8; docs/reliability.md): crash soak (SIGKILL of the served app) and load
# (50 and 200 simulated site users) on both backends, then the fuzzers with more examples. Counts come
# from these variables; CI runs it with small ones. Results (JSON) go to $(SOAK_OUT).
.PHONY: soak audit-deps
SOAK_KILLS ?= 50
SOAK_LOAD_SECONDS ?= 30
SOAK_FUZZ_EXAMPLES ?= 50
SOAK_OUT ?= $(ILIAD7_HOME)/soak
soak: install
	mkdir -p $(SOAK_OUT)
	for b in sqlite postgresql; do \
	  $(BIN)/python tests/soak/crash_soak.py --backend $$b --kills $(SOAK_KILLS) --json $(SOAK_OUT)/crash-$$b.json \
	    > $(SOAK_OUT)/crash-$$b.log 2>&1 || { tail -40 $(SOAK_OUT)/crash-$$b.log; exit 1; }; \
	  echo "crash soak $$b: ok ($(SOAK_KILLS) kills)"; \
	done
	for b in sqlite postgresql; do for u in 50 200; do \
	  $(BIN)/python tests/soak/load.py --backend $$b --users $$u --duration $(SOAK_LOAD_SECONDS) --max-errors 0 \
	    --json $(SOAK_OUT)/load-$$b-$$u.json > $(SOAK_OUT)/load-$$b-$$u.log 2>&1 \
	    || { tail -60 $(SOAK_OUT)/load-$$b-$$u.log; exit 1; }; \
	  $(BIN)/python -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"load {d['backend']} {d['users']} users: {d['throughput_rps']} req/s, p50 {d['p50_ms']} ms, p95 {d['p95_ms']} ms, p99 {d['p99_ms']} ms, {d['errors']} errors\")" $(SOAK_OUT)/load-$$b-$$u.json; \
	done; done
	ILIAD7_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) ILIAD7_FORM_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) \
	  $(BIN)/python -m pytest -q tests/soak/test_api_fuzz.py tests/security/test_hostile_input.py
	ILIAD7_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) ILIAD7_FORM_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) ILIAD7_TEST_DB=postgresql \
	  $(BIN)/python -m pytest -q -m django_db tests/soak/test_api_fuzz.py tests/security/test_hostile_input.py

# pip-audit of the installed environment: fails on a known vulnerability; says so, without failing,
# when the advisory service cannot be reached (as on this project's machines).
audit-deps: install
	$(BIN)/python scripts/audit-deps.py
