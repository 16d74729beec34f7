# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint install bench clean

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
test: lint
	$(BIN)/pytest

bench: $(INSTALLED)
	$(BIN)/earworm bench catalog

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
