"""The doctor's judgement: each fact about the machine as a finding, ok, warn, fail or info."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from faceswap.constants import CUDA_PROVIDER, GiB, MiB, describe_size
from faceswap.doctor.facts import CudaProbe, Gpu, Memory
from faceswap.models.catalog import PIPELINE_NOTICE, ModelEntry
from faceswap.models.check import ModelCheck
from faceswap.models.registry import SYNTHETIC_NOTICE

__all__ = [
    "REQUIRED",
    "Check",
    "check_cpus",
    "check_cuda",
    "check_disk",
    "check_gpu",
    "check_licences",
    "check_memory",
    "check_models",
    "check_packages",
    "check_python",
]

CheckStatus = Literal["ok", "warn", "fail", "info"]

REQUIRED = (
    "insightface",
    "onnx",
    "numpy",
    "fastapi",
    "uvicorn",
    "pydantic",
    "httpx",
    "isal",
    "simplejpeg",
    "pybase64",
    "orjson",
)
MIN_PYTHON = (3, 11)
MIN_DRIVER_MAJOR = 580
"""CUDA 13 needs an NVIDIA driver of the 580 series or later; onnxruntime-gpu 1.31 is built for CUDA 13."""
GPU_MEMORY_NEEDED = 2 * GiB
RAM_NEEDED = 2 * GiB
RAM_COMFORTABLE = 4 * GiB
DISK_HEADROOM = 512 * MiB


@dataclass(frozen=True)
class Check:
    """One finding: a name, a status and one sentence, with detail lines when they help."""

    name: str
    status: CheckStatus
    summary: str
    details: tuple[str, ...] = ()


def check_python(version: tuple[int, int, int]) -> Check:
    """Python 3.11 or later."""
    text = ".".join(str(part) for part in version)
    if version[:2] < MIN_PYTHON:
        return Check("python", "fail", f"Python {text} is too old: insightface 2.1 needs 3.11 or later.")
    return Check("python", "ok", f"Python {text}.")


def check_packages(versions: Mapping[str, str | None]) -> Check:
    """The required packages, exactly one ONNX Runtime, and OpenCV without the GUI build."""
    found = (", ".join(f"{name} {version}" for name, version in versions.items() if version),)
    missing = [name for name in REQUIRED if not versions.get(name)]
    if not (versions.get("opencv-python-headless") or versions.get("opencv-python")):
        missing.append("opencv-python-headless")
    if missing:
        return Check(
            "packages",
            "fail",
            f"Missing: {', '.join(missing)}; install requirements.lock (make run does).",
            found,
        )
    runtimes = [name for name in ("onnxruntime", "onnxruntime-gpu") if versions.get(name)]
    if not runtimes:
        return Check("packages", "fail", "No ONNX Runtime is installed: install onnxruntime-gpu.", found)
    if len(runtimes) == 2:
        return Check(
            "packages",
            "fail",
            "Both onnxruntime and onnxruntime-gpu are installed and share one module, so the CUDA build may "
            "be shadowed: uninstall both, then install onnxruntime-gpu alone.",
            found,
        )
    if versions.get("opencv-python"):
        return Check(
            "packages",
            "warn",
            "opencv-python (the GUI build, which needs OpenGL libraries) is installed: in a container, "
            "uninstall it and keep opencv-python-headless.",
            found,
        )
    return Check("packages", "ok", f"One ONNX Runtime ({runtimes[0]}) and OpenCV headless.", found)


def check_cuda(probe: CudaProbe, providers_setting: str, gpus: tuple[Gpu, ...] | None) -> Check:
    """Whether CUDA really ran a session, judged by what the service is asked to use and what is there."""
    if probe.works:
        return Check("cuda", "ok", f"CUDA works: a test session ran on {CUDA_PROVIDER}.")
    if not probe.available and probe.error:
        summary = "CUDA not available: ONNX Runtime itself cannot be imported (see below); reinstall it."
    elif CUDA_PROVIDER not in probe.available:
        summary = (
            "CUDA not available: this ONNX Runtime has no CUDA provider (it offers "
            f"{', '.join(probe.available) or 'nothing'}); for a GPU install onnxruntime-gpu, not onnxruntime."
        )
    elif probe.error:
        summary = "CUDA not available: the CUDA provider is installed but a test session on it failed."
    else:
        summary = (
            "CUDA not available: the CUDA provider is installed but ONNX Runtime fell back to "
            f"{', '.join(probe.session_providers) or 'nothing'} (CUDA or cuDNN libraries missing?)."
        )
    details = tuple(filter(None, (probe.error, *probe.loader_messages)))
    if providers_setting == "cpu":
        return Check("cuda", "info", f"{summary} Not needed: FACESWAP_PROVIDERS=cpu.", details)
    if providers_setting == "cuda" or gpus:
        return Check("cuda", "fail", f"{summary} The swaps would run on the CPU or not at all.", details)
    return Check("cuda", "warn", f"{summary} No GPU is visible, so the service will run on the CPU.", details)


def _driver_major(driver: str) -> int | None:
    head = driver.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def check_gpu(gpus: tuple[Gpu, ...] | None, error: str | None) -> Check:
    """The GPUs nvidia-smi sees, their free memory and whether the driver runs CUDA 13."""
    if gpus is None:
        return Check("gpu", "info", f"No GPU: {error or 'nvidia-smi is not installed'}.")
    if not gpus:
        return Check("gpu", "info", "No GPU: nvidia-smi lists none.")
    details = tuple(
        f"{gpu.name}: {gpu.free_mib:,} MiB free of {gpu.total_mib:,} MiB, driver {gpu.driver}" for gpu in gpus
    )
    first = gpus[0]
    major = _driver_major(first.driver)
    if major is not None and major < MIN_DRIVER_MAJOR:
        return Check(
            "gpu",
            "fail",
            f"Driver {first.driver} is older than the {MIN_DRIVER_MAJOR} series that CUDA 13 needs: choose "
            "workers with CUDA 13 (RunPod: allowed CUDA versions) or update the driver.",
            details,
        )
    if first.free_mib * MiB < GPU_MEMORY_NEEDED:
        return Check(
            "gpu",
            "warn",
            f"{first.name} has only {first.free_mib:,} MiB free; the models need about "
            f"{GPU_MEMORY_NEEDED // MiB:,} MiB: stop other GPU processes or use a larger GPU.",
            details,
        )
    return Check("gpu", "ok", f"{first.name}, {first.free_mib:,} MiB free.", details)


def check_licences(entries: Sequence[ModelEntry]) -> Check:
    """Every known model's licence and whether it is installed, with what they mean for the pipeline."""
    details = tuple(
        f"{entry.name:<24} {'installed' if entry.installed else 'absent':<9} "
        f"commercial use: {entry.commercial_use:<7} {entry.licence}"
        for entry in entries
    )
    return Check("model licences", "info", PIPELINE_NOTICE, details)


