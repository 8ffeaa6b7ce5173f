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

# The whole workflow on the shipped demo stack (2-core CPU preset).
demo: install
	$(BIN)/snakemake --configfile config/demo.yaml --cores $(CORES)

test: install
	$(BIN)/python -m pytest

# Evaluation of the method and its baselines on the real data in ../shared/data (see docs/benchmarks.md).
bench: install
	$(BIN)/python bench/evaluation.py --cores $(CORES)

lint: install
	$(BIN)/snakemake --lint --configfile config/demo.yaml

dry-run: install
	$(BIN)/snakemake -n --configfile config/demo.yaml

clean:
	rm -rf results logs benchmarks .snakemake
