# make sweep: install (once) and run the default sweep.   make test: install (once) and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: help install sweep test lint bench clean
help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU wheel unless a torch is already there (GPU users bring their own)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -e ".[dev]"
	# the LCBench surrogate for benchmarks/: --no-deps, its metadata pins numpy<2 (see pyproject.toml)
	$(BIN)/pip install -q --no-deps yahpo-gym==1.0.2
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install hpo with its dependencies (idempotent)

sweep: $(STAMP)  ## run the default sweep (MiniLM on demo data, Optuna TPE + ASHA, ~5 min on 2 cores)
	$(BIN)/hpo sweep $(ARGS)

# Two pytest-xdist workers; tests/conftest.py keeps each module (its Ray session, its sweeps) on one.
TEST_WORKERS ?= 2
test: $(STAMP)  ## run the whole test suite, slow end-to-end tests included (TEST_WORKERS=2 processes)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)  ## run every benchmark (writes benchmarks/results/); ARGS=--smoke for a quick pass
	$(BIN)/python -m benchmarks $(ARGS)

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check hpo search trainers tests benchmarks

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf outputs .pytest_cache .ruff_cache
