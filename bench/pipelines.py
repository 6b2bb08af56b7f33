"""The pipelines the harness compares, each behind the same call: JPEG bytes in, base64 PNG out.

- ``reference``: what public face-swap workers run. ``FaceAnalysis('buffalo_l')`` with all five modules,
  prepared at det size 640 (the single size of insightface 0.7.x; 2.1's default adds a 128 pass),
  ``INSwapper.get(paste_back=True)``, PNG through Pillow at its default level (6), base64.
- ``ours``: the service's engine (faceswap.engine.Engine over faceswap.models.load_models).
- ``ours-lean``: ours with the swapper loaded as proposed in docs/benchmarks.md (no second parse of the
  whole file to read emap); its swap path is ours unchanged.
- ``ours-cached``: ours-lean, the swapper's session created from ONNX Runtime's optimized copy of the file
  (made once, weights in a separate file that ONNX Runtime memory-maps), as also proposed there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mmap
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from insightface.app import FaceAnalysis
from insightface.model_zoo import get_model
from onnx import numpy_helper
from PIL import Image

from faceswap.config import Settings
from faceswap.engine import Engine
from faceswap.imaging import to_base64
from faceswap.modelfiles import DETECTOR, RECOGNIZER, SWAPPER
from faceswap.models import FaceModels, load_models, provider_options, resolve_providers, session_options

__all__ = [
    "OPTIMIZED_DIR",
    "PIPELINES",
    "LeanSwapper",
    "Outcome",
    "Pipeline",
    "load_pipeline",
    "optimized_copy",
    "ort_providers",
    "read_last_initializer",
]

PIPELINES = ("ours", "reference", "ours-lean", "ours-cached")
OPTIMIZED_DIR = ".ort-optimized"
"""Where ours-cached keeps optimized copies, under the model folder."""
_LOADERS = {"ours": "today", "ours-lean": "lean", "ours-cached": "cached"}


@dataclass
class Outcome:
    """One swap's result: the base64 payload, the target's face count and the time per stage."""

    payload: str
    target_faces: int
    stages_ms: dict[str, float] = field(default_factory=dict)


class Pipeline(Protocol):
    """A loaded pipeline."""

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """Swap the source's first face into the target's `target_index`-th face (left to right)."""
        ...


def ort_providers(choice: str) -> list[str]:
    """ONNX Runtime provider names for --providers (cpu, cuda or auto)."""
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda" or "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _varint(buf: mmap.mmap, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _last_field(buf: mmap.mmap, start: int, end: int, number: int) -> tuple[int, int]:
    """(start, end) of the last length-delimited field `number` in buf[start:end], skipping all others."""
    found = (-1, -1)
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            continue
        if wire in (1, 5):
            pos += 8 if wire == 1 else 4
            continue
        if wire != 2:
            raise ValueError("not an ONNX model")
        length, pos = _varint(buf, pos)
        if key >> 3 == number:
            found = (pos, pos + length)
        pos += length
    if found[0] < 0:
        raise ValueError(f"field {number} not found")
    return found


def read_last_initializer(path: Path) -> np.ndarray:
    """The graph's last initializer, read by skipping every other field of the file (no full parse)."""
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        graph = _last_field(buf, 0, len(buf), 7)  # ModelProto.graph
        start, end = _last_field(buf, *graph, 5)  # GraphProto.initializer
        tensor = onnx.TensorProto.FromString(buf[start:end])
    return numpy_helper.to_array(tensor)


@dataclass(frozen=True)
class LeanSwapper:
    """What the engine uses of INSwapper: the session, its input names and emap."""

    session: Any
    input_names: list[str]
    emap: np.ndarray


def _cache_key(path: Path, providers: Sequence[str]) -> str:
    """What an optimized copy depends on: the file, ONNX Runtime, the providers and the CPU."""
    stat = path.stat()
    identity = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, ort.__version__, tuple(providers))
    return hashlib.blake2b(
        repr((identity, platform.machine(), _cpu_model())).encode(), digest_size=8
    ).hexdigest()


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def optimized_copy(
    path: Path, cache_dir: Path, providers: Sequence[str], options: Sequence[dict[str, str]], threads: int
) -> Path:
    """ONNX Runtime's fully optimized graph of `path`, its weights in a separate file, made once per key."""
    folder = cache_dir / _cache_key(path, providers)
    model = folder / "model.onnx"
    if model.is_file():
        return model
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "model.partial"
    writer = session_options(threads)
    writer.optimized_model_filepath = str(partial)
    writer.add_session_config_entry("session.optimized_model_external_initializers_file_name", "weights.bin")
    writer.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(
        str(path), sess_options=writer, providers=list(providers), provider_options=list(options)
    )
    partial.replace(model)
    return model


