# `make run` and `make test` work on a fresh machine with Python 3.11+ and make, nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-ts lint format clean

run: $(VENV)/.installed
	$(BIN)/gunicorn -c gunicorn.conf.py

test: $(VENV)/.installed-dev
	$(BIN)/pytest $(PYTEST_ARGS)

# The TypeScript SDK: npm ci from the lockfile, tsc, Node's test runner against a real server.
test-ts: $(VENV)/.installed
	cd sdk/typescript && npm ci && npm run build && npm test

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11+ is needed (found: $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

# The Python SDK is installed as a user would (pip install ./sdk/python), again when it changes.
SDK_PYTHON := sdk/python/pyproject.toml $(shell find sdk/python/src -type f)

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed $(SDK_PYTHON)
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install ./sdk/python
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
