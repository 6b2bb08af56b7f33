"""The API key: constant-time, checked from the headers before a byte of the body is read."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from starlette.types import Scope

from faceswap.config import Settings

__all__ = ["OPEN_PATHS", "key_checker"]

OPEN_PATHS = frozenset({"/health", "/ping"})


def key_checker(settings: Settings, public_paths: Iterable[str] = ()) -> Callable[[Scope], bool] | None:
    """The API-key check for every route but the open ones and `public_paths` (files that hold no secret,
    such as the playground's); None when no key is configured."""
    if settings.api_key is None:
        return None
    expected = settings.api_key.get_secret_value().encode()
    open_paths = OPEN_PATHS | set(public_paths) | ({"/metrics"} if settings.metrics_public else set())

    def authorized(scope: Scope) -> bool:
        if scope["path"] in open_paths:
            return True
        headers = dict(scope.get("headers", ()))
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        offered = token.strip() if scheme.lower() == b"bearer" else headers.get(b"x-api-key", b"")
        return hmac.compare_digest(offered, expected)

    return authorized
