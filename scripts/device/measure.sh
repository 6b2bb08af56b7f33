#!/usr/bin/env bash
# Run on the GPU machine, as the last of four `run` calls (the first three only copy parts of
# onnxruntime-gpu; see ../shared/docs/gpu.md):
#   1. carry [".gpu/c1"]  command: mkdir -p /tmp/o && cp .gpu/c1/part* /tmp/o/
#   2. carry [".gpu/c2"]  command: cp .gpu/c2/part* /tmp/o/
#   3. carry [".gpu/c3"]  command: cp .gpu/c3/part* /tmp/o/
#   4. carry [".gpu/c4", ".gpu/bin", ".whl"]  command: bash scripts/device/measure.sh   (timeout_s 560)
# It unpacks onnxruntime-gpu and the wheels into /tmp/site, checks that ONNX Runtime offers CUDA, runs
# `python -m bench --providers cuda`, then the doctor on the stand-ins. What is worth keeping goes to
# $OUT: providers.txt, bench.log, benchmarks-cuda.md, results-cuda.json, doctor.txt. Record the figures
# in docs/benchmarks.md (its GPU section) by hand, with the date and the conditions the report states.
# The doctor's packages check fails there by construction: the machine's own CPU onnxruntime is still
# installed, shadowed by the carried GPU build through PYTHONPATH; its other checks are what to read,
# and its exit status is not counted. The script exits non-zero when any other step failed.
#
# LOCAL_CHECK=1 PYTHON=.venv/bin/python scripts/device/measure.sh runs the same steps here, on the CPU
# with the tiny stand-ins and without onnxruntime-gpu (after `SKIP_ONNXRUNTIME_GPU=1
# scripts/device/prepare.sh 3.11`, for this machine's Python). It checks the steps, not that
# wheels.txt names everything the machine lacks: that environment already has it all.
set -uo pipefail
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
out=${OUT:-/tmp/faceswap-device-out}
site=/tmp/site
failed=()
mkdir -p "$out" /tmp/o "$site"
if [[ -n "${LOCAL_CHECK:-}" ]]; then
  providers=cpu width=32 bench_size=(--quick) site=$(mktemp -d)
else
  providers=cuda width=1 bench_size=(--reps 5 --cold-reps 2)
  cp .gpu/c4/part* /tmp/o/ || exit 1
  cat /tmp/o/part* | LD_LIBRARY_PATH=.gpu/bin .gpu/bin/zstd -dc | tar -xf - -C "$site" || exit 1
fi
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
  .whl/*.whl || exit 1
export PYTHONPATH="$site:$PWD"
"$python" - <<'PY' 2>&1 | tee "$out/providers.txt"
import onnxruntime as ort
if hasattr(ort, "preload_dlls"):
    ort.preload_dlls()
print(ort.__version__, ort.get_available_providers())
PY
if [[ $providers == cuda ]] && ! grep -q CUDAExecutionProvider "$out/providers.txt"; then
  echo "no CUDA provider: stopping" >&2
  exit 1
fi
timeout 400 "$python" -m bench --providers "$providers" "${bench_size[@]}" \
  --doc "$out/benchmarks-$providers.md" --results "$out/results-$providers.json" 2>&1 | tee "$out/bench.log"
[[ ${PIPESTATUS[0]} == 0 ]] || failed+=(bench)
models=$(timeout 120 "$python" -c "from bench.standins import default_cache_dir, write_pack
print(write_pack(default_cache_dir(), $width).directory)") || failed+=(stand-ins)
if [[ -n $models ]]; then
  FACESWAP_MODEL_DIR="$models" FACESWAP_PROVIDERS=$providers timeout 120 "$python" runpod_debug.py 2>&1 \
    | tee "$out/doctor.txt"
fi
echo "in $out: $(ls "$out" | tr '\n' ' ')"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
