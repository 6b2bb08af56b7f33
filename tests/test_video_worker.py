"""The queue worker runs the same job as POST /jobs, with progress through the SDK's progress_update."""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
from pathlib import Path
from typing import Any

from faceswap.config import Settings
from faceswap.runpod_worker import QueueWorker, is_job_input
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.receivers import Answer, Receivers

FRAMES = 16


def test_a_clip_job_reports_progress_and_returns_the_clip(settings: Settings, tmp_path: Path) -> None:
    clip = tmp_path / "in.webm"
    write_clip(clip, "webm", frames=FRAMES, size=(256, 256))
    updates: list[tuple[str, Any]] = []
    worker = QueueWorker(settings, progress=lambda job, value: updates.append((job["id"], value)))
    assert worker.load()
    job_input = {
        "source_image": base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode(),
        "target_video": base64.b64encode(clip.read_bytes()).decode(),
        "target_index": "all",
    }
    output = asyncio.run(worker.handle({"id": "job-7", "input": job_input}))
    assert output["success"] is True, output
    assert (output["kind"], output["media_type"], output["frames"]) == ("video", "video/webm", FRAMES)
    assert output["swapped_frames"] == FRAMES
    assert base64.b64decode(output["base64"])[:4] == b"\x1a\x45\xdf\xa3"
    assert updates and updates[-1] == ("job-7", {"frames_done": FRAMES, "frames_total": FRAMES})


def test_job_inputs_are_recognised() -> None:
    assert is_job_input({"action": "job"})
    assert is_job_input({"target_video": "AAAA"})
    assert is_job_input({"output_url": "https://bucket/x"})
    assert not is_job_input({"source_url": "a", "target_url": "b"})
    assert not is_job_input(["target_video"])


def test_a_bad_job_is_an_output_with_success_false(settings: Settings) -> None:
    worker = QueueWorker(settings, progress=lambda job, value: None)
    output = asyncio.run(worker.handle({"id": "job-8", "input": {"action": "job", "target_video": "AAAA"}}))
    assert (output["success"], output["error_code"], output["request_id"]) == (
        False,
        "INVALID_INPUT",
        "job-8",
    )


def test_a_drain_stops_the_running_job_after_the_drain_timeout(settings: Settings, tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    write_clip(clip, "mp4", frames=FRAMES, size=(256, 256))
    slow = derive(settings, failpoints="slow_swap:0.5", drain_timeout=0.5)
    updates: list[Any] = []
    worker = QueueWorker(slow, progress=lambda job, value: updates.append(value))
    assert worker.load()
    job_input = {
        "source_image": base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode(),
        "target_video": base64.b64encode(clip.read_bytes()).decode(),
    }

    async def drained() -> dict[str, Any]:
        job = asyncio.create_task(worker.handle({"id": "job-9", "input": job_input}))
        while not updates:
            await asyncio.sleep(0.05)
        worker.begin_drain()
        return await job

    output = asyncio.run(drained())
    assert (output["success"], output["error_code"]) == (False, "NOT_READY")
    assert "send the job again" in output["message"]
    assert updates[-1]["frames_done"] < FRAMES, "the job stopped before its end"
    assert not list(Path(tempfile.gettempdir()).glob(f"faceswap-job-{os.getpid()}-*")), "no work folder left"
    refused = asyncio.run(worker.handle({"id": "job-10", "input": job_input}))
    assert refused["error_code"] == "NOT_READY"


def test_a_drain_also_ends_an_upload_still_being_retried(settings: Settings, receivers: Receivers) -> None:
    bucket = receivers.serve(Answer(status=503))
    patient = derive(
        settings, drain_timeout=0.5, upload_attempts=100, upload_timeout=600.0, delivery_backoff=0.2
    )
    worker = QueueWorker(patient, progress=lambda job, value: None)
    assert worker.load()
    photo = base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode()
    job_input = {"action": "job", "source_image": photo, "target_image": photo, "output_url": bucket.url()}

    async def drained() -> dict[str, Any]:
        job = asyncio.create_task(worker.handle({"id": "job-11", "input": job_input}))
        while not bucket.received:
            await asyncio.sleep(0.05)
        worker.begin_drain()
        return await asyncio.wait_for(job, timeout=30)

    output = asyncio.run(drained())
    assert (output["success"], output["error_code"]) == (False, "NOT_READY"), output
    assert "send the job again" in output["message"]
