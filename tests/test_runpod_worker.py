"""The RunPod queue worker: the SDK's local test server over handler.py, and the adapter in-process."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faceswap.config import Settings
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.models.loader import load_models
from faceswap.runpod_worker import QueueWorker, quiet_sdk_logs
from faceswap.schemas import SwapInput
from faceswap.testing.synthetic import draw_faces, write_models
from tests.conftest import derive, encode_png
from tests.servers import ROOT, ImageHost, free_port, wait_until

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 554253681\n"
PNG_BASE64_START = base64.b64encode(b"\x89PNG\r\n").decode()[:8]


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    image_host = ImageHost()
    yield image_host
    image_host.close()


@pytest.fixture(scope="module")
def images(host: ImageHost) -> dict[str, str]:
    return {
        "one": host.serve("/one.png", encode_png(draw_faces(640, 480, 1, seed=1)[0])),
        "two": host.serve("/two.png", encode_png(draw_faces(800, 600, 2, seed=2)[0])),
        "none": host.serve("/none.png", encode_png(draw_faces(640, 480, 0)[0])),
    }


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``python handler.py --rp_serve_api`` on a free port; yields (base URL, its log file)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "FACESWAP_MODEL_DIR": str(model_dir),
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_ALLOW_PRIVATE_URLS": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RUNPOD_LOG_LEVEL", None)
    env.pop("RUNPOD_DEBUG_LEVEL", None)
    command = [sys.executable, "handler.py", "--rp_serve_api", "--rp_api_port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--rp_api_host", "127.0.0.1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"the worker exited with {process.returncode}: {log_path.read_text()[-2000:]}"
            )
        try:
            return httpx.get(f"{base_url}/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answering, 60)
        yield base_url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def runsync(base_url: str, job_input: object) -> dict[str, Any]:
    response = httpx.post(f"{base_url}/runsync", json={"input": job_input}, timeout=60)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "error" not in payload, payload
    assert payload["status"] == "COMPLETED"
    return payload


def test_the_web_clients_body_gets_the_swap_body_as_output(
    served: tuple[str, Path], images: dict[str, str]
) -> None:
    body = {"source_url": images["one"], "target_url": images["two"], "source_index": 1, "target_index": 2}
    payload = runsync(served[0], body)
    output = payload["output"]
    assert output["success"] is True
    assert output["message"] == "ok"
    assert (output["width"], output["height"], output["format"]) == (800, 600, "png")
    assert (output["source_faces"], output["target_faces"]) == (1, 2)
    assert output["request_id"] == payload["id"]
    assert base64.b64decode(output["image_base64"]).startswith(b"\x89PNG")
    assert "refresh_worker" not in output


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("no face", "NO_FACE", "target"),
        ("index 3 of 2", "FACE_INDEX_OUT_OF_RANGE", "the target image has 2 faces"),
        ("missing image", "FETCH_FAILED", "target"),
        ("file url", "URL_NOT_ALLOWED", ""),
        ("index 0", "INVALID_INPUT", "target_index"),
        ("no source", "INVALID_INPUT", "source"),
    ],
)
def test_request_failures_arrive_as_output_with_success_false(
    served: tuple[str, Path], images: dict[str, str], host: ImageHost, case: str, code: str, words: str
) -> None:
    body: dict[str, Any] = {"source_url": images["one"], "target_url": images["two"], "source_index": 1}
    body |= {
        "no face": {"target_url": images["none"]},
        "index 3 of 2": {"target_index": 3},
        "missing image": {"target_url": host.url("/gone.png")},
        "file url": {"source_url": "file:///etc/passwd"},
        "index 0": {"target_index": 0},
        "no source": {"source_url": None},
    }[case]
    payload = runsync(served[0], {k: v for k, v in body.items() if v is not None})
    output = payload["output"]
    assert output["success"] is False
    assert output["error_code"] == code
    assert words in output["message"]
    assert output["message"].endswith(".")
    assert output["request_id"] == payload["id"]
    assert "127.0.0.1" not in output["message"] and "Traceback" not in output["message"]


def test_a_faces_job_gets_the_face_list_as_output(served: tuple[str, Path], images: dict[str, str]) -> None:
    payload = runsync(served[0], {"action": "faces", "image_url": images["two"]})
    output = payload["output"]
    assert output["success"] is True
    assert [face["index"] for face in output["faces"]] == [1, 2]
    assert (output["width"], output["height"]) == (800, 600)
    assert output["request_id"] == payload["id"]
    assert "image_base64" not in output


def test_a_faces_job_with_swap_fields_is_invalid_input(
    served: tuple[str, Path], images: dict[str, str]
) -> None:
    body = {"action": "faces", "source_url": images["one"], "target_url": images["two"]}
    output = runsync(served[0], body)["output"]
    assert output["success"] is False
    assert output["error_code"] == "INVALID_INPUT"


@pytest.mark.parametrize("action", ["swop", 3])
def test_an_unknown_action_is_invalid_input(settings: Settings, action: object) -> None:
    worker = QueueWorker(settings)
    job_input = {"action": action, "source_image": "aGVsbG8=", "target_image": "aGVsbG8="}
    output = asyncio.run(worker.handle({"id": "job-2", "input": job_input}))
    assert output == {
        "success": False,
        "error_code": "INVALID_INPUT",
        "message": 'action must be "swap" (the default) or "faces".',
        "request_id": "job-2",
    }


def test_an_input_that_is_not_an_object_is_invalid_input(settings: Settings) -> None:
    worker = QueueWorker(settings)
    output = asyncio.run(worker.handle({"id": "job-1", "input": ["source_url"]}))
    assert output["error_code"] == "INVALID_INPUT"
    assert output["request_id"] == "job-1"


def test_the_worker_log_holds_no_image_and_no_url(served: tuple[str, Path], images: dict[str, str]) -> None:
    runsync(served[0], {"source_url": images["one"], "target_url": images["two"]})
    log = served[1].read_text()
    assert "Started." in log
    assert PNG_BASE64_START not in log
    assert "/one.png" not in log and "/two.png" not in log


def test_models_load_once_before_the_worker_takes_jobs(served: tuple[str, Path]) -> None:
    log = served[1].read_text()
    assert log.count("models ready") == 1
    assert log.index("models ready") < log.index("Starting Serverless Worker")


def broken_pack(directory: Path) -> Path:
    write_models(directory)
    (directory / "inswapper_128.onnx").write_text(LFS_POINTER)
    return directory


def test_a_broken_pack_answers_every_job_not_ready_with_the_reason_and_asks_for_a_fresh_worker(
    settings: Settings, tmp_path: Path
) -> None:
    broken = derive(settings, model_dir=broken_pack(tmp_path), model_load_retries=3)
    naps: list[float] = []
    worker = QueueWorker(broken, sleep=naps.append)
    assert worker.load() is False
    assert naps == []
    output = asyncio.run(worker.handle({"id": "job-7", "input": {"source_url": "https://example.com/a.png"}}))
    assert output["success"] is False
    assert output["error_code"] == "NOT_READY"
    assert output["request_id"] == "job-7"
    assert output["refresh_worker"] is True
    message = output["message"]
    assert "inswapper_128.onnx" in message and "Git LFS pointer" in message
    assert "--dir" in message and "$FACESWAP_MODEL_DIR" in message
    assert str(tmp_path) not in message


def test_the_sdk_turns_refresh_worker_into_stop_pod_and_keeps_the_output(
    settings: Settings, tmp_path: Path
) -> None:
    from runpod.serverless.modules.rp_job import run_job

    worker = QueueWorker(derive(settings, model_dir=broken_pack(tmp_path), model_load_retries=0))
    worker.load()
    result = asyncio.run(run_job(worker.handle, {"id": "job-8", "input": {}}))
    assert result["stopPod"] is True
    assert "error" not in result
    assert result["output"]["error_code"] == "NOT_READY"
    assert "refresh_worker" not in result["output"]


def test_a_load_failure_with_sound_files_is_retried_with_backoff(settings: Settings) -> None:
    attempts: list[int] = []

    def flaky_loader(app_settings: Settings) -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("CUDA is still starting")
        return load_models(app_settings)

    naps: list[float] = []
    worker = QueueWorker(settings, ModelLifecycle(settings, loader=flaky_loader), sleep=naps.append)
    assert worker.load() is True
    assert naps == [1.0, 2.0]
    assert worker.lifecycle.state.status is Status.READY


def test_retries_stop_at_the_configured_count(settings: Settings) -> None:
    def failing_loader(_: Settings) -> Any:
        raise RuntimeError("no GPU")

    naps: list[float] = []
    limited = derive(settings, model_load_retries=2)
    worker = QueueWorker(limited, ModelLifecycle(limited, loader=failing_loader), sleep=naps.append)
    assert worker.load() is False
    assert naps == [1.0, 2.0]
    assert worker.lifecycle.state.status is Status.FAILED


def test_an_unexpected_error_is_internal_without_details(settings: Settings) -> None:
    worker = QueueWorker(settings)

    class Exploding:
        async def run_input(self, *_: object) -> dict[str, Any]:
            raise KeyError("/secret/path")

    worker._service = Exploding()  # type: ignore[assignment]
    body = {"source_image": "aGVsbG8=", "target_image": "aGVsbG8="}
    output = asyncio.run(worker.handle({"id": "job-9", "input": body}))
    assert output["error_code"] == "INTERNAL"
    assert "/secret/path" not in output["message"]


def test_the_sdk_takes_as_many_jobs_at_once_as_there_are_swap_slots(settings: Settings) -> None:
    config = QueueWorker(derive(settings, max_concurrency=3)).sdk_config()
    assert config["concurrency_modifier"](1) == 3
    assert asyncio.iscoroutinefunction(config["handler"])


def test_sdk_logging_is_raised_to_info_and_httpx_is_quieted() -> None:
    import logging

    from runpod.serverless.modules.rp_logger import RunPodLogger

    sdk_logger = RunPodLogger()
    before, httpx_level = sdk_logger.level, logging.getLogger("httpx").level
    try:
        sdk_logger.level = "DEBUG"
        quiet_sdk_logs()
        assert sdk_logger.level == "INFO"
        assert logging.getLogger("httpx").level == logging.WARNING
        sdk_logger.level = "ERROR"
        quiet_sdk_logs()
        assert sdk_logger.level == "ERROR"
    finally:
        sdk_logger.level = before
        logging.getLogger("httpx").setLevel(httpx_level)


def test_test_input_json_is_the_web_clients_body() -> None:
    sample = json.loads((ROOT / "test_input.json").read_text())
    assert set(sample["input"]) == {"source_url", "target_url", "source_index", "target_index"}
    parsed = SwapInput.model_validate(sample["input"])
    assert parsed.source_index == 1


def faceswap_imports(path: Path) -> set[str]:
    """The faceswap modules a file imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("faceswap")}


def test_the_adapters_do_not_import_each_other() -> None:
    adapters = {"faceswap.http.app", "faceswap.runpod_worker", "faceswap.http.server", "faceswap.cli"}
    for adapter in adapters:
        path = (ROOT / Path(*adapter.split("."))).with_suffix(".py")
        assert not faceswap_imports(path) & (adapters - {adapter}), adapter


def test_handler_py_is_wiring_only() -> None:
    code = [
        line
        for line in (ROOT / "handler.py").read_text().splitlines()
        if line.strip() and not line.startswith(('"""', "import", "from"))
    ]
    assert len(code) <= 8
