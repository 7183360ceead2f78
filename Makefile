# The two commands a newcomer needs: `make run` and `make test`. `make check` is the gate before a commit.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GATEWAY_PORT ?= 8000
SIMULATOR_PORT ?= 8899
PYTEST_ARGS ?=
GATEWAY_BIN := $(abspath $(BIN))
export GATEWAY_PORT GATEWAY_BIN SIMULATOR_PORT

.PHONY: install run test test-embedded lint check bench demo-reset clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The demo talks to the local Meta simulator unless GATEWAY_GRAPH_BASE_URL says otherwise.
run: export GATEWAY_GRAPH_BASE_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py bootstrap_demo --url http://127.0.0.1:$(GATEWAY_PORT) --simulator-url http://127.0.0.1:$(SIMULATOR_PORT)
	$(BIN)/python -m gateway.supervisor deploy/Procfile.dev

demo-reset: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap_demo --reset --url http://127.0.0.1:$(GATEWAY_PORT) --simulator-url http://127.0.0.1:$(SIMULATOR_PORT)

test: install
	$(BIN)/python -m core.services_probe exec -- $(BIN)/pytest $(PYTEST_ARGS)

# The suite on the embedded default `make run` uses (SQLite and the file broker), never PostgreSQL or Redis.
EMBEDDED_VAR_DIR ?= $(CURDIR)/var/embedded
test-embedded: install
	env -u DATABASE_URL -u REDIS_URL GATEWAY_VAR_DIR=$(EMBEDDED_VAR_DIR) $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

check: lint
	$(MAKE) test PYTEST_ARGS="--cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)"

bench: install
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/crypto.py
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/ingest.py --stored
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/dispatch.py
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/events.py
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/purge.py --stored
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/dashboard.py
	$(BIN)/python -m core.services_probe exec -- $(BIN)/python bench/memory.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
