"""The operations routes anyone may call (and /metrics): health, RunPod's ping, Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from faceswap import __version__
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from faceswap.models.registry import SYNTHETIC_NOTICE

__all__ = ["probe_router"]

probe_router = APIRouter(tags=["operations"])


def _lifecycle(request: Request) -> ModelLifecycle:
    return request.app.state.lifecycle  # type: ignore[no-any-return]


@probe_router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (needs the API key unless FACESWAP_METRICS_PUBLIC is set)."""
    return Response(request.app.state.metrics.render(), media_type=METRICS_CONTENT_TYPE)


@probe_router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 once the models are loaded; 503 while loading, failed (with the reason) or draining."""
    state = _lifecycle(request).state
    body: dict[str, Any] = {"status": state.status.value, "version": __version__}
    if state.status is Status.READY:
        limiter = request.app.state.service.limiter
        body |= {
            "providers": list(state.providers),
            "precision": state.precision,
            "swapper": request.app.state.settings.swapper,
            "load_seconds": round(state.load_seconds or 0.0, 3),
            "running": limiter.running,
            "waiting": limiter.waiting,
        }
        engine = _lifecycle(request).ready_engine()
        if engine is not None:
            marks = engine.provenance
            body |= {
                "provenance": marks.mode,
                "watermark": marks.watermark,
                "content_guard": list(marks.guard.names) if marks.guard is not None else "off",
            }
        if state.synthetic:
            body["warning"] = SYNTHETIC_NOTICE
        return JSONResponse(body)
    if state.reason:
        body["reason"] = state.reason
    return JSONResponse(body, status_code=503)


@probe_router.get("/ping")
async def ping(request: Request) -> Response:
    """RunPod's load-balancer probe: 200 ready, 204 loading, 503 failed or draining."""
    status = _lifecycle(request).state.status
    if status is Status.READY:
        return JSONResponse({"status": "healthy"})
    if status is Status.LOADING:
        return Response(status_code=204)
    return JSONResponse({"status": status.value}, status_code=503)
