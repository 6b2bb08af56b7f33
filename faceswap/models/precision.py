"""The swapper in FP16 on CUDA: converted at load (inputs and outputs stay FP32), checked against FP32.

inswapper_128 is 138M parameters of convolutions: in FP16 its forward is about 15 % faster on a
current GPU and its weights take half the memory. FP16 can overflow where FP32 does not, so the
converted session is run on a fixed probe next to the FP32 one; when its output is not finite or
differs by more than FP16_TOLERANCE, the FP32 session is kept.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from faceswap.models.check import file_signature
from faceswap.models.derived import find_file, private_dir, publish_file

__all__ = ["FP16_TOLERANCE", "PrecisionChoice", "choose_precision", "fp16_model_file", "probe_difference"]

log = logging.getLogger(__name__)

FP16_TOLERANCE = 0.02
"""Largest accepted difference from FP32 on the probe, in output units (0..1): about 5 of 255 levels."""

PROBE_SEED = 128


@dataclass(frozen=True)
class PrecisionChoice:
    """The session to swap with, its precision, and why."""

    session: ort.InferenceSession
    precision: Literal["fp32", "fp16"]
    difference: float | None
    reason: str


def fp16_model_file(source: Path, cache_dir: Path) -> Path:
    """The FP16 conversion of `source`, made once and kept in the private `cache_dir` (keyed by size and
    mtime, its digest checked before each use: see faceswap.models.derived)."""
    if not private_dir(cache_dir):
        raise PermissionError("the model cache folder is not this user's own")
    signature = file_signature(source)
    stem = f"{source.stem}.fp16-{signature.size}-{signature.mtime_ns}"
    found = find_file(cache_dir, stem)
    if found is not None:
        return found
    # Imported here, by the one start that converts: onnx alone costs a start about 0.7 s of CPU time.
    import onnx
    from onnxconverter_common.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    return publish_file(model.SerializeToString(), cache_dir, stem)


def _probe(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(PROBE_SEED)
    first, second = session.get_inputs()
    ramp = np.linspace(0.0, 1.0, 128, dtype=np.float32)
    crop = np.stack([np.add.outer(ramp, ramp) / 2, np.outer(ramp, ramp), np.add.outer(ramp, -ramp) / 2 + 0.5])
    latent = rng.standard_normal((1, 512)).astype(np.float32)
    return {first.name: crop[None].astype(np.float32), second.name: latent / np.linalg.norm(latent)}


def probe_difference(reference: ort.InferenceSession, candidate: ort.InferenceSession) -> float:
    """Largest difference of the probe's output pixels, clipped to 0..1 like swaps; inf if not finite."""
    feed = _probe(reference)
    expected = np.asarray(reference.run(None, feed)[0], dtype=np.float32)
    got = np.asarray(candidate.run(None, feed)[0], dtype=np.float32)
    if not np.isfinite(got).all():
        return float("inf")
    return float(np.abs(np.clip(expected, 0, 1) - np.clip(got, 0, 1)).max())


def choose_precision(
    fp32: ort.InferenceSession,
    source: Path,
    cache_dir: Path,
    make_session: Callable[[Path], ort.InferenceSession],
) -> PrecisionChoice:
    """FP16 when its conversion loads and matches FP32 on the probe; otherwise FP32, with the reason."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            converted = fp16_model_file(source, cache_dir)
        for warning in caught:
            log.info("FP16 conversion: %s", warning.message)
        fp16 = make_session(converted)
    except Exception as exc:
        log.warning("FP16 swapper unavailable (%s): keeping FP32", type(exc).__name__)
        return PrecisionChoice(fp32, "fp32", None, f"FP16 conversion failed ({type(exc).__name__})")
    difference = probe_difference(fp32, fp16)
    if difference > FP16_TOLERANCE:
        log.warning("FP16 swapper diverges from FP32 by %.4f on the probe: keeping FP32", difference)
        return PrecisionChoice(fp32, "fp32", difference, f"FP16 diverged from FP32 by {difference:.4f}")
    log.info("swapper runs in FP16 (probe difference %.4f)", difference)
    return PrecisionChoice(fp16, "fp16", difference, "FP16 matched FP32 on the probe")
