"""ASGI middleware: a request id on every request and log line, the API key, and each route's body budget."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceswap.errors import SwapError
from faceswap.http.jsonbody import Base64Fields, is_json, parse_json_body
from faceswap.logs import request_id_var

__all__ = ["BodyPolicy", "RequestGuard", "new_request_id"]

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

Answer = tuple[int, dict[str, object]]
TooLargeBody = Callable[[str, str, int], Answer]
InvalidBody = Callable[[str, str, str], Answer]
Unauthorized = Callable[[str, str], Answer]
Busy = Callable[[str, str], Answer]
Refused = Callable[[str, str, SwapError], Answer]
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
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return None


def _ambiguous_framing(scope: Scope) -> bool:
    """Both Content-Length and Transfer-Encoding: where the body ends is ambiguous (RFC 9112 6.3)."""
    names = {name for name, _ in scope.get("headers", ())}
    return b"content-length" in names and b"transfer-encoding" in names


AMBIGUOUS_FRAMING = "The request has both Content-Length and Transfer-Encoding; send only one of them."


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a non-zero length, or a transfer coding)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0 ")):
            return True
    return False


@dataclass(frozen=True)
class BodyPolicy:
    """What request bodies may cost: a cap per path (a path not named takes no body), a deadline, and
    `pending` bytes for all the bodies being received at once (beyond it: `busy`); `fields`: the file
    limits of a path's base64 fields, judged in the raw JSON before it is parsed (`refused` answers)."""

    limits: Mapping[str, int]
    timeout: float
    too_large: TooLargeBody
    invalid: InvalidBody
    pending: int
    busy: Busy
    fields: Mapping[str, Base64Fields]
    refused: Refused


class RequestGuard:
    """Assigns the request id (honouring a sane X-Request-ID), checks the API key, bounds the body.

    A request with both Content-Length and Transfer-Encoding is answered 400 (INVALID_INPUT) unread, and
    its connection closed.

    Both checks come before a byte of the body is read: a request `authorize(scope)` refuses is
    answered with `unauthorized(path, request_id)`. A path `body.limits` does not name never has its body
    read (the answer closes the connection instead). Otherwise the body is counted as it arrives, one byte
    over the path's cap answers `too_large`, a body that would take the bodies being received past
    `body.pending` bytes answers `busy`, and a body not complete within `body.timeout` seconds or
    not acceptable JSON answers `invalid`; a body cut short by a disconnect is never handed on. A JSON
    body is parsed off the event loop (jsonbody.py) and the route reads the parsed value; a base64 field
    over its file limit is answered `refused` (IMAGE_TOO_LARGE) before the parse.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        body: BodyPolicy,
        authorize: Authorize | None = None,
        unauthorized: Unauthorized | None = None,
    ) -> None:
        self.app = app
        self.body = body
        self.pending = 0
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
        close = [(b"connection", b"close")]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        if _ambiguous_framing(scope):
            _, payload = self.body.invalid(scope["path"], request_id, AMBIGUOUS_FRAMING)
            await _answer(send_with_id, 400, payload, close)
            return
        if self.authorize is not None and self.unauthorized is not None and not self.authorize(scope):
            status, payload = self.unauthorized(scope["path"], request_id)
            headers = [(b"www-authenticate", b'Bearer realm="faceswap"')]
            await _answer(send_with_id, status, payload, headers + (close if _has_body(scope) else []))
            return
        limit = self.body.limits.get(scope["path"])
        if limit is None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            unread = _has_body(scope)
            await self.app(scope, _no_body(receive), _closing(send_with_id) if unread else send_with_id)
            return
        outcome = await self._read_body(scope, receive, limit, request_id)
        if outcome is None:
            log.info("the client went away before sending its whole body; nothing was processed")
            return
        if isinstance(outcome, tuple):
            retry = [(b"retry-after", b"1")] if outcome[0] == 503 else []
            await _answer(send_with_id, *outcome, close + retry)
            return
        await self.app(scope, _replay(outcome, receive), send_with_id)

    async def _read_body(
        self, scope: Scope, receive: Receive, limit: int, request_id: str
    ) -> bytes | Answer | None:
        """The whole body (parsed too when JSON), an answer refusing it, or None when the client left."""
        path = scope["path"]
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            return self.body.too_large(path, request_id, limit)
        reserved = limit if declared is None else declared
        if self.pending + reserved > self.body.pending:
            return self.body.busy(path, request_id)
        self.pending += reserved
        try:
            async with asyncio.timeout(self.body.timeout):
                body, complete = await _received(receive, limit)
        except TimeoutError:
            message = f"The request body did not arrive within {self.body.timeout:g} seconds."
            return self.body.invalid(path, request_id, message)
        finally:
            self.pending -= reserved
        if body is None:
            return self.body.too_large(path, request_id, limit)
        if not complete or (declared is not None and len(body) != declared):
            return None
        if is_json(scope):
            try:
                await parse_json_body(scope, body, self.body.fields.get(path))
            except ValueError as exc:
                return self.body.invalid(path, request_id, str(exc))
            except SwapError as exc:
                return self.body.refused(path, request_id, exc)
        return body


async def _received(receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """The body's bytes (None past `limit`) and whether it ended, rather than the client leaving first.

    The chunks go into one BytesIO, which hands its buffer over: the body is held once, never as its chunks
    and their join at the same time.
    """
    body = io.BytesIO()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunk = message.get("body", b"")
        if body.tell() + len(chunk) > limit:
            return None, True
        body.write(chunk)
        if not message.get("more_body", False):
            return body.getvalue(), True


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


def _no_body(receive: Receive) -> Receive:
    """A receive that gives the app an empty body first: a route that takes none never reads the wire."""
    return _replay(b"", receive)


def _closing(send: Send) -> Send:
    """A send whose answer closes the connection, so a body left unread is never read after it."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await send(message)

    return closing


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
