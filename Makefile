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
.PHONY: help install browser demo serve bento test lint format mlflow-ui bench bench-serve bench-scale lock clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install leadml with the locked dependencies

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

test: $(STAMP) browser ## Check the shipped feature specs and rules, then run the test suite (offline)
	$(BIN)/leadml features check features/lead_features.yaml --rules features/scoring_rules.yaml
	$(BIN)/leadml features check features/bank_features.yaml --rules features/bank_rules.yaml
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## Lint and check formatting with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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

lock: ## Re-resolve and pin every dependency into requirements.lock
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --quiet -e ".[dev]"
	{ echo "# Fully pinned install set for leadml (runtime + dev), tested on Python 3.11 / Linux x86_64."; \
	  echo "# Regenerate: make lock"; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v -i '^leadml'; } > requirements.lock
	rm -rf .lockenv

clean: ## Remove the virtualenv, caches and local MLflow state
	rm -rf $(VENV) .pytest_cache .ruff_cache mlflow.db mlruns mlartifacts dist .leadml
