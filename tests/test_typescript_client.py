"""The TypeScript client's node tests (clients/typescript), run against real services on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.jobs.webhook import send_webhook
from faceswap.lifecycle import ModelLifecycle
from faceswap.models.loader import FaceModels
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.receivers import Answer, Receiver
from tests.servers import ROOT, ImageHost, app_in_thread, wait_ready

CLIENT = ROOT / "clients" / "typescript"
INSTALLED_MARKER = CLIENT / "node_modules" / ".faceswap-lock-sha256"
API_KEY = "k"
OUTPUT_LIMIT = 20_000

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run npm in the client's folder; fail the test with npm's output when it fails."""
    executable = shutil.which("npm")
    if executable is None:
        pytest.fail("node is on PATH but npm is not; install npm alongside node.")
    result = subprocess.run(
        [executable, *args],
        cwd=CLIENT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} exited with {result.returncode}:\n{output[-OUTPUT_LIMIT:]}")
    return output


def lock_digest(client: Path) -> str:
    """The digest of the lock file that node_modules was installed from."""
    return hashlib.sha256((client / "package-lock.json").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built_client() -> Path:
    """node_modules installed with `npm ci` (skipped when the lock file has not changed) and dist/ built."""
    digest = lock_digest(CLIENT)
    if not INSTALLED_MARKER.is_file() or INSTALLED_MARKER.read_text() != digest:
        npm("ci", "--no-audit", "--no-fund", "--ignore-scripts")
        INSTALLED_MARKER.write_text(digest)
    npm("run", "build")
    return CLIENT / "dist"


def webhook_sent(settings: Settings) -> dict[str, Any]:
    """A signed webhook as the service sends it over HTTP, for the client's verifyWebhook to check."""
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    payload = {"id": "job1", "status": "succeeded", "result": {"kind": "video", "uploaded": True}}
    receiver = Receiver(Answer(200))
    try:
        asyncio.run(send_webhook(receiver.url(), payload, derive(settings, webhook_secret=secret)))
    finally:
        receiver.close()
    [sent] = receiver.received
    headers = {name: value for name, value in sent.headers.items() if name.startswith("webhook-")}
    return {"secret": secret, "headers": headers, "body": sent.body.decode(), "payload": payload}


@pytest.fixture(scope="module")
def service(settings: Settings, models: FaceModels) -> Iterator[dict[str, Any]]:
    """What the node tests call: a ready service, one with an API key, one still loading, one full."""
    release = threading.Event()

    def held_back(_settings: Settings) -> FaceModels:
        release.wait(120)
        return models

    full = derive(settings, max_concurrency=1, max_queue=0, failpoints="slow_swap:1")
    with ExitStack() as stack:
        host = ImageHost()
        stack.callback(host.close)
        endpoint = stack.enter_context(app_in_thread(create_app(settings)))
        keyed = stack.enter_context(app_in_thread(create_app(derive(settings, api_key=API_KEY))))
        busy = stack.enter_context(app_in_thread(create_app(full)))
        loading_lifecycle = ModelLifecycle(settings, loader=held_back)
        loading = stack.enter_context(app_in_thread(create_app(settings, lifecycle=loading_lifecycle)))
        stack.callback(release.set)
        for url in (endpoint, keyed, busy):
            wait_ready(url)
        yield {
            "webhook": webhook_sent(settings),
            "endpoint": endpoint,
            "keyedEndpoint": keyed,
            "apiKey": API_KEY,
            "loadingEndpoint": loading,
            "busyEndpoint": busy,
            "images": {
                "one": host.serve("/one.png", encode_png(draw_faces(640, 480, 1, seed=1)[0])),
                "two": host.serve("/two.png", encode_png(draw_faces(800, 600, 2, seed=2)[0])),
                "twoSize": [800, 600],
                "none": host.serve("/none.png", encode_png(draw_faces(640, 480, 0)[0])),
            },
        }


def summary(output: str) -> dict[str, int]:
    """The counts from node's test summary (tap `# pass 3` or spec `ℹ pass 3`)."""
    return {name: int(count) for name, count in re.findall(r"^(?:#|ℹ) (\w+) (\d+)$", output, re.MULTILINE)}


@needs_node
def test_node_tests_pass_against_the_real_service(built_client: Path, service: dict[str, Any]) -> None:
    output = npm("test", env={"FACESWAP_TS_SERVICE": json.dumps(service)})
    counts = summary(output)
    assert counts.get("fail") == 0, output[-OUTPUT_LIMIT:]
    assert counts.get("pass", 0) >= 40, output[-OUTPUT_LIMIT:]
    assert "FACESWAP_TS_SERVICE is not set" not in output


def test_the_lock_file_pins_only_typescript_exactly() -> None:
    manifest = json.loads((CLIENT / "package.json").read_text())
    lock = json.loads((CLIENT / "package-lock.json").read_text())
    assert manifest.get("dependencies", {}) == {}
    assert set(manifest["devDependencies"]) == {"typescript"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["devDependencies"]["typescript"])
    assert set(lock["packages"]) == {"", "node_modules/typescript"}
    assert lock["packages"]["node_modules/typescript"]["version"] == manifest["devDependencies"]["typescript"]
