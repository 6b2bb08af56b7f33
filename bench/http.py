"""Ours over real HTTP: the service (``python main_fixed.py``) on loopback, called as the web app calls it.

POST /swap with both images as base64 in JSON; each body is encoded before the clock starts, which runs from
the request's first byte to the response's last. The service's own `timings_ms` (fetch, decode, detect,
embed, swap, encode) are its stages; what the engine's figures leave out is the rest: reading and
validating the request, base64 of the result, writing the JSON, and the bytes on the socket.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.processes import finish, tail

if TYPE_CHECKING:
    from bench.harness import Scenario

__all__ = ["HttpRun", "ServiceError", "http_runs"]

READY_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 300.0


class ServiceError(RuntimeError):
    """The service did not start, or answered a swap with something other than success."""


@dataclass(frozen=True)
class HttpRun:
    """One POST /swap; rep -1 is the untimed warm-up."""

    scenario: str
    rep: int
    wall_ms: float
    stages_ms: float
    request_bytes: int
    response_bytes: int


ImagePath = Callable[["Scenario", int, str], Path]
"""(scenario, rep, "source" or "target") -> the JPEG the engine's round `rep` sent (rep -1: the warm-up)."""


def http_runs(
    plan: Sequence[Scenario],
    image_path: ImagePath,
    *,
    model_dir: Path,
    providers: str,
    reps: int,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
) -> list[HttpRun]:
    """Start the service, then a warm-up round and `reps` rounds of one swap per scenario."""
    port = _free_port()
    service_env = {
        **{key: value for key, value in env.items() if key != "PORT_HEALTH"},
        "FACESWAP_MODEL_DIR": str(model_dir),
        "FACESWAP_PROVIDERS": providers,
        "FACESWAP_MAX_DIMENSION": str(max(scenario.max_dimension for scenario in plan)),
        "FACESWAP_LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    with log_path.open("a") as log_file:
        process = subprocess.Popen(
            [sys.executable, "main_fixed.py"], env=service_env, cwd=cwd, stdout=log_file, stderr=log_file
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
                _wait_ready(client, process)
                return [run for rep in range(-1, reps) for run in _round(client, plan, image_path, rep)]
        except (ServiceError, httpx.HTTPError, ValueError) as exc:
            raise ServiceError(f"{exc}\n{tail(log_path)}") from exc
        finally:
            finish(process, terminate=True)


def _round(client: httpx.Client, plan: Sequence[Scenario], image_path: ImagePath, rep: int) -> list[HttpRun]:
    runs = []
    for scenario in plan:
        source, target = (image_path(scenario, rep, role) for role in ("source", "target"))
        runs.append(_swap(client, scenario, rep, _body(source, target, scenario.target_index)))
    return runs


def _body(source: Path, target: Path, target_index: int) -> bytes:
    fields = {
        "source_image": base64.b64encode(source.read_bytes()).decode("ascii"),
        "target_image": base64.b64encode(target.read_bytes()).decode("ascii"),
        "target_index": target_index,
    }
    return json.dumps(fields).encode()


def _swap(client: httpx.Client, scenario: Scenario, rep: int, body: bytes) -> HttpRun:
    started = time.perf_counter()
    response = client.post("/swap", content=body, headers={"content-type": "application/json"})
    wall_ms = (time.perf_counter() - started) * 1000.0
    answer = response.json()  # a reply that is not JSON raises ValueError: the service's log says why
    if response.status_code != 200 or not answer.get("success"):
        raise ServiceError(f"/swap answered {response.status_code}: {answer.get('message', '')[:200]}")
    if answer["target_faces"] != scenario.target_faces:
        raise ServiceError(
            f"the service found {answer['target_faces']} faces in the {scenario.key} target, "
            f"not {scenario.target_faces}"
        )
    return HttpRun(
        scenario=scenario.key,
        rep=rep,
        wall_ms=round(wall_ms, 2),
        stages_ms=round(sum(answer["timings_ms"].values()), 2),
        request_bytes=len(body),
        response_bytes=len(response.content),
    )


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"the service exited with status {process.returncode} before it was ready")
        try:
            health = client.get("/health")
        except httpx.TransportError:
            pass
        else:
            if health.status_code == 200:
                return
            if health.json().get("status") == "failed":
                raise ServiceError(f"the service could not load the models: {health.json().get('reason')}")
        time.sleep(0.2)
    raise ServiceError(f"the service was not ready within {READY_TIMEOUT_S:.0f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
