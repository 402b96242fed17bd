# One-line recipes. Every target sets the project up first (idempotent, fast when done).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NPM    := web/node_modules/.installed
EDGE_NPM := edge/node_modules/.installed
CHROMIUM ?= /usr/bin/chromium
EDGE_DATA ?= $(or $(AGRI_SHARED_DATA),../shared/data)/cattle_faces

.PHONY: setup demo serve test fuzz check bench contract clean chromium postgis gdal wrk edge-model

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The pages' npm packages (leaflet, chart.js, axe-core) and the JavaScript lint tools
# (eslint, prettier: devDependencies), exactly as the lock file has them.
$(NPM): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing: install Node.js and npm" >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	touch $(NPM)

# The field agent's app's npm package (onnxruntime-web, one exact version), as its lock file has it.
$(EDGE_NPM): edge/package.json edge/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing: install Node.js and npm" >&2; exit 1; }
	npm ci --prefix edge --no-audit --no-fund --loglevel=error
	touch $(EDGE_NPM)

# The browser tests drive Debian's Chromium (Playwright's own download cannot work here);
# a CJK font draws the Chinese pages in their screenshots.
chromium:
	@if [ ! -x "$(CHROMIUM)" ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium and a Chinese font for the browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium fonts-wqy-microhei || \
	      { apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei; }; \
	  else \
	    echo "note: no $(CHROMIUM): the browser tests fail until 'sudo apt-get install -y chromium fonts-wqy-microhei'"; \
	  fi; \
	fi

# Where this machine runs PostgreSQL, plots are PostGIS geometry there (migration 0018): the
# PostGIS package of that PostgreSQL, installed when it is missing (as root, with apt).
# GDAL's command line tools (ogrinfo, ogr2ogr): tests/server/test_ogc.py opens /ogc with the
# OAPIF driver, as QGIS does.
gdal:
	@if ! command -v ogr2ogr >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's gdal-bin for the OGC API tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q gdal-bin || \
	      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gdal-bin; }; \
	  else \
	    echo "note: no ogr2ogr: the OGC API's GDAL test is skipped until 'sudo apt-get install -y gdal-bin'"; \
	  fi; \
	fi

postgis:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && \
	    ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
	  pkg="postgresql-$$(ls /usr/lib/postgresql | sort -n | tail -1)-postgis-3"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$pkg for this machine's PostgreSQL"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$$pkg" || \
	      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$$pkg"; }; \
	  else \
	    echo "note: PostgreSQL without PostGIS: 'sudo apt-get install -y $$pkg' before using it"; \
	  fi; \
	fi

# make bench's load figures drive `agri serve` with wrk (Debian's package), installed when missing.
wrk:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's wrk for make bench's load figures"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk || \
	      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }; \
	  else \
	    echo "note: no wrk: make bench skips its load figures until 'sudo apt-get install -y wrk'"; \
	  fi; \
	fi

setup: $(STAMP) $(NPM) $(EDGE_NPM) chromium postgis gdal  ## .venv with the dev extras, the pages' and the agent app's npm packages (eslint and prettier too), Chromium

demo: setup  ## the main job on embedded defaults: SQLite, in-process chain; then the pages' logins
	$(VENV)/bin/agri demo
	@echo ""
	@echo "== The pages: run 'AGRI_DATA_DIR=var make serve' (the demo's database, var/agri.db),"
	@echo "   then open http://127.0.0.1:8000/"
	@echo "   password for every user: $$($(PY) -c 'from server.cli.demo import PASSWORD; print(PASSWORD)')"
	@echo "   admin                 administrator: users and products"
	@echo "   zhang.min             underwriter: applications on the map"
	@echo "   wang.fang, zhao.lei   claims adjusters: claims on the map (one approves, the other pays)"
	@echo "   f-0001 ... f-0007     farmers: own policies and claims, receipts verified in the browser"

# On make's command line only (zsh's HOST, a platform's PORT in the environment are not taken).
serve: HOST = 127.0.0.1
serve: PORT = 8000
serve: setup  ## the API and the pages on the demo's database: http://127.0.0.1:8000/ (HOST=, PORT=)
	$(VENV)/bin/agri serve --host $(HOST) --port $(PORT)

test: setup  ## lint, type checks, then the whole test suite
	scripts/check
	scripts/test

# make test runs a bounded set of these (a few cases per operation, derandomized).
fuzz: FUZZ_EXAMPLES = 200
fuzz: setup  ## schemathesis over the API's OpenAPI, long: every principal, both databases, FUZZ_EXAMPLES cases per operation and phase; prints the cases per principal
	AGRI_FUZZ_FULL=1 AGRI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -p no:cacheprovider -s tests/server/test_fuzz.py

check: setup  ## lint and type checks only (ruff, mypy; prettier and eslint on web/js and edge/src)
	scripts/check

bench: setup wrk  ## speed figures beside their references, in one run
	$(PY) -m bench

edge-model: setup  ## re-export the phone's face-ID model (edge/model) from the shipped livestock weights
	$(VENV)/bin/agri edge export --out edge/model --calibrate $(EDGE_DATA) --check $(EDGE_DATA)

contract:  ## recompile ledger/contracts/LedgerAnchor.sol with npm's solc
	mkdir -p build/solc && cd build/solc && npm install --no-save --silent solc@0.8.28
	$(PY) ledger/contracts/build.py build/solc/node_modules/.bin/solcjs

clean:
	rm -rf var build .pytest_cache .mypy_cache .ruff_cache web/node_modules edge/node_modules
