"""The HTTP application's wiring: settings, the model lifecycle, middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI

from faceswap import __version__
from faceswap.config import Settings, get_settings
from faceswap.fetch import ImageFetcher
from faceswap.http.admin import admin_router
from faceswap.http.auth import key_checker
from faceswap.http.catalog import catalog_router
from faceswap.http.connection import missing_server_limits
from faceswap.http.errors import (
    CatchAll,
    add_error_handlers,
    bodies_busy,
    error_payload,
    invalid_body,
    too_large,
    unauthorized,
)
from faceswap.http.jobs import job_body_limits, job_field_limits, job_router
from faceswap.http.middleware import BodyPolicy, RequestGuard
from faceswap.http.playground import load_assets, playground_router
from faceswap.http.probes import probe_router
from faceswap.http.routes import FIELDS_BYTES, body_limits, field_limits, work_router
from faceswap.jobs import JobManager
from faceswap.lifecycle import ModelLifecycle
from faceswap.logs import configure_logging
from faceswap.metrics import Metrics, RequestMetrics
from faceswap.runtime.failpoints import Failpoints
from faceswap.service import SwapService

log = logging.getLogger(__name__)

__all__ = ["create_app"]


def _remedy(settings: Settings) -> str:
    """What an operator does for a worker that cannot heal itself: only the ways this one offers."""
    restart = "restart the worker (docker restart, or let the platform replace it)"
    return f"{restart}, or POST /admin/reload with the API key" if settings.api_key else restart


def _drain_on_sigterm(lifecycle: ModelLifecycle) -> None:
    """On SIGTERM, report draining at once, then let the server's own handler stop accepting and finish."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        lifecycle.drain()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)


def _warn_without_server_limits(app: FastAPI) -> None:
    """Once at start: say so when the server was not started with our connection limits (``uvicorn
    main_fixed:app`` without the image's UVICORN_* settings)."""
    if getattr(app.state, "connection_limits", None) is not None:
        return
    missing = missing_server_limits(os.environ)
    if missing:
        log.warning(
            "the server may run without this service's connection limits (header deadline and size, "
            "connection cap, drain): set %s as the image does, or start it with `python main_fixed.py`",
            ", ".join(missing),
        )


def _drainer(app: FastAPI, lifecycle: ModelLifecycle, timeout: float) -> Callable[[], Awaitable[None]]:
    """The drain the server runs on SIGTERM: refuse new work at once, give what runs `timeout` seconds."""

    async def drain() -> None:
        lifecycle.drain()
        service: SwapService | None = getattr(app.state, "service", None)
        jobs: JobManager | None = getattr(app.state, "jobs", None)
        waits = [] if service is None else [service.drain(timeout)]
        if jobs is not None:
            waits.append(jobs.drain(timeout))
        await asyncio.gather(*waits)

    return drain


def _lifespan(
    settings: Settings, lifecycle: ModelLifecycle, fetcher_factory: Callable[..., ImageFetcher] | None
) -> Callable[[FastAPI], AsyncIterator[None]]:
    """Startup: logging, the service and the background model load; shutdown: drain, then close."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        fetcher = (fetcher_factory or ImageFetcher)(settings, failpoints=lifecycle.failpoints)
        service = SwapService(settings, lifecycle, fetcher, app.state.metrics)
        app.state.metrics.watch(service.live_values, lambda: lifecycle.state.status.value)
        app.state.service = service
        app.state.jobs = jobs = JobManager(service)
        await jobs.start()
        _drain_on_sigterm(lifecycle)
        _warn_without_server_limits(app)
        loader = asyncio.create_task(lifecycle.run(), name="model-loader")
        try:
            yield
        finally:
            lifecycle.drain()
            loader.cancel()
            await jobs.close()
            await fetcher.aclose()
            await asyncio.to_thread(service.close)

    return lifespan  # type: ignore[return-value]


def _body_limits(settings: Settings) -> dict[str, int]:
    """Each route's body cap; the admin routes take a few small fields (and only with the API key)."""
    admin = {"/admin/failpoints": FIELDS_BYTES} if settings.api_key is not None else {}
    return body_limits(settings) | admin | job_body_limits(settings)


def create_app(
    settings: Settings | None = None,
    lifecycle: ModelLifecycle | None = None,
    *,
    fetcher_factory: Callable[..., ImageFetcher] | None = None,
) -> FastAPI:
    """The HTTP application; models load in the background once it starts.

    `fetcher_factory(settings, failpoints=...)` builds the image fetcher (default: ImageFetcher); tests
    pass one with their own resolver and network.
    """
    settings = settings or get_settings()
    remedy = _remedy(settings)
    lifecycle = lifecycle or ModelLifecycle(settings, Failpoints(settings.failpoints), remedy=remedy)
    app = FastAPI(
        title="Face swap",
        version=__version__,
        summary="Swap a face from a source photo into a chosen face of a target photo.",
        lifespan=_lifespan(settings, lifecycle, fetcher_factory),
        # With an API key the schema needs it like every route, and the browser docs (which cannot
        # send it) are off.
        docs_url=None if settings.api_key else "/docs",
        redoc_url=None if settings.api_key else "/redoc",
    )
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.failpoints = lifecycle.failpoints
    app.state.metrics = metrics = Metrics()
    app.state.drain = _drainer(app, lifecycle, settings.drain_timeout)
    app.add_middleware(CatchAll)
    app.add_middleware(RequestMetrics, metrics=metrics)
    body = BodyPolicy(
        limits=_body_limits(settings),
        timeout=settings.body_timeout,
        too_large=too_large,
        invalid=invalid_body,
        pending=settings.max_pending_body_bytes,
        busy=bodies_busy,
        fields=field_limits(settings) | job_field_limits(settings),
        refused=error_payload,
    )
    playground = load_assets() if settings.playground else {}
    authorize = key_checker(settings, public_paths=playground)
    app.add_middleware(RequestGuard, body=body, authorize=authorize, unauthorized=unauthorized)
    add_error_handlers(app)
    if playground:
        app.include_router(playground_router(playground))
    app.include_router(work_router)
    app.include_router(job_router)
    app.include_router(probe_router)
    app.include_router(catalog_router)
    if settings.api_key is not None:
        admin = admin_router(lifecycle, lifecycle.failpoints, failpoints_enabled=bool(settings.failpoints))
        app.include_router(admin)
    return app
