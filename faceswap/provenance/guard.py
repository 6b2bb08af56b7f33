"""The content guard: FaceFusion's three NSFW classifiers, a majority vote, before any swap is made.

Per model (FaceFusion's `content_analyser.py`): the frame letterboxed into the model's square (black
padding), RGB / 255, minus the mean, over the deviation; then its score against its threshold:

    nsfw_1  640, mean 0, std 1              max over anchors of the best class score   > 0.2
    nsfw_2  384, mean 0.5, std 0.5          out[0] - out[1]                             > 0.25
    nsfw_3  448, CLIP's mean and std        (out[2] + out[3]) - (out[0] + out[1])       > 10.5

A frame is flagged when a majority of the installed models flag it (2 of 3, FaceFusion's rule). The models
run cheapest first (nsfw_2, nsfw_1, nsfw_3) and stop once the majority is decided: when the first two
agree, the costliest (nsfw_3, two thirds of the guard's work) does not run, and the verdict is FaceFusion's.
A clip is sampled one frame a second and refused when more than 10 % of the sampled frames are flagged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import cv2
import numpy as np
import onnxruntime as ort

from faceswap.errors import ErrorCode, ModelFileError, ModelLoadError, SwapError
from faceswap.models.check import check_model_file, file_crc32
from faceswap.models.loader import provider_options, session_options
from faceswap.models.registry import GUARD_CRC32, GUARD_MODEL_SPECS, ModelSpec
from faceswap.pipeline.arrays import Frame

__all__ = [
    "CLIP_REFUSED_SHARE",
    "GUARD_MODELS",
    "ClipSampler",
    "ContentGuard",
    "GuardModel",
    "guard_install_command",
    "refused",
]

log = logging.getLogger(__name__)

CLIP_REFUSED_SHARE: Final = 0.10
REFUSED_MESSAGE: Final = "The content guard refused the target."
GuardMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class GuardModel:
    """One classifier's contract: input side, normalisation, how its output becomes a score, the threshold."""

    name: str
    side: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    score: Callable[[np.ndarray], float]
    threshold: float


GUARD_MODELS: Final = (
    GuardModel("nsfw_1", 640, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), lambda out: float(out[0, 4:].max()), 0.2),
    GuardModel(
        "nsfw_2", 384, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), lambda out: float(out[0, 0] - out[0, 1]), 0.25
    ),
    GuardModel(
        "nsfw_3",
        448,
        (0.48145466, 0.4578275, 0.40821073),
        (0.26862954, 0.26130258, 0.27577711),
        lambda out: float(out[0, 2] + out[0, 3] - out[0, 0] - out[0, 1]),
        10.5,
    ),
)
CHEAPEST_FIRST: Final = ("nsfw_2", "nsfw_1", "nsfw_3")
"""The order the classifiers run in: 4.7, 38 and 107 GMACs per forward."""


def guard_install_command() -> str:
    """The command that fetches the guard's three models."""
    return "python -m faceswap.models download --with nsfw_1,nsfw_2,nsfw_3"


def refused() -> SwapError:
    """CONTENT_REFUSED: the message says so, nothing more."""
    return SwapError(ErrorCode.CONTENT_REFUSED, REFUSED_MESSAGE)


def letterbox(frame: Frame, side: int) -> np.ndarray:
    """The BGR frame scaled to fit a side×side square, centred on black (FaceFusion's fit_contain_frame)."""
    height, width = frame.shape[:2]
    scale = min(side / height, side / width)
    resized = cv2.resize(frame, (max(1, int(width * scale)), max(1, int(height * scale))))
    canvas = np.zeros((side, side, 3), np.uint8)
    top, left = (side - resized.shape[0]) // 2, (side - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def _input(frame: Frame, model: GuardModel) -> np.ndarray:
    rgb = letterbox(frame, model.side)[:, :, ::-1].astype(np.float32) / 255.0
    normalised = (rgb - np.asarray(model.mean, np.float32)) / np.asarray(model.std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None])


