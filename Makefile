# leadml: `make help` lists the targets. Everything installs itself into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROWS ?= 200000
DEMO_DATA := data/demo_leads.parquet
PORT ?= 5000
MODEL ?= champion
SERVE_PORT ?= 3000

.DEFAULT_GOAL := help
.PHONY: help install browser postgres demo serve bento test test-fast lint format mlflow-ui bench bench-serve bench-scale lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install leadml with the locked runtime and dev dependencies

$(DEMO_DATA): | $(STAMP)
	$(BIN)/leadml synth --rows $(DEMO_ROWS) --seed 7 --out $(DEMO_DATA)

demo: $(STAMP) $(DEMO_DATA) ## Generate demo leads, train, evaluate against the agreed rules, register and promote in MLflow
	$(BIN)/leadml train --config training/demo.yaml
	$(BIN)/leadml promote || echo "Not promoted (see the gates above); 'make serve MODEL=challenger' serves it anyway."

serve: $(STAMP) ## Serve MODEL (champion; challenger or a version) on http://127.0.0.1:3000 with a development API key
	$(BIN)/leadml serve --model $(MODEL) --port $(SERVE_PORT) --dev-key

bento: $(STAMP) ## Package the scoring API with `bentoml build` (loads MODEL from the registry to check it)
	rm -rf dist && $(BIN)/python -m pip wheel --quiet --no-deps -w dist .
	LEADML_MODEL=$(MODEL) LEADML_INSECURE_DEV=1 $(BIN)/bentoml build -f service/bentofile.yaml .

browser: ## Install Debian's chromium (the review page's headless test) when it is missing
	@command -v chromium >/dev/null || apt-get install -y -qq chromium >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || sudo apt-get install -y -qq chromium >/dev/null
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install chromium"; exit 1; }

postgres: ## Install Debian's PostgreSQL server when it is missing (the score log's tests start their own)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
	  || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
	  || sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
	  || { echo "PostgreSQL is missing: apt-get install postgresql"; exit 1; }

test: $(STAMP) browser postgres ## Check the shipped feature specs and rules, then run the test suite (offline)
	$(BIN)/leadml features check features/lead_features.yaml --rules features/scoring_rules.yaml
	$(BIN)/leadml features check features/bank_features.yaml --rules features/bank_rules.yaml
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) postgres ## Run only the fast tests (pytest -m "not slow": no training, Dask clusters or servers)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP) ## Lint and check formatting with ruff, check the layers with import-linter, type-check src with mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mlflow-ui: $(STAMP) ## Open the MLflow UI (MLFLOW_TRACKING_URI, else ./mlflow.db) on http://127.0.0.1:5000
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/mlflow ui --host 127.0.0.1 --port $(PORT) \
	  --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}" \
	  --default-artifact-root "$(CURDIR)/mlartifacts"

bench: $(STAMP) ## Run the model-quality and training-scale benchmarks
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/train_scale.py

bench-serve: $(STAMP) ## Benchmark the scoring API with wrk (installs wrk from Debian's packages if missing)
	@command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk; }
	$(BIN)/python bench/serve.py

bench-scale: $(STAMP) ## Benchmark scoring and training with the pandas and Dask engines at 1M-10M leads (~20 min)
	$(BIN)/python bench/scale.py

lock: ## Re-pin requirements.lock (`pip install .`) and requirements-dev.lock (the dev tools); UPGRADE=1 lets pins move
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	{ [ -n "$(UPGRADE)" ] || cat requirements.lock requirements-dev.lock 2>/dev/null || true; } > .lockenv/keep.txt
	.lockenv/bin/python -m pip install --quiet --quiet -c .lockenv/keep.txt .
	{ echo "# Fully pinned runtime install set for leadml (what \`pip install .\` needs; the bento installs it)."; \
	  echo "# Python 3.11 / Linux x86_64. Dev tools: requirements-dev.lock. Regenerate: make lock"; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v -i '^leadml'; } > .lockenv/runtime.txt
	.lockenv/bin/python -m pip install --quiet --quiet -c .lockenv/keep.txt -c .lockenv/runtime.txt ".[dev]"
	{ echo "# Pins for the dev tools only (the \`dev\` extra and what it adds to requirements.lock);"; \
	  echo "# install after requirements.lock. Python 3.11 / Linux x86_64. Regenerate: make lock"; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v -i '^leadml' \
	    | grep -v -x -F -f .lockenv/runtime.txt; } > requirements-dev.lock
	mv .lockenv/runtime.txt requirements.lock
	rm -rf .lockenv

clean: ## Remove the virtualenv, caches and local MLflow state
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache mlflow.db mlruns mlartifacts dist .leadml
