# `make run` starts the demo; `make test` runs lint, types and the whole suite (installing Debian's chromium
# for the browser tests when it is missing). Both install into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest chromium bench lock clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pager demo

lint: $(STAMP)
	$(BIN)/ruff check pager tests bench
	$(BIN)/ruff format --check pager tests bench

typecheck: $(STAMP)
	$(BIN)/mypy pager

pytest: $(STAMP) chromium
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The console's browser tests (tests/browser) drive Debian's chromium through Playwright (whose own
# browser download is not used): installed here when missing and we are root, else a clear failure.
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium for the browser tests"; \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
		echo "error: $(CHROMIUM) is missing; the browser tests (tests/browser) need Debian's chromium:" \
			"run 'apt-get install -y chromium' as root" >&2; \
		exit 1; \
	fi

test: lint typecheck pytest

# The benchmarks (bench/README.md); bench/floors.py, bench/feeds.py and bench/termination.py are helpers they import.
BENCHMARKS := bench/rotation.py bench/ingest.py bench/escalation.py bench/load.py bench/web.py

bench: $(STAMP)
	for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python $$b; done

# requirements/*.lock: every package pinned with its hashes, for CI and the Docker image (see
# docs/operations.md, "Upgrading dependencies"). Existing pins are kept unless LOCK_ARGS says
# --upgrade or --upgrade-package NAME; dev.lock is constrained to runtime.lock's pins.
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --all-build-deps --strip-extras \
	--unsafe-package pager --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet 'pip-tools>=7.4,<8'
	$(PIP_COMPILE) -o requirements/runtime.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -c requirements/runtime.lock -o requirements/dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
