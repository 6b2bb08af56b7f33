"""The job manager in process: kept, evicted, refused for space, reported by webhook, nothing leaked."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.fetch import ImageFetcher
from faceswap.jobs import JobInput, JobManager
from faceswap.jobs import manager as job_manager
from faceswap.jobs.models import ACTIVE_STATES, JobRecord
from faceswap.jobs.sqlite_store import SQLiteJobStore
from faceswap.lifecycle import ModelLifecycle
from faceswap.runtime.failpoints import Failpoints
from faceswap.service import SwapService
from faceswap.testing.clips import write_clip
from faceswap.testing.synthetic import draw_faces
from tests.conftest import derive, encode_png
from tests.servers import ImageHost, free_port

SOURCE = base64.b64encode(encode_png(draw_faces(640, 480, 1, seed=9)[0])).decode()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clips") / "in.mp4"
    write_clip(path, "mp4", frames=12, size=(256, 256))
    return base64.b64encode(path.read_bytes()).decode()


@asynccontextmanager
async def manager(settings: Settings) -> AsyncIterator[JobManager]:
    """A started JobManager over a loaded synthetic engine."""
    lifecycle = ModelLifecycle(settings, Failpoints(settings.failpoints))
    assert lifecycle.try_load()
    service = SwapService(settings, lifecycle, ImageFetcher(settings))
    jobs = JobManager(service)
    await jobs.start()
    try:
        yield jobs
    finally:
        await jobs.close()
        await service.fetcher.aclose()
        service.close()


def run(settings: Settings, scenario: Callable[[JobManager], Awaitable[None]]) -> None:
    async def main() -> None:
        async with manager(settings) as jobs:
            await scenario(jobs)

    asyncio.run(main())


def test_a_finished_job_is_evicted_after_the_ttl_with_a_metric(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        status = await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        done = await jobs.wait(status.id)
        assert done.status == "succeeded"
        assert jobs.files.result(f"{status.id}.mp4") is not None
        await asyncio.sleep(1.1)
        assert await jobs.evict() == 1
        with pytest.raises(SwapError) as gone:
            await jobs.get(status.id)
        assert gone.value.code is ErrorCode.JOB_NOT_FOUND
        assert "FACESWAP_JOB_TTL" in gone.value.message
        assert jobs.files.result(f"{status.id}.mp4") is None
        assert jobs.service.metrics.jobs_evicted.labels("ttl")._value.get() == 1

    run(derive(settings, job_ttl=1.0), scenario)


def test_results_over_the_disk_bound_are_evicted_oldest_first(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        ids = []
        for _ in range(3):
            status = await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
            assert (await jobs.wait(status.id)).status == "succeeded"
            ids.append(status.id)
        one_result = jobs.files.results_bytes() // 3
        jobs.settings = derive(jobs.settings, max_results_bytes=one_result + one_result // 2)
        assert await jobs.evict() == 2
        kept = [job_id for job_id in ids if await jobs.store.get(job_id) is not None]
        assert kept == ids[-1:], "the newest result is kept, the older ones removed first"
        assert jobs.service.metrics.jobs_evicted.labels("disk")._value.get() == 2

    run(derive(settings), scenario)


def test_no_room_for_the_request_is_storage_full_before_the_work(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        with pytest.raises(SwapError) as refused:
            await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        assert (refused.value.code, refused.value.status) == (ErrorCode.STORAGE_FULL, 507)
        assert await jobs.store.active() == 0

    run(derive(settings, min_free_bytes=2**62), scenario)


def test_a_disk_that_fills_up_mid_clip_fails_the_job_storage_full(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        status = await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        done = await jobs.wait(status.id)
        assert (done.status, done.error and done.error.error_code) == ("failed", "STORAGE_FULL")
        assert not (jobs.files.work / status.id).exists(), "the work folder is given back"

    run(derive(settings, failpoints="disk_full:1"), scenario)


async def the_one_webhook(host: ImageHost) -> tuple[str, dict[str, Any]]:
    """The path and JSON body of the one POST `host` receives, waited for up to 10 s."""
    for _ in range(200):
        if host.posts:
            break
        await asyncio.sleep(0.05)
    ((path, body, _),) = host.posts
    return path, json.loads(body)


def test_the_webhook_gets_the_final_status(settings: Settings, clip: str, image_host: ImageHost) -> None:
    async def scenario(jobs: JobManager) -> None:
        request = JobInput(source_image=SOURCE, target_video=clip, webhook_url=image_host.url("/hook"))
        status = await jobs.submit(request)
        done = await jobs.wait(status.id)
        path, payload = await the_one_webhook(image_host)
        assert path == "/hook"
        assert (payload["id"], payload["status"]) == (status.id, done.status) == (status.id, "succeeded")
        assert payload["result"]["url"] == f"/jobs/{status.id}/result"

    run(derive(settings), scenario)


def test_a_job_given_up_at_start_tells_its_webhook(settings: Settings, image_host: ImageHost) -> None:
    settings = derive(settings, job_max_attempts=1)
    request = JobInput(source_image=SOURCE, target_image=SOURCE, webhook_url=image_host.url("/given-up"))

    async def interrupted() -> str:
        """A job claimed by a process that died: its record owned, its lease running."""
        store = SQLiteJobStore(settings.data_dir)
        record = JobRecord(id="d" * 32, created=time.time(), webhook_url=request.webhook_url)
        await store.add(record, request.model_dump_json(exclude_none=True).encode())
        assert await store.claim("dead", 60.0) is not None
        await store.close()
        return record.id

    job_id = asyncio.run(interrupted())

    async def scenario(jobs: JobManager) -> None:
        assert (await jobs.get(job_id)).status == "failed"
        path, payload = await the_one_webhook(image_host)
        assert path == "/given-up"
        assert (payload["id"], payload["status"]) == (job_id, "failed")
        assert "send it again" in payload["error"]["message"]

    run(settings, scenario)


def test_a_job_ending_during_a_lease_renewal_shows_its_end_only_once_stored(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_manager, "TICK", 0.01)
    before_finish: list[tuple[str, bool]] = []

    async def scenario(jobs: JobManager) -> None:
        renew, finish = jobs.store.renew, jobs.store.finish

        async def overtaken_renew(job_id: str, owner: str, lease_seconds: float) -> bool:
            kept = await renew(job_id, owner, lease_seconds)
            running = jobs._running.get(job_id)
            while running is not None and running.record.state in ACTIVE_STATES:
                await asyncio.sleep(0.005)  # the job ends while its lease is being renewed
            return kept

        async def watched_finish(record: JobRecord) -> None:
            status = await jobs.get(record.id)
            before_finish.append((status.status, await jobs.store.request(record.id) is not None))
            await finish(record)

        monkeypatch.setattr(jobs.store, "renew", overtaken_renew)
        monkeypatch.setattr(jobs.store, "finish", watched_finish)
        status = await jobs.submit(JobInput(source_image=SOURCE, target_image=SOURCE))
        assert (await jobs.wait(status.id)).status == "succeeded"

    run(derive(settings), scenario)
    ((shown, request_kept),) = before_finish
    assert request_kept and shown in ACTIVE_STATES, "the end shows only once the store holds it"


def test_a_job_waiting_for_its_slot_says_queued(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        slot = await jobs.service.limiter.acquire()  # a request holds the only slot
        status = await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        await asyncio.sleep(1.0)
        assert (await jobs.get(status.id)).status == "queued"
        jobs.service.limiter.release(slot)
        assert (await jobs.wait(status.id)).status == "succeeded"

    run(derive(settings), scenario)


def test_draining_refuses_new_jobs_and_gives_running_ones_back(settings: Settings, clip: str) -> None:
    async def scenario(jobs: JobManager) -> None:
        status = await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        while (await jobs.get(status.id)).status != "running":
            await asyncio.sleep(0.02)
        await jobs.drain(0.1)
        with pytest.raises(SwapError) as refused:
            await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        assert refused.value.code is ErrorCode.NOT_READY
        kept = await jobs.store.get(status.id)
        assert kept is not None
        assert (kept.state, kept.owner, kept.attempts) == ("queued", None, 0)
        assert await jobs.store.request(status.id) is not None

    run(derive(settings, failpoints="slow_swap:0.3"), scenario)


def test_an_unreachable_redis_makes_the_job_routes_not_ready_not_the_start_fail(
    settings: Settings, clip: str
) -> None:
    async def scenario(jobs: JobManager) -> None:
        with pytest.raises(SwapError) as refused:
            await jobs.submit(JobInput(source_image=SOURCE, target_video=clip))
        assert (refused.value.code, refused.value.retry_after) == (ErrorCode.NOT_READY, 5)
        assert "Redis" in refused.value.message
        with pytest.raises(SwapError) as unknown:
            await jobs.get("a" * 32)
        assert unknown.value.code is ErrorCode.NOT_READY

    run(derive(settings, jobs_url=f"redis://127.0.0.1:{free_port()}/0"), scenario)


def test_a_finished_job_keeps_no_request(settings: Settings) -> None:
    bogus = base64.b64encode(b"\x00\x00\x00\x20ftypisom" + bytes(8 * 1024 * 1024)).decode()

    async def scenario(jobs: JobManager) -> None:
        ids = []
        for _ in range(4):
            status = await jobs.submit(JobInput(source_image=SOURCE, target_video=bogus))
            ids.append(status.id)
        for job_id in ids:
            done = await jobs.wait(job_id)
            assert (done.status, done.error and done.error.error_code) == ("failed", "INVALID_IMAGE"), done
            assert await jobs.store.request(job_id) is None
        assert not any((jobs.settings.data_dir / "requests").iterdir()), "no request is kept once a job ends"
        assert await jobs.store.active() == 0, "failed jobs hold no place"

    run(derive(settings), scenario)
