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

RunPod's load-balancing mode is plain HTTP: see faceswap.http.server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.fetch import ImageFetcher
from faceswap.http.middleware import new_request_id
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.logs import request_id_var
from faceswap.models.check import verify_model_dir
from faceswap.runtime.backoff import backoff_delays
from faceswap.runtime.failpoints import Failpoints
from faceswap.schemas import output_body
from faceswap.service import SwapService

__all__ = ["QueueWorker", "quiet_sdk_logs"]

log = logging.getLogger(__name__)

LOAD_BACKOFF_FIRST = 1.0
LOAD_BACKOFF_CAP = 8.0
WORKER_REMEDY = "RunPod starts a fresh worker for the next job"
SDK_VERBOSE_LEVELS = frozenset({"NOTSET", "TRACE", "DEBUG"})


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
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle or ModelLifecycle(
            settings, Failpoints(settings.failpoints), remedy=WORKER_REMEDY
        )
        self._sleep = sleep
        self._service: SwapService | None = None

    def load(self) -> bool:
        """Load the models before any job; retry with backoff only while the files themselves check out."""
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
        try:
            if self.lifecycle.state.status in (Status.FAILED, Status.RECOVERING):
                return self._not_ready(request_id)
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

    def _not_ready(self, request_id: str) -> dict[str, Any]:
        reason = self.failure_reason().rstrip(".")
        if self.lifecycle.state.status is Status.RECOVERING:
            reason = f"{reason}; {WORKER_REMEDY}: send the job again"
        error = SwapError(ErrorCode.NOT_READY, f"This worker cannot swap faces: {reason}.")
        log.info("job answered NOT_READY; asking RunPod for a fresh worker")
        return {**error.body(request_id), "refresh_worker": True}
