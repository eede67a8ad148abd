# The two commands: `make demo` (set up, start PostGIS, load the sample township, detect, report,
# map, serve) and `make test` (set up, lint, type-check, run the whole suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
GE := $(VENV)/bin/geo-enforce
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup lock demo test lint typecheck pytest test-fast serve db-start db-stop clean

setup:
	./scripts/setup.sh

# re-resolve requirements*.lock from pyproject.toml (docs/DEVELOPING.md); LOCK_ARGS=--upgrade
lock:
	./scripts/lock.sh $(LOCK_ARGS)

demo: setup
	$(GE) demo --host $(HOST) --port $(PORT)

lint: setup
	$(VENV)/bin/ruff check geo_enforce api tests bench scripts
	$(VENV)/bin/ruff format --check geo_enforce api tests bench scripts

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

serve: setup
	$(GE) serve --host $(HOST) --port $(PORT)

db-start: setup
	$(GE) db start

db-stop:
	$(GE) db stop

clean:
	-$(GE) db stop
	rm -rf .pgdata var test-artifacts
