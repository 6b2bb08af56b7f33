"""Jobs through real HTTP: a clip or a photo swapped in the background, polled, uploaded, cancelled."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from faceswap.config import Settings
from faceswap.http.app import create_app
from faceswap.jobs.models import JobRecord
from faceswap.jobs.sqlite_store import SQLiteJobStore
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.servers import ImageHost, app_in_thread, wait_ready

FRAMES = 24


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    image_host = ImageHost()
    yield image_host
    image_host.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clips") / "in.mp4"
    write_clip(path, "mp4", frames=FRAMES, size=(256, 256))
    return path.read_bytes()


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with app_in_thread(create_app(derive(settings, max_jobs=32, max_video_frames=200))) as url:
        wait_ready(url)
        yield url


@pytest.fixture(scope="module")
def source() -> str:
    return base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode()


def finished(base_url: str, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{base_url}/jobs/{job_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def count_frames(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "out.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_clip_job_reports_progress_and_returns_the_clip(
    base_url: str, source: str, clip: bytes, tmp_path: Path
) -> None:
    body = {"source_image": source, "target_video": base64.b64encode(clip).decode()}
    started = httpx.post(f"{base_url}/jobs", json=body)
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] in ("queued", "running")
    assert started.headers["location"] == f"/jobs/{job['id']}"
    done = finished(base_url, job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["frames_done"] == done["progress"]["frames_total"] == FRAMES
    result = done["result"]
    assert (result["kind"], result["media_type"], result["frames"]) == ("video", "video/mp4", FRAMES)
    assert 0 < result["swapped_frames"] < FRAMES
    assert count_frames(base64.b64decode(result["base64"]), tmp_path) == FRAMES


def test_a_photo_job_returns_the_image(base_url: str, source: str, host: ImageHost) -> None:
    target = host.serve("/target.png", encode_png(draw_faces(640, 480, 2, seed=3)[0]))
    job = httpx.post(f"{base_url}/jobs", json={"source_image": source, "target_url": target}).json()
    done = finished(base_url, job["id"])
    assert done["status"] == "succeeded", done
    assert (done["result"]["kind"], done["result"]["media_type"]) == ("image", "image/png")
    assert base64.b64decode(done["result"]["base64"]).startswith(b"\x89PNG")


def test_a_photo_job_takes_the_quality_options(base_url: str, source: str, host: ImageHost) -> None:
    target = host.serve("/quality-target.png", encode_png(draw_faces(640, 480, 1, seed=4)[0]))
    results = []
    for options in ({}, {"face_enhancer": {"model": "gpen_bfr_512", "blend": 1.0}}):
        body = {"source_image": source, "target_url": target, **options}
        job = httpx.post(f"{base_url}/jobs", json=body).json()
        done = finished(base_url, job["id"])
        assert done["status"] == "succeeded", done
        results.append(done["result"]["base64"])
    assert results[0] != results[1], "the enhancer did not run on the photo job"


def test_a_clip_by_url_is_uploaded_to_output_url(
    base_url: str, source: str, clip: bytes, host: ImageHost, tmp_path: Path
) -> None:
    target = host.serve("/clip.mp4", clip, content_type="video/mp4")
    body = {"source_image": source, "target_url": target, "output_url": host.url("/bucket/out.mp4")}
    done = finished(base_url, httpx.post(f"{base_url}/jobs", json=body).json()["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["uploaded"] is True and done["result"]["base64"] is None
    uploaded = host.uploads["/bucket/out.mp4"]
    assert done["result"]["size_bytes"] == len(uploaded)
    assert count_frames(uploaded, tmp_path) == FRAMES


def test_a_refused_upload_keeps_the_result_and_says_why(
    base_url: str, source: str, clip: bytes, host: ImageHost, tmp_path: Path
) -> None:
    host.upload_status["/bucket/denied.mp4"] = 403
    body = {
        "source_image": source,
        "target_video": base64.b64encode(clip).decode(),
        "output_url": host.url("/bucket/denied.mp4"),
    }
    done = finished(base_url, httpx.post(f"{base_url}/jobs", json=body).json()["id"])
    assert (done["status"], done["delivery_failed"]) == ("succeeded", True), done
    assert "403" in done["delivery_error"]
    assert done["result"]["uploaded"] is False
    kept = httpx.get(f"{base_url}{done['result']['url']}")
    assert kept.status_code == 200 and kept.headers["content-type"] == "video/mp4"
    assert count_frames(kept.content, tmp_path) == FRAMES


def test_a_bad_container_fails_the_job(base_url: str, source: str, host: ImageHost) -> None:
    bogus = base64.b64encode(b"\x00\x00\x00\x20ftypisom" + bytes(500)).decode()
    done = finished(
        base_url,
        httpx.post(f"{base_url}/jobs", json={"source_image": source, "target_video": bogus}).json()["id"],
    )
    assert (done["status"], done["error"]["error_code"]) == ("failed", "INVALID_IMAGE")


def test_an_output_or_webhook_url_on_a_refused_network_is_refused_at_once(
    settings: Settings, source: str, clip: bytes
) -> None:
    strict = derive(settings, allow_private_urls=False)
    with app_in_thread(create_app(strict)) as url:
        wait_ready(url)
        for name in ("output_url", "webhook_url"):
            body = {
                "source_image": source,
                "target_video": base64.b64encode(clip).decode(),
                name: "http://127.0.0.1:9/out.mp4",
            }
            refused = httpx.post(f"{url}/jobs", json=body)
            assert (refused.status_code, refused.json()["error_code"]) == (400, "URL_NOT_ALLOWED")


def test_a_job_is_cancelled_and_forgotten(settings: Settings, source: str, clip: bytes) -> None:
    slow = derive(settings, failpoints="slow_swap:0.3")
    with app_in_thread(create_app(slow)) as url:
        wait_ready(url)
        body = {"source_image": source, "target_video": base64.b64encode(clip).decode()}
        job = httpx.post(f"{url}/jobs", json=body).json()
        time.sleep(0.5)
        cancelled = httpx.delete(f"{url}/jobs/{job['id']}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        gone = httpx.get(f"{url}/jobs/{job['id']}")
        assert gone.status_code == 404
        assert gone.json()["error_code"] == "JOB_NOT_FOUND"


def test_unknown_jobs_are_not_found(base_url: str) -> None:
    for answer in (httpx.get(f"{base_url}/jobs/nope"), httpx.delete(f"{base_url}/jobs/nope")):
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "JOB_NOT_FOUND"


def test_the_target_is_given_exactly_once(base_url: str, source: str) -> None:
    answer = httpx.post(f"{base_url}/jobs", json={"source_image": source})
    assert answer.status_code == 422
    assert answer.json()["error_code"] == "INVALID_INPUT"


def test_the_job_bound_counts_queued_and_running_jobs_only(
    settings: Settings, source: str, clip: bytes
) -> None:
    with app_in_thread(create_app(derive(settings, max_jobs=1, failpoints="slow_swap:0.05"))) as url:
        wait_ready(url)
        body = {"source_image": source, "target_video": base64.b64encode(clip).decode()}
        first = httpx.post(f"{url}/jobs", json=body).json()
        refused = httpx.post(f"{url}/jobs", json=body)
        assert refused.status_code == 503 and refused.json()["error_code"] == "BUSY"
        assert int(refused.headers["retry-after"]) >= 1
        assert finished(url, first["id"])["status"] == "succeeded"
        again = httpx.post(f"{url}/jobs", json=body)
        assert again.status_code == 202, "a finished job kept for its TTL must not hold a place"
        assert finished(url, again.json()["id"])["status"] == "succeeded"


def test_failed_jobs_do_not_count_against_the_bound(settings: Settings, source: str, clip: bytes) -> None:
    with app_in_thread(create_app(derive(settings, max_jobs=1, max_video_frames=10))) as url:
        wait_ready(url)
        body = {"source_image": source, "target_video": base64.b64encode(clip).decode()}
        for _ in range(3):
            answer = httpx.post(f"{url}/jobs", json=body)
            assert answer.status_code == 202, answer.text
            done = finished(url, answer.json()["id"])
            assert (done["status"], done["error"]["error_code"]) == ("failed", "IMAGE_TOO_LARGE")
            assert "frames" in done["error"]["message"]


def test_slow_readers_of_a_large_result_cost_file_handles_not_memory(settings: Settings) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="faceswap-data-"))
    with app_in_thread(create_app(derive(settings, data_dir=data_dir))) as url:
        job_id = asyncio.run(finished_job_with_result(data_dir, 19 * 1024 * 1024))
        before = resident_bytes()
        readers = []
        for _ in range(32):
            reader = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.sendall(f"GET /jobs/{job_id}/result HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            readers.append(reader)
        time.sleep(2.0)  # let every response fill its socket and block
        held = resident_bytes() - before
        assert readers[0].recv(12) == b"HTTP/1.1 200"
        for reader in readers:
            reader.close()
    assert held < 64 * 1024 * 1024, f"{held >> 20} MiB held for 32 readers that do not read"


async def finished_job_with_result(data_dir: Path, size: int) -> str:
    """A succeeded job with a `size`-byte result, written to the app's store as its worker would."""
    store = SQLiteJobStore(data_dir)
    record = JobRecord(id="a" * 32, created=time.time())
    await store.add(record, b"{}")
    claimed = await store.claim("writer", 30.0)
    assert claimed is not None
    (data_dir / "results" / f"{record.id}.mp4").write_bytes(os.urandom(size))
    claimed.state, claimed.finished, claimed.result_file = "succeeded", time.time(), f"{record.id}.mp4"
    claimed.result = {"kind": "video", "media_type": "video/mp4", "size_bytes": size, "width": 2, "height": 2}
    await store.finish(claimed)
    await store.close()
    return record.id


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
