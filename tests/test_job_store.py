"""One suite for every job store: SQLite (always) and Redis (a real redis-server, when installed)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from faceswap.jobs.models import JobRecord
from faceswap.jobs.redis_store import RedisJobStore
from faceswap.jobs.sqlite_store import SQLiteJobStore
from faceswap.jobs.store import JobStore
from tests.redis_server import NEEDS_REDIS, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=NEEDS_REDIS)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A factory of stores over one backing place (two calls: two replicas, or a process and its restart)."""
    if request.param == "sqlite":
        yield lambda: SQLiteJobStore(tmp_path)
        return
    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    yield lambda: RedisJobStore(url)


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def record(job_id: str) -> JobRecord:
    return JobRecord(id=job_id, created=time.time())


async def _claimed(store: JobStore, owner: str = "a", lease: float = 30.0) -> JobRecord:
    claimed = await store.claim(owner, lease)
    assert claimed is not None
    return claimed


def test_a_job_is_kept_with_its_request_and_claimed_once(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b'{"x": 1}')
        await store.add(record("j2"), b'{"x": 2}')
        assert (await store.get("j1")).state == "queued"
        assert await store.request("j1") == b'{"x": 1}'
        assert await store.active() == 2
        first = await _claimed(store)
        second = await _claimed(store, "b")
        assert (first.id, first.owner, first.attempts) == ("j1", "a", 1)
        assert second.id == "j2"
        assert await store.claim("c", 30.0) is None
        assert await store.get("missing") is None
        await store.close()

    run(scenario())


def test_a_finished_job_keeps_its_result_not_its_request(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b"request")
        job = await _claimed(store)
        job.state = "running"
        job.progress = {"frames_done": 3, "frames_total": 9, "eta_seconds": 1.5}
        await store.save(job)
        assert (await store.get("j1")).progress["frames_done"] == 3
        job.state, job.finished, job.result_file = "succeeded", time.time(), "j1.mp4"
        await store.finish(job)
        kept = await store.get("j1")
        assert (kept.state, kept.owner, kept.result_file) == ("succeeded", None, "j1.mp4")
        assert await store.request("j1") is None
        assert await store.active() == 0
        assert [job_id for job_id, _ in await store.finished()] == ["j1"]
        await store.delete("j1")
        assert await store.get("j1") is None and await store.finished() == []
        await store.close()

    run(scenario())


def test_a_lost_lease_puts_the_job_back_for_another_worker(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b"request")
        await _claimed(store, "dead", lease=0.2)
        assert await store.requeue_expired(3) == []
        await asyncio.sleep(0.4)
        other = make_store()
        (requeued,) = await other.requeue_expired(3)
        assert (requeued.id, requeued.state, requeued.owner) == ("j1", "queued", None)
        taken = await _claimed(other, "alive")
        assert (taken.id, taken.attempts) == ("j1", 2)
        assert not await store.renew("j1", "dead", 30.0)
        assert await other.renew("j1", "alive", 30.0)
        assert await store.request("j1") == b"request"
        await store.close()
        await other.close()

    run(scenario())


def test_a_restart_requeues_every_claimed_job_and_gives_up_after_the_attempts(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b"request")
        for attempt in range(1, 3):
            assert (await _claimed(store)).attempts == attempt
            (back,) = await store.requeue_expired(3, everyone=True)
        assert back.state == "queued"
        await _claimed(store)
        (given_up,) = await store.requeue_expired(3, everyone=True)
        kept = await store.get("j1")
        assert kept.state == given_up.state == "failed"
        assert "started 3 times" in kept.error["message"]
        assert kept.finished is not None
        assert await store.active() == 0 and await store.request("j1") is None
        await store.close()

    run(scenario())


def test_a_job_given_back_is_first_in_the_queue_and_not_counted(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b"1")
        await store.add(record("j2"), b"2")
        job = await _claimed(store)
        await store.give_back(job.id, "a")
        again = await _claimed(store, "b")
        assert (again.id, again.attempts) == ("j1", 1)
        await store.close()

    run(scenario())


def test_a_deleted_job_leaves_the_queue_and_its_lease(make_store) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.add(record("j1"), b"1")
        await store.add(record("j2"), b"2")
        await _claimed(store)
        await store.delete("j1")
        await store.delete("j2")
        assert not await store.renew("j1", "a", 30.0)
        assert await store.claim("a", 30.0) is None
        assert await store.active() == 0
        await store.close()

    run(scenario())


def test_a_record_with_a_field_this_version_does_not_know_still_reads() -> None:
    kept = record("j1")
    written = {**json.loads(kept.to_json()), "added_later": "x"}  # as a newer replica writes it
    assert JobRecord.from_json(json.dumps(written)) == kept
