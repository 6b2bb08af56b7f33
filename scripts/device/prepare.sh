#!/usr/bin/env bash
# Run here, before a session with the GPU machine (no package registry there, 64 MiB per call): puts
# onnxruntime-gpu in four parts under .gpu/ (../shared/tools/gpu-prepare.sh) and the wheels named in
# scripts/device/wheels.txt under .whl/, both ignored by git. Then make the four calls that
# scripts/device/measure.sh describes.
# Usage, from the project root:  scripts/device/prepare.sh [PYTHON_VERSION]   (default 3.12, the machine's)
set -euo pipefail
python_version=${1:-3.12}
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl
mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 \
  --platform manylinux1_x86_64 -d .whl -r scripts/device/wheels.txt
if [[ -z "${SKIP_ONNXRUNTIME_GPU:-}" ]]; then
  ../shared/tools/gpu-prepare.sh
fi
du -sh .whl
