# The README's two commands: `make run` and `make test`. Both bootstrap
# .venv on first use, so a fresh clone needs nothing but python3 and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE_FACTOR ?= 1
PYTEST_ARGS ?=
# `make test` runs the tiers on both cores (pytest-xdist): three workers on
# two cores, because the tests also wait (Airflow's scheduler, subprocesses):
# 912 s with three, 994 s with two, on the same machine. Tests sharing a
# module-scoped fixture stay on one worker (tests/conftest.py).
TEST_WORKERS ?= 3
XDIST = -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
AIRFLOW_PORT ?= 8080

# No surprise traffic from the tools we drive.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install run test clean help bench airflow airflow-stop \
	lock lock-upgrade lint docs test-fast test-e2e test-airflow ci-state ci-env ci-promote

help:
	@echo "make run [SCALE_FACTOR=1]  generate TPC-H, load DuckDB, build the dbt marts"
	@echo "make test                  make lint, then every tier of the suite on both cores"
	@echo "make test-fast             make lint, then tests/unit: no dbt build, no subprocess (before each commit)"
	@echo "make lint                  ruff (lint, complexity, format check), mypy --strict, sqlfluff (dbt templater) on the SQL"
	@echo "make docs                  dbt docs as one offline page: data/docs/index.html (needs make run)"
	@echo "make test-e2e | test-airflow  one slower tier: tests/integration, tests/airflow (CI jobs)"
	@echo "make ci-env STATE=DIR      CI for a pull request: the change as environment pr of DIR's prod: build, test, diff"
	@echo "make ci-promote STATE=DIR  CI for main: the code as environment main of DIR's prod, promoted; DIR updated"
	@echo "make bench [SCALE_FACTOR=1] [BENCH=incremental|run|bare|airflow|environments|detection]  one benchmark of bench/README.md: full refresh vs one 1 % batch, tpch-elt run end to end, dbt vs the bare engine, a DAG run vs the CLI increment, env create/build/diff/promote/rollback, drift detection accuracy and cost"
	@echo "make clean                 remove data/ and dbt artifacts (keeps .venv)"
	@echo "make lock                  re-resolve the lock (requirements/*.txt) from pyproject.toml on PyPI, keeping pins it can"
	@echo "make lock-upgrade          the same, every package at its newest release pyproject.toml allows"
	@echo "make airflow [SCALE_FACTOR=1] [AIRFLOW_PORT=8080]  Airflow 3 + the dbt_pipeline DAG, UI on localhost (airflow/airflow)"
	@echo "make airflow-stop          stop it"

# Installs come from the lock, requirements/*.txt: every package pinned with
# its hashes, so a fresh clone installs what CI tested, whatever PyPI has
# released since, and pip resolves nothing. The locked pip goes in first: the
# one a new venv brings may be too old (pip 23.2 rejects a locked package that
# another requires with extras, e.g. mashumaro[msgpack], in hash-checking
# mode). The project goes in last, without dependencies and with the locked
# build backend; pip check stops the install if the lock no longer has what
# pyproject.toml's dependencies ask for (tests/unit/test_lock.py checks the
# extras too). `make lock` mends that: it needs only the locked dependencies
# (uv among them), not the project.
#   build.txt              pip, and pyproject's [build-system] requires (requirements/build.in)
#   dev.txt                dependencies and the dev, airflow, snowflake extras: make install, CI
#   airflow.txt            dependencies and the airflow extra: the Dockerfile
#   airflow-snowflake.txt  and the snowflake extra: the image for the snowflake target
#   base.txt               dependencies only: the pipeline without Airflow or the tests
$(BIN)/.dependencies: requirements/build.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/build.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $@

$(BIN)/.installed: pyproject.toml $(BIN)/.dependencies
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

install: $(BIN)/.installed

# The lock, written by uv (pinned in the dev extra) rather than pip-tools:
# --universal resolves once for every platform and Python from LOCK_PYTHON
# on, with markers where they differ, so one file serves Linux x86_64 and
# aarch64 (CI, the image, laptops); pip-compile resolves only for the
# machine it runs on. Installs need only pip. dev.txt is resolved first and
# constrains the others: every lock pins the same versions. uv keeps the
# pins already in a file unless pyproject.toml rules them out; lock-upgrade
# takes the newest releases. Needs PyPI; tests/unit/test_lock.py checks that
# the lock satisfies pyproject.toml.
LOCK_PYTHON := 3.11
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version $(LOCK_PYTHON) \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_FLAGS)
lock: $(BIN)/.dependencies
	$(UV_COMPILE) pyproject.toml --extra dev --extra airflow --extra snowflake -o requirements/dev.txt
	$(UV_COMPILE) -c requirements/dev.txt requirements/build.in -o requirements/build.txt
	$(UV_COMPILE) -c requirements/dev.txt pyproject.toml -o requirements/base.txt
	$(UV_COMPILE) -c requirements/dev.txt pyproject.toml --extra airflow -o requirements/airflow.txt
	$(UV_COMPILE) -c requirements/dev.txt pyproject.toml --extra airflow --extra snowflake \
		-o requirements/airflow-snowflake.txt