class ContentGuard:
    """The loaded classifiers; `check_image` raises CONTENT_REFUSED for a flagged frame. Thread-safe."""

    def __init__(self, sessions: dict[str, ort.InferenceSession]) -> None:
        self._models = [(model, sessions[model.name]) for model in GUARD_MODELS if model.name in sessions]
        self._order = sorted(self._models, key=lambda pair: CHEAPEST_FIRST.index(pair[0].name))
        self._lock = threading.Lock()
        self.refused = 0

    @property
    def names(self) -> tuple[str, ...]:
        """The classifiers that vote."""
        return tuple(model.name for model, _ in self._models)

    def flagged(self, frame: Frame) -> bool:
        """True when a majority of the classifiers flag the BGR frame (run until the majority is decided)."""
        needed = len(self._order) // 2 + 1
        votes = 0
        for done, (model, session) in enumerate(self._order, start=1):
            output = session.run(None, {"input": _input(frame, model)})[0]
            votes += model.score(np.asarray(output)) > model.threshold
            if votes >= needed or votes + len(self._order) - done < needed:
                break
        return votes >= needed

    def check_image(self, frame: Frame) -> None:
        """CONTENT_REFUSED when the frame is flagged (counted, logged without the image)."""
        if self.flagged(frame):
            self.count_refusal("image")
            raise refused()

    def count_refusal(self, kind: str) -> None:
        """Count and log one refusal (the log line names the kind of input, never its content)."""
        with self._lock:
            self.refused += 1
        log.warning("content guard refused a %s target", kind)

    @classmethod
    def load(
        cls, mode: GuardMode, model_dir: Path, providers: tuple[str, ...], intra_op_threads: int = 0
    ) -> ContentGuard | None:
        """The guard `mode` asks for: None when off (or auto, no model); ModelError when `on` lacks one."""
        if mode == "off":
            return None
        present = [spec for spec in GUARD_MODEL_SPECS if (model_dir / spec.path).exists()]
        if mode == "auto" and not present:
            return None
        missing = [spec.path for spec in GUARD_MODEL_SPECS if spec not in present]
        if mode == "on" and missing:
            raise ModelFileError(
                missing[0],
                "missing",
                f"FACESWAP_CONTENT_GUARD is on but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not in the model folder: run "
                f"`{guard_install_command()}`, or set FACESWAP_CONTENT_GUARD=auto or off.",
            )
        sessions = {spec.name: _session(model_dir, spec, providers, intra_op_threads) for spec in present}
        log.info("content guard on with %s", ", ".join(sessions))
        return cls(sessions)


def _session(
    model_dir: Path, spec: ModelSpec, providers: tuple[str, ...], intra_op_threads: int
) -> ort.InferenceSession:
    path = model_dir / spec.path
    check_model_file(path, spec, model_dir)
    if path.stat().st_size != spec.size:
        log.warning("%s is not FaceFusion's published file (its size differs): used as given", spec.path)
    elif file_crc32(path) != GUARD_CRC32[spec.name]:
        raise ModelFileError(
            spec.path,
            "corrupt",
            f"{spec.path} is not the published file (its CRC32 differs): "
            f"run `{guard_install_command()} --force`.",
        )
    try:
        return ort.InferenceSession(
            str(path),
            sess_options=session_options(intra_op_threads),
            providers=list(providers),
            provider_options=list(provider_options(providers, None)),
        )
    # ONNX Runtime's errors derive from Exception only.
    except Exception as exc:
        reason = f"{spec.path} could not be loaded: run `{guard_install_command()} --force`."
        raise ModelLoadError(reason) from exc


@dataclass
class ClipSampler:
    """The clip rule: frames 0, fps, 2·fps… checked; refused when over 10 % of the sampled are flagged."""

    guard: ContentGuard
    fps: float
    expected_frames: int
    sampled: int = 0
    flagged: int = 0
    _every: int = field(init=False)

    def __post_init__(self) -> None:
        self._every = max(1, round(self.fps))

    def see(self, number: int, frame: Frame) -> None:
        """Check frame `number` (from 0) if it is sampled; CONTENT_REFUSED as soon as the clip cannot pass."""
        if number % self._every:
            return
        self.sampled += 1
        self.flagged += self.guard.flagged(frame)
        expected = max(self.sampled, -(-self.expected_frames // self._every))
        if self.flagged > CLIP_REFUSED_SHARE * expected:
            self.guard.count_refusal("clip")
            raise refused()

    def finish(self) -> None:
        """The verdict on the whole clip, once its last frame was seen."""
        if self.sampled and self.flagged > CLIP_REFUSED_SHARE * self.sampled:
            self.guard.count_refusal("clip")
            raise refused()
