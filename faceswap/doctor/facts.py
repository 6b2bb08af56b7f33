"""What the doctor looks at on this machine: packages, CUDA, GPUs, model files, memory and disk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from faceswap.config import Settings
from faceswap.constants import CPU_PROVIDER, CUDA_PROVIDER
from faceswap.models.check import ModelCheck, verify_model_dir
from faceswap.runtime.cpus import quota_bound_cpus, usable_cpus
from faceswap.runtime.nvidia import preload_cuda_libraries

__all__ = [
    "PACKAGES",
    "CudaProbe",
    "Facts",
    "Gpu",
    "Memory",
    "gather_facts",
    "installed_versions",
    "probe_cuda",
    "query_gpus",
    "read_memory",
]

PACKAGES = (
    "onnxruntime",
    "onnxruntime-gpu",
    "insightface",
    "onnx",
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "fastapi",
    "uvicorn",
    "pydantic",
    "httpx",
    "runpod",
    "isal",
    "simplejpeg",
    "pybase64",
    "orjson",
)
LOADER_LINE = re.compile(r"(fail|error|cannot open|not found|libcu|libcudnn|cuda)", re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class CudaProbe:
    """What a tiny session asked for CUDA really got."""

    available: tuple[str, ...]
    session_providers: tuple[str, ...] = ()
    error: str | None = None
    loader_messages: tuple[str, ...] = ()

    @property
    def works(self) -> bool:
        """True when the session ran on the CUDA provider."""
        return self.error is None and self.session_providers[:1] == (CUDA_PROVIDER,)


@dataclass(frozen=True)
class Gpu:
    """One GPU as nvidia-smi reports it."""

    name: str
    total_mib: int
    free_mib: int
    driver: str


@dataclass(frozen=True)
class Memory:
    """Memory this process can still use: the machine's available memory, capped by the container's limit."""

    available: int | None
    total: int | None
    container_limit: int | None = None


@dataclass(frozen=True)
class Facts:
    """Everything the checks judge, gathered once."""

    python: tuple[int, int, int]
    packages: Mapping[str, str | None]
    providers_setting: str
    cuda: CudaProbe
    gpus: tuple[Gpu, ...] | None
    gpu_error: str | None
    model_dir: Path
    models: tuple[ModelCheck, ...]
    memory: Memory
    disk_free: int | None
    settings_error: str | None = None
    cpus: int = 1
    cpu_quota: int | None = None
    """CPUs the container's quota allows, when fewer than the process could otherwise use."""
    visible_cpus: int = 1


def installed_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Each distribution's installed version, None when absent."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class _StderrCapture:
    """What native code writes to file descriptor 2 while active (ONNX Runtime's loader errors)."""

    def __init__(self) -> None:
        self.text = ""

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                self.text = ANSI.sub("", sink.read().decode("utf-8", "replace"))


def _probe_model() -> bytes:
    """A one-node ONNX model (y = x + x), small enough to build for every probe."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "cuda_probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def probe_cuda() -> CudaProbe:
    """Run a tiny session on the CUDA provider and report the providers it really got."""
    import numpy as np

    try:
        import onnxruntime as ort
    except (ImportError, OSError) as exc:
        return CudaProbe((), error=f"onnxruntime cannot be imported: {type(exc).__name__}: {str(exc)[:300]}")
    available = tuple(ort.get_available_providers())
    if CUDA_PROVIDER not in available:
        return CudaProbe(available)
    preloaded = preload_cuda_libraries()  # as the service does before its first CUDA session
    capture = _StderrCapture()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with capture.active():
                session = ort.InferenceSession(_probe_model(), providers=[CUDA_PROVIDER, CPU_PROVIDER])
                session.run(None, {"x": np.ones((1, 4), np.float32)})
        except Exception as exc:  # ONNX Runtime's errors derive from Exception only
            error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            messages = _messages("\n".join((*preloaded, capture.text)), caught)
            return CudaProbe(available, error=error, loader_messages=messages)
    messages = _messages("\n".join((*preloaded, capture.text)), caught)
    return CudaProbe(available, tuple(session.get_providers()), loader_messages=messages)


def _messages(stderr: str, caught: Sequence[warnings.WarningMessage], limit: int = 6) -> tuple[str, ...]:
    """ONNX Runtime's loader lines from stderr and its Python warnings, the lines that name a cause."""
    lines = [line.strip() for line in stderr.splitlines() if LOADER_LINE.search(line)]
    lines += [str(warning.message).strip() for warning in caught]
    return tuple(line[:300] for line in lines[:limit])


def _parse_gpus(text: str) -> tuple[Gpu, ...]:
    gpus = []
    for line in text.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(Gpu(parts[0], int(parts[1]), int(parts[2]), parts[3]))
    return tuple(gpus)


def query_gpus(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[tuple[Gpu, ...] | None, str | None]:
    """The GPUs nvidia-smi lists, or None and why not."""
    tool = which("nvidia-smi")
    if tool is None:
        return None, "nvidia-smi is not installed or not on PATH (no NVIDIA driver in this container)"
    command = [
        tool,
        "--query-gpu=name,memory.total,memory.free,driver_version",
        "--format=csv,noheader,nounits",
    ]
    try:
        result = run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"nvidia-smi did not answer ({type(exc).__name__})"
    if result.returncode != 0:
        first = (result.stderr or result.stdout).strip().splitlines()[:1]
        return None, f"nvidia-smi failed: {first[0][:200] if first else f'exit status {result.returncode}'}"
    return _parse_gpus(result.stdout), None


def _meminfo(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        amount = rest.strip().split(" ")[0]
        if amount.isdigit():
            values[name] = int(amount) * 1024
    return values


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def read_memory(proc: Path = Path("/proc"), cgroup: Path = Path("/sys/fs/cgroup")) -> Memory:
    """Available memory from /proc/meminfo, capped by the cgroup (v2 or v1) limit minus its usage."""
    try:
        info = _meminfo((proc / "meminfo").read_text())
    except OSError:
        return Memory(None, None)
    available, total = info.get("MemAvailable"), info.get("MemTotal")
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None and (total is None or limit < total):
            headroom = max(limit - usage, 0)
            return Memory(min(available, headroom) if available is not None else headroom, total, limit)
    return Memory(available, total)


def _disk_free(path: Path) -> int | None:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    for candidate in (path, *path.resolve().parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None


def gather_facts(settings: Settings, settings_error: str | None = None) -> Facts:
    """Look at this machine: packages, CUDA, GPUs, model files, memory and disk."""
    gpus, gpu_error = query_gpus()
    return Facts(
        python=(sys.version_info.major, sys.version_info.minor, sys.version_info.micro),
        packages=installed_versions(),
        providers_setting=settings.providers,
        cuda=probe_cuda(),
        gpus=gpus,
        gpu_error=gpu_error,
        model_dir=settings.model_dir,
        models=tuple(verify_model_dir(settings.model_dir)),
        memory=read_memory(),
        disk_free=_disk_free(settings.model_dir),
        settings_error=settings_error,
        cpus=usable_cpus(),
        cpu_quota=quota_bound_cpus(),
        visible_cpus=os.cpu_count() or 1,
    )
