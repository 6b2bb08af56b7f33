"""The doctor: what a worker needs, checked where it runs (``python runpod_debug.py [--json]``).

Checks, each ok, warn, fail or info: Python and package versions (exactly one ONNX Runtime, OpenCV
headless), whether CUDA really runs (a tiny session on the CUDA provider, not only the provider list:
a silent fall back to the CPU is the classic failure), the GPU and its free memory (nvidia-smi), each
model file (missing, Git LFS pointer, truncated, wrong model), free memory and disk. The report ends
with what an exit code 3 from uvicorn means for this service and what the checks found. Exit status:
1 when a check failed, else 0; warnings do not fail.

``python runpod_debug.py smoke --endpoint URL`` sends a real swap to a running endpoint (faceswap.smoke).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from faceswap import __version__
from faceswap.config import Settings
from faceswap.modelfiles import ModelCheck, verify_model_dir

__all__ = [
    "PACKAGES",
    "Check",
    "CudaProbe",
    "Facts",
    "Gpu",
    "Memory",
    "Report",
    "check_cuda",
    "check_disk",
    "check_gpu",
    "check_memory",
    "check_models",
    "check_packages",
    "check_python",
    "diagnose",
    "explain_exit_code_3",
    "gather_facts",
    "installed_versions",
    "main",
    "probe_cuda",
    "query_gpus",
    "read_memory",
    "render_text",
]

CheckStatus = Literal["ok", "warn", "fail", "info"]

GiB = 1024**3
MiB = 1024**2
CUDA = "CUDAExecutionProvider"
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
)
REQUIRED = ("insightface", "onnx", "numpy", "fastapi", "uvicorn", "pydantic", "httpx")
MIN_PYTHON = (3, 11)
MIN_DRIVER_MAJOR = 580
"""CUDA 13 needs an NVIDIA driver of the 580 series or later; onnxruntime-gpu 1.31 is built for CUDA 13."""
GPU_MEMORY_NEEDED = 2 * GiB
RAM_NEEDED = 2 * GiB
RAM_COMFORTABLE = 4 * GiB
DISK_HEADROOM = 512 * MiB
LOADER_LINE = re.compile(r"(fail|error|cannot open|not found|libcu|libcudnn|cuda)", re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Check:
    """One finding: a name, a status and one sentence, with detail lines when they help."""

    name: str
    status: CheckStatus
    summary: str
    details: tuple[str, ...] = ()


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
        return self.error is None and self.session_providers[:1] == (CUDA,)


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


@dataclass(frozen=True)
class Report:
    """The checks and what they mean for an exit code 3."""

    checks: tuple[Check, ...]
    exit_code_3: str
    version: str = __version__

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return all(check.status != "fail" for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"ok": self.ok, "version": self.version, **asdict(self)}


def _gib(size: float) -> str:
    return f"{size / GiB:.1f} GiB"


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
            "packages", "fail", f"Missing: {', '.join(missing)}; install requirements-api.txt.", found
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
        return Check("cuda", "ok", "CUDA works: a test session ran on CUDAExecutionProvider.")
    if not probe.available and probe.error:
        summary = "CUDA not available: ONNX Runtime itself cannot be imported (see below); reinstall it."
    elif CUDA not in probe.available:
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


def check_models(model_dir: Path, checks: Sequence[ModelCheck]) -> list[Check]:
    """One finding per model file, with the fault and its fix."""
    findings = []
    for check in checks:
        name = f"model {check.spec.path}"
        if check.fault is None:
            size = f"{check.size:,} bytes" if check.size is not None else "present"
            findings.append(Check(name, "ok", f"The {check.spec.label} checks out ({size})."))
            continue
        kind = "Git LFS pointer" if check.fault.kind == "lfs_pointer" else check.fault.kind.replace("_", " ")
        findings.append(Check(name, "fail", f"{kind}: {check.fault.reason}", (f"model folder: {model_dir}",)))
    return findings


def check_memory(memory: Memory, needed: int = RAM_NEEDED, comfortable: int = RAM_COMFORTABLE) -> Check:
    """Enough free memory to load the models and serve."""
    if memory.available is None:
        return Check("memory", "info", "Free memory is unknown on this system.")
    limit = f", container limit {_gib(memory.container_limit)}" if memory.container_limit else ""
    summary = f"{_gib(memory.available)} available{limit}"
    if memory.available < needed:
        return Check(
            "memory",
            "fail",
            f"{summary}: the models need about {_gib(needed)} to load; give the container more memory.",
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
            f"{_gib(free)} free where the models go; {_gib(needed)} needed: raise the container disk.",
        )
    return Check("disk", "ok", f"{_gib(free)} free where the models go.")


def explain_exit_code_3(checks: Sequence[Check]) -> str:
    """What a uvicorn exit code 3 means here, and the likely cause among the findings."""
    meaning = (
        "uvicorn exits with code 3 when the application's startup fails. This service never exits because a "
        "model failed to load: it starts, answers /health and /ping with 503 and the reason, and keeps "
        "retrying. An exit code 3 therefore means the container ran other code than this version (check "
        "the image tag and the start command: `python main_fixed.py` or `uvicorn main_fixed:app`), as in "
        "the old main_fixed.py that loaded the models at startup and died on a bad file."
    )
    failed = [check for check in checks if check.status == "fail"]
    lfs = [check for check in failed if "Git LFS pointer" in check.summary]
    if lfs:
        found = (
            f" Likely cause found: {lfs[0].name.removeprefix('model ')} is a Git LFS pointer, the kind of "
            "file that made the old code exit with 3; this version reports it on /health instead."
        )
    elif failed:
        found = " These checks failed: " + "; ".join(f"{check.name}: {check.summary}" for check in failed)
    else:
        found = " These checks found nothing that would stop the service."
    return meaning + found


def diagnose(facts: Facts) -> Report:
    """The report for `facts`."""
    checks = [check_python(facts.python)]
    if facts.settings_error:
        checks.append(Check("settings", "fail", facts.settings_error))
    checks += [
        check_packages(facts.packages),
        check_cuda(facts.cuda, facts.providers_setting, facts.gpus),
        check_gpu(facts.gpus, facts.gpu_error),
        *check_models(facts.model_dir, facts.models),
        check_memory(facts.memory),
        check_disk(facts.disk_free, facts.models, facts.model_dir),
    ]
    return Report(tuple(checks), explain_exit_code_3(checks))


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
    if CUDA not in available:
        return CudaProbe(available)
    capture = _StderrCapture()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with capture.active():
                session = ort.InferenceSession(_probe_model(), providers=[CUDA, "CPUExecutionProvider"])
                session.run(None, {"x": np.ones((1, 4), np.float32)})
        except Exception as exc:  # ONNX Runtime's errors derive from Exception only
            error = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            return CudaProbe(available, error=error, loader_messages=_messages(capture.text, caught))
    return CudaProbe(
        available, tuple(session.get_providers()), loader_messages=_messages(capture.text, caught)
    )


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
    )


MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info"}


def render_text(report: Report) -> str:
    """The report as readable text."""
    lines = [f"faceswap doctor {report.version}", ""]
    for check in report.checks:
        lines.append(f"[{MARKS[check.status]:>4}] {check.name:<34} {check.summary}")
        lines.extend(f"{'':<7}{'':<35}{detail}" for detail in check.details)
    failed = sum(check.status == "fail" for check in report.checks)
    warned = sum(check.status == "warn" for check in report.checks)
    verdict = "all checks passed" if not failed else f"{failed} check(s) failed"
    lines += ["", f"Result: {verdict}, {warned} warning(s).", "", "About exit code 3:", report.exit_code_3]
    return "\n".join(lines) + "\n"


def _settings(environ: Mapping[str, str]) -> tuple[Settings, str | None]:
    """The service's settings; when they are not valid, the defaults with the model folder, and why."""
    try:
        return Settings(), None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "FACESWAP_" + ".".join(str(part) for part in first["loc"]).upper()
        error = f"{name} is not valid ({first['msg']}): the service would not start; fix the variable."
        fallback = Settings.model_construct(model_dir=Path(environ.get("FACESWAP_MODEL_DIR") or "models"))
        return fallback, error


