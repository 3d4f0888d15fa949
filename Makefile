# The README's two commands: `make demo` and `make test`. Each sets up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test benchmark bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(VENV)/bin/arvr-vio-demo

test: setup
	@$(PY) -m pytest -q test

benchmark: setup
	@$(VENV)/bin/arvr-vio-benchmark

bench: setup
	@$(VENV)/bin/arvr-vio-bench

clean:
	rm -rf build install log .pytest_cache
