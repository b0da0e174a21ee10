# Steward: `make run` starts the demo, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
BROWSER_STAMP := $(VENV)/.browser-deps

.PHONY: run test lint typecheck check-python db-stop clean help

help:
	@echo "make run   - set up, migrate, seed the demo and start Steward (Ctrl-C stops it)"
	@echo "make test  - set up and run ruff, mypy, makemigrations --check and pytest"
	@echo "make db-stop - stop the embedded PostgreSQL"

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

test: $(STAMP)
	@status=0; \
	$(VENV)/bin/ruff check . && \
	$(VENV)/bin/ruff format --check . && \
	$(VENV)/bin/mypy apps config && \
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run && \
	$(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	if [ -z "$$DATABASE_URL" ]; then $(PY) -m config.embedded_db stop; fi; \
	exit $$status

db-stop: $(STAMP)
	$(PY) -m config.embedded_db stop

clean:
	-$(PY) -m config.embedded_db stop
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
