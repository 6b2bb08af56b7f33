# The two commands of the README: `make run` and `make test`. `make browser-test` walks the playground in
# Chromium; `make image-test` builds and checks the Docker image; `make lock` refreshes the lock files after
# a change to requirements-*.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 8000

# Exactly the packages of a lock file, each checked against its SHA-256, wheels only: the lock holds
# every transitive dependency, so pip resolves nothing (insightface's wish for the CPU onnxruntime and
# the GUI opencv-python is left out of the lock on purpose; see requirements-excludes.txt).
PIP_INSTALL := $(PY) -m pip install --quiet --require-hashes --no-deps --only-binary :all:

# How the lock files are resolved: Python 3.11 on x86-64 Linux (what the image runs), wheels only.
# LOCK_ARGS=--upgrade moves every package the inputs do not pin to its newest release.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 --only-binary :all: \
	--excludes requirements-excludes.txt $(LOCK_ARGS)

# $(1): the lock file, $(2): its inputs. Resolved from a copy (uv keeps the versions it holds), and
# put in place only when it changed, so an unchanged lock does not rebuild .venv.
define lock_file
	cp $(1) $(1).new
	$(UV_COMPILE) $(2) -o $(1).new
	if cmp -s $(1).new $(1); then rm $(1).new; else mv $(1).new $(1) && echo "$(1) changed"; fi
endef

.PHONY: run demo test browser-test lint models lock image-test clean

# The tests' environment: requirements-dev.lock holds the runtime's packages at requirements.lock's versions,
# ONNX Runtime's GPU build included, and the tools, but not NVIDIA's CUDA and cuDNN wheels (about 1.3 GB),
# which only the CUDA provider loads. A lock changed: a fresh environment, so nothing a lock no longer
# names stays behind.
$(VENV)/.dev: requirements-dev.lock requirements.lock
	$(PYTHON) -m venv --clear $(VENV)
	$(PIP_INSTALL) -r requirements-dev.lock
	$(PY) -c 'import cv2, insightface, onnxruntime'
	touch $@

# The service's environment: the rest of requirements.lock on top, NVIDIA's wheels for a GPU host.
$(VENV)/.api: $(VENV)/.dev
	$(PIP_INSTALL) -r requirements.lock
	touch $@

# Downloads the real models when missing; the server starts either way and /health says what is wrong.
models: $(VENV)/.api
	$(PY) -m faceswap.models download --dir $${FACESWAP_MODEL_DIR:-./models} || \
	  echo "model download failed: the server will start and /health will say why"

# main_fixed.py reads HOST and PORT (and PORT_HEALTH) and the FACESWAP_ settings, drain timeout included.
run: models
	HOST=$(HOST) PORT=$(PORT) $(PY) main_fixed.py

# The service on the synthetic pack, on the CPU: no real weights needed, swaps prove plumbing only.
# The playground is at http://localhost:8000/.
demo: $(VENV)/.dev
	$(PY) -m faceswap.testing.synthetic models build/synthetic-models
	FACESWAP_MODEL_DIR=build/synthetic-models HOST=$(HOST) PORT=$(PORT) $(PY) main_fixed.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# PYTEST_ARGS: more pytest options (CI runs the browser tests as a step of their own: -m "not browser").
PYTEST_ARGS ?=
test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The playground walked in Debian's Chromium (apt-get install chromium), which these fail without;
# screenshots of each step in build/playground/.
browser-test: $(VENV)/.dev
	FACESWAP_BROWSER_TESTS=required $(PY) -m pytest -q -m browser

# Rebuilds the three lock files from requirements-api.txt, requirements-cuda.txt, requirements-dev.txt and
# requirements-models.txt. Versions already locked are kept unless an input asks otherwise.
lock: $(VENV)/.dev
	$(call lock_file,requirements.lock,requirements-api.txt requirements-cuda.txt)
	$(call lock_file,requirements-dev.lock,requirements-api.txt requirements-dev.txt -c requirements.lock)
	$(call lock_file,requirements-models.lock,requirements-models.txt -c requirements.lock)

# Builds the Dockerfile on locally made Debian bases and checks the container (root, Docker, network).
image-test:
	$(PYTHON) scripts/image_test.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
