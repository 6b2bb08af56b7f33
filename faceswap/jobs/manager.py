"""The job manager: jobs accepted into a store that outlives the process, run under leases, never lost.

- POST /jobs writes the request to the store and answers 202; the request is not held in memory.
- A dispatcher claims queued jobs (as many at once as there are swap slots), each under a lease it renews
  every second; a job waiting for its slot says ``queued``, and ``running`` once it swaps.
- At start, jobs a dead process held go back to the queue (their starts counted, up to
  ``FACESWAP_JOB_MAX_ATTEMPTS``) and work folders nobody holds are removed; with Redis, every replica also
  takes back jobs whose worker's lease ran out.
- Draining (SIGTERM): no new job is taken and POST /jobs is NOT_READY; running jobs get the drain timeout,
  then are given back to the queue for the next process.
- A finished job keeps its result file (``GET /jobs/{id}/result``), not its request, for
  ``FACESWAP_JOB_TTL``; results are also bounded by ``FACESWAP_MAX_RESULTS_BYTES`` and the free space kept
  (``FACESWAP_MIN_FREE_BYTES``), the oldest removed first.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faceswap.errors import ErrorCode, SwapError, is_disk_full, storage_full
from faceswap.jobs.delivery import upload_result
from faceswap.jobs.files import JobFiles
from faceswap.jobs.models import JobInput, JobRecord, JobResult, JobStatus
from faceswap.jobs.run import run_job
from faceswap.jobs.store import JobStore
from faceswap.jobs.webhook import send_webhook
from faceswap.lifecycle import Status
from faceswap.runtime.memory import release_free_heap
from faceswap.service import SwapService
from faceswap.urlguard import check_url

__all__ = ["JobManager", "not_found", "open_store"]

log = logging.getLogger(__name__)

TICK = 1.0
"""Seconds between lease renewals, progress writes and looks at the queue (other replicas' jobs)."""
JANITOR_EVERY = 10.0
FIRST_JOB_SECONDS = 30.0
SMOOTHING = 0.3
ROOM_MARGIN = 64 * 1024 * 1024
"""Bytes a job needs beyond its request before it is accepted: its work files' first writes."""


def not_found(job_id: str) -> SwapError:
    """JOB_NOT_FOUND for an id that is unknown, cancelled or expired."""
    return SwapError(
        ErrorCode.JOB_NOT_FOUND,
        f"No job {job_id[:64]} is kept: unknown, cancelled, or expired (finished jobs are kept for "
        "FACESWAP_JOB_TTL seconds).",
    )


def open_store(service: SwapService) -> JobStore:
    """Redis when FACESWAP_JOBS_URL is set, else SQLite in FACESWAP_DATA_DIR."""
    settings = service.settings
    if settings.jobs_url is not None:
        from faceswap.jobs.redis_store import RedisJobStore

        return RedisJobStore(settings.jobs_url.get_secret_value())
    from faceswap.jobs.sqlite_store import SQLiteJobStore

    return SQLiteJobStore(settings.data_dir)


@dataclass
class _Running:
    record: JobRecord
    task: asyncio.Task[None] | None = None
    saved: dict[str, Any] = field(default_factory=dict)
    clock: float = field(default_factory=time.monotonic)


class JobManager:
    """Jobs of every adapter: accepted, run, kept and evicted through one store."""

    def __init__(self, service: SwapService, store: JobStore | None = None) -> None:
        self.service = service
        self.settings = service.settings
        self.store = store or open_store(service)
        self.files = JobFiles(self.settings.data_dir)
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._running: dict[str, _Running] = {}
        self._giving_back: set[str] = set()
        self._wake = asyncio.Event()
        self._accepting = True
        self._mean_seconds = FIRST_JOB_SECONDS
        self._loops: list[asyncio.Task[None]] = []
        self._notices: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Take back what a dead process left (jobs and work folders), then start running jobs.

        A store that cannot be reached does not stop the start: /swap works meanwhile, job routes answer
        NOT_READY, and the loops keep trying.
        """
        try:
            await self._take_back(everyone=self.store.exclusive)
            await self._sweep_work()
        except SwapError as exc:
            log.error("jobs left by an earlier process are taken back later: %s", exc.message)
        self._loops = [
            asyncio.create_task(self._dispatch(), name="jobs-dispatch"),
            asyncio.create_task(self._heartbeat(), name="jobs-heartbeat"),
            asyncio.create_task(self._janitor(), name="jobs-janitor"),
        ]

    async def _take_back(self, everyone: bool = False) -> None:
        """Jobs whose worker died back to the queue; those started too often fail, and their webhook hears."""
        for record in await self.store.requeue_expired(self.settings.job_max_attempts, everyone=everyone):
            log.warning("job %s was interrupted (start %d); now %s", record.id, record.attempts, record.state)
            if record.state == "failed" and record.webhook_url is not None:
                self._notify(record.webhook_url, record)

    async def _sweep_work(self) -> None:
        for job_id in await asyncio.to_thread(self.files.work_folders):
            record = await self.store.get(job_id)
            held = record is not None and record.owner not in (None, self.owner)
            if not held and job_id not in self._running:
                await asyncio.to_thread(self.files.remove_work, job_id)

    def _refuse_when_not_ready(self) -> None:
        lifecycle = self.service.lifecycle
        status = lifecycle.state.status
        if not self._accepting or status is Status.DRAINING:
            raise SwapError(
                ErrorCode.NOT_READY, "The worker is shutting down; send the job again.", retry_after=1
            )
        if status in (Status.RECOVERING, Status.FAILED):
            lifecycle.engine()  # raises NOT_READY with the reason and Retry-After

    def _check_urls(self, request: JobInput) -> None:
        for label, url in (("output", request.output_url), ("webhook", request.webhook_url)):
            if url is not None:
                check_url(
                    url,
                    allowlist=self.settings.url_allowlist,
                    allow_private=self.settings.allow_private_urls,
                    label=label,
                )

    async def submit(self, request: JobInput) -> JobStatus:
        """Accept a job (202): NOT_READY while draining or recovering, BUSY at the bound, STORAGE_FULL."""
        self._refuse_when_not_ready()
        self._check_urls(request)
        if await self.store.active() >= self.settings.max_jobs:
            raise SwapError(
                ErrorCode.BUSY,
                f"{self.settings.max_jobs} jobs are queued or running; retry once one has finished.",
                retry_after=self._expected_wait(),
            )
        raw = request.model_dump_json(exclude_none=True).encode()
        await self._make_room(len(raw) + ROOM_MARGIN)
        record = JobRecord(id=uuid.uuid4().hex, created=time.time(), webhook_url=request.webhook_url)
        try:
            await self.store.add(record, raw)
        except OSError as exc:
            if is_disk_full(exc):
                raise storage_full() from exc
            raise
        self._wake.set()
        return record.status()

    def _expected_wait(self) -> int:
        """Seconds until a running job of this process is likely to end (a place frees), at least 1."""
        remaining = []
        for running in self._running.values():
            eta = running.record.progress.get("eta_seconds")
            elapsed = time.monotonic() - running.clock
            remaining.append(eta if eta is not None else max(self._mean_seconds - elapsed, 1.0))
        return max(1, round(min(remaining, default=self._mean_seconds)))

    async def get(self, job_id: str) -> JobStatus:
        """A kept job's status, progress and result (inline base64 when small enough)."""
        record = await self.store.get(job_id)
        if record is None:
            raise not_found(job_id)
        running = self._running.get(job_id)
        if running is not None:
            record = running.record
        return await self._with_inline(record.status(), record)

    async def _with_inline(self, status: JobStatus, record: JobRecord) -> JobStatus:
        result = status.result
        if result is None or result.uploaded or result.size_bytes > self.settings.max_inline_result_bytes:
            return status
        path = self.files.result(record.result_file or "")
        if path is not None:
            data = await asyncio.to_thread(path.read_bytes)
            result.base64 = base64.b64encode(data).decode()
        return status

    async def result_file(self, job_id: str) -> tuple[Path, str]:
        """A finished job's result file and media type, to serve as a file."""
        record = await self.store.get(job_id)
        if record is None:
            raise not_found(job_id)
        path = self.files.result(record.result_file or "")
        if record.state != "succeeded" or record.result is None:
            raise SwapError(
                ErrorCode.JOB_NOT_FOUND, f"Job {job_id} has no result: it is {record.state}.", retry_after=1
            )
        if path is None:
            where = (
                "was uploaded to output_url and is not kept here"
                if record.result.get("uploaded")
                else (
                    "is not in this replica's data folder (replicas share FACESWAP_DATA_DIR to serve results)"
                )
            )
            raise SwapError(ErrorCode.JOB_NOT_FOUND, f"The result of job {job_id} {where}.")
        return path, str(record.result["media_type"])

    async def cancel(self, job_id: str) -> JobStatus:
        """Stop a job (at its next frame, wherever it runs) and forget it with its files."""
        record = await self.store.get(job_id)
        if record is None:
            raise not_found(job_id)
        await self.store.delete(job_id)
        running = self._running.get(job_id)
        if running is not None and running.task is not None:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
        await asyncio.to_thread(self.files.remove_result, record.result_file)
        if record.state in ("queued", "running"):
            record.state = "cancelled"
        return record.status()

    async def wait(self, job_id: str, poll: float = 0.05) -> JobStatus:
        """The job's status once it has finished (tests and the CLI)."""
        while (status := await self.get(job_id)).status in ("queued", "running"):
            await asyncio.sleep(poll)
        return status

    async def drain(self, timeout: float) -> None:
        """Take no new job; give running ones `timeout` seconds, then give them back to the queue."""
        self._accepting = False
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._running and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for job_id, running in list(self._running.items()):
            self._giving_back.add(job_id)
            if running.task is not None:
                running.task.cancel()
        await asyncio.gather(*(r.task for r in self._running.values() if r.task), return_exceptions=True)

    async def close(self) -> None:
        """Drain at once (running jobs go back to the queue), stop the loops, close the store."""
        await self.drain(0.0)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, *self._notices, return_exceptions=True)
        await self.store.close()

    async def _dispatch(self) -> None:
        """Claim queued jobs while there are free slots and the models are ready."""
        store_down = False
        while self._accepting:
            try:
                claimed = await self._claim_one()
            except SwapError as exc:
                if not store_down:
                    log.error("jobs wait: %s", exc.message)
                store_down, claimed = True, False
            else:
                if store_down:
                    log.info("the job store answers again")
                store_down = False
            if claimed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)

    async def _claim_one(self) -> bool:
        """Claim and start the next queued job; False when there is none or no room for one."""
        ready = self.service.lifecycle.ready_engine() is not None
        if not ready or len(self._running) >= self.settings.max_concurrency:
            return False
        record = await self.store.claim(self.owner, self.settings.job_lease_seconds)
        if record is None:
            return False
        if not self._accepting:
            await self.store.give_back(record.id, self.owner)
            return False
        running = _Running(record)
        self._running[record.id] = running
        running.task = asyncio.create_task(self._run(running), name=f"job-{record.id}")
        return True

    async def _heartbeat(self) -> None:
        """Renew each running job's lease and write its progress; a job deleted elsewhere is stopped."""
        while True:
            await asyncio.sleep(TICK)
            for job_id, running in list(self._running.items()):
                try:
                    kept = await self.store.renew(job_id, self.owner, self.settings.job_lease_seconds)
                    if not kept and running.task is not None:
                        log.info("job %s was cancelled or taken elsewhere; stopping it", job_id)
                        running.task.cancel()
                    elif job_id in self._running and running.record.progress != running.saved:
                        # A copy taken while the job still runs: one that ended during the renewal is
                        # left to `finish`, its end never written before its request is removed.
                        running.saved = dict(running.record.progress)
                        await self.store.save(replace(running.record, progress=dict(running.saved)))
                except Exception:
                    log.exception("the job store did not answer; trying again")

    async def _janitor(self) -> None:
        """Every JANITOR_EVERY seconds: jobs of dead workers back to the queue, expired results removed."""
        while True:
            try:
                await self._take_back()
                await self.evict()
            except Exception:
                log.exception("job housekeeping failed; trying again")
            await asyncio.sleep(min(JANITOR_EVERY, self.settings.job_lease_seconds))

    async def evict(self) -> int:
        """Remove finished jobs past the TTL, then the oldest while results take too much space."""
        cutoff = time.time() - self.settings.job_ttl
        finished = await self.store.finished()
        evicted = 0
        for job_id, when in finished:
            if when < cutoff:
                await self._evict_one(job_id, "ttl")
                evicted += 1
        for job_id, when in finished:
            if when >= cutoff and await asyncio.to_thread(self._over_disk_bound, 0):
                await self._evict_one(job_id, "disk")
                evicted += 1
        return evicted

    def _over_disk_bound(self, need: int) -> bool:
        too_much = self.files.results_bytes() > self.settings.max_results_bytes
        return too_much or self.files.free_bytes() - need < self.settings.min_free_bytes

    async def _evict_one(self, job_id: str, reason: str) -> None:
        record = await self.store.get(job_id)
        await self.store.delete(job_id)
        if record is not None:
            await asyncio.to_thread(self.files.remove_result, record.result_file)
        self.service.metrics.jobs_evicted.labels(reason).inc()
        log.info("finished job %s removed (%s)", job_id, reason)

    async def _make_room(self, need: int) -> None:
        """Evict the oldest finished jobs until `need` bytes fit above the space kept; else STORAGE_FULL."""
        if not await asyncio.to_thread(self._over_disk_bound, need):
            return
        for job_id, _ in await self.store.finished():
            await self._evict_one(job_id, "disk")
            if not await asyncio.to_thread(self._over_disk_bound, need):
                return
        if self.files.free_bytes() - need < self.settings.min_free_bytes:
            raise storage_full()

    async def _run(self, running: _Running) -> None:
        """Run one claimed job to its end, or give it back when the process stops first."""
        record = running.record
        job_id = record.id
        webhook_url: str | None = None
        try:
            folder = await asyncio.to_thread(self.files.fresh_work, job_id)
            raw = await self.store.request(job_id)
            if raw is None:
                raise SwapError(ErrorCode.INTERNAL, "The job's request was lost; send the job again.")
            request = JobInput.model_validate_json(raw)
            del raw
            webhook_url = request.webhook_url
            await self._swap(running, request, folder)
        except asyncio.CancelledError:
            await asyncio.shield(self._stopped(job_id))
            raise
        except SwapError as exc:
            self._fail(record, exc)
        except Exception as exc:
            if is_disk_full(exc):
                self._fail(record, storage_full())
            else:
                log.exception("job %s failed unexpectedly", job_id)
                self._fail(
                    record,
                    SwapError(ErrorCode.INTERNAL, "The worker hit an unexpected error running the job."),
                )
        finally:
            self._running.pop(job_id, None)
            await asyncio.to_thread(self._clean_up, job_id)
            self._wake.set()
        record.finished = time.time()
        await self.store.finish(record)
        log.info("job %s %s", job_id, record.state)
        if webhook_url is not None:
            self._notify(webhook_url, record)

    def _clean_up(self, job_id: str) -> None:
        """A job's work folder removed, and the memory its frames and codecs held given back."""
        self.files.remove_work(job_id)
        gc.collect()
        release_free_heap()

    async def _stopped(self, job_id: str) -> None:
        """A job's task was cancelled: given back when the process stops, else it was deleted."""
        if job_id in self._giving_back:
            self._giving_back.discard(job_id)
            await self.store.give_back(job_id, self.owner)
            log.info("job %s given back to the queue", job_id)

    @staticmethod
    def _fail(record: JobRecord, error: SwapError) -> None:
        record.state = "failed"
        record.error = {"error_code": error.code.value, "message": error.message}

    async def _swap(self, running: _Running, request: JobInput, folder: Path) -> None:
        """The swap, the result published by rename, then delivered to output_url when asked."""
        record = running.record

        def on_start() -> None:
            record.state, record.started = "running", time.time()
            running.clock = time.monotonic()
            running.saved = {}

        def advance(done: int, total: int) -> None:
            elapsed = time.monotonic() - running.clock
            eta = elapsed / done * (total - done) if done else None
            record.progress = {
                "frames_done": done,
                "frames_total": total,
                "eta_seconds": None if eta is None else round(eta, 2),
            }

        output = await run_job(self.service, request, folder, advance, on_start)
        size = output.path.stat().st_size
        record.result_file = await asyncio.to_thread(self.files.publish, record.id, output.path)
        result = JobResult(size_bytes=size, url=f"/jobs/{record.id}/result", **output.details)
        self._mean_seconds += SMOOTHING * (time.monotonic() - running.clock - self._mean_seconds)
        if request.output_url is not None:
            path = self.files.results / record.result_file
            try:
                await upload_result(path, request.output_url, result.media_type, self.settings)
            except SwapError as exc:
                log.warning("job %s: the upload failed, the result is kept: %s", record.id, exc.message)
                record.delivery_error = exc.message
            else:
                result.uploaded, result.url = True, None
                await asyncio.to_thread(self.files.remove_result, record.result_file)
                record.result_file = None
        record.state, record.result = "succeeded", result.model_dump(exclude={"base64"})

    def _notify(self, url: str, record: JobRecord) -> None:
        """POST the final status to the job's webhook_url in the background (its failure is logged only)."""
        payload = record.status().model_dump(mode="json")

        async def send() -> None:
            try:
                await send_webhook(url, payload, self.settings)
            except SwapError as exc:
                log.warning("job %s: the webhook was not delivered: %s", record.id, exc.message)

        task = asyncio.create_task(send(), name=f"webhook-{record.id}")
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)
