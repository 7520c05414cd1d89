# Every target creates .venv itself when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck format bench bench-check constraints clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "numsim needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

# Every extra plus the dev group, at the versions constraints.txt pins (dependency groups
# need pip 25.1 or newer).
$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q 'pip>=25.1'
	$(BIN)/pip install -q -c constraints.txt -e '.[all]' --group dev
	@touch $@ $(VENV)/.core

demo: $(VENV)/.core  ## the main job on the embedded allocator (no Redis)
	$(BIN)/numsim demo

test: $(VENV)/.dev  ## lint, type-check, then the whole test suite
	$(BIN)/ruff check src tests benchmarks data
	$(BIN)/ruff format --check src tests benchmarks data
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks data

typecheck: $(VENV)/.dev
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests benchmarks data
	$(BIN)/ruff format src tests benchmarks data

bench: $(VENV)/.dev  ## benchmarks; writes benchmarks/report.json
	$(BIN)/python -m benchmarks

bench-check: $(VENV)/.dev  ## benchmarks, failing on a regression against benchmarks/baseline.json
	$(BIN)/python -m benchmarks --check

constraints: $(VENV)/.dev  ## pin what CI installs to this venv's versions
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
