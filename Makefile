# The one task runner, for people and for CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit browser-deps bench docs clean help

help:
	@echo "make demo   - install, create the omni-one example on SQLite, serve http://127.0.0.1:8000"
	@echo "make test   - install, then lint, type-check and run the whole test suite"
	@echo "make bench  - run the benchmarks under bench/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pledge demo

# Debian's chromium for the Playwright browser tests (its own browser download cannot work here).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium is missing and we are not root; browser tests will skip"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: $(STAMP) browser-deps lint typecheck unit

docs: $(STAMP)
	$(BIN)/python -m pledge.cli.docs > docs/cli.md

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pledge .pytest_cache .mypy_cache .ruff_cache