def check_models(model_dir: Path, checks: Sequence[ModelCheck]) -> list[Check]:
    """One finding per model file, with the fault and its fix."""
    findings = []
    for check in checks:
        name = f"model {check.spec.path}"
        if check.fault is None:
            size = f"{check.size:,} bytes" if check.size is not None else "present"
            notice = f" It is one of the {SYNTHETIC_NOTICE}." if check.synthetic else ""
            findings.append(Check(name, "ok", f"The {check.spec.label} checks out ({size}).{notice}"))
            continue
        kind = "Git LFS pointer" if check.fault.kind == "lfs_pointer" else check.fault.kind.replace("_", " ")
        findings.append(Check(name, "fail", f"{kind}: {check.fault.reason}", (f"model folder: {model_dir}",)))
    return findings


def check_cpus(usable: int, quota: int | None, visible: int) -> Check:
    """The CPUs the service's threads are sized to: the container's quota when it has one."""
    if quota is None:
        return Check("cpus", "ok", f"{usable} CPUs; ONNX Runtime and the PNG writer use them all.")
    return Check(
        "cpus",
        "info",
        f"{usable} CPUs usable: the container's CPU quota allows {quota} of the {visible} this machine "
        f"shows, so ONNX Runtime and the PNG writer run {usable} threads, not {visible}.",
    )


def check_memory(memory: Memory, needed: int = RAM_NEEDED, comfortable: int = RAM_COMFORTABLE) -> Check:
    """Enough free memory to load the models and serve."""
    if memory.available is None:
        return Check("memory", "info", "Free memory is unknown on this system.")
    limit = f", container limit {describe_size(memory.container_limit)}" if memory.container_limit else ""
    summary = f"{describe_size(memory.available)} available{limit}"
    if memory.available < needed:
        return Check(
            "memory",
            "fail",
            f"{summary}: the models need about {describe_size(needed)} to load; "
            "give the container more memory.",
        )
    if memory.available < comfortable:
        return Check("memory", "warn", f"{summary}: enough to load, little to spare for large images.")
    return Check("memory", "ok", f"{summary}.")


def check_disk(free: int | None, models: Sequence[ModelCheck], path: Path) -> Check:
    """Room for the model files that still have to be downloaded, plus headroom."""
    if free is None:
        return Check("disk", "info", f"Free disk space at {path} is unknown.")
    needed = DISK_HEADROOM + sum(check.spec.size for check in models if not check.ok)
    if free < needed:
        return Check(
            "disk",
            "fail",
            f"{describe_size(free)} free where the models go; {describe_size(needed)} needed: "
            "raise the container disk.",
        )
    return Check("disk", "ok", f"{describe_size(free)} free where the models go.")