class Ours:
    """The service's engine; one Engine per max_dimension over one set of loaded models.

    loader: "today" (faceswap.models.load_models), "lean" (the swapper without INSwapper's second parse)
    or "cached" (lean, and the swapper's session from an optimized copy whose weights are memory-mapped).
    """

    def __init__(self, model_dir: Path, providers: str, *, loader: str = "today") -> None:
        self.settings = Settings(model_dir=model_dir, providers=providers)
        self.models = (
            load_models(self.settings) if loader == "today" else self._lean_models(loader == "cached")
        )
        self.engines: dict[int, Any] = {}

    def _lean_models(self, cached: bool) -> Any:
        """load_models as proposed: detector and recognizer as today, the swapper without INSwapper."""
        settings = self.settings
        providers = resolve_providers(settings.providers, ort.get_available_providers())
        options = list(provider_options(providers, settings.gpu_mem_limit))

        def load(path: Path, **extra: Any) -> Any:
            return get_model(
                str(path),
                providers=list(providers),
                provider_options=options,
                sess_options=session_options(settings.intra_op_threads),
                **extra,
            )

        detector = load(settings.model_dir / DETECTOR.path, static_shape_sessions=False)
        detector.prepare(0, input_size=(settings.det_size, settings.det_size), det_thresh=settings.det_thresh)
        recognizer = load(settings.model_dir / RECOGNIZER.path)
        path = settings.model_dir / SWAPPER.path
        source, sess_options = path, session_options(settings.intra_op_threads)
        if cached:
            cache = settings.model_dir / OPTIMIZED_DIR
            source = optimized_copy(path, cache, providers, options, settings.intra_op_threads)
            sess_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(
            str(source), sess_options=sess_options, providers=list(providers), provider_options=options
        )
        swapper = LeanSwapper(session, [i.name for i in session.get_inputs()], read_last_initializer(path))
        return FaceModels(detector, recognizer, swapper, tuple(providers))

    def _engine(self, max_dimension: int) -> Any:
        if max_dimension not in self.engines:
            settings = Settings.model_validate({**self.settings.model_dump(), "max_dimension": max_dimension})
            self.engines[max_dimension] = Engine(self.models, settings)
        return self.engines[max_dimension]

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """The engine's swap to PNG, then base64."""
        result = self._engine(max_dimension).swap(source, target, target_index=target_index)
        stages = dict(result.timings_ms)
        started = _now()
        payload = to_base64(result.image)
        stages["base64"] = _ms_since(started)
        return Outcome(payload, result.target_faces, stages)


class Reference:
    """FaceAnalysis (all buffalo_l modules, det size 640) + INSwapper.get(paste_back=True) + Pillow PNG."""

    def __init__(self, model_dir: Path, providers: str) -> None:
        names = ort_providers(providers)
        # One dynamic detector session, as 0.7.x had; 2.1 would add a rewritten copy per detection size.
        self.app = FaceAnalysis(
            name=str(model_dir / "buffalo_l"), providers=names, static_shape_sessions=False
        )
        self.app.prepare(ctx_id=0, det_size=(640, 640))
        self.swapper = get_model(str(model_dir / SWAPPER.path), providers=names)

    def swap(self, source: bytes, target: bytes, target_index: int, max_dimension: int) -> Outcome:
        """Decode both, analyse both, swap with paste-back, PNG, base64 (max_dimension is not used)."""
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
    if name == "reference":
        return Reference(model_dir, providers)
    if name in _LOADERS:
        return Ours(model_dir, providers, loader=_LOADERS[name])
    raise ValueError(f"unknown pipeline {name!r}; choose one of {', '.join(PIPELINES)}")
