"""``make image-test``: build the Dockerfile on locally made Debian bases and check the container.

Needs root, and the network to Debian's archive and to PyPI (nothing else); the standard library only.

1. Installs Debian's ``docker.io`` and ``mmdebstrap`` when missing, and starts ``dockerd`` when none answers
   (it is left running, with its images, for the next run).
2. Makes each ``debian:<suite>-slim`` the Dockerfile starts from: ``mmdebstrap --variant=minbase <suite>``,
   then ``docker import`` under that name. The base carries this machine's CA bundle (it may reach PyPI
   through TLS that only that bundle trusts) and ``PIP_CERT`` naming it; the Dockerfile knows nothing of
   it. The tarball is kept under build/image-test/ for a rerun.
3. Builds the unchanged Dockerfile: ``DOCKER_BUILDKIT=0 docker build --network host --build-arg
   FACESWAP_MODELS=synthetic``, timed.
4. Checks the image as users meet it: a non-root user; health turns ``healthy``; ``/health`` 200; the web
   client's ``/runsync`` body (base64 images with synthetic faces) swaps; ``python handler.py
   --rp_serve_api`` swaps the same body; with a Git LFS pointer as the swapper (a bind-mounted model
   dir) the container stays up and ``/health`` is 503 naming the file; ``docker stop`` ends it with exit
   code 0 inside the drain timeout; ``pip list`` holds one ONNX Runtime, the GPU build of
   requirements.lock, which lists ``CUDAExecutionProvider``; with a test certificate made by the image's
   ``provenance make-test-cert`` and mounted, ``/health`` says ``c2pa`` and ``provenance check`` inside
   the container reads the output's manifest (``Trusted``) and watermark back.
5. Prints the build time, the image size and its layers.

Containers publish their ports on 127.0.0.1 only, and are removed at the end, pass or fail.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "image-test"
IMAGE = "faceswap:image-test"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DRAIN_TIMEOUT = 30.0  # FACESWAP_DRAIN_TIMEOUT's default
# Proxy settings docker build passes without the Dockerfile declaring them (values are not printed).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
# What makes Docker's official debian:<suite>-slim slim: no documentation, manual pages or translations,
# for the base's packages and for those the Dockerfile installs (dpkg keeps these rules in the image).
SLIM_DPKG_RULES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/locale/*",
)
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af\n"
    "size 554253681\n"
)

T = TypeVar("T")


class CheckError(Exception):
    """The image or a container did not do what users expect."""


def say(message: str) -> None:
    sys.stdout.write(f"image-test: {message}\n")
    sys.stdout.flush()


def run(*command: str, capture: bool = True, env: dict[str, str] | None = None) -> str:
    """Run `command`; its stdout when `capture`. Fails with its output when it fails."""
    result = subprocess.run(
        command, capture_output=capture, text=True, check=False, env=env, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        detail = f"\n{result.stdout}{result.stderr}" if capture else ""
        raise CheckError(f"{' '.join(command[:4])} ... exited {result.returncode}{detail}")
    return result.stdout if capture else ""


def docker(*args: str) -> str:
    return run("docker", *args).strip()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """`probe()`'s first answer that is not None, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise CheckError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- 1. Docker and mmdebstrap ---


