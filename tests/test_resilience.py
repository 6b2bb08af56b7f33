"""Faults stay inside the request that met them: OOM recovery, deadlines, draining, reloads (real HTTP)."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.lifecycle import HEAL_ATTEMPTS, Status
from faceswap.models.loader import load_cpu_swapper
from faceswap.pipeline.engine import Engine
from faceswap.runpod_worker import QueueWorker
from faceswap.runtime.failpoints import Failpoints
from faceswap.testing.synthetic import write_models
from tests.conftest import derive
from tests.servers import app_in_thread, service_process, wait_ready, wait_until

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 554253681\n"


@pytest.fixture(scope="module")
def body(one_face_png: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(one_face_png).decode()
    return {"source_image": encoded, "target_image": encoded}


def test_one_oom_is_recovered_and_the_step_is_reported(settings: Settings, body: dict[str, Any]) -> None:
    with app_in_thread(create_app(derive(settings, failpoints="swap_oom:1"))) as url:
        wait_ready(url)
        response = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["recoveries"] == [
            "swap: out of memory, retried after releasing the memory arena"
        ]
        metrics = httpx.get(f"{url}/metrics").text
        assert "faceswap_oom_recoveries_total 1.0" in metrics


KEY = {"Authorization": "Bearer admin-key"}


def test_persistent_oom_answers_out_of_memory_until_cleared(settings: Settings, body: dict[str, Any]) -> None:
    with app_in_thread(create_app(derive(settings, failpoints="swap_oom:99", api_key="admin-key"))) as url:
        wait_ready(url)
        failed = httpx.post(f"{url}/runsync", json={"input": body}, headers=KEY, timeout=60)
        assert failed.status_code == 200
        assert failed.json()["output"]["error_code"] == "OUT_OF_MEMORY"
        assert "out of memory" in failed.json()["output"]["message"]
        assert httpx.put(f"{url}/admin/failpoints", json={"spec": ""}).status_code == 401
        cleared = httpx.put(f"{url}/admin/failpoints", json={"spec": ""}, headers=KEY)
        assert cleared.json() == {"failpoints": {}}
        assert httpx.post(f"{url}/swap", json=body, headers=KEY, timeout=60).status_code == 200


def test_failpoints_cannot_be_set_unless_the_worker_started_with_them(settings: Settings) -> None:
    with app_in_thread(create_app(derive(settings, api_key="admin-key"))) as url:
        response = httpx.put(f"{url}/admin/failpoints", json={"spec": "swap_oom:1"}, headers=KEY)
        assert response.status_code in (404, 405)


def test_admin_routes_exist_only_behind_an_api_key(settings: Settings) -> None:
    with app_in_thread(create_app(settings)) as url:
        assert httpx.post(f"{url}/admin/reload").status_code == 404


def test_repeated_ooms_make_the_worker_unhealthy_until_reloaded(
    settings: Settings, body: dict[str, Any]
) -> None:
    keyed = derive(settings, failpoints="swap_oom:6", api_key="admin-key")
    with app_in_thread(create_app(keyed)) as url, httpx.Client(headers=KEY, timeout=60) as client:
        wait_ready(url)
        for _ in range(3):
            assert client.post(f"{url}/swap", json=body).json()["error_code"] == "OUT_OF_MEMORY"
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503
        assert "out of memory 3 times in a row" in health.json()["reason"]
        assert httpx.get(f"{url}/ping").status_code == 503
        assert client.post(f"{url}/swap", json=body).json()["error_code"] == "NOT_READY"
        reloaded = client.post(f"{url}/admin/reload")
        assert reloaded.json()["status"] == "ready"
        assert client.post(f"{url}/swap", json=body).status_code == 200


def test_slow_swaps_time_out_while_other_requests_are_served(
    settings: Settings, body: dict[str, Any]
) -> None:
    slow = derive(settings, failpoints="slow_swap:1.5", request_timeout=0.6, max_concurrency=2)
    with app_in_thread(create_app(slow)) as url:
        wait_ready(url)
        answers: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{url}/swap", json=body, timeout=60))
        )
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert httpx.get(f"{url}/health").status_code == 200
        faces = httpx.post(f"{url}/faces", json={"image": body["target_image"]}, timeout=60)
        assert faces.status_code == 200
        assert time.monotonic() - started < 1.0
        worker.join()
        assert (answers[0].status_code, answers[0].json()["error_code"]) == (504, "TIMEOUT")


def test_a_client_that_leaves_is_not_waited_for(settings: Settings, body: dict[str, Any]) -> None:
    with app_in_thread(create_app(derive(settings, failpoints="slow_swap:1", metrics_public=True))) as url:
        wait_ready(url)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/swap", json=body, timeout=0.3)
        wait_until(lambda: 'code="CLIENT_GONE"' in httpx.get(f"{url}/metrics").text, 10)


def test_draining_is_reported_by_health_and_ping(settings: Settings) -> None:
    app = create_app(settings)
    with app_in_thread(app) as url:
        wait_ready(url)
        app.state.lifecycle.drain()
        health = httpx.get(f"{url}/health")
        assert (health.status_code, health.json()["status"]) == (503, "draining")
        assert httpx.get(f"{url}/ping").status_code == 503


def test_a_model_fixed_on_disk_is_picked_up_without_a_restart(settings: Settings, tmp_path: Path) -> None:
    good = write_models(tmp_path / "good")
    broken_dir = tmp_path / "broken"
    write_models(broken_dir)
    (broken_dir / "inswapper_128.onnx").write_text(LFS_POINTER)
    with app_in_thread(create_app(derive(settings, model_dir=broken_dir, model_load_retries=0))) as url:
        wait_until(lambda: httpx.get(f"{url}/health").json()["status"] == "failed", 30)
        shutil.copy(good.swapper, broken_dir / "inswapper_128.onnx")
        wait_ready(url, timeout=30)


def test_sigterm_lets_the_request_in_flight_finish(model_dir: Path, body: dict[str, Any]) -> None:
    env = {
        "FACESWAP_MODEL_DIR": str(model_dir),
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_FAILPOINTS": "slow_swap:1.5",
    }
    with service_process(env, "--timeout-graceful-shutdown", "20") as (url, process):
        wait_ready(url)
        answers: list[httpx.Response] = []
        client = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{url}/swap", json=body, timeout=60))
        )
        client.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        client.join()
        assert answers[0].status_code == 200, answers[0].text
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_cpu_fallback_swaps_after_the_gpu_attempts_fail(
    models, settings: Settings, one_face_png: bytes
) -> None:
    loads: list[int] = []

    def cpu_swapper() -> Any:
        loads.append(1)
        return load_cpu_swapper(settings)

    engine = Engine(models, settings, Failpoints("swap_oom:2"), cpu_swapper=cpu_swapper)
    result = engine.swap(one_face_png, one_face_png)
    assert result.recoveries == ["swap: out of memory on the GPU, retried on the CPU"]
    assert loads == [1]


class Tracebacks(logging.Handler):
    """Every log record that carries a traceback, from the service's and uvicorn's loggers."""

    LOGGERS = ("", "faceswap", "uvicorn", "uvicorn.error")

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[int, logging.LogRecord] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records[id(record)] = record

    def __enter__(self) -> Tracebacks:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def test_an_unexpected_error_ends_the_request_and_keeps_the_connection(
    settings: Settings, body: dict[str, Any]
) -> None:
    with app_in_thread(create_app(derive(settings, failpoints="crash:1"))) as url:
        wait_ready(url)
        with Tracebacks() as tracebacks, httpx.Client(timeout=60) as client:
            failed = client.post(f"{url}/swap", json=body)
            assert (failed.status_code, failed.json()["error_code"]) == (500, "INTERNAL")
            assert failed.json()["request_id"] == failed.headers["x-request-id"]
            assert failed.headers.get("connection", "keep-alive").lower() == "keep-alive"
            assert client.post(f"{url}/swap", json=body).status_code == 200
        assert len(tracebacks.records) == 1


def test_a_worker_without_an_api_key_heals_itself_after_repeated_ooms(
    settings: Settings, body: dict[str, Any]
) -> None:
    cooldown = 2.0
    healing = derive(settings, failpoints="swap_oom:6", oom_cooldown=cooldown)
    with app_in_thread(create_app(healing)) as url, httpx.Client(timeout=60) as client:
        wait_ready(url)
        for _ in range(3):
            oom = client.post(f"{url}/swap", json=body)
            assert oom.json()["error_code"] == "OUT_OF_MEMORY"
            assert int(oom.headers["retry-after"]) >= 1
        struck = time.monotonic()
        refused = client.post(f"{url}/swap", json=body)
        assert refused.json()["error_code"] == "NOT_READY"
        assert cooldown <= int(refused.headers["retry-after"]) <= cooldown + 60
        health = client.get(f"{url}/health")
        assert (health.status_code, health.json()["status"]) == (503, "recovering")
        assert "reloads its models by itself" in health.json()["reason"]
        assert "/admin/reload" not in health.json()["reason"]
        wait_until(lambda: client.get(f"{url}/health").status_code == 200, cooldown + 30)
        assert time.monotonic() - struck >= cooldown - 0.5
        assert client.post(f"{url}/swap", json=body).status_code == 200


def test_a_failed_recovery_says_what_to_do_without_a_route_the_worker_lacks(settings: Settings) -> None:
    lifecycle = create_app(derive(settings, oom_cooldown=0)).state.lifecycle
    assert lifecycle.try_load()
    lifecycle.failpoints.configure(f"load_fail:{HEAL_ATTEMPTS}")
    for _ in range(3):
        lifecycle.record_outcome(out_of_memory=True)
    wait_until(lambda: lifecycle.state.status is Status.FAILED, 60)
    reason = lifecycle.state.reason
    assert "could not load its models again" in reason and "restart the worker" in reason
    assert "/admin/reload" not in reason
    keyed = create_app(derive(settings, api_key="admin-key")).state.lifecycle
    assert "POST /admin/reload with the API key" in keyed.remedy


def test_the_queue_worker_asks_for_a_fresh_worker_while_recovering(settings: Settings) -> None:
    worker = QueueWorker(derive(settings, oom_cooldown=60))
    assert worker.load()
    for _ in range(3):
        worker.lifecycle.record_outcome(out_of_memory=True)
    assert worker.lifecycle.state.status is Status.RECOVERING
    output = asyncio.run(worker.handle({"id": "job-9", "input": {}}))
    assert (output["error_code"], output["refresh_worker"]) == ("NOT_READY", True)
    assert "out of memory 3 times in a row" in output["message"]
    assert "RunPod starts a fresh worker" in output["message"]
    assert "/admin" not in output["message"]


def test_a_busy_answer_says_when_the_held_slot_should_free(settings: Settings, body: dict[str, Any]) -> None:
    slow = derive(settings, failpoints="slow_swap:3", max_queue=0, request_timeout=0.5)
    with app_in_thread(create_app(slow)) as url:
        wait_ready(url)
        first = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert first.json()["error_code"] == "TIMEOUT"
        busy = httpx.post(f"{url}/swap", json=body, timeout=60)
        assert busy.json()["error_code"] == "BUSY"
        assert int(busy.headers["retry-after"]) >= 2


def test_a_client_that_leaves_frees_its_admission_place_at_once(
    settings: Settings, body: dict[str, Any]
) -> None:
    slow = derive(settings, failpoints="slow_swap:2", max_queue=0, max_concurrency=1)
    with app_in_thread(create_app(slow)) as url:
        wait_ready(url)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/swap", json=body, timeout=0.3)
        time.sleep(0.04)
        # its slot is still held by the swap thread, but not its admission place: a request that needs
        # no slot (a validation failure after admission) is not BUSY
        answer = httpx.post(f"{url}/faces", json={"image": "not base64!"}, timeout=60)
        assert answer.json()["error_code"] != "BUSY"


def test_sigterm_with_a_stuck_swap_answers_it_and_exits_0_within_the_deadline(
    model_dir: Path, body: dict[str, Any]
) -> None:
    drain = 1.0
    env = {
        "FACESWAP_MODEL_DIR": str(model_dir),
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_FAILPOINTS": "slow_swap:10",
        "FACESWAP_DRAIN_TIMEOUT": str(drain),
    }
    with service_process(env, entry=True) as (url, process):
        wait_ready(url)
        answers: list[httpx.Response] = []
        client = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{url}/swap", json=body, headers={"X-Request-ID": "stuck-1"}, timeout=60)
            )
        )
        client.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        time.sleep(0.2)
        health = httpx.get(f"{url}/health", timeout=5)
        assert (health.status_code, health.json()["status"]) == (503, "draining")
        refused = httpx.post(f"{url}/swap", json=body, timeout=5)
        assert refused.json()["error_code"] == "NOT_READY"
        client.join()
        stuck = answers[0]
        assert stuck.status_code == 503
        assert stuck.json()["error_code"] == "NOT_READY"
        assert stuck.json()["request_id"] == "stuck-1"
        assert process.wait(timeout=30) == 0
        # generous bound for a shared machine; docs/reliability.md gives the measured figure
        assert time.monotonic() - signalled < drain + 3
