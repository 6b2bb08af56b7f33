"""Jobs are promises kept across real processes: kill -9, SIGTERM, and a second replica on one Redis."""

from __future__ import annotations

import base64
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.conftest import encode_png
from tests.redis_server import NEEDS_REDIS, redis_server
from tests.servers import service_process, wait_ready, wait_until

FRAMES = 40


@pytest.fixture(scope="module")
def job_body(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("clips") / "in.mp4"
    write_clip(path, "mp4", frames=FRAMES, size=(256, 256))
    return {
        "source_image": base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode(),
        "target_video": base64.b64encode(path.read_bytes()).decode(),
    }


def service_env(model_dir: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "FACESWAP_MODEL_DIR": str(model_dir),
        "FACESWAP_PROVIDERS": "cpu",
        "FACESWAP_ALLOW_PRIVATE_URLS": "true",
        "FACESWAP_DATA_DIR": str(data_dir),
        "FACESWAP_FAILPOINTS": "slow_swap:0.1",
        **extra,
    }


def status(base_url: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{base_url}/jobs/{job_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def mid_clip(base_url: str, job_id: str) -> bool:
    body = status(base_url, job_id)
    return body["status"] == "running" and body["progress"]["frames_done"] >= 3


def finished(base_url: str, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status(base_url, job_id)
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def assert_whole_clip(base_url: str, done: dict[str, Any], attempts: int) -> None:
    assert done["status"] == "succeeded", done
    assert done["attempts"] == attempts
    assert done["progress"]["frames_done"] == done["progress"]["frames_total"] == FRAMES
    result = httpx.get(f"{base_url}/jobs/{done['id']}/result", timeout=30)
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert len(result.content) == done["result"]["size_bytes"]


def test_a_job_survives_kill_9_and_the_restarted_service_finishes_it(
    model_dir: Path, tmp_path: Path, job_body: dict[str, Any]
) -> None:
    data = tmp_path / "data"
    env = service_env(model_dir, data)
    with service_process(env, entry=True) as (url, process):
        wait_ready(url)
        job_id = httpx.post(f"{url}/jobs", json=job_body, timeout=30).json()["id"]
        wait_until(lambda: mid_clip(url, job_id), timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert (data / "work" / job_id).is_dir(), "the killed process left its work folder"
    with service_process(env, entry=True) as (url, _):
        wait_ready(url)
        assert_whole_clip(url, finished(url, job_id), attempts=2)
    assert not any((data / "work").iterdir()), "the dead process's work folder was removed"


def test_sigterm_gives_the_running_job_back_to_the_next_process(
    model_dir: Path, tmp_path: Path, job_body: dict[str, Any]
) -> None:
    env = service_env(model_dir, tmp_path / "data", FACESWAP_DRAIN_TIMEOUT="0.5")
    with service_process(env, entry=True) as (url, process):
        wait_ready(url)
        job_id = httpx.post(f"{url}/jobs", json=job_body, timeout=30).json()["id"]
        wait_until(lambda: mid_clip(url, job_id), timeout=120)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    with service_process(env, entry=True) as (url, _):
        wait_ready(url)
        assert_whole_clip(url, finished(url, job_id), attempts=1)


@NEEDS_REDIS
def test_two_replicas_on_one_redis_share_jobs_and_the_survivor_finishes_them(
    model_dir: Path, tmp_path: Path, job_body: dict[str, Any]
) -> None:
    with redis_server(tmp_path) as redis_url:
        env = service_env(
            model_dir,
            tmp_path / "shared",
            FACESWAP_JOBS_URL=redis_url,
            FACESWAP_JOB_LEASE_SECONDS="2",
            FACESWAP_FAILPOINTS="slow_swap:0.5",  # the clip outlasts the second replica's start
        )
        with service_process(env, entry=True) as (first, first_process):
            wait_ready(first)
            job_id = httpx.post(f"{first}/jobs", json=job_body, timeout=30).json()["id"]
            wait_until(lambda: mid_clip(first, job_id), timeout=120)
            with service_process(env, entry=True) as (second, _):
                wait_ready(second)
                assert status(second, job_id)["status"] == "running", "the other replica answers for the job"
                first_process.send_signal(signal.SIGKILL)
                first_process.wait(timeout=30)
                assert_whole_clip(second, finished(second, job_id), attempts=2)
