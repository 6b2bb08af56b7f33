"""Find, check and load the three models a swap needs, once per process.

Only the detector (SCRFD), the recognizer (ArcFace) and the swapper (inswapper) are loaded, on the
providers ``Settings.providers`` names: the first two as ports of insightface's classes
(faceswap.models.scrfd, faceswap.models.arcface: importing insightface, and the onnx package it needs,
would cost a start about 1 s of CPU time), the swapper as an ONNX Runtime session with its emap read
straight from the file (``INSwapper`` would parse all of it again). On the CPU each session comes from
ONNX Runtime's optimized copy of its file, made once, whose digest is trusted while the copy stays the
same file (faceswap.models.trusted). Each file is checked first (faceswap.models.check), so a missing file,
a Git LFS pointer, a cut-off download or a model in the wrong slot is reported by name with its fix
instead of as an ONNX Runtime traceback.

Command line: ``python -m faceswap.models download [--dir DIR] [--force] [--manifest FILE]`` and
``python -m faceswap.models verify [--dir DIR] [--checksums]`` (see faceswap.models.command).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from faceswap.config import Settings
from faceswap.constants import CPU_PROVIDER, CUDA_PROVIDER
from faceswap.errors import ModelError, ModelFileError, ModelLoadError
from faceswap.models.arcface import ArcFace
from faceswap.models.check import (
    ModelCheck,
    check_model_file,
    file_signature,
    last_initializer,
    verify_model_dir,
)
from faceswap.models.derived import cache_dir, private_dir, publish_folder, verified_folder
from faceswap.models.precision import choose_precision
from faceswap.models.registry import (
    DETECTOR,
    RECOGNIZER,
    SWAPPER,
    SYNTHETIC_PRODUCER,
    ModelSpec,
)
from faceswap.models.scrfd import Scrfd
from faceswap.models.split import split_at_decoder, split_halves
from faceswap.runtime.cpus import quota_bound_cpus
from faceswap.runtime.memory import is_out_of_memory, map_large_allocations, release_free_heap
from faceswap.runtime.nvidia import preload_cuda_libraries

__all__ = [
    "FaceModels",
    "ModelCheck",
    "ModelError",
    "ModelFileError",
    "ModelLoadError",
    "Swapper",
    "cache_dir",
    "clear_model_cache",
    "load_cpu_swapper",
    "load_models",
    "optimized_swapper_copy",
    "provider_options",
    "resolve_providers",
    "session_options",
    "verify_model_dir",
]

log = logging.getLogger(__name__)

# Session options that save an optimized model with its weights in a separate file.
_EXTERNAL_WEIGHTS = "session.optimized_model_external_initializers"


@dataclass
class Swapper:
    """What a swap uses of inswapper_128: its session, the session's input names and emap.

    On the CPU, `session` may be the first half of the model and `tail` the second, which reads the first
    half's one output (faceswap.models.split); `tail` is None when `session` is the whole model.
    """

    session: ort.InferenceSession
    input_names: list[str]
    emap: np.ndarray
    tail: ort.InferenceSession | None = None


@dataclass(frozen=True)
class FaceModels:
    """The loaded models and the execution providers their sessions run on (first = preferred)."""

    detector: Scrfd
    recognizer: ArcFace
    swapper: Swapper
    providers: tuple[str, ...]
    precision: str = "fp32"
    synthetic: bool = False


@dataclass(frozen=True)
class _Plan:
    """How to create every session of one load."""

    providers: tuple[str, ...]
    options: tuple[dict[str, str], ...]
    strict: bool


_CacheKey = tuple[object, ...]


class _ModelCache:
    """The one process-wide slot: the models of the last load, and what they were loaded from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: _CacheKey | None = None
        self.models: FaceModels | None = None


_cache = _ModelCache()


def resolve_providers(choice: str, available: Sequence[str]) -> tuple[str, ...]:
    """The providers to ask ONNX Runtime for: CUDA first when chosen (or offered, under "auto"), then CPU."""
    if choice == "cpu":
        return (CPU_PROVIDER,)
    if CUDA_PROVIDER in available:
        return (CUDA_PROVIDER, CPU_PROVIDER)
    if choice == "cuda":
        raise ModelLoadError(
            "CUDA was requested (FACESWAP_PROVIDERS=cuda) but ONNX Runtime has no CUDA provider: install "
            "onnxruntime-gpu instead of onnxruntime, or set FACESWAP_PROVIDERS=cpu or auto."
        )
    return (CPU_PROVIDER,)


