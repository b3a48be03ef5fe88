# `make run` and `make test` work on a fresh machine with Python 3.11+ and make, nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast test-console test-postgres test-ts test-lanonasis lint format bench clean

run: $(VENV)/.installed
	$(BIN)/gunicorn -c gunicorn.conf.py

# Everything on SQLite (the default backend); the browser tests need Chromium (make
# test-console), the PostgreSQL tier has its own target (make test-postgres).
test: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not browser and not postgres and not lanonasis" $(PYTEST_ARGS)

# The PostgreSQL backend: the stores, the service and the API tests that run on both
# backends, on a real PostgreSQL 16 + pgvector from the pgserver wheel (nothing to install).
test-postgres: $(VENV)/.installed-dev
	$(BIN)/pytest -m postgres $(PYTEST_ARGS)

# The quick tier, well under a minute: in-process only, no gunicorn and nothing marked slow.
test-fast: $(VENV)/.installed-dev
	$(BIN)/pytest -m "not server and not slow and not browser and not postgres and not lanonasis" $(PYTEST_ARGS)

# The web console in a real browser: Playwright drives the system Chromium (Debian:
# `apt-get install chromium`; or set CHROMIUM to a binary), against a real gunicorn server.
test-console: $(VENV)/.installed-dev
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

# The TypeScript SDK: npm ci from the lockfile, tsc, Node's test runner against a real server.
test-ts: $(VENV)/.installed
	cd sdk/typescript && npm ci && npm run build && npm test

# The official LanOnasis client (@lanonasis/memory-client, pinned with its hash in
# tests/lanonasis/package-lock.json), installed from npm into a temp folder, run by Node
# against a real server.
test-lanonasis: $(VENV)/.installed-dev
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	cp tests/lanonasis/package.json tests/lanonasis/package-lock.json "$$dir" && \
	(cd "$$dir" && npm ci --no-audit --no-fund --loglevel=error) && \
	LANONASIS_CLIENT_DIR="$$dir" $(BIN)/pytest -m lanonasis $(PYTEST_ARGS)

# A benchmark, not a test: the server over HTTP, the floors and the peers (mem0, chromadb, in
# their own venv because mem0 pins an older protobuf); writes bench/results.md. 5-11 min, plus
# ~10 min the first time to build the 1M-memory workspace under data/bench/ (--no-scale skips it).
BENCH_VENV := .venv-bench

bench: $(VENV)/.installed-dev $(BENCH_VENV)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

$(BENCH_VENV)/.installed: bench/requirements.txt | $(VENV)/bin/python
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -r bench/requirements.txt
	touch $@

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

# The pinned dependencies, then this checkout itself as an editable package (memory_server,
# the `memory-server` command); its build needs nothing beyond the pinned setuptools.
$(VENV)/.installed: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The Python SDK is installed as a user would (pip install ./sdk/python), again when it changes.
SDK_PYTHON := sdk/python/pyproject.toml $(shell find sdk/python/src -type f)

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed $(SDK_PYTHON)
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install ./sdk/python
	touch $@

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache
