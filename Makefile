# retail_platform: the entry points. `make dev` runs the platform, `make test` the tests.
SHELL := bash
.DEFAULT_GOAL := help

# uv finds Python itself on a normal machine. Where Python 3.12 exists only under pyenv
# (whose `python3.12` shim fails unless pyenv is told to use it), point uv at it.
ifndef UV_PYTHON
PYENV_PY312 := $(shell command -v pyenv >/dev/null 2>&1 && ls -d "$$(pyenv root)"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -n 1)
ifneq ($(PYENV_PY312),)
export UV_PYTHON := $(PYENV_PY312)
endif
endif
# Bytecode compiled once at install: every Dagster run process imports faster.
export UV_COMPILE_BYTECODE := 1

UV ?= uv
BIN := .venv/bin
# dbt in an environment of its own (pyproject.toml, group `dbt`): Dagster processes never import it.
DBT_BIN := .venv-dbt/bin
# The venvs' tools without activating them.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/$(DBT_BIN):$(PATH)
RETAIL_HOME := $(CURDIR)/.retail
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: help setup dev serve generate test test-ui test-starrocks screenshots check bench soak chaos lint up down platform-up platform-down clean

help:
	@echo "make dev             the platform in dagster dev (embedded DuckDB), UI on http://127.0.0.1:3000"
	@echo "make test            the test suite (all but the browser test)"
	@echo "make test-ui         the browser test: the UI of a live dagster dev in headless Chromium"
	@echo "make check           one batch through the whole graph with the dagster CLI, all asset checks"
	@echo "make generate        one simulator batch outside Dagster (retail-sim generate)"
	@echo "make bench           benchmarks: simulator speed, 5M-order memory, incremental transform cost"
	@echo "make soak            dagster dev with the generate schedule on for SOAK_MINUTES (10): runs, CPU, footprint"
	@echo "make chaos           kill -9 workers and the whole tree, lock the warehouse: does it heal?"
	@echo "make serve           the deployed layout here: PostgreSQL instance, code server, daemon, webserver"
	@echo "make up / make down  a local StarRocks in Docker; then RETAIL_WAREHOUSE=starrocks make dev"
	@echo "make platform-up     the whole platform in Docker (StarRocks, Postgres, Dagster); platform-down stops it"
	@echo "make test-starrocks  the whole flow against the StarRocks from make up"
	@echo "make screenshots     docs/images/*.png again, from the browser test (needs chromium)"

$(BIN)/python: pyproject.toml uv.lock
	@command -v $(firstword $(UV)) >/dev/null || { echo "uv is not installed: see https://docs.astral.sh/uv/ (or: pip install uv)"; exit 1; }
	$(UV) sync --frozen
	UV_PROJECT_ENVIRONMENT=.venv-dbt $(UV) sync --frozen --only-group dbt
	@touch $@

# Idempotent, and each step does work only when what it depends on changed: the venvs
# (pyproject.toml, uv.lock), dbt's manifest (the dbt project's files and the warehouse
# it was parsed for: retail_platform/project.py), the Dagster home (its instance file).
# Schemas and raw tables are created if missing. The dbt project has no packages: no deps.
setup: $(BIN)/python $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m retail_platform.project
	$(BIN)/retail-sim init

$(DAGSTER_HOME)/dagster.yaml: instance/dagster.yaml retail_platform/instance.py | $(BIN)/python
	$(BIN)/python -m retail_platform.instance "$(DAGSTER_HOME)"

# `dagster dev` warns at every start that `dg dev` (dagster-dg-cli, not installed here)
# supersedes it; it still works in 1.13. `python -W` silences exactly that line, in that
# process only, so any other start-up warning stands out (devtools/live.py does the same).
dev: setup
	$(BIN)/python -W 'ignore:Function `dev_command` is superseded' -m dagster dev -w workspace.yaml -h $${DAGSTER_WEBSERVER_HOST:-127.0.0.1} -p $${DAGSTER_WEBSERVER_PORT:-3000}

# Each process of the deployment on its own (deploy/serve.py); Ctrl-C stops them all.
serve: setup
	$(BIN)/python deploy/serve.py

