# Steward: `make run` starts the demo, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
BROWSER_STAMP := $(VENV)/.browser-deps
# pytest arguments; default runs on both cores. e.g. make test PYTEST_ARGS="-m 'not slow' -x"
PYTEST_ARGS ?= -n 2

.PHONY: run test lint typecheck check-python db-status db-stop clean help

help:
	@echo "make run       - set up, migrate, seed the demo and start Steward (Ctrl-C stops it)"
	@echo "make test      - set up and run ruff, mypy, makemigrations --check, the OpenAPI check and pytest"
	@echo "make lint      - ruff check and ruff format --check"
	@echo "make typecheck - mypy apps config"
	@echo "make db-status - is the embedded PostgreSQL running?"
	@echo "make db-stop   - stop the embedded PostgreSQL"
	@echo "make clean     - stop the embedded PostgreSQL and delete .venv and .steward (all local data)"

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
		{ echo "Steward needs Python 3.11 or newer as '$(PYTHON)' (set PYTHON=/path/to/python3.11)."; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
		{ echo "Python's venv module is missing: install it (Debian/Ubuntu: apt-get install python3-venv)."; exit 1; }

$(STAMP): pyproject.toml | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(PY) manage.py run_stack

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy apps config

# The embedded PostgreSQL is stopped afterwards only if this run started it, so a `make run`
# in another terminal keeps its database.
test: $(STAMP)
	@status=0; \
	db_was_running=$$($(PY) -m config.embedded_db status | grep -c ' running' || true); \
	$(VENV)/bin/ruff check . && \
	$(VENV)/bin/ruff format --check . && \
	$(VENV)/bin/mypy apps config && \
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run && \
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null && \
	$(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	if [ -z "$$DATABASE_URL" ] && [ "$$db_was_running" = 0 ]; then $(PY) -m config.embedded_db stop; fi; \
	exit $$status

db-status: $(STAMP)
	@$(PY) -m config.embedded_db status

db-stop: $(STAMP)
	$(PY) -m config.embedded_db stop

clean:
	-test -x $(PY) && $(PY) -m config.embedded_db stop
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
