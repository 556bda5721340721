# One entry point for people and CI: `make serve`, `make test`, `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first and pinned, so that no extra pulls another build. PyPI's Linux wheel is the CUDA
# build; on a machine without a GPU: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: install serve test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,models,train]"
	touch $@

serve: install
	$(BIN)/raas serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/bench_math.py
	$(BIN)/python bench/bench_batching.py
	$(BIN)/python bench/bench_grpo_overlap.py
	$(BIN)/python bench/bench_agreement.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
