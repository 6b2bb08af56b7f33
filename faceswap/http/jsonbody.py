"""JSON request bodies parsed within a budget and off the event loop, then handed to the routes parsed.

A request body here is a few fields and up to three base64 strings; what makes parsing expensive is
structure: 16 MB of ``[],`` is eight million lists (several hundred MB, seconds of a blocked loop).
The brackets and the quotes are counted before parsing (upper bounds on arrays, objects and strings,
since base64 and URLs carry none), the parse runs in a worker thread, and the route reads the parsed
value instead of parsing again.

A string is judged before it is parsed too: one longer than its field's base64 may be is measured in the
raw body, its spaces and escapes counted in place (a line break every 4 characters is half the body's
bytes), and a field over its file limit is refused IMAGE_TOO_LARGE, as it would be once parsed, without
the parse's copies of it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from faceswap.errors import SwapError, image_label, image_too_large
from faceswap.service import PREFIX_WITHIN, most_base64_characters

__all__ = [
    "MAX_CONTAINERS",
    "MAX_STRINGS",
    "Base64Fields",
    "ParsedJSONRoute",
    "is_json",
    "oversized_field",
    "parse_json_body",
]

MAX_CONTAINERS: Final = 512
"""Arrays and objects a request may hold; the largest valid one (32 swap pairs, every option) has 50."""
MAX_STRINGS: Final = 2048
"""Strings (field names included) a request may hold; the largest valid one has fewer than 100."""

_TOKEN: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+', re.DOTALL)
"""From a quote to the next one not escaped: a JSON string, then what lies between it and the next, in
turn; possessive, so each byte is read once."""
_BEFORE_VALUE: Final = re.compile(rb'"\s*:\s*\[?\s*')
"""What lies between a field's name and its string value (or its list's first one)."""
_LEADING_SPACE: Final = re.compile(rb"(?: |\\[nrtf]|\\u00(?:0[9aAbBcCdD]|20))*+")
"""Whitespace at a string's start as JSON writes it: spaces, escaped line breaks, tabs, form feeds."""
_ESCAPE_WEIGHTS: Final = ((b"n", 1), (b"r", 1), (b"t", 1), (b"f", 1), (b"u", 5))
"""The escapes that stand for fewer characters than they take, with the characters each takes beyond
its backslash (a line break first: the usual one)."""
_MOST_PER_ESCAPE: Final = max(weight for _, weight in _ESCAPE_WEIGHTS)
_NAME_MAX: Final = 64
_ROLES: Final[Mapping[bytes, str]] = {
    b"source_image": "source",
    b"source_images": "source",
    b"target_image": "target",
    b"target_video": "target",
    b"target_reference_image": "reference",
}
"""How the decoder names each base64 field's file in its messages; any other field is "the image"."""


@dataclass(frozen=True)
class Base64Fields:
    """The largest file a route's base64 fields may carry, in bytes: `default`, or `by_name` for a field
    allowed more (a job's target_video)."""

    default: int
    by_name: Mapping[str, int] = field(default_factory=dict)

    def limit(self, name: bytes) -> int:
        """The limit of the field called `name`."""
        return self.by_name.get(name.decode("ascii", "replace"), self.default)


def _after_prefix(body: bytes, start: int) -> int:
    """Where the base64 of the string starting at `start` begins: after its data: prefix, if it has one
    (the decoder looks for it after any leading whitespace, so the first `PREFIX_WITHIN` bytes of that
    are skipped first: a longer run is read no further)."""
    start = _LEADING_SPACE.match(body, start, start + PREFIX_WITHIN).end()  # type: ignore[union-attr]
    if body[start : start + 5].lower() == b"data:":
        comma = body.find(b",", start, start + PREFIX_WITHIN)
        return start if comma < 0 else comma + 1
    return start


