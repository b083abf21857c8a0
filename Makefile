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
# The generated project's targets `make demo` runs, in order, each timed (build/demo/times.txt);
# the project's own tests (`make test` there, ~75 s) are left to this repo's `make test`, which runs them.
# `gitops` deploys version 1 locally through a merged promotion; `monitoring` watches it: clean
# traffic → the monitor keeps the model, drifted traffic → retrain; `improvement` retrains, merges
# the proposal, builds, promotes and deploys version 2, releases it, sends the drifted traffic
# again → keep, then rolls back to version 1 (left running: `make -C <project> undeploy`).
DEMO_STEPS ?= install pipeline lint build load-test push gitops monitoring improvement
DEMO_LOAD_ARGS ?= --seconds 10
# `make docs` keeps the demo's output here; the site's walkthrough reads it with build/demo/.
DEMO_LOG := $(DEMO_DIR).log
PYTEST_ARGS ?=
BENCH_ARGS ?=
MONITORING_ARGS ?=

.PHONY: help venv demo docs test test-fast bench bench-serving bench-monitoring lint lock clean

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
	times="$(DEMO_DIR)/times.txt"; : > "$$times"; began=$$EPOCHREALTIME
	since() { awk -v a="$$1" -v b="$$EPOCHREALTIME" 'BEGIN { printf "%6.1f s", b - a }'; }
	run() {  # one project target, timed
	  local started=$$EPOCHREALTIME status=0
	  echo "==> make $$*"
	  $(MAKE) -C "$$project" "$$@" || status=$$?
	  echo "$$(since "$$started")  make $$*" >> "$$times"
	  return $$status
	}
	merge() { git -C "$$project" merge --quiet --no-ff --no-verify "$$1" -m "Merge $$1"; echo "==> merged $$1"; }
	branch_of() { $(MAKE) -s --no-print-directory -C "$$project" "$$@" | tail -n 1; }
	export MODELOPS_FEEDBACK_TOKEN="$${MODELOPS_FEEDBACK_TOKEN:-demo-feedback-token}"  # the service's and the simulator's
	for step in $(DEMO_STEPS); do
	  echo "==> demo step: $$step"
	  case "$$step" in
	  load-test) run load-test LOAD_ARGS="$(DEMO_LOAD_ARGS)" ;;
	  gitops)
	    git -C "$$project" add --all && git -C "$$project" commit --quiet --no-verify -m "feat: the first model"
	    run build
	    merge "$$(branch_of promote ENV=local)"
	    run deploy ENV=local
	    run release ;;
	  monitoring)
	    run simulate PHASE=clean
	    run monitor
	    run simulate PHASE=drift
	    if run monitor; then echo "error: the monitor kept the model under drifted traffic"; exit 1; fi
	    grep -q '"decision": "retrain"' "$$project/reports/monitoring/summary.json" || { echo "error: no retrain decision"; exit 1; }
	    echo "==> monitor: retrain, as the drifted traffic asks (see $$project/reports/monitoring/)" ;;
	  improvement)
	    run retrain
	    proposal="$$("$(BIN)/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["branch"] or "")' "$$project/reports/improvement/summary.json")"
	    [ -n "$$proposal" ] || { echo "error: the retraining proposed nothing (see $$project/reports/improvement/)"; exit 1; }
	    merge "$$proposal"
	    run pipeline  # the merged dvc.lock: DVC restores the challenger from its cache
	    run build
	    merge "$$(branch_of promote ENV=local)"
	    run deploy ENV=local
	    run release
	    run simulate PHASE=drift
	    run monitor || { echo "error: the monitor did not keep the retrained model"; exit 1; }
	    echo "==> monitor: keep, the retrained model serves the drifted traffic within its targets"
	    merge "$$(branch_of rollback ENV=local)"
	    run deploy ENV=local
	    run history ;;
	  *) run "$$step" ;;
	  esac
	done
	echo "$$(since "$$began")  in all" >> "$$times"
	echo "==> step times ($$times):"; cat "$$times"
	echo "==> demo done: see $$project/docs/evaluation_report.md, $$project/reports/improvement/, $$project/CHANGELOG.md and \`make -C $$project history\`"

docs: $(VENV)/.installed ## Build the docs site strictly into build/site (runs `make demo` first when its log is missing or stale)
	if [ ! -f "$(DEMO_LOG)" ] || [ ! -f "$(DEMO_DIR)/times.txt" ] || [ "$(DEMO_DIR)/times.txt" -nt "$(DEMO_LOG)" ]; then
	  echo "==> no log of the last demo: running make demo, its output in $(DEMO_LOG)"
	  mkdir -p "$$(dirname "$(DEMO_LOG)")"
	  $(MAKE) demo 2>&1 | tee "$(DEMO_LOG).partial"  # a failed demo leaves no log behind
	  mv "$(DEMO_LOG).partial" "$(DEMO_LOG)"
	fi
	# the sitemap's dates: the last commit's, so the same sources build the same bytes
	export SOURCE_DATE_EPOCH="$$(git log -1 --format=%ct 2>/dev/null || echo 0)"
	DOCS_DEMO_DIR="$(DEMO_DIR)" "$(BIN)/mkdocs" build --strict

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
