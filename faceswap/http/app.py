"""FastAPI routes and the one place where errors become HTTP responses."""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import Scope

from faceswap import __version__
from faceswap.config import Settings, get_settings
from faceswap.errors import ClientGoneError, ErrorCode, SwapError, image_too_large
from faceswap.fetch import ImageFetcher
from faceswap.http.admin import admin_router
from faceswap.http.middleware import RequestGuard, new_request_id
from faceswap.lifecycle import ModelLifecycle, Status
from faceswap.logs import configure_logging
from faceswap.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from faceswap.metrics import Metrics, RequestMetrics
from faceswap.runtime.failpoints import Failpoints
from faceswap.schemas import (
    ErrorBody,
    FacesInput,
    FacesOutput,
    RunPodEnvelope,
    SwapInput,
    SwapOptions,
    SwapOutput,
    validated,
    validation_message,
)
from faceswap.service import SwapService

__all__ = ["create_app", "error_payload"]

log = logging.getLogger(__name__)

UNPARSEABLE_BODY = "The request body could not be parsed: send UTF-8 JSON that is not deeply nested."
T = TypeVar("T")
DISCONNECT_POLL = 0.25
OPEN_PATHS = frozenset({"/health", "/ping"})

RUNPOD_KEPT_CODES = frozenset(
    {ErrorCode.UNAUTHORIZED, ErrorCode.IMAGE_TOO_LARGE, ErrorCode.BUSY, ErrorCode.NOT_READY}
)
"""The failures /runsync answers with their own status (the web client maps 401, 413 and 503); others: 200."""