def _stretches(body: bytes) -> Iterator[tuple[int, int]]:
    """Each stretch of `body` from a quote not escaped to the next: a JSON string, then what lies between
    it and the next one, in turn. Without an escaped quote (a valid request has none) the quotes are
    found by `find`, else by the possessive `_TOKEN`; both read each byte once."""
    if b'\\"' in body:
        for token in _TOKEN.finditer(body):
            yield token.span()
        return
    start = body.find(b'"')
    while start >= 0:
        end = body.find(b'"', start + 1)
        yield start, len(body) if end < 0 else end
        start = end


def _fits(body: bytes, start: int, end: int, allowed: int) -> bool:
    """Whether the JSON string `body[start:end]` holds at most `allowed` characters other than whitespace
    once parsed, counted in place: its bytes less its spaces, one for each escape, one more for each
    escaped line break, tab or form feed, five more for each \\u escape (whatever it stands for). An
    escape after an escaped backslash (``\\\\n``: a backslash, then an n) is not taken for one. The
    counts stop once it fits, or once even every escape left counted at the most it can take would leave
    too many (a string of escaped backslashes is refused without a count per letter)."""
    left = end - start - body.count(b" ", start, end)
    backslashes = body.count(b"\\", start, end)
    pairs = body.count(b"\\\\", start, end) if backslashes else 0
    left -= backslashes - pairs
    escapes = backslashes - 2 * pairs  # escapes other than an escaped backslash, at most
    for letter, weight in _ESCAPE_WEIGHTS:
        if left <= allowed or not backslashes:
            break
        if left - _MOST_PER_ESCAPE * escapes > allowed:
            return False
        escaped = body.count(b"\\" + letter, start, end)
        if escaped and pairs:
            escaped -= body.count(b"\\\\" + letter, start, end)
        left -= weight * escaped
        escapes -= escaped
    return left <= allowed


def _field_name(body: bytes, name: tuple[int, int] | None, between: tuple[int, int] | None) -> bytes:
    """The name of the field whose value follows `between`, when `name` is a short string just before."""
    if name is None or between is None or name[1] - name[0] > _NAME_MAX:
        return b""
    if _BEFORE_VALUE.fullmatch(body, *between) is None:
        return b""
    return body[name[0] + 1 : name[1]]


def oversized_field(body: bytes, fields: Base64Fields) -> SwapError | None:
    """IMAGE_TOO_LARGE, worded as the decoder words it, for the first string of `body` that holds more
    characters than its field's base64 may once parsed (whitespace not counted); None when every string
    fits. Linear in the body, copying none of it."""
    shortest = most_base64_characters(min([fields.default, *fields.by_name.values()]))
    if len(body) <= shortest:
        return None
    before: list[tuple[int, int]] = []
    for start, end in _stretches(body):
        if end - start > shortest:
            name = _field_name(body, *(before if len(before) == 2 else (None, None)))
            limit = fields.limit(name)
            if not _fits(body, _after_prefix(body, start + 1), end, most_base64_characters(limit)):
                return image_too_large(image_label(_ROLES.get(name, "image")), limit)
        before = [*before[-1:], (start, end)]
    return None


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


def _parse(body: bytes, max_containers: int, fields: Base64Fields | None) -> Any:
    """The parsed body; ValueError with a sentence for the client when it is not acceptable JSON, the
    SwapError of a base64 field over its limit (`fields`), found before parsing."""
    if body.count(b"[") + body.count(b"{") > max_containers:
        raise ValueError(f"The request body holds more than {max_containers} JSON arrays and objects.")
    if body.count(b'"') > 2 * MAX_STRINGS:
        raise ValueError(f"The request body holds more than {MAX_STRINGS} JSON strings.")
    if fields is not None and (error := oversized_field(body, fields)) is not None:
        raise error
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


async def parse_json_body(
    scope: Scope, body: bytes, fields: Base64Fields | None = None, max_containers: int = MAX_CONTAINERS
) -> None:
    """Parse `body` in a worker thread and keep the value for the route; ValueError when it is refused,
    SwapError (IMAGE_TOO_LARGE) when one of its base64 `fields` is over its limit."""
    if not body:
        return
    parsed = await asyncio.to_thread(_parse, body, max_containers, fields)
    scope.setdefault("state", {})[_PARSED_KEY] = parsed


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
