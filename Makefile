# The README's two commands: `make run` and `make test`. Both bootstrap
# .venv on first use, so a fresh clone needs nothing but python3 and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE_FACTOR ?= 1
PYTEST_ARGS ?=
AIRFLOW_PORT ?= 8080

# No surprise traffic from the tools we drive.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install run test clean help bench airflow airflow-stop

help:
	@echo "make run [SCALE_FACTOR=1]  generate TPC-H, load DuckDB, build the dbt marts"
	@echo "make test                  the whole test suite"
	@echo "make bench [SCALE_FACTOR=1] full refresh vs one 1 % batch, printed and in bench/results/"
	@echo "make clean                 remove data/ and dbt artifacts (keeps .venv)"
	@echo "make airflow [SCALE_FACTOR=1] [AIRFLOW_PORT=8080]  Airflow 3 + the dbt_pipeline DAG, UI on localhost (airflow/airflow)"
	@echo "make airflow-stop          stop it"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,airflow,snowflake]'
	@touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/tpch-elt run --scale-factor $(SCALE_FACTOR)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf data dbt_project/target dbt_project/logs airflow/dbt_target

bench: $(BIN)/.installed
	SCALE_FACTOR=$(SCALE_FACTOR) $(BIN)/python bench/incremental.py

# Airflow 3 on this machine (no Docker): AIRFLOW_HOME in .airflow/, the DAG
# unpaused, a warehouse with batches to ingest prepared on first use.
airflow: $(BIN)/.installed
	$(BIN)/python airflow/stack.py start --port $(AIRFLOW_PORT) --scale-factor $(SCALE_FACTOR)

airflow-stop:
	$(PYTHON) airflow/stack.py stop
