# Two entry points for a fresh machine: `make run` and `make test`. Both build .venv from the pins first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.yaml
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test lint bench env clean up down browser screenshots

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,lint]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cmtl run --config $(CONFIG)

test: lint $(STAMP) browser
	$(BIN)/python -m pytest -q

# ruff (pyproject.toml [tool.ruff]) over the whole checkout, mypy over mtl_core/ ([tool.mypy])
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[bench]"
	$(BIN)/python -m bench.run_all

# Local services for the data engineer: Prefect server + work pool cmtl-process + worker, MLflow server
# on the store `make run` writes (workspace/mlflow.db; CMTL_MLFLOW_BACKEND=auto: PostgreSQL database cmtl_mlflow
# on 127.0.0.1:5432 when reachable), then deployment.yaml.
# PIDs and logs in workspace/run/; `make down` stops exactly those processes.
up: $(STAMP)
	$(BIN)/python -m flows.ops.services up

down:
	$(BIN)/python -m flows.ops.services down

# Debian's chromium for the MLflow UI browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Refresh docs/*.png from the browser test (a finished run in the MLflow UI).
screenshots: $(STAMP) browser
	CMTL_UPDATE_DOCS=1 $(BIN)/python -m pytest -q tests/integration/test_mlflow_ui.py

clean:
	rm -rf workspace .pytest_cache
