# Two commands on a fresh machine with Python 3.11 and pip: `make forecast` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: forecast test lint ui bench clean clean-published

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Run the main job on the bundled data (extra Hydra overrides: make forecast ARGS="backtest.h=6")
forecast: $(STAMP)
	$(BIN)/forecast $(ARGS)

## Run the test suite (ARGS="-m 'not slow'" to skip the experiment runs)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check forecasting tests benchmarks

## MLflow UI on 127.0.0.1 only, over the job's default tracking store (PORT=5000, WORKERS=2)
PORT ?= 5000
WORKERS ?= 2
TRACKING_URI ?= sqlite:///mlflow.db
ui: $(STAMP)
	@echo "runs table: http://127.0.0.1:$(PORT)/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=review (1 = the first experiment of a fresh store; README: Reviewing runs)"
	$(BIN)/mlflow ui --backend-store-uri $(TRACKING_URI) --host 127.0.0.1 --port $(PORT) --workers $(WORKERS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_job.py
	$(BIN)/python benchmarks/bench_backtest.py

## Remove what the job and the tests create, except published forecasts (make clean-published)
clean:
	rm -rf $(VENV) outputs multirun mlruns mlflow.db mlflow.db.lock

clean-published:
	@echo "removing published/ (the month's forecast CSVs and manifests)"; rm -rf published
