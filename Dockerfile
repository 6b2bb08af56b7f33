# Face swap service: one image, two modes (docs/deployment.md).
#   HTTP (default; self-hosted, or RunPod load balancing with PORT/PORT_HEALTH): python main_fixed.py
#   RunPod queue worker (set the container start command):                     python handler.py
#
# Debian's Python 3.11, the version the lock files are resolved for. CUDA 13 and cuDNN 9 come from
# NVIDIA's wheels (onnxruntime-gpu[cuda,cudnn] in requirements.lock), which the service loads with
# onnxruntime.preload_dlls(): hosts need only the NVIDIA driver (580 series or later, for CUDA 13).
#
#   docker build -t face-swap .                                          the real models, checked
#   docker build --build-arg FACESWAP_MODELS=synthetic -t face-swap .    the synthetic pack (tests only)

# The module that writes the synthetic pack (FACESWAP_MODELS=synthetic): named here only.
ARG SYNTHETIC_MODULE=faceswap.testing.synthetic
# Optional models baked in, as `download --with` takes them (e.g. gfpgan_1.4,xseg_1 or all): by default
# the content guard's three classifiers, so a deployed image guards (FACESWAP_CONTENT_GUARD=auto).
ARG FACESWAP_OPTIONAL_MODELS="nsfw_1,nsfw_2,nsfw_3"

# Debian's Python in a virtual environment. curl serves the HEALTHCHECK.
# Debian's package versions move with security updates, so they are not pinned.
FROM debian:bookworm-slim AS python
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    FACESWAP_MODEL_DIR=/opt/models
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates curl \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV"
WORKDIR /app

# What the model commands import, from requirements-models.lock: the service's own versions of those
# packages only, so changing the service's other dependencies leaves this stage, and the models, cached.
# Every pip install here takes exactly the lock's packages, each checked against its SHA-256, wheels only.
FROM python AS model-tools
COPY requirements-models.lock /tmp/
RUN pip install --require-hashes --no-deps --only-binary :all: -r /tmp/requirements-models.lock \
    && rm /tmp/requirements-models.lock

# The whole package goes in; only the modules the model commands import come out (with the package
# files above them), so a change elsewhere in the code does not fetch the models again.
FROM model-tools AS model-code
ARG SYNTHETIC_MODULE
COPY faceswap/ /src/faceswap/
COPY scripts/copy_imported.py /src/
RUN python /src/copy_imported.py /src /code faceswap.models.__main__ "$SYNTHETIC_MODULE"

# The models. download (the default): buffalo_l's detector and recognizer and inswapper_128, each
# size- and SHA-256-checked, then structurally verified; synthetic: the generated pack the tests use
# (swaps prove plumbing only). Either way `prepare` writes the FP16 swapper the CUDA provider uses
# into $FACESWAP_MODEL_DIR/.cache.
FROM model-tools AS models
ARG SYNTHETIC_MODULE
ARG FACESWAP_MODELS=download
ARG FACESWAP_OPTIONAL_MODELS
COPY --from=model-code /code/ /app/
RUN case "$FACESWAP_MODELS" in \
        download) python -m faceswap.models download --dir "$FACESWAP_MODEL_DIR" \
                ${FACESWAP_OPTIONAL_MODELS:+--with "$FACESWAP_OPTIONAL_MODELS"} \
            && python -m faceswap.models verify --dir "$FACESWAP_MODEL_DIR" ;; \
        synthetic) python -m "$SYNTHETIC_MODULE" models "$FACESWAP_MODEL_DIR" ;; \
        *) echo "FACESWAP_MODELS must be download or synthetic, not '$FACESWAP_MODELS'" >&2; exit 2 ;; \
    esac \
    && mkdir -p "$FACESWAP_MODEL_DIR/.cache" \
    && python -m faceswap.models prepare --dir "$FACESWAP_MODEL_DIR"

# The service: every package of requirements.lock, the lock `make run` installs (`make test` installs
# requirements-dev.lock: the same versions, ONNX Runtime's included, without NVIDIA's wheels).
FROM python AS service
# `uvicorn main_fixed:app` (the seed's command) gets the limits `python main_fixed.py` sets: the header
# deadline protocol, 64 KiB heads, 64 connections, a 5 s keep-alive and a 30 s drain (uvicorn reads UVICORN_*).
ENV PORT=8000 \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000 \
    UVICORN_HTTP=faceswap.http.connection:BoundedH11Protocol \
    UVICORN_H11_MAX_INCOMPLETE_EVENT_SIZE=65536 \
    UVICORN_LIMIT_CONCURRENCY=64 \
    UVICORN_TIMEOUT_KEEP_ALIVE=5 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=30 \
    UVICORN_SERVER_HEADER=false
COPY requirements.lock /tmp/
RUN pip install --require-hashes --no-deps --only-binary :all: -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# Exactly one ONNX Runtime, the GPU build, whose CUDA provider is listed and whose NVIDIA libraries
# load (neither needs a GPU), and only headless OpenCV, which imports without OpenGL libraries.
# The stage has the SHELL of `python` (bash -o pipefail), which hadolint does not follow across stages.
# hadolint ignore=DL4006
RUN python -c 'import onnxruntime; assert "CUDAExecutionProvider" in onnxruntime.get_available_providers()' \
    && python -c 'import onnxruntime; onnxruntime.preload_dlls()' \
    && python -c 'import cv2, insightface' \
    && test "$(pip list --format=freeze | grep -ciE '^onnxruntime(-[a-z]+)?==')" = 1 \
    && test -z "$(pip list --format=freeze | grep -iE '^(onnxruntime|opencv-python)==')"

COPY --from=models /opt/models /opt/models
COPY faceswap/ /app/faceswap/
COPY main_fixed.py handler.py runpod_debug.py test_input.json /app/

# The runtime user may add files to the cache folder (that folder only, not what is in it): on the CPU
# the first start writes ONNX Runtime's optimized copy of the swapper there. The models and everything
# else stay root's and read-only to it. Jobs (their SQLite database, requests and results) live in
# /data, the runtime user's: mount a volume there so that jobs outlive the container.
ENV FACESWAP_DATA_DIR=/data
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin faceswap \
    && mkdir -p "$FACESWAP_DATA_DIR" \
    && chown faceswap:faceswap "$FACESWAP_MODEL_DIR/.cache" "$FACESWAP_DATA_DIR"
VOLUME ["/data"]
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS --max-time 5 \"http://127.0.0.1:${PORT}/health\" > /dev/null || exit 1"]

# python is PID 1 and handles SIGTERM itself: `docker stop` drains (FACESWAP_DRAIN_TIMEOUT) and exits 0.
CMD ["python", "main_fixed.py"]
