# Everything installs into the checkout: .venv for Python, node_modules for
# JavaScript, both at the versions pinned in the repository.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
JS_STAMP := node_modules/.installed
BROWSER_STAMP := $(VENV)/.chromium
PY_SOURCES := src tests bench

.PHONY: run test lint pytest pytest-pure jstest bench clean

# The first start makes the database and an administrator with a random
# password, printed once.
run: $(PY_STAMP) $(JS_STAMP)
	@test -f data/lgserver.db || $(BIN)/lgserver init --generate-password
	$(BIN)/lgserver serve

test: lint pytest pytest-pure jstest

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	touch $@

# The browser tests drive the system's Chromium; Playwright brings only its
# driver, never a browser of its own.
$(BROWSER_STAMP): | $(PY_STAMP)
	command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	touch $@

$(JS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_STAMP) $(JS_STAMP)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/mypy --strict src
	npx prettier --check clients/web

pytest: $(PY_STAMP) $(JS_STAMP) $(BROWSER_STAMP)
	$(BIN)/pytest

# The codec runs on msgpack's C extension; its pure-Python fallback must
# behave the same.
pytest-pure: $(PY_STAMP)
	MSGPACK_PUREPYTHON=1 $(BIN)/pytest -q tests/protocol

jstest: $(JS_STAMP)
	npm test

bench: $(PY_STAMP)
	$(BIN)/python -m bench.codec
	$(BIN)/python -m bench.sessions
	$(BIN)/python -m bench.calls
	$(BIN)/python -m bench.resume
	$(BIN)/python -m bench.websocket
	$(BIN)/python -m bench.loadtest --scenario chat-day --docs docs/performance.md
	$(BIN)/python -m bench.loadtest --scenario burst --servers lgserver,bare \
		--docs docs/performance.md
	$(BIN)/python -m bench.loadtest --scenario churn --servers lgserver \
		--docs docs/performance.md

clean:
	rm -rf $(VENV) node_modules
