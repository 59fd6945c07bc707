# The two commands README.md starts with: `make run` and `make test`. Both build .venv on first use
# and rebuild it when a requirements file changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run demo test lint typecheck pytest venv clean package infra-check

# pip lists what it fetches and installs (about 110 packages, 1.5-4 minutes the first time), so the
# first `make run`/`make demo` shows progress instead of minutes of silence. npm ci installs miniflare
# (Cloudflare's workerd runtime and D1, package-lock.json): it runs the D1 gateway Worker in the tests
# and in `make run JOB_STORE=d1-local`. Without npm the rest still installs.
$(VENV)/.installed: requirements.txt requirements-dev.txt downloader/requirements.txt package-lock.json
	@echo "make: installing the pinned requirements into $(VENV) (first run: 1.5-4 minutes; pip lists each package)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -r requirements-dev.txt
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund; else \
	  echo "npm not found: the D1 gateway tests skip (CI fails them); apt-get install nodejs npm"; fi
	touch $@
	@echo "make: $(VENV) is ready"

venv: $(VENV)/.installed

S3_PORT ?= 9000
# RELOAD=1: restart the API when app.py, chalicelib/ or .chalice/config.json change (off by default).
RELOAD ?=

# JOB_STORE=d1-local: the job store on the D1 gateway Worker under miniflare (real D1 semantics).
JOB_STORE ?= sqlite
run: venv
	$(BIN)/python -m scripts.run_local --host $(HOST) --port $(PORT) --s3-port $(S3_PORT) --job-store $(JOB_STORE) $(if $(filter-out 0 no false,$(RELOAD)),--reload)

# The API plus loopback stand-ins for TMDB, the indexer, Usenet and R2 (README "Demo").
# DEMO_ARGS=--walkthrough runs the curl sequence once by itself and keeps serving; --exit then stops.
DEMO_ARGS ?=
demo: venv
	$(BIN)/python -m sandbox --host $(HOST) --port $(PORT) --s3-port $(S3_PORT) $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest

test: lint typecheck pytest infra-check

# Infrastructure (README "Deploy"). `make package` generates the Chalice part of infra/terraform
# (chalice.tf.json + deployment.zip) for STAGE; chalice_override.tf merges into it.
STAGE      ?= prod
INFRA_VENV := infra/.venv

package: venv
	$(BIN)/python infra/scripts/package.py --stage $(STAGE)

# checkov has its own venv: its dependency pins clash with the service's.
$(INFRA_VENV)/.installed: requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

# Offline checks of infra/terraform: terraform fmt and the override merge (skipped, and said so, without
# terraform), the wiring tests against the code and a fresh package, then checkov.
infra-check: package $(INFRA_VENV)/.installed
	$(BIN)/pytest -q -rs -p no:cacheprovider tests/test_infra.py tests/test_infra_monitoring.py tests/test_infra_gateway.py tests/test_infra_d1_gateway.py
	$(INFRA_VENV)/bin/checkov --directory infra/terraform --framework terraform secrets --quiet --compact --skip-download

clean:
	rm -rf $(VENV) $(INFRA_VENV) .mypy_cache .pytest_cache .ruff_cache
