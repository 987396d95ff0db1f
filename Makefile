# Two entry points (README): `make render` renders the built-in default scene and prints its
# summary; `make test` runs the test suite. Each creates or refreshes .venv on its own.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: render test lint bench clean system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

render: $(STAMP)
	$(VENV)/bin/twin render --out out/default

test: lint system-packages
	$(VENV)/bin/python -m pytest

system-packages:
	bash tools/system_packages.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check twin tests tools
	$(VENV)/bin/ruff format --check twin tests tools
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy twin

bench: $(STAMP)
	$(VENV)/bin/twin bench

clean:
	rm -rf $(VENV) out
