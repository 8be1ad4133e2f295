# Quick start: `make demo` (set up, then the main job) and `make test` (set up, then all tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hearth-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

# torch first: 2.13.0 is the CPU build on this kind of machine; anything else may fetch a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip show torch >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hearth demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/store.py --triples 1000000 --json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