lock-upgrade: LOCK_FLAGS += --upgrade
lock-upgrade: lock

run: $(BIN)/.installed
	$(BIN)/tpch-elt run --scale-factor $(SCALE_FACTOR)

test: lint
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The fast tier (README, "Tests"): tests/unit, which may start no process
# and open no warehouse dbt built (tests/conftest.py enforces it).
test-fast: lint
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# Quality gates (README, "Quality gates"): zero findings from ruff on the
# Python (its complexity rule included), mypy --strict on src/ and airflow/,
# and sqlfluff (dbt templater, DuckDB dialect, .sqlfluff) on the dbt SQL.
# .ci/sqlfluff lints in a scratch directory: never a real warehouse.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VENV=$(VENV) .ci/mypy
	VENV=$(VENV) .ci/sqlfluff lint dbt_project

# The slower tiers alone, as the CI workflow's jobs run them
# (.github/workflows/ci.yml); with test-fast they make up `make test`.
test-e2e: $(BIN)/.installed
	$(BIN)/python -m pytest tests/integration $(XDIST) $(PYTEST_ARGS)

test-airflow: $(BIN)/.installed
	$(BIN)/python -m pytest tests/airflow $(XDIST) $(PYTEST_ARGS)

# dbt's documentation site as one self-contained page (data/docs/index.html).
docs: $(BIN)/.installed
	$(BIN)/tpch-elt docs

# CI/CD with environments (.ci/environments.py; README, "Environments").
# STATE holds prod's data directory as a tar (state.json says when). ci-state
# builds prod from scratch into it. ci-env (pull requests) builds the working
# tree as environment `pr` of that prod (`tpch-elt env build`: state:modified+
# against prod's publication, deferring to prod; fails on an error-severity
# test) and writes its diff to data/ci/diff/ and the job summary. ci-promote
# (pushes to main) builds it as environment `main`, promotes it, lets prod
# rebuild, and saves the new prod to STATE. Without a usable STATE both build
# prod from scratch.
STATE ?= data/ci-state/main
CI_SCALE_FACTOR ?= 0.01
CI_ENVIRONMENTS = $(BIN)/python .ci/environments.py
ci-state: $(BIN)/.installed
	$(CI_ENVIRONMENTS) state --state $(STATE) --scale-factor $(CI_SCALE_FACTOR)

ci-env: $(BIN)/.installed
	$(CI_ENVIRONMENTS) pr --state $(STATE) --scale-factor $(CI_SCALE_FACTOR)

ci-promote: $(BIN)/.installed
	$(CI_ENVIRONMENTS) promote --state $(STATE) --scale-factor $(CI_SCALE_FACTOR)

clean:
	rm -rf data dbt_project/target dbt_project/logs airflow/dbt_target

# One benchmark per run (bench/README.md): BENCH=incremental (full refresh
# vs one 1 % batch), BENCH=run (`tpch-elt run` end to end: time, memory,
# disk per layer), BENCH=bare (dbt run/build vs the compiled SQL run bare),
# BENCH=airflow (one run of the DAG `dbt_pipeline` vs the CLI's increment) or
# BENCH=environments (env create, build, diff, promote, rollback) or
# BENCH=detection (drift detectors on 300 batches with injected faults; their
# cost against an increment at SF1).
BENCH ?= incremental
bench: $(BIN)/.installed
	SCALE_FACTOR=$(SCALE_FACTOR) $(BIN)/python bench/$(BENCH).py

# Airflow 3 on this machine (no Docker): AIRFLOW_HOME in .airflow/, the DAG
# unpaused, a warehouse with batches to ingest prepared on first use.
airflow: $(BIN)/.installed
	$(BIN)/python airflow/stack.py start --port $(AIRFLOW_PORT) --scale-factor $(SCALE_FACTOR)

airflow-stop:
	$(PYTHON) airflow/stack.py stop