def install_tools() -> None:
    missing = [package for package, tool in (("docker.io", "dockerd"), ("mmdebstrap", "mmdebstrap"))
               if shutil.which(tool) is None]  # fmt: skip
    if missing:
        say(f"installing {', '.join(missing)} with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)


def docker_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def start_dockerd() -> None:
    if docker_answers():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "dockerd.log"
    say(f"starting dockerd (log: {log.relative_to(ROOT)}; it keeps running after this test)")
    with log.open("ab") as output:
        subprocess.Popen(["dockerd"], stdout=output, stderr=output, start_new_session=True)
    wait_for("dockerd to answer", lambda: True if docker_answers() else None, timeout=60)


# --- 2. The Debian bases ---


def base_suites() -> list[str]:
    """The suites of the `debian:<suite>-slim` images the Dockerfile starts from."""
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    suites = [match.group(1) for base in bases if (match := re.fullmatch(r"debian:(\w+)-slim", base))]
    if not suites:
        raise CheckError("the Dockerfile starts from no debian:<suite>-slim image")
    return sorted(set(suites))


def make_base(suite: str) -> None:
    name = f"debian:{suite}-slim"
    if subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False).returncode == 0:
        say(f"{name}: present")
        return
    tarball = WORK / f"debian-{suite}-slim.tar"
    if not tarball.exists():
        say(f"{name}: mmdebstrap --variant=minbase {suite}")
        WORK.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".part.tar")
        ca_dir = "/usr/local/share/ca-certificates"
        run(
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            "--include=ca-certificates",
            *(f"--dpkgopt={rule}" for rule in SLIM_DPKG_RULES),
            f'--customize-hook=mkdir -p "$1{ca_dir}" && cp {HOST_CA_BUNDLE} "$1{ca_dir}/host-ca-bundle.crt"',
            '--customize-hook=chroot "$1" update-ca-certificates',
            suite,
            str(partial),
        )
        partial.rename(tarball)
    say(f"{name}: docker import {tarball.relative_to(ROOT)}")
    docker("import", "--change", f"ENV PIP_CERT={HOST_CA_BUNDLE}", str(tarball), name)


# --- 3. The build ---


def build() -> float:
    """Build IMAGE; the seconds it took."""
    passed = [f"--build-arg={name}" for name in PROXY_VARIABLES if os.environ.get(name)]
    say(
        "docker build (pip inside reaches PyPI directly, as pip here does; every package is hash-checked"
        + (f"; proxy settings passed: {len(passed)})" if passed else ")")
    )
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    started = time.monotonic()
    run(
        "docker",
        "build",
        "--network",
        "host",
        "--build-arg",
        "FACESWAP_MODELS=synthetic",
        *passed,
        "-t",
        IMAGE,
        str(ROOT),
        capture=False,
        env=env,
    )
    return time.monotonic() - started


# --- 4. The checks ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 120
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answer(port: int, path: str) -> tuple[int, bytes] | None:
    """The answer to GET `path`, or None while nothing listens."""
    try:
        return fetch(port, "GET", path, timeout=5)
    except (OSError, http.client.HTTPException):
        return None


