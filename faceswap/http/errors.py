"""Where failures become HTTP answers: the contract's status per code, and RunPod's envelope on /runsync."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceswap.errors import ClientGoneError, ErrorCode, SwapError, image_too_large
from faceswap.http.middleware import new_request_id
from faceswap.schemas import ErrorBody, validation_message

__all__ = [
    "ERROR_RESPONSES",
    "INTERNAL_MESSAGE",
    "RUNPOD_KEPT_CODES",
    "CatchAll",
    "add_error_handlers",
    "bodies_busy",
    "error_payload",
    "invalid_body",
    "request_id_of",
    "too_large",
    "unauthorized",
]

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "The worker hit an unexpected error; the request id is logged."
UNPARSEABLE_BODY = "The request body could not be parsed: send UTF-8 JSON that is not deeply nested."
UNPARSEABLE_FORM = (
    "The multipart form could not be parsed: send the images as multipart/form-data file fields."
)

RUNPOD_KEPT_CODES = frozenset(
    {ErrorCode.UNAUTHORIZED, ErrorCode.IMAGE_TOO_LARGE, ErrorCode.BUSY, ErrorCode.NOT_READY}
)
"""The failures /runsync answers with their own status (the web client maps 401, 413 and 503); others: 200."""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (
            400,
            "URL_NOT_ALLOWED, INVALID_IMAGE, or INVALID_INPUT for both Content-Length and Transfer-Encoding",
        ),
        (401, "UNAUTHORIZED"),
        (413, "IMAGE_TOO_LARGE"),
        (
            422,
            "INVALID_INPUT, NO_FACE, FACE_INDEX_OUT_OF_RANGE, MODEL_NOT_INSTALLED, COST_LIMIT_EXCEEDED "
            "or CONTENT_REFUSED",
        ),
        (502, "FETCH_FAILED"),
        (503, "BUSY, NOT_READY or OUT_OF_MEMORY"),
        (504, "FETCH_TIMEOUT or TIMEOUT"),
        (507, "STORAGE_FULL"),
    )
}


def is_runsync(path: str) -> bool:
    """True for RunPod's /runsync path (under any prefix)."""
    return path.rstrip("/").endswith("/runsync")


def error_payload(path: str, request_id: str, error: SwapError) -> tuple[int, dict[str, Any]]:
    """The status and body for `error` on `path` (RunPod's envelope on /runsync)."""
    body = error.body(request_id)
    if not is_runsync(path):
        return error.status, body
    if error.code in RUNPOD_KEPT_CODES:
        return error.status, {"id": request_id, "status": "FAILED", "output": body}
    return 200, {"id": request_id, "status": "COMPLETED", "output": body}


def request_id_of(request: Request) -> str:
    """The id the middleware gave this request (a fresh one if it never passed the middleware)."""
    return str(request.scope.get("state", {}).get("request_id") or new_request_id())


def error_response(request: Request, error: SwapError) -> JSONResponse:
    """The contract's answer to `error`, with the request id and the headers its code calls for."""
    request.state.error_code = error.code.value
    request_id = request_id_of(request)
    status, body = error_payload(request.url.path, request_id, error)
    headers = {"X-Request-ID": request_id}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if error.code is ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Bearer realm="faceswap"'
    return JSONResponse(body, status_code=status, headers=headers)


def too_large(path: str, request_id: str, limit: int) -> tuple[int, dict[str, Any]]:
    """The answer to a body over `limit` bytes."""
    return error_payload(path, request_id, image_too_large("request body", limit))


def bodies_busy(path: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """The answer to a body that would take the bodies being received past their memory budget."""
    error = SwapError(ErrorCode.BUSY, "The worker is receiving too many uploads at once; retry in a moment.")
    return error_payload(path, request_id, error)


def invalid_body(path: str, request_id: str, message: str) -> tuple[int, dict[str, Any]]:
    """The answer to a body refused before parsing (late, too structured, not JSON); `message` says why."""
    return error_payload(path, request_id, SwapError(ErrorCode.INVALID_INPUT, message))


def unauthorized(path: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """The answer to a request without the API key."""
    error = SwapError(
        ErrorCode.UNAUTHORIZED,
        "This endpoint needs the API key: send Authorization: Bearer <key> or X-API-Key: <key>.",
    )
    return error_payload(path, request_id, error)


async def _swap_error(request: Request, exc: SwapError) -> JSONResponse:
    log.info("request failed: %s", exc.code.value)
    return error_response(request, exc)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if (
        exc.status_code == 400
    ):  # FastAPI could not parse the body: a broken form, not UTF-8, nested too deeply
        form = request.headers.get("content-type", "").lower().startswith("multipart/")
        message = UNPARSEABLE_FORM if form else UNPARSEABLE_BODY
        return error_response(request, SwapError(ErrorCode.INVALID_INPUT, message))
    return await http_exception_handler(request, exc)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(request, SwapError(ErrorCode.INVALID_INPUT, validation_message(list(exc.errors()))))


async def _client_gone(request: Request, exc: ClientGoneError) -> Response:
    request.state.error_code = "CLIENT_GONE"
    return Response(status_code=499)


class CatchAll:
    """Answers an unexpected exception with INTERNAL and logs it once; nothing reaches the server.

    Starlette's own catch-all answers and then raises again, so uvicorn logged a second traceback and
    dropped the keep-alive connection without a word; here the request ends and the connection lives on.
    When the answer had already begun, the connection is the only thing left to end: uvicorn closes it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("unexpected error", exc_info=exc)
            if started:
                return
            request = Request(scope, receive)
            response = error_response(request, SwapError(ErrorCode.INTERNAL, INTERNAL_MESSAGE))
            await response(scope, receive, send)


def add_error_handlers(app: FastAPI) -> None:
    """Every failure a route can raise, answered in the contract's format."""
    app.add_exception_handler(SwapError, _swap_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(ClientGoneError, _client_gone)  # type: ignore[arg-type]
