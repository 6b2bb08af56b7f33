"""JSON request bodies parsed within a budget and off the event loop, then handed to the routes parsed.

A request body here is a few fields and up to three base64 strings; what makes parsing expensive is
structure: 16 MB of ``[],`` is eight million lists (several hundred MB, seconds of a blocked loop).
The brackets are counted before parsing (an upper bound on arrays and objects, since base64 and URLs
carry none), the parse runs in a worker thread, and the route reads the parsed value instead of
parsing again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["MAX_CONTAINERS", "ParsedJSONRoute", "is_json", "parse_json_body"]

MAX_CONTAINERS: Final = 512
"""Arrays and objects a request may hold; the largest valid one (32 swap pairs, every option) has 50."""

_PARSED_KEY: Final = "parsed_json"
_MISSING: Final = object()


def is_json(scope: Scope) -> bool:
    """Whether the request's body is JSON as FastAPI decides it: a JSON media type, or none given."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return True


def _parse(body: bytes, max_containers: int) -> Any:
    """The parsed body; ValueError with a sentence for the client when it is not acceptable JSON."""
    if body.count(b"[") + body.count(b"{") > max_containers:
        raise ValueError(f"The request body holds more than {max_containers} JSON arrays and objects.")
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise ValueError("The request body is nested too deeply.") from exc
    except UnicodeDecodeError as exc:
        raise ValueError("The request body is not UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise ValueError("The request body is not valid JSON.") from exc
    except ValueError as exc:  # an integer past Python's digit limit for int()
        raise ValueError("The request body holds a number too long to read.") from exc


async def parse_json_body(scope: Scope, body: bytes, max_containers: int = MAX_CONTAINERS) -> None:
    """Parse `body` in a worker thread and keep the value for the route; ValueError when it is refused."""
    if not body:
        return
    scope.setdefault("state", {})[_PARSED_KEY] = await asyncio.to_thread(_parse, body, max_containers)


class ParsedJSONRoute(APIRoute):
    """A route that reads the JSON body the middleware already parsed, rather than parsing it on the loop."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def with_parsed_body(request: Request) -> Response:
            parsed = request.scope.get("state", {}).pop(_PARSED_KEY, _MISSING)
            if parsed is not _MISSING:
                request._json = parsed  # Request.json() returns this cached value instead of parsing
            return await handler(request)

        return with_parsed_body
