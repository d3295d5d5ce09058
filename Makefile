# The one task runner, for people and for CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements/dev.lock
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit browser-deps bench mutate docs docs-site lock clean help

help:
	@echo "make demo   - install, create the omni-one example on SQLite, serve http://127.0.0.1:8000"
	@echo "make test   - install, then lint, type-check and run the whole test suite"
	@echo "make bench  - run the benchmarks under bench/"
	@echo "make docs-site - build the documentation site into site/ (strict: a warning fails)"
	@echo "make lock   - refresh requirements/*.lock from pyproject.toml (LOCK_ARGS=--upgrade for newer pins)"
	@echo "make mutate - mutation testing of the promises and the core (long; not part of CI)"

# Installs exactly the lock's versions (hash-checked), then Pledge itself as an editable
# install built with the lock's setuptools; pip check fails if the lock misses a dependency
# of pyproject.toml (then run make lock).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
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

# --dist loadfile: a file's tests run on one worker, so a module-scoped fixture (a served
# example, a built wheel, a seeded platform) is built once, not once per worker.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test: $(STAMP) browser-deps lint typecheck unit

# Mutation testing (issue #13): policy mutants against the promise tests, then mutmut on the
# core modules. Takes an hour or more on 2 cores; a benchmark, not a CI step (docs/mutation.md).
MUTVENV      ?= /tmp/pledge-mutvenv
MUTATE_EVERY ?= 25
mutate: $(STAMP)
	$(BIN)/python bench/mutate/policy_mutants.py --jobs 2
	test -x $(MUTVENV)/bin/mutmut || ($(PYTHON) -m venv $(MUTVENV) && \
	  $(MUTVENV)/bin/pip install --quiet --upgrade pip && \
	  $(MUTVENV)/bin/pip install --quiet 'mutmut>=3.8,<4' '.[dev]')
	$(MUTVENV)/bin/python bench/mutate/engine_mutants.py --jobs 2 --every $(MUTATE_EVERY) \
	  --known bench/mutate/results/runs/*.json
	$(BIN)/python bench/mutate/engine_report.py

docs: $(STAMP)
	$(BIN)/python -m pledge.cli.docs > docs/cli.md

# The user guide (mkdocs.yml over docs/); tests/test_docs_site.py runs the same strict build.
docs-site: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/properdocs build --strict -f mkdocs.yml -d site

# The lock files, for Python 3.11 on Linux, with hashes: dev.lock (everything make installs,
# with the setuptools the editable install builds with) and base.lock (what a plain
# `pip install privacy-pledge` needs, at the same versions; the wheel test installs it).
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --python-version 3.11 --python-platform linux --generate-hashes \
	--custom-compile-command 'make lock' --quiet $(LOCK_ARGS)
lock:  # not on $(STAMP): a dependency the lock lacks would stop that install
	test -x $(BIN)/uv || ($(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet 'uv>=0.5,<1')
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o requirements/dev.lock
	$(UV_COMPILE) pyproject.toml -c requirements/dev.lock -o requirements/base.lock

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pledge .pytest_cache .mypy_cache .ruff_cache site dist build
