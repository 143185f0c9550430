# Energy Forecast Platform: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra arguments for the demo, e.g. `make demo DEMO_ARGS="--full --exit-after-forecast"`.
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install demo test bench services clean help

help:
	@echo "make demo     - set up .venv, generate + ingest synthetic data, train, backtest, serve"
	@echo "make test     - set up .venv, start PostgreSQL/Redis if down, run the whole suite"
	@echo "make install  - create .venv and install the platform with test extras"
	@echo "make bench    - run the benchmarks and write docs/benchmarks.md"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	EFP_AUTH_ENABLED=false $(BIN)/efp demo $(DEMO_ARGS)

services:
	@bash scripts/ensure-services.sh

test: $(STAMP) services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) services
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) var build *.egg-info
