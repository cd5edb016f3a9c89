# Seoul environment mileage ledger. The two commands: `make run` and `make test`.
# Each installs what is missing (a .venv from pyproject.toml, node_modules from package-lock.json).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: run test install compile lint typecheck pytest bench postgres browser clean distclean help

help:
	@echo "make run    - start the ledger on its embedded default (anvil + SQLite) with demo data"
	@echo "make test   - lint, type-check and run every test (starts anvil/PostgreSQL as needed)"
	@echo "make bench  - run the benchmarks, write bench/results.json"

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

compile: install
	$(BIN)/python -m bridge.compile
	npx --no-install hardhat compile --quiet

postgres:
	@bash scripts/ensure-postgres.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (no tool may download its own browser here);
# Nanum fonts render the console's Korean texts.
browser:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi nanum || \
	  { apt-get update -qq && apt-get install -y -qq chromium fonts-nanum; } || \
	  echo "chromium is not installable here: the browser tests will skip (they fail under CI)"

pytest: install compile postgres browser
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

run: install compile
	$(BIN)/mileage run

bench: install compile
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } \
	  || echo "wrk is not installable here: the API part falls back to a Python load generator"
	$(BIN)/python scripts/bench.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) node_modules .mileage
