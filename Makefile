# TwilioFlow: `make run` serves web + worker on WEB_BIND (http://127.0.0.1:8000); `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test test-browser lint typecheck fmt bench bench-smoke wrk install install-dev migrate prism chromium clean help

help:
	@echo "make run   - install, migrate, create the admin user, serve web + worker on WEB_BIND (127.0.0.1:8000)"
	@echo "make test  - install dev extras (and Debian's chromium when missing), run the whole suite"
	@echo "make test-browser - only the browser tests (headless Chromium, tests/browser)"
	@echo "make lint  - ruff"
	@echo "make typecheck - mypy with django-stubs on the app packages"
	@echo "make fmt   - ruff format, then ruff's safe fixes"
	@echo "make bench - every benchmark vs its baseline (bench/), README's Performance table from the JSON"
	@echo "make bench-smoke - each benchmark for a few seconds (CI)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@$(BIN)/python scripts/local_env.py
	$(MANAGE) migrate --noinput

# The banner (the real WEB_BIND address) and a generated admin password come from serve.py,
# last, once the server answers.
run: migrate
	@$(MANAGE) ensure_admin --password-file var/.first-admin-password
	@$(MANAGE) collectstatic --noinput -v0
	@$(BIN)/python scripts/serve.py

# Prism (Twilio's OpenAPI specs as a mock) for the conformance tests; needs node + npm.
prism:
	@if command -v npm >/dev/null 2>&1; then \
	  if [ ! -x .tools/node_modules/.bin/prism ]; then \
	    mkdir -p .tools && cd .tools && \
	    ( [ -f package.json ] || echo '{"name": "twilioflow-tools", "private": true}' > package.json ) && \
	    npm install --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5 >/dev/null 2>&1 \
	    || echo "prism: npm install failed; conformance tests will skip"; \
	  fi; \
	else echo "prism: node/npm not found; conformance tests will skip"; fi

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
# Installed when missing and apt is usable; without it they skip (fail under CI=true).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium: installing Debian's chromium for the browser tests"; \
	    if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq chromium >/dev/null; \
	    else sudo -n apt-get install -y -qq chromium >/dev/null; fi \
	    || echo "chromium: could not install it; browser tests will skip (and fail under CI=true)"; \
	  else echo "chromium: not found and no apt-get; browser tests will skip"; fi; \
	fi

test: install-dev prism chromium
	$(BIN)/pytest

test-browser: install-dev chromium
	$(BIN)/pytest tests/browser

# Benchmarks (bench/, README "Performance"): each figure interleaved with its baseline, 3 reps,
# JSON under var/bench/. bench-smoke: a few seconds each, for CI (never part of `make test`).
wrk:
	@command -v wrk >/dev/null 2>&1 || (apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk >/dev/null 2>&1) \
	  || echo "wrk: not installed; webhook_throughput uses its Python load generator"

bench: install wrk
	$(BIN)/python bench/run_all.py

bench-smoke: install wrk
	BENCH_SMOKE=1 $(BIN)/python bench/run_all.py

lint: install-dev
	$(BIN)/ruff check .

# DEBUG=true: the django-stubs plugin imports settings, which need no secrets in DEBUG.
typecheck: install-dev
	DEBUG=true $(BIN)/mypy

fmt: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .tools var/staticfiles