def _parser() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    parser = argparse.ArgumentParser(
        prog="python runpod_debug.py",
        description="Check this machine for the face swap service, or smoke-test a running endpoint.",
        parents=[output],
    )
    commands = parser.add_subparsers(dest="command")
    smoke = commands.add_parser(
        "smoke", parents=[output], help="send a small real swap to a running endpoint and report the answer"
    )
    smoke.add_argument(
        "--endpoint",
        required=True,
        help="the endpoint: this service's base URL, its /runsync or /swap, or RunPod's .../v2/<id>/runsync",
    )
    smoke.add_argument("--api-key", help="sent as Authorization: Bearer (default: $RUNPOD_API_KEY)")
    smoke.add_argument("--source", help="source image: a file or an http(s) URL (default: synthetic)")
    smoke.add_argument("--target", help="target image: a file or an http(s) URL (default: synthetic)")
    smoke.add_argument("--target-index", type=int, default=1, help="which target face to replace (from 1)")
    smoke.add_argument("--timeout", type=float, default=120.0, help="seconds to wait in all (default 120)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the local checks, or ``smoke``; 0 when everything passed, 1 otherwise."""
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.command == "smoke":
        from faceswap.smoke import run_from_args

        return run_from_args(args, environ)
    settings, error = _settings(environ)
    report = diagnose(gather_facts(settings, error))
    if args.json:
        sys.stdout.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return 0 if report.ok else 1
