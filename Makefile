# Two entry points for a fresh clone: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PMFNAS_DATA ?= $(abspath ../shared/data)
export PMFNAS_DATA
# Where pip finds torch (empty: pip's own index, which on Linux serves the CUDA build);
# e.g. `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` for the CPU build.
TORCH_INDEX ?=

.PHONY: setup run test lint bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: setup
	$(BIN)/pmfnas search

lint: setup
	$(BIN)/ruff check src tests benchmarks docs/examples
	$(BIN)/ruff format --check src tests benchmarks docs/examples

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/search_speed.py
