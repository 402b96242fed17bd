# One-line recipes. Every target sets the project up first (idempotent, fast when done).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test check bench contract clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its dev extras

demo: setup  ## the main job on embedded defaults: SQLite, in-process chain
	$(VENV)/bin/agri demo

test: setup  ## lint, type checks, then the whole test suite
	scripts/check
	scripts/test

check: setup  ## lint and type checks only
	scripts/check

bench: setup  ## speed figures beside their references, in one run
	$(PY) -m bench

contract:  ## recompile ledger/contracts/LedgerAnchor.sol with npm's solc
	mkdir -p build/solc && cd build/solc && npm install --no-save --silent solc@0.8.28
	$(PY) ledger/contracts/build.py build/solc/node_modules/.bin/solcjs

clean:
	rm -rf var build .pytest_cache .mypy_cache .ruff_cache