def provider_options(providers: Sequence[str], gpu_mem_limit: int | None) -> tuple[dict[str, str], ...]:
    """Options for each provider, in order."""
    options: list[dict[str, str]] = []
    for provider in providers:
        if provider != CUDA_PROVIDER:
            options.append({})
            continue
        cuda = {
            # Grow the arena by what a request needs, not by doubling: varying image sizes would
            # otherwise leave the arena holding far more than the largest request used.
            "arena_extend_strategy": "kSameAsRequested",
            # EXHAUSTIVE benchmarks every conv algorithm on each new input shape: about 0.8 s on the
            # first run of a session against 0.08 s with HEURISTIC, at about the same steady speed.
            "cudnn_conv_algo_search": "HEURISTIC",
            # Copy inputs on the compute stream so a run never reads a half-copied tensor.
            "do_copy_in_default_stream": "1",
        }
        if gpu_mem_limit is not None:
            cuda["gpu_mem_limit"] = str(gpu_mem_limit)
        options.append(cuda)
    return tuple(options)


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    """Fresh session options: every graph optimisation, `intra_op_threads` CPU threads (0: one per core,
    or one per CPU of the container's quota when that is fewer: ONNX Runtime counts the host's cores).

    The CPU threads spin between the operators of a run, and stop as soon as it returns
    (`session.force_spinning_stop`): left spinning, they took 30 to 70 ms of the two cores from the
    PNG encode of a 12-megapixel frame that follows the swapper's run, and made the run no faster.

    The CPU arena and memory patterns are off: with them ONNX Runtime kept every buffer of the first run
    for good (about 190 MB of the synthetic stand-ins' serving memory); without them each run's buffers are
    freed as it ends; the large ones have pages of their own (`map_large_allocations`, set by `load_models`)
    and the engine hands the rest back (`release_free_heap`) before the swapper's run and after each request.
    The CUDA provider's arena is its own (`provider_options`).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads or quota_bound_cpus() or 0
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return options


def _cache_key(settings: Settings) -> _CacheKey | None:
    """What a load depends on, files' identities included; None when a file cannot be stat'ed."""
    model_dir = settings.model_dir.resolve()
    try:
        files = tuple(file_signature(model_dir / spec.path) for spec in (DETECTOR, RECOGNIZER, SWAPPER))
    except OSError:
        return None
    return (
        model_dir,
        files,
        settings.providers,
        settings.gpu_mem_limit,
        settings.intra_op_threads,
        settings.det_size,
        settings.det_thresh,
    )


def _load_failure(spec: ModelSpec, exc: BaseException) -> ModelLoadError:
    if is_out_of_memory(exc):
        reason = (
            f"There was not enough memory to load {spec.path}: free memory on the machine or GPU, "
            "or raise FACESWAP_GPU_MEM_LIMIT."
        )
    else:
        reason = (
            f"ONNX Runtime could not load {spec.path} although the file looks complete: download it again, "
            "and check that onnxruntime is current (1.20 or later)."
        )
    return ModelLoadError(reason, spec.path)


def _load_one(path: Path, spec: ModelSpec, plan: _Plan, settings: Settings) -> ort.InferenceSession:
    """One model's session; its stdout chatter (ONNX Runtime's) goes to the log.

    On the CPU the session comes from ONNX Runtime's optimized copy of the file (made once, as the
    swapper's); elsewhere, or without a copy, from the file with every optimisation.
    """
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter):
            session = _optimized_session(path, plan, settings)
            if session is not None:
                return session
            return ort.InferenceSession(
                str(path),
                sess_options=session_options(settings.intra_op_threads),
                providers=list(plan.providers),
                provider_options=list(plan.options),
            )
    # ONNX Runtime's errors derive from Exception only.
    except Exception as exc:
        log.exception("loading %s failed", spec.path)
        raise _load_failure(spec, exc) from exc
    finally:
        if chatter.getvalue().strip():
            log.debug("while loading %s: %s", spec.path, chatter.getvalue().strip())


def _wrap(spec: ModelSpec, make: Any) -> Any:
    """`make()` (the model's class over its session); ModelLoadError when the model does not fit it."""
    try:
        return make()
    except ValueError as exc:
        raise ModelLoadError(
            f"{spec.path} does not work as the {spec.label} ({exc}): replace it with the official file.",
            spec.path,
        ) from exc


def _optimized_session(path: Path, plan: _Plan, settings: Settings) -> ort.InferenceSession | None:
    """A CPU session made from the optimized copy of `path`; None on other providers or without a copy."""
    if plan.providers[0] != CPU_PROVIDER:
        return None
    copy = _optimized_copy(path, cache_dir(settings.model_dir), plan, settings)
    if copy is None:
        return None
    options = session_options(settings.intra_op_threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(
        str(copy), sess_options=options, providers=list(plan.providers), provider_options=list(plan.options)
    )


def _activated(model: Any, spec: ModelSpec, plan: _Plan) -> _Plan:
    """The plan for the next models, given the providers this one's session really got."""
    session = model.session
    active = tuple(session.get_providers())
    if not active or active[0] == plan.providers[0]:
        if plan.providers[0] == CUDA_PROVIDER:
            # Never let a CUDA failure at run time silently move a session to the CPU for good.
            session.disable_fallback()
        return plan
    if plan.strict:
        raise ModelLoadError(
            f"CUDA was requested but ONNX Runtime started {spec.path} on the CPU: check that the CUDA and "
            "cuDNN libraries onnxruntime-gpu needs are installed and found (nvidia-smi, LD_LIBRARY_PATH).",
            spec.path,
        )
    log.warning(
        "CUDA is installed but did not start for %s (missing CUDA or cuDNN libraries?): running on the CPU",
        spec.path,
    )
    return _Plan((CPU_PROVIDER,), ({},), strict=False)


def _load(settings: Settings) -> FaceModels:
    model_dir = settings.model_dir
    for spec in (DETECTOR, RECOGNIZER, SWAPPER):
        check_model_file(model_dir / spec.path, spec, model_dir)
    providers = resolve_providers(settings.providers, ort.get_available_providers())
    if CUDA_PROVIDER in providers:
        # CUDA and cuDNN come as NVIDIA's wheels (onnxruntime-gpu[cuda,cudnn]), off the loader's path.
        for line in preload_cuda_libraries():
            log.warning("CUDA libraries: %s", line)
    plan = _Plan(providers, provider_options(providers, settings.gpu_mem_limit), settings.providers == "cuda")
    # One dynamic-shape detector session for every input size: our detection size follows each image's
    # aspect (multiples of 32), and a static session per size cost 5-7x the first detection at each new
    # size and 2.6x the memory over 14 sizes on the synthetic pack, with no steady-state gain.
    session = _load_one(model_dir / DETECTOR.path, DETECTOR, plan, settings)
    size = (settings.det_size, settings.det_size)
    detector = _wrap(DETECTOR, lambda: Scrfd(session, size, settings.det_thresh))
    plan = _activated(detector, DETECTOR, plan)
    path = model_dir / RECOGNIZER.path
    session = _load_one(path, RECOGNIZER, plan, settings)
    recognizer = _wrap(RECOGNIZER, lambda: ArcFace(path, session))
    plan = _activated(recognizer, RECOGNIZER, plan)
    swapper = _load_swapper(model_dir, plan, settings)
    plan = _activated(swapper, SWAPPER, plan)
    precision = "fp32"
    if settings.fp16 and plan.providers[0] == CUDA_PROVIDER:
        choice = choose_precision(
            swapper.session,
            model_dir / SWAPPER.path,
            cache_dir(model_dir),
            lambda path: ort.InferenceSession(
                str(path),
                sess_options=session_options(settings.intra_op_threads),
                providers=list(plan.providers),
                provider_options=list(plan.options),
            ),
        )
        # Load time, before the models are shared: the FP32 session is released here.
        swapper.session, precision = choice.session, choice.precision
    log.info("models loaded from %s on %s, swapper in %s", model_dir, ", ".join(plan.providers), precision)
    synthetic = swapper.session.get_modelmeta().producer_name == SYNTHETIC_PRODUCER
    return FaceModels(detector, recognizer, swapper, plan.providers, precision, synthetic)


def load_cpu_swapper(settings: Settings) -> Swapper:
    """The swapper alone on the CPU provider: the fallback after CUDA runs out of memory."""
    return _load_swapper(settings.model_dir, _Plan((CPU_PROVIDER,), ({},), strict=False), settings)


def optimized_swapper_copy(settings: Settings) -> Path | None:
    """The CPU provider's optimized copy of the swapper, made now if missing (None: none can be made)."""
    plan = _Plan((CPU_PROVIDER,), ({},), strict=False)
    return _optimized_copy(
        settings.model_dir / SWAPPER.path, cache_dir(settings.model_dir), plan, settings, split=True
    )


def _load_swapper(model_dir: Path, plan: _Plan, settings: Settings) -> Swapper:
    """The swapper's session (on the CPU, from its optimized copy: its two halves when it has them) and
    emap, read without INSwapper."""
    path = model_dir / SWAPPER.path
    options = session_options(settings.intra_op_threads)
    source = (
        _optimized_copy(path, cache_dir(model_dir), plan, settings, split=True)
        if plan.providers[0] == CPU_PROVIDER
        else None
    )
    if source is not None:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    halves = split_halves(source) if source is not None else None

    def session_of(model: Path) -> ort.InferenceSession:
        return ort.InferenceSession(
            str(model),
            sess_options=options,
            providers=list(plan.providers),
            provider_options=list(plan.options),
        )

    try:
        if halves is not None:
            session, tail = session_of(halves[0]), session_of(halves[1])
        else:
            session, tail = session_of(source or path), None
        emap = last_initializer(path)
    # ONNX Runtime's errors derive from Exception only; a malformed file raises ValueError.
    except Exception as exc:
        log.exception("loading %s failed", SWAPPER.path)
        raise _load_failure(SWAPPER, exc) from exc
    return Swapper(session, [value.name for value in session.get_inputs()], emap, tail)


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def _optimized_copy(
    path: Path, directory: Path, plan: _Plan, settings: Settings, *, split: bool = False
) -> Path | None:
    """ONNX Runtime's fully optimized graph of `path`, weights in a file beside it, made once per key;
    with `split`, also its two halves at the decoder when it parts there (faceswap.models.split).

    With every optimisation on, ONNX Runtime spends seconds on each start rewriting the 528 MiB swapper
    (NCHWc layout, weight reordering); a session made from this copy with optimisations off skips that
    and memory-maps the weights. The rewrite is specific to the CPU, so the key holds the CPU model with
    the file's identity and ONNX Runtime's version (a copy left by another key stays: remove old ones by
    hand). The folder is private and the copy's digest is checked before each use
    (faceswap.models.derived). None, to load the original, when no copy can be made.
    """
    if not private_dir(directory):
        return None
    signature = file_signature(path)
    identity: tuple[object, ...] = (
        path.name,
        signature.size,
        signature.mtime_ns,
        ort.__version__,
        plan.providers,
        _cpu_model(),
    )
    if split:
        identity += ("split at the decoder",)
    key = hashlib.blake2b(repr(identity).encode(), digest_size=8).hexdigest()
    folder = directory / f"optimized-{key}"
    if verified_folder(folder):
        return folder / "model.onnx"
    scratch = directory / f"optimized-{key}.{os.getpid()}"
    published = False
    try:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        writer = session_options(settings.intra_op_threads)
        writer.optimized_model_filepath = str(scratch / "model.onnx")
        writer.add_session_config_entry(f"{_EXTERNAL_WEIGHTS}_file_name", "weights.bin")
        writer.add_session_config_entry(f"{_EXTERNAL_WEIGHTS}_min_size_in_bytes", "1024")
        ort.InferenceSession(
            str(path),
            sess_options=writer,
            providers=list(plan.providers),
            provider_options=list(plan.options),
        )
        if split:
            split_at_decoder(scratch / "model.onnx")
        publish_folder(scratch, folder)
        published = True
    # ONNX Runtime's errors derive from Exception only; a full or read-only disk raises OSError; when
    # another process published first, the rename fails and its copy is used once it checks out.
    except Exception as exc:
        if not folder.exists():
            log.warning("no optimized copy of %s (%s): loading the file", path.name, type(exc).__name__)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder / "model.onnx" if published or verified_folder(folder) else None


def load_models(settings: Settings) -> FaceModels:
    """The models under settings.model_dir, loaded once: the same object until a file or setting changes."""
    with _cache.lock:
        key = _cache_key(settings)
        if key is not None and key == _cache.key and _cache.models is not None:
            return _cache.models
        _cache.key, _cache.models = None, None
        map_large_allocations()
        models = _load(settings)
        release_free_heap()
        _cache.key, _cache.models = key, models
        return models


def clear_model_cache() -> None:
    """Forget the loaded models (tests)."""
    with _cache.lock:
        _cache.key, _cache.models = None, None
