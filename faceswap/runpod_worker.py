"""RunPod adapters: the queue worker's handler, and the load-balancing mode's second (health) port.

Queue mode (``python handler.py``): the models load once, before the SDK takes a job. Each job's
``input`` is validated with SwapInput and served by the same SwapService as HTTP (fetch, deadline,
limiter and caches shared by every job). Every request-level failure comes back as ``output`` with
``success: false``, never through the SDK's ``error`` key, which would drop ``output.message``.

A worker that cannot serve (its models failed to load, or the lifecycle gave up on them after repeated
out-of-memory failures) does not crash: it answers every job at once with NOT_READY and the reason, and
adds ``refresh_worker`` to the result, which the SDK (1.12) turns into ``stopPod``: the platform retires
this worker after the job and starts a fresh one for the next. The client learns why without waiting
for its timeout, a fault of one machine (a GPU that will not start, too little memory) leaves the pool
with it, and a fault of the image itself shows in every job's message.

Load-balancing mode (``python main_fixed.py``): the app on PORT and, when PORT_HEALTH differs, only
its probes (/ping, /health) on PORT_HEALTH: one process, one event loop, one model load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from faceswap.api import validation_message
from faceswap.config import Settings
from faceswap.errors import ErrorCode, SwapError
from faceswap.failpoints import Failpoints
from faceswap.fetch import ImageFetcher
from faceswap.http_guard import new_request_id
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.logs import request_id_var
from faceswap.modelfiles import download_command, verify_model_dir
from faceswap.schemas import ErrorBody, SwapInput
from faceswap.service import SwapService

__all__ = [
    "PROBE_PATHS",
    "ListenAddress",
    "QueueWorker",
    "listen_address",
    "probe_only",
    "quiet_sdk_logs",
    "serve",
]

log = logging.getLogger(__name__)

LOAD_BACKOFF_FIRST = 1.0
LOAD_BACKOFF_CAP = 8.0
PROBE_PATHS = frozenset({"/ping", "/health"})
DEFAULT_PORT = 8000
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


def _failure(error: SwapError, request_id: str) -> dict[str, Any]:
    """The output of a failed job: the contract's error body."""
    body = ErrorBody(error_code=error.code.value, message=error.message, request_id=request_id)
    return body.model_dump()


def _validated(raw: object) -> SwapInput:
    """The job's input as a SwapInput, or INVALID_INPUT with one readable sentence."""
    if not isinstance(raw, dict):
        raise SwapError(ErrorCode.INVALID_INPUT, "input must be a JSON object with the swap fields.")
    try:
        return SwapInput.model_validate(raw)
    except ValidationError as exc:
        raise SwapError(ErrorCode.INVALID_INPUT, validation_message(list(exc.errors()))) from exc


class QueueWorker:
    """The RunPod handler over SwapService: one model load and one service, shared by every job."""

    def __init__(
        self,
        settings: Settings,
        lifecycle: ModelLifecycle | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle or ModelLifecycle(settings, Failpoints(settings.failpoints))
        self._sleep = sleep
        self._service: SwapService | None = None

    def load(self) -> bool:
        """Load the models before any job; retry with backoff only while the files themselves check out."""
        delay = LOAD_BACKOFF_FIRST
        for attempt in range(self.settings.model_load_retries + 1):
            if self.lifecycle.try_load():
                return True
            if attempt == self.settings.model_load_retries or not self._files_check_out():
                break
            self._sleep(delay)
            delay = min(delay * 2, LOAD_BACKOFF_CAP)
        log.error("every job will be answered NOT_READY and this worker retired: %s", self.failure_reason())
        return False

    def _files_check_out(self) -> bool:
        """True when a retry could help: no file is missing, a pointer, truncated or the wrong model."""
        return all(check.ok for check in verify_model_dir(self.settings.model_dir))

    def failure_reason(self) -> str:
        """Why the models did not load; the fix names the folder as $FACESWAP_MODEL_DIR, not by its path."""
        reason = self.lifecycle.state.reason or "the models did not load; see the worker log."
        command = download_command(self.settings.model_dir)
        folder = shlex.quote(str(self.settings.model_dir))
        return reason.replace(command, command.removesuffix(folder) + '"$FACESWAP_MODEL_DIR"')

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
        """One RunPod job: the /swap body, or the error body with ``success: false``."""
        request_id = str(job.get("id") or new_request_id())
        token = request_id_var.set(request_id)
        try:
            if self.lifecycle.state.status is Status.FAILED:
                return self._not_ready(request_id)
            return await self._service_now().swap(_validated(job.get("input")), request_id)
        except SwapError as exc:
            log.info("job failed: %s", exc.code.value)
            return _failure(exc, request_id)
        except Exception:
            log.exception("unexpected error")
            error = SwapError(ErrorCode.INTERNAL, "The worker hit an unexpected error; the job id is logged.")
            return _failure(error, request_id)
        finally:
            request_id_var.reset(token)

    def _not_ready(self, request_id: str) -> dict[str, Any]:
        reason = self.failure_reason().rstrip(".")
        error = SwapError(ErrorCode.NOT_READY, f"This worker cannot swap faces: {reason}.")
        log.info("job answered NOT_READY; asking RunPod for a fresh worker")
        return {**_failure(error, request_id), "refresh_worker": True}


@dataclass(frozen=True)
class ListenAddress:
    """Where ``python main_fixed.py`` listens: the app's port and, when separate, the probes' port."""

    host: str
    port: int
    health_port: int | None


def _port(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{name} must be a TCP port number from 1 to 65535, not {text!r}.")
    return int(text)


def listen_address(environ: Mapping[str, str]) -> ListenAddress:
    """HOST (default 0.0.0.0), PORT (default 8000) and PORT_HEALTH (None when unset or equal to PORT)."""
    port = _port(environ, "PORT") or DEFAULT_PORT
    health_port = _port(environ, "PORT_HEALTH")
    host = environ.get("HOST", "").strip() or "0.0.0.0"
    return ListenAddress(host, port, None if health_port == port else health_port)


def probe_only(app: ASGIApp, paths: frozenset[str] = PROBE_PATHS) -> ASGIApp:
    """An ASGI app that passes the probe paths to `app` and answers 404 to anything else."""
    not_found = PlainTextResponse("Not Found", status_code=404)

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in paths:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await not_found(scope, receive, send)

    return probe


class _ProbeServer(uvicorn.Server):
    """The health port's server: the app's server owns the signals and stops this one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    app: ASGIApp, address: ListenAddress, log_level: str = "info", drain_timeout: float | None = None
) -> None:
    """Serve `app` (its lifespan runs once) and, on a separate health port, only its probes.

    On SIGTERM in-flight requests get `drain_timeout` seconds to finish.
    """
    main = uvicorn.Server(
        uvicorn.Config(
            app,
            host=address.host,
            port=address.port,
            lifespan="on",
            log_level=log_level,
            server_header=False,
            timeout_graceful_shutdown=drain_timeout,
        )
    )
    if address.health_port is None:
        await main.serve()
        return
    probes = _ProbeServer(
        uvicorn.Config(
            probe_only(app),
            host=address.host,
            port=address.health_port,
            lifespan="off",
            log_level=log_level,
            access_log=False,
            server_header=False,
        )
    )
    probe_task = asyncio.create_task(probes.serve(), name="health-port")
    try:
        await main.serve()
    finally:
        probes.should_exit = True
        await probe_task
