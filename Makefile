# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 8000

.PHONY: run demo test lint models clean

$(VENV)/.api: requirements-api.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-api.txt
	touch $@

$(VENV)/.dev: $(VENV)/.api requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Downloads the real models when missing; the server starts either way and /health says what is wrong.
models: $(VENV)/.api
	$(PY) -m faceswap.models download --dir $${FACESWAP_MODEL_DIR:-./models} || \
	  echo "model download failed: the server will start and /health will say why"

run: models
	$(VENV)/bin/uvicorn main_fixed:app --host $(HOST) --port $(PORT) --workers 1 --timeout-graceful-shutdown 30 --no-server-header

# The service on the synthetic pack: no real weights needed, swaps prove plumbing only.
demo: $(VENV)/.api
	$(PY) -m faceswap.synthetic models build/synthetic-models
	FACESWAP_MODEL_DIR=build/synthetic-models $(VENV)/bin/uvicorn main_fixed:app --host $(HOST) --port $(PORT) --workers 1

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
