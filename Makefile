# One entry point for people and CI: `make serve`, `make test`, `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# torch is installed first, pinned and by itself, so that no extra pulls another build. Where
# nvidia-smi sees a GPU: PyPI's build (CUDA); elsewhere the CPU build (`+cpu`: a local wheel pip
# is configured with, else PyTorch's CPU index). Force one with TORCH_BUILD=cpu or cuda.
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_BUILD ?= $(if $(shell nvidia-smi -L 2>/dev/null | grep -m1 GPU),cuda,cpu)
CLIENT := ./clients/python

.PHONY: install install-serve install-models trainer-envs serve test lint image-test bench clean

# everything, for development and tests: server, reward models, client, raas-train, dev tools,
# offline scoring and curation (raas score / filter / report)
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CLIENT)/pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e "$(CLIENT)[train,lora]" -e ".[dev,models,offline]"
	touch $@

# `raas serve` alone: the router and its rule pool (no torch, no extras)
install-serve: $(VENV)/.serve

$(VENV)/.serve: pyproject.toml $(VENV)/.pip
	$(PIP) install --quiet -e .
	touch $@

# + reward-model workers (`rm`, `bmas`): torch for this machine, transformers
install-models: $(VENV)/.models

$(VENV)/.models: pyproject.toml $(VENV)/.torch
	$(PIP) install --quiet -e ".[models]"
	touch $@

$(VENV)/.pip:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

$(VENV)/.torch: $(VENV)/.pip
ifeq ($(TORCH_BUILD),cuda)
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
else
	if $(PIP) install --quiet --dry-run --no-index --no-deps "torch==$(TORCH_VERSION)+cpu" \
	    >/dev/null 2>&1; then \
	  $(PIP) install --quiet "torch==$(TORCH_VERSION)+cpu"; \
	else \
	  $(PIP) install --quiet --extra-index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)+cpu"; \
	fi
endif
	touch $@

serve: install-serve
	$(BIN)/raas serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# each trainer's current release in its own venv (.trainer-envs/): tests/trainers/ drive raas
# through the trainers' own code (devtools/trainer_envs.py)
trainer-envs: install
	$(BIN)/python -m devtools.trainer_envs

test: lint trainer-envs
	$(BIN)/pytest

# the Dockerfile's cpu image built and run without a Docker engine (deploy/image_test/run.sh)
image-test: install
	bash deploy/image_test/run.sh

bench: install
	$(BIN)/python bench/bench_math.py
	$(BIN)/python bench/bench_detection.py
	$(BIN)/python bench/bench_traffic.py
	$(BIN)/python bench/bench_batching.py
	$(BIN)/python bench/bench_grpo_overlap.py
	$(BIN)/python bench/bench_agreement.py
	$(BIN)/python bench/bench_offline.py

clean:
	rm -rf $(VENV) .trainer-envs .pytest_cache .mypy_cache .ruff_cache
