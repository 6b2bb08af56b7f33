"""What a hostile client can cost: every attack of docs/security.md's table, each answered with a bound.

One ``python main_fixed.py`` (the production command, so the connection limits apply) serves the
module on 127.0.0.1 with an API key, short header and body deadlines and a small connection cap; its
resident memory is read from /proc while each attack runs, and a /health probe is timed meanwhile.
The attacks are scripts/hostile_probe.py's, which measures the same rows for the table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.http.connection import SERVER_LIMIT_VARIABLES, missing_server_limits
from faceswap.http.middleware import RequestGuard
from scripts import hostile_probe as probe
from tests.conftest import derive
from tests.servers import ROOT, app_in_thread, wait_until

MiB = 1024 * 1024
MEMORY_BOUND = 96 * MiB  # no attack may cost 100 MB (a clip job's store and files included)
ANSWERED_WITHIN = 10.0
HEALTH_WITHIN = 5.0
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MAX_CONNECTIONS = 16
PENDING_BODIES = 40 * MiB
SECRET = "query-secret-93b1"


@dataclass
class Running:
    """The service's base URL, its process id and its log file."""

    url: str
    pid: int
    log: Path


@pytest.fixture(scope="module")
def running(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("hostile-costs")
    (workdir / "pack").symlink_to(model_dir, target_is_directory=True)
    limits = {
        "FACESWAP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "FACESWAP_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "FACESWAP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "FACESWAP_MAX_PENDING_BODY_BYTES": str(PENDING_BODIES),
        "FACESWAP_FAILPOINTS": "crash:0",  # armed by the test that needs it, through /admin/failpoints
    }
    with probe.service(ROOT, workdir, **limits) as (url, process):
        yield Running(url, process.pid, workdir / "service.log")


@pytest.fixture(scope="module")
def redirect_port() -> Iterator[int]:
    with probe.redirector() as port:
        yield port


def within_bounds(running: Running, attack: Callable[[], str]) -> str:
    """Run `attack`; assert it was answered in time, for little memory, without stalling /health."""
    with probe.measured(running.url, running.pid) as cost:
        began = time.monotonic()
        answer = attack()
        elapsed = time.monotonic() - began
    assert elapsed < ANSWERED_WITHIN, f"answered {answer!r} after {elapsed:.1f} s"
    assert cost.rss_rise < MEMORY_BOUND, f"resident memory rose {cost.rss_rise / MiB:.0f} MiB"
    assert cost.worst_health < HEALTH_WITHIN, f"/health waited {cost.worst_health:.1f} s"
    return answer


def key() -> dict[str, str]:
    return {"Authorization": f"Bearer {probe.KEY}"}


def test_every_route_that_takes_a_body_has_a_cap(settings: Settings) -> None:
    app = create_app(derive(settings, api_key="k", failpoints="crash:1"))
    guard = next(middleware for middleware in app.user_middleware if middleware.cls is RequestGuard)
    limits = guard.kwargs["body"].limits
    paths = app.openapi()["paths"]
    with_body = {
        path for path, operations in paths.items() if any("requestBody" in op for op in operations.values())
    }
    assert with_body == set(limits)
    assert all(limit <= settings.max_body_bytes for limit in limits.values())


def test_a_json_body_is_parsed_once_off_the_event_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_on: list[str] = []
    loads = json.loads

    def recording_loads(*args: Any, **kwargs: Any) -> Any:
        parsed_on.append(threading.current_thread().name)
        return loads(*args, **kwargs)

    monkeypatch.setattr(json, "loads", recording_loads)
    with TestClient(create_app(derive(settings, model_dir=Path("/nonexistent")))) as client:
        loop_thread = client.portal.call(lambda: threading.current_thread().name)  # type: ignore[union-attr]
        response = client.post("/faces", json={"image": "x"})
    assert response.status_code == 503  # the models never load here; the body was read all the same
    assert len(parsed_on) == 1 and parsed_on[0] != loop_thread


# ---------------------------------------------------------------------------------------------------
# A memory budget per request.


@pytest.mark.parametrize(("path", "envelope"), [("/swap", False), ("/runsync", True)])
def test_a_body_of_empty_lists_is_refused_before_parsing(running: Running, path: str, envelope: bool) -> None:
    content = probe.bracket_body(16 * MiB, envelope)
    headers = {**key(), "Content-Type": "application/json"}
    answer = within_bounds(running, lambda: probe.post(running.url, path, content=content, headers=headers))
    assert answer == ("200 INVALID_INPUT" if envelope else "422 INVALID_INPUT")


def test_a_huge_header_is_refused_unread(running: Running) -> None:
    assert within_bounds(running, lambda: probe.huge_header(running.url, 64 * MiB, 5.0)) in ("400", "closed")


def test_a_route_that_takes_no_body_never_reads_one(running: Running) -> None:
    assert within_bounds(running, lambda: probe.post_without_body_route(running.url, 48 * MiB, 5.0)) == "405"


def test_declared_lengths_over_the_route_cap_are_refused_at_once(running: Running) -> None:
    answers = within_bounds(
        running, lambda: "/".join(probe.stalled_bodies(running.url, 3, 64 * MiB, 60 * MiB, 5.0))
    )
    assert answers == "413/413/413"


def test_a_stalled_body_is_refused_at_its_deadline(running: Running) -> None:
    answers = within_bounds(
        running, lambda: "/".join(probe.stalled_bodies(running.url, 3, 2 * MiB, MiB, 8.0))
    )
    assert answers == "422/422/422"


def test_bodies_past_the_pending_budget_are_busy_at_once(running: Running) -> None:
    answers = within_bounds(
        running, lambda: "/".join(probe.stalled_bodies(running.url, 3, 16 * MiB, MiB, 8.0))
    )
    assert sorted(answers.split("/")) == ["422", "422", "503"]


def test_a_body_shorter_than_its_length_is_never_processed(running: Running) -> None:
    body = b'{"image": "' + probe.b64(probe.face_png()).encode() + b'"}'
    assert (
        probe.post(running.url, "/faces", content=body, headers={"Content-Type": "application/json"}) == "200"
    )
    before = probe.faces_counted(running.url)
    probe.cut_short(running.url, body, len(body) + 1000)
    time.sleep(1.0)
    assert probe.faces_counted(running.url) == before


# ---------------------------------------------------------------------------------------------------
# Bounded time per connection.


def test_a_dripped_request_head_is_closed_at_its_deadline(running: Running) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: probe\r\n" + b"X" * 100
    assert within_bounds(running, lambda: probe.drip(running.url, head, ANSWERED_WITHIN - 1)) == "closed"


def test_an_idle_connection_is_closed(running: Running) -> None:
    assert within_bounds(running, lambda: probe.idle(running.url, ANSWERED_WITHIN - 1)) == "closed"


def test_requests_beyond_the_connection_cap_are_answered_503(running: Running) -> None:
    assert probe.over_connection_cap(running.url, MAX_CONNECTIONS + 4) == "503"
    wait_until(lambda: httpx.get(f"{running.url}/health", timeout=5).status_code == 200, 30)


# ---------------------------------------------------------------------------------------------------
# Decode within a budget.


@pytest.mark.parametrize(
    "build",
    [probe.png_16bit_grey, probe.png_8bit_rgb, probe.progressive_jpeg],
    ids=["7000x7000 16-bit PNG", "7000x7000 8-bit RGB PNG", "7071x7071 progressive JPEG"],
)
def test_a_decode_over_the_budget_is_refused_unallocated(
    running: Running, build: Callable[[], bytes]
) -> None:
    image = probe.b64(build())
    body = {"source_image": image, "target_image": image}
    answer = within_bounds(running, lambda: probe.post(running.url, "/swap", json=body))
    assert answer == "413 IMAGE_TOO_LARGE"


# ---------------------------------------------------------------------------------------------------
# No 500 from input.


def test_a_malformed_international_host_is_url_not_allowed(running: Running) -> None:
    body = {"source_url": "http://xn--ls8h.la/a.png", "target_image": probe.b64(probe.face_png())}
    assert (
        within_bounds(running, lambda: probe.post(running.url, "/swap", json=body)) == "400 URL_NOT_ALLOWED"
    )


@pytest.mark.parametrize("path", ["/data", "/backslash"])
def test_a_redirect_to_something_not_a_url_is_url_not_allowed(
    running: Running, redirect_port: int, path: str
) -> None:
    target = f"http://127.0.0.1:{redirect_port}{path}"
    body = {"source_url": target, "target_url": target}
    assert (
        within_bounds(running, lambda: probe.post(running.url, "/swap", json=body)) == "400 URL_NOT_ALLOWED"
    )


def test_an_index_of_thousands_of_digits_is_invalid_input(running: Running) -> None:
    files = {"source": probe.face_png(), "target": probe.face_png()}

    def upload() -> str:
        return probe.post(running.url, "/swap/upload", files=files, data={"target_index": "9" * 5000})

    assert within_bounds(running, upload) == "422 INVALID_INPUT"


def test_a_broken_multipart_form_is_called_one(running: Running) -> None:
    headers = {**key(), "Content-Type": "multipart/form-data; boundary=xyz"}
    response = httpx.post(
        f"{running.url}/swap/upload", content=b"--nope\r\n\r\n", headers=headers, timeout=30
    )
    assert response.status_code == 422
    assert response.json()["message"].startswith("The multipart form could not be parsed")


# ---------------------------------------------------------------------------------------------------
# Leaks, and the smaller findings.


def test_unknown_field_names_come_back_sanitised_and_short(running: Running) -> None:
    name = "<script>\n" + "a" * 300
    response = httpx.post(f"{running.url}/faces", json={name: 1, "image": "x"}, headers=key(), timeout=30)
    message = response.json()["message"]
    assert response.status_code == 422 and "is not a known field" in message
    assert "<" not in message and "\n" not in message and "a" * 41 not in message


def test_a_key_in_the_query_string_is_not_logged(running: Running) -> None:
    httpx.get(f"{running.url}/metrics?api_key={SECRET}&x=1", timeout=10)
    time.sleep(0.2)
    log = running.log.read_text(errors="replace")
    assert "/metrics?api_key=[redacted]&x=1" in log
    assert SECRET not in log


def test_an_unexpected_error_logs_one_traceback(running: Running) -> None:
    armed = httpx.put(f"{running.url}/admin/failpoints", json={"spec": "crash:1"}, headers=key(), timeout=10)
    assert armed.status_code == 200, armed.text
    before = running.log.read_text(errors="replace").count("Traceback")
    image = probe.b64(probe.face_png())
    answer = probe.post(running.url, "/swap", json={"source_image": image, "target_image": image})
    assert answer == "500 INTERNAL"
    time.sleep(0.2)
    assert running.log.read_text(errors="replace").count("Traceback") == before + 1


def test_a_data_prefix_is_read_in_any_case(running: Running) -> None:
    image = "data:IMAGE/PNG;BASE64," + probe.b64(probe.face_png())
    assert probe.post(running.url, "/faces", json={"image": image}) == "200"


def test_faces_messages_name_the_image_once(running: Running) -> None:
    for body in ({"image": probe.b64(b"not an image")}, {"image_url": "ftp://example.com/a.png"}):
        response = httpx.post(f"{running.url}/faces", json=body, headers=key(), timeout=30)
        message = response.json()["message"]
        assert message.startswith("The image ") and "image image" not in message, message


def test_health_never_shows_a_relative_model_dir(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "weights-here").mkdir()
    monkeypatch.chdir(tmp_path)
    app = create_app(derive(settings, model_dir=Path("weights-here"), model_load_retries=0))
    with app_in_thread(app) as url:
        wait_until(lambda: httpx.get(f"{url}/health").json()["status"] == "failed", 30)
        reason = json.dumps(httpx.get(f"{url}/health").json())
    assert "weights-here" not in reason and "$FACESWAP_MODEL_DIR" in reason
    assert str(tmp_path) not in reason


# ---------------------------------------------------------------------------------------------------
# Clips measured before they are decoded (each a job; the bound covers its whole life).


@pytest.mark.parametrize(
    ("build", "outcomes"),
    [
        (probe.lying_header_clip, {"failed INVALID_IMAGE", "failed IMAGE_TOO_LARGE"}),
        (probe.many_tracks_clip, {"failed INVALID_IMAGE"}),
        (probe.huge_frame_clip, {"failed IMAGE_TOO_LARGE"}),
        (probe.one_pixel_gif, {"failed IMAGE_TOO_LARGE"}),
    ],
    ids=[
        "header 320x240, frame 8000x4000",
        "400 1080p tracks",
        "one 7680x4320 frame",
        "3000 1-pixel GIF frames",
    ],
)
def test_a_clip_is_refused_before_its_frames_cost_anything(
    running: Running, build: Callable[[], bytes], outcomes: set[str]
) -> None:
    clip = build()
    assert (
        within_bounds(running, lambda: probe.job_outcome(running.url, clip, ANSWERED_WITHIN - 1)) in outcomes
    )


@pytest.mark.parametrize(
    "build",
    [probe.backwards_clip, probe.webm_with_aac, probe.patched_sample_count],
    ids=["timestamps going backwards", "WebM DocType with AAC", "MP4 with a patched sample count"],
)
def test_a_crafted_clip_is_invalid_image_with_a_log_line(
    running: Running, build: Callable[[], bytes]
) -> None:
    clip = build()
    before = running.log.read_text(errors="replace").count("clip refused:")
    answer = within_bounds(running, lambda: probe.job_outcome(running.url, clip, ANSWERED_WITHIN - 1))
    assert answer == "failed INVALID_IMAGE"
    time.sleep(0.2)
    assert running.log.read_text(errors="replace").count("clip refused:") > before


# ---------------------------------------------------------------------------------------------------
# Cost charged before work; bytes bounded before they are read.


def test_a_request_costing_more_than_the_limit_is_refused_before_a_swap(running: Running) -> None:
    body = probe.costly_swap_body()
    answer = within_bounds(running, lambda: probe.post(running.url, "/swap", json=body))
    assert answer == "422 COST_LIMIT_EXCEEDED"


def padded_body(space: bytes) -> bytes:
    """A /swap body over the 20 MiB image cap once its padding is out, within the test's pending budget:
    27 MiB of base64 with a space after every 3 characters, or 28 MiB with a line break after every 7."""
    if space == b" ":
        return probe.padded_base64(36 * MiB, space)
    field = b"AAAAAAA" + space
    return b'{"source_url": "https://example.com/a.jpg", "target_image": "' + field * (4 * MiB) + b'"}'


@pytest.mark.parametrize("space", [b" ", b"\\n"], ids=["spaces", "line breaks"])
def test_base64_padded_with_line_breaks_is_refused_before_parsing(running: Running, space: bytes) -> None:
    # judged in the raw body, so only the body is held: the padding once cost 20 times the body
    content = padded_body(space)

    def send() -> str:
        return probe.post(running.url, "/swap", content=content, headers={"Content-Type": "application/json"})

    assert within_bounds(running, send) == "413 IMAGE_TOO_LARGE"


def test_both_body_lengths_are_a_400_with_a_request_id(running: Running) -> None:
    assert within_bounds(running, lambda: probe.both_lengths(running.url)) == "400 INVALID_INPUT"


# ---------------------------------------------------------------------------------------------------
# The seed's command: `uvicorn main_fixed:app` with the image's UVICORN_* settings.


def dockerfile_uvicorn_settings() -> dict[str, str]:
    """The UVICORN_* variables the image sets, read from the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"\b(UVICORN_[A-Z0-9_]+)=(\S+?)\s*\\?$", text, flags=re.MULTILINE))


def test_the_image_sets_every_limit_the_app_checks_for() -> None:
    assert missing_server_limits(dockerfile_uvicorn_settings()) == []
    assert missing_server_limits({}) == list(SERVER_LIMIT_VARIABLES)


def test_the_seeds_command_gets_the_connection_limits(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "pack").symlink_to(model_dir, target_is_directory=True)
    port = probe.free_port()
    env = {
        **os.environ,
        **dockerfile_uvicorn_settings(),
        "UVICORN_HOST": "127.0.0.1",
        "UVICORN_PORT": str(port),
        "PYTHONPATH": str(ROOT),
        "FACESWAP_MODEL_DIR": "pack",
        "FACESWAP_PROVIDERS": "cpu",
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "main_fixed:app"], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), 60)
        assert probe.huge_header(url, 16 * MiB, 5.0) in ("400", "431", "closed")
        head = b"GET /health HTTP/1.1\r\nHost: probe\r\n" + b"X" * 100
        assert probe.drip(url, head, 15.0) == "closed"  # the default header deadline, 10 s
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert "without this service's connection limits" not in (tmp_path / "uvicorn.log").read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def test_an_app_behind_a_server_without_the_limits_warns_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in SERVER_LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with TestClient(create_app(derive(settings, model_dir=Path("/nonexistent")))) as client:
        client.get("/health")
        client.get("/health")
    logged = capfd.readouterr().err
    assert logged.count("without this service's connection limits") == 1 and "UVICORN_HTTP" in logged
