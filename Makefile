# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 8000

.PHONY: run demo test lint models clean

# Every install of requirements-api.txt lets insightface pull in the GUI opencv-python, which shares
# cv2/ with the headless build and needs OpenGL libraries: remove it, then reinstall the headless build
# pinned there (the removal deleted its files), as the Dockerfile does.
define headless_opencv
	$(PY) -m pip uninstall --quiet -y opencv-python
	headless=$$(grep -E '^opencv-python-headless==' requirements-api.txt) && \
	  $(PY) -m pip install --quiet --force-reinstall --no-deps "$$headless"
	$(PY) -c 'import cv2, insightface'
endef

$(VENV)/.api: requirements-api.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-api.txt
	$(headless_opencv)
	touch $@

$(VENV)/.dev: $(VENV)/.api requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(headless_opencv)
	touch $@

# Downloads the real models when missing; the server starts either way and /health says what is wrong.
models: $(VENV)/.api
	$(PY) -m faceswap.models download --dir $${FACESWAP_MODEL_DIR:-./models} || \
	  echo "model download failed: the server will start and /health will say why"

# main_fixed.py reads HOST and PORT (and PORT_HEALTH) and the FACESWAP_ settings, drain timeout included.
run: models
	HOST=$(HOST) PORT=$(PORT) $(PY) main_fixed.py

# The service on the synthetic pack: no real weights needed, swaps prove plumbing only.
demo: $(VENV)/.api
	$(PY) -m faceswap.testing.synthetic models build/synthetic-models
	FACESWAP_MODEL_DIR=build/synthetic-models HOST=$(HOST) PORT=$(PORT) $(PY) main_fixed.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
