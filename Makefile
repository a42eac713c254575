# The README's two commands: `make run` and `make test`. Both bootstrap
# .venv on first use, so a fresh clone needs nothing but python3 and make.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE_FACTOR ?= 1
PYTEST_ARGS ?=

# No surprise traffic from the tools we drive.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install run test clean help bench

help:
	@echo "make run [SCALE_FACTOR=1]  generate TPC-H, load DuckDB, build the dbt marts"
	@echo "make test                  the whole test suite"
	@echo "make bench [SCALE_FACTOR=1] full refresh vs one 1 % batch, printed and in bench/results/"
	@echo "make clean                 remove data/ and dbt artifacts (keeps .venv)"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/tpch-elt run --scale-factor $(SCALE_FACTOR)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf data dbt_project/target dbt_project/logs

bench: $(BIN)/.installed
	SCALE_FACTOR=$(SCALE_FACTOR) $(BIN)/python bench/incremental.py
