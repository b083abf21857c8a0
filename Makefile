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
# The generated project's targets `make demo` runs, in order; `gitops` is the delivery walk-through:
# deploy version 1 locally through a merged promotion, retrain and deploy version 2, release,
# then roll back to version 1 (the service is left running: `make -C <project> undeploy`);
# `monitoring` watches it: clean traffic → the monitor keeps the model, drifted traffic → retrain.
DEMO_STEPS ?= install pipeline lint test build load-test push gitops monitoring
PYTEST_ARGS ?=
BENCH_ARGS ?=
MONITORING_ARGS ?=

.PHONY: help venv demo test test-fast bench bench-serving bench-monitoring lint lock clean

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
	rm -rf "$(DEMO_DIR)" && mkdir -p "$(DEMO_DIR)"
	"$(BIN)/cookiecutter" --no-input --output-dir "$(DEMO_DIR)" .
	project=""
	for folder in "$(DEMO_DIR)"/*/; do
	  case "$$folder" in *-dvc-storage/) ;; *) project="$${folder%/}" ;; esac
	done
	echo "==> generated $$project"
	if ! git -C "$$project" config user.email >/dev/null; then  # the demo commits: an identity of its own
	  export GIT_AUTHOR_NAME=modelops-demo GIT_AUTHOR_EMAIL=demo@localhost
	  export GIT_COMMITTER_NAME=modelops-demo GIT_COMMITTER_EMAIL=demo@localhost
	fi
	merge() { git -C "$$project" merge --quiet --no-ff --no-verify "$$1" -m "Merge $$1"; echo "==> merged $$1"; }
	export MODELOPS_FEEDBACK_TOKEN="$${MODELOPS_FEEDBACK_TOKEN:-demo-feedback-token}"  # the service's and the simulator's
	for step in $(DEMO_STEPS); do
	  if [ "$$step" = monitoring ]; then
	    $(MAKE) -C "$$project" simulate PHASE=clean
	    $(MAKE) -C "$$project" monitor
	    $(MAKE) -C "$$project" simulate PHASE=drift
	    if $(MAKE) -C "$$project" monitor; then echo "error: the monitor kept the model under drifted traffic"; exit 1; fi
	    grep -q '"decision": "retrain"' "$$project/reports/monitoring/summary.json" || { echo "error: no retrain decision"; exit 1; }
	    echo "==> monitor: retrain, as the drifted traffic asks (see $$project/reports/monitoring/)"
	    continue
	  fi
	  if [ "$$step" != gitops ]; then $(MAKE) -C "$$project" "$$step"; continue; fi
	  git -C "$$project" add --all && git -C "$$project" commit --quiet --no-verify -m "feat: the first model"
	  $(MAKE) -C "$$project" build
	  merge "$$($(MAKE) -s --no-print-directory -C "$$project" promote ENV=local | tail -n 1)"
	  $(MAKE) -C "$$project" deploy ENV=local
	  sed -i 's/^    C: 1.0$$/    C: 0.5/' "$$project/params.yaml"
	  $(MAKE) -C "$$project" pipeline
	  git -C "$$project" commit --quiet --no-verify -am "feat: stronger regularisation (train.logistic_regression.C 0.5)"
	  $(MAKE) -C "$$project" build
	  merge "$$($(MAKE) -s --no-print-directory -C "$$project" promote ENV=local | tail -n 1)"
	  $(MAKE) -C "$$project" deploy ENV=local
	  $(MAKE) -C "$$project" release
	  merge "$$($(MAKE) -s --no-print-directory -C "$$project" rollback ENV=local | tail -n 1)"
	  $(MAKE) -C "$$project" deploy ENV=local
	  $(MAKE) -C "$$project" history
	done
	echo "==> demo done: see $$project/docs/evaluation_report.md, $$project/CHANGELOG.md, $$project/reports/monitoring/ and \`make -C $$project history\`"

test: $(VENV)/.installed ## Run the whole test suite (fast and slow)
	"$(BIN)/pytest" -n 2 $(PYTEST_ARGS)

test-fast: $(VENV)/.installed ## Run only the fast tests
	"$(BIN)/pytest" -m "not slow" -n 2 $(PYTEST_ARGS)

bench: $(VENV)/.installed ## Both benchmarks below, one after the other (docs/benchmarks.md)
	"$(BIN)/python" benchmarks/bench.py $(BENCH_ARGS)
	"$(BIN)/python" benchmarks/monitoring.py $(MONITORING_ARGS)

bench-serving: $(VENV)/.installed ## Serving benchmark: generated service vs bare uvicorn vs mlflow (BENCH_ARGS=--help)
	"$(BIN)/python" benchmarks/bench.py $(BENCH_ARGS)

bench-monitoring: $(VENV)/.installed ## Prediction log off vs on, `make monitor` over 1M logged predictions (MONITORING_ARGS=--help)
	"$(BIN)/python" benchmarks/monitoring.py $(MONITORING_ARGS)

lint: $(VENV)/.installed ## Run the template's own pre-commit hooks
	"$(BIN)/pre-commit" run --all-files --show-diff-on-failure

lock: $(VENV)/.installed ## Re-lock the template's and the generated project's requirements
	cd '{{cookiecutter.project}}' && "$(BIN)/uv" pip compile requirements.in --universal --python-version 3.11 -q -o requirements.lock
	cd '{{cookiecutter.project}}' && "$(BIN)/uv" pip compile requirements-dev.in --universal --python-version 3.11 -q -o requirements-dev.lock
	"$(BIN)/uv" pip compile requirements.in --universal --python-version 3.11 -q -o requirements.lock

clean: ## Remove .venv and build/
	rm -rf "$(VENV)" build .pytest_cache
