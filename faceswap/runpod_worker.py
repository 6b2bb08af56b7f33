"""The RunPod queue adapter: ``python handler.py``, the SDK's handler over SwapService.

The models load once, before the SDK takes a job. Each job's ``input`` is a swap, or with
``"action": "faces"`` the face list, as on HTTP /runsync: SwapService.run_input validates and serves
it (fetch, deadline, limiter and caches shared by every job). Every request-level failure comes back
as ``output`` with ``success: false``, never through the SDK's ``error`` key, which would drop
``output.message``.

A worker that cannot serve (its models failed to load, or the lifecycle gave up on them after repeated
out-of-memory failures) does not crash: it answers every job at once with NOT_READY and the reason, and
adds ``refresh_worker`` to the result, which the SDK (1.12) turns into ``stopPod``: the platform retires
this worker after the job and starts a fresh one for the next. The client learns why without waiting
for its timeout, a fault of one machine (a GPU that will not start, too little memory) leaves the pool
with it, and a fault of the image itself shows in every job's message.

A job with ``"action": "job"`` (or with ``target_video`` or ``output_url``) runs what POST /jobs runs:
a photo, or a clip frame by frame, with progress sent through the SDK's ``progress_update`` (at most
once a second) and the result inline or PUT to ``output_url`` (when the upload fails and the result fits
inline, it comes back inline with ``delivery_failed``).

On SIGTERM the SDK (1.12) stops taking jobs and waits for the running one without a limit; RunPod kills
the worker after its own grace period. This worker honours ``FACESWAP_DRAIN_TIMEOUT`` instead: the job
running gets that long, then stops at its next frame and answers NOT_READY ("send the job again"), its
work folder removed. RunPod does not run a job again by itself: a job that ends COMPLETED (our answers,
``success: false`` included) is final, and one that ends FAILED or TIMED_OUT is queued again only by
``POST /v2/<endpoint>/retry/<job id>``; so the client sends a stopped job again (the message says so).
Work folders of a worker that died are removed when the next one starts (``sweep_dead_work``).

RunPod's load-balancing mode is plain HTTP: see faceswap.http.server.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, TypeVar

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.fetch import ImageFetcher
from faceswap.http.middleware import new_request_id
from faceswap.jobs.delivery import upload_result
from faceswap.jobs.files import new_work_folder, sweep_dead_work
from faceswap.jobs.models import JobInput
from faceswap.jobs.run import JobOutput, run_job
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.logs import request_id_var
from faceswap.models.check import verify_model_dir
from faceswap.runtime.backoff import backoff_delays
from faceswap.runtime.failpoints import Failpoints
from faceswap.schemas import output_body, validated
from faceswap.service import SwapService

__all__ = ["QueueWorker", "quiet_sdk_logs"]

log = logging.getLogger(__name__)

LOAD_BACKOFF_FIRST = 1.0
LOAD_BACKOFF_CAP = 8.0
WORKER_REMEDY = "RunPod starts a fresh worker for the next job"
SDK_VERBOSE_LEVELS = frozenset({"NOTSET", "TRACE", "DEBUG"})
PROGRESS_INTERVAL = 1.0
DRAIN_POLL = 0.1
T = TypeVar("T")
JOB_FIELDS = ("target_video", "output_url")

ProgressSink = Callable[[dict[str, Any], Any], None]


def sdk_progress(job: dict[str, Any], progress: Any) -> None:
    """The SDK's progress_update (imported on use: importing the SDK configures logging)."""
    from runpod.serverless import progress_update

    progress_update(job, progress)


def is_job_input(fields: object) -> bool:
    """Whether a queue input asks for a background-style job (a clip, or an upload)."""
    if not isinstance(fields, dict):
        return False
    return fields.get("action") == "job" or any(fields.get(name) is not None for name in JOB_FIELDS)


