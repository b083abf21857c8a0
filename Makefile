# cookiecutter-modelops: the template's own commands. `make demo` and `make test` are all a newcomer needs.
# Works in any folder (dot-folders, spaces): paths are quoted in recipes and never passed through
# make functions that split words ($(abspath), $(wildcard)); $(CURDIR) is used only inside quotes.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
DEMO_DIR := build/demo
# `make demo` runs demo/ (`python -m demo --help`): the scenario's steps as data in demo/scenario.py,
# each step's output in build/demo/logs/, its events in build/demo/events.jsonl (the docs read them).
# DEMO_STEPS chooses steps (empty: all, in order), DEMO_ARGS passes more (e.g. --load-seconds 15).
DEMO_STEPS ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
MONITORING_ARGS ?=
IMPACT_ARGS ?=
SCORE_ARGS ?=

.PHONY: help venv demo docs test test-fast bench bench-serving bench-monitoring bench-impact bench-score lint lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' "$(strip $(MAKEFILE_LIST))" | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	@command -v "$(PYTHON)" >/dev/null || { echo "error: no $(PYTHON) — install Python 3.11+ or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	@"$(PYTHON)" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ needed, found %d.%d — run make PYTHON=/path/to/python3.11" % sys.version_info[:2])'
	@echo "==> creating $(VENV) with $$("$(PYTHON)" --version)"
	"$(PYTHON)" -m venv "$(VENV)"
	"$(BIN)/python" -m pip install --quiet --disable-pip-version-check uv==0.13.9
	"$(BIN)/uv" pip sync --quiet --python "$(BIN)/python" requirements.lock
	touch "$@"

venv: $(VENV)/.installed ## Create .venv with the pinned template tooling

demo: $(VENV)/.installed ## Generate a project with default answers and run its lifecycle end to end
	"$(BIN)/python" -m demo --output-dir "$(DEMO_DIR)" $(if $(strip $(DEMO_STEPS)),--steps "$(DEMO_STEPS)") $(DEMO_ARGS)

docs: $(VENV)/.installed ## Build the docs site strictly into build/site (runs `make demo` first when its events are missing or stale)
	"$(BIN)/python" -m demo --check --output-dir "$(DEMO_DIR)" $(if $(strip $(DEMO_STEPS)),--steps "$(DEMO_STEPS)") || $(MAKE) demo
	# the sitemap's dates: the last commit's, so the same sources build the same bytes
	export SOURCE_DATE_EPOCH="$$(git log -1 --format=%ct 2>/dev/null || echo 0)"
	# docs/sitegen/ reads the demo's events with demo/ (the repo's root on the path, as `python -m demo` has it)
	PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" DOCS_DEMO_DIR="$(DEMO_DIR)" "$(BIN)/mkdocs" build --strict

test: $(VENV)/.installed ## Run the whole test suite (fast and slow)
	"$(BIN)/pytest" -n 2 $(PYTEST_ARGS)

test-fast: $(VENV)/.installed ## Run only the fast tests
	"$(BIN)/pytest" -m "not slow" -n 2 $(PYTEST_ARGS)

bench: $(VENV)/.installed ## Both benchmarks below, one after the other (docs/benchmarks.md)
	"$(BIN)/python" benchmarks/bench.py $(BENCH_ARGS)
	"$(BIN)/python" benchmarks/monitoring.py $(MONITORING_ARGS)

bench-serving: $(VENV)/.installed ## Serving benchmark: the service (and its variants) vs bare uvicorn vs mlflow, where its CPU goes (BENCH_ARGS=--help)
	"$(BIN)/python" benchmarks/bench.py $(BENCH_ARGS)

bench-impact: $(VENV)/.installed ## `make impact` over 1,000,000 logged requests through two models: seconds, rows/s, peak memory → benchmarks/impact.json (IMPACT_ARGS=--help)
	"$(BIN)/python" benchmarks/impact.py $(IMPACT_ARGS)

bench-score: $(VENV)/.installed ## `make score` over 1,000,000 rows: the default model twice, then every model family: seconds, rows/s, peak memory → benchmarks/score.json (SCORE_ARGS=--help)
	"$(BIN)/python" benchmarks/score.py $(SCORE_ARGS)

bench-monitoring: $(VENV)/.installed ## Production data plane (S3 log, PostgreSQL feedback): bare vs log off vs on, feedback latency, `make monitor` over 1M rows from the bucket (MONITORING_ARGS=--help)
	"$(BIN)/python" benchmarks/monitoring.py $(MONITORING_ARGS)

lint: $(VENV)/.installed ## Run the template's own pre-commit hooks
	"$(BIN)/pre-commit" run --all-files --show-diff-on-failure

lock: $(VENV)/.installed ## Re-lock the template's and the generated project's requirements
	cd '{{cookiecutter.project}}' && "$(BIN)/uv" pip compile requirements.in --universal --python-version 3.11 -q -o requirements.lock
	cd '{{cookiecutter.project}}' && "$(BIN)/uv" pip compile requirements-dev.in --universal --python-version 3.11 -q -o requirements-dev.lock
	"$(BIN)/uv" pip compile requirements.in --universal --python-version 3.11 -q -o requirements.lock

clean: ## Remove .venv and build/
	rm -rf "$(VENV)" build .pytest_cache
