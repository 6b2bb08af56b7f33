"""The pipelines the harness compares, each behind the same call: JPEG bytes in, base64 PNG out.

- ``reference``: what public face-swap workers run. ``FaceAnalysis('buffalo_l')`` with all five modules,
  prepared at det size 640 (the single size of insightface 0.7.x; 2.1's default adds a 128 pass),
  ``INSwapper.get(paste_back=True)``, PNG through Pillow at its default level (6), base64.
- ``ours``: the service as it ships, nothing added: ``faceswap.models.loader.load_models`` and
  ``faceswap.pipeline.engine.Engine`` over its models, then ``faceswap.pipeline.decode.to_base64``.

Each pipeline's libraries are imported by ``import_libraries`` (the worker calls it before it loads), not
when this module is: a worker of one pipeline must not pay, in its start, for importing the other's.
"""

from __future__ import annotations

import base64
import importlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import onnxruntime as ort

from faceswap.constants import CPU_PROVIDER, CUDA_PROVIDER
from faceswap.models.registry import DETECTOR, RECOGNIZER, SWAPPER

if TYPE_CHECKING:
    from faceswap.models.loader import FaceModels
    from faceswap.pipeline.engine import Engine

__all__ = [
    "LIBRARIES",
    "OURS",
    "PIPELINES",
    "REFERENCE",
    "Ours",
    "Outcome",
    "Pipeline",
    "import_libraries",
    "load_pipeline",
    "ort_providers",
]

OURS, REFERENCE = "ours", "reference"
PIPELINES = (OURS, REFERENCE)

LIBRARIES: dict[str, tuple[str, ...]] = {
    OURS: (
        "faceswap.config",
        "faceswap.models.loader",
        "faceswap.pipeline.encode",
        "faceswap.pipeline.engine",
    ),
    REFERENCE: ("cv2", "numpy", "insightface.app", "insightface.model_zoo", "PIL.Image"),
}
"""The modules each pipeline imports, all of them, before it loads."""


def import_libraries(name: str) -> None:
    """Import what pipeline `name` needs (LIBRARIES): a start's import time, apart from its load time."""
    if name not in LIBRARIES:
        raise ValueError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
    for module in LIBRARIES[name]:
        importlib.import_module(module)


@dataclass
class Outcome:
    """One swap's result: the base64 payload, the target's face count and the time per stage."""

    payload: str
    target_faces: int
    stages_ms: dict[str, float] = field(default_factory=dict)


class Pipeline(Protocol):
    """A loaded pipeline."""

    def session_names(self) -> list[tuple[ort.InferenceSession, str]]:
        """Sessions not created from the model file they stand for, with that file's name."""
        ...

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """Swap the source's first face into the target's `target_index`-th face (left to right)."""
        ...


def ort_providers(choice: str) -> list[str]:
    """ONNX Runtime provider names for --providers (cpu, cuda or auto)."""
    if choice == "cpu":
        return [CPU_PROVIDER]
    if choice == "cuda" or CUDA_PROVIDER in ort.get_available_providers():
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


class Ours:
    """The service's loader and engine, default settings; one Engine per max_dimension over one load."""

    def __init__(self, model_dir: Path, providers: str) -> None:
        from faceswap.config import Settings
        from faceswap.models.loader import load_models

        self.settings = Settings(model_dir=model_dir, providers=providers)
        self.models: FaceModels = load_models(self.settings)
        self.engines: dict[int, Engine] = {}

    def session_names(self) -> list[tuple[ort.InferenceSession, str]]:
        """Every session under its model's file name, as they are made from derived copies (optimized on the
        CPU, FP16 on CUDA): the detector's, the recognizer's, and the swapper's (both halves when it runs in
        two)."""
        swapper = self.models.swapper
        sessions = [swapper.session] if swapper.tail is None else [swapper.session, swapper.tail]
        return [
            (self.models.detector.session, Path(DETECTOR.path).name),
            (self.models.recognizer.session, Path(RECOGNIZER.path).name),
            *((session, Path(SWAPPER.path).name) for session in sessions),
        ]

    def engine(self, max_dimension: int) -> Engine:
        """The engine for images fitted to `max_dimension`, made on first use."""
        from faceswap.pipeline.engine import Engine

        if max_dimension not in self.engines:
            settings = self.settings.model_copy(update={"max_dimension": max_dimension})
            self.engines[max_dimension] = Engine(self.models, settings)
        return self.engines[max_dimension]

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """The engine's swap to PNG, then base64."""
        from faceswap.pipeline.encode import to_base64

        result = self.engine(max_dimension).swap(source, target, target_index=target_index)
        stages = dict(result.timings_ms)
        started = _now()
        payload = to_base64(result.image)
        stages["base64"] = _ms_since(started)
        return Outcome(payload, result.target_faces, stages)


class Reference:
    """FaceAnalysis (all buffalo_l modules, det size 640) + INSwapper.get(paste_back=True) + Pillow PNG."""

    def __init__(self, model_dir: Path, providers: str) -> None:
        from insightface.app import FaceAnalysis
        from insightface.model_zoo import get_model

        names = ort_providers(providers)
        # One dynamic detector session, as 0.7.x had; 2.1 would add a rewritten copy per detection size.
        self.app = FaceAnalysis(
            name=str(model_dir / "buffalo_l"), providers=names, static_shape_sessions=False
        )
        self.app.prepare(ctx_id=0, det_size=(640, 640))
        self.swapper = get_model(str(model_dir / SWAPPER.path), providers=names)

    def session_names(self) -> list[tuple[ort.InferenceSession, str]]:
        """None: every session is created from its model file."""
        return []

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """Decode both, analyse both, swap with paste-back, PNG, base64 (max_dimension is not used)."""
        import cv2
        import numpy as np
        from PIL import Image

        stages: dict[str, float] = {}
        started = _now()
        source_image = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_COLOR)
        target_image = cv2.imdecode(np.frombuffer(target, np.uint8), cv2.IMREAD_COLOR)
        stages["decode"] = _ms_since(started)
        started = _now()
        source_faces = sorted(self.app.get(source_image), key=lambda face: face.bbox[0])
        target_faces = sorted(self.app.get(target_image), key=lambda face: face.bbox[0])
        stages["analyse"] = _ms_since(started)
        started = _now()
        result = self.swapper.get(
            target_image, target_faces[target_index - 1], source_faces[0], paste_back=True
        )
        stages["swap"] = _ms_since(started)
        started = _now()
        buffer = io.BytesIO()
        Image.fromarray(cv2.cvtColor(result, cv2.COLOR_BGR2RGB)).save(buffer, format="PNG")
        stages["encode"] = _ms_since(started)
        started = _now()
        payload = base64.b64encode(buffer.getvalue()).decode("ascii")
        stages["base64"] = _ms_since(started)
        return Outcome(payload, len(target_faces), stages)


def _now() -> float:
    return time.perf_counter()


def _ms_since(started: float) -> float:
    return round((_now() - started) * 1000.0, 2)


def load_pipeline(name: str, model_dir: Path, providers: str) -> Pipeline:
    """Load one of PIPELINES from a stand-in (or real) model folder."""
    if name == REFERENCE:
        return Reference(model_dir, providers)
    if name == OURS:
        return Ours(model_dir, providers)
    raise ValueError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
