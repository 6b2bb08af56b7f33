"""ASGI middleware: a request id on every request and log line, the API key, and the body cap."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceswap.logs import request_id_var

__all__ = ["RequestGuard", "new_request_id"]

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

TooLargeBody = Callable[[str, str, int], tuple[int, dict[str, object]]]
Unauthorized = Callable[[str, str], tuple[int, dict[str, object]]]
Authorize = Callable[[Scope], bool]


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1").strip()
            return text if _VALID_REQUEST_ID.fullmatch(text) else None
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestGuard:
    """Assigns the request id (honouring a sane X-Request-ID), checks the API key, caps the body.

    Both checks come before a byte of the body is read: a request `authorize(scope)` refuses is
    answered with `unauthorized(path, request_id)`; the body is then counted as it arrives and
    replayed to the app, and one byte over `max_body_bytes` answers `too_large(path, request_id, limit)`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        too_large: TooLargeBody,
        authorize: Authorize | None = None,
        unauthorized: Unauthorized | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.too_large = too_large
        self.authorize = authorize
        self.unauthorized = unauthorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        try:
            await self._guarded(scope, receive, send, request_id)
        finally:
            request_id_var.reset(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        if self.authorize is not None and self.unauthorized is not None and not self.authorize(scope):
            status, payload = self.unauthorized(scope["path"], request_id)
            await _answer(send_with_id, status, payload, [(b"www-authenticate", b'Bearer realm="faceswap"')])
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send_with_id)
            return
        body = await self._read_body(scope, receive)
        if body is None:
            status, payload = self.too_large(scope["path"], request_id, self.max_body_bytes)
            await _answer(send_with_id, status, payload, [(b"connection", b"close")])
            return
        await self.app(scope, _replay(body, receive), send_with_id)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _answer(
    send: Send, status: int, payload: dict[str, object], headers: list[tuple[bytes, bytes]]
) -> None:
    content = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
