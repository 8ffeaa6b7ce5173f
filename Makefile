# Set-up and the two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: install demo test lint dry-run bench clean

install: $(VENV)/.installed

# One virtual environment with the package (editable), Snakemake and the test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The whole workflow on the shipped demo stack with the CPU preset (2 cores).
DEMO := --configfile config/presets/cpu.yaml config/demo.yaml

demo: install
	$(BIN)/snakemake $(DEMO) --cores $(CORES)

test: install
	$(BIN)/python -m pytest

# Evaluation of the method and its baselines on the real data in ../shared/data (see docs/benchmarks.md).
bench: install
	$(BIN)/python bench/evaluation.py --cores $(CORES)

lint: install
	$(BIN)/snakemake --lint $(DEMO)

dry-run: install
	$(BIN)/snakemake -n $(DEMO)

clean:
	rm -rf results logs benchmarks .snakemake
