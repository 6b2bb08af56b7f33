"""NVIDIA's CUDA and cuDNN libraries, which ONNX Runtime's GPU build loads from NVIDIA's pip wheels."""

from __future__ import annotations

import contextlib
import io

__all__ = ["preload_cuda_libraries"]


def preload_cuda_libraries() -> tuple[str, ...]:
    """Load them before the first CUDA session (onnxruntime.preload_dlls); returns the lines it printed.

    ONNX Runtime prints a line to stdout for each library it cannot load: where NVIDIA's wheels are not
    installed (the tests' environment), every one. Those lines are returned for the caller to log or
    report, so stdout (a command's --json answer) stays clean; the CUDA provider then falls back to the CPU.
    """
    import onnxruntime as ort

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        ort.preload_dlls()
    return tuple(line.strip() for line in printed.getvalue().splitlines() if line.strip())