def quiet_sdk_logs() -> None:
    """Keep images and URLs out of the worker's log.

    At DEBUG, the SDK's default level, it logs every job's output (the image's base64); and importing
    the SDK turns on INFO logging for every library, so httpx would log each image URL, signed ones too.
    Imported here: importing the SDK configures logging, which the HTTP server must not get.
    """
    from runpod.serverless.modules.rp_logger import RunPodLogger

    sdk_logger = RunPodLogger()
    if sdk_logger.level in SDK_VERBOSE_LEVELS:
        sdk_logger.set_level("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)


class QueueWorker:
    """The RunPod handler over SwapService: one model load and one service, shared by every job."""

    def __init__(
        self,
        settings: Settings,
        lifecycle: ModelLifecycle | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: ProgressSink = sdk_progress,
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle or ModelLifecycle(
            settings, Failpoints(settings.failpoints), remedy=WORKER_REMEDY
        )
        self._sleep = sleep
        self._progress = progress
        self._service: SwapService | None = None
        self._drain_deadline: float | None = None
        self._sigterm_chained = False

    def load(self) -> bool:
        """Load the models before any job; retry with backoff only while the files themselves check out."""
        sweep_dead_work()
        delays = backoff_delays(LOAD_BACKOFF_FIRST, LOAD_BACKOFF_CAP)
        for attempt in range(self.settings.model_load_retries + 1):
            if self.lifecycle.try_load():
                return True
            if attempt == self.settings.model_load_retries or not self._files_check_out():
                break
            self._sleep(next(delays))
        log.error("every job will be answered NOT_READY and this worker retired: %s", self.failure_reason())
        return False

    def _files_check_out(self) -> bool:
        """True when a retry could help: no file is missing, a pointer, truncated or the wrong model."""
        return all(check.ok for check in verify_model_dir(self.settings.model_dir))

    def failure_reason(self) -> str:
        """Why the models did not load, as the lifecycle tells clients: the folder never by its path."""
        return self.lifecycle.state.reason or "the models did not load; see the worker log."

    def sdk_config(self) -> dict[str, Any]:
        """What ``runpod.serverless.start`` takes: this handler, and as many jobs at once as swap slots."""
        return {"handler": self.handle, "concurrency_modifier": self._concurrency}

    def _concurrency(self, _current: int) -> int:
        return self.settings.max_concurrency

    def _service_now(self) -> SwapService:
        """The shared service, created inside the SDK's event loop on the first job."""
        if self._service is None:
            fetcher = ImageFetcher(self.settings, failpoints=self.lifecycle.failpoints)
            self._service = SwapService(self.settings, self.lifecycle, fetcher)
        return self._service

    async def handle(self, job: dict[str, Any]) -> dict[str, Any]:
        """One RunPod job: the swap or faces body, or the error body with ``success: false``."""
        request_id = str(job.get("id") or new_request_id())
        token = request_id_var.set(request_id)
        self._chain_sigterm()
        try:
            if self._drain_deadline is not None:
                raise SwapError(ErrorCode.NOT_READY, "The worker is shutting down; send the job again.")
            if self.lifecycle.state.status in (Status.FAILED, Status.RECOVERING):
                return self._not_ready(request_id)
            if is_job_input(job.get("input")):
                return await self._run_job(job, request_id)
            return output_body(await self._service_now().run_input(job.get("input"), request_id))
        except SwapError as exc:
            log.info("job failed: %s", exc.code.value)
            return exc.body(request_id)
        except Exception:
            log.exception("unexpected error")
            error = SwapError(ErrorCode.INTERNAL, "The worker hit an unexpected error; the job id is logged.")
            return error.body(request_id)
        finally:
            request_id_var.reset(token)

    async def _run_job(self, job: dict[str, Any], request_id: str) -> dict[str, Any]:
        """A photo or a clip as POST /jobs runs it, its progress sent at most once a second."""
        fields = {name: value for name, value in job["input"].items() if name != "action"}
        request = validated(JobInput, fields)
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if done == total or now - last >= PROGRESS_INTERVAL:
                last = now
                self._progress(job, {"frames_done": done, "frames_total": total})

        async def swap_and_deliver() -> dict[str, Any]:
            output = await run_job(self._service_now(), request, folder, progress)
            return await self._deliver(request, output)

        folder = new_work_folder()
        try:
            result = await self._within_drain(swap_and_deliver())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"success": True, "request_id": request_id, **result}

    async def _deliver(self, request: JobInput, output: JobOutput) -> dict[str, Any]:
        """Upload to output_url when given; else (or when the upload fails) base64 within the inline bound."""
        size = output.path.stat().st_size
        result: dict[str, Any] = {"size_bytes": size, **output.details}
        if request.output_url is not None:
            try:
                await upload_result(
                    output.path, request.output_url, output.details["media_type"], self.settings
                )
            except SwapError as exc:
                if size > self.settings.max_inline_result_bytes:
                    raise
                result |= {"delivery_failed": True, "delivery_error": exc.message}
            else:
                return result | {"uploaded": True}
        if size > self.settings.max_inline_result_bytes:
            raise SwapError(
                ErrorCode.IMAGE_TOO_LARGE,
                f"The result is {size} bytes, over the {self.settings.max_inline_result_bytes} answered "
                "inline; give an output_url to upload it to.",
            )
        data = await asyncio.to_thread(output.path.read_bytes)
        return result | {"base64": base64.b64encode(data).decode(), "uploaded": False}

    def begin_drain(self) -> None:
        """SIGTERM: the job running now gets FACESWAP_DRAIN_TIMEOUT seconds, then stops (see the module)."""
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + self.settings.drain_timeout
            log.info("draining: the running job gets %g s to finish", self.settings.drain_timeout)

    def _chain_sigterm(self) -> None:
        """Start the drain on SIGTERM, then let the SDK's own handler stop taking jobs (main thread only)."""
        if self._sigterm_chained or threading.current_thread() is not threading.main_thread():
            return
        self._sigterm_chained = True
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: FrameType | None) -> None:
            self.begin_drain()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, handler)

    async def _within_drain(self, work: Coroutine[Any, Any, T]) -> T:
        """`work`, stopped when a drain began and its timeout passed (NOT_READY: send the job again)."""
        task = asyncio.ensure_future(work)
        while not task.done():
            await asyncio.wait({task}, timeout=DRAIN_POLL)
            deadline = self._drain_deadline
            if deadline is not None and time.monotonic() > deadline and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise SwapError(
                    ErrorCode.NOT_READY,
                    "The worker shut down before the job finished (its drain timeout passed); "
                    "send the job again.",
                    retry_after=1,
                )
        return task.result()

    def _not_ready(self, request_id: str) -> dict[str, Any]:
        reason = self.failure_reason().rstrip(".")
        if self.lifecycle.state.status is Status.RECOVERING:
            reason = f"{reason}; {WORKER_REMEDY}: send the job again"
        error = SwapError(ErrorCode.NOT_READY, f"This worker cannot swap faces: {reason}.")
        log.info("job answered NOT_READY; asking RunPod for a fresh worker")
        return {**error.body(request_id), "refresh_worker": True}