class ImageJSONResponse(JSONResponse):
    """JSON written by orjson, for bodies that carry an image: 20 MB of base64 in 11 ms on the event loop,
    where pydantic's `dump_json` took 48 ms and `json.dumps` 91 ms. NaN and infinities become null."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "URL_NOT_ALLOWED or INVALID_IMAGE"),
        (401, "UNAUTHORIZED"),
        (413, "IMAGE_TOO_LARGE"),
        (422, "INVALID_INPUT, NO_FACE or FACE_INDEX_OUT_OF_RANGE"),
        (502, "FETCH_FAILED"),
        (503, "BUSY, NOT_READY or OUT_OF_MEMORY"),
        (504, "FETCH_TIMEOUT or TIMEOUT"),
    )
}


def _is_runsync(path: str) -> bool:
    return path.rstrip("/").endswith("/runsync")


def error_payload(path: str, request_id: str, error: SwapError) -> tuple[int, dict[str, Any]]:
    """The status and body for `error` on `path` (RunPod's envelope on /runsync)."""
    body = error.body(request_id)
    if not _is_runsync(path):
        return error.status, body
    if error.code in RUNPOD_KEPT_CODES:
        return error.status, {"id": request_id, "status": "FAILED", "output": body}
    return 200, {"id": request_id, "status": "COMPLETED", "output": body}


def _error_response(request: Request, error: SwapError) -> JSONResponse:
    request.state.error_code = error.code.value
    request_id = request.scope.get("state", {}).get("request_id") or new_request_id()
    status, body = error_payload(request.url.path, request_id, error)
    headers = {"X-Request-ID": request_id}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if error.code is ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="faceswap"'
    return JSONResponse(body, status_code=status, headers=headers)


def _too_large(path: str, request_id: str, limit: int) -> tuple[int, dict[str, Any]]:
    return error_payload(path, request_id, image_too_large("request body", limit))


async def _read_upload(upload: UploadFile, role: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise image_too_large(f"{role} image", limit)
    return data


def _index_or_word(text: str) -> int | str:
    """A form field's number as an int (for validation), anything else as it was sent."""
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else value


def _wants_image(accept: str) -> bool:
    """True when the client asks for image bytes rather than JSON."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(kind.startswith("image/") for kind in kinds) and "application/json" not in kinds


def _summary_headers(body: dict[str, Any]) -> dict[str, str]:
    return {
        "X-Faces-Source": str(body["source_faces"]),
        "X-Faces-Target": str(body["target_faces"]),
        "X-Image-Size": f"{body['width']}x{body['height']}",
    }


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it when the client disconnects (its slot is freed at the next stage)."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL)
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            log.info("client went away; request abandoned")
            raise ClientGoneError


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


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id") or new_request_id())


def _service(request: Request) -> SwapService:
    return request.app.state.service  # type: ignore[no-any-return]


def key_checker(settings: Settings) -> Callable[[Scope], bool] | None:
    """The API-key check for every route but the open ones (None when no key is configured)."""
    if settings.api_key is None:
        return None
    expected = settings.api_key.get_secret_value().encode()
    open_paths = OPEN_PATHS | ({"/metrics"} if settings.metrics_public else set())

    def authorized(scope: Scope) -> bool:
        if scope["path"] in open_paths:
            return True
        headers = dict(scope.get("headers", ()))
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        offered = token.strip() if scheme.lower() == b"bearer" else headers.get(b"x-api-key", b"")
        return hmac.compare_digest(offered, expected)

    return authorized


def _unauthorized(path: str, request_id: str) -> tuple[int, dict[str, Any]]:
    error = SwapError(
        ErrorCode.UNAUTHORIZED,
        "This endpoint needs the API key: send Authorization: Bearer <key> or X-API-Key: <key>.",
    )
    return error_payload(path, request_id, error)


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
    configure_logging(settings.log_level, settings.log_format)
    failpoints = lifecycle.failpoints if lifecycle else Failpoints(settings.failpoints)
    lifecycle = lifecycle or ModelLifecycle(settings, failpoints)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fetcher = (fetcher_factory or ImageFetcher)(settings, failpoints=failpoints)
        service = SwapService(settings, lifecycle, fetcher, metrics)
        metrics.watch(service.live_values, lambda: lifecycle.state.status.value)
        app.state.service = service
        _drain_on_sigterm(lifecycle)
        loader = asyncio.create_task(lifecycle.run(), name="model-loader")
        try:
            yield
        finally:
            lifecycle.drain()
            loader.cancel()
            await fetcher.aclose()
            await asyncio.to_thread(app.state.service.close)

    app = FastAPI(
        title="Face swap",
        version=__version__,
        summary="Swap a face from a source photo into a chosen face of a target photo.",
        lifespan=lifespan,
        # With an API key the schema needs it like every route, and the browser docs (which cannot
        # send it) are off.
        docs_url=None if settings.api_key else "/docs",
        redoc_url=None if settings.api_key else "/redoc",
    )
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.failpoints = failpoints
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        too_large=_too_large,
        authorize=key_checker(settings),
        unauthorized=_unauthorized,
    )

    @app.exception_handler(SwapError)
    async def swap_error(request: Request, exc: SwapError) -> JSONResponse:
        log.info("request failed: %s", exc.code.value)
        return _error_response(request, exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI could not parse the body: not UTF-8, or nested too deeply
            return _error_response(request, SwapError(ErrorCode.INVALID_INPUT, UNPARSEABLE_BODY))
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(
            request, SwapError(ErrorCode.INVALID_INPUT, validation_message(list(exc.errors())))
        )

    @app.exception_handler(ClientGoneError)
    async def client_gone(request: Request, exc: ClientGoneError) -> Response:
        request.state.error_code = "CLIENT_GONE"
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return _error_response(
            request,
            SwapError(ErrorCode.INTERNAL, "The worker hit an unexpected error; the request id is logged."),
        )

    @app.post(
        "/swap",
        response_model=SwapOutput,
        response_class=ImageJSONResponse,
        responses=ERROR_RESPONSES,
        tags=["swap"],
    )
    async def swap(request: Request, body: SwapInput) -> dict[str, Any]:
        """Swap the source's face into the target's chosen face."""
        return await _unless_client_leaves(request, _service(request).swap(body, _request_id(request)))

    @app.post(
        "/swap/upload",
        response_model=SwapOutput,
        response_class=ImageJSONResponse,
        responses=ERROR_RESPONSES,
        tags=["swap"],
    )
    async def swap_upload(
        request: Request,
        source: Annotated[UploadFile, File(description="The photo whose face identity is used.")],
        target: Annotated[UploadFile, File(description="The photo whose face is replaced.")],
        source_index: Annotated[int, Form(ge=1)] = 1,
        target_index: Annotated[str, Form(description='A number from 1, or "all".')] = "1",
        output_format: Annotated[Literal["png", "jpeg", "webp"], Form()] = "png",
    ) -> Response:
        """Multipart upload: `curl -F source=@a.jpg -F target=@b.jpg -H 'Accept: image/*' -o out.png`."""
        options = validated(
            SwapOptions,
            {
                "source_index": source_index,
                "target_index": _index_or_word(target_index),
                "output_format": output_format,
            },
        )
        limit = settings.max_download_bytes
        images = {
            "source": await _read_upload(source, "source", limit),
            "target": await _read_upload(target, "target", limit),
        }
        wants_image = _wants_image(request.headers.get("accept", ""))
        upload = _service(request).swap_uploaded(images, options, _request_id(request), as_image=wants_image)
        body, image = await _unless_client_leaves(request, upload)
        if wants_image:
            return Response(image, media_type=f"image/{body['format']}", headers=_summary_headers(body))
        return ImageJSONResponse(SwapOutput.model_validate(body).model_dump())

    @app.post("/faces", response_model=FacesOutput, responses=ERROR_RESPONSES, tags=["faces"])
    async def faces(request: Request, body: FacesInput) -> dict[str, Any]:
        """The faces of an image, numbered as `source_index`/`target_index` number them."""
        return await _unless_client_leaves(request, _service(request).faces(body, _request_id(request)))

    @app.post("/runsync", response_class=ImageJSONResponse, responses=ERROR_RESPONSES, tags=["swap"])
    async def runsync(request: Request, envelope: RunPodEnvelope) -> dict[str, Any]:
        """RunPod's envelope around /swap (or /faces with `"action": "faces"`): `{"input": {...}}` in."""
        request_id = _request_id(request)
        output = await _unless_client_leaves(request, _service(request).run_input(envelope.input, request_id))
        return {"id": request_id, "status": "COMPLETED", "output": output}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics_endpoint() -> Response:
        """Prometheus metrics (needs the API key unless FACESWAP_METRICS_PUBLIC is set)."""
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    if settings.api_key is not None:
        app.include_router(admin_router(lifecycle, failpoints, failpoints_enabled=bool(settings.failpoints)))

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """200 once the models are loaded; 503 while loading, failed (with the reason) or draining."""
        state = lifecycle.state
        body: dict[str, Any] = {"status": state.status.value, "version": __version__}
        if state.status is Status.READY:
            service = app.state.service
            body |= {
                "providers": list(state.providers),
                "precision": state.precision,
                "load_seconds": round(state.load_seconds or 0.0, 3),
                "running": service.limiter.running,
                "waiting": service.limiter.waiting,
            }
            return JSONResponse(body)
        if state.reason:
            body["reason"] = state.reason
        return JSONResponse(body, status_code=503)

    @app.get("/ping", tags=["operations"])
    async def ping() -> Response:
        """RunPod's load-balancer probe: 200 ready, 204 loading, 503 failed or draining."""
        status = lifecycle.state.status
        if status is Status.READY:
            return JSONResponse({"status": "healthy"})
        if status is Status.LOADING:
            return Response(status_code=204)
        return JSONResponse({"status": status.value}, status_code=503)

    return app