# retail-sim creates what it loads into: no manifest or Dagster home needed.
# A `make dev` answering on its port is told of the batch at once (retail-sim reports
# it to DAGSTER_URL); without one, the batch waits for the platform's next look.
DEV_URL = http://127.0.0.1:$${DAGSTER_WEBSERVER_PORT:-3000}
generate: $(BIN)/python
	DAGSTER_URL=$${DAGSTER_URL:-$$(curl -sf -o /dev/null -m 2 $(DEV_URL)/server_info && echo $(DEV_URL))} \
		$(BIN)/retail-sim generate

# One worker per core (pytest-xdist), whole files per worker: a module's shared
# fixtures (the StarRocks double's builds) are built once. Files go out longest first
# (conftest.py's order, not xdist's by number of tests). The browser test is apart
# (test-ui): minutes of waiting on a live dagster dev's sensors, and it needs Chromium.
test: $(BIN)/python
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder --durations=10 -m "not browser"

# The UI in headless system Chromium over a live dagster dev (retail_platform_tests/test_ui.py).
test-ui: $(BIN)/python
	$(BIN)/pytest -m browser -rs --durations=5

test-starrocks: $(BIN)/python
	RETAIL_WAREHOUSE=starrocks $(BIN)/pytest -m starrocks -rs

# The README's UI screenshots, taken by the browser test in a live dagster dev (system
# Chromium, headless); never edited by hand.
screenshots: setup
	RETAIL_SCREENSHOTS_DIR=docs/images $(BIN)/pytest retail_platform_tests/test_ui.py -m browser -rs

# One batch through the whole graph with the dagster CLI, in a warehouse and instance of
# its own. Fails if any run fails or any error-severity check (dbt test) fails.
CHECK_HOME := $(RETAIL_HOME)/check
check: $(BIN)/python
	rm -rf "$(CHECK_HOME)"
	$(BIN)/python -m retail_platform.instance "$(CHECK_HOME)/dagster_home"
	export DAGSTER_HOME="$(CHECK_HOME)/dagster_home"; \
	export RETAIL_DUCKDB_PATH="$${RETAIL_DUCKDB_PATH:-$(CHECK_HOME)/warehouse.duckdb}"; \
	set -e; \
	$(BIN)/python -m retail_platform.project; \
	$(BIN)/dagster asset materialize -m retail_platform.definitions --select 'group:simulator'; \
	$(BIN)/dagster job execute -m retail_platform.definitions -j check_sources_job; \
	$(BIN)/dagster asset materialize -m retail_platform.definitions --select 'kind:dbt'; \
	echo "make check: every run and every error-severity asset check passed"

# Simulator speed vs a naive baseline, 5M-order memory, transform cost vs history size.
# The tools run as modules from the repository root: `bench` and `devtools` import as packages.
bench: $(BIN)/python
	$(BIN)/python -m bench.bench_simulator
	$(BIN)/python -m bench.bench_memory
	$(BIN)/python -m bench.bench_transform

# dagster dev with the generate schedule on for SOAK_MINUTES (default 10): failures,
# duplicates and freshness latency.
SOAK_MINUTES ?= 10
SOAK_ARGS ?=
soak: setup
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

# Faults against a live dagster dev (about 25 minutes): see bench/chaos.py.
chaos: setup
	$(BIN)/python -m bench.chaos

lint: $(BIN)/python
	$(BIN)/ruff check retail_platform retail_platform_tests bench devtools deploy

up: $(BIN)/python
	bash scripts/starrocks_up.sh

down:
	docker compose down

platform-up:
	@[ -n "$$DAGSTER_POSTGRES_PASSWORD" ] || grep -qs '^DAGSTER_POSTGRES_PASSWORD=.' .env || { echo "set DAGSTER_POSTGRES_PASSWORD (environment or .env) first"; exit 2; }
	docker compose --profile platform up -d --build

platform-down:
	docker compose --profile platform down

clean:
	rm -rf .retail .dagster_home dbt_project/target dbt_project/logs