@contextmanager
def container(name: str, *args: str) -> Iterator[str]:
    """A detached container of IMAGE named `name`, removed on the way out."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    docker("run", "-d", "--name", name, *args)
    try:
        yield name
    except CheckError:
        logs = subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True)
        say(f"last lines of {name}'s log:\n{logs.stdout}{logs.stderr}")
        raise
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def inspect(name: str, template: str) -> str:
    return docker("inspect", "-f", template, name)


def synthetic_module() -> str:
    """The synthetic pack's module, as the Dockerfile names it."""
    match = re.search(r"^ARG SYNTHETIC_MODULE=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    if match is None:
        raise CheckError("the Dockerfile names no SYNTHETIC_MODULE")
    return match.group(1)


def runsync_body() -> tuple[bytes, tuple[int, int]]:
    """The web client's /runsync body: base64 PNGs drawn by the synthetic module; the target's size."""
    width, height = 640, 360
    script = (
        "import base64, json, sys, cv2\n"
        f"from {synthetic_module()} import draw_faces\n"
        "def b64(image):\n"
        "    ok, data = cv2.imencode('.png', image)\n"
        "    return base64.b64encode(data.tobytes()).decode()\n"
        "source = draw_faces(320, 240, 1, seed=1)[0]\n"
        f"target = draw_faces({width}, {height}, 2, seed=2)[0]\n"
        "body = {'input': {'source_image': b64(source), 'target_image': b64(target),\n"
        "                  'source_index': 1, 'target_index': 2}}\n"
        "sys.stdout.write(json.dumps(body))\n"
    )
    return docker("run", "--rm", IMAGE, "python", "-c", script).encode(), (width, height)


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise CheckError("the swap's image is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_swap(port: int, body: bytes, size: tuple[int, int], who: str) -> None:
    status, raw = fetch(port, "POST", "/runsync", body)
    try:
        output = json.loads(raw)["output"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckError(f"{who}: /runsync answered {status} without an output: {raw[:300]!r}") from exc
    if status != 200 or output.get("success") is not True:
        raise CheckError(f"{who}: /runsync answered {status}: {json.dumps(output)[:300]}")
    image = base64.b64decode(output["image_base64"])
    if png_size(image) != size:
        raise CheckError(f"{who}: the swap is {png_size(image)}, the target {size}")
    say(f"{who}: /runsync swapped (base64 in, {size[0]}x{size[1]} PNG out, {len(image)} bytes)")


def check_http_mode(body: bytes, size: tuple[int, int]) -> None:
    """The default command: user, health, /health, /runsync, then docker stop."""
    port = free_port()
    with container(
        "faceswap-image-test-http", "-p", f"127.0.0.1:{port}:8000", "--health-interval=2s", IMAGE
    ) as name:
        user = docker("exec", name, "id", "-u")
        if user == "0":
            raise CheckError("the service runs as root")
        say(f"http: runs as uid {user} (image user {inspect(IMAGE, '{{.Config.User}}')})")

        def healthy() -> str | None:
            status = inspect(name, "{{.State.Health.Status}}")
            if inspect(name, "{{.State.Running}}") != "true":
                raise CheckError("the container stopped while starting")
            return status if status == "healthy" else None

        started = time.monotonic()
        wait_for("docker's health status healthy", healthy, timeout=180)
        say(f"http: docker inspect says healthy after {time.monotonic() - started:.0f} s")
        status, raw = fetch(port, "GET", "/health")
        if status != 200:
            raise CheckError(f"/health answered {status}: {raw[:300]!r}")
        say(f"http: /health 200 {raw[:160].decode(errors='replace')}")
        check_swap(port, body, size, "http")

        started = time.monotonic()
        docker("stop", "-t", str(int(DRAIN_TIMEOUT) + 15), name)
        took = time.monotonic() - started
        code = inspect(name, "{{.State.ExitCode}}")
        if code != "0" or took >= DRAIN_TIMEOUT:
            raise CheckError(f"docker stop took {took:.1f} s and the exit code is {code}")
        say(f"http: docker stop ended it in {took:.1f} s, exit code 0 (drain timeout {DRAIN_TIMEOUT:.0f} s)")


def check_queue_mode(body: bytes, size: tuple[int, int]) -> None:
    """The same image as the RunPod queue worker, through the SDK's local test server."""
    port = free_port()
    command = ("python", "handler.py", "--rp_serve_api", "--rp_api_host", "0.0.0.0", "--rp_api_port", "8010")
    with container(
        "faceswap-image-test-queue", "--no-healthcheck", "-p", f"127.0.0.1:{port}:8010", IMAGE, *command
    ):
        wait_for("the queue worker's test server", lambda: answer(port, "/docs"), timeout=180)
        check_swap(port, body, size, "queue")


def check_provenance(body: bytes) -> None:
    """With a test certificate mounted, outputs are signed and watermarked, and `provenance check` in the
    container reads both back."""
    folder = ROOT / "build" / "image-test" / "c2pa"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # the image's user writes the certificate files
    mount = f"{folder}:/certs"
    docker(
        "run",
        "--rm",
        "--no-healthcheck",
        "-v",
        mount,
        IMAGE,
        "python",
        "-m",
        "faceswap",
        "provenance",
        "make-test-cert",
        "/certs",
    )
    port = free_port()
    settings = (
        "-e",
        "FACESWAP_C2PA_CERT=/certs/signer-chain.pem",
        "-e",
        "FACESWAP_C2PA_KEY=/certs/signer-key.pem",
    )
    with container(
        "faceswap-image-test-c2pa", "-p", f"127.0.0.1:{port}:8000", "-v", mount, *settings, IMAGE
    ) as name:

        def ready() -> bytes | None:
            reply = answer(port, "/health")
            return reply[1] if reply is not None and reply[0] == 200 else None

        health = json.loads(wait_for("/health 200", ready, timeout=180))
        if health.get("provenance") != "c2pa" or health.get("watermark") is not True:
            raise CheckError(f"/health does not say c2pa and watermark: {health}")
        status, raw = fetch(port, "POST", "/runsync", body)
        output = json.loads(raw)["output"]
        if status != 200 or output.get("success") is not True:
            raise CheckError(f"c2pa: /runsync answered {status}: {raw[:300]!r}")
        (folder / "out.png").write_bytes(base64.b64decode(output["image_base64"]))
        (folder / "out.png").chmod(0o644)
        checked = docker(
            "exec",
            name,
            "python",
            "-m",
            "faceswap",
            "provenance",
            "check",
            "/certs/out.png",
            "--trust",
            "/certs/test-ca.pem",
            "--json",
        )
        report = json.loads(checked)
        if report["c2pa"]["state"] != "Trusted" or report["watermark"]["output_id"] != output["output_id"]:
            raise CheckError(
                f"c2pa: provenance check did not read the manifest and watermark back: {checked}"
            )
        say(f"c2pa: signed (Trusted against the test CA) and watermarked, output id {output['output_id']}")


def check_lfs_pointer() -> None:
    """A model dir whose swapper is a Git LFS pointer: the service stays up and /health says which file."""
    models = WORK / "lfs-models"
    shutil.rmtree(models, ignore_errors=True)
    models.mkdir(parents=True)
    created = docker("create", IMAGE)
    try:
        docker("cp", f"{created}:/opt/models/buffalo_l", str(models))
    finally:
        docker("rm", created)
    (models / "inswapper_128.onnx").write_text(LFS_POINTER)
    for path in (models, *models.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    mount = f"{models}:/opt/models:ro"
    with container("faceswap-image-test-lfs", "-p", f"127.0.0.1:{port}:8000", "-v", mount, IMAGE) as name:

        def failed() -> tuple[int, bytes] | None:
            got = answer(port, "/health")
            return got if got is not None and b'"failed"' in got[1] else None

        status, raw = wait_for("/health to report the failed load", failed, timeout=120)
        time.sleep(3)
        if inspect(name, "{{.State.Running}}") != "true":
            raise CheckError("the container stopped on a Git LFS pointer")
        if status != 503 or b"inswapper_128.onnx" not in raw:
            raise CheckError(f"/health answered {status}, not 503 naming inswapper_128.onnx: {raw[:300]!r}")
        say(f"lfs: still running; /health 503 {raw[:200].decode(errors='replace')}")


def check_onnxruntime() -> None:
    """One ONNX Runtime in the image: the GPU build requirements.lock pins, with its CUDA provider."""
    locked = re.search(r"^onnxruntime-gpu==(\S+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    freeze = docker("run", "--rm", IMAGE, "python", "-m", "pip", "list", "--format=freeze").splitlines()
    runtimes = [line for line in freeze if re.match(r"onnxruntime(-[\w-]+)?==", line, re.IGNORECASE)]
    if locked is None or runtimes != [f"onnxruntime-gpu=={locked.group(1)}"]:
        raise CheckError(f"pip list shows {runtimes}, not the locked onnxruntime-gpu alone")
    providers = docker(
        "run",
        "--rm",
        IMAGE,
        "python",
        "-c",
        "import onnxruntime; print(onnxruntime.get_available_providers())",
    )
    if "CUDAExecutionProvider" not in providers:
        raise CheckError(f"ONNX Runtime's providers: {providers}")
    say(f"pip list: {runtimes[0]} is the only ONNX Runtime; providers {providers}")


# --- 5. Figures ---


def report(build_seconds: float) -> None:
    size = int(inspect(IMAGE, "{{.Size}}"))
    say(f"build time {build_seconds:.0f} s; image {IMAGE} {size / 1e9:.2f} GB ({size} bytes); its layers:")
    layers = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE)
    for line in layers.splitlines():
        layer_size, _, created_by = line.partition("\t")
        if layer_size not in ("0B", "0"):
            step = re.sub(r"^/bin/(ba)?sh (-o pipefail )?-c (#\(nop\) )?", "", created_by)
            say(f"  {layer_size:>9}  {' '.join(step.split())[:100]}")


def main() -> int:
    if os.geteuid() != 0:
        say("needs root (apt-get, dockerd, mmdebstrap)")
        return 2
    try:
        install_tools()
        start_dockerd()
        for suite in base_suites():
            make_base(suite)
        build_seconds = build()
        check_onnxruntime()
        body, size = runsync_body()
        check_http_mode(body, size)
        check_queue_mode(body, size)
        check_provenance(body)
        check_lfs_pointer()
        report(build_seconds)
    except CheckError as exc:
        say(f"FAILED: {exc}")
        return 1
    say("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
