# bot-analytics: `make run` serves with demo data on :9000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres lint bench clean docs schema

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bot-analytics dev

# SQLite always; PostgreSQL too when reachable (under CI=true it must be, or the run fails).
test: $(STAMP)
	$(BIN)/python -m pytest -q
	@if [ "$$CI" = "true" ] || $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then \
		echo "== PostgreSQL =="; ANALYTICS_TEST_DB=postgres $(BIN)/python -m pytest -q; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: skipped the PostgreSQL run (CI=true makes this fail)"; fi

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest -q

test-postgres: $(STAMP)
	ANALYTICS_TEST_DB=postgres $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The GraphQL schema in SDL, committed; tests/test_schema_file.py fails when it is stale.
schema: $(STAMP)
	$(BIN)/python -c "from graphql_schema.schema import schema; print(schema.as_str())" > schema.graphql

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
