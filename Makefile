# launchcast: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install chromium demo test lint format bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP) chromium ## Create .venv and install the pinned dependencies (and chromium)

# The browser tests drive Debian's chromium through Playwright (never `playwright install`,
# which downloads a browser build of its own). Installed only when missing; needs root.
chromium: ## Install Debian's chromium for the browser tests when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

demo: $(STAMP) ## Fresh clone -> SQLite demo catalogue, trained model, API on http://127.0.0.1:8000/docs
	$(BIN)/launchcast demo

test: $(STAMP) chromium ## Lint, type-check and run the tests on every core (PostgreSQL too when LAUNCHCAST_TEST_POSTGRES_URL is set)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist worksteal

lint: $(STAMP) ## ruff + mypy only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks (installs Debian's wrk when missing; figures in benchmarks/results/)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.run_all

clean: ## Remove the environment, the demo database and artifacts
	rm -rf $(VENV) launchcast.db* artifacts
