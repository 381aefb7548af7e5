# Stent Desk: `make run` serves the dashboard, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATABASE_URL ?= sqlite+aiosqlite:///stent.db

.PHONY: run test lint typecheck bench demo clean e2e-setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	STENT_DATABASE_URL=$(DATABASE_URL) $(BIN)/stent-desk migrate
	STENT_DATABASE_URL=$(DATABASE_URL) $(BIN)/stent-desk demo
	STENT_DATABASE_URL=$(DATABASE_URL) $(BIN)/stent-desk serve

# Both orders must pass (`make test TEST_PATHS="e2e tests"`): a browser test file that left
# Playwright's event loop running broke every async test after it (see e2e/conftest.py).
TEST_PATHS ?= tests e2e

test: $(STAMP) e2e-setup
	$(BIN)/ruff check app workflows tests alembic e2e conftest.py
	$(BIN)/ruff format --check app workflows tests alembic e2e conftest.py
	$(BIN)/mypy
	TEST_DATABASE_URL="$${TEST_DATABASE_URL:-$$($(BIN)/python tests/pg_databases.py)}" \
		$(BIN)/pytest -q -p no:cacheprovider $(TEST_PATHS)

# Debian's Chromium (browser downloads are impossible here) and the npm packages the
# browser tests inject (axe-core); each step is skipped when already done.
e2e-setup: $(STAMP)
	./e2e/setup.sh

lint: $(STAMP)
	$(BIN)/ruff check app workflows tests alembic e2e conftest.py
	$(BIN)/ruff format --check app workflows tests alembic e2e conftest.py

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python tests/perf/bench.py
	$(BIN)/python tests/perf/bench_web.py
	$(BIN)/python tests/perf/bench_cluster.py

demo: $(STAMP)
	STENT_DATABASE_URL=$(DATABASE_URL) $(BIN)/stent-desk demo

clean:
	rm -rf $(VENV) stent.db stent.db-wal stent.db-shm
