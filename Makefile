# The one entry point. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := -e clients/python -e services/common -e services/ingest -e services/triggers -e services/actions
PYPROJECTS := clients/python/pyproject.toml $(wildcard services/*/pyproject.toml)

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint gen gen-check bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): $(PYPROJECTS) requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing into $(VENV) (first time takes a minute)..."
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -c constraints.txt $(PACKAGES) -r requirements-dev.txt
	@touch $@

install: $(STAMP) ## Create .venv and install everything

run: $(STAMP) ## Start NATS JetStream and the three services on SQLite (Ctrl-C stops)
	@$(BIN)/python scripts/run_stack.py

test: $(STAMP) lint ## Lint, then run every test (PostgreSQL tests when reachable)
	@$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP) ## Run the unit tests only
	@$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

lint: $(STAMP) gen-check ## ruff, mypy strict, proto lint, import rules
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy clients/python/src services/*/src scripts bench tests
	@cd proto && ../$(BIN)/buf lint
	@$(BIN)/lint-imports --no-cache

gen: $(STAMP) ## Regenerate the Python code from proto/
	@scripts/gen_protos.sh

gen-check: $(STAMP) ## Fail when the generated code is stale
	@tmp=$$(mktemp -d) && scripts/gen_protos.sh "$$tmp" && \
	  diff -r -q "$$tmp/automations/v1" clients/python/src/automations/v1 -x __pycache__ \
	  || { echo "Generated code is stale: run 'make gen' and commit the result."; exit 1; }

bench: $(STAMP) ## Run the benchmarks and print figures next to their targets
	@$(BIN)/python -m bench

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .data
