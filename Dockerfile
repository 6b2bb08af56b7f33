# Face swap service: one image, two modes (docs/deployment.md).
#   HTTP (default; self-hosted, or RunPod load balancing with PORT/PORT_HEALTH): python main_fixed.py
#   RunPod queue worker (set the container start command):                     python handler.py
#
# CUDA 13 + cuDNN 9 runtime to match onnxruntime-gpu (built for CUDA 13); Ubuntu 24.04's Python is 3.12.
# Hosts need an NVIDIA driver of the 580 series or later (CUDA 13).
FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# The GPU build of ONNX Runtime replaces requirements-api.txt's onnxruntime pin (see the sed below).
ARG ONNXRUNTIME_GPU_VERSION=1.31.1

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    FACESWAP_MODEL_DIR=/opt/models \
    PORT=8000

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python only: no compilers, no OpenGL (OpenCV is the headless build). curl serves the HEALTHCHECK.
# Ubuntu's package versions move with security updates, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV"

WORKDIR /app

# Dependencies, pinned by requirements-api.txt with onnxruntime swapped for onnxruntime-gpu.
# insightface depends on the CPU onnxruntime and on opencv-python, so pip installs those too: remove
# them, then reinstall the GPU runtime and headless OpenCV whose files the removal shared and deleted.
COPY requirements-api.txt /tmp/requirements-api.txt
RUN sed -e "s/^onnxruntime==.*/onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}/" \
        /tmp/requirements-api.txt > /tmp/requirements-gpu.txt \
    && grep -E '^(onnxruntime-gpu|opencv-python-headless)==' /tmp/requirements-gpu.txt \
        > /tmp/requirements-reinstall.txt \
    && pip install --no-cache-dir -r /tmp/requirements-gpu.txt \
    && pip uninstall -y onnxruntime opencv-python \
    && pip install --no-cache-dir --force-reinstall --no-deps -r /tmp/requirements-reinstall.txt \
    && rm /tmp/requirements-*.txt

# Exactly one ONNX Runtime (the GPU build, with its CUDA provider: checking the list needs no GPU)
# and only headless OpenCV, which imports without OpenGL libraries.
RUN python -c 'import onnxruntime; assert "CUDAExecutionProvider" in onnxruntime.get_available_providers()' \
    && python -c 'import cv2, insightface' \
    && test -z "$(pip list --format=freeze | grep -iE '^(onnxruntime|opencv-python)==')"

# The models, in a layer of their own: only what the download command imports is copied first, so
# code changes elsewhere do not download them again. Sizes and SHA-256 digests are checked.
# Derived files go to $FACESWAP_MODEL_DIR/.cache: the FP16 swapper at build, the CPU provider's
# optimized copy of it on the first start on a CPU (see the user below).
COPY faceswap/__init__.py faceswap/config.py faceswap/constants.py faceswap/errors.py /app/faceswap/
COPY faceswap/models/ /app/faceswap/models/
COPY faceswap/runtime/ /app/faceswap/runtime/
RUN python -m faceswap.models download --dir "$FACESWAP_MODEL_DIR" \
    && python -m faceswap.models verify --dir "$FACESWAP_MODEL_DIR" \
    && mkdir -p "$FACESWAP_MODEL_DIR/.cache" \
    && python -m faceswap.models prepare --dir "$FACESWAP_MODEL_DIR"

COPY faceswap/ /app/faceswap/
COPY main_fixed.py handler.py runpod_debug.py test_input.json /app/

# The runtime user may add files to the cache folder (that folder only, not what is in it); the models
# and everything else stay root's and read-only to it.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin faceswap \
    && chown faceswap:faceswap "$FACESWAP_MODEL_DIR/.cache"
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS --max-time 5 \"http://127.0.0.1:${PORT}/health\" > /dev/null || exit 1"]

CMD ["python", "main_fixed.py"]
