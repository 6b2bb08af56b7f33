"""``python main_fixed.py``: PORT and PORT_HEALTH (RunPod load balancing), one process, one model load."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from faceswap.http.server import ListenAddress, listen_address, probe_only, server_configs
from tests.servers import ROOT, free_port, wait_until

# Loaded through PYTHONPATH into the child only: holds the first model load until the test opens the gate,
# so the child's "loading" state can be observed. main_fixed.py itself runs unchanged.
GATE = """
import os
import time

import faceswap.models.loader

_load = faceswap.models.loader.load_models


def _gated(settings):
    while not os.path.exists(os.environ["FACESWAP_TEST_LOAD_GATE"]):
        time.sleep(0.05)
    return _load(settings)


faceswap.models.loader.load_models = _gated
"""


def test_ports_default_to_8000_on_every_interface() -> None:
    assert listen_address({}) == ListenAddress("0.0.0.0", 8000, None)


def test_a_health_port_equal_to_the_app_port_is_not_served_twice() -> None:
    assert listen_address({"PORT": "5000", "PORT_HEALTH": "5000"}) == ListenAddress("0.0.0.0", 5000, None)
    assert listen_address({"PORT": "5000", "PORT_HEALTH": "5001", "HOST": "127.0.0.1"}) == ListenAddress(
        "127.0.0.1", 5000, 5001
    )


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_a_port_that_is_not_a_port_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="PORT_HEALTH must be a TCP port number"):
        listen_address({"PORT_HEALTH": value})


@pytest.mark.parametrize("value", ["\u00b2", "\uff18\uff10", "\u0668\u0660", "9" * 5000, "+80", "80.0"])
def test_a_port_of_other_digits_is_refused_with_the_same_sentence(value: str) -> None:
    with pytest.raises(ValueError, match=r"^PORT must be a TCP port number from 1 to 65535, not ") as raised:
        listen_address({"PORT": value})
    assert "invalid literal" not in str(raised.value)


def test_main_exits_2_on_a_bad_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import main_fixed

    assert isinstance(main_fixed.app, FastAPI)
    monkeypatch.setenv("PORT", "eighty")
    assert main_fixed.main() == 2
    assert "PORT must be a TCP port number" in capsys.readouterr().err


def test_main_exits_2_on_a_non_ascii_digit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import main_fixed

    monkeypatch.setenv("PORT", "\u00b2")
    assert main_fixed.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: PORT must be a TCP port number")
    assert "invalid literal" not in err


def test_both_servers_send_no_server_header_and_only_the_app_drains() -> None:
    app = FastAPI()
    main, probes = server_configs(app, ListenAddress("127.0.0.1", 5000, 5001), "warning", 12.5)
    assert (main.port, probes.port) == (5000, 5001)
    assert main.server_header is False and probes.server_header is False
    assert main.timeout_graceful_shutdown == 12.5
    assert (main.lifespan, probes.lifespan) == ("on", "off")
    assert len(server_configs(app, ListenAddress("127.0.0.1", 5000, None))) == 1


def test_the_probe_app_serves_only_the_probes() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "healthy"}

    @app.post("/swap")
    async def swap() -> dict[str, str]:
        return {"swapped": "yes"}

    async def calls() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=probe_only(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            return (await client.get("/ping")).status_code, (await client.post("/swap")).status_code

    assert asyncio.run(calls()) == (200, 404)


@pytest.fixture
def child(model_dir: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path, Path]]:
    """``python main_fixed.py`` on PORT/PORT_HEALTH over a pack missing its swapper, its first load gated."""
    pack = tmp_path / "models"
    shutil.copytree(model_dir, pack)
    (pack / "inswapper_128.onnx").unlink()
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(GATE)
    gate = tmp_path / "gate"
    port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(tmp_path / "hook"), str(ROOT))),
        "FACESWAP_TEST_LOAD_GATE": str(gate),
        "FACESWAP_MODEL_DIR": str(pack),
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_MODEL_LOAD_RETRIES": "0",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PORT_HEALTH": str(health_port),
    }
    with (tmp_path / "stderr.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "main_fixed.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        yield process, port, health_port, gate, pack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def status(port: int, path: str = "/ping") -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_ping_on_the_health_port_goes_204_then_503_then_200_in_one_process(
    child: tuple[subprocess.Popen[bytes], int, int, Path, Path], model_dir: Path
) -> None:
    process, port, health_port, gate, pack = child
    wait_until(lambda: status(health_port) is not None and status(port) is not None, 60)
    assert status(health_port) == 204
    assert status(port) == 204
    assert status(health_port, "/docs") == 404
    assert httpx.post(f"http://127.0.0.1:{health_port}/swap", json={}).status_code == 404

    gate.touch()
    wait_until(lambda: status(health_port) == 503, 30)
    health = httpx.get(f"http://127.0.0.1:{health_port}/health")
    assert health.status_code == 503
    assert "inswapper_128.onnx" in health.json()["reason"]

    shutil.copy(model_dir / "inswapper_128.onnx", pack / "inswapper_128.onnx")
    wait_until(lambda: status(health_port) == 200, 30)
    assert status(port) == 200
    ready = httpx.get(f"http://127.0.0.1:{port}/health")
    assert ready.json()["status"] == "ready"
    assert "server" not in ready.headers
    assert "server" not in httpx.get(f"http://127.0.0.1:{health_port}/ping").headers

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert status(health_port) is None
    log = (gate.parent / "stderr.log").read_text()
    assert "Traceback" not in log
    assert log.count("Application startup complete") == 1
    assert log.count("models ready") == 1
