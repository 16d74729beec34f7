# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-postgres lint install bench clean

# The same script builds the Docker image's environment (see Dockerfile).
$(INSTALLED): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) scripts/install.sh $(VENV) -e ".[dev]"
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/earworm demo

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# pytest exits 5 when it collected no test; make treats that as the failure it is.
# Three pytest-xdist workers on a 2-core machine: much of a test's time is spent waiting
# (for an `earworm` subprocess to start, the simulated Discord to settle, a timeout), and a
# third worker fills it (docs/performance.md, "The test suite's time"). Then the storage and
# bot suites again on PostgreSQL, with two: there the server's processes want the CPU.
WORKERS ?= 3
POSTGRES_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(WORKERS)
	$(MAKE) --no-print-directory test-postgres

# A throwaway PostgreSQL cluster (.ci/postgres.sh installs Debian's package when it is
# missing and runs the server as a non-root user on a free local port), removed afterwards.
# It leaves out what it would only repeat: tests about SQLite itself (sqlite_only) and those
# whose outcome does not depend on the database (database_neutral; each says why).
test-postgres: $(INSTALLED)
	@set -e; cluster=$$(mktemp -d); trap '.ci/postgres.sh stop "$$cluster"' EXIT; \
	eval "$$(.ci/postgres.sh start "$$cluster")"; \
	echo "PostgreSQL pass: $$EARWORM_TEST_POSTGRES_URL"; \
	$(BIN)/pytest -n $(POSTGRES_WORKERS) -m "not sqlite_only and not database_neutral" tests/storage tests/bot

bench: $(INSTALLED)
	$(BIN)/earworm bench catalog

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
